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
    /// Host names (besides loopback names and IP addresses) a request's `Host` may carry when
    /// there is no token: the names a reverse proxy or a LAN DNS gives the board.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
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
            allowed_hosts: Vec::new(),
        }
    }
}

/// Whether a request's `Host` (or absolute URI authority) may be served without a token.
///
/// DNS rebinding: a web page on `attacker.example` re-points its name at 127.0.0.1 and its
/// script then reads our answers as same-origin; only the `Host` header still says
/// `attacker.example`. A rebinding always goes through a DNS name, so IP literals (any, with
/// or without port: the board's LAN address under `insecure_no_token`) and `localhost` are
/// safe; any other name must be listed in `allowed_hosts`. No `Host` at all (HTTP/1.0 tools)
/// is allowed: browsers always send one.
pub fn host_allowed(host: Option<&str>, allowed: &[String]) -> bool {
    let Some(host) = host else { return true };
    let host = host.trim();
    // `[v6]:port`, `[v6]`, `name:port`, `name`.
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail)) if tail.is_empty() || tail.strip_prefix(':').is_some_and(port_ok) => {
                return v6.parse::<std::net::Ipv6Addr>().is_ok();
            }
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port_ok(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return false;
    }
    name.parse::<std::net::Ipv4Addr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || allowed.iter().any(|a| {
            let a = a.trim();
            a.strip_suffix('.').unwrap_or(a).eq_ignore_ascii_case(name)
        })
}

/// A port as written after `host:`: digits only, at most 65535.
fn port_ok(port: &str) -> bool {
    !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
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
        for h in &self.allowed_hosts {
            let ok = !h.trim().is_empty()
                && h.trim().len() <= 253
                && h.trim()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
            if !ok {
                return Err(format!(
                    "allowed_hosts: {h:?} is not a host name (letters, digits, - . _; no port)"
                ));
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
            allowed_hosts: Vec::new(),
        }
    }

    #[test]
    fn hosts_without_a_token_are_loopback_ip_or_listed() {
        let listed = vec!["cam.example".to_string(), "pi.lan.".to_string()];
        for ok in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "localhost",
            "LOCALHOST:80",
            "localhost.",
            "[::1]",
            "[::1]:8080",
            "192.168.1.5:8080",
            "cam.example",
            "CAM.example:8080",
            "pi.lan",
            "pi.lan.:1",
        ] {
            assert!(host_allowed(Some(ok), &listed), "{ok}");
        }
        assert!(host_allowed(None, &[]));
        for bad in [
            "attacker.example",
            "attacker.example:8080",
            "localhost.attacker.example",
            "127.0.0.1.nip.io",
            "cam.example.attacker",
            "[::1",
            "[::1]x",
            "[evil]:80",
            "localhost:99999",
            "localhost:",
            ":8080",
            "",
            "127.0.0.1:80:80",
            "::1",
        ] {
            assert!(!host_allowed(Some(bad), &listed), "{bad}");
        }
        let e = HttpConfig {
            allowed_hosts: vec!["cam:8080".into()],
            ..cfg("127.0.0.1:0", None, false)
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("\"cam:8080\" is not a host name"), "{e}");
    }

    proptest::proptest! {
        /// Any DNS name not listed, with or without a port, is refused; listed ones and IPv4
        /// literals pass.
        #[test]
        fn unlisted_names_are_refused(
            name in "[a-z][a-z0-9-]{0,20}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
            port in proptest::option::of(0u16..),
            ip: [u8; 4],
        ) {
            let with_port = |h: &str| match port {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            };
            let listed = vec!["cam.example".to_string()];
            let expect = name == "localhost" || name == "cam.example";
            proptest::prop_assert_eq!(host_allowed(Some(&with_port(&name)), &listed), expect);
            proptest::prop_assert!(host_allowed(
                Some(&with_port(&name)),
                std::slice::from_ref(&name)
            ));
            let ip = std::net::Ipv4Addr::from(ip).to_string();
            proptest::prop_assert!(host_allowed(Some(&with_port(&ip)), &[]));
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
