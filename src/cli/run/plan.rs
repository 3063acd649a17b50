//! What a run does, merged once: each flag over its `edge.toml` key over the default. No
//! model is loaded and no source opened here, so the rules are tested alone.

use super::{seconds, Args, EdgeConfig};
use anyhow::Result;
use ssd_edge::model::ModelFamily;
use ssd_edge::source::{SourceOptions, SourceSpec, StreamOptions};
use ssd_edge::store::StoreConfig;
use std::path::PathBuf;
use std::time::Duration;

/// Frames a synthetic run makes when `--frames` is not given (it never ends by itself).
const SYNTH_FRAMES: u64 = 100;
/// The synthetic scenes' frame size without `--size`.
const SYNTH_SIZE: (u32, u32) = (300, 300);
/// Longest wait for one frame without `--timeout` or `[source] timeout`.
const FRAME_TIMEOUT_S: f64 = 2.0;

#[derive(Debug)]
pub struct RunPlan {
    pub spec: SourceSpec,
    pub opts: SourceOptions,
    /// Which default model fits the source: the synthetic-street one for `synth`.
    pub family: ModelFamily,
    /// `--model`, else `[model] path`; None: the default model.
    pub model: Option<PathBuf>,
    pub sidecar: Option<PathBuf>,
    /// `--threshold`, else `[model] threshold`; None: the model's own.
    pub threshold: Option<f32>,
    pub max_frames: Option<u64>,
    pub frame_timeout: Duration,
    pub reconnect_for: Option<Duration>,
    /// `[store]` with `--db` over its path; None when neither is given.
    pub store: Option<StoreConfig>,
    /// `--track` (counting turns tracking on by itself).
    pub track: bool,
}

impl RunPlan {
    pub fn merge(args: &Args, cfg: &EdgeConfig) -> Result<Self> {
        let src = &cfg.source;
        let spec: SourceSpec = args.src.spec(Some(src.uri.as_deref().unwrap_or("synth")))?;
        let synthetic = matches!(spec, SourceSpec::Synth(_));
        let opts = SourceOptions {
            size: args.src.size.or(src.size),
            fps: args.src.fps.or(src.fps),
            format: args.src.format.or(src.format),
            stream: StreamOptions {
                realtime: args.src.realtime || src.realtime.unwrap_or(false),
                transport: args.src.transport.or(src.transport),
                username: src.username.clone(),
                password: src.password.clone(),
                open_timeout: None,
            },
        };
        Ok(RunPlan {
            family: if synthetic {
                ModelFamily::Synthetic
            } else {
                ModelFamily::Real
            },
            model: args.model.clone().or_else(|| cfg.model.path.clone()),
            sidecar: args.sidecar.clone().or_else(|| cfg.model.sidecar.clone()),
            threshold: args.threshold.or(cfg.model.threshold),
            max_frames: args
                .frames
                .or(src.frames)
                .or(synthetic.then_some(SYNTH_FRAMES)),
            frame_timeout: seconds(
                args.timeout.or(src.timeout).unwrap_or(FRAME_TIMEOUT_S),
                "--timeout",
            )?,
            reconnect_for: args
                .reconnect_for
                .or(src.reconnect_for)
                .map(|s| seconds(s, "--reconnect-for"))
                .transpose()?,
            store: store_config(cfg, args),
            track: args.track,
            spec,
            opts,
        })
    }

    /// The frame size before any frame: `--size`, `[source] size`, or the synthetic scenes'.
    pub fn known_frame_size(&self) -> Option<(u32, u32)> {
        self.opts
            .size
            .or(matches!(self.spec, SourceSpec::Synth(_)).then_some(SYNTH_SIZE))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use ssd_edge::frame::PixelFormat;
    use ssd_edge::source::Transport;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: Args,
    }

    fn plan(flags: &[&str], toml: &str) -> RunPlan {
        let args = Cli::parse_from(std::iter::once("run").chain(flags.iter().copied())).run;
        let cfg = EdgeConfig::parse(toml).unwrap();
        RunPlan::merge(&args, &cfg).unwrap()
    }

