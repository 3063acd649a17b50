//! The runtime detector on a real ONNX model run by tract (tests/support builds it).

mod support;

use ssd_edge::frame::{Frame, PixelFormat};
use ssd_edge::model::onnx_builder::Dim;
use ssd_edge::model::{Detector, MetaOrigin, ModelError};
use ssd_edge::ssd::Detections;
use support::*;

fn frame(img: &image::RgbImage) -> Frame<'_> {
    Frame::rgb(img, 0)
}

fn to_px(b: [f32; 4], w: u32, h: u32) -> [f32; 4] {
    [
        b[0] * w as f32,
        b[1] * h as f32,
        b[2] * w as f32,
        b[3] * h as f32,
    ]
}

#[test]
fn red_square_in_a_cell_is_detected_at_that_cells_prior() {
    let mut det = Detector::from_bytes(&tiny_model_bytes(), None).unwrap();
    assert_eq!(det.meta_origin(), &MetaOrigin::Embedded);
    let img = image_with(300, 300, &[(200, 100, 300, 200, [255, 0, 0])]);
    let mut out = Detections::new();
    det.detect(&frame(&img), &mut out).unwrap();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].class_id, 1);
    assert!(out[0].score > 0.999, "{}", out[0].score);
    assert_box_near(
        &to_px(out[0].bbox, 300, 300),
        &cell_box(1, 2, 300, 300),
        0.01,
    );
}

#[test]
fn other_sizes_and_bgr_frames_map_back_to_the_frame() {
    let mut det = Detector::from_bytes(&tiny_model_bytes(), None).unwrap();
    // 640x480: cell (2, 0) covers x 0..213, y 320..480.
    let img = image_with(640, 480, &[(0, 320, 213, 480, [0, 255, 0])]);
    let bgr: Vec<u8> = img
        .as_raw()
        .chunks(3)
        .flat_map(|p| [p[2], p[1], p[0]])
        .collect();
    let mut out = Detections::new();
    for f in [
        frame(&img),
        Frame {
            data: &bgr,
            format: PixelFormat::Bgr24,
            width: 640,
            height: 480,
            timestamp_us: 1,
        },
    ] {
        det.detect(&f, &mut out).unwrap();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].class_id, 2);
        assert_box_near(
            &to_px(out[0].bbox, 640, 480),
            &cell_box(2, 0, 640, 480),
            0.05,
        );
    }
}

#[test]
fn results_are_sorted_and_repeatable_across_frames() {
    let mut det = Detector::from_bytes(&tiny_model_bytes(), None).unwrap();
    // Full red, and a dim green (score ~0.73), and an empty frame in between.
    let busy = image_with(
        300,
        300,
        &[
            (0, 0, 100, 100, [255, 0, 0]),
            (100, 200, 200, 300, [0, 77, 0]),
        ],
    );
    let empty = image_with(300, 300, &[]);
    let mut first = Detections::new();
    let mut out = Detections::new();
    det.detect(&frame(&busy), &mut first).unwrap();
    assert_eq!(
        first.iter().map(|d| d.class_id).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(first[0].score > first[1].score);
    assert!((first[1].score - 0.7337).abs() < 0.01, "{}", first[1].score);
    det.detect(&frame(&empty), &mut out).unwrap();
    assert!(out.is_empty(), "{out:?}");
    det.detect(&frame(&busy), &mut out).unwrap();
    assert_eq!(out, first);

    det.set_score_threshold(0.9);
    det.detect(&frame(&busy), &mut out).unwrap();
    assert_eq!(out.len(), 1);
    // Every frame wrote into the one input tensor allocated at load.
    assert_eq!(det.input_reallocations(), 0);
}

#[test]
fn detect_tensor_takes_a_prepared_input() {
    let mut det = Detector::from_bytes(&tiny_model_bytes(), None).unwrap();
    let mut input = vec![0.5f32; 3 * 300 * 300];
    // Red (channel 0 = R) in cell (0, 1); G and B stay 0 there.
    for c in 0..3 {
        for y in 0..100 {
            for x in 100..200 {
                input[c * 90000 + y * 300 + x] = if c == 0 { 1.0 } else { 0.0 };
            }
        }
    }
    let mut out = Detections::new();
    det.detect_tensor(&input, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_box_near(
        &to_px(out[0].bbox, 300, 300),
        &cell_box(0, 1, 300, 300),
        0.01,
    );
    assert!(det.detect_tensor(&input[1..], &mut out).is_err());
}

#[test]
fn load_from_path_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let path = Tiny::default().write(dir.path(), "tiny.onnx");
    let det = Detector::load(&path, None).unwrap();
    let s = det.summary();
    assert_eq!(s.nodes, 7);
    assert_eq!(s.ops["Conv"], 2);
    assert_eq!(s.ops["Transpose"], 2);
    // 18 + 6 + 24 + 8 weights plus two reshape shapes of 3 values.
    assert_eq!(s.parameters, 18 + 6 + 24 + 8 + 6);
    assert_eq!(s.parameters_by_type["float"], 56);
    assert_eq!(
        (s.loc_output.as_str(), s.conf_output.as_str()),
        ("loc", "conf")
    );
    assert_eq!(s.input, "image");
    assert!(s.optimized_nodes > 0);
    assert_eq!(det.origin(), path.display().to_string());
}

#[test]
fn sidecar_describes_a_model_without_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let bare = Tiny {
        meta: None,
        names: ("boxes", "scores"),
        ..Default::default()
    }
    .write(dir.path(), "bare.onnx");
    let err = Detector::load(&bare, None).unwrap_err();
    assert!(matches!(err, ModelError::NoMetadata { .. }), "{err}");
    assert!(
        err.to_string().contains("bare.onnx") && err.to_string().contains("sidecar"),
        "{err}"
    );

    // Without output names the outputs are found by shape.
    let mut meta = tiny_meta();
    meta.outputs = Default::default();
    let sidecar = dir.path().join("bare.toml");
    std::fs::write(&sidecar, meta.to_toml_string()).unwrap();
    let mut det = Detector::load(&bare, Some(&sidecar)).unwrap();
    assert_eq!(det.meta_origin(), &MetaOrigin::Sidecar(sidecar.clone()));
    assert_eq!(det.summary().loc_output, "boxes");
    let img = image_with(300, 300, &[(0, 0, 100, 100, [255, 0, 0])]);
    let mut out = Detections::new();
    det.detect(&frame(&img), &mut out).unwrap();
    assert_eq!(out.len(), 1);
}

