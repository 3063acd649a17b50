//! `edge.toml`: what a board runs, in one file (`ssd-edge run --config edge.toml`). Every
//! table is optional; command-line flags override what the file says. Unknown keys and bad
//! values are errors naming the file, the key and the problem, before anything starts.
//! Relative paths are relative to the file's folder, so a config and its model can move
//! together. `deploy/edge.toml` is a commented example.

use serde::Deserialize;
use ssd_edge::count::{CountSpec, LineConfig, ZoneConfig};
use ssd_edge::frame::PixelFormat;
use ssd_edge::source::Transport;
use ssd_edge::track::TrackerConfig;
use std::path::{Path, PathBuf};

/// Largest config file read (a config is a few kB; anything bigger is not one).
pub const MAX_CONFIG_BYTES: u64 = ssd_edge::limits::MAX_TEXT_FILE_BYTES;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    #[serde(default)]
    pub source: SourceSection,
    #[serde(default)]
    pub model: ModelSection,
    #[serde(default)]
    pub tracker: TrackerConfig,
    #[cfg(feature = "store")]
    pub store: Option<ssd_edge::store::StoreConfig>,
    #[cfg(feature = "mqtt")]
    pub mqtt: Option<ssd_edge::sink::mqtt::MqttConfig>,
    #[serde(default, rename = "line")]
    pub lines: Vec<LineConfig>,
    #[serde(default, rename = "zone")]
    pub zones: Vec<ZoneConfig>,
    /// `[http]`: the listener for `/metrics`, `/status` and the status page.
    #[cfg(feature = "http")]
    pub http: Option<ssd_edge::http::HttpConfig>,
}

/// `[source]`: where frames come from (as `--source` and its flags).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    /// `camera:/dev/video0`, `synth[:SEED]`, `replay:FILE`, a directory, an image file, a
    /// video file (`file:PATH`), `rtsp://...` or an `http://` MJPEG stream.
    pub uri: Option<String>,
    /// `WxH`, checked as `--size` is when the file is read.
    #[serde(default, deserialize_with = "de_parsed::<_, FrameSize>")]
    pub size: Option<(u32, u32)>,
    pub fps: Option<u32>,
    #[serde(default, deserialize_with = "de_parsed::<_, FormatName>")]
    pub format: Option<PixelFormat>,
    /// Stop after this many frames.
    pub frames: Option<u64>,
    /// Longest wait for one frame, seconds.
    pub timeout: Option<f64>,
    /// Give up reconnecting after this many seconds [default: never].
    pub reconnect_for: Option<f64>,
    /// Video files: at their own frame rate, newest frame only [default: every frame].
    pub realtime: Option<bool>,
    /// RTSP transport, `tcp` or `udp` [default: tcp; a URL's `?transport=` wins].
    #[serde(default, deserialize_with = "de_parsed::<_, Transport>")]
    pub transport: Option<Transport>,
    /// Credentials for a stream URL without its own (`rtsp://host/...`); never logged.
    pub username: Option<String>,
    pub password: Option<ssd_edge::source::Secret>,
}

/// A value written as a string in the file and parsed by the same function as its flag, so
/// a bad one is an error naming its key and line when the file is read, and each check exists
/// once.
trait ParsedValue {
    type Value;
    fn parse(s: &str) -> Result<Self::Value, String>;
}

struct FrameSize;
impl ParsedValue for FrameSize {
    type Value = (u32, u32);
    fn parse(s: &str) -> Result<(u32, u32), String> {
        ssd_edge::source::parse_size(s)
    }
}

struct FormatName;
impl ParsedValue for FormatName {
    type Value = PixelFormat;
    fn parse(s: &str) -> Result<PixelFormat, String> {
        ssd_edge::source::parse_format(s)
    }
}

impl ParsedValue for Transport {
    type Value = Transport;
    fn parse(s: &str) -> Result<Transport, String> {
        s.parse()
    }
}

fn de_parsed<'de, D, P>(d: D) -> Result<Option<P::Value>, D::Error>
where
    D: serde::Deserializer<'de>,
    P: ParsedValue,
{
    let s = String::deserialize(d)?;
    P::parse(&s).map(Some).map_err(serde::de::Error::custom)
}

/// `[model]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    pub path: Option<PathBuf>,
    pub sidecar: Option<PathBuf>,
    /// Minimum score of reported detections [default: the model's detection_threshold].
    pub threshold: Option<f32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not read: missing, a directory or device, over [`MAX_CONFIG_BYTES`], not UTF-8. The
    /// message is the file and the problem, once (no `source()` to print again).
    #[error("{0}")]
    Read(ssd_edge::limits::FileError),
    #[error("{}: {message}", .path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: {key}: {message}", .path.display())]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

