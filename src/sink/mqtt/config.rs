//! The `[mqtt]` table of `edge.toml`. Every key but `host` has a default; unknown keys are
//! errors, and [`MqttConfig::validate`] names the key of any bad value.

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// The broker's host name or address.
    pub host: String,
    /// [default: 1883, or 8883 with TLS]. An integer wider than u16 so a bad value gets our
    /// message rather than serde's.
    pub port: Option<i64>,
    /// [default: `ssd-edge-<device>`]. Two boards with one id knock each other off the broker.
    pub client_id: Option<String>,
    /// First topic level [default: `ssd-edge`].
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
    /// Second topic level and the Home Assistant device [default: the host name].
    pub device: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// TLS (rustls): needs `ca_file`, the PEM certificate(s) the broker's chain ends in.
    #[serde(default)]
    pub tls: bool,
    pub ca_file: Option<PathBuf>,
    /// Seconds between keep-alive pings; the broker publishes the last will after 1.5x this
    /// without a word from the board.
    #[serde(default = "default_keep_alive")]
    pub keep_alive: u64,
    /// Events kept in memory until the broker acknowledges them (the loss rule is in
    /// docs/mqtt.md).
    #[serde(default = "default_outbox")]
    pub outbox: usize,
    /// Seconds between stats messages.
    #[serde(default = "default_stats_interval")]
    pub stats_interval: f64,
    /// Home Assistant discovery configs under `discovery_prefix`.
    #[serde(default = "yes")]
    pub discovery: bool,
    #[serde(default = "default_discovery_prefix")]
    pub discovery_prefix: String,
    /// At the end of a run, how long to wait for the broker to acknowledge what is left.
    #[serde(default = "default_linger")]
    pub linger: f64,
}

fn default_prefix() -> String {
    "ssd-edge".into()
}
fn default_keep_alive() -> u64 {
    30
}
fn default_outbox() -> usize {
    10_000
}
fn default_stats_interval() -> f64 {
    10.0
}
fn yes() -> bool {
    true
}
fn default_discovery_prefix() -> String {
    "homeassistant".into()
}
fn default_linger() -> f64 {
    5.0
}

/// The longest topic level we accept from the config (topics must stay well under MQTT's
/// 64 kB limit, and names longer than this are not names).
const MAX_LEVEL: usize = 64;

impl MqttConfig {
    /// Relative `ca_file` paths are relative to the config file's folder.
    pub fn resolve_paths(&mut self, dir: &Path) {
        if let Some(p) = self.ca_file.as_mut() {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
    }

    pub fn port(&self) -> u16 {
        match self.port {
            Some(p) => p as u16,
            None if self.tls => 8883,
            None => 1883,
        }
    }

    /// The device name as it appears in topics: the config's, else the host name.
    pub fn device(&self) -> String {
        match &self.device {
            Some(d) => d.clone(),
            None => hostname().unwrap_or_else(|| "ssd-edge".into()),
        }
    }

    pub fn client_id(&self) -> String {
        self.client_id
            .clone()
            .unwrap_or_else(|| format!("ssd-edge-{}", self.device()))
    }

    /// Checks every value; the error is `(key, problem)` with keys as `mqtt.port`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, m: String| Err((format!("mqtt.{key}"), m));
        if self.host.trim().is_empty() {
            return bad("host", "must not be empty".into());
        }
        if let Some(p) = self.port {
            if !(1..=65535).contains(&p) {
                return bad("port", format!("{p} is outside 1..=65535"));
            }
        }
        if let Some(id) = &self.client_id {
            // MQTT 3.1.1 guarantees 23 bytes; brokers commonly take far more, but not empty.
            if id.is_empty() || id.len() > 256 {
                return bad("client_id", "must be 1 to 256 bytes".into());
            }
        }
        for (key, v) in [
            ("topic_prefix", Some(self.topic_prefix.as_str())),
            ("device", self.device.as_deref()),
            ("discovery_prefix", Some(self.discovery_prefix.as_str())),
        ] {
            if let Some(v) = v {
                if let Err(m) = check_topic_part(v) {
                    return bad(key, format!("{v:?}: {m}"));
                }
            }
        }
        if self.password.is_some() && self.username.is_none() {
            return bad("password", "needs a username".into());
        }
        match (&self.ca_file, self.tls) {
            (None, true) => {
                return bad(
                    "ca_file",
                    "tls = true needs the broker's CA certificate (PEM)".into(),
                )
            }
            (Some(_), false) => {
                return bad("ca_file", "is only used with tls = true".into());
            }
            (Some(p), true) => match std::fs::metadata(p) {
                Ok(m) if m.is_file() => {}
                Ok(_) => return bad("ca_file", format!("{}: not a file", p.display())),
                Err(e) => return bad("ca_file", format!("{}: {e}", p.display())),
            },
            (None, false) => {}
        }
        if !(1..=65535).contains(&self.keep_alive) {
            return bad(
                "keep_alive",
                format!("{} is outside 1..=65535 seconds", self.keep_alive),
            );
        }
        if !(1..=1_000_000).contains(&self.outbox) {
            return bad(
                "outbox",
                format!("{} is outside 1..=1000000 events", self.outbox),
            );
        }
        // stats_interval: below 0.1 s it floods the broker (1e-9 sent 150,000 messages in
        // 5 s). linger: the end of a run waits this long for the broker; past 30 s a stop
        // looks like a hang.
        for (key, v, min, max) in [
            ("stats_interval", self.stats_interval, 0.1, 86_400.0),
            ("linger", self.linger, 0.0, 30.0),
        ] {
            if !(v.is_finite() && v >= min && v <= max && v > 0.0) {
                let open = if min > 0.0 { "[" } else { "(" };
                return bad(key, format!("{v} is not in {open}{min}, {max}] seconds"));
            }
        }
        Ok(())
    }
}

