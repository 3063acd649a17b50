//! `ssd-edge import` on PyTorch `.pth` files, through the board binary (no libtorch in it):
//! the trainer's reference script (`train/tests/import_reference.py`, run with the venv's
//! Python) saves torchvision's SSDLite320 with seeded random weights as the public file is
//! saved and writes torchvision's own detections; the imported model must find the same ones
//! (same class, score within 1e-5, box within 0.01 px, matched as sets as in the trainer's
//! `import_reference` test, which checks all three architectures). Files it must refuse
//! (truncated, not a `torch.save` file, another family's) are clear errors with a non-zero
//! exit and no model written.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde::Deserialize;
use ssd_edge::frame::Frame;
use ssd_edge::model::Detector;
use ssd_edge::ssd::Detections;

const SCORE_TOL: f32 = 1e-5;
const BOX_TOL_PX: f32 = 0.01;

const TV: [&str; 4] = [
    "--from",
    "torchvision",
    "--arch",
    "ssdlite320_mobilenet_v3_large",
];

#[derive(Deserialize)]
struct Reference {
    input_size: u32,
    num_classes: usize,
    images: Vec<RefImage>,
}

#[derive(Deserialize)]
struct RefImage {
    file: String,
    detections: Vec<RefDet>,
}

#[derive(Deserialize, Clone, Copy, Debug)]
struct RefDet {
    label: u16,
    score: f32,
    #[serde(rename = "box")]
    bbox: [f32; 4],
}

// The venv's Python (with torch and torchvision).
include!("support/venv.rs");

/// The reference folder (weights.pth, img_0.png, reference.json), made once per test run.
fn reference() -> &'static (tempfile::TempDir, Reference) {
    static REF: OnceLock<(tempfile::TempDir, Reference)> = OnceLock::new();
    REF.get_or_init(|| {
        let python = venv_python();
        assert!(
            python.exists(),
            "{} missing: `make setup` creates the venv with torch and torchvision",
            python.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("train/tests/import_reference.py");
        let out = Command::new(&python)
            .arg(&script)
            .args([
                "--arch",
                "torchvision-ssdlite320",
                "--seed",
                "3",
                "--images",
                "1",
            ])
            .arg("--out")
            .arg(dir.path())
            .output()
            .expect("run the venv's python");
        assert!(
            out.status.success(),
            "reference script failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(dir.path().join("reference.json")).unwrap();
        let r = serde_json::from_str(&text).unwrap();
        (dir, r)
    })
}

fn import(args: &[&str], weights: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ssd-edge"))
        .arg("import")
        .args(args)
        .arg("--weights")
        .arg(weights)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn imported_ssdlite320_finds_torchvisions_detections() {
    let (refdir, r) = reference();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.onnx");
    let o = import(&TV, &refdir.path().join("weights.pth"), &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let mut det = Detector::load(&out, None).unwrap();
    let meta = det.meta().clone();
    assert_eq!(meta.architecture, "tv-ssdlite320-mnv3");
    assert_eq!(meta.labels.len(), r.num_classes);
    assert_eq!(meta.labels[1], "person");
    assert_eq!(
        (meta.input.width, meta.input.height),
        (r.input_size, r.input_size)
    );
    assert_eq!(meta.priors.num_priors(), Some(3234));
    let cmd = meta.provenance.command.as_deref().unwrap_or("");
    assert!(
        cmd.starts_with("ssd-edge import --from torchvision"),
        "{cmd}"
    );

    // Every candidate the reference keeps: its own score threshold and cap.
    det.set_score_threshold(meta.nms.score_threshold);
    let keep = meta.nms.keep_top_k;
    for img in &r.images {
        let rgb = ssd_edge::image::still::read_rgb(&refdir.path().join(&img.file))
            .unwrap()
            .image;
        let (w, h) = (rgb.width() as f32, rgb.height() as f32);
        let mut found = Detections::new();
        det.detect(&Frame::rgb(&rgb, 0), &mut found).unwrap();
        let ours: Vec<RefDet> = found
            .iter()
            .map(|d| RefDet {
                label: d.class_id,
                score: d.score,
                bbox: [d.bbox[0] * w, d.bbox[1] * h, d.bbox[2] * w, d.bbox[3] * h],
            })
            .collect();
        let theirs: Vec<RefDet> = img.detections.iter().take(keep).copied().collect();
        assert!(
            theirs.len() > 20,
            "{}: only {} reference detections; the check needs a crowd",
            img.file,
            theirs.len()
        );
        compare(&img.file, &ours, &theirs);
    }
}

fn same(a: &RefDet, b: &RefDet) -> bool {
    a.label == b.label
        && (a.score - b.score).abs() <= SCORE_TOL
        && a.bbox
            .iter()
            .zip(&b.bbox)
            .all(|(x, y)| (x - y).abs() <= BOX_TOL_PX)
}

/// Matches detections as sets; only those tied (within 1e-6) with the last kept reference
/// detection, the cut of `detections_per_img`, may be missing from one side.
fn compare(file: &str, ours: &[RefDet], theirs: &[RefDet]) {
    let cut = theirs.last().map_or(0.0, |d| d.score);
    let mut used = vec![false; ours.len()];
    let mut missing = Vec::new();
    for t in theirs {
        match (0..ours.len()).find(|&i| !used[i] && same(&ours[i], t)) {
            Some(i) => used[i] = true,
            None if (t.score - cut).abs() <= 1e-6 => {}
            None => missing.push(*t),
        }
    }
    let extra: Vec<&RefDet> = ours
        .iter()
        .zip(&used)
        .filter(|(d, u)| !**u && (d.score - cut).abs() > 1e-6)
        .map(|(d, _)| d)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{file}: {} reference detections not found by ssd-edge (first {:?}), {} of ours not in the reference (first {:?}); {} vs {} detections",
        missing.len(),
        missing.first(),
        extra.len(),
        extra.first(),
        ours.len(),
        theirs.len()
    );
}

/// Asserts a clean failure whose message holds every one of `needles`, and that nothing was
/// written into `dir` (neither the model nor a temporary file).
fn refused(o: &Output, dir: &Path, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
    let written: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains(".onnx"))
        .collect();
    assert!(
        written.is_empty(),
        "a refused import wrote {written:?}: {err}"
    );
}

#[test]
fn truncated_and_foreign_files_are_clear_errors_and_write_nothing() {
    let (refdir, _) = reference();
    let good = refdir.path().join("weights.pth");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.onnx");

    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.pth");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    refused(
        &import(&TV, &cut, &out),
        dir.path(),
        &["cut.pth", "truncated"],
    );

    // A foreign file: the reference's own PNG image, named as weights.
    let png = dir.path().join("image.pth");
    std::fs::copy(refdir.path().join("img_0.png"), &png).unwrap();
    refused(
        &import(&TV, &png, &out),
        dir.path(),
        &["image.pth", "not a torch.save file"],
    );

    // The other family's file.
    refused(
        &import(&["--from", "ssd.pytorch"], &good, &out),
        dir.path(),
        &[
            "weights.pth",
            "not a state dict of ssd.pytorch",
            "--from torchvision",
        ],
    );
    refused(
        &import(&["--from", "torchvision"], &good, &out),
        dir.path(),
        &["needs --arch"],
    );
}
