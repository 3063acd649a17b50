//! Where frames come from: a V4L2 camera, image files, a directory, a raw-frame recording or
//! the synthetic scene generator. Every source hands out one borrowed [`Frame`] at a time
//! from buffers it owns, and every wait it does is bounded by the caller's timeout.
//!
//! Sources are named by a string (`--source`): `camera:/dev/video0`, `synth[:SEED]`,
//! `replay:FILE`, a directory, an image file, a video file (`file:PATH` or a path ending in
//! .mp4, .avi, .mkv, .mov...), or an `rtsp://`, `http://` (MJPEG) stream; the last two are
//! decoded by an `ffmpeg` child process (`ffmpeg`, docs/sources.md).

#[cfg(feature = "camera")]
pub mod camera;
pub mod ffmpeg;
pub mod files;
pub mod replay;
pub mod synth;
pub mod url;

pub use ffmpeg::StreamOptions;
pub use synth::GroundTruth;
pub use url::{Secret, StreamUrl, Transport};

use crate::frame::{Frame, PixelFormat};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// A stream of frames. `next_frame` returns `Ok(None)` at the end of a finite source.
pub trait FrameSource {
    /// The next frame, borrowed until the following call. Waits at most `timeout`.
    fn next_frame(&mut self, timeout: Duration) -> Result<Option<Frame<'_>>, SourceError>;

    /// A short human description (device, card, negotiated format...).
    fn describe(&self) -> String;

    /// Counters kept by the source itself (frames the driver or we dropped, reconnects...).
    fn stats(&self) -> SourceStats {
        SourceStats::default()
    }

    /// Re-open after [`SourceError::Disconnected`]; only live devices can.
    fn reconnect(&mut self) -> Result<(), SourceError> {
        Err(SourceError::Spec(format!(
            "{} cannot reconnect",
            self.describe()
        )))
    }

    /// Ground truth of the last frame, for sources that know it (synthetic scenes).
    fn ground_truth(&self) -> Option<GroundTruth<'_>> {
        None
    }

    /// A name for the last frame when it has one (the image file's path).
    fn frame_name(&self) -> Option<&str> {
        None
    }
}

/// Counters a source keeps across its whole life, reconnects included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceStats {
    /// Frames captured but never handed out: skipped to stay on the newest frame, or lost by
    /// the driver (gaps in its sequence numbers).
    pub dropped: u64,
    /// Successful reconnects after the device went away.
    pub reconnects: u64,
}

/// What went wrong with a source. [`SourceError::is_skippable`] errors spoil one frame only.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{}: no such video device", .path.display())]
    DeviceMissing { path: PathBuf },
    #[error("{}: device busy (another program is using it)", .path.display())]
    DeviceBusy { path: PathBuf },
    #[error("{}: permission denied (is the user in the 'video' group?)", .path.display())]
    PermissionDenied { path: PathBuf },
    #[error("{}: not a video capture device with streaming I/O ({detail})", .path.display())]
    NotCapture { path: PathBuf, detail: String },
    #[error(
        "{}: no pixel format ssd-edge can read (device offers {offered}; supported: MJPG, YUYV, RGB3, BGR3, GREY, NV12)",
        .path.display()
    )]
    UnsupportedFormat { path: PathBuf, offered: String },
    #[error("{}: no frame within {} ms", .path.display(), .timeout.as_millis())]
    Timeout { path: PathBuf, timeout: Duration },
    #[error("{}: device disconnected", .path.display())]
    Disconnected { path: PathBuf },
    // The io error is part of the message, not a `source()`: anyhow's `{:#}` would print it
    // twice.
    #[error("{}: {what}: {error}", .path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        error: std::io::Error,
    },
    #[error("{}: {msg}", .path.display())]
    BadFrame { path: PathBuf, msg: String },
    #[error("{}: recording truncated at byte offset {offset}: {what}", .path.display())]
    Truncated {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    #[error("{}: not an ssd-edge recording: {what}", .path.display())]
    BadRecording { path: PathBuf, what: String },
    #[error("{0}")]
    Spec(String),
    /// ffmpeg cannot read this source at all (missing binary, not a video, a file that
    /// failed mid-way); `name` never shows a password.
    #[error("{name}: {detail}")]
    Ffmpeg { name: String, detail: String },
    /// A network stream was lost (refused, ended, stalled, ffmpeg failed): reconnect.
    #[error("{name}: {detail}")]
    StreamLost { name: String, detail: String },
}

