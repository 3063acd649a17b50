//! Post-training static int8 quantization of an SSD ONNX model for tract (no libtorch: `ssd-train
//! quantize` is its command line).
//!
//! Pipeline: load the float ONNX -> find the convolutions ([`graph`]) -> calibrate activation
//! ranges on real images run through the float model in tract ([`calibrate`]) -> time and check
//! every layer alone in float and int8 ([`micro`]) -> choose which layers go int8 ([`select`])
//! -> rewrite to QLinearConv ([`rewrite`]) -> verify what tract executes ([`inspect`]), time both
//! models and compare their outputs -> write the model and the report ([`report`]).

pub mod calibrate;
pub mod fixtures;
pub mod graph;
pub mod inspect;
pub mod micro;
pub mod onnx_io;
pub mod preprocess;
pub mod report;
pub mod rewrite;
pub mod select;

use calibrate::RangeMethod;
use graph::ConvSite;
use report::{AccuracyReport, LayerReport, ModelTiming, OutputDiff, QuantReport};
use rewrite::WeightScale;
use ssd_core::image::preprocess::ChannelOrder;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

/// Key of the quantization record in the output model's metadata_props (JSON). Not under
/// `ssd_edge.`: that prefix is the board's schema and rejects keys it does not know.
pub const META_KEY: &str = "ssd_train.quantization";

#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    #[error("{}: {}", .0.display(), .1)]
    Io(PathBuf, std::io::Error),
    #[error("{}: not a usable ONNX model: {}", .0.display(), .1)]
    NotOnnx(PathBuf, String),
    #[error("{}: model metadata: {}", .0.display(), .1)]
    Meta(PathBuf, String),
    #[error("calibration directory {}: {}", .0.display(), .1)]
    CalibDir(PathBuf, String),
    #[error("calibration image {}: {}", .0.display(), .1)]
    CalibImage(PathBuf, String),
    #[error("calibration: {0}")]
    Calibration(String),
    #[error("unknown layer {0:?}; layers are: {1}")]
    UnknownLayer(String, String),
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("{}: timing table: {}", .0.display(), .1)]
    Timings(PathBuf, String),
    #[error("tract: {0}")]
    Tract(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The model input and its normalisation, read from the model's `ssd_edge.input` metadata (or
/// a sidecar): the board's own type, so calibration preprocesses as the board does.
pub use ssd_core::image::preprocess::InputSpec;

/// What the quantizer needs from the model's metadata.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    pub input: InputSpec,
    /// What the conf output holds (softmax or sigmoid before comparing scores).
    pub conf_kind: ssd_core::ssd::ConfKind,
    pub conf_output: Option<String>,
}

#[derive(serde::Deserialize)]
struct RawInput {
    width: u32,
    height: u32,
    channel_order: String,
    mean: [f32; 3],
    std: [f32; 3],
    scale: f32,
    #[serde(default)]
    resize: ssd_core::image::preprocess::Resize,
}

#[derive(serde::Deserialize, Default)]
struct RawOutputs {
    conf: Option<String>,
}

impl ModelInfo {
    fn from_parts(
        input: RawInput,
        conf_kind: Option<String>,
        outputs: Option<RawOutputs>,
    ) -> Result<Self, String> {
        let channel_order = match input.channel_order.to_ascii_uppercase().as_str() {
            "RGB" => ChannelOrder::Rgb,
            "BGR" => ChannelOrder::Bgr,
            other => return Err(format!("channel_order {other:?} is neither RGB nor BGR")),
        };
        if input.width == 0 || input.height == 0 || input.std.contains(&0.0) {
            return Err("input size and std must be non-zero".into());
        }
        use ssd_core::ssd::ConfKind;
        let conf_kind = match conf_kind.as_deref() {
            Some("logits") | None => ConfKind::Logits,
            Some("scores") => ConfKind::Scores,
            Some("sigmoid") => ConfKind::Sigmoid,
            Some(other) => {
                return Err(format!(
                    "conf_kind {other:?} is none of logits, scores or sigmoid"
                ))
            }
        };
        Ok(ModelInfo {
            input: InputSpec {
                width: input.width,
                height: input.height,
                channel_order,
                mean: input.mean,
                std: input.std,
                scale: input.scale,
                resize: input.resize,
            },
            conf_kind,
            conf_output: outputs.and_then(|o| o.conf),
        })
    }

