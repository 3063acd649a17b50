//! Fine-tuning from pretrained backbones (`import::backbone`, `ssd-train train
//! --backbone-weights`), against PyTorch itself: the venv's torchvision writes seeded
//! `mobilenet_v3_large` / `mobilenet_v2` state dicts (batch-norm statistics randomised so
//! they matter) and a `vgg16_reducedfc`-like one (torchvision's VGG16 features with
//! ssd.pytorch's ceil-mode pool3 and dilated fc6/fc7, ssd.pytorch's `vgg` indices, saved in
//! the legacy format as the 2017 file is), plus each backbone's outputs at our two first
//! source maps on a fixed input. Loading must copy every tensor exactly, and our tch network's
//! source maps must equal torchvision's: that proves the layout, not just the names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ssd_train::import::backbone::{backbone_parameters, load_backbone, BackboneError};
use ssd_train::net::{NetSpec, SsdNet};
use ssd_train::pth::StateDict;
use tch::{nn, Device, Kind, Tensor};

const PY: &str = r#"
import json, sys
import torch, torchvision
from torch import nn

out = sys.argv[1]
torch.manual_seed(0)
meta = {}

def raw(name, t):
    t.detach().contiguous().numpy().astype("<f4").tofile(f"{out}/{name}.bin")
    return list(t.shape)

def randomise(m):
    # torchvision initialises BN to the identity; trained statistics are not.
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.3, 0.3)
                mod.num_batches_tracked.fill_(1234)

def sources(m, first, x):
    got = {}
    h = first.register_forward_hook(lambda mod, i, o: got.__setitem__("c4", o.clone()))
    with torch.no_grad():
        last = m.features(x)
    h.remove()
    return got["c4"], last

x = torch.randn(1, 3, 320, 320)
meta["x320"] = raw("x320", x)

m = torchvision.models.mobilenet_v3_large(weights=None).eval()
randomise(m)
torch.save(m.state_dict(), f"{out}/mnv3.pth")
c4, last = sources(m, m.features[13].block[0], x)
meta["mnv3"] = [raw("mnv3_0", c4), raw("mnv3_1", last)]

m = torchvision.models.mobilenet_v2(weights=None).eval()
randomise(m)
sd = m.state_dict()
torch.save(sd, f"{out}/mnv2.pth")
c4, last = sources(m, m.features[14].conv[0], x)
meta["mnv2"] = [raw("mnv2_0", c4), raw("mnv2_1", last)]
# Broken variants of the mobilenet_v2 file.
bad = dict(sd); del bad["features.5.conv.1.1.running_var"]
torch.save(bad, f"{out}/mnv2_missing.pth")
bad = dict(sd); bad["features.3.conv.2.weight"] = torch.zeros(24, 144, 3, 3)
torch.save(bad, f"{out}/mnv2_shape.pth")
bad = dict(sd); bad["features.19.weight"] = torch.zeros(3)
torch.save(bad, f"{out}/mnv2_extra.pth")

# ssd.pytorch's `vgg` ModuleList: torchvision's VGG16 features without pool5, pool3 in ceil
# mode, then pool5 (3x3 s1 p1), fc6 (dilated 3x3), ReLU, fc7 (1x1), ReLU.
feats = list(torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"]))[:30]
feats[16].ceil_mode = True
vgg = nn.ModuleList(feats + [
    nn.MaxPool2d(3, 1, 1),
    nn.Conv2d(512, 1024, 3, padding=6, dilation=6), nn.ReLU(),
    nn.Conv2d(1024, 1024, 1), nn.ReLU(),
])
with torch.no_grad():
    for mod in vgg:
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
            mod.bias.uniform_(-0.1, 0.1)
torch.save(vgg.state_dict(), f"{out}/vgg.pth", _use_new_zipfile_serialization=False)
x = torch.randn(1, 3, 300, 300)
meta["x300"] = raw("x300", x)
with torch.no_grad():
    y = x
    for i, mod in enumerate(vgg):
        y = mod(y)
        if i == 22:  # conv4_3 after its ReLU, through ssd.pytorch's L2Norm(20)
            conv4_3 = y / (y.pow(2).sum(1, keepdim=True).sqrt() + 1e-10) * 20
meta["vgg"] = [raw("vgg_0", conv4_3), raw("vgg_1", y)]
json.dump(meta, open(f"{out}/meta.json", "w"))
"#;

/// One short training epoch into the `--out` folder that follows.
const ONE_QUICK_EPOCH: [&str; 9] = [
    "--epochs",
    "1",
    "--batch",
    "4",
    "--no-augment",
    "--workers",
    "1",
    "--quiet",
    "--out",
];

include!("../../tests/support/venv.rs");

/// The fixture directory, written once per test run (under the target's tmp dir, replaced on
/// every run).
fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("finetune_backbone");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let python = venv_python();
        assert!(
            python.exists(),
            "{} missing: the venv with torch and torchvision (make deps-venv)",
            python.display()
        );
        let t = std::time::Instant::now();
        let o = Command::new(&python)
            .arg("-c")
            .arg(PY)
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "fixture script failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        println!("fixtures in {:.1} s", t.elapsed().as_secs_f64());
        dir
    })
}

