//! `/metrics`, `/status` and `/api/counts` of a real run: the synthetic street through the
//! shipped model into a fresh database, the listener kept up after the frames
//! (`serve_after_end`). `/metrics` is read by prometheus_client's own parser; its counters,
//! `/api/counts` and the database (read by `Store`) must agree.

#[path = "support/board.rs"]
mod board;

use board::{Board, TOKEN};
use ssd_edge::count::{Direction, EventKind};
use ssd_edge::store::Store;
use std::collections::BTreeMap;
use std::process::Command;

const FRAMES: u64 = 240;

/// `(name, labels) -> value` of every sample, parsed by prometheus_client.
fn parse_with_prometheus_client(text: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    let python = board::venv_python();
    assert!(
        python.exists(),
        "{} is missing: `make setup` creates the venv with prometheus_client",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.txt");
    std::fs::write(&path, text).unwrap();
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        out.append([fam.type, s.name, s.labels, s.value])
print(json.dumps(out))
"#;
    let out = Command::new(&python)
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "prometheus_client could not parse /metrics (`make setup` installs it):\n{}\n---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<(String, String, BTreeMap<String, String>, f64)> =
        serde_json::from_slice(&out.stdout).unwrap();
    let mut map = BTreeMap::new();
    for (_kind, name, labels, value) in samples {
        assert!(
            map.insert((name.clone(), labels.clone()), value).is_none(),
            "duplicate sample {name} {labels:?}"
        );
    }
    map
}

fn value(
    m: &BTreeMap<(String, BTreeMap<String, String>), f64>,
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    *m.get(&(name.to_string(), labels.clone()))
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
}

#[test]
fn metrics_status_and_counts_agree_with_the_store() {
    let board = Board::start(&board::config(
        FRAMES,
        &format!("listen = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\nserve_after_end = true"),
    ));
    let status = board.wait_ended();
    let r = board.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let m = parse_with_prometheus_client(&r.text());

    // Frame counters and the histogram: one observation per processed frame.
    assert_eq!(value(&m, "ssd_edge_frames_total", &[]), FRAMES as f64);
    assert_eq!(status["source"]["frames"], FRAMES);
    assert_eq!(
        value(&m, "ssd_edge_inference_seconds_count", &[]),
        FRAMES as f64
    );
    assert_eq!(
        value(&m, "ssd_edge_inference_seconds_bucket", &[("le", "+Inf")]),
        FRAMES as f64
    );
    assert!(value(&m, "ssd_edge_inference_seconds_sum", &[]) > 0.0);
    for name in [
        "ssd_edge_dropped_frames_total",
        "ssd_edge_corrupt_frames_total",
        "ssd_edge_reconnects_total",
        "ssd_edge_store_write_errors_total",
    ] {
        assert_eq!(value(&m, name, &[]), 0.0, "{name}");
    }
    assert_eq!(
        value(&m, "ssd_edge_source_state", &[("state", "ended")]),
        1.0
    );
    assert_eq!(
        value(&m, "ssd_edge_source_state", &[("state", "streaming")]),
        0.0
    );
    assert!(value(&m, "ssd_edge_uptime_seconds", &[]) > 0.0);
    let build = m
        .keys()
        .find(|(n, _)| n == "ssd_edge_build_info")
        .expect("build info");
    assert_eq!(build.1["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        build.1["model"].ends_with("default-float.onnx"),
        "{:?}",
        build.1
    );

    // Every stored total is a counter with the same value, and no counter is missing one.
    let store = Store::open_read_only(&board.db).unwrap();
    let totals = store.totals().unwrap();
    let crossings: f64 = totals
        .iter()
        .filter(|(k, _)| k.kind == EventKind::Crossing)
        .map(|(_, n)| *n as f64)
        .sum();
    assert!(
        crossings > 0.0,
        "the scene should cross the line: {totals:?}"
    );
    for (k, n) in &totals {
        let got = match (k.kind, k.direction) {
            (EventKind::Crossing, Some(d)) => value(
                &m,
                "ssd_edge_line_crossings_total",
                &[
                    ("line", &k.place),
                    ("class", &k.label),
                    ("direction", d.as_str()),
                ],
            ),
            (kind, _) => value(
                &m,
                "ssd_edge_zone_events_total",
                &[
                    ("zone", &k.place),
                    ("class", &k.label),
                    ("event", kind.as_str()),
                ],
            ),
        };
        assert_eq!(got, *n as f64, "{k:?}");
    }
    let counter_sum: f64 = m
        .iter()
        .filter(|((n, _), _)| {
            n == "ssd_edge_line_crossings_total" || n == "ssd_edge_zone_events_total"
        })
        .map(|(_, v)| v)
        .sum();
    let stored_sum: f64 = totals.iter().map(|(_, n)| *n as f64).sum();
    assert_eq!(counter_sum, stored_sum);
    assert_eq!(
        value(&m, "ssd_edge_store_committed_events_total", &[]),
        store.event_count().unwrap() as f64
    );
    // The run is over: nobody is inside the zone any more, or the gauge says who is.
    let occupancy: f64 = m
        .iter()
        .filter(|((n, _), _)| n == "ssd_edge_zone_occupancy")
        .map(|(_, v)| v)
        .sum();
    assert_eq!(status["zones"][0]["occupancy"].as_f64().unwrap(), occupancy);

    // /status: the line's totals by direction, the store, the model.
    let by_dir = |d: Direction| -> u64 {
        totals
            .iter()
            .filter(|(k, _)| k.direction == Some(d))
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(status["lines"][0]["name"], "middle");
    assert_eq!(status["lines"][0]["in"], by_dir(Direction::In));
    assert_eq!(status["lines"][0]["out"], by_dir(Direction::Out));
    assert_eq!(status["store"]["state"], "ok");
    assert_eq!(status["camera"]["state"], "ended");
    assert_eq!(status["model"]["input"], serde_json::json!([300, 300]));
    assert_eq!(status["versions"]["ssd_edge"], env!("CARGO_PKG_VERSION"));

    // /api/counts over the last and next hour (the whole run) sums to the same totals, per
    // column: `middle in` is every class's crossings in.
    let now = jiff::Timestamp::now();
    let from = now - jiff::SignedDuration::from_hours(1);
    let to = now + jiff::SignedDuration::from_hours(1);
    let r = board.get(&format!("/api/counts?by=minute&tz=UTC&from={from}&to={to}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let c = r.json();
    assert_eq!(c["by"], "minute");
    assert_eq!(c["tz"], "UTC");
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for (k, n) in &totals {
        let measure = match (k.kind, k.direction) {
            (EventKind::Crossing, Some(d)) => d.as_str(),
            (EventKind::Entry, _) => "entries",
            (EventKind::Exit, _) => "exits",
            (EventKind::Loitering, _) => "loitering",
            (EventKind::Crossing, None) => "crossings",
        };
        *want.entry(format!("{} {measure}", k.place)).or_default() += n;
    }
    want.retain(|_, n| *n > 0);
    let got: BTreeMap<String, u64> = c["columns"]
        .as_array()
        .unwrap()
        .iter()
        .zip(c["totals"].as_array().unwrap())
        .map(|(col, n)| {
            (
                col["name"].as_str().unwrap().to_string(),
                n.as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
    let rows = c["rows"].as_array().unwrap();
    // Two hours of minutes, from the minute `from` falls in.
    assert!((120..=121).contains(&rows.len()), "{} rows", rows.len());
    let row_sum: u64 = rows
        .iter()
        .flat_map(|r| r["counts"].as_array().unwrap())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(row_sum, want.values().sum::<u64>());

    // The same query through `ssd-edge report --csv`: the same totals.
    let out = Command::new(env!("CARGO_BIN_EXE_ssd-edge"))
        .args(["report", "--csv", "--by", "hour", "--tz", "UTC", "--db"])
        .arg(&board.db)
        .arg(format!("--from={from}"))
        .arg(format!("--to={to}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut csv_totals: BTreeMap<String, u64> = BTreeMap::new();
    for line in lines {
        for (h, v) in header.iter().zip(line.split(',')) {
            if let (Some(col), Ok(n)) = (want.keys().find(|k| k == h), v.parse::<u64>()) {
                *csv_totals.entry(col.clone()).or_default() += n;
            }
        }
    }
    assert_eq!(csv_totals, want, "report --csv:\n{csv}");

    // Bad queries are 400s that say what is wrong.
    for (q, needle) in [
        ("by=week", "unknown bucket"),
        ("tz=Nowhere/City", "tz"),
        ("from=yesterday-ish", "from"),
        ("from=2026-01-02&to=2026-01-01", "not before"),
        ("bogus=1", "unknown parameter"),
        ("from=%zz", "percent"),
    ] {
        let r = board.get(&format!("/api/counts?{q}"));
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        assert!(
            r.json()["error"].as_str().unwrap().contains(needle),
            "{q}: {}",
            r.text()
        );
    }
    let status = board.stop();
    assert!(status.success(), "{status:?}");
}