    /// From `ssd_edge.*` metadata_props (each field a JSON value).
    pub fn from_model(model: &ModelProto) -> Result<Self, String> {
        let get = |k: &str| {
            model
                .metadata_props
                .iter()
                .find(|e| e.key == format!("ssd_edge.{k}"))
                .map(|e| e.value.clone())
        };
        let input = get("input")
            .ok_or("no ssd_edge.input key (export with ssd-train or pass --sidecar)")?;
        let input: RawInput =
            serde_json::from_str(&input).map_err(|e| format!("ssd_edge.input: {e}"))?;
        let conf_kind = match get("conf_kind") {
            Some(v) => Some(
                serde_json::from_str::<String>(&v)
                    .map_err(|e| format!("ssd_edge.conf_kind: {e}"))?,
            ),
            None => None,
        };
        let outputs = match get("outputs") {
            Some(v) => Some(
                serde_json::from_str::<RawOutputs>(&v)
                    .map_err(|e| format!("ssd_edge.outputs: {e}"))?,
            ),
            None => None,
        };
        Self::from_parts(input, conf_kind, outputs)
    }

    /// From a sidecar TOML (same fields as the metadata).
    pub fn from_sidecar(text: &str) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Sidecar {
            input: RawInput,
            conf_kind: Option<String>,
            outputs: Option<RawOutputs>,
        }
        let s: Sidecar = toml::from_str(text).map_err(|e| e.to_string())?;
        Self::from_parts(s.input, s.conf_kind, s.outputs)
    }
}

#[derive(Clone, Debug)]
pub struct QuantizeOptions {
    pub model: PathBuf,
    pub calib: PathBuf,
    pub out: PathBuf,
    pub sidecar: Option<PathBuf>,
    /// Layers kept float whatever the measurements say.
    pub float_layers: Vec<String>,
    /// Keep every depthwise convolution float (tract's int8 depthwise kernels are slower than
    /// its float ones, and one weight scale per tensor suits depthwise filters badly).
    pub float_depthwise: bool,
    /// Layers made int8 whatever the measurements say (with `auto`).
    pub int8_layers: Vec<String>,
    /// Choose per layer from timings and accuracy; without it every layer not forced float is int8.
    pub auto: bool,
    pub max_images: usize,
    pub method: RangeMethod,
    /// Largest relative output error (||int8 - float|| / ||float||) `auto` accepts for a layer.
    pub max_rel_err: f32,
    /// Weight scales per channel, per tensor, or chosen per layer.
    pub weight_scale: select::WeightScaleMode,
    /// With `weight_scale` auto, a layer takes per-tensor weights when its error stays within
    /// this factor of the per-channel error (and under `max_rel_err`) and it runs faster.
    pub tensor_err_ratio: f32,
    /// Per-layer timings measured elsewhere (a report JSON), e.g. on the board.
    pub timings: Option<PathBuf>,
    /// Time spent per single-layer measurement.
    pub layer_budget: Duration,
    /// Time spent per whole-model measurement.
    pub model_budget: Duration,
    /// Calibration images used for the float/int8 output comparison.
    pub compare_images: usize,
}

impl QuantizeOptions {
    pub fn new(
        model: impl Into<PathBuf>,
        calib: impl Into<PathBuf>,
        out: impl Into<PathBuf>,
    ) -> Self {
        QuantizeOptions {
            model: model.into(),
            calib: calib.into(),
            out: out.into(),
            sidecar: None,
            float_layers: vec![],
            float_depthwise: false,
            int8_layers: vec![],
            auto: false,
            max_images: 64,
            method: RangeMethod::MinMax,
            max_rel_err: 0.05,
            weight_scale: select::WeightScaleMode::Channel,
            tensor_err_ratio: 1.5,
            timings: None,
            layer_budget: Duration::from_millis(150),
            model_budget: Duration::from_secs(2),
            compare_images: 8,
        }
    }
}

fn check_layer_names(sites: &[ConvSite], names: &[String]) -> Result<(), QuantError> {
    for n in names {
        if !sites.iter().any(|s| &s.name == n) {
            let all: Vec<&str> = sites.iter().map(|s| s.name.as_str()).collect();
            return Err(QuantError::UnknownLayer(n.clone(), all.join(", ")));
        }
    }
    Ok(())
}

