//! Synthetic scenes: determinism, class coverage, box sizes, exact boxes, occlusion flags,
//! and sequence counting ground truth.

use image::RgbImage;
use ssd_edge::synth::{
    render_scene, Direction, Renderer, Sequence, SequenceConfig, SynthConfig, CLASS_NAMES,
    NUM_CLASSES,
};

#[test]
fn same_seed_and_index_give_the_same_scene() {
    let cfg = SynthConfig::default();
    let (a, ga) = render_scene(&cfg, 42, 7);
    let (b, gb) = render_scene(&cfg, 42, 7);
    assert_eq!(a.as_raw(), b.as_raw());
    assert_eq!(ga, gb);
    let (c, _) = render_scene(&cfg, 42, 8);
    assert_ne!(a.as_raw(), c.as_raw());
    let (d, _) = render_scene(&cfg, 43, 7);
    assert_ne!(a.as_raw(), d.as_raw());
}

#[test]
fn reused_renderer_matches_fresh_render() {
    let cfg = SynthConfig::default();
    let mut r = Renderer::new();
    let mut img = RgbImage::new(1, 1);
    let mut gt = Vec::new();
    for i in 0..5 {
        r.render_into(&cfg, 3, i, &mut img, &mut gt);
        let (fresh, fgt) = render_scene(&cfg, 3, i);
        assert_eq!(img.as_raw(), fresh.as_raw(), "scene {i}");
        assert_eq!(gt, fgt);
    }
}

#[test]
fn scenes_cover_classes_sizes_and_difficult_flags() {
    let cfg = SynthConfig::default();
    let mut per_class = [0usize; NUM_CLASSES];
    let (mut smallest, mut largest) = (f32::MAX, 0f32);
    let mut difficult = 0;
    let mut total = 0;
    let mut r = Renderer::new();
    let mut img = RgbImage::new(300, 300);
    let mut gt = Vec::new();
    for i in 0..300 {
        r.render_into(&cfg, 1, i, &mut img, &mut gt);
        assert!(
            !gt.is_empty() || cfg.min_objects == 0 || i > 0,
            "scene {i} empty"
        );
        for o in &gt {
            let [x0, y0, x1, y1] = o.bbox;
            assert!(
                x0 >= 0.0 && y0 >= 0.0 && x1 <= 300.0 && y1 <= 300.0,
                "{o:?}"
            );
            assert!(x1 > x0 && y1 > y0);
            per_class[o.class_id] += 1;
            let side = (x1 - x0).max(y1 - y0);
            smallest = smallest.min(side);
            largest = largest.max(side);
            difficult += o.difficult as usize;
            total += 1;
        }
    }
    for (c, n) in per_class.iter().enumerate() {
        assert!(*n > 100, "class {} only {n} times", CLASS_NAMES[c]);
    }
    assert!(smallest <= 14.0, "smallest object {smallest}");
    assert!(largest >= 200.0, "largest object {largest}");
    assert!(
        difficult > 0 && difficult * 5 < total,
        "difficult {difficult} of {total}"
    );
}

#[test]
fn boxes_are_tight_around_painted_objects_without_lighting() {
    // With plain lighting and no clutter, each object's box is painted up to its edges: the
    // pixels just outside a lone object's box equal the background.
    let cfg = SynthConfig {
        min_objects: 1,
        max_objects: 1,
        clutter: 0,
        occluders: 0,
        lighting: false,
        noise: 0,
        ..Default::default()
    };
    for i in 0..20 {
        let (img, gt) = render_scene(&cfg, 9, i);
        assert_eq!(gt.len(), 1);
        let [x0, y0, x1, y1] = gt[0].bbox.map(|v| v as i32);
        assert!(!gt[0].difficult);
        // some pixel on each edge row/column of the box differs from the row's far side
        // background; cheaper proxy: the box area holds at least 15% of non-background pixels
        let bg = *img.get_pixel(0, 0);
        let mut painted = 0;
        for y in y0..y1 {
            for x in x0..x1 {
                if *img.get_pixel(x as u32, y as u32) != bg {
                    painted += 1;
                }
            }
        }
        let area = (x1 - x0) * (y1 - y0);
        assert!(painted * 100 >= area * 15, "scene {i}: {painted}/{area}");
    }
}

#[test]
fn other_scene_sizes_work() {
    let cfg = SynthConfig::with_size(640, 480);
    let (img, gt) = render_scene(&cfg, 5, 0);
    assert_eq!(img.dimensions(), (640, 480));
    for o in gt {
        assert!(o.bbox[2] <= 640.0 && o.bbox[3] <= 480.0);
    }
}

