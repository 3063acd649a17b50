//! The TFLite importer against LiteRT: the real MediaPipe Objectron SSD (and its 3-D box
//! models) converted to ONNX, run by tract, compared with `ai_edge_litert`'s interpreter on
//! identical input tensors; plus the refusals (truncated, foreign, unsupported).
//!
//! The LiteRT reference runs in Python (tests/support/tflite_reference.py) with the
//! interpreter named by SSD_EDGE_REF_PYTHON, else $VIRTUAL_ENV/bin/python, else
//! ~/.cache/ssd-edge/venv/bin/python; it needs `ai-edge-litert` and `numpy`. The real model
//! is SSD_EDGE_OBJECTRON (default ~/.cache/ssd-edge/real/objectron/package/
//! objectron_solution_packed_assets.data); a missing model fails the tests unless
//! SSD_EDGE_SKIP_REAL=1.

use std::path::{Path, PathBuf};
use std::process::Command;

use ssd_edge::import::tflite::{self, ConvertOptions, OutputMode, TfliteError};
use tract_onnx::prelude::*;

/// Box encodings and logits must match LiteRT's to this (max abs).
const TOL: f32 = 1e-4;

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
}

fn real_dir() -> PathBuf {
    home().join(".cache/ssd-edge/real")
}

fn skip_real() -> bool {
    std::env::var("SSD_EDGE_SKIP_REAL").is_ok_and(|v| v == "1")
}

/// The packed-assets file, or None when it is missing and SSD_EDGE_SKIP_REAL=1.
fn objectron() -> Option<PathBuf> {
    let p = std::env::var_os("SSD_EDGE_OBJECTRON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            real_dir().join("objectron/package/objectron_solution_packed_assets.data")
        });
    if p.is_file() {
        return Some(p);
    }
    if skip_real() {
        eprintln!(
            "SKIPPED: {} is missing and SSD_EDGE_SKIP_REAL=1",
            p.display()
        );
        return None;
    }
    panic!(
        "the real Objectron model {} is missing: fetch it (make real-models) or set \
         SSD_EDGE_OBJECTRON, or SSD_EDGE_SKIP_REAL=1 to skip",
        p.display()
    );
}

fn ref_python() -> PathBuf {
    if let Some(p) = std::env::var_os("SSD_EDGE_REF_PYTHON") {
        return PathBuf::from(p);
    }
    if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
        let p = Path::new(&v).join("bin/python");
        if p.exists() {
            return p;
        }
    }
    home().join(".cache/ssd-edge/venv/bin/python")
}

fn reference_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/tflite_reference.py")
}

fn python(args: &[&std::ffi::OsStr]) {
    let py = ref_python();
    let out = Command::new(&py)
        .arg(reference_script())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
    assert!(
        out.status.success(),
        "tflite_reference.py failed with {} (does {} have ai-edge-litert and numpy? set \
         SSD_EDGE_REF_PYTHON):\n{}",
        out.status,
        py.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_npy(path: &Path, shape: &[usize], data: &[f32]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(data.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// An image resized to w x h, as NHWC floats x/127.5-1 (MediaPipe's SSD normalisation).
fn nhwc(img: &image::DynamicImage, w: u32, h: u32) -> Vec<f32> {
    let rgb = image::imageops::resize(&img.to_rgb8(), w, h, image::imageops::FilterType::Triangle);
    rgb.as_raw()
        .iter()
        .map(|&v| v as f32 / 127.5 - 1.0)
        .collect()
}

fn to_nchw(x: &[f32], h: usize, w: usize, c: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for y in 0..h {
        for xx in 0..w {
            for ch in 0..c {
                out[ch * h * w + y * w + xx] = x[(y * w + xx) * c + ch];
            }
        }
    }
    out
}

/// Runs the converted ONNX in tract on one NHWC input; returns each output's values.
fn run_tract(onnx: &[u8], x_nhwc: &[f32], h: usize, w: usize, c: usize) -> Vec<Vec<f32>> {
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &onnx[..])
        .expect("tract reads the converted ONNX")
        .into_optimized()
        .expect("tract optimises it")
        .into_runnable()
        .expect("tract plans it");
    let input = Tensor::from_shape(&[1, c, h, w], &to_nchw(x_nhwc, h, w, c)).unwrap();
    plan.run(tvec!(input.into()))
        .expect("tract runs it")
        .iter()
        .map(|t| {
            t.try_as_plain_ram()
                .and_then(|v| v.as_slice::<f32>())
                .unwrap()
                .to_vec()
        })
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "output sizes differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(
            0.0f32,
            |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) },
        )
}