/// Quantizes `opts.model` into `opts.out` and returns the report (also written next to the
/// output as `<out>.quant.json` and `<out>.quant.md`).
pub fn quantize(opts: &QuantizeOptions) -> Result<QuantReport, QuantError> {
    let model = onnx_io::load_model(&opts.model)?;
    let info = match &opts.sidecar {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| QuantError::Io(p.clone(), e))?;
            ModelInfo::from_sidecar(&text).map_err(|e| QuantError::Meta(p.clone(), e))?
        }
        None => {
            ModelInfo::from_model(&model).map_err(|e| QuantError::Meta(opts.model.clone(), e))?
        }
    };
    let sites = graph::conv_sites(&model);
    if sites.is_empty() {
        return Err(QuantError::Unsupported(format!(
            "{}: no Conv with constant weights",
            opts.model.display()
        )));
    }
    check_layer_names(&sites, &opts.float_layers)?;
    check_layer_names(&sites, &opts.int8_layers)?;
    let with_depthwise;
    let opts = if opts.float_depthwise {
        let mut o = opts.clone();
        let depthwise: Vec<String> = sites
            .iter()
            .filter(|s| s.is_depthwise() && !o.float_layers.contains(&s.name))
            .map(|s| s.name.clone())
            .collect();
        o.float_layers.extend(depthwise);
        with_depthwise = o;
        &with_depthwise
    } else {
        opts
    };
    let images = calibrate::list_images(&opts.calib, opts.max_images)?;
    log::info!(
        "{} convolutions; calibrating on {} images from {}",
        sites.len(),
        images.len(),
        opts.calib.display()
    );

    let mut tensors: Vec<String> = Vec::new();
    for s in &sites {
        for t in [&s.input, &s.output] {
            if !tensors.contains(t) {
                tensors.push(t.clone());
            }
        }
    }
    let calib = calibrate::calibrate(&model, &tensors, &images, &info.input, opts.method)?;

    let foreign = match &opts.timings {
        Some(p) => Some(report::read_timings(p)?),
        None => None,
    };
    let mut layers = Vec::with_capacity(sites.len());
    for (i, site) in sites.iter().enumerate() {
        log::info!(
            "layer {}/{}: {} ({})",
            i + 1,
            sites.len(),
            site.name,
            site.kind()
        );
        layers.push(measure_layer(site, &sites, &calib, opts, foreign.as_ref())?);
    }
    let choice = select::choose(&model, &sites, &mut layers, opts);
    let (mut qmodel, stats) = rewrite::rewrite(
        &model,
        &sites,
        &choice.int8,
        &choice.per_tensor,
        &calib.ranges,
    )?;

    let shape = [1, 3, info.input.height as usize, info.input.width as usize];
    let float_opt = inspect::optimised(&model, &shape)
        .map_err(|e| QuantError::Tract(format!("float model: {e:#}")))?;
    let int8_opt = inspect::optimised(&qmodel, &shape)
        .map_err(|e| QuantError::Tract(format!("int8 model: {e:#}")))?;
    let census = inspect::KernelCensus::of(&int8_opt);
    let float_census = inspect::KernelCensus::of(&float_opt);
    let float_plan = float_opt
        .into_runnable()
        .map_err(|e| QuantError::Tract(format!("{e:#}")))?;
    let int8_plan = int8_opt
        .into_runnable()
        .map_err(|e| QuantError::Tract(format!("{e:#}")))?;

    let first = calibrate::load_input(&images[0], &info.input)?;
    let timing = ModelTiming {
        float_ms: micro::time_plan(&float_plan, &first, opts.model_budget)?,
        int8_ms: micro::time_plan(&int8_plan, &first, opts.model_budget)?,
    };
    let n_cmp = opts.compare_images.clamp(1, images.len());
    let accuracy = compare_outputs(&model, &float_plan, &int8_plan, &images[..n_cmp], &info)?;

    let mut report = QuantReport {
        model: opts.model.display().to_string(),
        out: opts.out.display().to_string(),
        // Home-relative, so the same files calibrated on another machine give the same bytes.
        calib_dir: ssd_model::provenance::portable_command(
            &[String::new(), opts.calib.display().to_string()],
            None,
            None,
            std::env::var_os("HOME")
                .map(std::path::PathBuf::from)
                .as_deref(),
        )
        .trim()
        .to_string(),
        images: calib.images,
        method: opts.method.to_string(),
        mode: if opts.auto {
            "auto".into()
        } else {
            "manual".into()
        },
        weight_scale: opts.weight_scale.to_string(),
        max_rel_err: opts.max_rel_err,
        timings_from: opts.timings.as_ref().map(|p| p.display().to_string()),
        layers,
        rewrite: stats,
        census,
        float_census,
        timing,
        accuracy,
        float_bytes: 0,
        int8_bytes: 0,
        date: ssd_model::netspec::onnx::utc_now(),
    };
    onnx_io::set_meta(&mut qmodel, META_KEY, report.metadata_json());
    qmodel.producer_name = format!("{} + ssd-train quantize", model.producer_name);
    onnx_io::save_model(&qmodel, &opts.out)?;
    report.float_bytes = std::fs::metadata(&opts.model).map(|m| m.len()).unwrap_or(0);
    report.int8_bytes = std::fs::metadata(&opts.out).map(|m| m.len()).unwrap_or(0);
    report.write_next_to(&opts.out)?;
    Ok(report)
}

