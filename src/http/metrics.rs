//! `/metrics` in the Prometheus text exposition format (version 0.0.4), written by hand: a
//! few dozen lines of text need no client library.

use super::state::{Info, Live, FORWARD_BUCKETS};
use crate::count::EventKind;
use crate::sink::SourceState;
use std::fmt::Write;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

use crate::wall_clock::unix_ms as now_ms;

pub fn render(info: &Info, live: &Live) -> String {
    let mut o = Out(String::with_capacity(8192));
    let s = &live.stats;
    o.family(
        "ssd_edge_build_info",
        "gauge",
        "The binary and model this board runs (always 1).",
    );
    o.sample(
        "ssd_edge_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("target", env!("SSD_EDGE_TARGET")),
            ("features", env!("SSD_EDGE_FEATURES")),
            ("model", &info.model),
        ],
        1,
    );
    o.one(
        "ssd_edge_start_time_seconds",
        "gauge",
        "When this run started (Unix time).",
        info.started_ms as f64 / 1000.0,
    );
    o.one(
        "ssd_edge_uptime_seconds",
        "gauge",
        "Seconds since the run started.",
        (now_ms() - info.started_ms).max(0) as f64 / 1000.0,
    );
    o.one(
        "ssd_edge_frames_total",
        "counter",
        "Frames through every stage.",
        s.frames,
    );
    o.one(
        "ssd_edge_dropped_frames_total",
        "counter",
        "Frames the source skipped or the driver lost.",
        s.dropped,
    );
    o.one(
        "ssd_edge_corrupt_frames_total",
        "counter",
        "Frames that could not be decoded (corrupt MJPEG, short buffers).",
        s.corrupt,
    );
    o.one(
        "ssd_edge_frame_timeouts_total",
        "counter",
        "Waits for a frame that timed out.",
        s.timeouts,
    );
    o.one(
        "ssd_edge_reconnects_total",
        "counter",
        "Successful camera reconnects.",
        s.reconnects,
    );
    o.family(
        "ssd_edge_source_state",
        "gauge",
        "1 for the source's current state.",
    );
    for st in [
        SourceState::Starting,
        SourceState::Streaming,
        SourceState::Reconnecting,
        SourceState::Ended,
    ] {
        o.sample(
            "ssd_edge_source_state",
            &[("state", st.as_str())],
            (s.source == st) as u8,
        );
    }
    o.one(
        "ssd_edge_fps",
        "gauge",
        "Frames per second over the last second.",
        format_args!("{:.2}", live.fps),
    );
    o.one(
        "ssd_edge_last_frame_timestamp_seconds",
        "gauge",
        "Wall-clock time of the last processed frame (Unix time; 0 before the first).",
        live.last_frame_ms as f64 / 1000.0,
    );
    o.family(
        "ssd_edge_stage_seconds",
        "gauge",
        "The last frame's time per pipeline stage.",
    );
    let st = s.stage_us;
    for (stage, us) in [
        ("preprocess", st.preprocess),
        ("forward", st.forward),
        ("decode", st.decode),
        ("track_count", st.track_count),
    ] {
        o.sample(
            "ssd_edge_stage_seconds",
            &[("stage", stage)],
            us as f64 / 1e6,
        );
    }
    let h = &live.forward;
    o.family(
        "ssd_edge_inference_seconds",
        "histogram",
        "The model's forward pass per frame.",
    );
    let mut cumulative = 0;
    for (i, bound) in FORWARD_BUCKETS.iter().enumerate() {
        cumulative += h.counts[i];
        o.sample(
            "ssd_edge_inference_seconds_bucket",
            &[("le", &bound.to_string())],
            cumulative,
        );
    }
    o.sample(
        "ssd_edge_inference_seconds_bucket",
        &[("le", "+Inf")],
        h.count,
    );
    o.sample("ssd_edge_inference_seconds_sum", &[], h.sum_us as f64 / 1e6);
    o.sample("ssd_edge_inference_seconds_count", &[], h.count);

    o.family(
        "ssd_edge_line_crossings_total",
        "counter",
        "Line crossings by line, class and direction (earlier runs' included, as stored).",
    );
    for (k, n) in &live.totals {
        if let (EventKind::Crossing, Some(d)) = (k.kind, k.direction) {
            o.sample(
                "ssd_edge_line_crossings_total",
                &[
                    ("line", &k.place),
                    ("class", &k.label),
                    ("direction", d.as_str()),
                ],
                n,
            );
        }
    }
    o.family(
        "ssd_edge_zone_events_total",
        "counter",
        "Zone entries, exits and loitering events by zone and class (earlier runs' included).",
    );
    for (k, n) in &live.totals {
        if k.kind != EventKind::Crossing {
            o.sample(
                "ssd_edge_zone_events_total",
                &[
                    ("zone", &k.place),
                    ("class", &k.label),
                    ("event", k.kind.as_str()),
                ],
                n,
            );
        }
    }
    o.family(
        "ssd_edge_zone_occupancy",
        "gauge",
        "Tracks inside each zone now, by class.",
    );
    for (zone, class, n) in &live.occupancy {
        o.sample(
            "ssd_edge_zone_occupancy",
            &[("zone", zone), ("class", class)],
            n,
        );
    }
    o.one(
        "ssd_edge_clock_suspect_events_total",
        "counter",
        "Events stamped while the wall clock was not trusted (before the build date, or jumped).",
        live.suspect_events,
    );
    match &info.store_status {
        Some(h) => {
            let st = h.status();
            o.one(
                "ssd_edge_store_write_errors_total",
                "counter",
                "Commits to the event database that failed (disk full, read-only, I/O).",
                st.failed_commits,
            );
            o.one(
                "ssd_edge_store_failing",
                "gauge",
                "1 while the last commit failed and events wait in memory.",
                st.failing as u8,
            );
            o.one(
                "ssd_edge_store_committed_events_total",
                "counter",
                "Events of this run in the database.",
                st.committed,
            );
            o.one(
                "ssd_edge_store_pending_events",
                "gauge",
                "Events received and not yet committed.",
                st.pending,
            );
            o.one(
                "ssd_edge_store_dropped_details_total",
                "counter",
                "Events kept as counts only (memory bound while the disk failed).",
                st.dropped_details,
            );
        }
        None => o.0.push_str(
            "# ssd_edge_store_*: not reported: this run keeps no event store (no [store] \
             table or --db, or no lines or zones)\n",
        ),
    }
    o.0
}
