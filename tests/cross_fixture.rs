//! Inputs for the emulated ARM checks (cross/cross.sh detect), written by the host build so
//! nothing binary is committed and they always match the current model format:
//!
//! - `tiny.onnx` (the tests' fixed-weight SSD, see tests/support) with `tiny0.png`/`tiny1.png`:
//!   colour patches that only partly cover the model's 100 px cells, so scores land mid-range
//!   (where arithmetic differences would show) rather than saturating at 0.9997, in two image
//!   sizes so the resize runs too;
//! - `scene0.png`/`scene1.png`: synthetic scenes (the shipped model's training distribution),
//!   used with models/default.onnx once it exists.
//!
//! The writer runs only on request (`--ignored`), with SSD_EDGE_CROSS_FIXTURES naming the
//! output directory; the checks below run always and keep it honest.

mod support;

use ssd_edge::synth::{render_scene, SynthConfig};
use std::path::Path;
use support::{image_with, Tiny};

/// Seed of the synthetic scenes: a fixed, arbitrary pair of scenes with several objects.
const SCENE_SEED: u64 = 20261124;

fn tiny_images() -> [(&'static str, image::RgbImage); 2] {
    [
        // 640x480: a red patch over ~70% of cell (0, 0) (score ~0.7) and a green one over
        // ~60% of cell (1, 2) (~0.5); the grey around them pulls the logits off saturation.
        (
            "tiny0.png",
            image_with(
                640,
                480,
                &[
                    (0, 0, 180, 130, [230, 40, 30]),
                    (480, 170, 640, 300, [30, 230, 30]),
                ],
            ),
        ),
        // 300x300: a full dull-red cell (~0.87), a partial red one (~0.6), a green cell.
        (
            "tiny1.png",
            image_with(
                300,
                300,
                &[
                    (100, 100, 200, 200, [200, 60, 40]),
                    (200, 0, 280, 70, [250, 20, 20]),
                    (0, 200, 100, 300, [20, 220, 30]),
                ],
            ),
        ),
    ]
}

fn write_all(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    Tiny::default().write(dir, "tiny.onnx");
    for (name, img) in tiny_images() {
        img.save(dir.join(name)).unwrap();
    }
    let cfg = SynthConfig::default();
    for i in 0..2u64 {
        let (img, _) = render_scene(&cfg, SCENE_SEED, i);
        img.save(dir.join(format!("scene{i}.png"))).unwrap();
    }
}

#[test]
#[ignore = "fixture writer for cross/cross.sh; needs SSD_EDGE_CROSS_FIXTURES"]
fn write_cross_fixtures() {
    let dir = std::env::var_os("SSD_EDGE_CROSS_FIXTURES")
        .expect("SSD_EDGE_CROSS_FIXTURES must name the output directory");
    write_all(Path::new(&dir));
}

#[test]
fn fixtures_are_written_and_readable() {
    let dir = tempfile::tempdir().unwrap();
    write_all(dir.path());
    for name in [
        "tiny.onnx",
        "tiny0.png",
        "tiny1.png",
        "scene0.png",
        "scene1.png",
    ] {
        let len = std::fs::metadata(dir.path().join(name)).unwrap().len();
        assert!(len > 0, "{name} is empty");
    }
    let scene = image::open(dir.path().join("scene0.png")).unwrap();
    assert_eq!((scene.width(), scene.height()), (300, 300));
}