fn measure_layer(
    site: &ConvSite,
    sites: &[ConvSite],
    calib: &calibrate::Calibration,
    opts: &QuantizeOptions,
    foreign: Option<&HashMap<String, report::LayerTimes>>,
) -> Result<LayerReport, QuantError> {
    let in_shape = calib.shapes[&site.input].clone();
    let out_shape = calib.shapes[&site.output].clone();
    let producer = sites.iter().find(|p| p.output == site.input);
    let x = match producer {
        Some(p) => rewrite::output_quant(p, &calib.ranges)?,
        None => {
            let (lo, hi) = rewrite::range_of(&calib.ranges, &site.input)?;
            rewrite::ActQuant::from_range(lo, hi)
        }
    };
    let y = rewrite::output_quant(site, &calib.ranges)?;
    let what = |k: &str| format!("layer {} ({k})", site.name);

    // Accuracy on the first calibration image's real activation.
    let float_plan = micro::plan(
        &micro::float_layer(site, &in_shape, &out_shape),
        &what("float"),
    )?;
    let input = calib.first[&site.input].clone();
    let yf = micro::run_f32(&float_plan, input.clone())?;
    let error_with = |granularity: WeightScale| -> Result<f32, QuantError> {
        let wrapped = micro::plan(
            &micro::int8_layer(site, &in_shape, &out_shape, x, y, granularity, true),
            &what("int8"),
        )?;
        let yq = micro::run_f32(&wrapped, input.clone())?;
        Ok(micro::relative_error(&yq, &yf))
    };
    let rel_err = error_with(WeightScale::Channel)?;
    let rel_err_tensor = error_with(WeightScale::Tensor)?;

    let times = match foreign {
        Some(table) => table.get(&site.name).cloned().ok_or_else(|| {
            QuantError::Timings(
                opts.timings.clone().unwrap_or_default(),
                format!("no entry for layer {}", site.name),
            )
        })?,
        None => {
            let b = opts.layer_budget;
            let int8_input = micro::zeros(i8::datum_type(), &in_shape)?;
            let time_core = |granularity: WeightScale| -> Result<f64, QuantError> {
                let core = micro::plan(
                    &micro::int8_layer(site, &in_shape, &out_shape, x, y, granularity, false),
                    &what("int8 core"),
                )?;
                micro::time_plan(&core, &int8_input, b)
            };
            let q = micro::plan(&micro::boundary(&in_shape, x, true), &what("quantize"))?;
            let dq = micro::plan(&micro::boundary(&out_shape, y, false), &what("dequantize"))?;
            report::LayerTimes {
                float_ms: micro::time_plan(&float_plan, &input, b)?,
                int8_ms: time_core(WeightScale::Channel)?,
                int8_tensor_ms: Some(time_core(WeightScale::Tensor)?),
                quantize_ms: micro::time_plan(&q, &input, b)?,
                dequantize_ms: micro::time_plan(
                    &dq,
                    &micro::zeros(i8::datum_type(), &out_shape)?,
                    b,
                )?,
            }
        }
    };
    Ok(LayerReport {
        name: site.name.clone(),
        kind: site.kind(),
        in_shape,
        out_shape,
        fused: format!("{:?}", site.fused),
        times,
        rel_err,
        rel_err_tensor,
        int8: false,
        weights: WeightScale::Channel,
        reason: String::new(),
    })
}