fn meta() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("meta.json")).unwrap()).unwrap()
}

fn raw(name: &str, shape: &serde_json::Value) -> Tensor {
    let bytes = std::fs::read(fixtures().join(format!("{name}.bin"))).unwrap();
    let v: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let shape: Vec<i64> = shape
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_i64().unwrap())
        .collect();
    Tensor::from_slice(&v).view(shape.as_slice())
}

fn net(arch: &str) -> (nn::VarStore, SsdNet, NetSpec) {
    let spec = NetSpec::from_name(arch, 4).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let net = SsdNet::new(&vs.root(), &spec).unwrap();
    (vs, net, spec)
}

/// Loads `file` into `arch`, checks every copied tensor against the file and the counts,
/// then our first two source maps against torchvision's (hooks) on the same input.
fn loads_and_matches(arch: &str, file: &str, key: &str, input: &str, backbone_params: u64) {
    let (mut vs, net, spec) = net(arch);
    let path = fixtures().join(file);
    let report = load_backbone(&mut vs, &spec, &path).unwrap();
    println!("{report}");
    let sd = StateDict::read(&path).unwrap();
    let plan = backbone_parameters(&spec).unwrap();
    let vars = vs.variables();
    for (ours, key, shape) in &plan {
        let want = sd.get(key).unwrap();
        assert_eq!(&want.shape, shape);
        let got = Vec::<f32>::try_from(vars[ours].reshape([-1])).unwrap();
        assert!(got == want.data, "{arch}: `{ours}` differs from `{key}`");
    }
    assert_eq!(report.tensors, plan.len());
    assert_eq!(report.parameters, backbone_params, "{arch}");
    let used = plan.len()
        + sd.names()
            .filter(|n| n.starts_with("classifier.") || n.ends_with("num_batches_tracked"))
            .count();
    assert_eq!(report.ignored + report.tensors, used);
    assert_eq!(used, sd.len(), "{arch}: every file tensor is accounted for");
    assert_eq!(
        report.left_initialised,
        spec.parameters().len() - plan.len()
    );

    let m = meta();
    let x = raw(input, &m[input]);
    let feats = tch::no_grad(|| net.features(&x, false));
    for (i, f) in feats.iter().take(2).enumerate() {
        let want = raw(&format!("{key}_{i}"), &m[key][i]);
        assert_eq!(f.size(), want.size(), "{arch} source {i}");
        let scale = f64::try_from(want.abs().max()).unwrap().max(1.0);
        let diff = f64::try_from((f - &want).abs().max()).unwrap();
        println!(
            "{arch} source {i} {:?}: max |diff| {diff:.2e}, max |ref| {scale:.2}",
            f.size()
        );
        assert!(
            diff <= 1e-4 * scale,
            "{arch} source {i}: max |diff| {diff} against max |ref| {scale}"
        );
    }
}

