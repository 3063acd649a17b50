//! No broker when the run starts: the run goes at full speed and counts into the store;
//! when the broker appears (for a later run, or during one) the store's totals are
//! published at once.
#![cfg(feature = "mqtt")]

mod mqtt_support;

use mqtt_support::*;
use std::time::{Duration, Instant};

#[test]
fn a_broker_that_is_down_never_stalls_the_run_and_gets_the_totals_later() {
    let dir = tempfile::tempdir().unwrap();
    let bdir = dir.path().join("broker");
    std::fs::create_dir(&bdir).unwrap();
    let port = free_port();
    let cfg = config(dir.path(), port, "linger = 1");
    let db = dir.path().join("counts.db");

    // 1. nobody listens on the port
    let t = Instant::now();
    let s = Run::start(&cfg, 300).summary();
    eprintln!(
        "broker down: 300 frames at {:.1} fps ({:.1} s with start-up and linger); mqtt {}",
        s["fps"].as_f64().unwrap(),
        t.elapsed().as_secs_f64(),
        s["mqtt"]
    );
    assert_eq!(s["frames"], 300);
    assert_eq!(s["mqtt"]["connected"], false);
    assert_eq!(s["mqtt"]["published"], 0);
    let first = store_sum(&db);
    assert!(first >= 3, "counts went to the store");

    // 2. down at the start of the next run, up during it
    let run = Run::start(&cfg, 450);
    wait_for(
        "a first event in the store",
        Duration::from_secs(20),
        || store_sum(&db) > first,
    );
    let broker = Broker::start_on(&bdir, port);
    let s = run.summary();
    eprintln!("broker up mid-run: mqtt {}", s["mqtt"]);
    assert_eq!(s["mqtt"]["dropped"], 0);
    assert!(s["mqtt"]["acked"].as_u64().unwrap() >= 1);
    // the retained totals are the store's: both runs' counts
    assert_eq!(retained_totals(broker.port), store_totals(&db));
}

/// The sum of every number in a summary's nested `totals`.
fn totals_sum(v: &serde_json::Value) -> u64 {
    match v {
        serde_json::Value::Object(m) => m.values().map(totals_sum).sum(),
        v => v.as_u64().unwrap_or(0),
    }
}

/// `systemctl stop` while the run waits `linger` for a broker that is down: the first SIGTERM
/// ends the wait and the run exits cleanly; every event counted is in the store, and the next
/// run with the broker up publishes the store's totals.
#[test]
fn a_sigterm_during_linger_ends_the_wait_and_keeps_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let bdir = dir.path().join("broker");
    std::fs::create_dir(&bdir).unwrap();
    let port = free_port();
    // The longest linger allowed: without the fix the run would sit here 30 s.
    let cfg = config(dir.path(), port, "linger = 30");
    let db = dir.path().join("counts.db");

    let mut run = Run::start(&cfg, 300);
    wait_for(
        "the run to end its frames and wait for the broker",
        Duration::from_secs(120),
        || run.logged("waiting up to 30.0 s for the broker"),
    );
    let t = Instant::now();
    // SAFETY: kill(2) on our own child's pid (not yet waited for).
    let rc = unsafe { libc::kill(run.child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    // Bounded by the exit itself; the limit is only there so that a broken run cannot hang
    // the suite, and it is the linger: a run that waited it out ignored the signal.
    wait_for(
        "the run to exit after SIGTERM",
        Duration::from_secs(60),
        || matches!(run.child.try_wait(), Ok(Some(_))),
    );
    let waited = t.elapsed();
    assert!(
        run.logged("a stop signal ended the wait for the broker"),
        "the signal did not end the wait:\n{}",
        run.log()
    );
    assert!(
        waited < Duration::from_secs(30),
        "the run waited its linger out ({waited:?}) instead of stopping"
    );
    let s = run.summary();
    eprintln!(
        "SIGTERM during linger: exit {:.2} s after the signal; mqtt {}",
        waited.as_secs_f64(),
        s["mqtt"]
    );
    assert_eq!(s["frames"], 300);
    assert_eq!(s["mqtt"]["connected"], false);
    let counted = totals_sum(&s["totals"]);
    assert!(counted >= 3, "the run counted something: {}", s["totals"]);
    assert_eq!(
        store_sum(&db),
        counted,
        "every event counted is in the store"
    );
    assert_eq!(
        s["mqtt"]["dropped"].as_u64().unwrap(),
        counted,
        "the unacknowledged events are reported as not published by this run"
    );

    // The broker comes back: the next run publishes the store's totals, this run's included.
    let broker = Broker::start_on(&bdir, port);
    let s = Run::start(&cfg, 30).summary();
    assert_eq!(s["mqtt"]["dropped"], 0);
    assert_eq!(retained_totals(broker.port), store_totals(&db));
}
