//! VOC AP: cases computed by hand with the devkit's rules.

use ssd_train::eval::voc::{ap_11_point, ap_all_points, voc_eval, VocDet, VocGt, VocParams};

fn gt(image: usize, bbox: [f64; 4], difficult: bool) -> VocGt {
    VocGt {
        image,
        class_id: 0,
        bbox,
        difficult,
    }
}

fn det(image: usize, score: f64, bbox: [f64; 4]) -> VocDet {
    VocDet {
        image,
        class_id: 0,
        score,
        bbox,
    }
}

#[test]
fn interpolations_match_hand_values() {
    // recall 0.5 at precision 1, then recall 1 at precision 2/3
    let rec = [0.5, 0.5, 1.0];
    let prec = [1.0, 0.5, 2.0 / 3.0];
    // 11-point: t = 0..0.5 (6 points) -> 1; t = 0.6..1.0 (5 points) -> 2/3
    let want = (6.0 + 5.0 * 2.0 / 3.0) / 11.0;
    assert!((ap_11_point(&rec, &prec) - want).abs() < 1e-12);
    // all points: 0.5 * 1 + 0.5 * 2/3
    assert!((ap_all_points(&rec, &prec) - (0.5 + 1.0 / 3.0)).abs() < 1e-12);
}

#[test]
fn duplicates_difficult_and_misses_follow_the_devkit() {
    let gts = vec![
        gt(0, [0.0, 0.0, 10.0, 10.0], false),
        gt(0, [20.0, 20.0, 30.0, 30.0], true),
        gt(1, [0.0, 0.0, 10.0, 10.0], false),
    ];
    let dets = vec![
        det(0, 0.9, [0.0, 0.0, 10.0, 10.0]),   // TP
        det(0, 0.8, [0.0, 0.0, 10.0, 9.0]),    // duplicate -> FP
        det(0, 0.7, [20.0, 20.0, 30.0, 30.0]), // on a difficult box -> ignored
        det(1, 0.6, [50.0, 50.0, 60.0, 60.0]), // miss -> FP
        det(1, 0.5, [0.0, 0.0, 10.0, 10.0]),   // TP
    ];
    let r = &voc_eval(&gts, &dets, 1, VocParams::default())[0];
    assert_eq!(r.npos, 2);
    assert_eq!(r.true_positives, 2);
    // sequence (ignored dropped): TP, FP, FP, TP -> rec .5 .5 .5 1, prec 1 .5 .333 .5
    let ap_all = 0.5 * 1.0 + 0.5 * 0.5;
    assert!((r.ap_all.unwrap() - ap_all).abs() < 1e-12, "{r:?}");
    let ap07 = (6.0 * 1.0 + 5.0 * 0.5) / 11.0;
    assert!((r.ap07.unwrap() - ap07).abs() < 1e-12, "{r:?}");
}

#[test]
fn threshold_is_strict_and_plus_one_changes_overlap() {
    let gts = vec![gt(0, [0.0, 0.0, 10.0, 10.0], false)];
    // IoU exactly 0.5 (area 50 inside area 100): not a match (devkit: ovmax > 0.5)
    let dets = vec![det(0, 0.9, [0.0, 0.0, 10.0, 5.0])];
    let r = &voc_eval(&gts, &dets, 1, VocParams::default())[0];
    assert_eq!(r.true_positives, 0);
    assert_eq!(r.ap07, Some(0.0));
    // with the devkit's +1 pixel convention the same boxes overlap 66/121 > 0.5
    let r = &voc_eval(
        &gts,
        &dets,
        1,
        VocParams {
            plus_one: true,
            ..Default::default()
        },
    )[0];
    assert_eq!(r.true_positives, 1);
    assert!((r.ap07.unwrap() - 1.0).abs() < 1e-12);
}

#[test]
fn class_without_ground_truth_has_no_ap() {
    let r = &voc_eval(
        &[],
        &[det(0, 0.5, [0.0, 0.0, 1.0, 1.0])],
        1,
        VocParams::default(),
    )[0];
    assert_eq!(r.ap07, None);
    assert_eq!(r.ap_all, None);
}

/// The trainer's mAP and the board's per-frame ground-truth score use one matcher: on random
/// scenes (several classes, overlapping boxes, difficult objects, near-duplicate detections)
/// the true positives `voc_eval` counts per class are the ones
/// `ssd_core::ssd::match_detections` counts frame by frame.
#[test]
fn voc_eval_and_the_boards_frame_matcher_agree() {
    use ssd_core::ssd::{match_detections, GtBox, VocRule};
    use ssd_core::synth::Rng;
    fn random_box(rng: &mut Rng) -> [f32; 4] {
        let (x, y) = (rng.range_f32(0.0, 80.0), rng.range_f32(0.0, 80.0));
        let (w, h) = (rng.range_f32(5.0, 30.0), rng.range_f32(5.0, 30.0));
        [x, y, x + w, y + h]
    }
    let mut rng = Rng::new(2024);
    let classes = 3;
    let (mut gts, mut dets) = (Vec::new(), Vec::new());
    let (mut frame_tp, mut frame_fp, mut frame_ignored) = (0, 0, 0);
    let mut taken = Vec::new();
    for image in 0..40 {
        let frame_gts: Vec<GtBox> = (0..rng.below(8))
            .map(|_| GtBox {
                class_id: rng.below(classes) as usize,
                bbox: random_box(&mut rng),
                difficult: rng.chance(0.15),
            })
            .collect();
        let mut frame_dets: Vec<(usize, f32, [f32; 4])> = Vec::new();
        for g in &frame_gts {
            // Jittered copies of each object, sometimes two (a duplicate), sometimes wrong class.
            for _ in 0..rng.below(3) {
                let j = rng.range_f32(-4.0, 4.0);
                let class = if rng.chance(0.1) {
                    (g.class_id + 1) % 3
                } else {
                    g.class_id
                };
                frame_dets.push((class, rng.f32(), g.bbox.map(|v| v + j)));
            }
        }
        for _ in 0..rng.below(4) {
            frame_dets.push((rng.below(classes) as usize, rng.f32(), random_box(&mut rng)));
        }
        frame_dets.sort_by(|a, b| b.1.total_cmp(&a.1));
        let c = match_detections(
            frame_dets.iter().copied(),
            &frame_gts,
            &VocRule::default(),
            &mut taken,
        );
        frame_tp += c.true_positives;
        frame_fp += c.false_positives;
        frame_ignored += c.ignored;
        for g in &frame_gts {
            gts.push(VocGt {
                image,
                class_id: g.class_id,
                bbox: g.bbox.map(f64::from),
                difficult: g.difficult,
            });
        }
        for &(class_id, score, bbox) in &frame_dets {
            dets.push(VocDet {
                image,
                class_id,
                score: score as f64,
                bbox: bbox.map(f64::from),
            });
        }
    }
    let per_class = voc_eval(&gts, &dets, classes as usize, VocParams::default());
    let tp: u64 = per_class.iter().map(|r| r.true_positives as u64).sum();
    assert_eq!(tp, frame_tp);
    assert_eq!(dets.len() as u64, frame_tp + frame_fp + frame_ignored);
    assert!(
        frame_tp > 20 && frame_fp > 5 && frame_ignored > 0,
        "{frame_tp} {frame_fp} {frame_ignored}"
    );
}
