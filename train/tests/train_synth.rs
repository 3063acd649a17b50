//! End to end through the real binary: `ssd-train train` with the tiny network on synthetic
//! scenes on the CPU; loss falls, mAP ends well above chance, outputs are written, and an
//! interrupted run resumes from its checkpoint.

use std::path::Path;
use std::process::Command;

fn ssd_train() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ssd-train"));
    c.env("RUST_LOG", "info");
    c
}

fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("epoch,step,loss"), "{header}");
    lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect()
}

fn train_args(out: &Path, epochs: usize) -> Vec<String> {
    [
        "train",
        "--arch",
        "tiny",
        "--synth",
        "384",
        "--val-synth",
        "96",
        "--epochs",
        &epochs.to_string(),
        "--batch",
        "16",
        "--lr",
        "0.02",
        "--warmup",
        "20",
        "--threads",
        "2",
        "--workers",
        "2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn tiny_learns_synthetic_scenes_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let epochs = 6;
    let t = std::time::Instant::now();
    let st = ssd_train().args(train_args(&out, epochs)).status().unwrap();
    assert!(st.success());
    println!("{epochs} epochs in {:.0} s", t.elapsed().as_secs_f64());
    let rows = read_csv(&out.join("metrics.csv"));
    assert_eq!(rows.len(), epochs);
    let loss: Vec<f64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    let map: Vec<f64> = rows.iter().map(|r| r[7].parse().unwrap()).collect();
    println!("loss per epoch {loss:?}\nmAP per epoch {map:?}");
    assert!(loss.iter().all(|l| l.is_finite()));
    assert!(
        loss[epochs - 1] < 0.7 * loss[0],
        "loss did not fall: {loss:?}"
    );
    // A detector that guesses scores ~0 AP; 3 classes, objects 10-250 px.
    let best = map.iter().cloned().fold(0.0, f64::max);
    assert!(best > 0.25, "mAP stayed near chance: {map:?}");
    for f in [
        "last.safetensors",
        "last.json",
        "best.safetensors",
        "best.json",
        "plot.png",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let plot = image::open(out.join("plot.png")).unwrap();
    assert_eq!(plot.width(), 800);

    // Resume for one more epoch: continues the step count, appends one CSV row.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("last.json")).unwrap()).unwrap();
    let steps = state["step"].as_u64().unwrap();
    let mut args = train_args(&out, epochs + 1);
    args.push("--resume".into());
    let st = ssd_train().args(args).status().unwrap();
    assert!(st.success());
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("last.json")).unwrap()).unwrap();
    assert_eq!(state["epoch"].as_u64().unwrap(), epochs as u64 + 1);
    assert_eq!(
        state["step"].as_u64().unwrap(),
        steps * (epochs as u64 + 1) / epochs as u64
    );
    assert_eq!(read_csv(&out.join("metrics.csv")).len(), epochs + 1);

    // The checkpoint exports and the model runs in the board's runtime.
    let onnx = dir.path().join("tiny.onnx");
    let st = ssd_train()
        .args(["export", "--checkpoint"])
        .arg(out.join("best"))
        .arg("--out")
        .arg(&onnx)
        .status()
        .unwrap();
    assert!(st.success());
    let det = ssd_edge::model::Detector::load(&onnx, None).unwrap();
    assert_eq!(
        det.meta().labels,
        vec!["background", "person", "car", "bicycle"]
    );
    assert!(det.meta().provenance.metrics.contains_key("voc07_map"));
}

#[test]
fn bad_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let run = |args: &[&str]| {
        let o = ssd_train().args(args).output().unwrap();
        assert!(!o.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let o = out.to_str().unwrap();
    let err = run(&["train", "--voc", "/no/such/VOCdevkit", "--out", o]);
    assert!(err.contains("/no/such/VOCdevkit"), "{err}");
    let err = run(&["train", "--synth", "8", "--arch", "resnet50", "--out", o]);
    assert!(err.contains("resnet50"), "{err}");
    let err = run(&["train", "--synth", "8", "--schedule", "linear", "--out", o]);
    assert!(err.contains("linear"), "{err}");
    let err = run(&["train", "--out", o]);
    assert!(err.contains("--synth"), "{err}");
    let err = run(&["export", "--checkpoint", "/no/such/ckpt", "--out", o]);
    assert!(err.contains("/no/such/ckpt"), "{err}");
    // A corrupt checkpoint state.
    std::fs::write(dir.path().join("bad.json"), "{ not json").unwrap();
    let err = run(&[
        "export",
        "--checkpoint",
        dir.path().join("bad").to_str().unwrap(),
        "--out",
        o,
    ]);
    assert!(err.contains("bad.json"), "{err}");
}
