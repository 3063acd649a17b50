//! `ssd-edge report` as a user runs it, on databases made through the Store API: the table,
//! CSV and PNG outputs, DST days, clear errors for bad input, and reading a database while a
//! writer commits to it.
#![cfg(feature = "store")]

mod store_support;

use ssd_edge::count::{Direction, EventKind};
use ssd_edge::sink::store::StoreSink;
use ssd_edge::sink::Sink;
use ssd_edge::store::{RunInfo, Store};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use store_support::*;

fn report(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ssd-edge"))
        .arg("report")
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn fails_with(o: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "succeeded: {err}");
    assert_eq!(o.status.code(), Some(1));
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
}

/// A crossing every UTC hour at half past, 2026-10-23 to 2026-10-27, and a zone entry
/// and exit every day at noon UTC, in `dir/ssd-edge.db` (the default path).
fn make_db(dir: &Path) {
    let path = dir.join("ssd-edge.db");
    let mut s = Store::open(&path, &store_config(&path, 1.0)).unwrap();
    let run = s.begin_run(&RunInfo::default()).unwrap();
    let t0 = ms("2026-10-23T00:30:00Z");
    let mut events = Vec::new();
    for h in 0..24 * 5 {
        let dir = if h % 4 == 0 {
            Direction::Out
        } else {
            Direction::In
        };
        events.push(crossing(
            "door",
            "person",
            dir,
            t0 + h * 3_600_000,
            h as u64,
        ));
        if h % 24 == 12 {
            events.push(zone(
                EventKind::Entry,
                "lobby",
                "person",
                t0 + h * 3_600_000,
                0,
            ));
            events.push(zone(
                EventKind::Exit,
                "lobby",
                "person",
                t0 + h * 3_600_000 + 1,
                0,
            ));
        }
    }
    s.write_events(run, &events).unwrap();
}

#[test]
fn table_by_day_over_the_25_hour_day() {
    let dir = tempfile::tempdir().unwrap();
    make_db(dir.path());
    let out = ok(&report(
        &[
            "--by",
            "day",
            "--tz",
            "Europe/Berlin",
            "--from",
            "2026-10-24",
            "--to",
            "2026-10-26",
        ],
        dir.path(),
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "counts by day in Europe/Berlin", "{out}");
    let cells = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        cells(lines[1]),
        ["start", "hours", "door", "in", "door", "out", "lobby", "entries", "lobby", "exits"]
    );
    // 2026-10-25 is 25 hours long in Berlin: 25 crossings (every fourth one out).
    assert_eq!(
        cells(lines[2]),
        ["2026-10-24", "24", "18", "6", "1", "1"],
        "{out}"
    );
    assert_eq!(
        cells(lines[3]),
        ["2026-10-25", "25", "19", "6", "1", "1"],
        "{out}"
    );
    assert_eq!(
        cells(lines[4]),
        ["2026-10-26", "24", "18", "6", "1", "1"],
        "{out}"
    );
    assert_eq!(cells(lines[5]), ["total", "55", "18", "3", "3"], "{out}");
}

#[test]
fn csv_filters_and_png() {
    let dir = tempfile::tempdir().unwrap();
    make_db(dir.path());
    let out = ok(&report(
        &[
            "--by",
            "hour",
            "--tz",
            "UTC",
            "--from",
            "2026-10-25T00:00Z",
            "--to",
            "2026-10-25T03:00Z",
            "--line",
            "door",
            "--class",
            "person",
            "--csv",
            "--plot",
            "c.png",
        ],
        dir.path(),
    ));
    assert_eq!(
        out,
        "start,end,door in,door out\n\
         2026-10-25T00:00:00+00:00,2026-10-25T01:00:00+00:00,0,1\n\
         2026-10-25T01:00:00+00:00,2026-10-25T02:00:00+00:00,1,0\n\
         2026-10-25T02:00:00+00:00,2026-10-25T03:00:00+00:00,1,0\n"
    );
    let img = image::open(dir.path().join("c.png")).unwrap();
    assert!(img.width() >= 600 && img.height() >= 300);
    let out = ok(&report(&["--class", "car", "--tz", "UTC"], dir.path()));
    assert!(out.contains("no data in range"), "{out}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    fails_with(
        &report(&["--db", "nope.db"], dir.path()),
        &["nope.db", "no such database"],
    );
    assert!(
        !dir.path().join("nope.db").exists(),
        "a report created a database"
    );
    make_db(dir.path());
    fails_with(
        &report(&["--tz", "Mars/Olympus"], dir.path()),
        &["--tz", "Mars/Olympus"],
    );
    fails_with(
        &report(&["--from", "2026-02-30"], dir.path()),
        &["--from", "2026-02-30"],
    );
    // A clap value enum: a usage error (status 2) naming the flag, the value and the choices.
    let o = report(&["--by", "week"], dir.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for n in ["--by", "week", "minute", "hour", "day"] {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
    fails_with(
        &report(&["--from", "2026-10-26", "--to", "2026-10-24"], dir.path()),
        &["--from is not before --to"],
    );
    std::fs::write(dir.path().join("text.db"), "hello\n".repeat(1000)).unwrap();
    fails_with(
        &report(&["--db", "text.db"], dir.path()),
        &["text.db", "not an SQLite database"],
    );
    {
        let c = rusqlite::Connection::open(dir.path().join("other.db")).unwrap();
        c.execute_batch("CREATE TABLE t (x);").unwrap();
    }
    fails_with(
        &report(&["--db", "other.db"], dir.path()),
        &["other.db", "not an ssd-edge one"],
    );
}

#[test]
fn reads_while_a_writer_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.db");
    let store = Store::open(&path, &store_config(&path, 0.005)).unwrap();
    let mut sink = StoreSink::start(store, RunInfo::default()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let t = ms("2026-06-01T10:00:00Z");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                feed(
                    &mut sink,
                    n,
                    &[crossing("door", "person", Direction::In, t, n)],
                );
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            sink.finish().unwrap();
            (n, sink.status())
        })
    };
    let mut last = 0u64;
    let mut seen = Vec::new();
    for _ in 0..8 {
        let out = ok(&report(
            &["--db", "live.db", "--csv", "--tz", "UTC"],
            dir.path(),
        ));
        let count: u64 = out
            .lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert!(count >= last, "counts went backwards: {last} -> {count}");
        last = count;
        seen.push(count);
    }
    stop.store(true, Ordering::Relaxed);
    let (sent, status) = feeder.join().unwrap();
    assert_eq!(status.committed, sent);
    println!("report counts while writing: {seen:?}; {sent} events written");
}