#[test]
fn sidecar_overrides_embedded_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let model = Tiny::default().write(dir.path(), "m.onnx");
    let mut meta = tiny_meta();
    meta.labels = vec!["bg".into(), "rouge".into(), "vert".into()];
    let sidecar = dir.path().join("m.toml");
    std::fs::write(&sidecar, meta.to_toml_string()).unwrap();
    let det = Detector::load(&model, Some(&sidecar)).unwrap();
    assert_eq!(det.meta().labels[1], "rouge");
}

#[test]
fn extra_outputs_are_ignored_when_loc_and_conf_are_identified() {
    let mut meta = tiny_meta();
    meta.outputs = Default::default();
    let bytes = Tiny {
        meta: Some(meta),
        extra_output: true,
        ..Default::default()
    }
    .build();
    let mut det = Detector::from_bytes(&bytes, None).unwrap();
    let img = image_with(300, 300, &[(0, 0, 100, 100, [255, 0, 0])]);
    let mut out = Detections::new();
    det.detect(&frame(&img), &mut out).unwrap();
    assert_eq!(out.len(), 1);
}

fn load_err(bytes: &[u8]) -> ModelError {
    Detector::from_bytes(bytes, None).expect_err("load must fail")
}

#[test]
fn missing_model_file() {
    let err = Detector::load(std::path::Path::new("/nonexistent/m.onnx"), None).unwrap_err();
    assert!(matches!(err, ModelError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/m.onnx"));
}

#[test]
fn truncated_models_are_rejected_at_every_cut() {
    let bytes = tiny_model_bytes();
    // Every cut must give a typed error, whichever check catches it.
    for cut in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
        let err = load_err(&bytes[..cut]);
        let msg = err.to_string();
        assert!(msg.contains("<embedded model>"), "cut {cut}: {msg}");
    }
    let err = load_err(&bytes[..bytes.len() / 2]);
    assert!(
        matches!(err, ModelError::Corrupt { .. } | ModelError::NotOnnx { .. }),
        "{err}"
    );
}

#[test]
fn non_onnx_bytes_are_rejected() {
    for junk in [&b""[..], b"hello, this is a text file\n", &[0xff; 64]] {
        let err = load_err(junk);
        assert!(
            matches!(err, ModelError::Corrupt { .. } | ModelError::NotOnnx { .. }),
            "{junk:?}: {err}"
        );
    }
}

#[test]
fn wrong_input_rank_or_size_is_foreign() {
    let rank3 = Tiny {
        input_dims: [1, 3, 300].map(Dim::Fixed).to_vec(),
        ..Default::default()
    };
    let err = load_err(&rank3.build());
    assert!(matches!(err, ModelError::Foreign { .. }), "{err}");
    assert!(err.to_string().contains("rank 3"), "{err}");

    let small = Tiny {
        input_dims: [1, 3, 200, 200].map(Dim::Fixed).to_vec(),
        ..Default::default()
    };
    let err = load_err(&small.build());
    assert!(matches!(err, ModelError::Foreign { .. }), "{err}");
    assert!(err.to_string().contains("1x3x200x200"), "{err}");

    // A symbolic batch dimension is fine: we fix it to 1.
    let sym = Tiny {
        input_dims: vec![Dim::Param("N".into()), 3.into(), 300.into(), 300.into()],
        ..Default::default()
    };
    Detector::from_bytes(&sym.build(), None).unwrap();
}

#[test]
fn outputs_that_are_not_ssd_shaped_are_foreign() {
    let mut meta = tiny_meta();
    meta.labels.push("blue".into()); // 4 classes: conf [1,18,3] no longer fits
    meta.outputs = Default::default();
    let err = load_err(
        &Tiny {
            meta: Some(meta),
            ..Default::default()
        }
        .build(),
    );
    assert!(matches!(err, ModelError::Foreign { .. }), "{err}");
    assert!(
        err.to_string().contains("[1,P,4]") || err.to_string().contains("[1,P,4"),
        "{err}"
    );

    let mut meta = tiny_meta();
    meta.outputs.loc = Some("nope".into());
    let err = load_err(
        &Tiny {
            meta: Some(meta),
            ..Default::default()
        }
        .build(),
    );
    assert!(err.to_string().contains("`nope`"), "{err}");
}

#[test]
fn label_count_mismatch_with_named_outputs() {
    let mut meta = tiny_meta();
    meta.labels.push("blue".into());
    let err = load_err(
        &Tiny {
            meta: Some(meta),
            ..Default::default()
        }
        .build(),
    );
    assert!(err.to_string().contains("expected [1,P,4]"), "{err}");
}

#[test]
fn prior_count_mismatch() {
    let mut meta = tiny_meta();
    meta.priors.grid_mut().unwrap().feature_maps = vec![4]; // 32 priors, the model predicts 18
    let err = load_err(
        &Tiny {
            meta: Some(meta),
            ..Default::default()
        }
        .build(),
    );
    assert!(
        matches!(
            err,
            ModelError::PriorMismatch {
                model: 18,
                priors: 32,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn future_schema_version_is_a_clear_error() {
    let mut props = tiny_meta().to_metadata_props();
    for (k, v) in props.iter_mut() {
        if k == "ssd_edge.schema_version" {
            *v = "99".into();
        }
    }
    let err = ssd_edge::model::ModelMeta::from_metadata_props(&props).unwrap_err();
    assert!(
        err.to_string().contains("99") && err.to_string().contains("upgrade"),
        "{err}"
    );
    let err = load_err(
        &Tiny {
            props: Some(props),
            ..Default::default()
        }
        .build(),
    );
    assert!(matches!(err, ModelError::Metadata { .. }), "{err}");
    assert!(err.to_string().contains("version 99"), "{err}");
}

#[test]
fn metadata_round_trips_and_bad_values_name_their_key() {
    let meta = tiny_meta();
    let props = meta.to_metadata_props();
    assert!(props.iter().all(|(k, _)| k.starts_with("ssd_edge.")));
    assert_eq!(
        ssd_edge::model::ModelMeta::from_metadata_props(&props).unwrap(),
        meta
    );
    assert_eq!(
        ssd_edge::model::ModelMeta::from_toml_str(&meta.to_toml_string()).unwrap(),
        meta
    );

    let mut bad = props.clone();
    for (k, v) in bad.iter_mut() {
        if k == "ssd_edge.labels" {
            *v = "[\"background\", 3]".into();
        }
    }
    let err = load_err(
        &Tiny {
            props: Some(bad),
            ..Default::default()
        }
        .build(),
    );
    assert!(err.to_string().contains("ssd_edge.labels"), "{err}");

    let missing: Vec<_> = props
        .into_iter()
        .filter(|(k, _)| k != "ssd_edge.priors")
        .collect();
    let err = load_err(
        &Tiny {
            props: Some(missing),
            ..Default::default()
        }
        .build(),
    );
    assert!(err.to_string().contains("ssd_edge.priors"), "{err}");
}

#[test]
fn bad_sidecars_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = Tiny {
        meta: None,
        ..Default::default()
    }
    .write(dir.path(), "bare.onnx");
    let sidecar = dir.path().join("bad.toml");
    let good = tiny_meta().to_toml_string();
    // A syntax error on line 3.
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(2, "labels = [\"background\", ");
    std::fs::write(&sidecar, lines.join("\n")).unwrap();
    let err = Detector::load(&model, Some(&sidecar)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::Sidecar { .. }), "{msg}");
    assert!(msg.contains("bad.toml") && msg.contains("line"), "{msg}");

    std::fs::write(
        &sidecar,
        good.replace(
            &format!("schema_version = {}", ssd_edge::model::meta::SCHEMA_VERSION),
            "schema_version = 7",
        ),
    )
    .unwrap();
    let msg = Detector::load(&model, Some(&sidecar))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("version 7"), "{msg}");

    let missing = dir.path().join("missing.toml");
    let msg = Detector::load(&model, Some(&missing))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("missing.toml"), "{msg}");
}