impl SourceError {
    /// The frame is lost but the source can go on (a bad image in a directory, a frame the
    /// driver flagged as corrupt).
    pub fn is_skippable(&self) -> bool {
        matches!(self, SourceError::BadFrame { .. })
    }

    /// The device went away mid-stream; [`FrameSource::reconnect`] may bring it back.
    pub fn is_disconnect(&self) -> bool {
        matches!(
            self,
            SourceError::Disconnected { .. } | SourceError::StreamLost { .. }
        )
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, SourceError::Timeout { .. })
    }

    pub(crate) fn io(path: &Path, what: &'static str, error: std::io::Error) -> Self {
        SourceError::Io {
            path: path.to_owned(),
            what,
            error,
        }
    }
}

/// A parsed `--source` string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    Camera(PathBuf),
    Synth(u64),
    Replay(PathBuf),
    Directory(PathBuf),
    Image(PathBuf),
    /// A video file decoded by ffmpeg.
    Video(PathBuf),
    /// An RTSP or HTTP stream decoded by ffmpeg.
    Stream(StreamUrl),
}

impl FromStr for SourceSpec {
    type Err = SourceError;

    fn from_str(s: &str) -> Result<Self, SourceError> {
        if let Some(dev) = s.strip_prefix("camera:") {
            if dev.is_empty() {
                return Err(SourceError::Spec(
                    "camera: needs a device, e.g. camera:/dev/video0".into(),
                ));
            }
            return Ok(SourceSpec::Camera(dev.into()));
        }
        if s == "synth" {
            return Ok(SourceSpec::Synth(0));
        }
        if let Some(seed) = s.strip_prefix("synth:") {
            return seed
                .parse()
                .map(SourceSpec::Synth)
                .map_err(|_| SourceError::Spec(format!("synth seed '{seed}' is not a number")));
        }
        if let Some(file) = s.strip_prefix("replay:") {
            if file.is_empty() {
                return Err(SourceError::Spec(
                    "replay: needs a recording, e.g. replay:capture.rec".into(),
                ));
            }
            return Ok(SourceSpec::Replay(file.into()));
        }
        if let Some(url) = StreamUrl::parse(s) {
            return url.map(SourceSpec::Stream).map_err(SourceError::Spec);
        }
        if let Some(file) = s.strip_prefix("file:") {
            if file.is_empty() {
                return Err(SourceError::Spec(
                    "file: needs a video file, e.g. file:door.mp4".into(),
                ));
            }
            return Ok(SourceSpec::Video(file.into()));
        }
        let path = Path::new(s);
        if path.is_dir() {
            Ok(SourceSpec::Directory(path.into()))
        } else if path.starts_with("/dev")
            && path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("video"))
        {
            Ok(SourceSpec::Camera(path.into()))
        } else if ffmpeg::is_video_path(path) {
            Ok(SourceSpec::Video(path.into()))
        } else if path.exists() {
            Ok(SourceSpec::Image(path.into()))
        } else {
            Err(SourceError::Spec(format!(
                "source '{s}': no such file or directory (use camera:/dev/videoN, synth[:SEED], replay:FILE, file:VIDEO, rtsp://..., http://..., a directory or an image file)"
            )))
        }
    }
}

/// What a source should deliver; devices treat these as preferences to negotiate.
#[derive(Clone, Debug, Default)]
pub struct SourceOptions {
    pub size: Option<(u32, u32)>,
    pub fps: Option<u32>,
    pub format: Option<PixelFormat>,
    /// Video files and network streams (ffmpeg).
    pub stream: StreamOptions,
}

/// Opens the source a spec names.
pub fn open(spec: &SourceSpec, opts: &SourceOptions) -> Result<Box<dyn FrameSource>, SourceError> {
    match spec {
        #[cfg(feature = "camera")]
        SourceSpec::Camera(path) => Ok(Box::new(camera::Camera::open(path, opts)?)),
        #[cfg(not(feature = "camera"))]
        SourceSpec::Camera(path) => Err(SourceError::Spec(format!(
            "{}: this build has no camera support (feature 'camera')",
            path.display()
        ))),
        SourceSpec::Synth(seed) => synth_source(*seed, opts),
        SourceSpec::Replay(path) => Ok(Box::new(replay::Replay::open(path)?)),
        SourceSpec::Directory(path) => Ok(Box::new(files::ImageFiles::directory(path)?)),
        SourceSpec::Image(path) => Ok(Box::new(files::ImageFiles::single(path))),
        SourceSpec::Video(path) => Ok(Box::new(ffmpeg::FfmpegSource::open(
            ffmpeg::Input::File(path.clone()),
            &opts.stream,
        )?)),
        SourceSpec::Stream(url) => Ok(Box::new(ffmpeg::FfmpegSource::open(
            ffmpeg::Input::Url(url.clone()),
            &opts.stream,
        )?)),
    }
}

