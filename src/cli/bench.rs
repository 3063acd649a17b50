//! `ssd-edge bench`: where a frame's time goes on this machine (preprocess, forward, decode),
//! for one or more models on the same frames, so float and int8 can be compared on the board
//! itself. One JSON line per model on stdout; frames come from any source (synthetic by
//! default), and capture time is not counted.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use ssd_edge::limits::MAX_BENCH_FRAMES;
use ssd_edge::model::{default_model, Detector, StageTimes};
use ssd_edge::source;
use ssd_edge::ssd::Detections;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// ONNX models to time, each on the same frames [default: models/default.onnx].
    #[arg(long = "model", value_name = "M.onnx")]
    pub models: Vec<PathBuf>,
    #[command(flatten)]
    pub src: super::source_args::SourceArgs,
    /// Timed frames per model (at most 100000: one timing record is kept per frame).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=MAX_BENCH_FRAMES))]
    pub frames: u64,
    /// Untimed frames first (tract and the caches warm up), at most 100000.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=MAX_BENCH_FRAMES))]
    pub warmup: u64,
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
    let spec = args.src.spec(Some("synth"))?;
    let opts = args.src.options();
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
        // `--frames` is bounded by MAX_BENCH_FRAMES, so this is at most a few MB.
        let frames = usize::try_from(args.frames)?;
        let mut times: Vec<StageTimes> = Vec::with_capacity(frames);
        let mut seen = 0;
        while times.len() < frames {
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
        super::output::stdout().line(serde_json::to_string(&line)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use proptest::prelude::*;
    use ssd_edge::limits::MAX_BENCH_FRAMES;

    proptest! {
        /// `--frames` (one timing record each) parses only within 1..=MAX_BENCH_FRAMES, so
        /// no number on the command line sizes an allocation beyond a few MB.
        #[test]
        fn frame_counts_are_bounded(n in prop_oneof![
            any::<u64>().prop_map(|n| n.to_string()),
            (0u64..200_000).prop_map(|n| n.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<String>(),
        ]) {
            let parsed = Cli::try_parse_from(["ssd-edge", "bench", "--frames", &n, "--warmup", &n]);
            let expect: Option<u64> = n.parse().ok().filter(|v| (1..=MAX_BENCH_FRAMES).contains(v));
            match parsed {
                Ok(Cli { command: Command::Bench(a) }) => {
                    prop_assert_eq!(Some(a.frames), expect);
                    prop_assert_eq!(a.warmup, a.frames);
                }
                Ok(other) => prop_assert!(false, "{:?}", other),
                Err(_) => prop_assert!(expect.is_none()),
            }
        }
    }
}
