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
