//! `ssd-edge bench`: per-stage times for each model on the same frames, and clear errors.

mod support;

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ssd-edge"))
        .arg("bench")
        .args(args)
        .output()
        .expect("run ssd-edge bench")
}

fn lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn one_line_per_model_with_consistent_stage_times() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.onnx");
    let b = dir.path().join("b.onnx");
    std::fs::write(&a, support::tiny_model_bytes()).unwrap();
    std::fs::write(&b, support::tiny_model_bytes()).unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let o = bench(&[
        "--model", a, "--model", b, "--frames", "7", "--source", "synth:3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = lines(&o);
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (line, model) in lines.iter().zip([a, b]) {
        assert_eq!(line["model"], model);
        assert_eq!(line["frames"], 7);
        let stage = |k: &str, q: &str| line[k][q].as_f64().unwrap();
        for k in ["preprocess_ms", "forward_ms", "decode_ms", "total_ms"] {
            // The tiny model's decode (18 priors) can take less than the printed resolution.
            let floor = if k == "decode_ms" { 0.0 } else { 1e-3 };
            assert!(stage(k, "min") >= floor, "{k}: {line}");
            assert!(stage(k, "min") <= stage(k, "median"), "{k}: {line}");
            assert!(stage(k, "median") <= stage(k, "p90"), "{k}: {line}");
        }
        let parts = stage("preprocess_ms", "min") + stage("forward_ms", "min");
        assert!(stage("total_ms", "min") >= parts - 0.002, "{line}");
        let fps = line["fps"].as_f64().unwrap();
        assert!(
            (fps - 1e3 / stage("total_ms", "median")).abs() < 0.1,
            "{line}"
        );
    }
}

#[test]
fn warm_up_frames_are_not_counted_and_a_short_source_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    std::fs::write(&model, support::tiny_model_bytes()).unwrap();
    let img = dir.path().join("one.png");
    support::image_with(300, 300, &[]).save(&img).unwrap();
    let (model, img) = (model.to_str().unwrap(), img.to_str().unwrap());

    // One image, no warm-up: one timed frame.
    let o = bench(&["--model", model, "--source", img, "--warmup", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(lines(&o)[0]["frames"], 1);

    // One image eaten by the warm-up: nothing to time.
    let o = bench(&["--model", model, "--source", img, "--warmup", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no frames to time"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn bad_arguments_and_models_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.onnx");
    let o = bench(&["--model", missing.to_str().unwrap(), "--frames", "2"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing.onnx"), "{}", stderr(&o));

    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"not a model").unwrap();
    let o = bench(&["--model", junk.to_str().unwrap(), "--frames", "2"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("junk.onnx"), "{}", stderr(&o));

    let o = bench(&["--frames", "0"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--frames"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
}
