//! Event time stamps by two clocks, and the checks a board without an RTC needs.
//!
//! A Pi has no battery-backed clock: until NTP answers (or forever, offline) it may boot at a
//! date in the past, then jump. Events carry the wall time (what reports show) and a monotonic
//! time (which cannot jump); a wall clock earlier than this binary's build, or one that moved by
//! more than [`JUMP_MS`] against the monotonic clock between two frames, marks the events it
//! affects as `clock_suspect`, is logged once per incident, and never stops counting.

use crate::count::EventTime;
use crate::wall_clock::build_epoch_ms;
use std::time::Instant;

/// Disagreement between the two clocks, per frame, that counts as a jump.
pub const JUMP_MS: i64 = 2_000;

/// What the clock checks have seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClockStats {
    pub jumps: u64,
    /// Frames stamped while the wall clock read earlier than the build date.
    pub before_build_frames: u64,
}

pub struct Clock {
    started: Instant,
    floor_ms: i64,
    /// Wall and monotonic ms at the previous stamp.
    last: Option<(i64, i64)>,
    stats: ClockStats,
    warned_floor: bool,
}

impl Clock {
    pub fn new() -> Self {
        Self::with_floor(build_epoch_ms())
    }

    pub fn with_floor(floor_ms: i64) -> Self {
        Clock {
            started: Instant::now(),
            floor_ms,
            last: None,
            stats: ClockStats::default(),
            warned_floor: false,
        }
    }

    pub fn stats(&self) -> ClockStats {
        self.stats
    }

    /// Stamps one frame. `source_ms` is the frame's own monotonic time (capture time), used
    /// for dwell; the jump check uses this process's monotonic clock.
    pub fn stamp(&mut self, source_ms: u64) -> EventTime {
        let wall_ms = crate::wall_clock::unix_ms();
        self.stamp_at(
            wall_ms,
            self.started.elapsed().as_millis() as i64,
            source_ms,
        )
    }

    /// [`Clock::stamp`] with given clock readings (for tests).
    pub fn stamp_at(&mut self, wall_ms: i64, mono_ms: i64, source_ms: u64) -> EventTime {
        let mut suspect = false;
        if wall_ms < self.floor_ms {
            suspect = true;
            self.stats.before_build_frames += 1;
            if !self.warned_floor {
                self.warned_floor = true;
                log::warn!(
                    "the wall clock reads {} ms since 1970, before this binary was built ({}): \
                     events are marked clock_suspect until it is set (no RTC, no NTP yet?)",
                    wall_ms,
                    self.floor_ms
                );
            }
        } else if self.warned_floor {
            self.warned_floor = false;
            log::info!("the wall clock is plausible again");
        }
        if let Some((w0, m0)) = self.last {
            let drift = (wall_ms - w0) - (mono_ms - m0);
            if drift.abs() > JUMP_MS {
                suspect = true;
                self.stats.jumps += 1;
                log::warn!(
                    "the wall clock jumped by {:+.1} s; events of this frame are marked clock_suspect",
                    drift as f64 / 1000.0
                );
            }
        }
        self.last = Some((wall_ms, mono_ms));
        EventTime {
            wall_ms,
            mono_ms: source_ms,
            clock_suspect: suspect,
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn a_clock_before_the_build_date_is_suspect_but_keeps_stamping() {
        let mut c = Clock::with_floor(1_700_000_000_000);
        let t = c.stamp_at(DAY, 0, 0);
        assert!(t.clock_suspect);
        assert_eq!(t.wall_ms, DAY);
        assert!(c.stamp_at(DAY + 100, 100, 100).clock_suspect);
        assert_eq!(c.stats().before_build_frames, 2);
    }

    #[test]
    fn a_jump_marks_only_the_frame_it_happens_in() {
        let floor = 1_700_000_000_000;
        let mut c = Clock::with_floor(floor);
        let base = floor + DAY;
        assert!(!c.stamp_at(base, 0, 0).clock_suspect);
        assert!(!c.stamp_at(base + 66, 66, 66).clock_suspect);
        // NTP steps the clock an hour forward
        assert!(c.stamp_at(base + 3_600_000 + 133, 133, 133).clock_suspect);
        assert!(!c.stamp_at(base + 3_600_000 + 200, 200, 200).clock_suspect);
        // and back
        assert!(c.stamp_at(base + 266, 266, 266).clock_suspect);
        assert_eq!(c.stats().jumps, 2);
    }

    #[test]
    fn the_build_date_is_known() {
        // 2020-01-01: any real build is later.
        assert!(build_epoch_ms() > 1_577_836_800_000);
    }
}
