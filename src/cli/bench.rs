//! `ssd-edge bench`: where a frame's time goes on this machine (preprocess, forward, decode),
//! for one or more models on the same frames, so float and int8 can be compared on the board
//! itself. One JSON line per model on stdout; frames come from any source (synthetic by
//! default), and capture time is not counted.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use ssd_edge::model::{default_model, Detector, StageTimes};
use ssd_edge::source::{self, SourceOptions, SourceSpec};
use ssd_edge::ssd::Detections;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// ONNX models to time, each on the same frames [default: models/default.onnx].
    #[arg(long = "model", value_name = "M.onnx")]
    pub models: Vec<PathBuf>,
    /// camera:/dev/videoN, an image file, a directory of images, replay:FILE, or synth[:SEED].
    #[arg(long, default_value = "synth")]
    pub source: String,
    /// Capture size to ask the camera for (also the synthetic scene size).
    #[arg(long, value_parser = source::parse_size, value_name = "WxH")]
    pub size: Option<(u32, u32)>,
    /// Timed frames per model.
    #[arg(long, default_value_t = 50)]
    pub frames: usize,
    /// Untimed frames first (tract and the caches warm up).
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
}

/// Milliseconds of one stage over the timed frames.
#[derive(Serialize)]
struct Spread {
    median: f64,
    p90: f64,
    min: f64,
}

impl Spread {
    fn of(mut ms: Vec<f64>) -> Spread {
        ms.sort_by(f64::total_cmp);
        // 0.1 us resolution is plenty, and keeps the lines readable.
        let at = |q: f64| (ms[((ms.len() - 1) as f64 * q).round() as usize] * 1e4).round() / 1e4;
        Spread {
            median: at(0.5),
            p90: at(0.9),
            min: at(0.0),
        }
    }
}

#[derive(Serialize)]
struct Line {
    model: String,
    frames: usize,
    preprocess_ms: Spread,
    forward_ms: Spread,
    decode_ms: Spread,
    total_ms: Spread,
    /// Frames per second from the median total (detection only, no capture).
    fps: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.frames == 0 {
        bail!("--frames must be at least 1");
    }
    let spec: SourceSpec = args.source.parse()?;
    let opts = SourceOptions {
        size: args.size,
        ..SourceOptions::default()
    };
    let models: Vec<Option<PathBuf>> = if args.models.is_empty() {
        vec![None]
    } else {
        args.models.into_iter().map(Some).collect()
    };
    for model in models {
        let mut detector = match &model {
            Some(path) => Detector::load(path, None)?,
            None => default_model().load(None)?,
        };
        let name = detector.origin().to_string();
        // Each model gets the source from its start: the same frames for every model.
        let mut src = source::open(&spec, &opts)?;
        let described = src.describe();
        let mut out = Detections::new();
        let mut times: Vec<StageTimes> = Vec::with_capacity(args.frames);
        let mut seen = 0;
        while times.len() < args.frames {
            let Some(frame) = src
                .next_frame(Duration::from_secs(5))
                .with_context(|| format!("reading {described}"))?
            else {
                break;
            };
            let t = detector
                .detect_timed(&frame, &mut out)
                .with_context(|| format!("{name}: frame from {described}"))?;
            seen += 1;
            if seen > args.warmup {
                times.push(t);
            }
        }
        if times.is_empty() {
            bail!(
                "{described}: no frames to time (after {} warm-up frames)",
                args.warmup
            );
        }
        let series = |f: fn(&StageTimes) -> Duration| times.iter().map(|t| ms(f(t))).collect();
        let total = Spread::of(series(|t| t.preprocess + t.forward + t.decode));
        let line = Line {
            model: name,
            frames: times.len(),
            preprocess_ms: Spread::of(series(|t| t.preprocess)),
            forward_ms: Spread::of(series(|t| t.forward)),
            decode_ms: Spread::of(series(|t| t.decode)),
            fps: (1e4 / total.median).round() / 10.0,
            total_ms: total,
        };
        println!("{}", serde_json::to_string(&line)?);
    }
    Ok(ExitCode::SUCCESS)
}
