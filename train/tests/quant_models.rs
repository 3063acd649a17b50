//! Quantizes small float models built in the test and checks what tract makes of the result:
//! integer kernels, outputs close to float (with an error bound from the scales), metadata kept,
//! the per-layer choice.

use prost::Message;
use ssd_train::quant::rewrite::WeightScale;
use ssd_train::quant::select::WeightScaleMode;
use ssd_train::quant::{self, fixtures, inspect::KernelCensus, onnx_io, QuantizeOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

fn setup(
    name: &str,
    model: &ModelProto,
    size: u32,
    images: usize,
) -> (tempfile::TempDir, QuantizeOptions) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join(format!("{name}.onnx"));
    std::fs::write(&src, model.encode_to_vec()).unwrap();
    fixtures::write_calib_images(&dir.path().join("calib"), images, size).unwrap();
    let mut opts = QuantizeOptions::new(
        &src,
        dir.path().join("calib"),
        dir.path().join(format!("{name}-int8.onnx")),
    );
    opts.layer_budget = Duration::from_millis(5);
    opts.model_budget = Duration::from_millis(20);
    opts.compare_images = 4;
    (dir, opts)
}

fn load(path: &Path) -> ModelProto {
    onnx_io::load_model(path).unwrap()
}

fn census(model: &ModelProto, size: usize) -> KernelCensus {
    KernelCensus::of(&quant::inspect::optimised(model, &[1, 3, size, size]).unwrap())
}

fn run(model: &ModelProto, input: &Tensor) -> Vec<Vec<f32>> {
    let plan = tract_onnx::onnx()
        .model_for_proto_model(model)
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    plan.run(tvec!(input.clone().into()))
        .unwrap()
        .iter()
        .map(|t| {
            t.try_as_plain_ram()
                .unwrap()
                .as_slice::<f32>()
                .unwrap()
                .to_vec()
        })
        .collect()
}

fn init_f32(model: &ModelProto, name: &str) -> Vec<f32> {
    let t = model
        .graph
        .as_ref()
        .unwrap()
        .initializer
        .iter()
        .find(|t| t.name == name)
        .unwrap();
    onnx_io::f32_values(t).unwrap()
}

fn first_input(opts: &QuantizeOptions, model: &ModelProto) -> Tensor {
    let info = quant::ModelInfo::from_model(model).unwrap();
    let img = quant::calibrate::list_images(&opts.calib, 1).unwrap();
    quant::calibrate::load_input(&img[0], &info.input).unwrap()
}

fn op_count(model: &ModelProto, op: &str) -> usize {
    model
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .filter(|n| n.op_type == op)
        .count()
}

/// One conv, every output element within the bound its quantization steps allow:
/// |w~x~ - wx| <= sum(|w| sx/2 + |x| sw/2 + sx sw/4) + sx sw/2 (bias rounding) + sy (output
/// rounding, half a step, plus half a step for tract's fixed-point requantization).
fn single_conv_error_within_bound(weights: WeightScaleMode, scales: usize) {
    let model = fixtures::single_conv();
    let (_dir, mut opts) = setup("single", &model, 16, 4);
    opts.weight_scale = weights;
    let report = quant::quantize(&opts).unwrap();
    assert_eq!(report.rewrite.qlinear_convs, 1);
    let q = load(&opts.out);
    let sx = init_f32(&q, "image_q8_scale")[0];
    let sy = init_f32(&q, "conf_q8_scale")[0];
    let sw = init_f32(&q, "conv_w_scale");
    let w = init_f32(&model, "conv.weight");
    assert_eq!(sw.len(), scales);
    let sw: Vec<f32> = (0..8).map(|o| sw[o % scales]).collect();

    let x = first_input(&opts, &model);
    let xs = x
        .try_as_plain_ram()
        .unwrap()
        .as_slice::<f32>()
        .unwrap()
        .to_vec();
    let yf = &run(&model, &x)[0];
    let yq = &run(&q, &x)[0];
    let mut worst = 0f32;
    for o in 0..8 {
        for i in 0..16i64 {
            for j in 0..16i64 {
                let mut bound = sx * sw[o] / 2.0 + sy;
                for c in 0..3 {
                    for ky in 0..3i64 {
                        for kx in 0..3i64 {
                            let (yy, xx) = (i + ky - 1, j + kx - 1);
                            let xv = if (0..16).contains(&yy) && (0..16).contains(&xx) {
                                xs[(c * 256 + yy * 16 + xx) as usize]
                            } else {
                                0.0
                            };
                            let wv = w[o * 27 + c as usize * 9 + (ky * 3 + kx) as usize];
                            bound +=
                                wv.abs() * sx / 2.0 + xv.abs() * sw[o] / 2.0 + sx * sw[o] / 4.0;
                        }
                    }
                }
                let ix = o * 256 + (i * 16 + j) as usize;
                let err = (yq[ix] - yf[ix]).abs();
                assert!(
                    err <= bound + 1e-5,
                    "element {ix}: error {err} > bound {bound}"
                );
                worst = worst.max(err / bound);
            }
        }
    }
    // The bound is not vacuous: the error uses a real part of it somewhere.
    assert!(worst > 0.01, "worst error/bound ratio {worst}");
}

