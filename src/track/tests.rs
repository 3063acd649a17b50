//! Behaviour of the tracker on small hand-made scenes.

use super::*;

fn det(class_id: u16, score: f32, x: f32, y: f32) -> TrackInput {
    TrackInput {
        class_id,
        score,
        bbox: [x, y, x + 40.0, y + 80.0],
    }
}

/// Ids of the tracks matched this frame, in track order.
fn seen(out: &TrackerOutput<'_>) -> Vec<u32> {
    out.tracks
        .iter()
        .filter(|t| t.lost_frames == 0)
        .map(|t| t.id)
        .collect()
}

#[test]
fn moving_boxes_keep_their_ids() {
    let mut tr = Tracker::new(&TrackerConfig::default());
    let mut ids = None;
    for f in 0..100 {
        let x = 3.0 * f as f32;
        let dets = [
            det(1, 0.9, x, 10.0),
            det(1, 0.8, 300.0 - x, 120.0),
            det(2, 0.7, 50.0, 50.0 + f as f32),
        ];
        let out = tr.update(&dets);
        if f == 0 {
            assert!(
                out.tracks.is_empty(),
                "confirmed after one hit: {:?}",
                out.tracks
            );
            continue;
        }
        let now = seen(&out);
        assert_eq!(now.len(), 3, "frame {f}: {:?}", out.tracks);
        match &ids {
            None => ids = Some(now),
            Some(first) => assert_eq!(&now, first, "frame {f}"),
        }
        // The estimate follows the box.
        let t = out
            .tracks
            .iter()
            .find(|t| t.id == ids.as_ref().unwrap()[0])
            .unwrap();
        assert!(
            (t.bbox[0] - x).abs() < 2.0,
            "frame {f}: {:?} vs x {x}",
            t.bbox
        );
    }
    assert_eq!(ids.unwrap(), vec![1, 2, 3]);
}

#[test]
fn crossing_boxes_of_one_class_keep_their_ids() {
    let mut tr = Tracker::new(&TrackerConfig::default());
    let mut last = Vec::new();
    for f in 0..80 {
        let x = 4.0 * f as f32;
        let out = tr.update(&[det(1, 0.9, x, 100.0), det(1, 0.9, 320.0 - x, 110.0)]);
        if f > 0 {
            let by_x: Vec<(u32, f32)> = out.tracks.iter().map(|t| (t.id, t.bbox[0])).collect();
            assert_eq!(by_x.len(), 2, "frame {f}");
            // Id 1 started on the left and moves right.
            let one = by_x.iter().find(|t| t.0 == 1).unwrap().1;
            assert!((one - x).abs() < 6.0, "frame {f}: {by_x:?}");
            last = by_x;
        }
    }
    assert_eq!(last.len(), 2);
}

#[test]
fn occlusion_within_the_lost_buffer_keeps_the_id() {
    let cfg = TrackerConfig::default();
    let mut tr = Tracker::new(&cfg);
    let pos = |f: u32| 2.0 * f as f32;
    for f in 0..10 {
        tr.update(&[det(1, 0.9, pos(f), 50.0)]);
    }
    let mut removed = Vec::new();
    for f in 10..10 + cfg.lost_buffer {
        let out = tr.update(&[]);
        assert_eq!(out.tracks.len(), 1, "coasting at {f}");
        assert_eq!(out.tracks[0].lost_frames, f - 9);
        removed.extend_from_slice(out.removed);
    }
    assert!(removed.is_empty());
    let f = 10 + cfg.lost_buffer;
    let out = tr.update(&[det(1, 0.9, pos(f), 50.0)]);
    assert_eq!(seen(&out), vec![1]);
}

#[test]
fn occlusion_beyond_the_lost_buffer_gives_a_new_id() {
    let cfg = TrackerConfig {
        lost_buffer: 5,
        ..Default::default()
    };
    let mut tr = Tracker::new(&cfg);
    for _ in 0..5 {
        tr.update(&[det(1, 0.9, 10.0, 10.0)]);
    }
    let mut removed = Vec::new();
    for _ in 0..6 {
        removed.extend_from_slice(tr.update(&[]).removed);
    }
    assert_eq!(removed, vec![1]);
    assert!(tr.update(&[]).tracks.is_empty());
    tr.update(&[det(1, 0.9, 10.0, 10.0)]);
    let out = tr.update(&[det(1, 0.9, 10.0, 10.0)]);
    assert_eq!(seen(&out), vec![2]);
}