#[test]
fn mobilenet_v3_large_loads_and_matches_torchvision() {
    // torchvision's 5,483,032 parameters less the classifier (960x1280 + 1280x1000 + biases).
    loads_and_matches(
        "tv-ssdlite320-mnv3-full",
        "mnv3.pth",
        "mnv3",
        "x320",
        5_483_032 - 1_230_080 - 1_281_000,
    );
}

#[test]
fn mobilenet_v2_loads_and_matches_torchvision() {
    // torchvision's 3,504,872 parameters less the classifier (1280x1000 + 1000).
    loads_and_matches(
        "tv-ssdlite320-mnv2",
        "mnv2.pth",
        "mnv2",
        "x320",
        3_504_872 - 1_281_000,
    );
}

#[test]
fn vgg16_reducedfc_loads_and_matches_pytorch() {
    // VGG16's 13 convs (14,714,688) + fc6 (512x1024x3x3 + 1024) + fc7 (1024x1024 + 1024).
    loads_and_matches(
        "vgg16",
        "vgg.pth",
        "vgg",
        "x300",
        14_714_688 + 4_719_616 + 1_049_600,
    );
}

fn load_err(arch: &str, file: &str) -> (BackboneError, String) {
    let (mut vs, _net, spec) = net(arch);
    let before: HashMap<String, Vec<f32>> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (k, Vec::<f32>::try_from(v.reshape([-1])).unwrap()))
        .collect();
    let e = load_backbone(&mut vs, &spec, &fixtures().join(file)).unwrap_err();
    // A refused file leaves the network untouched.
    for (k, v) in vs.variables() {
        assert!(
            Vec::<f32>::try_from(v.reshape([-1])).unwrap() == before[&k],
            "`{k}` changed by a failed load"
        );
    }
    let msg = e.to_string();
    println!("{arch} <- {file}: {msg}");
    (e, msg)
}

#[test]
fn wrong_files_are_clear_errors() {
    let (e, msg) = load_err("tv-ssdlite320-mnv3-full", "mnv2.pth");
    assert!(matches!(e, BackboneError::WrongFile { .. }), "{e:?}");
    assert!(
        msg.contains("mnv2.pth") && msg.contains("mobilenet_v2"),
        "{msg}"
    );
    assert!(msg.contains("mobilenet_v3_large"), "{msg}");
    let (e, msg) = load_err("tv-ssdlite320-mnv2", "vgg.pth");
    assert!(matches!(e, BackboneError::WrongFile { .. }), "{e:?}");
    assert!(msg.contains("vgg16_reducedfc"), "{msg}");
    let (e, _) = load_err("vgg16", "mnv3.pth");
    assert!(matches!(e, BackboneError::WrongFile { .. }), "{e:?}");

    let (e, msg) = load_err("tv-ssdlite320-mnv2", "mnv2_missing.pth");
    assert!(matches!(e, BackboneError::Missing { .. }), "{e:?}");
    assert!(
        msg.contains("mnv2_missing.pth") && msg.contains("`features.5.conv.1.1.running_var`"),
        "{msg}"
    );
    let (e, msg) = load_err("tv-ssdlite320-mnv2", "mnv2_shape.pth");
    assert!(matches!(e, BackboneError::Shape { .. }), "{e:?}");
    assert!(
        msg.contains("`features.3.conv.2.weight`")
            && msg.contains("[24, 144, 3, 3]")
            && msg.contains("[24, 144, 1, 1]"),
        "{msg}"
    );
    let (e, msg) = load_err("tv-ssdlite320-mnv2", "mnv2_extra.pth");
    assert!(matches!(e, BackboneError::Unexpected { .. }), "{e:?}");
    assert!(msg.contains("features.19.weight"), "{msg}");

    let (e, msg) = load_err("tiny", "mnv2.pth");
    assert!(matches!(e, BackboneError::Arch(_)), "{msg}");
    let (e, msg) = load_err("tv-ssdlite320-mnv2", "does-not-exist.pth");
    assert!(matches!(e, BackboneError::Read(_)), "{e:?}");
    assert!(msg.contains("does-not-exist.pth"), "{msg}");
}

fn ssd_train() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ssd-train"));
    c.env("RUST_LOG", "info");
    c
}

fn run_ok(c: &mut Command) -> String {
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    err
}

