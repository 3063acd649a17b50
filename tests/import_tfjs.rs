//! The real COCO SSDLite (coco-ssd's TF.js graph) imported natively and checked against TF.js
//! itself, run under node by tests/support/tfjs_reference.py on real stills and a frame of
//! real footage: the board's TF1 resize + normalisation against the graph's pre-processor,
//! raw box codes and logits against the graph's, and the detections after ssd-edge's decode
//! + NMS against coco-ssd's own `detect` as sets.
//!
//! Needs `make deps-real deps-node deps-venv` (the Makefile's test targets run them). The
//! files are found through SSD_EDGE_COCO_TFJS, SSD_EDGE_REAL_DATA, SSD_EDGE_VTEST; a missing
//! one fails the test unless SSD_EDGE_SKIP_REAL=1 says the real parts are knowingly absent.

mod support;

use ssd_edge::frame::{Frame, PixelFormat};
use ssd_edge::image::preprocess::Preprocessor;
use ssd_edge::import::tfjs::{self, TfjsOptions};
use ssd_edge::model::Detector;
use ssd_edge::ssd::Detections;
use std::path::{Path, PathBuf};
use std::process::Command;
use tract_onnx::prelude::*;

fn real(var: &str, default: &str) -> Option<PathBuf> {
    let p = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(default));
    if p.exists() {
        return Some(p);
    }
    if std::env::var("SSD_EDGE_SKIP_REAL").as_deref() == Ok("1") {
        eprintln!("SKIPPED: {} missing and SSD_EDGE_SKIP_REAL=1", p.display());
        return None;
    }
    panic!(
        "{} ({var}) is missing: run `make deps-real deps-node deps-venv`, or set SSD_EDGE_SKIP_REAL=1 to skip the real-model checks knowingly",
        p.display()
    );
}

fn coco_model() -> Option<PathBuf> {
    real(
        "SSD_EDGE_COCO_TFJS",
        ".cache/ssd-edge/real/coco/package/models/coco-ssd/model.json",
    )
}

fn labels() -> Vec<String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/coco-labels.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn python() -> PathBuf {
    let venv = std::env::var_os("VIRTUAL_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/ssd-edge/venv")
        });
    venv.join("bin/python")
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// A binary PPM (P6, maxval 255) as the reference wrote it.
fn read_ppm(path: &Path) -> (u32, u32, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&bytes[start..at]).to_string());
    }
    assert_eq!(fields[0], "P6");
    let (w, h): (u32, u32) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let data = bytes[at + 1..].to_vec();
    assert_eq!(data.len(), (w * h * 3) as usize);
    (w, h, data)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The reference outputs, made once per test run into a temporary folder.
fn reference(dir: &Path, model: &Path) -> Vec<String> {
    let data = real(
        "SSD_EDGE_REAL_DATA",
        ".cache/ssd-edge/real/opencv-doc/usr/share/doc/opencv-doc/examples/data",
    )
    .unwrap();
    let vtest = real(
        "SSD_EDGE_VTEST",
        ".cache/ssd-edge/real/opencv-doc/usr/share/doc/opencv-doc/examples/data/vtest.avi",
    )
    .unwrap();
    let inputs = [
        data.join("messi5.jpg").display().to_string(),
        data.join("basketball1.png").display().to_string(),
        data.join("licenseplate_motion.jpg").display().to_string(),
        format!("{}#100", vtest.display()),
        format!("{}#400", vtest.display()),
    ];
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/tfjs_reference.py");
    let out = Command::new(python())
        .arg(script)
        .arg("--out")
        .arg(dir)
        .arg("--model")
        .arg(model)
        .args(["--max-boxes", "100", "--min-score", "0.5"])
        .args(&inputs)
        .output()
        .expect("running the TF.js reference");
    assert!(
        out.status.success(),
        "TF.js reference failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    vec![
        "messi5".into(),
        "basketball1".into(),
        "licenseplate_motion".into(),
        "vtest_f100".into(),
        "vtest_f400".into(),
    ]
}