#[test]
fn classes_never_switch() {
    let mut tr = Tracker::new(&TrackerConfig::default());
    for _ in 0..5 {
        tr.update(&[det(1, 0.9, 10.0, 10.0)]);
    }
    // The same box, another class: the old track coasts, a new one starts.
    for _ in 0..3 {
        tr.update(&[det(2, 0.9, 10.0, 10.0)]);
    }
    let out = tr.update(&[det(2, 0.9, 10.0, 10.0)]);
    let one = out.tracks.iter().find(|t| t.id == 1).unwrap();
    assert_eq!((one.class_id, one.lost_frames), (1, 4));
    let two = out.tracks.iter().find(|t| t.id == 2).unwrap();
    assert_eq!((two.class_id, two.lost_frames), (2, 0));
}

#[test]
fn the_low_score_pass_recovers_a_dimmed_detection() {
    let mut tr = Tracker::new(&TrackerConfig::default());
    for f in 0..10 {
        tr.update(&[det(1, 0.9, 2.0 * f as f32, 10.0)]);
    }
    for f in 10..20 {
        let out = tr.update(&[det(1, 0.3, 2.0 * f as f32, 10.0)]);
        assert_eq!(seen(&out), vec![1], "frame {f}");
        assert_eq!(out.tracks[0].score, 0.3);
    }
    // Below the low threshold it is no detection at all.
    let out = tr.update(&[det(1, 0.05, 40.0, 10.0)]);
    assert_eq!(out.tracks[0].lost_frames, 1);
}

#[test]
fn a_dim_object_is_tracked_by_default() {
    // The shipped model scores many people at 0.4-0.5, where ByteTrack's own thresholds
    // (0.5 to match first, 0.6 to start) would never give them a track.
    let mut tr = Tracker::new(&TrackerConfig::default());
    let mut last = Vec::new();
    for f in 0..5 {
        last = seen(&tr.update(&[det(1, 0.45, 3.0 * f as f32, 10.0)]));
    }
    assert_eq!(last, vec![1]);
}

#[test]
fn low_scores_never_start_tracks() {
    let cfg = TrackerConfig::default();
    let below = cfg.new_track_threshold - 0.05;
    let mut tr = Tracker::new(&cfg);
    for _ in 0..10 {
        assert!(tr
            .update(&[det(1, below, 10.0, 10.0), det(1, 0.15, 200.0, 10.0)])
            .tracks
            .is_empty());
    }
}

#[test]
fn a_one_frame_flicker_is_never_confirmed() {
    let mut tr = Tracker::new(&TrackerConfig::default());
    for f in 0..20 {
        let dets = if f % 2 == 0 {
            vec![det(1, 0.9, 10.0 * f as f32, 10.0)]
        } else {
            vec![]
        };
        assert!(tr.update(&dets).tracks.is_empty(), "frame {f}");
    }
}

#[test]
fn capacity_overflow_is_ignored_and_counted() {
    let cfg = TrackerConfig {
        capacity: 4,
        max_detections: 6,
        ..Default::default()
    };
    let mut tr = Tracker::new(&cfg);
    let dets: Vec<TrackInput> = (0..10)
        .map(|k| det(1, 0.7 + 0.02 * k as f32, 60.0 * k as f32, 0.0))
        .collect();
    for _ in 0..5 {
        let out = tr.update(&dets);
        assert!(out.tracks.len() <= 4);
    }
    let out = tr.update(&dets);
    assert_eq!(out.tracks.len(), 4);
    // The strongest detections won the slots.
    for t in out.tracks {
        assert!(t.score > 0.7 + 0.02 * 5.5, "{t:?}");
    }
    let s = tr.stats();
    assert_eq!(s.dropped_detections, 6 * 4);
    assert_eq!(s.dropped_tracks, 2 + 2 * 5);
}

