//! Exported ONNX == tch network: tract (the board's runtime) and onnxruntime give the same
//! loc/conf as the tch module on the same input; onnx.checker accepts the file; the metadata
//! round-trips.

use std::path::Path;

use prost::Message;
use ssd_model::model::{InputSpec, ModelMeta};
use ssd_train::export::{build_onnx, export, meta_for};
use ssd_train::net::{NetSpec, SsdNet};
use tch::{nn, Device, Kind, Tensor};
use tract_onnx::prelude::*;

const TOL: f32 = 1e-4;

/// A network whose batch norms have non-trivial statistics and affine parameters, so the
/// export's folding is exercised.
fn net_with_stats(arch: &str, classes: usize) -> (NetSpec, nn::VarStore, SsdNet) {
    tch::manual_seed(7);
    let spec = NetSpec::from_name(arch, classes).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let net = SsdNet::new(&vs.root(), &spec).unwrap();
    tch::no_grad(|| {
        for (name, v) in vs.variables() {
            if name.ends_with(".bn.weight") {
                let _ = v.shallow_clone().uniform_(0.5, 1.5);
            } else if name.ends_with(".bn.bias") || name.ends_with("L2Norm.weight") {
                let _ = v.shallow_clone().uniform_(-0.5, 0.5);
            }
        }
        // Training-mode forwards move the running statistics away from 0/1.
        let x = Tensor::randn([2, 3, 300, 300], (Kind::Float, Device::Cpu));
        for _ in 0..3 {
            let _ = net.forward_t(&x, true);
        }
    });
    (spec, vs, net)
}

fn tract_run(path: &Path, x: &[f32], s: usize) -> (Vec<usize>, Vec<f32>, Vec<usize>, Vec<f32>) {
    let plan = tract_onnx::onnx()
        .model_for_path(path)
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let input: tract_onnx::prelude::Tensor =
        tract_ndarray::Array4::from_shape_vec((1, 3, s, s), x.to_vec())
            .unwrap()
            .into();
    let out = plan.run(tvec!(input.into())).unwrap();
    let loc = out[0].to_plain_array_view::<f32>().unwrap();
    let conf = out[1].to_plain_array_view::<f32>().unwrap();
    (
        loc.shape().to_vec(),
        loc.iter().copied().collect(),
        conf.shape().to_vec(),
        conf.iter().copied().collect(),
    )
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn write_f32(path: &Path, v: &[f32]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// `merged`: how many maps' loc and conf predictors the export writes as one convolution.
fn check_equivalence(arch: &str, classes: usize, merged: usize) {
    let (spec, vs, net) = net_with_stats(arch, classes);
    let names: Vec<String> = (1..classes).map(|i| format!("c{i}")).collect();
    let mut meta = meta_for(
        &spec,
        &names,
        InputSpec::imagenet_rgb(300),
        Default::default(),
    );
    meta.provenance.dataset = Some("unit test".into());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{arch}.onnx"));
    export(&spec, &vs, &meta, &path).unwrap();

    let x = Tensor::randn([1, 3, 300, 300], (Kind::Float, Device::Cpu));
    let (loc, conf) = tch::no_grad(|| net.forward_t(&x, false));
    let xv = Vec::<f32>::try_from(x.reshape([-1])).unwrap();
    let lv = Vec::<f32>::try_from(loc.reshape([-1])).unwrap();
    let cv = Vec::<f32>::try_from(conf.reshape([-1])).unwrap();

    let (ls, tl, cs, tc) = tract_run(&path, &xv, 300);
    assert_eq!(ls, vec![1, 8732, 4]);
    assert_eq!(cs, vec![1, 8732, classes]);
    let (dl, dc) = (max_abs_diff(&lv, &tl), max_abs_diff(&cv, &tc));
    let scale = lv.iter().chain(&cv).fold(0f32, |m, v| m.max(v.abs()));
    println!(
        "{arch}: tract vs tch max abs diff loc {dl:.3e} conf {dc:.3e} (outputs up to {scale:.3})"
    );
    assert!(dl <= TOL && dc <= TOL, "{arch}: loc {dl} conf {dc}");

    // The metadata the board reads back is what we wrote.
    let proto =
        tract_onnx::pb::ModelProto::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
    let props: Vec<(String, String)> = proto
        .metadata_props
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect();
    assert_eq!(ModelMeta::from_metadata_props(&props).unwrap(), meta);
    let graph = proto.graph.as_ref().unwrap();
    let splits = graph.node.iter().filter(|n| n.op_type == "Split").count();
    assert_eq!(splits, merged, "{arch}: merged heads");

    // onnx.checker and onnxruntime, in the venv's Python.
    let (xi, lr, cr) = (
        dir.path().join("x.f32"),
        dir.path().join("loc.f32"),
        dir.path().join("conf.f32"),
    );
    write_f32(&xi, &xv);
    write_f32(&lr, &lv);
    write_f32(&cr, &cv);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/check_onnx.py");
    let out = std::process::Command::new(env!("SSD_TRAIN_PYTHON"))
        .arg(script)
        .args([&path, &xi, &lr, &cr])
        .arg("--tol")
        .arg(TOL.to_string())
        .output()
        .expect("run the venv's python (onnx, onnxruntime)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{arch}: {}", stdout.trim());
    assert!(
        out.status.success(),
        "check_onnx.py failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tiny_export_matches_tch() {
    check_equivalence("tiny", 4, 6);
}

#[test]
fn mobile_export_matches_tch() {
    check_equivalence("mobile@0.5", 4, 6);
}

/// SSDLite heads (depthwise pre-layers with ReLU6) on the street boxes: nothing to merge.
#[test]
fn mobile_lite_export_matches_tch() {
    check_equivalence("mobile-lite@0.25+street", 4, 0);
}

/// Covers what only VGG16 has: L2Norm, ceil-mode and 3x3/1/1 pooling, dilated fc6.
#[test]
fn vgg16_export_matches_tch() {
    check_equivalence("vgg16", 21, 6);
}

#[test]
fn export_refuses_mismatches() {
    let (spec, vs, _net) = net_with_stats("tiny", 4);
    let names: Vec<String> = (1..4).map(|i| format!("c{i}")).collect();
    let meta = meta_for(
        &spec,
        &names,
        InputSpec::imagenet_rgb(300),
        Default::default(),
    );
    // Labels for another class count.
    let mut bad = meta.clone();
    bad.labels.pop();
    assert!(build_onnx(&spec, &vs, &bad)
        .unwrap_err()
        .to_string()
        .contains("labels"));
    // Weights of another architecture.
    let other = NetSpec::from_name("mobile@0.5", 4).unwrap();
    let meta_o = meta_for(
        &other,
        &names,
        InputSpec::imagenet_rgb(300),
        Default::default(),
    );
    let err = build_onnx(&other, &vs, &meta_o).unwrap_err().to_string();
    // Shared names with other shapes: the error names the tensor.
    assert!(err.contains("body.0.conv.weight"), "{err}");
    // Unwritable destination names the path.
    let err = export(&spec, &vs, &meta, Path::new("/nonexistent-dir/m.onnx"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent-dir/m.onnx"), "{err}");
}