fn checkpoint(path: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap()
        .into_iter()
        .collect()
}

fn same(a: &Tensor, b: &Tensor) -> bool {
    a.size() == b.size() && a.to_kind(Kind::Float).equal(&b.to_kind(Kind::Float))
}

/// `--backbone-weights` with `--freeze-backbone-epochs 1`: after epoch 1 the backbone
/// (weights and BN statistics) is still the file's while the rest trained; after epoch 2
/// (resumed, unfrozen) it has moved.
#[test]
fn frozen_backbone_stays_fixed_then_trains() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let file = fixtures().join("mnv2.pth");
    let args = |epochs: &str| {
        let mut c = ssd_train();
        c.args([
            "train",
            "--arch",
            "tv-ssdlite320-mnv2",
            "--synth",
            "8",
            "--val-synth",
            "0",
            "--eval-every",
            "0",
            "--epochs",
            epochs,
            "--batch",
            "4",
            "--lr",
            "0.01",
            "--warmup",
            "0",
            "--normalize",
            "imagenet",
            "--no-augment",
            "--workers",
            "1",
            "--threads",
            "2",
            "--quiet",
            "--freeze-backbone-epochs",
            "1",
            "--backbone-weights",
        ])
        .arg(&file)
        .arg("--out")
        .arg(&out);
        c
    };
    let log = run_ok(&mut args("1"));
    assert!(
        log.contains("training on CPU (no CUDA)") || log.contains("training on CUDA"),
        "{log}"
    );
    assert!(
        log.contains("torchvision mobilenet_v2 backbone from"),
        "{log}"
    );
    assert!(log.contains("epoch 1: backbone frozen"), "{log}");

    let spec = NetSpec::from_name("tv-ssdlite320-mnv2", 4).unwrap();
    let plan = backbone_parameters(&spec).unwrap();
    let sd = StateDict::read(&file).unwrap();
    let from_file = |key: &str| {
        let t = sd.get(key).unwrap();
        let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
        Tensor::from_slice(&t.data).view(shape.as_slice())
    };
    let e1 = checkpoint(&out.join("last.safetensors"));
    for (ours, key, _) in &plan {
        assert!(
            same(&e1[ours], &from_file(key)),
            "`{ours}` changed while frozen"
        );
    }

    let mut c = args("2");
    c.arg("--resume");
    let log = run_ok(&mut c);
    assert!(log.contains("epoch 2: backbone unfrozen"), "{log}");
    let e2 = checkpoint(&out.join("last.safetensors"));
    let moved = |pred: &dyn Fn(&str) -> bool| {
        let names: Vec<&String> = e2.keys().filter(|k| pred(k)).collect();
        let changed = names.iter().filter(|k| !same(&e1[**k], &e2[**k])).count();
        (changed, names.len())
    };
    let is_backbone = |k: &str| plan.iter().any(|(o, _, _)| o == k);
    let (changed, n) = moved(&|k| is_backbone(k) && k.ends_with(".weight"));
    assert!(
        changed * 10 >= n * 9,
        "{changed} of {n} backbone weights moved in epoch 2"
    );
    let (changed, n) = moved(&|k| is_backbone(k) && k.ends_with("running_mean"));
    assert_eq!(changed, n, "BN statistics update once unfrozen");
    let (changed, n) = moved(&|k| k.starts_with("head.") && k.ends_with(".weight"));
    assert!(changed * 10 >= n * 9, "{changed} of {n} head weights moved");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("last.json")).unwrap()).unwrap();
    assert_eq!(state["epoch"], 2);
    assert_eq!(state["step"], 4);
}

