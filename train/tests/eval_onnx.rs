//! `ssd-train eval --onnx M.onnx --data DIR`: a tiny fixed-weight SSD (the root crate's test
//! model: red / green cells) on a VOC set made here, so every AP is known by hand.

#[path = "../../tests/support/mod.rs"]
mod support;

use ssd_train::data::voc::{write_annotation, VocAnnotation, VocObject};
use std::path::Path;
use std::process::Command;
use support::{cell_box, image_with, Tiny};

fn write_image(
    root: &Path,
    id: &str,
    rects: &[(u32, u32, u32, u32, [u8; 3])],
    objects: &[(&str, [f32; 4])],
) {
    image_with(300, 300, rects)
        .save(root.join("JPEGImages").join(format!("{id}.png")))
        .unwrap();
    let ann = VocAnnotation {
        filename: format!("{id}.png"),
        width: 300,
        height: 300,
        objects: objects
            .iter()
            .map(|(name, b)| VocObject {
                name: name.to_string(),
                difficult: false,
                bndbox: [
                    b[0] as f64 + 1.0,
                    b[1] as f64 + 1.0,
                    b[2] as f64,
                    b[3] as f64,
                ],
            })
            .collect(),
    };
    std::fs::write(
        root.join("Annotations").join(format!("{id}.xml")),
        write_annotation(&ann),
    )
    .unwrap();
}

#[test]
fn onnx_model_is_scored_with_hand_computed_ap() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("voc");
    for d in ["Annotations", "JPEGImages", "ImageSets/Main"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    // image a: a red cell, found exactly (its box is the prior box)
    write_image(
        &root,
        "a",
        &[(0, 0, 100, 100, [255, 0, 0])],
        &[("red", cell_box(0, 0, 300, 300))],
    );
    // image b: a green cell found, and a green object the model cannot see (missed)
    write_image(
        &root,
        "b",
        &[(200, 100, 300, 200, [0, 255, 0])],
        &[
            ("green", cell_box(1, 2, 300, 300)),
            ("green", cell_box(2, 0, 300, 300)),
        ],
    );
    std::fs::write(root.join("ImageSets/Main/test.txt"), "a\nb\n").unwrap();
    let model = Tiny::default().write(dir.path(), "tiny.onnx");
    let out = Command::new(env!("CARGO_BIN_EXE_ssd-train"))
        .arg("eval")
        .arg("--onnx")
        .arg(&model)
        .arg("--data")
        .arg(&root)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let close = |a: &serde_json::Value, b: f64| (a.as_f64().unwrap() - b).abs() < 1e-9;
    // red AP 1; green: precision 1 up to recall 1/2
    assert!(close(&v["classes"][0]["ap07"], 1.0), "{v}");
    assert!(close(&v["classes"][1]["ap07"], 6.0 / 11.0), "{v}");
    assert!(close(&v["classes"][1]["ap_all"], 0.5), "{v}");
    assert!(close(&v["voc07_map"], (1.0 + 6.0 / 11.0) / 2.0), "{v}");
    assert!(close(&v["coco_ap"], (1.0 + 51.0 / 101.0) / 2.0), "{v}");
}

#[test]
fn a_broken_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("broken.onnx");
    std::fs::write(&model, b"not a model").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ssd-train"))
        .arg("eval")
        .arg("--onnx")
        .arg(&model)
        .arg("--data")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.onnx"), "{err}");
}
