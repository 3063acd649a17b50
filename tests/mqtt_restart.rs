//! The broker stopped mid-run and started again on the same port (its retained messages
//! and the test subscriber's queued ones persisted): no counted event is missing from what
//! the subscriber received, and the retained totals equal the store's. Once with the
//! in-memory outbox holding everything, once with an outbox of 1 so events overflow and are
//! read back from the store.
#![cfg(feature = "mqtt")]

mod mqtt_support;

use mqtt_support::*;
use std::time::Duration;

fn restart_mid_run(outbox: usize, id: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let bdir = dir.path().join("broker");
    std::fs::create_dir(&bdir).unwrap();
    let mut broker = Broker::start(&bdir);
    let sub = Subscriber::start(broker.port, id, &["ssd-edge/#"]);
    let cfg = config(
        dir.path(),
        broker.port,
        &format!("linger = 20\noutbox = {outbox}"),
    );
    let db = dir.path().join("counts.db");
    let run = Run::start(&cfg, 600);
    wait_for("the first event", Duration::from_secs(20), || {
        sub.has(|m| m.topic.ends_with("/events"))
    });
    broker.stop();
    let before = store_sum(&db);
    wait_for(
        "the sink to see the broker gone",
        Duration::from_secs(20),
        || run.logged("retrying with back-off"),
    );
    // Events counted while the broker is away (progress, not time).
    wait_for(
        "3 events while the broker is down",
        Duration::from_secs(20),
        || store_sum(&db) >= before + 3,
    );
    broker.restart();
    let s = run.summary();
    let m = s["mqtt"].clone();
    eprintln!("outbox {outbox}: summary mqtt {m}");
    assert!(m["reconnects"].as_u64().unwrap() >= 1, "{m}");
    assert_eq!(m["dropped"], 0, "{m}");
    let store = store_totals(&db);
    // The subscriber reconnects by itself; the broker kept its queue.
    wait_for(
        "every event at the subscriber",
        Duration::from_secs(15),
        || event_counts(&sub.messages()).0 == store,
    );
    let (events, dups) = event_counts(&sub.messages());
    eprintln!(
        "outbox {outbox}: {} events, {dups} duplicates (at least once)",
        events.values().sum::<u64>()
    );
    assert_eq!(retained_totals(broker.port), store);
    m
}

#[test]
fn a_broker_restart_mid_run_loses_no_event() {
    let m = restart_mid_run(10_000, "watcher-restart");
    assert_eq!(m["replayed"], 0, "{m}");
}

#[test]
fn events_that_overflow_the_outbox_are_read_back_from_the_store() {
    let m = restart_mid_run(1, "watcher-overflow");
    assert!(m["replayed"].as_u64().unwrap() >= 1, "{m}");
}
