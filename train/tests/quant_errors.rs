//! Bad input to the quantizer: a clear error naming the file and the problem, no panic.

use prost::Message;
use ssd_train::quant::{self, fixtures, QuantError, QuantizeOptions};
use std::process::Command;

fn opts(dir: &std::path::Path) -> QuantizeOptions {
    let model = dir.join("m.onnx");
    std::fs::write(&model, fixtures::conv_net().encode_to_vec()).unwrap();
    std::fs::create_dir_all(dir.join("calib")).unwrap();
    let mut o = QuantizeOptions::new(model, dir.join("calib"), dir.join("out.onnx"));
    o.layer_budget = std::time::Duration::from_millis(2);
    o.model_budget = std::time::Duration::from_millis(5);
    o
}

fn message(e: QuantError) -> String {
    e.to_string()
}

#[test]
fn missing_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.model = dir.path().join("nope.onnx");
    let e = message(quant::quantize(&o).unwrap_err());
    assert!(e.contains("nope.onnx") && e.contains("No such file"), "{e}");
}

#[test]
fn not_an_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    std::fs::write(&o.model, b"this is a text file, not a protobuf\n").unwrap();
    let e = message(quant::quantize(&o).unwrap_err());
    assert!(
        e.contains("m.onnx") && e.contains("not a usable ONNX model"),
        "{e}"
    );
    // A truncated model.
    let bytes = fixtures::conv_net().encode_to_vec();
    std::fs::write(&o.model, &bytes[..bytes.len() / 2]).unwrap();
    let e = message(quant::quantize(&o).unwrap_err());
    assert!(e.contains("not a usable ONNX model"), "{e}");
    // Valid ONNX without the metadata the preprocessing needs.
    let mut m = fixtures::conv_net();
    m.metadata_props.clear();
    std::fs::write(&o.model, m.encode_to_vec()).unwrap();
    o.model = o.model.clone();
    let e = message(quant::quantize(&o).unwrap_err());
    assert!(
        e.contains("ssd_edge.input") && e.contains("--sidecar"),
        "{e}"
    );
}

#[test]
fn empty_or_missing_calibration_dir() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    std::fs::write(dir.path().join("calib/readme.txt"), "not an image").unwrap();
    let e = message(quant::quantize(&o).unwrap_err());
    assert!(e.contains("calib") && e.contains("no images"), "{e}");
    o.calib = dir.path().join("missing");
    let e = message(quant::quantize(&o).unwrap_err());
    assert!(
        e.contains("missing") && e.contains("calibration directory"),
        "{e}"
    );
}

#[test]
fn corrupt_calibration_image() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path());
    fixtures::write_calib_images(&o.calib, 2, 32).unwrap();
    std::fs::write(o.calib.join("0001.png"), b"\x89PNG\r\n\x1a\ntruncated").unwrap();
    let e = message(quant::quantize(&o).unwrap_err());
    assert!(
        e.contains("calibration image") && e.contains("0001.png"),
        "{e}"
    );
    assert!(!o.out.exists());
}

#[test]
fn unknown_layer_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    fixtures::write_calib_images(&o.calib, 1, 32).unwrap();
    o.float_layers = vec!["conv9".into()];
    let e = message(quant::quantize(&o).unwrap_err());
    assert!(
        e.contains("conv9") && e.contains("conv1, conv2, conv3, conv4"),
        "{e}"
    );
}

/// `ssd-train quantize EXTRA --model DIR/MODEL --calib DIR --out DIR/o.onnx`.
fn quantize_cli(dir: &std::path::Path, model: &str, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ssd-train"))
        .arg("quantize")
        .args(extra)
        .arg("--model")
        .arg(dir.join(model))
        .arg("--calib")
        .arg(dir)
        .arg("--out")
        .arg(dir.join("o.onnx"))
        .output()
        .unwrap()
}

#[test]
fn cli_reports_error_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = quantize_cli(dir.path(), "absent.onnx", &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("absent.onnx") && err.contains("No such file"),
        "{err}"
    );
}

#[test]
fn cli_rejects_unknown_weight_scaling() {
    let dir = tempfile::tempdir().unwrap();
    let out = quantize_cli(dir.path(), "m.onnx", &["--weight-scale", "per-row"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("per-row") && err.contains("channel, tensor or auto"),
        "{err}"
    );
}