    #[test]
    fn without_flags_or_config_it_is_a_short_synthetic_run() {
        let p = plan(&[], "");
        assert!(matches!(p.spec, SourceSpec::Synth(_)));
        assert_eq!(p.family, ModelFamily::Synthetic);
        assert_eq!(p.max_frames, Some(SYNTH_FRAMES));
        assert_eq!(p.known_frame_size(), Some(SYNTH_SIZE));
        assert_eq!(p.frame_timeout, Duration::from_secs(2));
        assert_eq!(
            (p.model, p.threshold, p.store.is_some()),
            (None, None, false)
        );
    }

    #[test]
    fn the_config_is_used_where_no_flag_is_given() {
        let toml = r#"
            [source]
            uri = "rtsp://cam.local/stream"
            size = "640x480"
            format = "yuyv"
            transport = "udp"
            frames = 7
            timeout = 5
            reconnect_for = 60
            realtime = true
            [model]
            path = "m.onnx"
            threshold = 0.25
            [store]
            path = "counts.db"
        "#;
        let p = plan(&[], toml);
        assert_eq!(p.family, ModelFamily::Real);
        assert_eq!(p.opts.size, Some((640, 480)));
        assert_eq!(p.known_frame_size(), Some((640, 480)));
        assert_eq!(p.opts.format, Some(PixelFormat::Yuyv));
        assert_eq!(p.opts.stream.transport, Some(Transport::Udp));
        assert!(p.opts.stream.realtime);
        assert_eq!(p.max_frames, Some(7));
        assert_eq!(p.frame_timeout, Duration::from_secs(5));
        assert_eq!(p.reconnect_for, Some(Duration::from_secs(60)));
        assert_eq!(p.model, Some(PathBuf::from("m.onnx")));
        assert_eq!(p.threshold, Some(0.25));
        assert_eq!(p.store.unwrap().path, PathBuf::from("counts.db"));
    }

    #[test]
    fn flags_win_over_the_config() {
        let toml = r#"
            [source]
            uri = "rtsp://cam.local/stream"
            size = "640x480"
            format = "yuyv"
            transport = "udp"
            frames = 7
            timeout = 5
            [model]
            path = "m.onnx"
            threshold = 0.25
            [store]
            path = "counts.db"
            retention_days = 30
        "#;
        let flags = [
            "--source",
            "synth:3",
            "--size",
            "320x240",
            "--format",
            "mjpg",
            "--transport",
            "tcp",
            "--frames",
            "9",
            "--timeout",
            "0.5",
            "--model",
            "n.onnx",
            "--threshold",
            "0.6",
            "--db",
            "other.db",
            "--track",
        ];
        let p = plan(&flags, toml);
        assert!(matches!(p.spec, SourceSpec::Synth(3)));
        assert_eq!(p.family, ModelFamily::Synthetic);
        assert_eq!(p.opts.size, Some((320, 240)));
        assert_eq!(p.opts.format, Some(PixelFormat::Mjpg));
        assert_eq!(p.opts.stream.transport, Some(Transport::Tcp));
        assert_eq!(p.max_frames, Some(9));
        assert_eq!(p.frame_timeout, Duration::from_millis(500));
        assert_eq!(p.model, Some(PathBuf::from("n.onnx")));
        assert_eq!(p.threshold, Some(0.6));
        assert!(p.track);
        // --db replaces the path only: the rest of [store] stays.
        let store = p.store.unwrap();
        assert_eq!(store.path, PathBuf::from("other.db"));
        assert_eq!(store.retention_days, 30);
    }

    #[test]
    fn db_alone_makes_a_default_store() {
        let p = plan(&["--db", "x.db"], "");
        let store = p.store.unwrap();
        assert_eq!(store.path, PathBuf::from("x.db"));
        assert_eq!(store.retention_days, StoreConfig::default().retention_days);
    }

    #[test]
    fn bad_durations_are_errors_naming_the_flag() {
        let args = Cli::parse_from(["run", "--timeout=-1"]).run;
        let e = RunPlan::merge(&args, &EdgeConfig::default()).unwrap_err();
        assert!(e.to_string().contains("--timeout -1"), "{e}");
    }
}
