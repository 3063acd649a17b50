//! ssd.pytorch state dicts (converted to safetensors) load into the VGG16 network by name.

use std::collections::HashMap;

use ssd_train::net::{load_weights, NetSpec, SsdNet};
use tch::{nn, Device, Kind, Tensor};

/// Writes a state dict under ssd.pytorch's names and shapes, built independently of the
/// VarStore (from the layer list in ssd.pytorch's `vgg`, `add_extras` and `multibox`).
fn write_ssd_pytorch_state(path: &std::path::Path, classes: i64) -> HashMap<String, Tensor> {
    let mut t: Vec<(String, Tensor)> = Vec::new();
    let mut conv = |name: String, cin: i64, cout: i64, k: i64| {
        t.push((
            format!("{name}.weight"),
            Tensor::randn([cout, cin, k, k], (Kind::Float, Device::Cpu)),
        ));
        t.push((
            format!("{name}.bias"),
            Tensor::randn([cout], (Kind::Float, Device::Cpu)),
        ));
    };
    let cfg = [
        64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512,
    ];
    let (mut idx, mut cin) = (0, 3);
    for c in cfg {
        if c == 0 {
            idx += 1;
        } else {
            conv(format!("vgg.{idx}"), cin, c, 3);
            cin = c;
            idx += 2;
        }
    }
    conv("vgg.31".into(), 512, 1024, 3);
    conv("vgg.33".into(), 1024, 1024, 1);
    let extras = [
        (1024, 256, 1),
        (256, 512, 3),
        (512, 128, 1),
        (128, 256, 3),
        (256, 128, 1),
        (128, 256, 3),
        (256, 128, 1),
        (128, 256, 3),
    ];
    for (i, (a, b, k)) in extras.iter().enumerate() {
        conv(format!("extras.{i}"), *a, *b, *k);
    }
    for (i, (c, k)) in [(512, 4), (1024, 6), (512, 6), (256, 6), (256, 4), (256, 4)]
        .iter()
        .enumerate()
    {
        conv(format!("loc.{i}"), *c, k * 4, 3);
        conv(format!("conf.{i}"), *c, k * classes, 3);
    }
    t.push((
        "L2Norm.weight".into(),
        Tensor::randn([512], (Kind::Float, Device::Cpu)),
    ));
    Tensor::write_safetensors(&t, path).unwrap();
    t.into_iter().collect()
}

#[test]
fn loads_ssd_pytorch_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ssd300_voc.safetensors");
    let state = write_ssd_pytorch_state(&path, 21);
    let spec = NetSpec::from_name("vgg16", 21).unwrap();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let _net = SsdNet::new(&vs.root(), &spec).unwrap();
    load_weights(&mut vs, &path).unwrap();
    let vars = vs.variables();
    assert_eq!(vars.len(), state.len());
    for (name, want) in &state {
        let got = &vars[name];
        assert_eq!(got.size(), want.size(), "{name}");
        let diff = f64::try_from((got - want).abs().max()).unwrap();
        assert_eq!(diff, 0.0, "{name}");
    }
}

#[test]
fn wrong_state_dicts_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("voc.safetensors");
    write_ssd_pytorch_state(&path, 21);
    // 21-class weights into an 81-class network: shape error naming the tensor.
    let spec = NetSpec::from_name("vgg16", 81).unwrap();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let _net = SsdNet::new(&vs.root(), &spec).unwrap();
    let err = load_weights(&mut vs, &path).unwrap_err().to_string();
    assert!(
        err.contains("`conf.0.") && err.contains("voc.safetensors"),
        "{err}"
    );
    // A tiny network's names are not in the file.
    let spec = NetSpec::from_name("tiny", 21).unwrap();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let _net = SsdNet::new(&vs.root(), &spec).unwrap();
    let err = load_weights(&mut vs, &path).unwrap_err().to_string();
    assert!(err.contains("missing"), "{err}");
    // Not a safetensors file at all.
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"PK\x03\x04 this is a zip, not safetensors").unwrap();
    let err = load_weights(&mut vs, &junk).unwrap_err().to_string();
    assert!(err.contains("junk.safetensors"), "{err}");
}
