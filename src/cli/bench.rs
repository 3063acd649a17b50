//! `ssd-edge bench`: where a frame's time goes on this machine (preprocess, forward, decode),
//! for one or more models on the same frames, so float and int8 can be compared on the board
//! itself. One JSON line per model on stdout; frames come from any source (synthetic by
//! default), and capture time is not counted.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use ssd_edge::alloc_count::count_allocations;
use ssd_edge::limits::MAX_BENCH_FRAMES;
use ssd_edge::model::{Detector, NodeTime, StageTimes};
use ssd_edge::source;
use ssd_edge::ssd::Detections;
use ssd_edge::track::{TrackInput, Tracker, TrackerConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// ONNX models to time, each on the same frames (`auto`: the one `run` would pick)
    /// [default: models/default.onnx].
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
    /// Also time every node of tract's plan (mean over 5 passes) and print the N slowest
    /// nodes and the time per op kind, one more JSON line per model.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub profile: Option<u16>,
}

/// `--profile`: where the forward pass spends its time.
#[derive(Serialize)]
struct Profile {
    profile: String,
    passes: usize,
    /// Sum over the plan's nodes (a little above the plain forward: timing costs).
    forward_ms: f64,
    by_op: Vec<OpTime>,
    slowest: Vec<SlowNode>,
}

#[derive(Serialize)]
struct OpTime {
    op: String,
    nodes: usize,
    ms: f64,
}

#[derive(Serialize)]
struct SlowNode {
    name: String,
    op: String,
    info: String,
    ms: f64,
}

const PROFILE_PASSES: usize = 5;

fn profile(detector: &mut Detector, top: usize) -> Result<Profile> {
    let mut per_node: Vec<(NodeTime, f64)> = Vec::new();
    for pass in 0..PROFILE_PASSES {
        for (i, n) in detector.profile_forward()?.into_iter().enumerate() {
            let ms = ms(n.time) / PROFILE_PASSES as f64;
            if pass == 0 {
                per_node.push((n, ms));
            } else if let Some(slot) = per_node.get_mut(i) {
                slot.1 += ms;
            }
        }
    }
    let round = |v: f64| (v * 1e3).round() / 1e3;
    let mut by_op: Vec<OpTime> = Vec::new();
    for (n, t) in &per_node {
        match by_op.iter_mut().find(|o| o.op == n.op) {
            Some(o) => {
                o.nodes += 1;
                o.ms += t;
            }
            None => by_op.push(OpTime {
                op: n.op.clone(),
                nodes: 1,
                ms: *t,
            }),
        }
    }
    by_op.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    by_op.iter_mut().for_each(|o| o.ms = round(o.ms));
    let forward_ms = round(per_node.iter().map(|(_, t)| t).sum());
    per_node.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(Profile {
        profile: detector.origin().to_string(),
        passes: PROFILE_PASSES,
        forward_ms,
        by_op,
        slowest: per_node
            .into_iter()
            .take(top)
            .map(|(n, t)| SlowNode {
                name: n.name,
                op: n.op,
                info: n.info,
                ms: round(t),
            })
            .collect(),
    })
}

/// Milliseconds of one stage over the timed frames.
#[derive(Serialize)]
struct Spread {
    median: f64,
    p90: f64,
    p99: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(mut ms: Vec<f64>) -> Spread {
        ms.sort_by(f64::total_cmp);
        // 0.1 us resolution is plenty, and keeps the lines readable.
        let at = |q: f64| (ms[((ms.len() - 1) as f64 * q).round() as usize] * 1e4).round() / 1e4;
        Spread {
            median: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            min: at(0.0),
            max: at(1.0),
        }
    }
}

#[derive(Serialize)]
struct Line {
    model: String,
    /// Threads of tract's kernels (`--threads`).
    threads: usize,
    frames: usize,
    /// Reading, checking and optimising the model into a plan.
    load_ms: f64,
    /// The first frame (tract sizes its buffers on it; not in the spreads below).
    first_frame_ms: f64,
    preprocess_ms: Spread,
    forward_ms: Spread,
    decode_ms: Spread,
    /// ByteTrack-style tracking of the frame's detections (default `[tracker]`).
    track_ms: Spread,
    total_ms: Spread,
    /// Frames per second from the median total (no capture).
    fps: f64,
    /// Heap allocations per timed frame: all inside tract (our stages allocate none, see
    /// tests/pipeline_no_alloc.rs).
    allocations_per_frame: Spread,
    /// Peak resident memory of the process so far (VmHWM).
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_rss_kb: Option<u64>,
}

