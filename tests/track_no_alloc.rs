//! Proves `Tracker::update` allocates nothing once built: a counting global allocator counts
//! this thread's allocations over 1,000 frames of a moving synthetic scene, with objects
//! entering, leaving, occluded, dimmed and crowding the capacity.

use ssd_edge::track::{Method, TrackInput, Tracker, TrackerConfig};

#[path = "support/alloc.rs"]
mod alloc;
use alloc::count_allocations;

#[test]
fn counter_sees_allocations() {
    let n = count_allocations(|| drop(std::hint::black_box(vec![1u8; 64])));
    assert_eq!(n, 1);
}

/// Frame `f` of a scene: `n` objects bouncing across 640x480 at their own speeds, some hidden
/// for stretches, some dimmed below the high threshold, plus a burst of clutter every 50 frames.
fn scene(f: u32, n: u32, out: &mut Vec<TrackInput>) {
    out.clear();
    for k in 0..n {
        let period = 200 + 37 * k;
        let phase = (f + 91 * k) % (2 * period);
        let t = if phase < period {
            phase
        } else {
            2 * period - phase
        } as f32
            / period as f32;
        let x = 20.0 + 560.0 * t;
        let y = 30.0 + (k * 41 % 380) as f32 + 10.0 * ((f as f32 + k as f32) * 0.05).sin();
        if (f / 40 + k).is_multiple_of(7) {
            continue; // occluded for 40 frames
        }
        let score = if (f / 13 + k).is_multiple_of(5) {
            0.3
        } else {
            0.8
        };
        out.push(TrackInput {
            class_id: 1 + (k % 3) as u16,
            score,
            bbox: [x, y, x + 30.0 + k as f32, y + 60.0],
        });
    }
    if f.is_multiple_of(50) {
        for j in 0..40 {
            let x = (j * 16) as f32;
            out.push(TrackInput {
                class_id: 1,
                score: 0.65,
                bbox: [x, 400.0, x + 12.0, 470.0],
            });
        }
    }
}

fn run(method: Method) {
    let cfg = TrackerConfig {
        capacity: 32,
        max_detections: 48,
        assignment: method,
        ..TrackerConfig::default()
    };
    let mut tracker = Tracker::new(&cfg);
    // Every frame built up front, so only `update` runs while counting.
    let frames: Vec<Vec<TrackInput>> = (0..1000)
        .map(|f| {
            let mut v = Vec::new();
            scene(f, 24, &mut v);
            v
        })
        .collect();
    let (mut confirmed, mut removed, mut max_alive) = (0usize, 0usize, 0usize);
    let n = count_allocations(|| {
        for dets in &frames {
            let out = tracker.update(dets);
            confirmed += out.tracks.iter().filter(|t| t.lost_frames == 0).count();
            removed += out.removed.len();
            max_alive = max_alive.max(out.tracks.len());
        }
        tracker.reset();
        tracker.update(&frames[0]);
    });
    assert_eq!(n, 0, "{method:?}: update allocated {n} times");
    // Not a trivially idle tracker: tracks were confirmed, dropped, and capacity was hit.
    assert!(confirmed > 10_000, "{confirmed} matched track-frames");
    assert!(removed > 10, "{removed} tracks removed");
    assert!(
        tracker.stats().dropped_tracks > 0 || max_alive >= 20,
        "{:?}",
        tracker.stats()
    );
    assert!(
        tracker.stats().dropped_detections > 0,
        "{:?}",
        tracker.stats()
    );
}

#[test]
fn update_allocates_nothing_optimal() {
    run(Method::Optimal);
}

#[test]
fn update_allocates_nothing_greedy() {
    run(Method::Greedy);
}
