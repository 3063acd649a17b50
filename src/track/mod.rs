//! Multi-object tracking: stable ids across frames for the detections of one camera.
//!
//! ByteTrack's association (Zhang et al. 2022) on a constant-velocity Kalman filter:
//! [`kalman`] predicts each box, [`assign`] pairs tracks with detections by IoU, [`tracker`]
//! runs the passes, the activation rule and the lost buffer. Reading detection lines for
//! `ssd-edge track` is the CLI's (`cli/track/detections.rs`).
//! Capacities are fixed by [`TrackerConfig`] when the [`Tracker`] is built; `update`
//! allocates nothing.

pub mod assign;
pub mod config;
pub mod kalman;
pub mod tracker;

pub use assign::Method;
pub use config::{ConfigError, TrackerConfig};
pub use tracker::{Tracker, TrackerOutput, TrackerStats};

/// One confirmed track as the tracker reports it after a frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackedObject {
    /// Unique for the life of the process, never reused.
    pub id: u32,
    /// Model class id (classes are tracked apart: a track never changes class).
    pub class_id: u16,
    /// Score of the detection last matched to this track.
    pub score: f32,
    /// Pixels of the frame, `[x0, y0, x1, y1]`: the detection matched this frame, or the
    /// filter's prediction while the track coasts (`lost_frames > 0`).
    pub bbox: [f32; 4],
    /// The Kalman filter's estimate after this frame: smoother than the detection, so it is
    /// what counting decides on (a dithering box stays inside a line's band).
    pub filtered: [f32; 4],
    /// Frames this track was matched with a detection, in all.
    pub hits: u32,
    /// Frames since the last match: 0 when a detection was matched this frame; greater while
    /// the track coasts on its prediction inside the lost buffer.
    pub lost_frames: u32,
}

/// A detection handed to the tracker, in pixels of the frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackInput {
    pub class_id: u16,
    pub score: f32,
    pub bbox: [f32; 4],
}

impl TrackInput {
    /// A detection (normalised box) on a `width` x `height` frame, clamped to the frame.
    pub fn from_detection(d: &crate::ssd::Detection, width: u32, height: u32) -> TrackInput {
        let (w, h) = (width as f32, height as f32);
        TrackInput {
            class_id: d.class_id,
            score: d.score,
            bbox: [
                (d.bbox[0] * w).clamp(0.0, w),
                (d.bbox[1] * h).clamp(0.0, h),
                (d.bbox[2] * w).clamp(0.0, w),
                (d.bbox[3] * h).clamp(0.0, h),
            ],
        }
    }
}

#[cfg(test)]
mod tests;
