//! `ssd-train import` on files it must refuse, through the real binary: each is a clear error
//! naming the file and the problem, with a non-zero exit, never a panic or a model that
//! silently detects nothing. And the happy path end to end: the written model loads in the
//! board's runtime with the importer's metadata.

mod support;
use support::venv_python;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn python(code: &str) {
    let out = Command::new(venv_python())
        .args(["-c", code])
        .output()
        .expect("run the venv's python");
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// torchvision's SSDLite state dict (seeded random weights), the smallest importable file.
fn ssdlite_weights(dir: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/import_reference.py");
    let out = Command::new(venv_python())
        .arg(script)
        .args([
            "--arch",
            "torchvision-ssdlite320",
            "--seed",
            "5",
            "--images",
            "1",
        ])
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("weights.pth")
}

fn import(args: &[&str], weights: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ssd-train"))
        .arg("import")
        .args(args)
        .arg("--weights")
        .arg(weights)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// Asserts a clean failure whose message holds every one of `needles`.
fn refused(o: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}

const TV: [&str; 4] = [
    "--from",
    "torchvision",
    "--arch",
    "ssdlite320_mobilenet_v3_large",
];

#[test]
fn bad_files_and_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = ssdlite_weights(dir.path());
    let out = dir.path().join("m.onnx");
    let edit = |name: &str, code: &str| -> PathBuf {
        let p = dir.path().join(name);
        python(&format!(
            "import torch; sd = torch.load({:?}, map_location='cpu'); {code}; torch.save(sd, {:?})",
            good.display().to_string(),
            p.display().to_string()
        ));
        p
    };

    // The other family's file.
    refused(
        &import(&["--from", "ssd.pytorch"], &good, &out),
        &[
            "weights.pth",
            "conf.0.weight",
            "not a state dict of ssd.pytorch",
            "--from torchvision",
        ],
    );
    // A tensor missing, one with the wrong shape, one too many.
    let key = "backbone.features.0.4.block.2.fc1.weight";
    let missing = edit("missing.pth", &format!("del sd['{key}']"));
    refused(
        &import(&TV, &missing, &out),
        &["missing.pth", key, "missing"],
    );
    let shape = edit(
        "shape.pth",
        &format!("sd['{key}'] = torch.zeros(24, 72, 3, 3)"),
    );
    refused(
        &import(&TV, &shape, &out),
        &["shape.pth", key, "[24, 72, 3, 3]", "[24, 72, 1, 1]"],
    );
    let extra = edit("extra.pth", "sd['classifier.0.weight'] = torch.zeros(3)");
    refused(
        &import(&TV, &extra, &out),
        &["extra.pth", "classifier.0.weight", "does not have"],
    );
    // Not a state dict at all, and a cut one.
    let text = dir.path().join("text.pth");
    std::fs::write(&text, b"this is not a pickle").unwrap();
    refused(&import(&TV, &text, &out), &["text.pth"]);
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.pth");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    refused(&import(&TV, &cut, &out), &["cut.pth"]);
    // Arguments.
    refused(
        &import(&["--from", "torchvision"], &good, &out),
        &["needs --arch"],
    );
    refused(
        &import(&["--from", "caffe"], &good, &out),
        &["unknown --from `caffe`"],
    );
    let labels = dir.path().join("labels.txt");
    std::fs::write(&labels, "background\nperson\n").unwrap();
    let mut with_labels = TV.to_vec();
    with_labels.extend(["--labels", labels.to_str().unwrap()]);
    refused(
        &import(&with_labels, &good, &out),
        &["2 labels given for a 91-class model"],
    );
    assert!(!out.exists(), "a refused import must not write a model");

    // DataParallel's `module.` prefix imports like the plain file, and the model loads with
    // the importer's metadata.
    let prefixed = edit(
        "module.pth",
        "sd = {'module.' + k: v for k, v in sd.items()}",
    );
    let o = import(&TV, &prefixed, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let det = ssd_model::model::Detector::load(&out, None).unwrap();
    let m = det.meta();
    assert_eq!(m.architecture, "tv-ssdlite320-mnv3");
    assert_eq!(m.labels.len(), 91);
    assert_eq!(m.labels[1], "person");
    assert_eq!((m.input.width, m.input.height), (320, 320));
    assert_eq!(m.priors.num_priors(), Some(3234));
    assert!(m.decode.clip && m.decode.max_log_scale.is_some());
    assert_eq!(m.schema_version, 2);
    let prov = m.provenance.notes.as_deref().unwrap_or("");
    assert!(prov.contains("module.pth"), "{prov}");

    // Ready for `ssd-train quantize`: the int8 model keeps the importer's metadata.
    let int8 = dir.path().join("m-int8.onnx");
    let calib = dir.path().join("calib");
    std::fs::create_dir(&calib).unwrap();
    std::fs::copy(dir.path().join("img_0.png"), calib.join("img_0.png")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ssd-train"))
        .args([
            "quantize",
            "--max-images",
            "1",
            "--compare-images",
            "1",
            "--model",
        ])
        .arg(&out)
        .arg("--calib")
        .arg(&calib)
        .arg("--out")
        .arg(&int8)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let q = ssd_model::model::Detector::load(&int8, None).unwrap();
    assert_eq!(q.meta().decode, m.decode);
    assert_eq!(q.meta().priors, m.priors);
    assert_eq!(q.meta().labels, m.labels);
}
