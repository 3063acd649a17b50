//! `ssd-edge run`: frames from a source through the detector, one JSON line per frame on
//! stdout and a summary line at the end.

use anyhow::{Context, Result};
use ssd_edge::frame::PixelFormat;
use ssd_edge::pipeline::{Pipeline, PipelineConfig};
use ssd_edge::source::{self, SourceOptions, SourceSpec};
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Frames a synthetic run makes when `--frames` is not given (it never ends by itself).
const SYNTH_FRAMES: u64 = 100;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// camera:/dev/videoN, an image file, a directory of images, replay:FILE, or synth[:SEED].
    #[arg(long, default_value = "synth")]
    pub source: String,
    /// ONNX model [default: models/default.onnx].
    #[arg(long, value_name = "M.onnx")]
    pub model: Option<PathBuf>,
    /// Sidecar TOML for a model without ssd-edge metadata.
    #[arg(long, value_name = "S.toml")]
    pub sidecar: Option<PathBuf>,
    /// Capture size to ask the camera for (also the synthetic scene size).
    #[arg(long, value_parser = source::parse_size, value_name = "WxH")]
    pub size: Option<(u32, u32)>,
    /// Frame rate to ask the camera for.
    #[arg(long)]
    pub fps: Option<u32>,
    /// Preferred camera pixel format: mjpg, yuyv, rgb24, bgr24, grey, nv12.
    #[arg(long, value_parser = source::parse_format)]
    pub format: Option<PixelFormat>,
    /// Stop after this many processed frames [synth default: 100].
    #[arg(long)]
    pub frames: Option<u64>,
    /// Minimum score of reported detections.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f32,
    /// Longest wait for one frame, in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub timeout: f64,
    /// Give up reconnecting to a camera after this many seconds [default: never].
    #[arg(long, value_name = "SECONDS")]
    pub reconnect_for: Option<f64>,
    /// Output format of the per-frame lines (JSON lines is the only one so far).
    #[arg(long, default_value = "jsonl", value_parser = ["jsonl"])]
    pub output: String,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let spec: SourceSpec = args.source.parse()?;
    let opts = SourceOptions {
        size: args.size,
        fps: args.fps,
        format: args.format,
    };
    let detector = super::detect::load_detector(args.model.as_deref(), args.sidecar.as_deref())?;
    let source = source::open(&spec, &opts)?;
    log::info!("source: {}", source.describe());
    let max_frames = args
        .frames
        .or(matches!(spec, SourceSpec::Synth(_)).then_some(SYNTH_FRAMES));
    let stop = ssd_edge::shutdown::install().context("installing the SIGINT/SIGTERM handlers")?;
    let cfg = PipelineConfig {
        frame_timeout: seconds(args.timeout, "--timeout")?,
        max_frames,
        threshold: args.threshold,
        reconnect_for: args
            .reconnect_for
            .map(|s| seconds(s, "--reconnect-for"))
            .transpose()?,
        stop: Some(stop),
        ..PipelineConfig::default()
    };
    let out = BufWriter::new(std::io::stdout().lock());
    let mut pipeline = Pipeline::new(source, detector, out, cfg);
    let result = pipeline.run();
    let summary = pipeline.summary();
    println!("{}", serde_json::json!({ "summary": summary }));
    log::info!(
        "{} frames in {:.1} s ({:.1} fps), {} dropped, {} corrupt, {} timeouts, {} reconnects",
        summary.frames,
        summary.seconds,
        summary.fps,
        summary.dropped,
        summary.corrupt,
        summary.timeouts,
        summary.reconnects
    );
    if let Some(gt) = summary.ground_truth {
        log::info!(
            "against the scene's ground truth (IoU {}): precision {:.3}, recall {:.3}",
            gt.iou,
            gt.precision,
            gt.recall
        );
    }
    result?;
    Ok(ExitCode::SUCCESS)
}

pub fn seconds(s: f64, flag: &str) -> Result<Duration> {
    anyhow::ensure!(
        s.is_finite() && s > 0.0 && s < 1e6,
        "{flag} {s}: must be a positive number of seconds"
    );
    Ok(Duration::from_secs_f64(s))
}