/// One frame's stage times.
struct FrameTimes {
    detect: StageTimes,
    track: Duration,
    allocations: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn run(args: Args, threads: usize) -> Result<ExitCode> {
    let spec = args.src.spec(Some("synth"))?;
    let opts = args.src.options();
    let models: Vec<Option<PathBuf>> = if args.models.is_empty() {
        vec![None]
    } else {
        args.models.into_iter().map(Some).collect()
    };
    for model in models {
        let loading = Instant::now();
        let mut detector = super::detect::load_detector(
            model.as_deref(),
            None,
            ssd_edge::model::ModelFamily::Synthetic,
        )?;
        let load_ms = ms(loading.elapsed());
        let name = detector.origin().to_string();
        let mut tracker = Tracker::new(&TrackerConfig::default());
        let mut inputs: Vec<TrackInput> = Vec::with_capacity(ssd_edge::ssd::MAX_DETECTIONS);
        // Each model gets the source from its start: the same frames for every model.
        let mut src = source::open(&spec, &opts)?;
        let described = src.describe();
        let mut out = Detections::new();
        // `--frames` is bounded by MAX_BENCH_FRAMES, so this is at most a few MB.
        let frames = usize::try_from(args.frames)?;
        let mut times: Vec<FrameTimes> = Vec::with_capacity(frames);
        let mut seen = 0;
        let mut first_frame_ms = None;
        while times.len() < frames {
            let Some(frame) = src
                .next_frame(Duration::from_secs(5))
                .with_context(|| format!("reading {described}"))?
            else {
                break;
            };
            let (detected, allocations) =
                count_allocations(|| detector.detect_timed(&frame, &mut out));
            let detect = detected.with_context(|| format!("{name}: frame from {described}"))?;
            let tracking = Instant::now();
            inputs.clear();
            inputs.extend(
                out.iter()
                    .map(|d| TrackInput::from_detection(d, frame.width, frame.height)),
            );
            tracker.update(&inputs);
            let track = tracking.elapsed();
            first_frame_ms.get_or_insert(ms(detect.preprocess + detect.forward + detect.decode));
            seen += 1;
            if seen > args.warmup {
                times.push(FrameTimes {
                    detect,
                    track,
                    allocations,
                });
            }
        }
        if times.is_empty() {
            bail!(
                "{described}: no frames to time (after {} warm-up frames)",
                args.warmup
            );
        }
        let series = |f: &dyn Fn(&FrameTimes) -> f64| times.iter().map(f).collect();
        let total = Spread::of(series(&|t| {
            ms(t.detect.preprocess + t.detect.forward + t.detect.decode + t.track)
        }));
        let line = Line {
            model: name,
            threads,
            frames: times.len(),
            load_ms: (load_ms * 10.0).round() / 10.0,
            first_frame_ms: first_frame_ms.map_or(0.0, |v| (v * 10.0).round() / 10.0),
            preprocess_ms: Spread::of(series(&|t| ms(t.detect.preprocess))),
            forward_ms: Spread::of(series(&|t| ms(t.detect.forward))),
            decode_ms: Spread::of(series(&|t| ms(t.detect.decode))),
            track_ms: Spread::of(series(&|t| ms(t.track))),
            fps: (1e4 / total.median).round() / 10.0,
            total_ms: total,
            allocations_per_frame: Spread::of(series(&|t| t.allocations as f64)),
            peak_rss_kb: ssd_edge::pipeline::peak_rss_kb(),
        };
        super::output::stdout().line(serde_json::to_string(&line)?)?;
        if let Some(top) = args.profile {
            let p = profile(&mut detector, usize::from(top))?;
            super::output::stdout().line(serde_json::to_string(&p)?)?;
        }
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
                Ok(Cli { command: Command::Bench(a), .. }) => {
                    prop_assert_eq!(Some(a.frames), expect);
                    prop_assert_eq!(a.warmup, a.frames);
                }
                Ok(other) => prop_assert!(false, "{:?}", other),
                Err(_) => prop_assert!(expect.is_none()),
            }
        }
    }
}
