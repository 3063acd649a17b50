//! `ssd-edge run`: frames from a source through detect -> track -> count -> sinks. One JSON
//! line per frame on stdout, a summary line at the end; with lines or zones in the config,
//! events and running totals go to the store (SQLite) as well.
//!
//! In three steps: `plan` merges the flags over the config over the defaults (no model, no
//! source: tested alone), `run` loads the model and assembles the pipeline, `outputs` wires
//! the sinks each feature brings (store, MQTT, HTTP, the synthetic ground truth).

mod outputs;
mod plan;

use super::config::EdgeConfig;
use anyhow::{bail, Context, Result};
use plan::RunPlan;
use ssd_edge::count::Counter;
use ssd_edge::pipeline::{Pipeline, PipelineConfig};
use ssd_edge::sink::JsonLines;
use ssd_edge::source::{self, SourceSpec};
use ssd_edge::store::Store;
use ssd_edge::track::Tracker;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The board's config file: [source], [model], [tracker], [store], [mqtt], [[line]], [[zone]]
    /// (example: deploy/edge.toml). Flags override it.
    #[arg(long, value_name = "edge.toml")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub src: super::source_args::SourceArgs,
    /// ONNX model, or `auto` (or `DIR/auto`): the faster of the folder's int8 and float
    /// variants of the default model, timed at start-up. The default model is the real COCO
    /// detector (models/coco-ssdlite-mnv2{,-float}.onnx), or for the synthetic source the
    /// synthetic-street model (models/default{,-float}.onnx) [default: auto when models/ has
    /// both variants, else the int8 file].
    #[arg(long, value_name = "M.onnx")]
    pub model: Option<PathBuf>,
    /// Sidecar TOML for a model without ssd-edge metadata.
    #[arg(long, value_name = "S.toml")]
    pub sidecar: Option<PathBuf>,
    /// Stop after this many processed frames [synth default: 100].
    #[arg(long)]
    pub frames: Option<u64>,
    /// Minimum score of reported detections [default: the model's detection_threshold].
    #[arg(long, value_name = "T", value_parser = ssd_edge::model::meta::parse_threshold)]
    pub threshold: Option<f32>,
    /// Track objects (on by itself when the config has lines or zones).
    #[arg(long)]
    pub track: bool,
    /// Event database (SQLite): overrides `[store] path`; with lines or zones, counts are
    /// kept here and continue from it after a restart.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Longest wait for one frame, in seconds [default: 2].
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Give up reconnecting to a camera after this many seconds [default: never].
    #[arg(long, value_name = "SECONDS")]
    pub reconnect_for: Option<f64>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let cfg = match &args.config {
        Some(path) => EdgeConfig::load(path)?,
        None => EdgeConfig::default(),
    };
    let plan = RunPlan::merge(&args, &cfg)?;
    let named = |key: &str, message: String| config_error(&args, key, message);

    // A board with both variants runs the faster one (see `model::auto`).
    let auto_default = (!cfg!(feature = "embed-model")
        && ssd_edge::model::auto::variants_in(Path::new("models"), plan.family).is_some())
    .then(|| Path::new(ssd_edge::model::auto::AUTO));
    let model = plan.model.as_deref().or(auto_default);
    let detector = super::detect::load_detector(model, plan.sidecar.as_deref(), plan.family)?;
    let model_name = detector.origin().to_string();
    let input = (detector.meta().input.width, detector.meta().input.height);
    // One rule for `detect` and `run`: the flag, else the config, else the model's own value
    // (each validated where it is read).
    let threshold = plan
        .threshold
        .unwrap_or(detector.meta().detection_threshold);

    let labels = detector.meta().labels.clone();
    let mut counter = counter_for(&cfg, &plan, &labels, named)?;
    let store = match (&counter, &plan.store) {
        (Some(_), Some(scfg)) => {
            let store = Store::open(&scfg.path, scfg)?;
            let earlier = store.totals()?;
            if let Some(c) = counter.as_mut() {
                c.seed_totals(earlier.iter().map(|(k, n)| (k, *n)));
            }
            log::info!("counting into {}", scfg.path.display());
            Some(store)
        }
        (Some(_), None) => {
            log::warn!("counts are not kept on disk: add a [store] table or --db");
            None
        }
        (None, _) => None,
    };

    let source = source::open(&plan.spec, &plan.opts)?;
    let source_name = source.describe();
    log::info!("source: {source_name}");
    let stop = ssd_edge::shutdown::install().context("installing the signal handlers")?;
    let pcfg = PipelineConfig {
        frame_timeout: plan.frame_timeout,
        max_frames: plan.max_frames,
        threshold,
        reconnect_for: plan.reconnect_for,
        stop: Some(stop),
        ..PipelineConfig::default()
    };
    let tracking = plan.track || counter.is_some();
    let out = BufWriter::new(std::io::stdout().lock());
    let mut pipeline = Pipeline::new(source, detector, pcfg).with_sink(Box::new(JsonLines::new(
        out,
        tracking,
        counter.is_some(),
    )));
    if tracking {
        pipeline = pipeline.with_tracker(Tracker::new(&cfg.tracker));
    }
    let outputs = outputs::Outputs {
        cfg: &cfg,
        model_name,
        source_name,
        input,
        frame_size: plan.opts.size,
        synthetic: matches!(plan.spec, SourceSpec::Synth(_)),
    };
    let pipeline = outputs.attach(pipeline, counter, store)?;
    finish(pipeline, &cfg, stop, named)
}

