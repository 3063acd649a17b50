//! Augmentation: determinism, the min-IoU crop sampler, box bookkeeping through expand /
//! crop / flip, resize + normalisation values, and the same tensor as the board's
//! preprocessing for the same image.

use image::RgbImage;
use ssd_core::frame::Frame;
use ssd_core::image::preprocess::{ChannelOrder, Normalization, Preprocessor};
use ssd_core::ssd::iou as box_iou;
use ssd_core::synth::Rng;
use ssd_train::data::augment::{augment, plan, prepare, try_crop, AugmentConfig};
use ssd_train::data::Sample;

fn sample() -> Sample {
    let mut img = RgbImage::new(200, 100);
    for (x, y, p) in img.enumerate_pixels_mut() {
        *p = image::Rgb([x as u8, y as u8, 100]);
    }
    Sample {
        image: img,
        boxes: vec![[0.1, 0.2, 0.4, 0.8], [0.6, 0.1, 0.9, 0.5]],
        labels: vec![0, 2],
        difficult: vec![false, true],
    }
}

#[test]
fn same_seed_same_result() {
    let s = sample();
    let cfg = AugmentConfig::ssd();
    for seed in 0..20 {
        let a = augment(&s, &cfg, [1, 2, 3], &mut Rng::new(seed)).unwrap();
        let b = augment(&s, &cfg, [1, 2, 3], &mut Rng::new(seed)).unwrap();
        assert_eq!(a.image.as_raw(), b.image.as_raw());
        assert_eq!(a.boxes, b.boxes);
    }
}

#[test]
fn crops_meet_min_iou_with_every_box() {
    let two = vec![[20.0f32, 20.0, 120.0, 90.0], [60.0, 40.0, 180.0, 100.0]];
    let one = vec![[40.0f32, 10.0, 160.0, 95.0]];
    let mut rng = Rng::new(5);
    for (boxes, t) in [(&two, 0.1f32), (&two, 0.3), (&one, 0.5), (&one, 0.7)] {
        let mut found = 0;
        for _ in 0..200 {
            if let Some(r) = try_crop(boxes, 200.0, 100.0, t, &mut rng) {
                found += 1;
                for b in boxes.iter() {
                    assert!(
                        box_iou(b, &r) >= t,
                        "crop {r:?} has IoU {} < {t} with {b:?}",
                        box_iou(b, &r)
                    );
                }
                let (w, h) = (r[2] - r[0], r[3] - r[1]);
                assert!(
                    (0.5..=2.0).contains(&(h / w))
                        && w >= 60.0
                        && h >= 30.0
                        && r[2] <= 200.0
                        && r[3] <= 100.0
                );
            }
        }
        assert!(found > 0, "no crop found for min IoU {t}");
    }
    // infeasible: two far-apart boxes can never both overlap one patch by 0.7
    let apart = [[0.0f32, 0.0, 30.0, 30.0], [170.0, 70.0, 200.0, 100.0]];
    assert_eq!(try_crop(&apart, 200.0, 100.0, 0.7, &mut rng), None);
}

#[test]
fn boxes_stay_valid_and_keep_labels_through_random_plans() {
    let s = sample();
    let cfg = AugmentConfig::ssd();
    let mut kept_all = 0;
    for seed in 0..300 {
        let mut rng = Rng::new(seed);
        let (g, t) = plan(&cfg, 200, 100, &s.boxes, &s.labels, &s.difficult, &mut rng);
        assert_eq!(t.boxes.len(), t.labels.len());
        assert_eq!(t.boxes.len(), t.difficult.len());
        for (b, l) in t.boxes.iter().zip(&t.labels) {
            assert!(
                b[0] >= 0.0
                    && b[1] >= 0.0
                    && b[2] <= 1.0
                    && b[3] <= 1.0
                    && b[0] < b[2]
                    && b[1] < b[3],
                "{b:?}"
            );
            assert!(*l == 0 || *l == 2);
        }
        for (l, d) in t.labels.iter().zip(&t.difficult) {
            assert_eq!(*d, *l == 2, "difficult flag follows its box");
        }
        let rw = g.region[2] - g.region[0];
        assert!(rw > 0.0 && rw <= 200.0 * 4.0 + 1e-3);
        kept_all += (t.boxes.len() == 2) as usize;
    }
    assert!(kept_all > 30);
}

