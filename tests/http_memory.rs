//! Issue 32: `/api/counts` cannot take the frame loop's memory. `run` under a 1 GiB address
//! space limit (RLIMIT_AS, set in the child before exec: it counts every mapping, so it is
//! stricter than a cgroup's resident limit), on a database of 200,000 events over 500
//! columns (250 lines, both directions), gets a burst of concurrent worst-case requests:
//! refused ones (rows, rows x columns), the largest answer allowed, and more at once than
//! are computed at a time. Counting goes on through it (frames advance, events commit),
//! every answer is 200, 413 or 503, and the run exits cleanly.
#![cfg(feature = "http")]

#[path = "support/board.rs"]
mod board;
mod store_support;

use board::{request, Board, TOKEN};
use ssd_edge::count::Direction;
use ssd_edge::store::{RunInfo, Store, StoreConfig};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const LIMIT: u64 = 1 << 30;
const LINES: usize = 250;
const EVENTS: usize = 200_000;
const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn date(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string()
}

/// 200,000 crossings spread over the last 80 days (inside the default retention of 90) on
/// 250 lines, in and out: 500 report columns.
fn fill(db: &std::path::Path) {
    let cfg = StoreConfig {
        path: db.to_path_buf(),
        ..Default::default()
    };
    let mut s = Store::open(db, &cfg).unwrap();
    let run = s.begin_run(&RunInfo::default()).unwrap();
    let start = now_ms() - 80 * DAY;
    let names: Vec<String> = (0..LINES).map(|i| format!("line_{i:03}")).collect();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..EVENTS {
        // Deterministic spread: every line, both directions, minutes all over the 80 days.
        let minute = (i as i64 * 7919) % (80 * 24 * 60 - 60);
        let dir = if i % 2 == 0 {
            Direction::In
        } else {
            Direction::Out
        };
        let e = store_support::crossing(
            &names[(i / 2) % LINES],
            "person",
            dir,
            start + minute * MINUTE,
            i as u64,
        );
        batch.push(e);
        if batch.len() == 10_000 {
            s.write_events(run, &batch).unwrap();
            batch.clear();
        }
    }
    s.write_events(run, &batch).unwrap();
}

fn limited_run() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ssd-edge"));
    // SAFETY: only setrlimit(2), async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: LIMIT,
                rlim_max: LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

fn proc_field(pid: u32, file: &str, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/{file}"))
        .to_string()
}

/// Waits (bounded, only so that a broken run cannot hang the suite) until `f` holds.
fn wait_for(board: &Board, what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}\n{}",
            board.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn counting_survives_worst_case_counts_requests_under_a_1_gib_limit() {
    let config = board::config(
        1_000_000,
        &format!("listen = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\""),
    );
    let board = Board::start_prepared(&config, limited_run(), &[], fill);
    let pid = board.child.id();
    let limits = proc_field(pid, "limits", "Max address space");
    assert!(
        limits.split_whitespace().any(|w| w == LIMIT.to_string()),
        "the limit is not in force: {limits}"
    );
    let committed = || board.status()["store"]["committed"].as_u64().unwrap();
    let frames = || board.frame_lines.load(Ordering::Relaxed);
    wait_for(&board, "the first frames", || frames() >= 3);

    let raw = |q: &str| {
        format!(
            "GET /api/counts?{q} HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        )
    };
    let now = now_ms();
    let tomorrow = date(now + DAY);
    // Eleven years by hour: refused on rows alone.
    let rows = raw(&format!("from=2015-08-01&to={tomorrow}&by=hour"));
    // 85 days by hour over 500 columns: a million cells, refused after a pass over the data.
    let cells = raw(&format!(
        "from={}&to={tomorrow}&by=hour",
        date(now - 85 * DAY)
    ));
    // A year by day over 500 columns: 183,000 cells, the largest kind of answer allowed.
    let year = raw(&format!(
        "from={}&to={}&by=day",
        date(now - 364 * DAY),
        date(now)
    ));

    // Alone: the bounds, and the largest answer holds every event.
    let r = request(board.addr, &rows).unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
    let r = request(board.addr, &cells).unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("500 columns"), "{}", r.text());
    let r = request(board.addr, &year).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["columns"].as_array().unwrap().len(), 2 * LINES);
    let total: u64 = v["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .sum();
    // The run's own events (the synthetic street) may add a few.
    assert!(
        total >= EVENTS as u64,
        "{total} of {EVENTS} events in the answer"
    );
    eprintln!("largest allowed answer: {} bytes", r.body.len());

    // The burst: 24 clients, 4 requests each, all kinds at once.
    let (frames0, committed0) = (frames(), committed());
    let addr = board.addr;
    let handles: Vec<_> = (0..24)
        .map(|i| {
            let qs = [rows.clone(), cells.clone(), year.clone()];
            std::thread::spawn(move || {
                (0..4)
                    .map(|k| request(addr, &qs[(i + k) % 3]).map(|r| r.status))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut by_status = std::collections::BTreeMap::new();
    for h in handles {
        for status in h.join().unwrap() {
            let status = status.unwrap_or_else(|e| panic!("no answer: {e}\n{}", board.log()));
            assert!([200, 413, 503].contains(&status), "status {status}");
            *by_status.entry(status).or_insert(0) += 1;
        }
    }
    let hwm = proc_field(pid, "status", "VmHWM");
    let peak = proc_field(pid, "status", "VmPeak");
    eprintln!(
        "burst of 96 /api/counts under RLIMIT_AS = 1 GiB: statuses {by_status:?}; {hwm}; {peak}; \
         frames {} -> {}",
        frames0,
        frames()
    );
    // Counting went on: new frames, and new events committed to the store.
    wait_for(&board, "frames after the burst", || {
        frames() >= frames0 + 30
    });
    wait_for(&board, "events committed after the burst", || {
        committed() > committed0
    });
    let status = board.stop();
    assert!(
        status.success(),
        "the run under the limit ended with {status:?}"
    );
}
