//! `[http]`: where the listener binds and who may use it. Loopback needs nothing; any other
//! address shows the camera (`/snapshot.jpg`) to the network, so it needs a token, or an
//! explicit `insecure_no_token = true` that is logged at start-up.

use serde::Deserialize;
use std::net::SocketAddr;

/// The default: this board only (an SSH tunnel or a reverse proxy reaches it).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Shorter tokens are guessable over a LAN.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `IP:PORT`; port 0 picks a free one (logged).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Required as `Authorization: Bearer <token>` or `?token=<token>` when set; needed for a
    /// non-loopback `listen`.
    pub token: Option<String>,
    /// Listen on a non-loopback address without a token (logged as a warning).
    #[serde(default)]
    pub insecure_no_token: bool,
    /// Keep serving after the source ended (a replay or a test run) until SIGTERM/SIGINT,
    /// so its final counts and last frame can still be looked at.
    #[serde(default)]
    pub serve_after_end: bool,
}

fn default_listen() -> String {
    DEFAULT_LISTEN.into()
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_listen(),
            token: None,
            insecure_no_token: false,
            serve_after_end: false,
        }
    }
}

impl HttpConfig {
    /// The address, checked against the token rules.
    pub fn validate(&self) -> Result<SocketAddr, String> {
        let addr: SocketAddr = self.listen.trim().parse().map_err(|_| {
            format!(
                "listen {:?} is not IP:PORT (e.g. {DEFAULT_LISTEN} or 0.0.0.0:8080)",
                self.listen
            )
        })?;
        if let Some(t) = &self.token {
            if t.len() < MIN_TOKEN_LEN {
                return Err(format!(
                    "token is {} characters; use at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 16`)",
                    t.len()
                ));
            }
            if !t
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"&?#%+".contains(&b))
            {
                return Err("token: use letters, digits and -._~ only (it goes into URLs)".into());
            }
        }
        if !addr.ip().is_loopback() && self.token.is_none() && !self.insecure_no_token {
            return Err(format!(
                "listening on {addr} shows the camera to the network: set token = \"...\" \
                 (at least {MIN_TOKEN_LEN} characters) or, knowingly, insecure_no_token = true"
            ));
        }
        Ok(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(listen: &str, token: Option<&str>, insecure: bool) -> HttpConfig {
        HttpConfig {
            listen: listen.into(),
            token: token.map(Into::into),
            insecure_no_token: insecure,
            serve_after_end: false,
        }
    }

    #[test]
    fn non_loopback_needs_a_token_or_an_explicit_opt_out() {
        assert!(cfg("127.0.0.1:0", None, false).validate().is_ok());
        assert!(cfg("[::1]:8080", None, false).validate().is_ok());
        let e = cfg("0.0.0.0:8080", None, false).validate().unwrap_err();
        assert!(e.contains("token"), "{e}");
        assert!(cfg("0.0.0.0:8080", None, true).validate().is_ok());
        assert!(cfg("0.0.0.0:8080", Some("0123456789abcdef"), false)
            .validate()
            .is_ok());
        let e = cfg("0.0.0.0:8080", Some("short"), false)
            .validate()
            .unwrap_err();
        assert!(e.contains("at least 16"), "{e}");
        let e = cfg("localhost", None, false).validate().unwrap_err();
        assert!(e.contains("IP:PORT"), "{e}");
    }
}