/// A topic level (or a few, for the prefix) from the config: no wildcards, no empty levels.
fn check_topic_part(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("must not be empty");
    }
    if s.len() > MAX_LEVEL {
        return Err("is longer than 64 bytes");
    }
    if s.contains(['+', '#']) {
        return Err("must not contain the MQTT wildcards + or #");
    }
    if s.starts_with('/') || s.ends_with('/') || s.contains("//") {
        return Err("must not have empty topic levels (leading, trailing or double /)");
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters");
    }
    Ok(())
}

fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and we stop at the first NUL either way.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]);
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<MqttConfig, String> {
        toml::from_str::<MqttConfig>(&format!("host = \"localhost\"\n{extra}"))
            .map_err(|e| e.to_string())
    }

    fn invalid(extra: &str) -> (String, String) {
        parse(extra).unwrap().validate().unwrap_err()
    }

    #[test]
    fn defaults() {
        let c = parse("device = \"gate\"").unwrap();
        c.validate().unwrap();
        assert_eq!(c.port(), 1883);
        assert_eq!(c.client_id(), "ssd-edge-gate");
        assert_eq!(c.topic_prefix, "ssd-edge");
        assert!(c.discovery);
        assert_eq!(c.keep_alive, 30);
    }

    #[test]
    fn bad_values_name_their_key() {
        assert_eq!(invalid("port = 70000").0, "mqtt.port");
        assert_eq!(invalid("port = 0").0, "mqtt.port");
        assert_eq!(invalid("keep_alive = 0").0, "mqtt.keep_alive");
        assert_eq!(invalid("outbox = 0").0, "mqtt.outbox");
        assert_eq!(invalid("stats_interval = -1").0, "mqtt.stats_interval");
        assert_eq!(invalid("linger = nan").0, "mqtt.linger");
        for (v, key, range) in [
            (
                "stats_interval = 1e-9",
                "mqtt.stats_interval",
                "is not in [0.1, 86400] seconds",
            ),
            (
                "stats_interval = 0.09",
                "mqtt.stats_interval",
                "[0.1, 86400]",
            ),
            (
                "stats_interval = 1e30",
                "mqtt.stats_interval",
                "[0.1, 86400]",
            ),
            ("linger = 600", "mqtt.linger", "is not in (0, 30] seconds"),
            ("linger = 0", "mqtt.linger", "(0, 30]"),
            ("linger = inf", "mqtt.linger", "(0, 30]"),
        ] {
            let (k, m) = invalid(v);
            assert_eq!(k, key, "{v}");
            assert!(m.contains(range), "{v}: {m}");
        }
        for ok in [
            "stats_interval = 0.1",
            "stats_interval = 86400",
            "linger = 30",
        ] {
            parse(&format!("device = \"g\"\n{ok}"))
                .unwrap()
                .validate()
                .unwrap();
        }
        assert_eq!(invalid("device = \"a/+/b\"").0, "mqtt.device");
        assert_eq!(invalid("topic_prefix = \"a//b\"").0, "mqtt.topic_prefix");
        assert_eq!(invalid("password = \"x\"").0, "mqtt.password");
        assert_eq!(invalid("tls = true").0, "mqtt.ca_file");
        let (key, m) = invalid("tls = true\nca_file = \"/nonexistent/ca.pem\"");
        assert_eq!(key, "mqtt.ca_file");
        assert!(m.contains("/nonexistent/ca.pem"), "{m}");
        assert_eq!(invalid("ca_file = \"ca.pem\"").0, "mqtt.ca_file");
        let e = toml::from_str::<MqttConfig>("port = 1883").unwrap_err();
        assert!(e.to_string().contains("host"), "{e}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = parse("qos = 2").unwrap_err();
        assert!(e.contains("unknown field `qos`"), "{e}");
    }

    #[test]
    fn tls_defaults_to_8883() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "").unwrap();
        let mut c = parse("tls = true\nca_file = \"ca.pem\"").unwrap();
        c.resolve_paths(dir.path());
        c.validate().unwrap();
        assert_eq!(c.port(), 8883);
    }
}
