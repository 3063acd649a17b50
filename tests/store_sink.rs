//! The store as a sink: events handed over frame by frame arrive in the database in order,
//! with totals; a restart continues from the stored totals; a full queue never blocks the
//! frame loop and loses no count.
#![cfg(feature = "store")]

mod store_support;

use ssd_edge::count::Direction;
use ssd_edge::sink::store::StoreSink;
use ssd_edge::sink::Sink;
use ssd_edge::store::{RunInfo, Store, StoreConfig};
use store_support::*;

#[test]
fn events_reach_the_database_and_a_restart_continues_the_totals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sink.db");
    let t = ms("2026-06-01T10:00:00Z");
    for round in 0..3u64 {
        let store = Store::open(&path, &store_config(&path, 0.05)).unwrap();
        let before: u64 = store.totals().unwrap().iter().map(|(_, n)| n).sum();
        assert_eq!(before, round * 100);
        let mut sink = StoreSink::start(store, RunInfo::default()).unwrap();
        for f in 0..50u64 {
            let seq = round * 100 + f * 2;
            let events = [
                crossing("door", "person", Direction::In, t + seq as i64, seq + 1),
                crossing("door", "person", Direction::Out, t + seq as i64, seq + 2),
            ];
            feed(&mut sink, f, &events);
        }
        sink.finish().unwrap();
        assert_eq!(sink.status().committed, 100);
        assert!(!sink.status().failing);
    }
    let store = Store::open_read_only(&path).unwrap();
    let frames: Vec<i64> = store
        .connection()
        .prepare("SELECT frame FROM events ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(frames, (1..=300).collect::<Vec<i64>>());
    let runs: i64 = store
        .connection()
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(runs, 3);
    let totals = store.totals().unwrap();
    assert_eq!(totals.len(), 2);
    assert!(totals.iter().all(|(_, n)| *n == 150));
}

#[test]
fn a_tiny_queue_overflows_into_memory_without_losing_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let cfg = StoreConfig {
        queue_capacity: 2,
        ..store_config(&path, 0.02)
    };
    let store = Store::open(&path, &cfg).unwrap();
    let mut sink = StoreSink::start(store, RunInfo::default()).unwrap();
    let t = ms("2026-06-01T10:00:00Z");
    // 40 events per frame against a queue of 2 and an overflow buffer of 2: most of them
    // are carried as counts only.
    let mut n = 0u64;
    for f in 0..50u64 {
        let events: Vec<_> = (0..40)
            .map(|i| {
                n += 1;
                crossing("door", "person", Direction::In, t + i, n)
            })
            .collect();
        feed(&mut sink, f, &events);
    }
    sink.finish().unwrap();
    assert_eq!(sink.status().committed, n);
    let store = Store::open_read_only(&path).unwrap();
    let totals: u64 = store.totals().unwrap().iter().map(|(_, n)| n).sum();
    assert_eq!(totals, n);
    assert_eq!(sum(store.connection(), "hourly"), n);
    let stored = store.event_count().unwrap();
    println!("{n} events counted, {stored} stored with details");
    assert!(stored < n);
}
