//! `ssd-train synth` and `ssd-train eval --gt --dets` driven as a user would.

use ssd_core::synth::{Sequence, SequenceConfig, CLASS_NAMES};
use ssd_train::data::synth_set::class_names;
use ssd_train::data::{Dataset, VocDataset};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ssd-train"))
}

#[test]
fn synth_writes_a_voc_set_with_splits() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "synth", "--count", "10", "--seed", "3", "--format", "png", "--split", "0.6,0.2",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = class_names();
    let sizes: Vec<usize> = ["train", "val", "test"]
        .iter()
        .map(|s| VocDataset::open(dir.path(), s, &names).unwrap().len())
        .collect();
    assert_eq!(sizes, vec![6, 2, 2]);
    let xml = std::fs::read_to_string(dir.path().join("Annotations/000000.xml")).unwrap();
    assert!(xml.contains("<difficult>") && xml.contains("<width>300</width>"));
    let ds = VocDataset::open(dir.path(), "train", &names).unwrap();
    assert_eq!(ds.get(0).unwrap().image.dimensions(), (300, 300));
}

#[test]
fn synth_sequence_writes_frames_tracks_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "synth",
            "--sequence",
            "--count",
            "50",
            "--seed",
            "9",
            "--size",
            "320x240",
            "--format",
            "png",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("frames/000049.png").exists());
    let counts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("counts.json")).unwrap())
            .unwrap();
    let mut seq = Sequence::new(
        SequenceConfig {
            scene: ssd_core::synth::SynthConfig::with_size(320, 240),
            ..Default::default()
        },
        9,
    );
    let mut img = image::RgbImage::new(1, 1);
    for _ in 0..50 {
        seq.next_frame(&mut img);
    }
    for (k, name) in CLASS_NAMES.iter().enumerate() {
        assert_eq!(counts["counts"][name]["left_to_right"], seq.counts()[k][0]);
        assert_eq!(counts["counts"][name]["right_to_left"], seq.counts()[k][1]);
    }
    let crossings = std::fs::read_to_string(dir.path().join("crossings.csv")).unwrap();
    let total: u32 = seq.counts().iter().map(|c| c[0] + c[1]).sum();
    assert_eq!(crossings.lines().count() as u32, total + 1);
    let tracks = std::fs::read_to_string(dir.path().join("tracks.csv")).unwrap();
    assert!(tracks.lines().count() > 50);
}

#[test]
fn synth_rejects_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--size", "0x10"],
        vec!["--split", "0.9,0.5"],
        vec!["--format", "gif"],
    ] {
        let out = bin()
            .args(["synth", "--count", "1", "--out"])
            .arg(dir.path())
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
}

#[test]
fn eval_scores_coco_files_and_names_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let gt = serde_json::json!({
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50], "area": 2500, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "person"}]
    });
    let dets = serde_json::json!([{"image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50], "score": 0.9}]);
    let (g, d) = (dir.path().join("gt.json"), dir.path().join("dets.json"));
    std::fs::write(&g, gt.to_string()).unwrap();
    std::fs::write(&d, dets.to_string()).unwrap();
    let out = bin()
        .arg("eval")
        .arg("--gt")
        .arg(&g)
        .arg("--dets")
        .arg(&d)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stats"][0], 1.0);
    let missing = dir.path().join("nope.json");
    let out = bin()
        .arg("eval")
        .arg("--gt")
        .arg(&g)
        .arg("--dets")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.json"));
}
