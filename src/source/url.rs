//! Stream URLs and their credentials: ffmpeg gets the full URL, every message, log line,
//! `describe()` and status page gets it with the password replaced by `***`.

use std::fmt;
use std::str::FromStr;

/// A password (from the URL or `[source] password`): never printed, not even by `{:?}`.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// RTSP transport. TCP is the default: it survives lossy Wi-Fi without smeared frames, and
/// passes NAT and firewalls that drop the RTP ports UDP needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    #[default]
    Tcp,
    Udp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

impl FromStr for Transport {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Transport::Tcp),
            "udp" => Ok(Transport::Udp),
            _ => Err(format!("transport '{s}': must be tcp or udp")),
        }
    }
}

/// `rtsp://`, `rtsps://`, `http://` or `https://` as given on the command line or in the
/// config, less our own `transport=` query parameter. Debug and Display hide the password.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamUrl {
    url: String,
    transport: Option<Transport>,
}

pub const URL_SCHEMES: [&str; 4] = ["rtsp://", "rtsps://", "http://", "https://"];

impl StreamUrl {
    /// None when `s` is not a URL of a scheme we stream from.
    pub fn parse(s: &str) -> Option<Result<Self, String>> {
        let lower = s.to_ascii_lowercase();
        if !URL_SCHEMES.iter().any(|p| lower.starts_with(p)) {
            return None;
        }
        Some(Self::parse_url(s))
    }

    fn parse_url(s: &str) -> Result<Self, String> {
        let (_, host) = authority(s);
        if s[host.clone()].is_empty() {
            return Err(format!("{}: no host in the URL", redact(s)));
        }
        let mut transport = None;
        let url = match s.split_once('?') {
            None => s.to_string(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&') {
                    match pair.strip_prefix("transport=") {
                        Some(t) => {
                            transport = Some(t.parse().map_err(|e| format!("{}: {e}", redact(s)))?)
                        }
                        None => kept.push(pair),
                    }
                }
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        };
        Ok(StreamUrl { url, transport })
    }

    pub fn is_rtsp(&self) -> bool {
        self.url.to_ascii_lowercase().starts_with("rtsp")
    }

    /// The `?transport=` the URL asked for.
    pub fn transport(&self) -> Option<Transport> {
        self.transport
    }

    /// The URL for ffmpeg: the URL's own credentials, else those of the config.
    pub fn with_credentials(&self, user: Option<&str>, password: Option<&Secret>) -> String {
        let (userinfo, _) = authority(&self.url);
        if userinfo.is_some() || (user.is_none() && password.is_none()) {
            return self.url.clone();
        }
        let start = self.url.find("://").map_or(0, |i| i + 3);
        let mut info = percent_encode(user.unwrap_or(""));
        if let Some(p) = password {
            info.push(':');
            info.push_str(&percent_encode(p.expose()));
        }
        format!("{}{info}@{}", &self.url[..start], &self.url[start..])
    }

    /// The URL's own password, if it has one.
    pub fn password(&self) -> Option<&str> {
        let (userinfo, _) = authority(&self.url);
        let info = &self.url[userinfo?];
        info.split_once(':').map(|(_, p)| p)
    }
}

impl fmt::Display for StreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.url))
    }
}

impl fmt::Debug for StreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamUrl({self}, {:?})", self.transport)
    }
}

/// (userinfo, host) byte ranges of a URL's authority; userinfo is what precedes the last `@`.
fn authority(url: &str) -> (Option<std::ops::Range<usize>>, std::ops::Range<usize>) {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => (Some(start..start + at), start + at + 1..end),
        None => (None, start..end),
    }
}

/// The URL with the password (what follows the first `:` of the userinfo) replaced by `***`.
pub fn redact(url: &str) -> String {
    let (Some(info), _) = authority(url) else {
        return url.to_string();
    };
    match url[info.clone()].find(':') {
        Some(colon) => format!("{}***{}", &url[..info.start + colon + 1], &url[info.end..]),
        None => url.to_string(),
    }
}

/// Replaces every secret in `text` by `***` (ffmpeg prints URLs, credentials included).
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `%40` -> `@`: ffmpeg may print a password decoded.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() && s.is_char_boundary(i + 3) {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every form of the secrets ffmpeg might print: as given, percent-encoded and decoded.
pub fn secret_forms(passwords: &[&str]) -> Vec<String> {
    let mut v = Vec::new();
    for p in passwords.iter().filter(|p| !p.is_empty()) {
        for form in [p.to_string(), percent_encode(p), percent_decode(p)] {
            if !form.is_empty() && !v.contains(&form) {
                v.push(form);
            }
        }
    }
    // Longest first, so a password that contains another is replaced whole.
    v.sort_by_key(|s| std::cmp::Reverse(s.len()));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_everywhere() {
        let u = StreamUrl::parse("rtsp://admin:s3cr%40t@10.0.0.5:554/stream1?transport=udp&x=1")
            .unwrap()
            .unwrap();
        assert_eq!(u.transport(), Some(Transport::Udp));
        assert_eq!(u.to_string(), "rtsp://admin:***@10.0.0.5:554/stream1?x=1");
        assert!(!format!("{u:?}").contains("s3cr"));
        assert_eq!(u.password(), Some("s3cr%40t"));
        assert_eq!(
            redact("http://u@h/mjpeg"),
            "http://u@h/mjpeg",
            "no password, nothing to hide"
        );
        assert_eq!(redact("http://h/a@b"), "http://h/a@b");
        assert_eq!(format!("{:?}", Some(Secret::new("pw"))), "Some(***)");
        let forms = secret_forms(&["s3cr%40t"]);
        assert!(forms.contains(&"s3cr@t".to_string()));
        assert_eq!(
            scrub("rtsp://admin:s3cr@t@10.0.0.5 refused", &forms),
            "rtsp://admin:***@10.0.0.5 refused"
        );
    }

    #[test]
    fn config_credentials_go_into_the_url_encoded() {
        let u = StreamUrl::parse("rtsp://cam.local/live").unwrap().unwrap();
        assert_eq!(
            u.with_credentials(Some("admin"), Some(&Secret::new("p@ss:w"))),
            "rtsp://admin:p%40ss%3Aw@cam.local/live"
        );
        assert_eq!(u.with_credentials(None, None), "rtsp://cam.local/live");
        assert!(StreamUrl::parse("rtsp:///x").unwrap().is_err());
        assert!(StreamUrl::parse("rtsp://h/x?transport=sctp")
            .unwrap()
            .is_err());
        assert!(StreamUrl::parse("synth").is_none());
    }
}
