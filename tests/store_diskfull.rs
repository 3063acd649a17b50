//! A genuinely full disk and a read-only file system, on a small tmpfs: counting goes on in
//! memory, and everything is written once space (or write access) returns. Needs root for
//! `mount`; without it each test fails, unless SSD_EDGE_SKIP_MOUNT=1 says the run knowingly
//! skips them.
#![cfg(feature = "store")]

#[path = "support/tmpfs.rs"]
mod tmpfs;

mod store_support;

use ssd_edge::count::Direction;
use ssd_edge::sink::store::StoreSink;
use ssd_edge::sink::Sink;
use ssd_edge::store::{RunInfo, Store, StoreConfig, StoreStatus};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};
use store_support::*;
use tmpfs::Tmpfs;

/// Fills the file system with one file until it refuses more.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

fn wait_for(sink: &StoreSink, what: &str, cond: impl Fn(&StoreStatus) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond(&sink.status()) {
        assert!(
            Instant::now() < deadline,
            "waiting for {what}: {:?}",
            sink.status()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn send(sink: &mut StoreSink, from: u64, n: u64) -> u64 {
    let t = ms("2026-06-01T10:00:00Z");
    for seq in from..from + n {
        let e = crossing("door", "person", Direction::In, t + seq as i64 * 100, seq);
        feed(sink, seq, &[e]);
    }
    from + n
}

#[test]
fn disk_full_then_space_returns() {
    let Some(fs) = Tmpfs::mount("8m") else {
        return;
    };
    let path = fs.0.join("full.db");
    let cfg = StoreConfig {
        max_pending_events: 1500,
        ..store_config(&path, 0.02)
    };
    let store = Store::open(&path, &cfg).unwrap();
    let mut sink = StoreSink::start(store, RunInfo::default()).unwrap();
    let mut next = send(&mut sink, 1, 100);
    wait_for(&sink, "the first commit", |s| s.committed == 100);

    fill(&fs.0.join("ballast"));
    // Events keep coming until a commit fails for want of space.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !sink.status().failing {
        assert!(Instant::now() < deadline, "the disk never filled");
        next = send(&mut sink, next, 50);
        std::thread::sleep(Duration::from_millis(5));
    }
    // Past the memory bound: details dropped, counts kept.
    next = send(&mut sink, next, 2000);
    wait_for(&sink, "pending events", |s| {
        s.pending + s.committed == next - 1 && s.dropped_details > 0
    });
    let during = sink.status();
    println!("disk full: {during:?}");
    assert!(during.failing && during.pending > 0);

    std::fs::remove_file(fs.0.join("ballast")).unwrap();
    wait_for(&sink, "the backlog to be written", |s| {
        !s.failing && s.committed == next - 1
    });
    sink.finish().unwrap();

    let store = Store::open_read_only(&path).unwrap();
    store.integrity_check().unwrap();
    let totals: u64 = store.totals().unwrap().iter().map(|(_, n)| n).sum();
    assert_eq!(totals, next - 1, "a count was lost");
    assert_eq!(sum(store.connection(), "hourly"), next - 1);
    let detailed = store.event_count().unwrap();
    assert_eq!(detailed + sink.status().dropped_details, next - 1);
    println!(
        "counted {}, stored with details {detailed}, details dropped {}",
        next - 1,
        sink.status().dropped_details
    );
}

/// A read-only file system at start-up (a card that the kernel remounted read-only) is a
/// clear error naming the file, not a run that silently counts into nothing.
#[test]
fn read_only_file_system_at_start_is_a_clear_error() {
    let Some(fs) = Tmpfs::mount("8m") else {
        return;
    };
    let path = fs.0.join("ro.db");
    {
        let mut store = Store::open(&path, &store_config(&path, 0.02)).unwrap();
        let run = store.begin_run(&RunInfo::default()).unwrap();
        let t = ms("2026-06-01T10:00:00Z");
        store
            .write_events(run, &[crossing("door", "person", Direction::In, t, 1)])
            .unwrap();
    }
    fs.remount("ro");
    let result = Store::open(&path, &store_config(&path, 0.02));
    println!("{:?}", result.as_ref().err());
    let err = result
        .err()
        .expect("opened for writing on a read-only file system");
    let msg = err.to_string();
    assert!(
        msg.contains("ro.db") && msg.contains("cannot open for writing"),
        "{msg}"
    );
    // Reports still read it.
    let store = Store::open_read_only(&path).unwrap();
    assert_eq!(store.event_count().unwrap(), 1);
    fs.remount("rw");
}
