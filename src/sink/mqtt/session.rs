//! The connection as the MQTT thread sees it: up or down, how often it came back, the
//! warnings already given, and the link's counters ([`LinkStats`]) shared with the sink; and
//! the clock of the stats message ([`StatsClock`]).

use super::topics::LinkStats;
use crate::sink::RunStats;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(super) struct Session {
    /// `host:port`, for the log.
    addr: String,
    connected: bool,
    connects: u64,
    /// The broker being down was said; said again after the next connect.
    warned_down: bool,
    /// The outbox overflowing was said (once a run).
    warned_drop: bool,
    /// The link's counters, kept here and copied to `link` for the sink.
    pub stats: LinkStats,
    link: Arc<Mutex<LinkStats>>,
}

impl Session {
    pub fn new(addr: String, link: Arc<Mutex<LinkStats>>) -> Self {
        Session {
            addr,
            connected: false,
            connects: 0,
            warned_down: false,
            warned_drop: false,
            stats: LinkStats::default(),
            link,
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The broker accepted a connection.
    pub fn connected(&mut self) {
        self.connected = true;
        if self.connects > 0 {
            self.stats.reconnects += 1;
        }
        self.connects += 1;
        self.warned_down = false;
        log::info!("mqtt: connected to {}", self.addr);
    }

    /// A connection failed or dropped (`was_connected`: it had been up, by the network
    /// thread's account). True when this thread had it as up: what was sent on it must be
    /// sent again.
    pub fn lost(&mut self, error: &str, was_connected: bool) -> bool {
        if was_connected || !self.warned_down {
            log::warn!("mqtt: {}: {error}; retrying with back-off", self.addr);
            self.warned_down = true;
        }
        std::mem::replace(&mut self.connected, false)
    }

    /// Events found the outbox full: `kept` says whether the store will fill them in.
    pub fn overflowed(&mut self, kept: bool, outbox_cap: usize) {
        if self.warned_drop {
            return;
        }
        self.warned_drop = true;
        if kept {
            log::warn!(
                "mqtt: outbox full ({outbox_cap} events); later events will be read back from \
                 the store"
            );
        } else {
            log::warn!(
                "mqtt: outbox full ({outbox_cap} events); new events are dropped until the \
                 broker takes them (totals stay exact)"
            );
        }
    }

    /// Brings the counters up to date; `waiting`: events not yet acknowledged, in the outbox
    /// or in gaps.
    pub fn update_link(&mut self, waiting: u64) {
        self.stats.connected = self.connected;
        self.stats.outbox = waiting;
    }

    /// [`Session::update_link`], and a copy for the sink.
    pub fn publish_link(&mut self, waiting: u64) {
        self.update_link(waiting);
        if let Ok(mut l) = self.link.lock() {
            *l = self.stats;
        }
    }
}

/// The stats message's clock: the fps since the last message, and repeats when the frame loop
/// goes quiet.
pub(super) struct StatsClock {
    every: Duration,
    /// (frames, uptime_ms) of the last stats message, for its fps.
    prev: Option<(u64, u64)>,
    /// The last stats from the frame loop and when they came: a camera that sends nothing
    /// means no frames and so no stats, and the MQTT thread then repeats them (fps 0).
    last: Option<(RunStats, Instant)>,
}

impl StatsClock {
    pub fn new(every: Duration) -> Self {
        StatsClock {
            every,
            prev: None,
            last: None,
        }
    }

    /// Stats `s` are to be sent: their fps.
    pub fn fps(&mut self, s: &RunStats) -> f64 {
        self.last = Some((*s, Instant::now()));
        let fps = match self.prev {
            Some((f, t)) if s.uptime_ms > t => {
                (s.frames.saturating_sub(f)) as f64 * 1000.0 / (s.uptime_ms - t) as f64
            }
            _ if s.uptime_ms > 0 => s.frames as f64 * 1000.0 / s.uptime_ms as f64,
            _ => 0.0,
        };
        self.prev = Some((s.frames, s.uptime_ms));
        fps
    }

    /// The last stats again, their uptime moved on, when the frame loop has sent none for two
    /// intervals.
    pub fn stalled(&self) -> Option<RunStats> {
        let (mut s, at) = self.last?;
        let since = at.elapsed();
        if since < 2 * self.every {
            return None;
        }
        s.uptime_ms += since.as_millis() as u64;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new(
            "broker:1883".into(),
            Arc::new(Mutex::new(LinkStats::default())),
        )
    }

    #[test]
    fn reconnects_count_connections_after_the_first() {
        let mut s = session();
        assert!(!s.is_connected());
        // Attempts that fail before the first connect: nothing was sent.
        assert!(!s.lost("refused", false));
        assert!(!s.lost("refused", false));
        s.connected();
        assert!(s.is_connected());
        assert_eq!(s.stats.reconnects, 0);
        assert!(s.lost("reset", true));
        assert!(!s.is_connected());
        // The network thread may report a loss this thread has already handled.
        assert!(!s.lost("reset", true));
        s.connected();
        s.connected();
        assert_eq!(s.stats.reconnects, 2);
    }

    #[test]
    fn the_link_is_copied_for_the_sink() {
        let link = Arc::new(Mutex::new(LinkStats::default()));
        let mut s = Session::new("broker:1883".into(), link.clone());
        s.connected();
        s.stats.published = 3;
        s.update_link(5);
        assert_eq!(link.lock().unwrap().published, 0);
        s.publish_link(4);
        let l = *link.lock().unwrap();
        assert!(l.connected);
        assert_eq!((l.published, l.outbox), (3, 4));
    }

    fn stats(frames: u64, uptime_ms: u64) -> RunStats {
        RunStats {
            frames,
            uptime_ms,
            ..RunStats::default()
        }
    }

    #[test]
    fn fps_is_over_the_time_since_the_last_message() {
        let mut c = StatsClock::new(Duration::from_secs(3600));
        assert_eq!(c.fps(&stats(0, 0)), 0.0);
        assert_eq!(c.fps(&stats(20, 2000)), 10.0);
        assert_eq!(c.fps(&stats(50, 3000)), 30.0);
        // The same uptime again (a repeat): the average over the run.
        assert_eq!(c.fps(&stats(50, 3000)), 50.0 / 3.0);
        // A restart of the counters does not go negative.
        assert_eq!(c.fps(&stats(0, 4000)), 0.0);
        assert!(c.stalled().is_none());
    }

    #[test]
    fn quiet_stats_are_repeated_with_the_uptime_moved_on() {
        let mut c = StatsClock::new(Duration::ZERO);
        assert!(c.stalled().is_none(), "nothing to repeat yet");
        c.fps(&stats(7, 1000));
        let again = c.stalled().unwrap();
        assert_eq!(again.frames, 7);
        assert!(again.uptime_ms >= 1000);
        // A repeat has no new frames: fps 0.
        assert_eq!(c.fps(&stats(7, 1000 + 500)), 0.0);
    }
}