#[test]
fn sequence_tracks_are_stable_and_counts_match_crossings() {
    let cfg = SequenceConfig::default();
    let mut seq = Sequence::new(cfg.clone(), 11);
    let mut img = RgbImage::new(300, 300);
    let line = seq.line_x();
    let mut prev: Vec<(u32, usize, f32)> = Vec::new();
    let mut events = 0u32;
    let mut seen_ids = std::collections::BTreeSet::new();
    for f in 0..600 {
        let gt = seq.next_frame(&mut img).to_vec();
        for c in seq.crossings() {
            assert_eq!(c.frame, f);
            events += 1;
        }
        // a track keeps its class from frame to frame and moves a few pixels at most
        for o in &gt {
            seen_ids.insert(o.track_id);
            if let Some(p) = prev.iter().find(|p| p.0 == o.track_id) {
                assert_eq!(p.1, o.class_id);
                let cx = 0.5 * (o.bbox[0] + o.bbox[2]);
                // visible centre can jump when an occluder cuts the visible box; stay loose
                assert!((cx - p.2).abs() < 80.0, "track {} jumped", o.track_id);
            }
        }
        prev = gt
            .iter()
            .map(|o| (o.track_id, o.class_id, 0.5 * (o.bbox[0] + o.bbox[2])))
            .collect();
    }
    let total: u32 = seq.counts().iter().map(|c| c[0] + c[1]).sum();
    assert_eq!(total, events);
    assert!(total >= 5, "only {total} crossings in 600 frames");
    assert!(seen_ids.len() >= 6);
    assert!(line > 0.0);
    let both = seq
        .counts()
        .iter()
        .map(|c| c[Direction::LeftToRight.index()])
        .sum::<u32>()
        > 0
        && seq
            .counts()
            .iter()
            .map(|c| c[Direction::RightToLeft.index()])
            .sum::<u32>()
            > 0;
    assert!(both, "{:?}", seq.counts());
    // deterministic
    let mut again = Sequence::new(cfg, 11);
    let mut img2 = RgbImage::new(300, 300);
    for _ in 0..600 {
        again.next_frame(&mut img2);
    }
    assert_eq!(again.counts(), seq.counts());
    assert_eq!(img.as_raw(), img2.as_raw());
}

/// `skip` moves a sequence on without drawing: the frame after it is the frame that many
/// `next_frame` calls would have reached, pixels, boxes and counts alike.
#[test]
fn skipping_frames_reaches_the_same_frame_as_rendering_them() {
    let cfg = SequenceConfig::default();
    let mut img = RgbImage::new(300, 300);
    let mut rendered = Sequence::new(cfg.clone(), 23);
    for _ in 0..250 {
        rendered.next_frame(&mut img);
    }
    let want_gt = rendered.next_frame(&mut img).to_vec();
    let mut skipped = Sequence::new(cfg, 23);
    skipped.skip(250);
    let mut img2 = RgbImage::new(300, 300);
    let got_gt = skipped.next_frame(&mut img2).to_vec();
    assert_eq!(skipped.frame_index(), 251);
    assert!(!want_gt.is_empty());
    assert_eq!(got_gt, want_gt);
    assert_eq!(skipped.counts(), rendered.counts());
    assert_eq!(img2.as_raw(), img.as_raw());
}

/// `edge_cut` places objects across the frame's edge: their true boxes are the visible part,
/// inside the frame, and touch its border far more often than with the default 0.
#[test]
fn edge_cut_puts_objects_across_the_frame_edge() {
    let touching = |edge_cut: f32| {
        let cfg = SynthConfig {
            edge_cut,
            ..Default::default()
        };
        let (mut touch, mut total) = (0, 0);
        for i in 0..40 {
            let (_, gt) = render_scene(&cfg, 5, i);
            for o in &gt {
                let [x0, y0, x1, y1] = o.bbox;
                assert!(
                    x0 >= 0.0 && y0 >= 0.0 && x1 <= 300.0 && y1 <= 300.0,
                    "{:?}",
                    o.bbox
                );
                assert!(x1 > x0 && y1 > y0);
                total += 1;
                touch += usize::from(x0 <= 0.5 || y0 <= 0.5 || x1 >= 299.0 || y1 >= 299.0);
            }
        }
        touch as f32 / total as f32
    };
    let (cut, whole) = (touching(1.0), touching(0.0));
    eprintln!("touching the border: {cut} with edge_cut 1, {whole} with 0");
    assert!(cut > 0.35 && cut > 2.0 * whole, "{cut} vs {whole}");
}
