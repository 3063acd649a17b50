//! The HTTP sink's frame-thread side allocates nothing in steady state: 300 synthetic frames
//! through the shipped model, tracker and counter, each handed to a listening `HttpSink` and
//! offered to the snapshot slot, under a counting allocator. With nobody asking, the slot
//! costs an atomic load; a request (or the sink's own refresh) fills it, into buffers
//! allocated at start-up.
#![cfg(feature = "http")]

use ssd_edge::count::{Counter, EventTime};
use ssd_edge::http::state::Info;
use ssd_edge::http::{HttpConfig, HttpSink};
use ssd_edge::model::Detector;
use ssd_edge::sink::{FrameReport, RunStats, Sink, SourceState};
use ssd_edge::snapshot::SnapshotSlot;
use ssd_edge::source::synth::SynthSource;
use ssd_edge::source::FrameSource;
use ssd_edge::ssd::Detections;
use ssd_edge::track::{TrackInput, Tracker, TrackerConfig};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[path = "support/alloc.rs"]
mod alloc;
#[path = "support/street.rs"]
mod street;
use alloc::count_allocations;

#[test]
fn the_http_sink_and_an_unrequested_snapshot_allocate_nothing_per_frame() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default-float.onnx");
    let mut detector = Detector::load(&model, None).unwrap();
    detector.set_score_threshold(0.1);
    let labels = detector.meta().labels.clone();
    let spec = street::street_spec();
    let tcfg = TrackerConfig::default();
    let mut tracker = Tracker::new(&tcfg);
    let mut counter = Counter::new(spec.clone(), &labels, tcfg.capacity).unwrap();
    let slot = Arc::new(SnapshotSlot::new(300, 300, tcfg.capacity));
    let cfg = HttpConfig {
        listen: "127.0.0.1:0".into(),
        ..HttpConfig::default()
    };
    let info = |listen| Info {
        model: "default-float.onnx".into(),
        model_input: (300, 300),
        labels: labels.clone(),
        source: "synth:3".into(),
        lines: spec.lines.clone(),
        zones: spec.zones.clone(),
        store_path: None,
        store_status: None,
        listen,
        started_ms: 0,
    };
    let mut sink = HttpSink::start(&cfg, info, slot.clone()).unwrap();
    let mut source = SynthSource::new(3, None, None);
    let mut dets = Detections::new();
    let mut inputs: Vec<TrackInput> = Vec::with_capacity(ssd_edge::ssd::MAX_DETECTIONS);
    let mut stats = RunStats {
        source: SourceState::Streaming,
        ..RunStats::default()
    };
    let (mut ours, mut events, mut taken) = (0usize, 0usize, 0u64);
    for f in 0..300u64 {
        let frame = source.next_frame(Duration::from_secs(1)).unwrap().unwrap();
        let (w, h) = (frame.width, frame.height);
        detector.detect(&frame, &mut dets).unwrap();
        if f == 150 {
            slot.request();
        }
        let n = count_allocations(|| {
            inputs.clear();
            inputs.extend(dets.iter().map(|d| TrackInput {
                class_id: d.class_id,
                score: d.score,
                bbox: [
                    d.bbox[0] * w as f32,
                    d.bbox[1] * h as f32,
                    d.bbox[2] * w as f32,
                    d.bbox[3] * h as f32,
                ],
            }));
            let out = tracker.update(&inputs);
            let t = EventTime {
                wall_ms: 1_800_000_000_000 + f as i64 * 66,
                mono_ms: f * 66,
                clock_suspect: false,
            };
            let ev = counter
                .update((w, h), out.tracks, out.removed, f, t)
                .unwrap();
            events += ev.len();
            stats.frames = f + 1;
            stats.stage_us.forward = 5000;
            slot.offer(&frame, f, &dets[..], out.tracks);
            let report = FrameReport {
                index: f,
                timestamp_us: f * 66_000,
                width: w,
                height: h,
                name: None,
                detections: &dets[..],
                tracks: out.tracks,
                events: counter.events(),
                counts: Some(&counter),
                ground_truth: None,
                labels: &labels,
                stats: &stats,
            };
            sink.frame(&report).unwrap();
        });
        taken = slot.seq();
        // Frame 0 fills the slot (it starts wanted) and sizes the sink's copies; frame 150
        // answers a request into the buffers allocated at start-up.
        if f >= 2 {
            ours += n;
        }
    }
    eprintln!("300 frames: {events} events, {taken} snapshots; allocations after warm-up: {ours}");
    // The first frame, the requested one, and one per refresh interval.
    assert!(taken >= 2, "{taken} snapshots");
    assert!(events > 0);
    assert_eq!(
        ours, 0,
        "the HTTP sink or the snapshot slot allocated per frame"
    );
    sink.finish().unwrap();
}
