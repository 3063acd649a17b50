//! `ssd-edge run`: frames from a source through detect -> track -> count -> sinks. One JSON
//! line per frame on stdout, a summary line at the end; with lines or zones in the config,
//! events and running totals go to the store (SQLite) as well.

use anyhow::{bail, Context, Result};
use ssd_edge::config::EdgeConfig;
use ssd_edge::count::Counter;
use ssd_edge::model::ModelFamily;
use ssd_edge::pipeline::{Pipeline, PipelineConfig};
#[cfg(feature = "mqtt")]
use ssd_edge::sink::mqtt;
use ssd_edge::sink::store::StoreSink;
use ssd_edge::sink::{GroundTruthSink, JsonLines};
use ssd_edge::source::{self, SourceOptions, SourceSpec};
use ssd_edge::store::{RunInfo, Store, StoreConfig};
use ssd_edge::track::Tracker;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Frames a synthetic run makes when `--frames` is not given (it never ends by itself).
const SYNTH_FRAMES: u64 = 100;
/// The synthetic scenes' frame size without `--size`.
const SYNTH_SIZE: (u32, u32) = (300, 300);

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
    let src = &cfg.source;
    let spec: SourceSpec = args.src.spec(Some(src.uri.as_deref().unwrap_or("synth")))?;
    let opts = SourceOptions {
        size: match args.src.size {
            Some(s) => Some(s),
            None => src
                .size
                .as_deref()
                .map(source::parse_size)
                .transpose()
                .map_err(|e| config_error(&args, "source.size", e))?,
        },
        fps: args.src.fps.or(src.fps),
        format: match args.src.format {
            Some(f) => Some(f),
            None => src
                .format
                .as_deref()
                .map(source::parse_format)
                .transpose()
                .map_err(|e| config_error(&args, "source.format", e))?,
        },
        stream: source::StreamOptions {
            realtime: args.src.realtime || src.realtime.unwrap_or(false),
            transport: match args.src.transport {
                Some(t) => Some(t),
                None => src
                    .transport
                    .as_deref()
                    .map(str::parse)
                    .transpose()
                    .map_err(|e| config_error(&args, "source.transport", e))?,
            },
            username: src.username.clone(),
            password: src.password.clone(),
            open_timeout: None,
        },
    };
    // A board with both variants runs the faster one (see `model::auto`).
    let family = if matches!(spec, SourceSpec::Synth(_)) {
        ModelFamily::Synthetic
    } else {
        ModelFamily::Real
    };
    let auto_default = (!cfg!(feature = "embed-model")
        && ssd_edge::model::auto::variants_in(Path::new("models"), family).is_some())
    .then(|| Path::new(ssd_edge::model::auto::AUTO));
    let model = args
        .model
        .as_deref()
        .or(cfg.model.path.as_deref())
        .or(auto_default);
    let sidecar = args.sidecar.as_deref().or(cfg.model.sidecar.as_deref());
    let detector = super::detect::load_detector(model, sidecar, family)?;
    let model_name = detector.origin().to_string();
    let input = (detector.meta().input.width, detector.meta().input.height);
    // One rule for `detect` and `run`: the flag, else the config, else the model's own value
    // (each validated where it is read).
    let threshold = args
        .threshold
        .or(cfg.model.threshold)
        .unwrap_or(detector.meta().detection_threshold);

    let count_spec = cfg.count_spec();
    let labels = detector.meta().labels.clone();
    let counter = if count_spec.is_empty() {
        None
    } else {
        let c = Counter::new(count_spec.clone(), &labels, cfg.tracker.capacity)
            .map_err(|e| config_error(&args, &e.key, e.message))?;
        Some(c)
    };
    // Pixel coordinates against a frame size known before any frame (`--size`, `[source]
    // size`, the synthetic scenes' 300x300), named by the config like every other key.
    if counter.is_some() {
        let known = opts
            .size
            .or(matches!(spec, SourceSpec::Synth(_)).then_some(SYNTH_SIZE));
        if let Some((w, h)) = known {
            count_spec
                .resolve(w, h, &labels)
                .map_err(|e| config_error(&args, &e.key, e.message))?;
        }
    }
    let tracking = args.track || counter.is_some();
    let mut counter = counter;
    let store_path = counter
        .as_ref()
        .and(store_config(&cfg, &args))
        .map(|s| s.path);
    let store = match (&counter, store_config(&cfg, &args)) {
        (Some(_), Some(scfg)) => {
            let store = Store::open(&scfg.path, &scfg)?;
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

    let source = source::open(&spec, &opts)?;
    let source_name = source.describe();
    log::info!("source: {source_name}");
    let max_frames = args
        .frames
        .or(src.frames)
        .or(matches!(spec, SourceSpec::Synth(_)).then_some(SYNTH_FRAMES));
    let stop = ssd_edge::shutdown::install().context("installing the signal handlers")?;
    let pcfg = PipelineConfig {
        frame_timeout: seconds(args.timeout.or(src.timeout).unwrap_or(2.0), "--timeout")?,
        max_frames,
        threshold,
        reconnect_for: args
            .reconnect_for
            .or(src.reconnect_for)
            .map(|s| seconds(s, "--reconnect-for"))
            .transpose()?,
        stop: Some(stop),
        ..PipelineConfig::default()
    };
    let out = BufWriter::new(std::io::stdout().lock());
    let mut pipeline = Pipeline::new(source, detector, pcfg).with_sink(Box::new(JsonLines::new(
        out,
        tracking,
        counter.is_some(),
    )));
    if tracking {
        pipeline = pipeline.with_tracker(Tracker::new(&cfg.tracker));
    }
    #[cfg(feature = "mqtt")]
    let mqtt_keys = counter
        .as_ref()
        .map(mqtt::CountKeys::of)
        .unwrap_or_default();
    if let Some(c) = counter {
        pipeline = pipeline.with_counter(c);
    }
    #[cfg(feature = "mqtt")]
    let mut store_link = None;
    let mut store_status = None;
    if let Some(store) = store {
        let info = RunInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            model: model_name.clone(),
        };
        let sink = StoreSink::start(store, info)?;
        #[cfg(feature = "mqtt")]
        {
            store_link = Some(mqtt::StoreLink {
                path: sink.path().to_owned(),
                run_id: sink.run_id(),
            });
        }
        store_status = Some(sink.status_handle());
        pipeline = pipeline.with_sink(Box::new(sink));
    }
    // After the store sink: sinks finish in order, so the MQTT thread's final totals and
    // read-backs see everything committed.
    #[cfg(feature = "mqtt")]
    if let Some(m) = &cfg.mqtt {
        let sink = mqtt::MqttSink::start(m, mqtt_keys, store_link, &model_name)?;
        pipeline = pipeline.with_sink(Box::new(sink));
    }
    #[cfg(feature = "http")]
    if let Some(http) = &cfg.http {
        let facts = super::serve::RunFacts {
            model: model_name.clone(),
            source: source_name,
            frame_size: opts.size,
            store_path,
            store_status,
        };
        pipeline = super::serve::attach(pipeline, http, &cfg, input, facts)?;
    }
    #[cfg(not(feature = "http"))]
    let _ = (input, source_name, store_path, store_status);
    if matches!(spec, SourceSpec::Synth(_)) {
        let gt = GroundTruthSink::new(pipeline.labels(), 0.5);
        pipeline = pipeline.with_sink(Box::new(gt));
    }

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
    result.map_err(|e| match e {
        // A frame of another size than expected: name the config as at start-up.
        ssd_edge::pipeline::PipelineError::Count(e) => config_error(&args, &e.key, e.message),
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

/// `[store]` with `--db` over its path; None when neither is given.
fn store_config(cfg: &EdgeConfig, args: &Args) -> Option<StoreConfig> {
    let mut s = match (&cfg.store, &args.db) {
        (None, None) => return None,
        (Some(s), _) => s.clone(),
        (None, Some(_)) => StoreConfig::default(),
    };
    if let Some(db) = &args.db {
        s.path = db.clone();
    }
    Some(s)
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
