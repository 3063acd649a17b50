//! Source errors and what they mean for a run: skip a frame, wait again, reconnect with
//! back-off, or stop. Counters and the frame index carry on across reconnects.

use super::{Pipeline, PipelineError};
use crate::sink::SourceState;
use crate::source::SourceError;
use std::time::{Duration, Instant};

impl Pipeline {
    /// Decides what a source error means for the run: skip a frame, wait again, reconnect,
    /// or stop.
    pub(super) fn recover(&mut self, e: SourceError) -> Result<(), PipelineError> {
        if e.is_skippable() {
            self.stats.next_index += 1;
            self.stats.corrupt += 1;
            log::warn!("skipped frame: {e}");
            return Ok(());
        }
        if e.is_timeout() {
            self.stats.timeouts += 1;
            self.stats.consecutive_timeouts += 1;
            log::warn!("{e} ({} in a row)", self.stats.consecutive_timeouts);
            if self.stats.consecutive_timeouts >= self.cfg.timeouts_before_restart {
                log::warn!("{}: restarting the stream", self.source.describe());
                self.stats.consecutive_timeouts = 0;
                return self.reconnect(e);
            }
            return Ok(());
        }
        if e.is_disconnect() {
            log::warn!("{e}; reconnecting");
            return self.reconnect(e);
        }
        Err(e.into())
    }

    /// Re-opens the source with exponential back-off. Counters and the frame index carry on.
    fn reconnect(&mut self, cause: SourceError) -> Result<(), PipelineError> {
        self.set_source_state(SourceState::Reconnecting);
        let began = Instant::now();
        let (mut delay, max_delay) = self.cfg.backoff;
        let mut last = cause;
        for attempt in 1u32.. {
            // Back-off in short naps, so a stop request is not held up by a 5 s pause.
            let resume = Instant::now() + delay;
            while Instant::now() < resume {
                if self.stop_requested() {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(50).min(delay));
            }
            match self.source.reconnect() {
                Ok(()) => {
                    log::info!(
                        "reconnected after {attempt} attempt(s) in {:.1} s: {}",
                        began.elapsed().as_secs_f32(),
                        self.source.describe()
                    );
                    return Ok(());
                }
                Err(
                    e @ (SourceError::DeviceMissing { .. }
                    | SourceError::Disconnected { .. }
                    | SourceError::DeviceBusy { .. }
                    | SourceError::Io { .. }
                    | SourceError::StreamLost { .. }
                    | SourceError::Timeout { .. }),
                ) => {
                    if self
                        .cfg
                        .reconnect_for
                        .is_some_and(|limit| began.elapsed() >= limit)
                    {
                        return Err(PipelineError::GaveUp {
                            source_name: self.source.describe(),
                            attempts: attempt,
                            waited: began.elapsed(),
                            last: e,
                        });
                    }
                    delay = (delay * 2).min(max_delay);
                    log::warn!(
                        "reconnect attempt {attempt} failed: {e}; next in {} ms",
                        delay.as_millis()
                    );
                    last = e;
                }
                Err(e) => {
                    log::error!("cannot reconnect after: {last}");
                    return Err(e.into());
                }
            }
        }
        unreachable!("the attempt counter is unbounded")
    }
}
