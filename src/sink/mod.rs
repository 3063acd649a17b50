//! Outputs, on one seam. The frame loop hands every sink the same [`FrameReport`] after each
//! frame, and asks each for its part of the run's summary at the end. A sink that talks to a
//! disk or a network does that work on its own thread and takes the report through a bounded
//! queue, so the loop never waits on it.

pub mod ground_truth;
pub mod json;
pub mod jsonl;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(feature = "store")]
pub mod store;

use crate::count::{Counter, Event};
use crate::source::GroundTruth;
use crate::ssd::Detection;
use crate::track::TrackedObject;

pub use ground_truth::GroundTruthSink;
pub use jsonl::JsonLines;

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
    /// The counting stage after this frame (running totals, zone occupancy); None without
    /// lines or zones.
    pub counts: Option<&'a Counter>,
    /// The synthetic source's ground truth for this frame.
    pub ground_truth: Option<GroundTruth<'a>>,
    /// Model labels by class id.
    pub labels: &'a [String],
    /// The run's counters so far and this frame's stage times.
    pub stats: &'a RunStats,
}

/// What a health report needs (MQTT stats, `/metrics`, `/status`): the run's counters so far
/// and the last frame's stage times. Plain numbers, copied, so a sink can keep one.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct RunStats {
    /// Frames through every stage.
    pub frames: u64,
    /// Frames the source skipped or the driver lost.
    pub dropped: u64,
    /// Frames that could not be decoded (corrupt MJPEG, short buffers).
    pub corrupt: u64,
    pub timeouts: u64,
    pub reconnects: u64,
    /// Since the run started.
    pub uptime_ms: u64,
    /// The last frame's stage times, microseconds.
    pub stage_us: StageMicros,
    pub source: SourceState,
}

#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct StageMicros {
    /// Pixel conversion and resize into the input tensor.
    pub preprocess: u32,
    /// The model's forward pass.
    pub forward: u32,
    /// Decode + NMS.
    pub decode: u32,
    /// Tracking and counting.
    pub track_count: u32,
}

/// Whether frames are coming. A live camera that vanishes is `Reconnecting` until it is back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    #[default]
    Starting,
    Streaming,
    Reconnecting,
    /// The source ended or the run is stopping.
    Ended,
}

impl SourceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceState::Starting => "starting",
            SourceState::Streaming => "streaming",
            SourceState::Reconnecting => "reconnecting",
            SourceState::Ended => "ended",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Stdout was closed (`| head`): the run ends quietly, as ripgrep's does.
    #[error("output closed")]
    Closed,
    #[error("{sink}: {message}")]
    Failed { sink: &'static str, message: String },
}

impl SinkError {
    pub fn from_io(sink: &'static str, e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            SinkError::Closed
        } else {
            SinkError::Failed {
                sink,
                message: e.to_string(),
            }
        }
    }
}

pub trait Sink {
    /// Called after every processed frame.
    fn frame(&mut self, report: &FrameReport<'_>) -> Result<(), SinkError>;

    /// Called when the source's state changes (a camera lost, back again, ended), also
    /// between frames, so a sink can report a camera that sends nothing.
    fn source_state(&mut self, _stats: &RunStats) {}

    /// Called once when the run ends, however it ends; flushes what is buffered.
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// This sink's part of the run summary, as `(key, value)`.
    fn summary(&self) -> Option<(&'static str, serde_json::Value)> {
        None
    }
}
