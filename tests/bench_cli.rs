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

#[test]
fn profile_lists_the_plans_nodes_and_the_threads_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    std::fs::write(&model, support::tiny_model_bytes()).unwrap();
    let model = model.to_str().unwrap();
    let o = bench(&[
        "--model",
        model,
        "--frames",
        "3",
        "--profile",
        "2",
        "--threads",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = lines(&o);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["threads"], 1);
    assert!(lines[0]["allocations_per_frame"]["median"]
        .as_f64()
        .is_some());
    assert!(lines[0]["load_ms"].as_f64().unwrap() > 0.0);
    let p = &lines[1];
    assert_eq!(p["profile"], model);
    let by_op = p["by_op"].as_array().unwrap();
    assert!(!by_op.is_empty(), "{p}");
    let sum: f64 = by_op.iter().map(|o| o["ms"].as_f64().unwrap()).sum();
    let total = p["forward_ms"].as_f64().unwrap();
    assert!(
        (sum - total).abs() <= 1e-3 * by_op.len() as f64 + 1e-3,
        "{p}"
    );
    let slowest = p["slowest"].as_array().unwrap();
    assert!(!slowest.is_empty() && slowest.len() <= 2, "{p}");
    let ms: Vec<f64> = slowest.iter().map(|n| n["ms"].as_f64().unwrap()).collect();
    assert!(ms.windows(2).all(|w| w[0] >= w[1]), "slowest first: {p}");

    let o = bench(&["--model", model, "--threads", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn model_auto_times_the_folders_variants_and_keeps_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("default.onnx"), support::tiny_model_bytes()).unwrap();
    let auto = dir.path().join("auto");
    let auto = auto.to_str().unwrap();

    // One variant only: nothing to choose between, and the error says what is missing.
    let o = bench(&["--model", auto, "--frames", "2"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("needs default.onnx and default-float.onnx"),
        "{}",
        stderr(&o)
    );

    std::fs::write(
        dir.path().join("default-float.onnx"),
        support::tiny_model_bytes(),
    )
    .unwrap();
    let o = bench(&["--model", auto, "--frames", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    for v in ["default.onnx", "default-float.onnx"] {
        assert!(
            err.lines()
                .any(|l| l.contains("--model auto:") && l.contains(v) && l.contains("ms")),
            "a timing for {v}: {err}"
        );
    }
    let chosen = lines(&o)[0]["model"].as_str().unwrap().to_string();
    assert!(
        err.contains(&format!("--model auto: using {chosen}")),
        "{chosen}: {err}"
    );
}
