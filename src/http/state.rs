//! What the listener serves from: `Info`, fixed at start-up, and `Live`, the frame loop's
//! latest numbers. The frame thread keeps its own `Live` and copies it into the shared one
//! under `try_lock` (the HTTP side holds that lock only to copy it back out), so a slow
//! client never holds up a frame; copies reuse their buffers and allocate nothing once warm.

use crate::count::{LineConfig, Name, TotalKey, ZoneConfig};
use crate::sink::RunStats;
use crate::store::StatusHandle;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Upper bounds (seconds) of the inference-time histogram; a Pi 5 runs the shipped model in
/// ~10-40 ms, a Pi Zero in hundreds.
pub const FORWARD_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Cumulative-ready histogram of the forward pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct Histogram {
    /// Per bucket (not cumulative); the last is past every bound.
    pub counts: [u64; FORWARD_BUCKETS.len() + 1],
    pub sum_us: u64,
    pub count: u64,
}

impl Histogram {
    pub fn observe_us(&mut self, us: u32) {
        let s = us as f64 / 1e6;
        let i = FORWARD_BUCKETS.partition_point(|&b| b < s);
        self.counts[i] += 1;
        self.sum_us += us as u64;
        self.count += 1;
    }
}

/// The run's latest state.
#[derive(Debug, Default)]
pub struct Live {
    pub stats: RunStats,
    /// Running totals (earlier runs' included, as the store keeps them).
    pub totals: Vec<(TotalKey, u64)>,
    /// (zone, class, tracks inside now).
    pub occupancy: Vec<(Name, Name, u32)>,
    pub forward: Histogram,
    /// Frames per second over the last second or so.
    pub fps: f64,
    pub frame_size: (u32, u32),
    /// Wall-clock time of the last frame (Unix ms; 0 before the first).
    pub last_frame_ms: i64,
    /// Events stamped while the wall clock was not trusted.
    pub suspect_events: u64,
}

impl Live {
    /// `self = other` reusing this one's buffers.
    pub fn copy_from(&mut self, other: &Live) {
        self.stats = other.stats;
        self.totals.clear();
        self.totals.extend_from_slice(&other.totals);
        self.occupancy.clear();
        self.occupancy.extend_from_slice(&other.occupancy);
        self.forward = other.forward;
        self.fps = other.fps;
        self.frame_size = other.frame_size;
        self.last_frame_ms = other.last_frame_ms;
        self.suspect_events = other.suspect_events;
    }
}

/// What does not change during a run.
pub struct Info {
    pub model: String,
    pub model_input: (u32, u32),
    /// By class id, 0 the background.
    pub labels: Vec<String>,
    pub source: String,
    pub lines: Vec<LineConfig>,
    pub zones: Vec<ZoneConfig>,
    /// The event database, when counts are kept.
    pub store_path: Option<PathBuf>,
    /// The store writer's status, when this process writes it.
    pub store_status: Option<StatusHandle>,
    pub listen: SocketAddr,
    pub started_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_puts_bounds_in_their_own_bucket() {
        let mut h = Histogram::default();
        h.observe_us(1000); // exactly 1 ms: le="0.001"
        h.observe_us(1001);
        h.observe_us(10_000_000);
        assert_eq!(h.counts[0], 1);
        assert_eq!(h.counts[1], 1);
        assert_eq!(h.counts[FORWARD_BUCKETS.len()], 1);
        assert_eq!((h.count, h.sum_us), (3, 10_002_001));
    }
}
