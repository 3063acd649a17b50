//! The MQTT sink's frame-thread side allocates nothing: 2,000 frames of events, totals,
//! occupancy and stats handed to `MqttSink::frame` with no broker listening (so the queue
//! fills, the overflow range and the totals re-send run too), under a counting allocator.
//! The MQTT thread's own formatting is on its thread and not counted.
#![cfg(feature = "mqtt")]

use ssd_edge::count::event::name;
use ssd_edge::count::{
    Anchor, CountSpec, Counter, Direction, Event, EventKind, EventTime, LineConfig, Units,
    ZoneConfig,
};
use ssd_edge::sink::mqtt::{CountKeys, MqttConfig, MqttSink};
use ssd_edge::sink::{FrameReport, RunStats, Sink};

#[path = "support/alloc.rs"]
mod alloc;
use alloc::count_allocations;

fn event(kind: EventKind, place: &str, frame: u64) -> Event {
    Event {
        kind,
        place: name(place),
        label: name("person"),
        class_id: 1,
        direction: (kind == EventKind::Crossing).then_some(Direction::In),
        track_id: frame as u32,
        score: 0.9,
        frame,
        time: EventTime {
            wall_ms: 1_800_000_000_000 + frame as i64,
            mono_ms: frame,
            clock_suspect: false,
        },
        dwell_ms: None,
    }
}

#[test]
fn the_frame_side_allocates_nothing() {
    let labels: Vec<String> = ["background", "person", "car"].map(String::from).to_vec();
    let spec = CountSpec {
        lines: vec![LineConfig {
            name: "door".into(),
            a: [0.5, 1.0],
            b: [0.5, 0.0],
            units: Units::Fraction,
            band: None,
            band_height: None,
            anchor: Anchor::Center,
            extend: false,
            classes: None,
        }],
        zones: vec![ZoneConfig {
            name: "yard".into(),
            points: vec![[0.0, 0.0], [0.4, 0.0], [0.4, 1.0]],
            units: Units::Fraction,
            band: None,
            anchor: Anchor::Center,
            classes: None,
            loiter_seconds: None,
        }],
    };
    let counter = Counter::new(spec, &labels, 16).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg: MqttConfig = toml::from_str(&format!(
        "host = \"127.0.0.1\"\nport = {port}\ndevice = \"t\"\nlinger = 0.1\nstats_interval = 0.001"
    ))
    .unwrap();
    let mut sink = MqttSink::start(&cfg, CountKeys::of(&counter), None, "m").unwrap();
    let mut stats = RunStats::default();
    let mut total = 0;
    for f in 0..2000u64 {
        let events = [
            event(EventKind::Crossing, "door", f),
            event(EventKind::Entry, "yard", f),
            event(EventKind::Exit, "yard", f),
        ];
        stats.frames = f;
        stats.uptime_ms = f;
        let report = FrameReport {
            index: f,
            timestamp_us: f * 1000,
            width: 300,
            height: 300,
            name: None,
            detections: &[],
            tracks: &[],
            events: &events,
            counts: Some(&counter),
            ground_truth: None,
            labels: &labels,
            stats: &stats,
        };
        let n = count_allocations(|| {
            sink.frame(&report).unwrap();
            sink.source_state(&stats);
        });
        if f > 0 {
            total += n;
        }
    }
    sink.finish().unwrap();
    let link = sink.link_stats();
    eprintln!("2000 frames, 6000 events, no broker: {link:?}");
    assert_eq!(link.published, 0);
    assert_eq!(total, 0, "MqttSink::frame allocated");
}