#[test]
fn expand_only_shrinks_boxes_by_the_ratio_and_flip_mirrors() {
    let s = sample();
    let cfg = AugmentConfig {
        photometric: false,
        expand_prob: 1.0,
        max_expand: 4.0,
        crop: false,
        flip_prob: 0.0,
    };
    let mut rng = Rng::new(3);
    let (g, t) = plan(&cfg, 200, 100, &s.boxes, &s.labels, &s.difficult, &mut rng);
    let ratio = (g.region[2] - g.region[0]) / 200.0;
    assert!((1.0..=4.0).contains(&ratio));
    for (a, b) in s.boxes.iter().zip(&t.boxes) {
        assert!(((b[2] - b[0]) - (a[2] - a[0]) / ratio).abs() < 1e-5);
        assert!(((b[3] - b[1]) - (a[3] - a[1]) / ratio).abs() < 1e-5);
    }
    let cfg = AugmentConfig {
        photometric: false,
        expand_prob: 0.0,
        max_expand: 1.0,
        crop: false,
        flip_prob: 1.0,
    };
    let out = augment(&s, &cfg, [0, 0, 0], &mut Rng::new(1)).unwrap();
    assert!((out.boxes[0][0] - 0.6).abs() < 1e-6 && (out.boxes[0][2] - 0.9).abs() < 1e-6);
    assert_eq!(out.image.get_pixel(0, 10), s.image.get_pixel(199, 10));
}

#[test]
fn resize_and_normalise_without_augmentation() {
    // constant image -> every output value is (v * scale - mean) / std in the model's order
    let mut img = RgbImage::new(37, 23);
    for p in img.pixels_mut() {
        *p = image::Rgb([10, 20, 30]);
    }
    let s = Sample {
        image: img,
        boxes: vec![[0.25, 0.25, 0.75, 0.5]],
        labels: vec![1],
        difficult: vec![false],
    };
    let norm = Normalization {
        mean: [1.0, 2.0, 3.0],
        std: [2.0, 4.0, 5.0],
        scale: 1.0,
        channel_order: ChannelOrder::Bgr,
    };
    let size = 8;
    let mut out = vec![0.0f32; 3 * size * size];
    let t = prepare(&s, None, &norm, size, &mut Rng::new(0), &mut out).unwrap();
    assert_eq!(t.boxes, s.boxes);
    let want = [(30.0 - 1.0) / 2.0, (20.0 - 2.0) / 4.0, (10.0 - 3.0) / 5.0];
    for c in 0..3 {
        for v in &out[c * size * size..(c + 1) * size * size] {
            assert!(
                (v - want[c]).abs() < 1e-4,
                "channel {c}: {v} vs {}",
                want[c]
            );
        }
    }
    // zoom-out canvas normalises to ~0
    let cfg = AugmentConfig {
        photometric: false,
        expand_prob: 1.0,
        max_expand: 4.0,
        crop: false,
        flip_prob: 0.0,
    };
    let imagenet = Normalization::IMAGENET;
    prepare(&s, Some(&cfg), &imagenet, size, &mut Rng::new(9), &mut out).unwrap();
    let near_zero = out.iter().filter(|v| v.abs() < 1e-3).count();
    assert!(near_zero > 0);
    let mut small = vec![0.0; 5];
    assert!(prepare(&s, None, &norm, size, &mut Rng::new(0), &mut small).is_err());
}

#[test]
fn photometric_changes_pixels_but_not_boxes() {
    let s = sample();
    let cfg = AugmentConfig {
        photometric: true,
        expand_prob: 0.0,
        max_expand: 1.0,
        crop: false,
        flip_prob: 0.0,
    };
    let mut changed = 0;
    for seed in 0..10 {
        let out = augment(&s, &cfg, [0, 0, 0], &mut Rng::new(seed)).unwrap();
        assert_eq!(out.boxes, s.boxes);
        changed += (out.image.as_raw() != s.image.as_raw()) as usize;
    }
    assert!(changed >= 5);
}

