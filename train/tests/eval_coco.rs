//! COCO AP: hand-computed cases, and agreement with pycocotools on random data (to 1e-6).

mod support;
use support::venv_python;

use ssd_train::data::coco::{CocoAnnotation, CocoCategory, CocoFile, CocoImage, CocoResult};
use ssd_train::eval::coco::evaluate_files;
use std::path::PathBuf;
use std::process::Command;

fn gt_file(anns: Vec<(u64, u64, [f64; 4], bool)>, images: u64, cats: u64) -> CocoFile {
    CocoFile {
        images: (1..=images)
            .map(|id| CocoImage {
                id,
                file_name: format!("{id}.jpg"),
                width: 640,
                height: 480,
            })
            .collect(),
        annotations: anns
            .into_iter()
            .enumerate()
            .map(|(k, (image_id, category_id, bbox, crowd))| CocoAnnotation {
                id: k as u64 + 1,
                image_id,
                category_id,
                bbox,
                area: Some(bbox[2] * bbox[3]),
                iscrowd: crowd as u8,
            })
            .collect(),
        categories: (1..=cats)
            .map(|id| CocoCategory {
                id,
                name: format!("c{id}"),
            })
            .collect(),
    }
}

fn det(image_id: u64, category_id: u64, bbox: [f64; 4], score: f64) -> CocoResult {
    CocoResult {
        image_id,
        category_id,
        bbox,
        score,
    }
}

#[test]
fn perfect_detections_score_one_and_a_miss_halves_recall() {
    let gt = gt_file(
        vec![
            (1, 1, [10.0, 10.0, 100.0, 100.0], false),
            (2, 1, [50.0, 50.0, 100.0, 120.0], false),
        ],
        2,
        1,
    );
    let d = vec![
        det(1, 1, [10.0, 10.0, 100.0, 100.0], 0.9),
        det(2, 1, [50.0, 50.0, 100.0, 120.0], 0.8),
    ];
    let s = evaluate_files(&gt, &d).unwrap();
    assert!((s.stats[0] - 1.0).abs() < 1e-12, "{:?}", s.stats);
    assert!((s.stats[8] - 1.0).abs() < 1e-12);
    // only the first found: precision 1 up to recall 0.5 -> 51 of 101 recall points
    let s = evaluate_files(&gt, &d[..1]).unwrap();
    assert!((s.stats[1] - 51.0 / 101.0).abs() < 1e-12, "{:?}", s.stats);
    assert!((s.stats[8] - 0.5).abs() < 1e-12);
    // small/medium ranges: both boxes are large (area >= 96^2), so small/medium are -1
    assert_eq!(s.stats[3], -1.0);
    assert_eq!(s.stats[4], -1.0);
}

#[test]
fn iou_threshold_sweep_and_crowd_are_handled() {
    // det overlaps gt with IoU exactly 0.8: true positive at .50..=.80 (7 of 10 thresholds)
    let gt = gt_file(vec![(1, 1, [0.0, 0.0, 100.0, 100.0], false)], 1, 1);
    let d = vec![det(1, 1, [0.0, 0.0, 100.0, 80.0], 0.9)];
    let s = evaluate_files(&gt, &d).unwrap();
    assert!((s.stats[0] - 0.7).abs() < 1e-12, "{:?}", s.stats);
    // a detection inside a crowd region is ignored, not a false positive
    let gt = gt_file(
        vec![
            (1, 1, [0.0, 0.0, 100.0, 100.0], false),
            (1, 1, [200.0, 0.0, 200.0, 200.0], true),
        ],
        1,
        1,
    );
    let d = vec![
        det(1, 1, [250.0, 50.0, 20.0, 20.0], 0.95),
        det(1, 1, [0.0, 0.0, 100.0, 100.0], 0.5),
    ];
    let s = evaluate_files(&gt, &d).unwrap();
    assert!((s.stats[0] - 1.0).abs() < 1e-12, "{:?}", s.stats);
}