/// The test stills: two OpenCV sample images and, where ffmpeg is there, a vtest.avi frame.
fn stills(dir: &Path) -> Vec<(String, image::DynamicImage)> {
    let data = real_dir().join("opencv-doc/usr/share/doc/opencv-doc/examples/data");
    let mut out = Vec::new();
    for name in ["messi5.jpg", "basketball1.png"] {
        let p = data.join(name);
        match image::open(&p) {
            Ok(img) => out.push((name.to_string(), img)),
            Err(e) if skip_real() => eprintln!("SKIPPED image {}: {e}", p.display()),
            Err(e) => panic!(
                "test image {}: {e} (SSD_EDGE_SKIP_REAL=1 to skip)",
                p.display()
            ),
        }
    }
    let avi = data.join("vtest.avi");
    let png = dir.join("vtest_frame.png");
    let extracted = avi.is_file()
        && Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-ss", "4", "-i"])
            .arg(&avi)
            .args(["-frames:v", "1"])
            .arg(&png)
            .status()
            .is_ok_and(|s| s.success());
    match extracted.then(|| image::open(&png)) {
        Some(Ok(img)) => out.push(("vtest.avi@4s".to_string(), img)),
        _ => eprintln!("note: no vtest.avi frame (ffmpeg or the file is missing)"),
    }
    assert!(
        !out.is_empty(),
        "no test image found under {}",
        data.display()
    );
    out
}

/// An image's name and, per output, (max abs difference, max abs reference value).
type ImageDiffs = (String, Vec<(f32, f32)>);

/// Converts `tflite_bytes`, runs it in tract and LiteRT on each still, and returns per image
/// and output the max abs difference and the max abs reference value.
fn compare_with_litert(
    tflite_bytes: &[u8],
    opts: &ConvertOptions,
) -> (tflite::Converted, Vec<ImageDiffs>) {
    let model = tflite::parse(tflite_bytes).expect("parses");
    let conv = tflite::to_onnx(&model, opts).expect("converts");
    let (h, w) = conv.input_hw;
    let c = conv.input_channels;
    let dir = tempfile::tempdir().unwrap();
    let model_path = dir.path().join("model.tflite");
    std::fs::write(&model_path, tflite_bytes).unwrap();
    let imgs = stills(dir.path());
    let mut inputs = Vec::new();
    let mut args: Vec<std::ffi::OsString> = vec![
        "run".into(),
        model_path.into(),
        dir.path().join("ref").into(),
    ];
    for (i, (_, img)) in imgs.iter().enumerate() {
        let x = nhwc(img, w as u32, h as u32);
        let p = dir.path().join(format!("in{i}.npy"));
        write_npy(&p, &[1, h, w, c], &x);
        args.push(p.into());
        inputs.push(x);
    }
    python(&args.iter().map(|a| a.as_os_str()).collect::<Vec<_>>());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("ref/manifest.json")).unwrap())
            .unwrap();
    let ref_names: Vec<String> = manifest["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();
    let mut diffs = Vec::new();
    for (i, ((img_name, _), x)) in imgs.iter().zip(&inputs).enumerate() {
        let ours = run_tract(&conv.onnx, x, h, w, c);
        let mut d = Vec::new();
        for (k, out) in conv.outputs.iter().enumerate() {
            let j = ref_names
                .iter()
                .position(|n| *n == out.tflite_name)
                .unwrap_or_else(|| panic!("LiteRT has no output `{}`", out.tflite_name));
            let want = read_f32(&dir.path().join(format!("ref/in{i}.{j}.f32")));
            let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            d.push((max_abs_diff(&ours[k], &want), scale));
        }
        eprintln!(
            "{img_name}: (max abs diff, max abs value) per output {:?} = {d:?}",
            conv.outputs.iter().map(|o| &o.name).collect::<Vec<_>>()
        );
        diffs.push((img_name.clone(), d));
    }
    (conv, diffs)
}

#[test]
fn objectron_ssd_matches_litert_on_real_images() {
    let Some(path) = objectron() else { return };
    let bytes = std::fs::read(&path).unwrap();
    let (labels, model) = tflite::split_packed_assets(&bytes).expect("splits the packed assets");
    assert_eq!(labels.len(), 24, "{labels:?}");
    assert_eq!(
        (&*labels[0], &*labels[1], &*labels[4], &*labels[23]),
        ("???", "Bicycle", "Person", "Car")
    );
    assert_eq!(model.len(), 9_987_728);

    let (conv, diffs) = compare_with_litert(model, &ConvertOptions::default());
    assert_eq!(conv.input_hw, (300, 300));
    assert_eq!(conv.num_priors, Some(1917));
    assert_eq!(conv.num_classes, Some(24));
    assert_eq!(
        conv.conf_activation, None,
        "Objectron's class output is raw logits"
    );
    assert!(conv.post_process.is_none());
    let names: Vec<_> = conv
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), o.shape.clone()))
        .collect();
    assert_eq!(
        names,
        [("loc", vec![1, 1917, 4]), ("conf", vec![1, 1917, 24])]
    );
    assert_eq!(conv.outputs[0].tflite_name, "raw_outputs/box_encodings");
    assert_eq!(conv.outputs[1].tflite_name, "raw_outputs/class_predictions");
    for (img, d) in &diffs {
        assert!(
            d.iter().all(|&(v, _)| v <= TOL),
            "{img}: max abs diffs {d:?} exceed {TOL}"
        );
    }
}

