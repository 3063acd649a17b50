//! `[http]` for `ssd-edge run`: the listener sink and its snapshot slot, and the wait after
//! the frames when `serve_after_end` asks for it.

use super::config::EdgeConfig;
use anyhow::Result;
use ssd_edge::http::state::Info;
use ssd_edge::http::{HttpConfig, HttpSink};
use ssd_edge::pipeline::Pipeline;
use ssd_edge::snapshot::SnapshotSlot;
use ssd_edge::store::StatusHandle;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the run knows that the listener shows.
pub struct RunFacts {
    pub model: String,
    pub source: String,
    /// The camera's configured size, for the snapshot buffer (else 640x480, grown on demand).
    pub frame_size: Option<(u32, u32)>,
    pub store_path: Option<PathBuf>,
    pub store_status: Option<StatusHandle>,
}

pub fn attach(
    pipeline: Pipeline,
    http: &HttpConfig,
    cfg: &EdgeConfig,
    input: (u32, u32),
    facts: RunFacts,
) -> Result<Pipeline> {
    let (w, h) = facts.frame_size.unwrap_or((640, 480));
    let slot = Arc::new(SnapshotSlot::new(w, h, cfg.tracker.capacity));
    let labels = pipeline.labels().to_vec();
    let info = |listen| Info {
        model: facts.model,
        model_input: input,
        labels,
        source: facts.source,
        lines: cfg.lines.clone(),
        zones: cfg.zones.clone(),
        store_path: facts.store_path,
        store_status: facts.store_status,
        listen,
        started_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    };
    let sink = HttpSink::start(http, info, slot.clone()).map_err(anyhow::Error::msg)?;
    Ok(pipeline.with_snapshot(slot).with_sink(Box::new(sink)))
}

/// Serves on after the frames until SIGINT/SIGTERM/SIGHUP.
pub fn linger(stop: &AtomicBool) {
    log::info!("http: the source has ended; serving until SIGTERM (serve_after_end = true)");
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
}