#[test]
fn detections_for_unknown_images_are_an_error() {
    let gt = gt_file(vec![(1, 1, [0.0, 0.0, 10.0, 10.0], false)], 1, 1);
    let err = evaluate_files(&gt, &[det(7, 1, [0.0, 0.0, 1.0, 1.0], 0.5)]).unwrap_err();
    assert!(err.to_string().contains("image id 7"), "{err}");
}

/// Small deterministic generator, so the random case is the same every run.
struct Lcg(u64);
impl Lcg {
    fn f(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn agrees_with_pycocotools_on_random_data() {
    let python = venv_python();
    assert!(
        python.exists(),
        "{} missing: run `make deps-venv` (the venv needs pycocotools: {} -m pip install pycocotools)",
        python.display(),
        python.display()
    );
    let check = Command::new(&python)
        .args(["-c", "import pycocotools"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "pycocotools is not installed in the venv: {} -m pip install pycocotools",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/coco_eval.py");
    for seed in [1u64, 2, 3] {
        let mut r = Lcg(seed);
        let (n_img, n_cat) = (12u64, 3u64);
        let mut anns = Vec::new();
        let mut dets = Vec::new();
        for img in 1..=n_img {
            let n = (r.f() * 8.0) as usize;
            for _ in 0..n {
                let cat = 1 + (r.f() * n_cat as f64) as u64;
                // sizes spanning small, medium and large
                let w = 4.0 + r.f().powi(2) * 300.0;
                let h = 4.0 + r.f().powi(2) * 300.0;
                let b = [r.f() * 300.0, r.f() * 200.0, w, h];
                let crowd = r.f() < 0.05;
                anns.push((img, cat, b, crowd));
                // a jittered detection for most, sometimes two (duplicates)
                for _ in 0..(r.f() * 2.5) as usize {
                    let j = |v: f64, s: f64, r: &mut Lcg| v + (r.f() - 0.5) * s;
                    let d = [
                        j(b[0], w * 0.3, &mut r),
                        j(b[1], h * 0.3, &mut r),
                        w * (0.7 + 0.6 * r.f()),
                        h * (0.7 + 0.6 * r.f()),
                    ];
                    let c = if r.f() < 0.1 {
                        1 + (r.f() * n_cat as f64) as u64
                    } else {
                        cat
                    };
                    dets.push(det(img, c, d, (r.f() * 1000.0).round() / 1000.0));
                }
            }
            // false positives
            for _ in 0..(r.f() * 5.0) as usize {
                let cat = 1 + (r.f() * n_cat as f64) as u64;
                dets.push(det(
                    img,
                    cat,
                    [
                        r.f() * 500.0,
                        r.f() * 400.0,
                        5.0 + r.f() * 150.0,
                        5.0 + r.f() * 150.0,
                    ],
                    r.f(),
                ));
            }
        }
        let gt = gt_file(anns, n_img, n_cat);
        let gp = dir.path().join(format!("gt{seed}.json"));
        let dp = dir.path().join(format!("dt{seed}.json"));
        std::fs::write(&gp, serde_json::to_string(&gt).unwrap()).unwrap();
        std::fs::write(&dp, serde_json::to_string(&dets).unwrap()).unwrap();
        let out = Command::new(&python)
            .arg(&script)
            .arg(&gp)
            .arg(&dp)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pycocotools failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        let want: Vec<f64> = serde_json::from_str(lines.next().unwrap()).unwrap();
        let want_cat: Vec<(u64, f64)> = serde_json::from_str(lines.next().unwrap()).unwrap();
        let got = evaluate_files(&gt, &dets).unwrap();
        for (k, (g, w)) in got.stats.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-6,
                "seed {seed} stat {k}: ours {g} pycocotools {w}"
            );
        }
        for ((gc, g), (wc, w)) in got.per_category.iter().zip(&want_cat) {
            assert_eq!(gc, wc);
            assert!(
                (g - w).abs() <= 1e-6,
                "seed {seed} category {gc}: ours {g} pycocotools {w}"
            );
        }
        assert!(
            want[0] > 0.05 && want[0] < 0.95,
            "random case should be non-trivial: {want:?}"
        );
    }
}