/// Runs both models on a few calibration images and compares every output, and the class
/// scores the board decodes from the conf output.
fn compare_outputs(
    model: &ModelProto,
    float: &micro::Plan,
    int8: &micro::Plan,
    images: &[PathBuf],
    info: &ModelInfo,
) -> Result<AccuracyReport, QuantError> {
    let names: Vec<String> = model
        .graph
        .as_ref()
        .unwrap()
        .output
        .iter()
        .map(|o| o.name.clone())
        .collect();
    let mut diffs: Vec<OutputDiff> = names
        .iter()
        .map(|n| OutputDiff {
            name: n.clone(),
            max_abs: 0.0,
            mean_abs: 0.0,
            values: 0,
        })
        .collect();
    let mut scores = OutputDiff {
        name: "scores".into(),
        max_abs: 0.0,
        mean_abs: 0.0,
        values: 0,
    };
    let mut score_sum = 0f64;
    let mut sums = vec![0f64; names.len()];
    let mut conf_ix: Option<usize> = None;
    for path in images {
        let x = calibrate::load_input(path, &info.input)?;
        let run = |p: &micro::Plan| {
            p.run(tvec!(x.clone().into()))
                .map_err(|e| QuantError::Tract(format!("forward on {}: {e:#}", path.display())))
        };
        let (fo, qo) = (run(float)?, run(int8)?);
        for (i, (f, q)) in fo.iter().zip(qo.iter()).enumerate() {
            let f = micro::as_f32(f)?;
            let q = micro::as_f32(q)?;
            for (a, b) in f.iter().zip(&q) {
                let d = (a - b).abs();
                diffs[i].max_abs = diffs[i].max_abs.max(d);
                sums[i] += d as f64;
            }
            diffs[i].values += f.len();
        }
        let ci = *conf_ix.get_or_insert_with(|| find_conf(&names, &fo, info));
        let shape = fo[ci].shape().to_vec();
        let classes = *shape.last().unwrap_or(&1);
        let (mut fs, mut qs) = (micro::as_f32(&fo[ci])?, micro::as_f32(&qo[ci])?);
        match info.conf_kind {
            ssd_core::ssd::ConfKind::Logits => {
                softmax_rows(&mut fs, classes);
                softmax_rows(&mut qs, classes);
            }
            ssd_core::ssd::ConfKind::Sigmoid => {
                for x in fs.iter_mut().chain(qs.iter_mut()) {
                    *x = 1.0 / (1.0 + (-*x).exp());
                }
            }
            ssd_core::ssd::ConfKind::Scores => {}
        }
        for (a, b) in fs.iter().zip(&qs) {
            let d = (a - b).abs();
            scores.max_abs = scores.max_abs.max(d);
            score_sum += d as f64;
        }
        scores.values += fs.len();
    }
    for (d, s) in diffs.iter_mut().zip(sums) {
        d.mean_abs = (s / d.values.max(1) as f64) as f32;
    }
    scores.mean_abs = (score_sum / scores.values.max(1) as f64) as f32;
    scores.name = format!(
        "scores ({}{})",
        names[conf_ix.unwrap_or(0)],
        match info.conf_kind {
            ssd_core::ssd::ConfKind::Logits => ", softmax",
            ssd_core::ssd::ConfKind::Sigmoid => ", sigmoid",
            ssd_core::ssd::ConfKind::Scores => "",
        }
    );
    Ok(AccuracyReport {
        images: images.len(),
        outputs: diffs,
        scores,
    })
}

fn find_conf(names: &[String], outputs: &[TValue], info: &ModelInfo) -> usize {
    if let Some(ix) = info
        .conf_output
        .as_ref()
        .and_then(|c| names.iter().position(|n| n == c))
    {
        return ix;
    }
    outputs
        .iter()
        .position(|o| o.shape().last().is_some_and(|c| *c != 4))
        .unwrap_or(0)
}

fn softmax_rows(v: &mut [f32], n: usize) {
    for row in v.chunks_mut(n.max(1)) {
        let m = row.iter().fold(f32::MIN, |a, b| a.max(*b));
        let mut s = 0.0;
        for x in row.iter_mut() {
            *x = (*x - m).exp();
            s += *x;
        }
        for x in row.iter_mut() {
            *x /= s;
        }
    }
}

/// Used by tests and the CLI to say where the report went.
pub fn report_paths(out: &Path) -> (PathBuf, PathBuf) {
    report::paths(out)
}
