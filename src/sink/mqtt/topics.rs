//! Topic names and payloads. Everything lives under `<prefix>/<device>/`; docs/mqtt.md lists
//! every topic with an example payload. Formatting happens on the MQTT thread only.

use crate::count::{Event, EventKind, TotalKey};
use crate::sink::RunStats;

/// A name (line, zone, label) as one topic level: MQTT separators and wildcards, spaces and
/// control characters become `_`, so `traffic light` is `traffic_light`.
pub fn level(s: &str) -> String {
    crate::count::event::topic_level(s)
}

/// A Home Assistant object id: `[a-zA-Z0-9_-]` only.
pub fn object_id(s: &str) -> String {
    crate::count::event::object_id(s)
}

#[derive(Clone, Debug)]
pub struct Topics {
    /// `<prefix>/<device>`.
    pub base: String,
}

impl Topics {
    pub fn new(prefix: &str, device: &str) -> Self {
        Topics {
            base: format!("{prefix}/{device}"),
        }
    }

    pub fn availability(&self) -> String {
        format!("{}/availability", self.base)
    }

    pub fn events(&self) -> String {
        format!("{}/events", self.base)
    }

    pub fn stats(&self) -> String {
        format!("{}/stats", self.base)
    }

    /// `totals/<place>/<kind>/<label>` and, for crossings, `/<direction>`.
    pub fn total(&self, k: &TotalKey) -> String {
        let mut t = format!(
            "{}/totals/{}/{}/{}",
            self.base,
            level(&k.place),
            k.kind.as_str(),
            level(&k.label)
        );
        if let Some(d) = k.direction {
            t.push('/');
            t.push_str(d.as_str());
        }
        t
    }

    pub fn occupancy(&self, zone: &str, label: &str) -> String {
        format!("{}/occupancy/{}/{}", self.base, level(zone), level(label))
    }
}

/// One event as JSON. `seq` numbers this run's events from 1 (with `run`, the run's start in
/// Unix ms, it identifies an event, so a consumer can drop the duplicates that at-least-once
/// delivery allows); `total` is the running total after it, when known.
pub fn event_json(e: &Event, run: i64, seq: u64, total: Option<u64>, replayed: bool) -> Vec<u8> {
    let mut v = serde_json::json!({
        "run": run,
        "seq": seq,
        "kind": e.kind.as_str(),
        "place": e.place.as_str(),
        "label": e.label.as_str(),
        "class_id": e.class_id,
        "track_id": e.track_id,
        "score": (e.score as f64 * 1000.0).round() / 1000.0,
        "frame": e.frame,
        "wall_ms": e.time.wall_ms,
        "mono_ms": e.time.mono_ms,
    });
    let m = v.as_object_mut().expect("an object");
    if let Some(d) = e.direction {
        m.insert("direction".into(), d.as_str().into());
    }
    if let Some(d) = e.dwell_ms {
        m.insert("dwell_ms".into(), d.into());
    }
    if e.time.clock_suspect {
        m.insert("clock_suspect".into(), true.into());
    }
    if let Some(t) = total {
        m.insert("total".into(), t.into());
    }
    if replayed {
        m.insert("replayed".into(), true.into());
    }
    serde_json::to_vec(&v).expect("JSON of plain values")
}

/// What the MQTT link itself reports in the stats message and the run summary.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct LinkStats {
    pub connected: bool,
    /// Event publishes handed to the client (resends included).
    pub published: u64,
    /// Events the broker acknowledged (PubAck).
    pub acked: u64,
    /// Events that will never be published (see the loss rule in docs/mqtt.md).
    pub dropped: u64,
    /// Events read back from the store after the outbox or the queue overflowed.
    pub replayed: u64,
    /// Events waiting for the broker.
    pub outbox: u64,
    /// Connections after the first.
    pub reconnects: u64,
}

/// The stats message: the pipeline's health and the link's, with the fps since the last one.
pub fn stats_json(s: &RunStats, fps: f64, link: &LinkStats) -> Vec<u8> {
    let ms = |us: u32| (us as f64 / 10.0).round() / 100.0;
    serde_json::to_vec(&serde_json::json!({
        "fps": (fps * 100.0).round() / 100.0,
        "inference_ms": ms(s.stage_us.forward),
        "preprocess_ms": ms(s.stage_us.preprocess),
        "decode_ms": ms(s.stage_us.decode),
        "track_count_ms": ms(s.stage_us.track_count),
        "frames": s.frames,
        "dropped_frames": s.dropped,
        "corrupt_frames": s.corrupt,
        "timeouts": s.timeouts,
        "camera_reconnects": s.reconnects,
        "camera": s.source.as_str(),
        "uptime_s": s.uptime_ms / 1000,
        "mqtt": link,
    }))
    .expect("JSON of plain values")
}

/// Human-readable sensor names for discovery.
pub fn total_name(k: &TotalKey) -> String {
    match (k.kind, k.direction) {
        (EventKind::Crossing, Some(d)) => format!("{} {} {}", k.place, k.label, d.as_str()),
        (kind, _) => format!("{} {} {}", k.place, k.label, kind.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::count::{event::name, Direction};

    #[test]
    fn names_become_safe_levels() {
        assert_eq!(level("traffic light"), "traffic_light");
        assert_eq!(level("a/b+#"), "a_b__");
        assert_eq!(object_id("Zone-1 (ü)"), "Zone-1____");
        let t = Topics::new("ssd-edge", "gate");
        let k = TotalKey {
            place: name("door"),
            kind: EventKind::Crossing,
            label: name("person"),
            direction: Some(Direction::In),
        };
        assert_eq!(t.total(&k), "ssd-edge/gate/totals/door/crossing/person/in");
        assert_eq!(
            t.occupancy("yard", "traffic light"),
            "ssd-edge/gate/occupancy/yard/traffic_light"
        );
    }
}