/// The counter of the config's lines and zones (None without any), checked against the
/// model's labels and, where the frame size is known before the first frame (`--size`,
/// `[source] size`, the synthetic scenes' 300x300), against it: named by the config like
/// every other key.
fn counter_for(
    cfg: &EdgeConfig,
    plan: &RunPlan,
    labels: &[String],
    named: impl Fn(&str, String) -> anyhow::Error,
) -> Result<Option<Counter>> {
    let count_spec = cfg.count_spec();
    if count_spec.is_empty() {
        return Ok(None);
    }
    let counter = Counter::new(count_spec.clone(), labels, cfg.tracker.capacity)
        .map_err(|e| named(&e.key, e.message))?;
    if let Some((w, h)) = plan.known_frame_size() {
        count_spec
            .resolve(w, h, labels)
            .map_err(|e| named(&e.key, e.message))?;
    }
    Ok(Some(counter))
}

/// Runs the pipeline, prints the summary line and says how the run went.
fn finish(
    mut pipeline: Pipeline,
    cfg: &EdgeConfig,
    stop: &'static AtomicBool,
    named: impl Fn(&str, String) -> anyhow::Error,
) -> Result<ExitCode> {
    let result = pipeline.run();
    if let Err(e) = &result {
        if e.is_output_closed() {
            // `ssd-edge run | head`: the reader has what it wanted.
            return Ok(ExitCode::SUCCESS);
        }
    }
    let summary = pipeline.summary();
    let mut stdout = std::io::stdout().lock();
    let printed = writeln!(stdout, "{}", serde_json::json!({ "summary": summary }))
        .and_then(|_| stdout.flush());
    match printed {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        other => other.context("writing the summary to stdout")?,
    }
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
    #[cfg(feature = "http")]
    if cfg.http.as_ref().is_some_and(|h| h.serve_after_end) {
        super::serve::linger(stop);
    }
    #[cfg(not(feature = "http"))]
    let _ = (cfg, stop);
    result.map_err(|e| match e {
        // A frame of another size than expected: name the config as at start-up.
        ssd_edge::pipeline::PipelineError::Count(e) => named(&e.key, e.message),
        e => e.into(),
    })?;
    if summary.frames == 0 {
        bail!(
            "no frame could be processed ({} corrupt, {} timeouts)",
            summary.corrupt,
            summary.timeouts
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn config_error(args: &Args, key: &str, message: impl std::fmt::Display) -> anyhow::Error {
    match &args.config {
        Some(p) => anyhow::anyhow!("{}: {key}: {message}", p.display()),
        None => anyhow::anyhow!("{key}: {message}"),
    }
}

pub fn seconds(s: f64, flag: &str) -> Result<Duration> {
    anyhow::ensure!(
        s.is_finite() && s > 0.0 && s < 1e6,
        "{flag} {s}: must be a positive number of seconds"
    );
    Ok(Duration::from_secs_f64(s))
}
