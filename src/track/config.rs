//! Tracker parameters (`[tracker]` in a config file): ByteTrack's published defaults, with the
//! two score thresholds lowered for the shipped model (docs/tracking.md, measured).

use super::assign::Method;
use serde::Deserialize;
use std::fmt;

/// Largest `capacity` / `max_detections` accepted: the assignment matrix is their product.
const MAX_CAPACITY: usize = 4096;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Detections scoring at least this take part in the first pass and may start tracks
    /// (ByteTrack `track_thresh`, 0.5 there: the shipped model scores people lower).
    pub high_threshold: f32,
    /// Detections scoring from this up to `high_threshold` only extend tracks, in the second
    /// pass; lower ones are ignored.
    pub low_threshold: f32,
    /// An unmatched high detection starts a track only at this score (ByteTrack `det_thresh`,
    /// `track_thresh + 0.1`, i.e. 0.6).
    pub new_track_threshold: f32,
    /// First pass (high detections against confirmed tracks): pairs match when
    /// `1 - IoU` (score-fused, see `fuse_score`) is below this (ByteTrack `match_thresh`).
    pub match_threshold: f32,
    /// Second pass (low detections against tracks seen last frame), on `1 - IoU`.
    pub second_match_threshold: f32,
    /// Tentative tracks against the high detections left over, on fused `1 - IoU`.
    pub unconfirmed_match_threshold: f32,
    /// Recovery (OC-SORT's observation-centric recovery): confirmed tracks still unmatched
    /// against the high detections left, on `1 - IoU` with the box last *observed* rather
    /// than the prediction, so an object that stopped while unseen is found again where it
    /// was instead of starting a new track. 0 turns the pass off.
    pub recovery_match_threshold: f32,
    /// Recovery only for tracks unseen at most this many frames (absent: up to `lost_buffer`):
    /// the longer a track coasts, the likelier the box it is recovered onto is someone else,
    /// or the same person already followed by a newer track.
    pub recovery_max_lost: Option<u32>,
    /// Multiply IoU by the detection score before the first and tentative passes (ByteTrack's
    /// `fuse_score`, on except for MOT20).
    pub fuse_score: bool,
    /// Consecutive matched frames a new track needs to be confirmed (ByteTrack: 2, a tentative
    /// track missed once is dropped).
    pub min_hits: u32,
    /// Frames a confirmed track is kept unseen before it is dropped (ByteTrack `track_buffer`
    /// at 30 fps).
    pub lost_buffer: u32,
    /// Tracks kept at most (tentative, confirmed and lost together); fixes all memory.
    pub capacity: usize,
    /// Detections considered per frame, highest scores first; the rest are ignored (counted).
    pub max_detections: usize,
    /// `optimal` (Hungarian, as ByteTrack's lapjv) or `greedy`.
    pub assignment: Method,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            high_threshold: 0.4,
            low_threshold: 0.1,
            new_track_threshold: 0.4,
            match_threshold: 0.8,
            second_match_threshold: 0.5,
            unconfirmed_match_threshold: 0.7,
            recovery_match_threshold: 0.7,
            recovery_max_lost: None,
            fuse_score: true,
            min_hits: 2,
            lost_buffer: 30,
            capacity: 64,
            max_detections: 128,
            assignment: Method::Optimal,
        }
    }
}

/// A bad `[tracker]` value: the key and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("tracker.{key}: {problem}")]
pub struct ConfigError {
    pub key: &'static str,
    pub problem: String,
}

fn err(key: &'static str, problem: impl fmt::Display) -> ConfigError {
    ConfigError {
        key,
        problem: problem.to_string(),
    }
}

impl TrackerConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, v) in [
            ("high_threshold", self.high_threshold),
            ("low_threshold", self.low_threshold),
            ("new_track_threshold", self.new_track_threshold),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(err(key, format_args!("{v} is not a score in [0, 1]")));
            }
        }
        for (key, v) in [
            ("match_threshold", self.match_threshold),
            ("second_match_threshold", self.second_match_threshold),
            (
                "unconfirmed_match_threshold",
                self.unconfirmed_match_threshold,
            ),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(err(
                    key,
                    format_args!("{v} is not a 1 - IoU limit in (0, 1]"),
                ));
            }
        }
        let r = self.recovery_match_threshold;
        if !(0.0..=1.0).contains(&r) {
            return Err(err(
                "recovery_match_threshold",
                format_args!("{r} is not a 1 - IoU limit in [0, 1] (0: off)"),
            ));
        }
        if self.low_threshold > self.high_threshold {
            return Err(err(
                "low_threshold",
                format_args!(
                    "{} is above high_threshold = {}",
                    self.low_threshold, self.high_threshold
                ),
            ));
        }
        if self.new_track_threshold < self.high_threshold {
            return Err(err(
                "new_track_threshold",
                format_args!(
                    "{} is below high_threshold = {} (only high detections start tracks)",
                    self.new_track_threshold, self.high_threshold
                ),
            ));
        }
        if self.min_hits == 0 {
            return Err(err("min_hits", "must be at least 1"));
        }
        for (key, v) in [
            ("capacity", self.capacity),
            ("max_detections", self.max_detections),
        ] {
            if !(1..=MAX_CAPACITY).contains(&v) {
                return Err(err(key, format_args!("{v} is not in 1..={MAX_CAPACITY}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        TrackerConfig::default().validate().unwrap();
    }

    #[test]
    fn errors_name_the_key() {
        let bad = [
            TrackerConfig {
                low_threshold: 0.7,
                ..Default::default()
            },
            TrackerConfig {
                high_threshold: f32::NAN,
                ..Default::default()
            },
            TrackerConfig {
                match_threshold: 0.0,
                ..Default::default()
            },
            TrackerConfig {
                new_track_threshold: 0.2,
                ..Default::default()
            },
            TrackerConfig {
                min_hits: 0,
                ..Default::default()
            },
            TrackerConfig {
                capacity: 0,
                ..Default::default()
            },
            TrackerConfig {
                max_detections: 1 << 20,
                ..Default::default()
            },
        ];
        let keys = [
            "low_threshold",
            "high_threshold",
            "match_threshold",
            "new_track_threshold",
            "min_hits",
            "capacity",
            "max_detections",
        ];
        for (cfg, key) in bad.iter().zip(keys) {
            let e = cfg.validate().unwrap_err();
            assert_eq!(e.key, key);
            assert!(
                e.to_string().starts_with(&format!("tracker.{key}: ")),
                "{e}"
            );
        }
    }

    #[test]
    fn toml_unknown_keys_are_rejected() {
        let e = toml::from_str::<TrackerConfig>("lost_bufer = 3").unwrap_err();
        assert!(e.to_string().contains("lost_bufer"), "{e}");
        let c: TrackerConfig = toml::from_str("lost_buffer = 3\nassignment = \"greedy\"").unwrap();
        assert_eq!(c.lost_buffer, 3);
        assert_eq!(c.assignment, Method::Greedy);
        assert_eq!(c.capacity, TrackerConfig::default().capacity);
        assert_eq!(c.recovery_max_lost, None);
        let c: TrackerConfig = toml::from_str("recovery_max_lost = 3").unwrap();
        assert_eq!(c.recovery_max_lost, Some(3));
    }
}
