//! The board's steady state allocates nothing in our stages: 1,000 synthetic frames through
//! the shipped model, the tracker and the counter (a line and a zone), with a counting global
//! allocator around the track and count stages. tract's own allocations inside the forward
//! pass are counted apart and printed (they are tract's, not ours to remove).

use ssd_edge::count::{Counter, EventTime};
use ssd_edge::model::Detector;
use ssd_edge::source::synth::SynthSource;
use ssd_edge::source::FrameSource;
use ssd_edge::ssd::Detections;
use ssd_edge::track::{TrackInput, Tracker, TrackerConfig};
use std::path::Path;
use std::time::Duration;

#[path = "support/alloc.rs"]
mod alloc;
#[path = "support/street.rs"]
mod street;
use alloc::count_allocations;

#[test]
fn detect_track_count_for_1000_frames_allocates_nothing_in_our_stages() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default-float.onnx");
    let mut detector = Detector::load(&model, None).unwrap();
    detector.set_score_threshold(0.1);
    let labels = detector.meta().labels.clone();
    let spec = street::street_spec();
    let tcfg = TrackerConfig::default();
    let mut tracker = Tracker::new(&tcfg);
    let mut counter = Counter::new(spec, &labels, tcfg.capacity).unwrap();
    let mut source = SynthSource::new(3, None, None);
    let mut dets = Detections::new();
    let mut inputs: Vec<TrackInput> = Vec::with_capacity(ssd_edge::ssd::MAX_DETECTIONS);
    let (mut ours, mut tract, mut events) = (0usize, 0usize, 0usize);
    for f in 0..1000u64 {
        let frame = source.next_frame(Duration::from_secs(1)).unwrap().unwrap();
        let (w, h) = (frame.width, frame.height);
        let n = count_allocations(|| detector.detect(&frame, &mut dets).unwrap());
        if f >= 10 {
            tract += n;
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
            events += counter
                .update((w, h), out.tracks, out.removed, f, t)
                .unwrap()
                .len();
        });
        // the first frame sizes the lines and zones for the frame
        if f >= 1 {
            ours += n;
        }
    }
    eprintln!(
        "1000 frames: {events} events; allocations: track+count {ours}, tract forward {tract}"
    );
    assert!(
        events > 0,
        "the scene should cross the line and visit the zone"
    );
    assert_eq!(ours, 0, "track + count allocated");
}
