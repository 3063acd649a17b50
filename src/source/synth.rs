//! The synthetic scene generator as a camera-free source: objects moving across a scene, with
//! the ground truth of every frame, so a run can check the detector against it.

use super::{FrameSource, SourceError};
use crate::frame::Frame;
use crate::synth::{Crossing, GtObject, Sequence, SequenceConfig, SynthConfig};
use image::RgbImage;
use std::time::Duration;

/// What a synthetic frame really holds: its objects, and the crossings of the sequence's own
/// counting line (vertical, at `line_x` pixels, decided by box centres) since the last frame.
#[derive(Clone, Copy, Debug)]
pub struct GroundTruth<'a> {
    pub objects: &'a [GtObject],
    pub crossings: &'a [Crossing],
    pub line_x: f32,
}

pub struct SynthSource {
    seed: u64,
    sequence: Sequence,
    image: RgbImage,
    /// Synthetic time: frames are `period` apart, whatever the speed of the consumer.
    period_us: u64,
}

impl SynthSource {
    pub fn new(seed: u64, size: Option<(u32, u32)>, fps: Option<u32>) -> Self {
        let (width, height) = size.unwrap_or((300, 300));
        let defaults = SequenceConfig::default();
        let cfg = SequenceConfig {
            scene: SynthConfig {
                width,
                height,
                ..defaults.scene.clone()
            },
            ..defaults
        };
        Self {
            seed,
            sequence: Sequence::new(cfg, seed),
            image: RgbImage::new(width, height),
            period_us: 1_000_000 / fps.unwrap_or(15).max(1) as u64,
        }
    }
}

impl FrameSource for SynthSource {
    fn next_frame(&mut self, _timeout: Duration) -> Result<Option<Frame<'_>>, SourceError> {
        self.sequence.next_frame(&mut self.image);
        let timestamp_us = self.sequence.frame_index().saturating_sub(1) * self.period_us;
        Ok(Some(Frame::rgb(&self.image, timestamp_us)))
    }

    fn describe(&self) -> String {
        let (w, h) = self.image.dimensions();
        format!("synthetic scenes {w}x{h}, seed {}", self.seed)
    }

    fn ground_truth(&self) -> Option<GroundTruth<'_>> {
        Some(GroundTruth {
            objects: self.sequence.objects(),
            crossings: self.sequence.crossings(),
            line_x: self.sequence.line_x(),
        })
    }
}
