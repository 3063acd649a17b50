//! Outputs, on one seam. The frame loop hands every sink the same [`FrameReport`] after each
//! frame and the run's end; a sink that talks to a disk or a network does that work on its own
//! thread and takes the report through a bounded queue, so the loop never waits on it.

#[cfg(feature = "store")]
pub mod store;

use crate::count::{Event, TotalKey};
use crate::ssd::Detection;
use crate::synth::GtObject;
use crate::track::TrackedObject;

/// Everything one frame produced, borrowed for the duration of the call.
pub struct FrameReport<'a> {
    pub index: u64,
    pub timestamp_us: u64,
    pub width: u32,
    pub height: u32,
    /// The image file's path, for sources that have one.
    pub name: Option<&'a str>,
    /// Detections at or above the reporting threshold, normalised boxes, best first.
    pub detections: &'a [Detection],
    /// Confirmed tracks (empty when tracking is off), boxes in pixels.
    pub tracks: &'a [TrackedObject],
    /// Events this frame caused (empty without counting).
    pub events: &'a [Event],
    /// The synthetic source's ground truth for this frame.
    pub ground_truth: Option<&'a [GtObject]>,
    /// Model labels by class id.
    pub labels: &'a [String],
}

/// Running totals after the frame, sorted by key.
pub type Totals = [(TotalKey, u64)];

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Stdout was closed (`| head`): the run ends quietly, as ripgrep's does.
    #[error("output closed")]
    Closed,
    #[error("{sink}: {message}")]
    Failed { sink: &'static str, message: String },
}

pub trait Sink {
    /// Called after every processed frame.
    fn frame(&mut self, report: &FrameReport<'_>, totals: &Totals) -> Result<(), SinkError>;

    /// Called once when the run ends, however it ends; flushes what is buffered.
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
