//! `ssd-edge detect` and `ssd-edge info` end to end: the real binary on a real ONNX model.

mod support;

use ssd_edge::model::onnx_builder::Dim;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::*;

fn ssd_edge(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ssd-edge"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run ssd-edge")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// Asserts a clean failure: non-zero exit, every `needles` in stderr, no panic.
fn assert_fails_with(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
}

struct Setup {
    dir: tempfile::TempDir,
    model: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let model = Tiny::default().write(dir.path(), "tiny.onnx");
        Setup { dir, model }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn image(&self, name: &str, img: &image::RgbImage) -> String {
        let p = self.path(name);
        img.save(&p).unwrap();
        p.display().to_string()
    }
    fn run(&self, args: &[&str]) -> Output {
        ssd_edge(args, self.dir.path())
    }
    fn model(&self) -> &str {
        self.model.to_str().unwrap()
    }
}

#[test]
fn detect_prints_one_json_line_per_image_in_pixels() {
    let s = Setup::new();
    let a = s.image(
        "a.png",
        &image_with(600, 450, &[(400, 150, 600, 300, [255, 0, 0])]),
    );
    let b = s.image("b.png", &image_with(300, 300, &[]));
    let o = s.run(&["detect", "--model", s.model(), &a, &b]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
    let lines = stdout_lines(&o);
    assert_eq!(lines.len(), 2);
    let l = &lines[0];
    assert_eq!(l["source"], a.as_str());
    assert_eq!(
        (l["width"].as_u64(), l["height"].as_u64()),
        (Some(600), Some(450))
    );
    let dets = l["detections"].as_array().unwrap();
    assert_eq!(dets.len(), 1, "{l}");
    assert_eq!(dets[0]["class_id"], 1);
    assert_eq!(dets[0]["label"], "red");
    assert!(dets[0]["score"].as_f64().unwrap() > 0.99);
    let bbox: Vec<f32> = dets[0]["box"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    // Cell (row 1, col 2) of the 3x3 grid, scaled by 2 x 1.5: [440, 180, 560, 270].
    assert_box_near(&bbox, &cell_box(1, 2, 600, 450), 0.05);
    assert_eq!(lines[1]["detections"].as_array().unwrap().len(), 0);
}

#[test]
fn detections_are_best_first_and_threshold_filters() {
    let s = Setup::new();
    let img = s.image(
        "two.png",
        &image_with(
            300,
            300,
            &[
                (0, 200, 100, 300, [0, 77, 0]),
                (200, 0, 300, 100, [255, 0, 0]),
            ],
        ),
    );
    let o = s.run(&["detect", "--model", s.model(), &img]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dets = stdout_lines(&o)[0]["detections"]
        .as_array()
        .unwrap()
        .clone();
    let labels: Vec<&str> = dets.iter().map(|d| d["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["red", "green"]);
    let green = dets[1]["score"].as_f64().unwrap();
    assert!((0.6..0.85).contains(&green), "{green}");

    let o = s.run(&["detect", "--model", s.model(), "--threshold", "0.9", &img]);
    let dets = stdout_lines(&o)[0]["detections"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(dets.len(), 1);
    assert_eq!(dets[0]["label"], "red");

    let o = s.run(&["detect", "--model", s.model(), "--threshold", "1.5", &img]);
    assert_fails_with(&o, &["1.5"]);
}

#[test]
fn annotate_writes_a_changed_copy() {
    let s = Setup::new();
    let src = image_with(320, 240, &[(0, 0, 106, 80, [255, 0, 0])]);
    let img = s.image("scene.png", &src);
    let out_dir = s.path("annotated");
    let o = s.run(&[
        "detect",
        "--model",
        s.model(),
        "--annotate",
        out_dir.to_str().unwrap(),
        &img,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let written = image::open(out_dir.join("scene.png")).unwrap().into_rgb8();
    assert_eq!(written.dimensions(), src.dimensions());
    assert_ne!(written, src);
    let changed = written
        .pixels()
        .zip(src.pixels())
        .filter(|(a, b)| a != b)
        .count();
    // A box outline and a label strip, not a repainted image.
    assert!(
        changed > 100 && changed < 320 * 240 / 4,
        "{changed} pixels changed"
    );

    // Annotating into the images' own directory would overwrite them: refused, per image.
    let o = s.run(&[
        "detect",
        "--model",
        s.model(),
        "--annotate",
        s.dir.path().to_str().unwrap(),
        &img,
    ]);
    assert_fails_with(&o, &["refusing to overwrite", "scene.png"]);
    assert_eq!(image::open(&img).unwrap().into_rgb8(), src);
}

#[test]
fn bad_images_are_reported_and_the_rest_processed() {
    let s = Setup::new();
    let good1 = s.image(
        "good1.png",
        &image_with(300, 300, &[(0, 0, 100, 100, [255, 0, 0])]),
    );
    let good2 = s.image("good2.jpg", &image_with(300, 300, &[]));
    let missing = s.path("missing.png").display().to_string();
    let text = s.path("notes.txt");
    std::fs::write(&text, "this is not an image\n").unwrap();
    let corrupt = s.path("corrupt.png");
    let mut bytes = std::fs::read(&good1).unwrap();
    bytes[40..80].fill(0xAB);
    std::fs::write(&corrupt, &bytes).unwrap();
    let truncated = s.path("truncated.png");
    let full = std::fs::read(&good1).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let garbage = s.path("garbage.jpg");
    std::fs::write(&garbage, [0u8; 64]).unwrap();

    let args: Vec<String> = [
        "detect",
        "--model",
        s.model(),
        &missing,
        &good1,
        text.to_str().unwrap(),
        corrupt.to_str().unwrap(),
        truncated.to_str().unwrap(),
        garbage.to_str().unwrap(),
        &good2,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = s.run(&args);
    assert_fails_with(
        &o,
        &[
            "missing.png",
            "notes.txt",
            "corrupt.png",
            "truncated.png",
            "garbage.jpg",
            "5 of 7 images failed",
        ],
    );
    let lines = stdout_lines(&o);
    let sources: Vec<&str> = lines
        .iter()
        .map(|l| l["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, [good1.as_str(), good2.as_str()]);
    assert_eq!(lines[0]["detections"][0]["label"], "red");
}

#[test]
fn info_prints_what_the_model_carries() {
    let s = Setup::new();
    let o = s.run(&["info", s.model()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    for needle in [
        "tiny-colour-ssd",
        "1x3x300x300",
        "RGB",
        "0 background, 1 red, 2 green",
        "18 boxes",
        "feature maps [3]",
        "center 0.1, size 0.2",
        "report score >= 0.5",
        "IoU 0.45",
        "dataset none (fixed weights)",
        "Conv 2",
        "parameters:    62",
        "7 nodes",
    ] {
        assert!(text.contains(needle), "info lacks {needle:?}:\n{text}");
    }
    let o = s.run(&["info", "--json", s.model()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["num_priors"], 18);
    assert_eq!(v["meta"]["labels"][1], "red");
    assert_eq!(v["summary"]["ops"]["AveragePool"], 1);
}

#[test]
fn model_problems_fail_cleanly_naming_the_file() {
    let s = Setup::new();
    let img = s.image("x.png", &image_with(300, 300, &[]));
    let bytes = std::fs::read(&s.model).unwrap();

    let truncated = s.path("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let o = s.run(&["detect", "--model", truncated.to_str().unwrap(), &img]);
    assert_fails_with(&o, &["truncated.onnx"]);
    assert!(stdout_lines(&o).is_empty());

    let text = s.path("text.onnx");
    std::fs::write(&text, "not a model at all").unwrap();
    assert_fails_with(
        &s.run(&["detect", "--model", text.to_str().unwrap(), &img]),
        &["text.onnx", "ONNX"],
    );

    let o = s.run(&["detect", "--model", "nope.onnx", &img]);
    assert_fails_with(&o, &["nope.onnx", "does not exist"]);

    // No metadata and no sidecar.
    let bare = Tiny {
        meta: None,
        ..Default::default()
    }
    .write(s.dir.path(), "bare.onnx");
    let o = s.run(&["detect", "--model", bare.to_str().unwrap(), &img]);
    assert_fails_with(&o, &["bare.onnx", "no ssd-edge metadata", "--sidecar"]);

    // Wrong input rank.
    let rank3 = Tiny {
        input_dims: [1, 3, 300].map(Dim::Fixed).to_vec(),
        ..Default::default()
    }
    .write(s.dir.path(), "rank3.onnx");
    let o = s.run(&["info", rank3.to_str().unwrap()]);
    assert_fails_with(&o, &["rank3.onnx", "rank 3"]);

    // A sidecar whose priors do not match the model (P mismatch).
    let mut meta = tiny_meta();
    meta.priors.grid_mut().unwrap().feature_maps = vec![5];
    let wrong = s.path("wrong.toml");
    std::fs::write(&wrong, meta.to_toml_string()).unwrap();
    let o = s.run(&[
        "detect",
        "--model",
        bare.to_str().unwrap(),
        "--sidecar",
        wrong.to_str().unwrap(),
        &img,
    ]);
    assert_fails_with(&o, &["bare.onnx", "18 boxes", "50"]);

    // A sidecar with a TOML syntax error.
    let broken = s.path("broken.toml");
    std::fs::write(
        &broken,
        tiny_meta()
            .to_toml_string()
            .replacen("labels = [", "labels = [[", 1),
    )
    .unwrap();
    let o = s.run(&[
        "detect",
        "--model",
        bare.to_str().unwrap(),
        "--sidecar",
        broken.to_str().unwrap(),
        &img,
    ]);
    assert_fails_with(&o, &["broken.toml", "line"]);

    // And a good sidecar makes the bare model work.
    let good = s.path("good.toml");
    std::fs::write(&good, tiny_meta().to_toml_string()).unwrap();
    let o = s.run(&[
        "detect",
        "--model",
        bare.to_str().unwrap(),
        "--sidecar",
        good.to_str().unwrap(),
        &img,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn missing_default_model_tells_how_to_get_one() {
    let s = Setup::new();
    let img = s.image("x.png", &image_with(300, 300, &[]));
    let o = s.run(&["detect", &img]);
    // `detect` defaults to the real COCO model.
    assert_fails_with(
        &o,
        &[
            "models/coco-ssdlite-mnv2.onnx",
            "make model-coco",
            "--model",
        ],
    );

    // With a default model in place (relative to the current directory) it is used.
    std::fs::create_dir(s.path("models")).unwrap();
    std::fs::copy(&s.model, s.path("models/coco-ssdlite-mnv2.onnx")).unwrap();
    let o = s.run(&["detect", &img]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout_lines(&o).len(), 1);
}