#[test]
fn coco_ssdlite_matches_tfjs_on_real_images() {
    let Some(model) = coco_model() else { return };
    let opts = TfjsOptions {
        labels: Some(labels()),
        ..Default::default()
    };
    let imported = tfjs::import(&model, &opts).expect("import");
    assert_eq!(imported.meta.labels.len(), 91);
    let tmp = tempfile::tempdir().unwrap();
    let stems = reference(tmp.path(), &model);

    // The graph's anchor constant is what the decoder uses.
    let mut det = Detector::from_bytes(&imported.onnx, None).expect("load the imported model");
    let anchors = read_f32(&tmp.path().join("anchors.f32"));
    let priors = det.meta().priors.generate().unwrap();
    assert_eq!(priors.len(), 1917);
    for (p, a) in priors.iter().zip(anchors.chunks_exact(4)) {
        let want = [
            (a[1] + a[3]) / 2.0,
            (a[0] + a[2]) / 2.0,
            a[3] - a[1],
            a[2] - a[0],
        ];
        assert!(max_diff(p, &want) < 1e-6, "{p:?} vs {want:?}");
    }

    let plan = tract_onnx::onnx()
        .model_for_read(&mut &imported.onnx[..])
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let mut worst = (0f32, 0f32, 0f32);
    for stem in &stems {
        let at = |k: &str| tmp.path().join(format!("{stem}.{k}.f32"));
        // Pre-processing: TF1 bilinear resize and x*2/255-1, in the board's one pass.
        let (w, h, rgb) = read_ppm(&tmp.path().join(format!("{stem}.ppm")));
        let frame = Frame {
            data: &rgb,
            format: PixelFormat::Rgb24,
            width: w,
            height: h,
            timestamp_us: 0,
        };
        let mut pre = Preprocessor::new(&det.meta().input);
        let mut chw = vec![0f32; pre.output_len()];
        pre.run(&frame, &mut chw).unwrap();
        let nhwc = read_f32(&at("preprocessed"));
        let hw = 300 * 300;
        let ours: Vec<f32> = (0..hw * 3).map(|i| chw[(i % 3) * hw + i / 3]).collect();
        let d_pre = max_diff(&ours, &nhwc);
        assert!(d_pre < 1e-4, "{stem}: preprocessing differs by {d_pre}");

        // Raw outputs on the graph's own input tensor.
        let input: Vec<f32> = (0..hw * 3).map(|i| nhwc[(i % hw) * 3 + i / hw]).collect();
        let t = tract_ndarray::Array4::from_shape_vec((1, 3, 300, 300), input).unwrap();
        let out = plan.run(tvec!(Tensor::from(t).into())).unwrap();
        let loc = out[0]
            .try_as_plain_ram()
            .unwrap()
            .as_slice::<f32>()
            .unwrap();
        let conf = out[1]
            .try_as_plain_ram()
            .unwrap()
            .as_slice::<f32>()
            .unwrap();
        let d_loc = max_diff(loc, &read_f32(&at("box_encodings")));
        let d_conf = max_diff(conf, &read_f32(&at("class_logits")));
        assert!(
            d_loc < 1e-4 && d_conf < 1e-4,
            "{stem}: raw outputs differ by {d_loc} (boxes), {d_conf} (logits)"
        );
        worst = (worst.0.max(d_pre), worst.1.max(d_loc), worst.2.max(d_conf));

        // Detections: ours at coco-ssd's defaults against its detect(), as sets.
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(tmp.path().join(format!("{stem}.json"))).unwrap(),
        )
        .unwrap();
        let want = json["detections_coco_ssd"].as_array().unwrap();
        let mut got = Detections::new();
        det.detect(&frame, &mut got).unwrap();
        assert_eq!(got.len(), want.len(), "{stem}: {got:?}\nvs {want:?}");
        for r in want {
            let b: Vec<f32> = r["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let corners = [b[0], b[1], b[0] + b[2], b[1] + b[3]];
            let score = r["score"].as_f64().unwrap() as f32;
            let class = r["class"].as_str().unwrap();
            let hit = got.iter().find(|d| {
                let px = [
                    d.bbox[0] * w as f32,
                    d.bbox[1] * h as f32,
                    d.bbox[2] * w as f32,
                    d.bbox[3] * h as f32,
                ];
                det.meta().label(d.class_id as usize) == class
                    && (d.score - score).abs() < 1e-4
                    && max_diff(&px, &corners) < 0.5
            });
            assert!(
                hit.is_some(),
                "{stem}: coco-ssd's {class} {score} {corners:?} not found in {got:?}"
            );
        }
    }
    eprintln!(
        "max abs difference to TF.js over {} images: preprocessed {:.2e}, box codes {:.2e}, logits {:.2e}",
        stems.len(),
        worst.0,
        worst.1,
        worst.2
    );
}

#[test]
fn foreign_and_broken_models_are_refused_with_the_problem_named() {
    let Some(model) = coco_model() else { return };
    let src = model.parent().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let copy = |json: &str| {
        std::fs::write(tmp.path().join("model.json"), json).unwrap();
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            if e.file_name() != "model.json" {
                std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
            }
        }
        tmp.path().join("model.json")
    };
    let text = std::fs::read_to_string(&model).unwrap();
    let opts = TfjsOptions::default();

    // An op the importer does not know, inside the network: named with its node.
    let bad = text.replacen("\"op\": \"Relu6\"", "\"op\": \"Elu\"", 1);
    let bad = if bad == text {
        text.replacen("\"op\":\"Relu6\"", "\"op\":\"Elu\"", 1)
    } else {
        bad
    };
    assert_ne!(bad, text, "no Relu6 op found to replace");
    let err = tfjs::import(&copy(&bad), &opts).unwrap_err().to_string();
    assert!(
        err.contains("unsupported op `Elu` at node `FeatureExtractor/"),
        "{err}"
    );

    // A truncated shard: the manifest needs more bytes than there are.
    let p = copy(&text);
    let shard = tmp.path().join("group1-shard5of5");
    let len = std::fs::metadata(&shard).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&shard)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    let err = tfjs::import(&p, &opts).unwrap_err().to_string();
    assert!(err.contains("weight shards end at byte"), "{err}");

    // A missing shard, a file that is not JSON, JSON that is not a graph model.
    std::fs::remove_file(&shard).unwrap();
    let err = tfjs::import(&p, &opts).unwrap_err().to_string();
    assert!(err.contains("group1-shard5of5"), "{err}");
    let err = tfjs::import(&copy("\u{89}PNG garbage"), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not a TF.js graph model: invalid JSON"),
        "{err}"
    );
    let err = tfjs::import(&copy("{\"format\": \"layers-model\"}"), &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a TF.js graph model"), "{err}");

    // Wrong label count.
    let opts = TfjsOptions {
        labels: Some(vec!["background".into(), "person".into()]),
        ..Default::default()
    };
    let err = tfjs::import(&model, &opts).unwrap_err().to_string();
    assert!(err.contains("2 labels given, the model has 91"), "{err}");
}