impl EdgeConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        // Bounded whatever the file is: metadata says 0 bytes for /dev/zero and a FIFO.
        let text = ssd_edge::limits::read_text_bounded(path, MAX_CONFIG_BYTES)
            .map_err(ConfigError::Read)?;
        let mut cfg = Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })?;
        cfg.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        cfg.check().map_err(|(key, message)| ConfigError::Invalid {
            path: path.to_owned(),
            key,
            message,
        })?;
        Ok(cfg)
    }

    /// Parses without touching the file system (paths stay as written).
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', "\n  "))
    }

    fn resolve_paths(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        if let Some(p) = self.model.path.as_mut() {
            fix(p);
        }
        if let Some(p) = self.model.sidecar.as_mut() {
            fix(p);
        }
        #[cfg(feature = "store")]
        if let Some(s) = self.store.as_mut() {
            fix(&mut s.path);
        }
        #[cfg(feature = "mqtt")]
        if let Some(m) = self.mqtt.as_mut() {
            m.resolve_paths(dir);
        }
    }

    /// Checks what can be checked without the model; lines and zones are checked against the
    /// model's labels once it is loaded ([`CountSpec::validate`]).
    fn check(&self) -> Result<(), (String, String)> {
        if let Some(t) = self.model.threshold {
            if !(t.is_finite() && (0.0..=1.0).contains(&t)) {
                return Err(("model.threshold".into(), format!("{t} is outside [0, 1]")));
            }
        }
        for (key, v) in [
            ("source.timeout", self.source.timeout),
            ("source.reconnect_for", self.source.reconnect_for),
        ] {
            if let Some(s) = v {
                if !(s.is_finite() && s > 0.0 && s < 1e6) {
                    return Err((
                        key.into(),
                        format!("{s}: must be a positive number of seconds"),
                    ));
                }
            }
        }
        if self.source.frames == Some(0) {
            return Err(("source.frames".into(), "must be at least 1".into()));
        }
        #[cfg(feature = "store")]
        if let Some(s) = &self.store {
            s.validate()
                .map_err(|e| ("store".to_string(), e.to_string()))?;
        }
        #[cfg(feature = "mqtt")]
        if let Some(m) = &self.mqtt {
            m.validate()?;
        }
        // Names (and what they become as topics and ids), geometry and ranges of lines and
        // zones: before the model is loaded; class names are checked against it later.
        self.count_spec()
            .validate_shape()
            .map_err(|e| (e.key, e.message))?;
        self.tracker
            .validate()
            .map_err(|e| (format!("tracker.{}", e.key), e.problem))?;
        #[cfg(feature = "http")]
        if let Some(h) = &self.http {
            h.validate().map_err(|e| ("http".to_string(), e))?;
        }
        Ok(())
    }

    pub fn count_spec(&self) -> CountSpec {
        CountSpec {
            lines: self.lines.clone(),
            zones: self.zones.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_config_parses() {
        let cfg = EdgeConfig::parse(
            r#"
            [source]
            uri = "synth:3"
            frames = 10
            [model]
            threshold = 0.4
            [[line]]
            name = "door"
            a = [0.5, 1.0]
            b = [0.5, 0.0]
            anchor = "center"
            classes = ["person"]
            [[zone]]
            name = "yard"
            points = [[0.1, 0.1], [0.4, 0.1], [0.4, 0.6]]
            loiter_seconds = 30
            "#,
        )
        .unwrap();
        assert_eq!(cfg.lines.len(), 1);
        assert_eq!(cfg.zones[0].loiter_seconds, Some(30.0));
        assert_eq!(cfg.source.uri.as_deref(), Some("synth:3"));
    }

    #[test]
    fn source_values_are_typed_and_checked_when_read() {
        let cfg = EdgeConfig::parse(
            "[source]\nsize = \"640x480\"\nformat = \"YUYV\"\ntransport = \"udp\"\n",
        )
        .unwrap();
        assert_eq!(cfg.source.size, Some((640, 480)));
        assert_eq!(cfg.source.format, Some(PixelFormat::Yuyv));
        assert_eq!(cfg.source.transport, Some(Transport::Udp));
        for (text, key, problem) in [
            ("size = \"640\"", "size", "is not WIDTHxHEIGHT"),
            ("size = \"0x480\"", "size", "out of range"),
            ("format = \"h264\"", "format", "unknown pixel format 'h264'"),
            ("transport = \"quic\"", "transport", "must be tcp or udp"),
        ] {
            let e = EdgeConfig::parse(&format!("[source]\n{text}\n")).unwrap_err();
            assert!(
                e.contains("line 2") && e.contains(key) && e.contains(problem),
                "{e}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_errors_with_their_name_and_place() {
        let e =
            EdgeConfig::parse("[[line]]\nname = \"x\"\na = [0, 0]\nb = [1, 1]\ndirection = 1\n")
                .unwrap_err();
        assert!(e.contains("unknown field `direction`"), "{e}");
        assert!(e.contains("line 5"), "{e}");
        let e = EdgeConfig::parse("[sorce]\nuri = \"synth\"\n").unwrap_err();
        assert!(e.contains("unknown field `sorce`"), "{e}");
        let e = EdgeConfig::parse(
            "[[line]]\nname = \"x\"\na = [0, 0]\nb = [1, 1]\nanchor = \"feet\"\n",
        )
        .unwrap_err();
        assert!(e.contains("feet"), "{e}");
    }
}
