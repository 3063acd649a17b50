//! The quantizer on a model made by `ssd-train`'s own export (tiny network, random weights):
//! the int8 model loads in the board's `Detector`, runs integer kernels, keeps the board
//! metadata, and detects like the float model on a calibration image.

use ssd_core::frame::Frame;
use ssd_core::ssd::Detections;
use ssd_model::model::{Detector, InputSpec};
use ssd_train::export::{export, meta_for};
use ssd_train::net::{NetSpec, SsdNet};
use ssd_train::quant::{self, fixtures, QuantizeOptions};
use std::time::Duration;
use tch::{nn, Device};

#[test]
fn exported_tiny_ssd_quantizes_and_loads_in_detector() {
    tch::manual_seed(3);
    let spec = NetSpec::from_name("tiny", 4).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let _net = SsdNet::new(&vs.root(), &spec).unwrap();
    let size = spec.priors.image_size;
    let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let meta = meta_for(
        &spec,
        &names,
        InputSpec::imagenet_rgb(size),
        Default::default(),
    );
    let dir = tempfile::tempdir().unwrap();
    let float = dir.path().join("tiny.onnx");
    export(&spec, &vs, &meta, &float).unwrap();
    fixtures::write_calib_images(&dir.path().join("calib"), 4, size).unwrap();

    let mut opts = QuantizeOptions::new(
        &float,
        dir.path().join("calib"),
        dir.path().join("tiny-int8.onnx"),
    );
    opts.layer_budget = Duration::from_millis(5);
    opts.model_budget = Duration::from_millis(50);
    opts.compare_images = 2;
    let report = quant::quantize(&opts).unwrap();
    assert!(report.rewrite.qlinear_convs >= 5, "{:?}", report.rewrite);
    assert_eq!(
        report.census.int_matmuls, report.rewrite.qlinear_convs,
        "{:?}",
        report.census
    );
    assert_eq!(report.census.float_matmuls, 0, "{:?}", report.census);

    let mut fdet = Detector::load(&float, None).unwrap();
    let mut qdet = Detector::load(&opts.out, None).unwrap();
    assert_eq!(qdet.meta(), fdet.meta(), "board metadata changed");

    let img = image::open(dir.path().join("calib/0000.png"))
        .unwrap()
        .to_rgb8();
    let frame = Frame::rgb(&img, 0);
    let (mut fd, mut qd) = (Detections::new(), Detections::new());
    fdet.detect(&frame, &mut fd).unwrap();
    qdet.detect(&frame, &mut qd).unwrap();
    // Random weights: compare the best detection when the float model finds one.
    if let (Some(f), Some(q)) = (fd.first(), qd.first()) {
        assert!((f.score - q.score).abs() < 0.1, "{f:?} vs {q:?}");
    }
    assert!(
        report.accuracy.scores.max_abs < 0.1,
        "{:?}",
        report.accuracy.scores
    );
}