/// `--freeze-backbone-epochs` with nothing to freeze from, and the wrong file through the
/// CLI, are errors before any training.
#[test]
fn cli_refuses_bad_fine_tuning_options() {
    let dir = tempfile::tempdir().unwrap();
    let base = |c: &mut Command| {
        c.args([
            "train",
            "--arch",
            "tv-ssdlite320-mnv2",
            "--synth",
            "4",
            "--val-synth",
            "0",
            "--epochs",
            "1",
            "--batch",
            "2",
            "--quiet",
            "--out",
        ])
        .arg(dir.path().join("run"));
    };
    let mut c = ssd_train();
    base(&mut c);
    c.args(["--freeze-backbone-epochs", "1"]);
    let o = c.output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--freeze-backbone-epochs needs --backbone-weights"),
        "{err}"
    );

    let mut c = ssd_train();
    base(&mut c);
    c.arg("--backbone-weights").arg(fixtures().join("mnv3.pth"));
    let o = c.output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("mnv3.pth") && err.contains("mobilenet_v3_large"),
        "{err}"
    );
}

/// A class subset of a VOC layout: other classes are dropped, labels follow the given order,
/// images without a chosen object are kept or skipped as asked; a class that never occurs
/// is an error. The CLI trains on the subset and records its classes.
#[test]
fn voc_class_subset() {
    use ssd_core::synth::SynthConfig;
    use ssd_train::data::synth_set::{write_voc, ImageFormat, Split};
    use ssd_train::data::{Dataset, VocDataset};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("voc");
    let cfg = SynthConfig::default();
    write_voc(
        &root,
        &cfg,
        16,
        3,
        Split {
            train: 0.75,
            val: 0.25,
        },
        ImageFormat::Jpeg,
    )
    .unwrap();
    let parts = [(root.clone(), "train".to_string())];
    let all_names: Vec<String> = ["person", "car", "bicycle"].map(String::from).to_vec();
    let all = VocDataset::open_many(&parts, &all_names).unwrap();
    let sub_names: Vec<String> = ["car", "person"].map(String::from).to_vec();
    // Strict opening still refuses other classes.
    assert!(VocDataset::open_many(&parts, &sub_names).is_err());
    let mut sub = VocDataset::open_subset(&parts, &sub_names).unwrap();
    assert_eq!(sub.len(), all.len());
    let mut dropped = 0;
    for i in 0..all.len() {
        let (ab, al, _) = all.annotations(i);
        let (sb, sl, _) = sub.annotations(i);
        let want: Vec<(_, usize)> = ab
            .iter()
            .zip(al)
            .filter_map(|(b, &l)| match l {
                1 => Some((*b, 0)),
                0 => Some((*b, 1)),
                _ => None,
            })
            .collect();
        dropped += al.iter().filter(|&&l| l == 2).count();
        let got: Vec<_> = sb.iter().copied().zip(sl.iter().copied()).collect();
        assert_eq!(got, want, "image {i}");
    }
    assert!(dropped > 0, "the scenes have bicycles to drop");
    assert_eq!(sub.stats().other_class_boxes, dropped);
    let per = all.boxes_per_class();
    assert_eq!(sub.boxes_per_class(), vec![per[1], per[0]]);
    let empty = sub.empty_images();
    assert_eq!(sub.skip_empty(), empty);
    assert_eq!(sub.len(), all.len() - empty);
    assert_eq!(sub.empty_images(), 0);
    assert!(VocDataset::open_subset(&parts, &["car".into(), "car".into()]).is_err());

    // A second root, as VOC2012 next to VOC2007: `--voc A,B` trains on both.
    let root2 = dir.path().join("voc2");
    let split2 = Split {
        train: 1.0,
        val: 0.0,
    };
    write_voc(&root2, &cfg, 4, 4, split2, ImageFormat::Png).unwrap();
    let out = dir.path().join("run");
    let train = |classes: &str| {
        let mut c = ssd_train();
        c.args(["train", "--arch", "tiny", "--voc"])
            .arg(format!("{},{}", root.display(), root2.display()))
            .args([
                "--split",
                "train",
                "--val-split",
                "val",
                "--classes",
                classes,
                "--skip-empty",
            ])
            .args(ONE_QUICK_EPOCH)
            .arg(&out);
        c
    };
    let log = run_ok(&mut train("car,person"));
    assert!(log.contains("boxes of other classes dropped"), "{log}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("last.json")).unwrap()).unwrap();
    assert_eq!(state["class_names"], serde_json::json!(["car", "person"]));
    assert_eq!(state["num_classes"], 3);
    let data = state["notes"]["dataset"].as_str().unwrap();
    assert!(
        data.contains(&format!("{}+{}", root.display(), root2.display())),
        "{data}"
    );
    let o = train("car,Person").output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no box of class \"Person\""), "{err}");
}

