//! Report buckets in local time: Europe/Berlin's 23-hour day (2026-03-29) and 25-hour day
//! (2026-10-25), hour buckets around both changes, filters, and CSV/table/PNG output.
#![cfg(feature = "store")]

mod store_support;

use jiff::tz::TimeZone;
use ssd_edge::count::{Direction, EventKind};
use ssd_edge::store::{parse_date_bound, Bucket, Report, ReportQuery, RunInfo, Store};
use store_support::*;

const HOUR: i64 = 3_600_000;

/// One "door in" crossing at half past every UTC hour from `from` for `hours` hours, plus
/// one zone entry every second hour.
fn hourly_store(dir: &std::path::Path, from: &str, hours: i64) -> Store {
    let path = dir.join("dst.db");
    let mut s = Store::open(&path, &store_config(&path, 1.0)).unwrap();
    let run = s.begin_run(&RunInfo::default()).unwrap();
    let t0 = ms(from);
    let mut events = Vec::new();
    for h in 0..hours {
        let t = t0 + h * HOUR + HOUR / 2;
        events.push(crossing("door", "person", Direction::In, t, h as u64));
        if h % 2 == 0 {
            events.push(zone(EventKind::Entry, "lobby", "car", t, h as u64));
        }
    }
    s.write_events(run, &events).unwrap();
    s
}

fn query(by: Bucket, from: &str, to: &str) -> ReportQuery {
    let tz = TimeZone::get("Europe/Berlin").unwrap();
    ReportQuery {
        from: Some(parse_date_bound(from, &tz, false).unwrap()),
        to: Some(parse_date_bound(to, &tz, true).unwrap()),
        by,
        tz,
        place: None,
        label: None,
    }
}

fn door_in(report: &Report) -> Vec<u64> {
    let col = report
        .columns
        .iter()
        .position(|c| c.name() == "door in")
        .unwrap();
    report.rows.iter().map(|r| r.counts[col]).collect()
}

#[test]
fn spring_forward_day_has_23_hours() {
    let dir = tempfile::tempdir().unwrap();
    let s = hourly_store(dir.path(), "2026-03-27T00:00:00Z", 24 * 5);
    let report = s
        .report(&query(Bucket::Day, "2026-03-28", "2026-03-30"))
        .unwrap();
    let labels: Vec<String> = report.rows.iter().map(|r| report.label(r)).collect();
    assert_eq!(labels, ["2026-03-28", "2026-03-29", "2026-03-30"]);
    let hours: Vec<f64> = report.rows.iter().map(Report::row_hours).collect();
    assert_eq!(hours, [24.0, 23.0, 24.0]);
    assert_eq!(door_in(&report), [24, 23, 24]);

    let report = s
        .report(&query(Bucket::Hour, "2026-03-29", "2026-03-29"))
        .unwrap();
    let labels: Vec<String> = report.rows.iter().map(|r| report.label(r)).collect();
    assert_eq!(labels.len(), 23);
    assert_eq!(labels[1], "2026-03-29 01:00 CET");
    assert_eq!(labels[2], "2026-03-29 03:00 CEST");
    assert!(door_in(&report).iter().all(|&n| n == 1));
}

#[test]
fn fall_back_day_has_25_hours_and_two_2_oclocks() {
    let dir = tempfile::tempdir().unwrap();
    let s = hourly_store(dir.path(), "2026-10-23T00:00:00Z", 24 * 5);
    let report = s
        .report(&query(Bucket::Day, "2026-10-24", "2026-10-26"))
        .unwrap();
    let hours: Vec<f64> = report.rows.iter().map(Report::row_hours).collect();
    assert_eq!(hours, [24.0, 25.0, 24.0]);
    assert_eq!(door_in(&report), [24, 25, 24]);

    let report = s
        .report(&query(Bucket::Hour, "2026-10-25", "2026-10-25"))
        .unwrap();
    let labels: Vec<String> = report.rows.iter().map(|r| report.label(r)).collect();
    assert_eq!(labels.len(), 25);
    assert_eq!(labels[2], "2026-10-25 02:00 CEST");
    assert_eq!(labels[3], "2026-10-25 02:00 CET");
    assert!(door_in(&report).iter().all(|&n| n == 1));

    let mut csv = Vec::new();
    ssd_edge::render::write_csv(&mut csv, &report).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "start,end,door in,lobby entries");
    assert_eq!(
        lines[3],
        "2026-10-25T02:00:00+02:00,2026-10-25T02:00:00+01:00,1,1"
    );
    assert_eq!(
        lines[4],
        "2026-10-25T02:00:00+01:00,2026-10-25T03:00:00+01:00,1,0"
    );
}

#[test]
fn minute_buckets_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let mut s = Store::open(&path, &store_config(&path, 1.0)).unwrap();
    let run = s.begin_run(&RunInfo::default()).unwrap();
    let t = ms("2026-06-01T08:00:00Z");
    s.write_events(
        run,
        &[
            crossing("door", "person", Direction::In, t + 5_000, 1),
            crossing("door", "person", Direction::In, t + 59_999, 2),
            crossing("door", "person", Direction::Out, t + 60_000, 3),
            crossing("door", "car", Direction::In, t + 61_000, 4),
            crossing("gate", "person", Direction::In, t + 125_000, 5),
        ],
    )
    .unwrap();
    let tz = TimeZone::get("Europe/Berlin").unwrap();
    let mut q = ReportQuery {
        from: None,
        to: None,
        by: Bucket::Minute,
        tz,
        place: None,
        label: None,
    };
    let r = s.report(&q).unwrap();
    let names: Vec<String> = r.columns.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["door in", "door out", "gate in"]);
    let rows: Vec<(String, Vec<u64>)> = r
        .rows
        .iter()
        .map(|row| (r.label(row), row.counts.clone()))
        .collect();
    assert_eq!(
        rows,
        [
            ("2026-06-01 10:00 CEST".to_string(), vec![2, 0, 0]),
            ("2026-06-01 10:01 CEST".to_string(), vec![1, 1, 0]),
            ("2026-06-01 10:02 CEST".to_string(), vec![0, 0, 1]),
        ]
    );
    q.place = Some("door".into());
    q.label = Some("person".into());
    let r = s.report(&q).unwrap();
    assert_eq!(r.totals, [2, 1]);

    let mut table = Vec::new();
    ssd_edge::render::write_table(&mut table, &r).unwrap();
    let table = String::from_utf8(table).unwrap();
    assert!(table.contains("door in  door out"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("total") && l.ends_with("2         1")),
        "{table}"
    );

    let png = dir.path().join("c.png");
    ssd_edge::render::render_png(&r, &png).unwrap();
    let img = image::open(&png).unwrap().to_rgb8();
    assert!(img.width() >= 600);
    // The bars are drawn: pixels in the first column's colour exist.
    let c = ssd_edge::image::annotate::class_color(0);
    assert!(img.pixels().filter(|p| **p == c).count() > 100);
}

#[test]
fn bad_dates_and_zones_are_clear_errors() {
    let tz = TimeZone::UTC;
    let err = parse_date_bound("2026-13-01", &tz, false).unwrap_err();
    assert!(err.contains("2026-13-01"), "{err}");
    let err = parse_date_bound("yesterday", &tz, false).unwrap_err();
    assert!(err.contains("not a date"), "{err}");
    assert!(TimeZone::get("Mars/Olympus").is_err());
    // A local time in the spring gap resolves forward, as a wall clock does.
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    let t = parse_date_bound("2026-03-29T02:30", &berlin, false).unwrap();
    assert_eq!(t.to_string(), "2026-03-29T01:30:00Z");
}
