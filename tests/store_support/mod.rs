//! Helpers for the store and report tests: events at given times, the sink driven like the
//! frame loop drives it.
#![allow(dead_code)]

use ssd_edge::count::event::name;
use ssd_edge::count::{Direction, Event, EventKind, EventTime};
use ssd_edge::sink::{FrameReport, RunStats, Sink};

pub fn crossing(place: &str, label: &str, dir: Direction, wall_ms: i64, frame: u64) -> Event {
    Event {
        kind: EventKind::Crossing,
        place: name(place),
        label: name(label),
        class_id: 1,
        direction: Some(dir),
        track_id: frame as u32,
        score: 0.9,
        frame,
        time: EventTime {
            wall_ms,
            mono_ms: frame,
            clock_suspect: false,
        },
        dwell_ms: None,
    }
}

pub fn zone(kind: EventKind, place: &str, label: &str, wall_ms: i64, frame: u64) -> Event {
    Event {
        kind,
        place: name(place),
        label: name(label),
        class_id: 2,
        direction: None,
        track_id: frame as u32,
        score: 0.8,
        frame,
        time: EventTime {
            wall_ms,
            mono_ms: frame,
            clock_suspect: false,
        },
        dwell_ms: (kind != EventKind::Entry).then_some(1500),
    }
}

/// Hands `events` to `sink` as one frame's report.
pub fn feed(sink: &mut dyn Sink, frame: u64, events: &[Event]) {
    let report = FrameReport {
        index: frame,
        timestamp_us: frame * 1000,
        width: 320,
        height: 240,
        name: None,
        detections: &[],
        tracks: &[],
        events,
        counts: None,
        ground_truth: None,
        labels: &[],
        stats: &RunStats::default(),
    };
    sink.frame(&report).expect("sink.frame");
}

/// Milliseconds of a UTC instant written as RFC 3339.
pub fn ms(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<jiff::Timestamp>()
        .expect("instant")
        .as_millisecond()
}

/// Sum of the `count` column of a table.
pub fn sum(conn: &rusqlite::Connection, table: &str) -> u64 {
    conn.query_row(
        &format!("SELECT coalesce(sum(count), 0) FROM {table}"),
        [],
        |r| r.get::<_, i64>(0),
    )
    .expect("sum") as u64
}

pub fn store_config(path: &std::path::Path, commit_s: f64) -> ssd_edge::store::StoreConfig {
    ssd_edge::store::StoreConfig {
        path: path.to_path_buf(),
        commit_interval_s: commit_s,
        ..Default::default()
    }
}