/// COCO: `skip_empty` drops images with no object of the chosen categories.
#[test]
fn coco_subset_skips_empty_images() {
    use ssd_train::data::{CocoDataset, Dataset};
    let dir = tempfile::tempdir().unwrap();
    let json = serde_json::json!({
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 100},
            {"id": 2, "file_name": "b.jpg", "width": 100, "height": 100},
            {"id": 3, "file_name": "c.jpg", "width": 100, "height": 100}
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 10, 20, 20]},
            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [10, 10, 20, 20]},
            {"id": 3, "image_id": 2, "category_id": 2, "bbox": [30, 30, 20, 20]}
        ],
        "categories": [
            {"id": 1, "name": "person"}, {"id": 2, "name": "bicycle"}, {"id": 3, "name": "car"}
        ]
    });
    let path = dir.path().join("instances.json");
    std::fs::write(&path, json.to_string()).unwrap();
    let names: Vec<String> = ["car", "person"].map(String::from).to_vec();
    let mut ds = CocoDataset::open(&path, dir.path(), Some(&names)).unwrap();
    assert_eq!(ds.len(), 3);
    assert_eq!(ds.boxes_per_class(), vec![1, 1]);
    assert_eq!(ds.stats().other_class_boxes, 1);
    assert_eq!(ds.empty_images(), 1);
    assert_eq!(ds.skip_empty(), 1);
    assert_eq!(ds.len(), 2);
    assert_eq!(ds.image_id(0), Some(1));
    assert_eq!(ds.image_id(1), Some(2));
}

/// `ssd-train train --coco` with a class subset, on synthetic scenes written as COCO.
#[test]
fn coco_cli_trains_on_a_subset() {
    use ssd_core::synth::{SynthConfig, CLASS_NAMES};
    use ssd_train::data::{Dataset, SynthDataset};
    let dir = tempfile::tempdir().unwrap();
    let cfg = SynthConfig::default();
    let (w, h) = (cfg.width as f32, cfg.height as f32);
    let scenes = SynthDataset::new(cfg, 11, 8);
    let (mut images, mut anns) = (Vec::new(), Vec::new());
    for i in 0..scenes.len() {
        let s = scenes.get(i).unwrap();
        let file = format!("{i}.png");
        s.image.save(dir.path().join(&file)).unwrap();
        images.push(serde_json::json!({"id": i, "file_name": file,
            "width": s.image.width(), "height": s.image.height()}));
        for (b, &l) in s.boxes.iter().zip(&s.labels) {
            let bbox = [b[0] * w, b[1] * h, (b[2] - b[0]) * w, (b[3] - b[1]) * h];
            anns.push(serde_json::json!({"id": anns.len() + 1, "image_id": i,
                "category_id": l + 1, "bbox": bbox}));
        }
    }
    let cats: Vec<_> = CLASS_NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| serde_json::json!({"id": i + 1, "name": n}))
        .collect();
    let json = dir.path().join("instances.json");
    let doc = serde_json::json!({"images": images, "annotations": anns, "categories": cats});
    std::fs::write(&json, doc.to_string()).unwrap();
    let out = dir.path().join("run");
    let mut c = ssd_train();
    c.args(["train", "--arch", "tiny", "--coco"])
        .arg(&json)
        .arg("--coco-images")
        .arg(dir.path())
        .arg("--val-coco")
        .arg(&json)
        .arg("--val-coco-images")
        .arg(dir.path())
        .args(["--classes", "bicycle,person"])
        .args(ONE_QUICK_EPOCH)
        .arg(&out);
    let log = run_ok(&mut c);
    assert!(log.contains("boxes of other classes dropped"), "{log}");
    assert!(log.contains("mAP"), "validation ran: {log}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("last.json")).unwrap()).unwrap();
    assert_eq!(
        state["class_names"],
        serde_json::json!(["bicycle", "person"])
    );
}
