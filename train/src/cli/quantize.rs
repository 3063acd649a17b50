//! `ssd-train quantize`: post-training static int8 quantization (see docs/quantization.md).

use anyhow::Context;
use ssd_train::quant::{self, calibrate::RangeMethod, select::WeightScaleMode, QuantizeOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Float SSD ONNX made by `ssd-train export`.
    #[arg(long)]
    model: PathBuf,
    /// Directory of calibration images from the training distribution (e.g. a VOC JPEGImages).
    #[arg(long)]
    calib: PathBuf,
    /// Output int8 ONNX. The report goes next to it as <out>.quant.json and <out>.quant.md.
    #[arg(long)]
    out: PathBuf,
    /// Model settings for an ONNX without ssd_edge metadata (same TOML as ssd-edge uses).
    #[arg(long)]
    sidecar: Option<PathBuf>,
    /// Layers (Conv node names) kept in float, comma separated.
    #[arg(long, value_delimiter = ',')]
    float_layers: Vec<String>,
    /// Keep every depthwise convolution float (found by its shape, not its name).
    #[arg(long)]
    float_depthwise: bool,
    /// Layers made int8 even when --auto would keep them float, comma separated.
    #[arg(long, value_delimiter = ',')]
    int8_layers: Vec<String>,
    /// Choose float or int8 per layer from measured timings and per-layer error.
    #[arg(long)]
    auto: bool,
    /// Use per-layer timings from this report JSON (e.g. measured on the board) instead of
    /// timing here.
    #[arg(long)]
    timings: Option<PathBuf>,
    /// At most this many calibration images (spread over the directory's sorted listing).
    #[arg(long, default_value_t = 64)]
    max_images: usize,
    /// Range estimate: minmax, or percentile[:P] (default P 99.99).
    #[arg(long, default_value = "minmax")]
    calib_method: RangeMethod,
    /// With --auto, layers whose relative output error exceeds this stay float.
    #[arg(long, default_value_t = 0.05)]
    max_rel_err: f32,
    /// Weight scales: channel (one per output channel), tensor (one per layer: tract fuses the
    /// requantization into the matmul, faster, less accurate), or auto (per layer, measured).
    #[arg(long, default_value = "channel")]
    weight_scale: WeightScaleMode,
    /// With --weight-scale auto, per-tensor is taken where its layer error is at most this
    /// many times the per-channel error.
    #[arg(long, default_value_t = 1.5)]
    tensor_err_ratio: f32,
    /// Milliseconds spent timing each single-layer model.
    #[arg(long, default_value_t = 150)]
    layer_budget_ms: u64,
    /// Calibration images used to compare the float and int8 outputs.
    #[arg(long, default_value_t = 8)]
    compare_images: usize,
    /// First write a built-in random-weight model (conv, ssd, mobile-ssd300, plain300) to
    /// --model and 16 calibration images to --calib, then quantize it: for trying the tool
    /// and timing layer shapes without a trained model.
    #[arg(long)]
    write_fixture: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.out == args.model {
        anyhow::bail!("--out must differ from --model ({})", args.model.display());
    }
    if let Some(name) = &args.write_fixture {
        quant::fixtures::write_fixture(name, &args.model, &args.calib, 16)
            .map_err(anyhow::Error::msg)?;
    }
    let mut opts = QuantizeOptions::new(&args.model, &args.calib, &args.out);
    opts.sidecar = args.sidecar;
    opts.float_layers = args.float_layers;
    opts.float_depthwise = args.float_depthwise;
    opts.int8_layers = args.int8_layers;
    opts.auto = args.auto;
    opts.timings = args.timings;
    opts.max_images = args.max_images;
    opts.method = args.calib_method;
    opts.max_rel_err = args.max_rel_err;
    opts.weight_scale = args.weight_scale;
    opts.tensor_err_ratio = args.tensor_err_ratio;
    opts.layer_budget = Duration::from_millis(args.layer_budget_ms);
    opts.compare_images = args.compare_images;
    let report =
        quant::quantize(&opts).with_context(|| format!("quantizing {}", args.model.display()))?;
    let (json, md) = quant::report_paths(&args.out);
    println!(
        "{}: {} of {} convolutions int8; tract runs {} int8 / {} float matmuls; forward {:.1} ms float, {:.1} ms int8; \
         max score diff {:.4} (mean {:.5})",
        args.out.display(),
        report.int8_layers().len(),
        report.layers.len(),
        report.census.int_matmuls,
        report.census.float_matmuls,
        report.timing.float_ms,
        report.timing.int8_ms,
        report.accuracy.scores.max_abs,
        report.accuracy.scores.mean_abs,
    );
    println!("report: {} and {}", md.display(), json.display());
    Ok(ExitCode::SUCCESS)
}