fn noise_image(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut rng = Rng::new(seed);
    RgbImage::from_fn(w, h, |_, _| {
        image::Rgb([
            rng.below(256) as u8,
            rng.below(256) as u8,
            rng.below(256) as u8,
        ])
    })
}

fn board_tensor(img: &RgbImage, norm: &Normalization, size: usize) -> Vec<f32> {
    let s = size as u32;
    let mut pre = Preprocessor::new(&norm.at_size(s, s));
    let mut out = vec![0.0; pre.output_len()];
    pre.run(&Frame::rgb(img, 0), &mut out).unwrap();
    out
}

/// The validation path (`prepare` without augmentation, as `trainer::evaluate` and the loader
/// with `--no-augment` call it) and an augmentation that leaves the sample as it is give the
/// board's tensor bit for bit: sizes down and up, both presets, odd shapes.
#[test]
fn unaugmented_sample_is_the_boards_tensor_bit_for_bit() {
    let untouched = AugmentConfig {
        photometric: false,
        expand_prob: 0.0,
        max_expand: 4.0,
        crop: false,
        flip_prob: 0.0,
    };
    let odd = Normalization {
        channel_order: ChannelOrder::Bgr,
        mean: [0.3, 17.0, 250.0],
        std: [0.7, 3.0, 1.1],
        scale: 0.5,
    };
    let mut cases = 0;
    for (k, (w, h)) in [(37, 23), (640, 480), (5, 301), (300, 300)]
        .into_iter()
        .enumerate()
    {
        let img = noise_image(w, h, k as u64);
        let s = Sample {
            image: img.clone(),
            boxes: vec![[0.1, 0.1, 0.5, 0.9]],
            labels: vec![0],
            difficult: vec![false],
        };
        for norm in [
            Normalization::CAFFE_BGR,
            Normalization::SSD_PYTORCH,
            Normalization::IMAGENET,
            odd,
        ] {
            for size in [8, 300] {
                let want = board_tensor(&img, &norm, size);
                for cfg in [None, Some(&untouched)] {
                    let mut got = vec![f32::NAN; 3 * size * size];
                    prepare(&s, cfg, &norm, size, &mut Rng::new(3), &mut got).unwrap();
                    let differ = got
                        .iter()
                        .zip(&want)
                        .filter(|(a, b)| a.to_bits() != b.to_bits())
                        .count();
                    assert_eq!(differ, 0, "{w}x{h} -> {size}, {norm:?}, {cfg:?}");
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 64);
}

/// The augmented path (here a flip, which resamples through the trainer's own affine
/// resample) follows the board's conventions: half-pixel centres, edge clamping, channel
/// order and normalisation. A flipped sample is the board's tensor of the mirrored image,
/// within rounding: the sample positions are mirrored in f32, and on pixel noise an error of
/// 1e-4 pixel positions can move a value by 0.03 levels; 0.05 levels is allowed.
#[test]
fn flipped_sample_is_the_boards_tensor_of_the_mirror_image() {
    let flip = AugmentConfig {
        photometric: false,
        expand_prob: 0.0,
        max_expand: 1.0,
        crop: false,
        flip_prob: 1.0,
    };
    for (w, h, size) in [(64, 48, 300), (301, 157, 32)] {
        let img = noise_image(w, h, 11);
        let mirror = image::imageops::flip_horizontal(&img);
        let s = Sample {
            image: img,
            boxes: vec![],
            labels: vec![],
            difficult: vec![],
        };
        for norm in [Normalization::CAFFE_BGR, Normalization::IMAGENET] {
            let want = board_tensor(&mirror, &norm, size);
            let mut got = vec![0.0; 3 * size * size];
            prepare(&s, Some(&flip), &norm, size, &mut Rng::new(0), &mut got).unwrap();
            let tol = 0.05 * norm.scale / norm.std.iter().fold(f32::INFINITY, |a, &b| a.min(b));
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst <= tol, "{w}x{h} -> {size}: max diff {worst} > {tol}");
        }
    }
}