#[test]
fn single_conv_error_within_bound_from_scales() {
    single_conv_error_within_bound(WeightScaleMode::Channel, 8);
}

#[test]
fn single_conv_per_tensor_weights_error_within_bound_from_scales() {
    single_conv_error_within_bound(WeightScaleMode::Tensor, 1);
}

/// Ops of the optimised tract model named `name` (e.g. "Scale", "Reduce<Sum>").
fn tract_ops(model: &ModelProto, size: usize, name: &str) -> usize {
    let m = quant::inspect::optimised(model, &[1, 3, size, size]).unwrap();
    m.nodes().iter().filter(|n| n.op().name() == name).count()
}

/// What the weight scaling does in tract: scalar weight zero points let it drop the
/// activation-sum pass of its zero-point compensation; one weight scale per tensor lets it fuse
/// the requantization into the matmul (no separate Scale pass). Both stay integer kernels.
#[test]
fn weight_scaling_shapes_what_tract_runs() {
    let model = fixtures::conv_net();
    let (dir, mut opts) = setup("scales", &model, 32, 4);
    let mut runs = vec![];
    for mode in [WeightScaleMode::Channel, WeightScaleMode::Tensor] {
        opts.weight_scale = mode;
        opts.out = dir.path().join(format!("{mode}.onnx"));
        let report = quant::quantize(&opts).unwrap();
        let q = load(&opts.out);
        let inits = &q.graph.as_ref().unwrap().initializer;
        for t in inits.iter().filter(|t| t.name.ends_with("_w_zp")) {
            assert!(t.dims.is_empty(), "{}: {:?}", t.name, t.dims);
        }
        let scale_ranks: Vec<usize> = inits
            .iter()
            .filter(|t| t.name.ends_with("_w_scale"))
            .map(|t| t.dims.len())
            .collect();
        assert_eq!(scale_ranks.len(), 4);
        let want = if mode == WeightScaleMode::Tensor {
            0
        } else {
            1
        };
        assert!(scale_ranks.iter().all(|r| *r == want), "{scale_ranks:?}");
        assert!(report.layers.iter().all(|l| l.weights
            == if want == 0 {
                WeightScale::Tensor
            } else {
                WeightScale::Channel
            }));
        assert_eq!(census(&q, 32).int_matmuls, 4);
        assert_eq!(tract_ops(&q, 32, "Reduce<Sum>"), 0);
        runs.push((tract_ops(&q, 32, "Scale"), q));
    }
    assert!(runs[0].0 >= 4, "per-channel: {} Scale ops", runs[0].0);
    assert_eq!(runs[1].0, 0, "per-tensor: requantization not fused");
    let x = first_input(&opts, &model);
    let f = &run(&model, &x)[0];
    for (_, q) in &runs {
        let rel = quant::micro::relative_error(&run(q, &x)[0], f);
        assert!(rel < 0.05, "relative error {rel}");
    }
}