#[test]
fn corrupt_boxes_are_rejected_without_panic() {
    let mut tr = Tracker::new(&TrackerConfig::default());
    let bad = [
        TrackInput {
            class_id: 1,
            score: f32::NAN,
            bbox: [0.0, 0.0, 10.0, 10.0],
        },
        TrackInput {
            class_id: 1,
            score: 0.9,
            bbox: [f32::NAN, 0.0, 10.0, 10.0],
        },
        TrackInput {
            class_id: 1,
            score: 0.9,
            bbox: [0.0, f32::INFINITY, 10.0, 10.0],
        },
        TrackInput {
            class_id: 1,
            score: 0.9,
            bbox: [10.0, 0.0, 0.0, 10.0],
        },
        TrackInput {
            class_id: 1,
            score: 0.9,
            bbox: [0.0, 10.0, 10.0, 10.0],
        },
        TrackInput {
            class_id: 1,
            score: f32::INFINITY,
            bbox: [0.0, 0.0, 10.0, 10.0],
        },
    ];
    for _ in 0..5 {
        assert!(tr.update(&bad).tracks.is_empty());
    }
    assert_eq!(tr.stats().rejected_detections, 30);
    // Huge but finite boxes neither panic nor poison the state.
    let huge = [TrackInput {
        class_id: 1,
        score: 0.9,
        bbox: [-3e38, -3e38, 3e38, 3e38],
    }];
    for _ in 0..5 {
        for t in tr.update(&huge).tracks {
            assert!(t.id > 0);
        }
    }
    // And a sane box afterwards still tracks.
    for _ in 0..3 {
        tr.update(&[det(1, 0.9, 5.0, 5.0)]);
    }
    assert!(tr
        .update(&[det(1, 0.9, 5.0, 5.0)])
        .tracks
        .iter()
        .any(|t| t.lost_frames == 0 && t.bbox[0].is_finite()));
}

#[test]
fn ids_are_never_reused_across_reset() {
    let mut tr = Tracker::new(&TrackerConfig::default());
    tr.update(&[det(1, 0.9, 0.0, 0.0)]);
    assert_eq!(tr.update(&[det(1, 0.9, 0.0, 0.0)]).tracks[0].id, 1);
    tr.reset();
    assert!(tr.update(&[det(1, 0.9, 0.0, 0.0)]).tracks.is_empty());
    assert_eq!(tr.update(&[det(1, 0.9, 0.0, 0.0)]).tracks[0].id, 2);
}

#[test]
fn min_hits_one_confirms_at_once_and_greedy_also_tracks() {
    let cfg = TrackerConfig {
        min_hits: 1,
        assignment: Method::Greedy,
        ..Default::default()
    };
    let mut tr = Tracker::new(&cfg);
    assert_eq!(seen(&tr.update(&[det(1, 0.9, 0.0, 0.0)])), vec![1]);
    for f in 1..30 {
        assert_eq!(
            seen(&tr.update(&[det(1, 0.9, 3.0 * f as f32, 0.0)])),
            vec![1]
        );
    }
}

/// A narrow box walking at 3 px a frame stops while unseen: the prediction runs on at the old
/// velocity and no longer overlaps it, but the recovery pass finds it by the box last
/// observed, so it keeps its id (without recovery a second track is born).
#[test]
fn an_object_that_stops_while_unseen_keeps_its_id() {
    let narrow = |x: f32| TrackInput {
        class_id: 1,
        score: 0.9,
        bbox: [x, 50.0, x + 20.0, 110.0],
    };
    let run = |recovery: f32, max_lost: Option<u32>| {
        let cfg = TrackerConfig {
            recovery_match_threshold: recovery,
            recovery_max_lost: max_lost,
            ..TrackerConfig::default()
        };
        let mut tr = Tracker::new(&cfg);
        let mut ids = std::collections::BTreeSet::new();
        for f in 0..60 {
            let dets = match f {
                0..30 => vec![narrow(3.0 * f as f32)],
                30..38 => vec![],
                _ => vec![narrow(90.0)],
            };
            let out = tr.update(&dets);
            ids.extend(seen(&out));
        }
        ids.len()
    };
    assert_eq!(run(0.7, None), 1);
    assert_eq!(run(0.0, None), 2);
    // Unseen in frames 30-37: at frame 38 it has been lost 9 frames.
    assert_eq!(run(0.7, Some(9)), 1);
    assert_eq!(run(0.7, Some(8)), 2);
}

#[test]
fn the_matched_detection_box_is_reported_and_the_estimate_kept() {
    let mut tr = Tracker::new(&TrackerConfig::default());
    for f in 0..10 {
        let jitter = if f % 2 == 0 { 2.0 } else { -2.0 };
        let d = det(1, 0.9, 100.0 + jitter, 50.0);
        let out = tr.update(&[d]);
        if let Some(t) = out.tracks.first() {
            assert_eq!(t.bbox, d.bbox);
            assert!((t.filtered[0] - 100.0).abs() < 2.0, "{:?}", t.filtered);
        }
    }
}