fn synth_source(seed: u64, opts: &SourceOptions) -> Result<Box<dyn FrameSource>, SourceError> {
    Ok(Box::new(synth::SynthSource::new(seed, opts.size, opts.fps)))
}

/// Parses `640x480`.
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("size '{s}' is not WIDTHxHEIGHT"))?;
    let w: u32 = w.parse().map_err(|_| format!("size '{s}': bad width"))?;
    let h: u32 = h.parse().map_err(|_| format!("size '{s}': bad height"))?;
    if w == 0 || h == 0 || w > 16384 || h > 16384 {
        return Err(format!("size '{s}' out of range"));
    }
    crate::limits::check_frame_size(w, h).map_err(|e| format!("size '{s}': {e}"))?;
    Ok((w, h))
}

/// Parses a pixel format name as used on the command line and in V4L2 fourccs.
pub fn parse_format(s: &str) -> Result<PixelFormat, String> {
    <PixelFormat as clap::ValueEnum>::from_str(s, true)
        .map_err(|_| format!("unknown pixel format '{s}' (mjpg, yuyv, rgb24, bgr24, grey, nv12)"))
}

/// The V4L2 fourcc of a format (also the tag used in recordings).
pub fn fourcc(format: PixelFormat) -> [u8; 4] {
    match format {
        PixelFormat::Rgb24 => *b"RGB3",
        PixelFormat::Bgr24 => *b"BGR3",
        PixelFormat::Grey => *b"GREY",
        PixelFormat::Yuyv => *b"YUYV",
        PixelFormat::Nv12 => *b"NV12",
        PixelFormat::Mjpg => *b"MJPG",
    }
}

pub fn from_fourcc(code: [u8; 4]) -> Option<PixelFormat> {
    Some(match &code {
        b"RGB3" => PixelFormat::Rgb24,
        b"BGR3" => PixelFormat::Bgr24,
        b"GREY" => PixelFormat::Grey,
        b"YUYV" => PixelFormat::Yuyv,
        b"NV12" => PixelFormat::Nv12,
        b"MJPG" => PixelFormat::Mjpg,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!("synth".parse::<SourceSpec>().unwrap(), SourceSpec::Synth(0));
        assert_eq!(
            "synth:7".parse::<SourceSpec>().unwrap(),
            SourceSpec::Synth(7)
        );
        assert_eq!(
            "camera:/dev/video3".parse::<SourceSpec>().unwrap(),
            SourceSpec::Camera("/dev/video3".into())
        );
        assert_eq!(
            "replay:x.rec".parse::<SourceSpec>().unwrap(),
            SourceSpec::Replay("x.rec".into())
        );
        assert!("synth:abc".parse::<SourceSpec>().is_err());
        assert!("replay:".parse::<SourceSpec>().is_err());
        assert!("/no/such/file.png".parse::<SourceSpec>().is_err());
        assert_eq!(
            "file:a.bin".parse::<SourceSpec>().unwrap(),
            SourceSpec::Video("a.bin".into())
        );
        assert_eq!(
            "/x/door.mp4".parse::<SourceSpec>().unwrap(),
            SourceSpec::Video("/x/door.mp4".into())
        );
        let SourceSpec::Stream(u) = "rtsp://u:pw@cam/s?transport=udp"
            .parse::<SourceSpec>()
            .unwrap()
        else {
            panic!("not a stream")
        };
        assert_eq!(u.transport(), Some(Transport::Udp));
        assert!(!format!("{u:?} {u}").contains("pw"));
        assert_eq!(parse_size("640x480"), Ok((640, 480)));
        assert!(parse_size("640").is_err());
        for f in ["mjpg", "yuyv", "rgb24", "bgr24", "grey", "nv12"] {
            let pf = parse_format(f).unwrap();
            assert_eq!(from_fourcc(fourcc(pf)), Some(pf));
        }
        for (alias, pf) in [
            ("MJPEG", PixelFormat::Mjpg),
            ("yuy2", PixelFormat::Yuyv),
            ("RGB3", PixelFormat::Rgb24),
            ("bgr", PixelFormat::Bgr24),
            ("Gray", PixelFormat::Grey),
            ("y8", PixelFormat::Grey),
        ] {
            assert_eq!(parse_format(alias), Ok(pf), "{alias}");
        }
        assert!(parse_format("h264").unwrap_err().contains("'h264'"));
    }
}