#[test]
fn conv_net_runs_integer_kernels_chained_and_keeps_metadata() {
    let model = fixtures::conv_net();
    let (_dir, opts) = setup("convnet", &model, 32, 6);
    let report = quant::quantize(&opts).unwrap();
    let q = load(&opts.out);

    // Chained: one QuantizeLinear at the image, one DequantizeLinear before the head reshape,
    // ReLU and ReLU6 absorbed, no float Conv left.
    assert_eq!(op_count(&q, "QLinearConv"), 4);
    assert_eq!(op_count(&q, "QuantizeLinear"), 1);
    assert_eq!(op_count(&q, "DequantizeLinear"), 1);
    assert_eq!(
        op_count(&q, "Conv") + op_count(&q, "Relu") + op_count(&q, "Clip"),
        0
    );

    // tract: every matrix product of the int8 model accumulates in integers; the float model's
    // do not.
    let c = census(&q, 32);
    assert_eq!(c.int_matmuls, 4, "{c:?}");
    assert_eq!(c.float_matmuls, 0, "{c:?}");
    assert_eq!(report.census.int_matmuls, 4);
    assert_eq!(census(&model, 32).int_matmuls, 0);

    // Metadata: every original entry kept verbatim, plus the quantization record.
    for e in &model.metadata_props {
        assert!(q.metadata_props.contains(e), "lost {e:?}");
    }
    let rec = q
        .metadata_props
        .iter()
        .find(|e| e.key == quant::META_KEY)
        .expect("quantization record");
    let rec: serde_json::Value = serde_json::from_str(&rec.value).unwrap();
    assert_eq!(rec["layers"].as_array().unwrap().len(), 4);
    assert_eq!(rec["calibration"]["images"], 6);

    // Close to float on a calibration image.
    let x = first_input(&opts, &model);
    let (f, i) = (&run(&model, &x)[0], &run(&q, &x)[0]);
    let rel = quant::micro::relative_error(i, f);
    assert!(rel < 0.05, "relative error {rel}");
    assert!(report.accuracy.outputs[0].max_abs > 0.0);

    // Report files.
    let (json, md) = quant::report_paths(&opts.out);
    assert!(std::fs::read_to_string(md).unwrap().contains("| conv3 |"));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert!(j["timing"]["int8_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn ssd_like_model_all_int8_and_mixed() {
    let model = fixtures::ssd_like();
    let (dir, mut opts) = setup("ssd", &model, 64, 6);
    let report = quant::quantize(&opts).unwrap();
    let q = load(&opts.out);
    assert_eq!(op_count(&q, "QLinearConv"), 10);
    let c = census(&q, 64);
    assert_eq!(c.int_matmuls, 10, "{c:?}");
    assert_eq!(c.float_matmuls, 0, "{c:?}");
    // ssd_edge's board contract: loc [1,P,4], conf [1,P,C].
    let x = first_input(&opts, &model);
    let out = run(&q, &x);
    assert_eq!(out[0].len(), fixtures::SSD_PRIORS * 4);
    assert_eq!(out[1].len(), fixtures::SSD_PRIORS * fixtures::SSD_CLASSES);
    assert!(
        report.accuracy.scores.max_abs < 0.15,
        "{:?}",
        report.accuracy.scores
    );
    assert!(
        report.accuracy.scores.mean_abs < 0.02,
        "{:?}",
        report.accuracy.scores
    );

    // Mixed: the depthwise layers stay float, with Q/DQ only around them.
    opts.float_layers = vec!["dw1".into(), "dw2".into()];
    opts.out = dir.path().join("ssd-mixed.onnx");
    let report = quant::quantize(&opts).unwrap();
    let m = load(&opts.out);
    assert_eq!(op_count(&m, "QLinearConv"), 8);
    assert_eq!(op_count(&m, "Conv"), 2);
    let c = census(&m, 64);
    assert_eq!(c.int_matmuls, 8, "{c:?}");
    assert!(!report.layers.iter().find(|l| l.name == "dw1").unwrap().int8);
    assert!(report.layers.iter().find(|l| l.name == "pw1").unwrap().int8);
}

/// The layers of `fixtures::ssd_like`, in graph order.
const SSD_LIKE_LAYERS: [&str; 10] = [
    "stem", "dw1", "pw1", "dw2", "pw2", "extra1", "loc0", "conf0", "loc1", "conf1",
];

/// Writes a timing table (as a board would supply) with one row per `ssd_like` layer.
fn timing_table(dir: &Path, row: impl Fn(&str) -> serde_json::Value) -> PathBuf {
    let layers: Vec<serde_json::Value> = SSD_LIKE_LAYERS.iter().map(|n| row(n)).collect();
    let path = dir.join("board.json");
    std::fs::write(&path, serde_json::json!({ "layers": layers }).to_string()).unwrap();
    path
}

/// `--auto` with a timing table measured elsewhere (as a board would supply): the choice follows
/// the table, including the cost of the quantize/dequantize a lone int8 layer would need.
#[test]
fn auto_follows_timing_table() {
    let model = fixtures::ssd_like();
    let (dir, mut opts) = setup("auto", &model, 64, 4);
    let table = timing_table(dir.path(), |n| {
        let (f, i) = match n {
            "dw1" | "dw2" => (1.0, 20.0), // depthwise: int8 far slower, as on x86
            "conf1" => (1.0, 0.95),       // barely faster: loses to its Q/DQ
            _ => (2.0, 1.0),
        };
        serde_json::json!({"name": n, "float_ms": f, "int8_ms": i, "quantize_ms": 0.2, "dequantize_ms": 0.2})
    });
    opts.auto = true;
    opts.timings = Some(table);
    let report = quant::quantize(&opts).unwrap();
    let int8: Vec<&str> = report.int8_layers();
    assert_eq!(
        int8,
        vec!["stem", "pw1", "pw2", "extra1", "loc0", "conf0", "loc1"],
        "{:#?}",
        report.layers
    );

    // Forcing beats the table.
    opts.int8_layers = vec!["dw1".into()];
    opts.float_layers = vec!["stem".into()];
    let report = quant::quantize(&opts).unwrap();
    let int8 = report.int8_layers();
    assert!(int8.contains(&"dw1") && !int8.contains(&"stem"), "{int8:?}");
}

/// `--weight-scale auto`: per-tensor where the table says it is faster and the measured error
/// stays within the ratio; per-channel elsewhere, and everywhere when the ratio forbids it.
#[test]
fn auto_weight_scale_follows_timings_and_error() {
    let model = fixtures::ssd_like();
    let (dir, mut opts) = setup("wauto", &model, 64, 4);
    let table = timing_table(dir.path(), |n| {
        // pw2's per-tensor kernel is slower in this table: it keeps per-channel scales.
        let t = if n == "pw2" { 3.0 } else { 0.5 };
        serde_json::json!({"name": n, "float_ms": 2.0, "int8_ms": 1.0, "int8_tensor_ms": t,
                           "quantize_ms": 0.1, "dequantize_ms": 0.1})
    });
    opts.timings = Some(table);
    opts.weight_scale = WeightScaleMode::Auto;
    opts.max_rel_err = 1.0;
    opts.tensor_err_ratio = 100.0;
    let report = quant::quantize(&opts).unwrap();
    for l in &report.layers {
        let want = if l.name == "pw2" {
            WeightScale::Channel
        } else {
            WeightScale::Tensor
        };
        assert_eq!(l.weights, want, "{l:#?}");
        assert!(l.rel_err_tensor > 0.0 && l.rel_err > 0.0, "{l:#?}");
    }
    let q = load(&opts.out);
    let rank = |name: &str| {
        q.graph
            .as_ref()
            .unwrap()
            .initializer
            .iter()
            .find(|t| t.name == name)
            .unwrap()
            .dims
            .len()
    };
    assert_eq!((rank("pw1_w_scale"), rank("pw2_w_scale")), (0, 1));

    // A layer whose per-tensor error exceeds ratio x per-channel error keeps per-channel scales.
    opts.tensor_err_ratio = 1.0;
    let report = quant::quantize(&opts).unwrap();
    for l in &report.layers {
        let tensor = l.rel_err_tensor <= l.rel_err && l.name != "pw2";
        assert_eq!(l.weights == WeightScale::Tensor, tensor, "{l:#?}");
    }
    assert!(
        report
            .layers
            .iter()
            .any(|l| l.weights == WeightScale::Channel && l.name != "pw2"),
        "the ratio rule chose nothing: {:#?}",
        report.layers
    );
}

/// `--auto` judges a layer by the error of the weight scaling it would get: with per-tensor
/// weights a layer can fail the error limit that its per-channel form passes.
#[test]
fn auto_error_limit_uses_the_chosen_weight_scaling() {
    let model = fixtures::ssd_like();
    let (dir, mut opts) = setup("werr", &model, 64, 4);
    opts.timings = Some(timing_table(dir.path(), |n| {
        serde_json::json!({"name": n, "float_ms": 9.0, "int8_ms": 1.0, "int8_tensor_ms": 0.5,
                           "quantize_ms": 0.1, "dequantize_ms": 0.1})
    }));
    opts.auto = true;
    let report = quant::quantize(&opts).unwrap();
    // The layer per-tensor scaling hurts most, and a limit between its two errors.
    let l = report
        .layers
        .iter()
        .max_by(|a, b| (a.rel_err_tensor / a.rel_err).total_cmp(&(b.rel_err_tensor / b.rel_err)))
        .unwrap();
    assert!(l.rel_err_tensor > 1.01 * l.rel_err, "{l:#?}");
    let (name, limit) = (l.name.clone(), (l.rel_err + l.rel_err_tensor) / 2.0);
    opts.max_rel_err = limit;
    let int8_with = |mode: WeightScaleMode, opts: &mut QuantizeOptions| {
        opts.weight_scale = mode;
        let r = quant::quantize(opts).unwrap();
        r.layers.iter().find(|l| l.name == name).unwrap().int8
    };
    assert!(
        int8_with(WeightScaleMode::Channel, &mut opts),
        "{name} per-channel"
    );
    assert!(
        !int8_with(WeightScaleMode::Tensor, &mut opts),
        "{name} per-tensor"
    );
}