#[test]
fn objectron_3d_box_models_match_litert() {
    // MEAN, FULLY_CONNECTED and LOGISTIC, which the SSD does not use.
    let Some(path) = objectron() else { return };
    let p = path.with_file_name("object_detection_3d_chair.tflite");
    if !p.is_file() {
        assert!(skip_real(), "{} is missing", p.display());
        return;
    }
    let bytes = std::fs::read(&p).unwrap();
    let opts = ConvertOptions {
        outputs: OutputMode::AsIs,
        ..Default::default()
    };
    let (conv, diffs) = compare_with_litert(&bytes, &opts);
    assert!(
        conv.ops.iter().any(|o| o == "FULLY_CONNECTED"),
        "{:?}",
        conv.ops
    );
    // Keypoints in pixels (up to ~224): float32 summation order alone moves them by a few
    // 1e-6 relative, so the bound scales with the values.
    for (img, d) in &diffs {
        assert!(
            d.iter().all(|&(v, scale)| v <= TOL + 2e-6 * scale),
            "{img}: (max abs diff, max abs value) {d:?} exceed {TOL} + 2e-6 * value"
        );
    }
}

#[test]
fn detection_postprocess_stops_the_graph_and_returns_anchors_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pp.tflite");
    python(&[std::ffi::OsStr::new("make-postprocess"), path.as_os_str()]);
    let bytes = std::fs::read(&path).unwrap();
    let model = tflite::parse(&bytes).unwrap();
    let conv = tflite::to_onnx(&model, &ConvertOptions::default()).unwrap();
    assert_eq!((conv.num_priors, conv.num_classes), (Some(16), Some(3)));
    assert_eq!(conv.conf_activation.as_deref(), Some("LOGISTIC"));
    let pp = conv.post_process.clone().expect("post-process found");
    assert_eq!(pp.anchors.len(), 16);
    for (i, a) in pp.anchors.iter().enumerate() {
        // Python computes in f64 and stores f32.
        let want = [
            0.125 + 0.25 * (i / 4) as f64,
            0.125 + 0.25 * (i % 4) as f64,
            0.25 + 0.01 * i as f64,
            0.5,
        ]
        .map(|v| v as f32);
        assert_eq!(*a, want, "anchor {i}");
    }
    let o = &pp.options;
    assert_eq!(
        (o.y_scale, o.x_scale, o.h_scale, o.w_scale),
        (10.0, 10.0, 5.0, 5.0)
    );
    assert_eq!((o.nms_score_threshold, o.nms_iou_threshold), (0.3, 0.6));
    assert_eq!((o.max_detections, o.max_classes_per_detection), (10, 1));
    assert_eq!(
        (o.detections_per_class, o.num_classes, o.use_regular_nms),
        (100, 2, false)
    );

    // The graph up to the op's inputs computes what LiteRT computes for them.
    let x: Vec<f32> = (0..48)
        .map(|i| ((i * 37) % 23) as f32 / 11.0 - 1.0)
        .collect();
    let inp = dir.path().join("x.npy");
    write_npy(&inp, &[1, 4, 4, 3], &x);
    let out = dir.path().join("ref");
    python(&[
        "run".as_ref(),
        path.as_os_str(),
        out.as_os_str(),
        inp.as_os_str(),
        "--tensor".as_ref(),
        "raw_outputs/box_encodings".as_ref(),
        "--tensor".as_ref(),
        "raw_outputs/class_predictions".as_ref(),
    ]);
    let ours = run_tract(&conv.onnx, &x, 4, 4, 3);
    let d0 = max_abs_diff(&ours[0], &read_f32(&out.join("x.t0.f32")));
    let d1 = max_abs_diff(&ours[1], &read_f32(&out.join("x.t1.f32")));
    assert!(d0 <= 1e-5 && d1 <= 1e-5, "{d0} {d1}");

    // Without the SSD view the custom op is an unsupported operator, named with its node.
    let err = tflite::to_onnx(
        &model,
        &ConvertOptions {
            outputs: OutputMode::AsIs,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, TfliteError::UnsupportedOp { op, node, .. }
            if op == "TFLite_Detection_PostProcess" && node == "TFLite_Detection_PostProcess"),
        "{err}"
    );
}

