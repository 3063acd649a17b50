//! Retention: months of events with a 30-day retention keep the file bounded, while hourly
//! totals keep old days reportable and the running totals exact.
#![cfg(feature = "store")]

mod store_support;

use ssd_edge::count::{Direction, EventKind};
use ssd_edge::store::{Bucket, ReportQuery, RunInfo, Store};
use store_support::*;

const DAY_MS: i64 = 86_400_000;

#[test]
fn months_of_events_keep_the_file_bounded_and_old_days_reportable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("months.db");
    let cfg = ssd_edge::store::StoreConfig {
        retention_days: 30,
        ..store_config(&path, 1.0)
    };
    let mut store = Store::open(&path, &cfg).unwrap();
    let run = store.begin_run(&RunInfo::default()).unwrap();
    let t0 = ms("2026-01-01T00:00:00Z");
    let per_day = 400u64;
    let days = 200i64;
    let mut sizes = Vec::new();
    let mut frame = 0u64;
    for day in 0..days {
        let events: Vec<_> = (0..per_day)
            .map(|i| {
                frame += 1;
                let t = t0 + day * DAY_MS + (i as i64 * DAY_MS / per_day as i64);
                match i % 4 {
                    0 => crossing("door", "person", Direction::In, t, frame),
                    1 => crossing("door", "person", Direction::Out, t, frame),
                    2 => zone(EventKind::Entry, "lobby", "person", t, frame),
                    _ => zone(EventKind::Exit, "lobby", "person", t, frame),
                }
            })
            .collect();
        store.write_events(run, &events).unwrap();
        store.prune(cfg.retention_days).unwrap();
        // The size the file would have on disk after a checkpoint.
        store
            .connection()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        sizes.push(std::fs::metadata(&path).unwrap().len());
    }
    let kept = store.event_count().unwrap();
    // 30 days plus the partial hour-aligned day at the cutoff.
    assert!(
        kept <= 31 * per_day && kept >= 30 * per_day,
        "{kept} events kept"
    );
    let (at60, at200) = (sizes[59], sizes[199]);
    println!(
        "file size: day 30 {} B, day 60 {at60} B, day 200 {at200} B, {kept} events kept",
        sizes[29]
    );
    // Before retention starts the file grows by a day of events a day; after it only the
    // hourly totals grow (96 rows a day here): far less.
    let before = sizes[29] as f64 / 30.0;
    let after = (at200 - at60) as f64 / 140.0;
    println!("growth: {before:.0} B/day before retention, {after:.0} B/day after");
    assert!(
        after < before / 4.0,
        "{after:.0} B/day after vs {before:.0} before"
    );

    // Totals: every event ever written; hourly totals agree.
    let written = per_day * days as u64;
    let totals: u64 = store.totals().unwrap().iter().map(|(_, n)| n).sum();
    assert_eq!(totals, written);
    assert_eq!(sum(store.connection(), "hourly"), written);
    store.integrity_check().unwrap();

    // A pruned day is still reported, from hourly totals.
    let tz = jiff::tz::TimeZone::UTC;
    let q = ReportQuery {
        from: Some(ssd_edge::store::parse_date_bound("2026-01-11", &tz, false).unwrap()),
        to: Some(ssd_edge::store::parse_date_bound("2026-01-12", &tz, true).unwrap()),
        by: Bucket::Day,
        tz,
        place: None,
        label: None,
    };
    let report = store.report(&q).unwrap();
    assert_eq!(report.rows.len(), 2);
    for row in &report.rows {
        assert_eq!(row.counts, vec![per_day / 4; 4], "{}", report.label(row));
    }
    assert!(report.hourly_before.is_some());
}
