//! The source flags `run`, `record` and `bench` share, defined once.

use anyhow::{Context, Result};
use ssd_edge::frame::PixelFormat;
use ssd_edge::source::{self, SourceOptions, SourceSpec, StreamOptions, Transport};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct SourceArgs {
    /// camera:/dev/videoN, an image file, a directory of images, replay:FILE, synth[:SEED],
    /// a video file (file:PATH, or a .mp4/.avi/.mkv/.mov... path), rtsp://[user:pass@]host/...
    /// or an http:// MJPEG stream (video files and streams need ffmpeg installed).
    #[arg(long)]
    pub source: Option<String>,
    /// Capture size to ask the camera for (also the synthetic scene size).
    #[arg(long, value_parser = source::parse_size, value_name = "WxH")]
    pub size: Option<(u32, u32)>,
    /// Frame rate to ask the camera for.
    #[arg(long)]
    pub fps: Option<u32>,
    /// Preferred camera pixel format.
    #[arg(long, value_enum, ignore_case = true)]
    pub format: Option<PixelFormat>,
    /// RTSP transport: tcp or udp [default: tcp; a URL's ?transport= wins].
    #[arg(long, value_parser = clap::value_parser!(Transport))]
    pub transport: Option<Transport>,
    /// Read a video file at its own frame rate, newest frame only, like a camera [default:
    /// every frame, as fast as inference goes].
    #[arg(long)]
    pub realtime: bool,
}

impl SourceArgs {
    /// `--source`, else `default`; a command whose source has no default passes None.
    pub fn spec(&self, default: Option<&str>) -> Result<SourceSpec> {
        let s = self
            .source
            .as_deref()
            .or(default)
            .context("--source is required (camera:/dev/videoN, synth, replay:FILE, ...)")?;
        Ok(s.parse()?)
    }

    pub fn options(&self) -> SourceOptions {
        SourceOptions {
            size: self.size,
            fps: self.fps,
            format: self.format,
            stream: StreamOptions {
                realtime: self.realtime,
                transport: self.transport,
                ..StreamOptions::default()
            },
        }
    }
}