#[test]
fn truncated_and_foreign_files_are_errors() {
    let Some(path) = objectron() else { return };
    let bytes = std::fs::read(&path).unwrap();
    let (_, model) = tflite::split_packed_assets(&bytes).unwrap();
    // Cut inside the header, the tables, the weights and just before the end.
    for cut in [0, 7, 8, 100, 4096, model.len() / 2, model.len() - 1] {
        let r = tflite::parse(&model[..cut])
            .and_then(|m| tflite::to_onnx(&m, &ConvertOptions::default()).map(|_| ()));
        let e = r.expect_err(&format!("a model cut at {cut} bytes must be refused"));
        assert!(
            matches!(e, TfliteError::Malformed(_) | TfliteError::NotTflite(_)),
            "cut {cut}: {e}"
        );
    }
    // The packed-assets file itself (label map in front) is not a flatbuffer.
    let e = tflite::parse(&bytes).unwrap_err();
    assert!(e.to_string().contains("split_packed_assets"), "{e}");
    // A bare .tflite has no label map.
    let e = tflite::split_packed_assets(model).unwrap_err();
    assert!(matches!(e, TfliteError::PackedAssets(_)), "{e}");

    let data = real_dir().join("opencv-doc/usr/share/doc/opencv-doc/examples/data");
    if let Ok(png) = std::fs::read(data.join("basketball1.png")) {
        let e = tflite::parse(&png).unwrap_err();
        assert!(e.to_string().contains("PNG"), "{e}");
    }
    let onnx = tflite::to_onnx(&tflite::parse(model).unwrap(), &ConvertOptions::default())
        .unwrap()
        .onnx;
    let e = tflite::parse(&onnx).unwrap_err();
    assert!(
        matches!(e, TfliteError::NotTflite(_)) && e.to_string().contains("ONNX"),
        "{e}"
    );
}

/// The imported Objectron SSD with its metadata (`--anchors mediapipe-ssd300`): ssd-edge's
/// decode + NMS against MediaPipe's documented post-processing of LiteRT's raw outputs
/// (re-implemented in tests/support/tflite_reference.py), as sets, on the same input tensors.
#[test]
fn objectron_detections_match_mediapipe_postprocessing() {
    let Some(path) = objectron() else { return };
    let bytes = std::fs::read(&path).unwrap();
    let (labels, model) = tflite::split_packed_assets(&bytes).unwrap();
    let imported = tflite::import_ssd(
        model,
        &tflite::SsdOptions {
            labels: Some(labels),
            anchors: Some(ssd_edge::ssd::SsdAnchors::ssd_mobilenet_300()),
            ..Default::default()
        },
    )
    .expect("imports");
    let mut det = ssd_edge::model::Detector::from_bytes(&imported.onnx, None).expect("loads");
    let dir = tempfile::tempdir().unwrap();
    let model_path = dir.path().join("model.tflite");
    std::fs::write(&model_path, model).unwrap();
    let imgs = stills(dir.path());
    let mut args: Vec<std::ffi::OsString> = vec![
        "detect".into(),
        model_path.into(),
        dir.path().join("ref.json").into(),
    ];
    let mut inputs = Vec::new();
    for (i, (_, img)) in imgs.iter().enumerate() {
        let x = nhwc(img, 300, 300);
        let p = dir.path().join(format!("in{i}.npy"));
        write_npy(&p, &[1, 300, 300, 3], &x);
        args.push(p.into());
        inputs.push(x);
    }
    python(&args.iter().map(|a| a.as_os_str()).collect::<Vec<_>>());
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("ref.json")).unwrap()).unwrap();
    let mut compared = 0;
    for (i, x) in inputs.iter().enumerate() {
        let want = reference[format!("in{i}")].as_array().unwrap();
        let mut got = ssd_edge::ssd::Detections::new();
        det.detect_tensor(&to_nchw(x, 300, 300, 3), &mut got)
            .unwrap();
        assert_eq!(got.len(), want.len(), "image {i}: {got:?}\nvs {want:?}");
        for r in want {
            let class = r["class"].as_u64().unwrap() as u16;
            let score = r["score"].as_f64().unwrap() as f32;
            let b: Vec<f32> = r["box"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let hit = got.iter().any(|d| {
                d.class_id == class
                    && (d.score - score).abs() < 1e-4
                    && d.bbox
                        .iter()
                        .zip(&b)
                        .all(|(p, q)| (p - q).abs() * 300.0 < 0.5)
            });
            assert!(
                hit,
                "image {i}: MediaPipe's class {class} {score} {b:?} not in {got:?}"
            );
            compared += 1;
        }
    }
    eprintln!(
        "{compared} detections equal to MediaPipe's post-processing over {} images",
        inputs.len()
    );
    assert!(
        compared > 0,
        "no detection to compare: the check proves nothing"
    );
}
