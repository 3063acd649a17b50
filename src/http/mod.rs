//! The board's HTTP listener, as a sink: `/metrics` (Prometheus), `/status` (JSON),
//! `/api/counts` (the `ssd-edge report` buckets as JSON), `/snapshot.jpg` (the live frame with
//! boxes, track ids, lines and zones) and `/`, a status page served from the binary.
//!
//! - `config`: the `[http]` table and its token rules.
//! - `state`: what the frame thread shares with the listener ([`state::Live`]) and what is
//!   fixed at start-up ([`state::Info`]).
//! - `server`: hyper on a current-thread tokio runtime in one thread; bounded connections,
//!   header size and time limits, two blocking workers for SQLite and JPEG work.
//! - `routes`, `metrics` (the text format), `snapshot` (drawing, JPEG), `query` (URL
//!   parameters), `page/` (HTML, CSS, JS).
//!
//! The frame thread's part is [`HttpSink`]: per frame it updates its own copy of the numbers
//! (no allocation once warm) and hands them over under `try_lock`; the live frame goes
//! through the [`SnapshotSlot`] the pipeline fills only when a client asks for one.

pub mod config;
mod metrics;
mod query;
mod routes;
mod server;
mod snapshot;
pub mod state;

pub use config::HttpConfig;

use crate::count::event::name;
use crate::sink::{FrameReport, RunStats, Sink, SinkError};
use crate::snapshot::SnapshotSlot;
use state::{Info, Live};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How often the sink itself asks for a frame (one RGB conversion, into the buffer allocated
/// at start-up).
pub const SNAPSHOT_REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// What the listener's handlers share.
pub(crate) struct App {
    pub info: Info,
    pub live: Mutex<Live>,
    pub snapshot: Arc<SnapshotSlot>,
    pub token: Option<String>,
    /// `[http] allowed_hosts`: checked against `Host` when there is no token.
    pub allowed_hosts: Vec<String>,
    pub tz: jiff::tz::TimeZone,
}

impl App {
    /// A copy of the latest numbers (the lock is held for the copy only).
    pub fn live(&self) -> Live {
        let mut out = Live::default();
        out.copy_from(&self.live.lock().unwrap_or_else(|e| e.into_inner()));
        out
    }
}

pub struct HttpSink {
    app: Arc<App>,
    local: Live,
    fps_window: (Instant, u64),
    /// When the sink last asked for a frame itself.
    refreshed: Instant,
    server: Option<server::Server>,
    addr: SocketAddr,
}

impl HttpSink {
    /// Binds `cfg.listen` (checked with [`HttpConfig::validate`]) and starts serving.
    pub fn start(
        cfg: &HttpConfig,
        info: impl FnOnce(SocketAddr) -> Info,
        snapshot: Arc<SnapshotSlot>,
    ) -> Result<HttpSink, String> {
        let addr = cfg.validate()?;
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| format!("http: cannot listen on {addr}: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("http: {addr}: {e}"))?;
        if !addr.ip().is_loopback() && cfg.token.is_none() {
            log::warn!(
                "http: listening on {addr} WITHOUT a token (insecure_no_token = true): anyone \
                 on the network can see the camera"
            );
        }
        let tz = jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC);
        let app = Arc::new(App {
            info: info(addr),
            live: Mutex::new(Live::default()),
            snapshot,
            token: cfg.token.clone(),
            allowed_hosts: cfg.allowed_hosts.clone(),
            tz,
        });
        let server = server::Server::start(listener, app.clone())?;
        log::info!("http: listening on http://{addr}/");
        Ok(HttpSink {
            app,
            local: Live::default(),
            fps_window: (Instant::now(), 0),
            refreshed: Instant::now(),
            server: Some(server),
            addr,
        })
    }

    /// The bound address (the port, where `listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn publish(&self, wait: bool) {
        let shared = if wait {
            Ok(self.app.live.lock().unwrap_or_else(|e| e.into_inner()))
        } else {
            self.app.live.try_lock()
        };
        if let Ok(mut shared) = shared {
            shared.copy_from(&self.local);
        }
    }
}

impl Sink for HttpSink {
    fn frame(&mut self, r: &FrameReport<'_>) -> Result<(), SinkError> {
        let l = &mut self.local;
        l.stats = *r.stats;
        l.frame_size = (r.width, r.height);
        l.last_frame_ms = crate::wall_clock::unix_ms();
        l.forward.observe_us(r.stats.stage_us.forward);
        l.suspect_events += r.events.iter().filter(|e| e.time.clock_suspect).count() as u64;
        if let Some(c) = r.counts {
            l.totals.clear();
            l.totals.extend_from_slice(c.totals());
            l.occupancy.clear();
            l.occupancy.extend(
                c.occupancy()
                    .map(|o| (name(o.zone), name(o.label), o.count)),
            );
        }
        let (since, n) = &mut self.fps_window;
        *n += 1;
        let dt = since.elapsed().as_secs_f64();
        if dt >= 1.0 {
            l.fps = *n as f64 / dt;
            *since = Instant::now();
            *n = 0;
        }
        // A frame at most this old waits in the slot without anyone asking: the first
        // request is answered at once, and the last frame is there after the source ends.
        if self.refreshed.elapsed() >= SNAPSHOT_REFRESH {
            self.app.snapshot.request();
            self.refreshed = Instant::now();
        }
        self.publish(false);
        Ok(())
    }

    fn source_state(&mut self, stats: &RunStats) {
        self.local.stats = *stats;
        if stats.source != crate::sink::SourceState::Streaming {
            self.local.fps = 0.0;
        }
        // Rare (a camera lost or back): worth the wait for a copy.
        self.publish(true);
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.publish(true);
        Ok(())
    }

    fn summary(&self) -> Option<(&'static str, serde_json::Value)> {
        Some((
            "http",
            serde_json::json!({ "listen": self.addr.to_string() }),
        ))
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
    }
}
