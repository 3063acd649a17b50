//! The ByteTrack association loop over fixed-capacity buffers.
//!
//! Per frame: predict every track; pass 1 pairs high-score detections with confirmed tracks
//! (seen or lost); pass 2 pairs low-score detections with the confirmed tracks seen last frame
//! that pass 1 left over (ByteTrack leaves lost tracks out of this pass: a dim box far from
//! any live track is more likely noise than a return); pass 3 pairs tentative tracks with the
//! high detections left; what is left of the high detections starts tentative tracks. A pair
//! is only ever made within one class.

use super::assign::Assigner;
use super::kalman::{to_measurement, KalmanBox, Measurement};
use super::{TrackInput, TrackedObject, TrackerConfig};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Seen fewer than `min_hits` frames in a row; no id yet.
    Tentative,
    /// Confirmed and matched this frame.
    Tracked,
    /// Confirmed, coasting unseen.
    Lost,
}

#[derive(Clone, Copy, Debug)]
struct Track {
    /// 0 until confirmed.
    id: u32,
    class_id: u16,
    score: f32,
    kf: KalmanBox,
    /// The filter's box right after the last matched detection, and that frame: what the
    /// recovery pass compares with (a prediction coasting on a stale velocity runs away from
    /// an object that stopped while unseen).
    observed: [f32; 4],
    observed_frame: u64,
    /// The detection matched this frame (what is reported for a matched track).
    det_box: [f32; 4],
    state: State,
    hits: u32,
    lost_frames: u32,
    start_frame: u64,
    matched: bool,
    dead: bool,
}

impl Track {
    /// The detection `d` matched this track in `frame` (after the filter took it): every
    /// pass records a match the same way. A lost track is tracked again; a tentative one stays
    /// tentative until confirmed.
    fn observe(&mut self, d: &Det, frame: u64) {
        self.matched = true;
        self.score = d.score;
        self.hits = self.hits.saturating_add(1);
        self.lost_frames = 0;
        self.observed = self.kf.bbox();
        self.observed_frame = frame;
        self.det_box = d.bbox;
        if self.state == State::Lost {
            self.state = State::Tracked;
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Det {
    class_id: u16,
    score: f32,
    bbox: [f32; 4],
    z: Measurement,
    used: bool,
}

/// Input the tracker did not use, and tracks it could not start, since it was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackerStats {
    pub frames: u64,
    /// Non-finite scores or coordinates, or boxes with no area (x1 <= x0 or y1 <= y0).
    pub rejected_detections: u64,
    /// Valid detections beyond `max_detections` in a frame (the lowest scores go).
    pub dropped_detections: u64,
    /// New tracks not started because `capacity` tracks were alive.
    pub dropped_tracks: u64,
    /// Tracks started (tentative ones included).
    pub tracks_started: u64,
}

/// What one `update` produced; borrowed from the tracker's own buffers.
#[derive(Clone, Copy, Debug)]
pub struct TrackerOutput<'a> {
    /// Confirmed tracks alive after this frame, by id: matched (`lost_frames == 0`) or coasting
    /// in the lost buffer.
    pub tracks: &'a [TrackedObject],
    /// Ids of confirmed tracks dropped this frame (lost too long, or a duplicate of another).
    pub removed: &'a [u32],
}

/// Two confirmed tracks this alike (IoU above 0.85, ByteTrack's 0.15 distance) are one object
/// tracked twice: the younger goes.
const DUPLICATE_IOU: f32 = 0.85;

pub struct Tracker {
    cfg: TrackerConfig,
    tracks: Vec<Track>,
    dets: Vec<Det>,
    predicted: Vec<[f32; 4]>,
    rows: Vec<usize>,
    cols: Vec<usize>,
    matches: Vec<(usize, usize)>,
    assigner: Assigner,
    output: Vec<TrackedObject>,
    removed: Vec<u32>,
    next_id: u32,
    frame: u64,
    stats: TrackerStats,
}

pub use crate::ssd::iou;

fn valid(d: &TrackInput) -> bool {
    let b = d.bbox;
    d.score.is_finite() && b.iter().all(|v| v.is_finite()) && b[2] > b[0] && b[3] > b[1]
}

impl Tracker {
    /// Allocates every buffer for `cfg.capacity` tracks and `cfg.max_detections` detections.
    /// `cfg` should have passed [`TrackerConfig::validate`]; sizes are used as given.
    pub fn new(cfg: &TrackerConfig) -> Self {
        let (cap, dmax) = (cfg.capacity, cfg.max_detections);
        Tracker {
            cfg: cfg.clone(),
            tracks: Vec::with_capacity(cap),
            dets: Vec::with_capacity(dmax),
            predicted: Vec::with_capacity(cap),
            rows: Vec::with_capacity(cap),
            cols: Vec::with_capacity(dmax),
            matches: Vec::with_capacity(cap.min(dmax)),
            assigner: Assigner::new(cap, dmax),
            output: Vec::with_capacity(cap),
            removed: Vec::with_capacity(cap),
            next_id: 1,
            frame: 0,
            stats: TrackerStats::default(),
        }
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.cfg
    }

    pub fn stats(&self) -> TrackerStats {
        self.stats
    }

    /// Forgets every track (a new scene); ids keep counting up, so none is ever reused.
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.dets.clear();
        self.output.clear();
        self.removed.clear();
    }

    pub fn update(&mut self, input: &[TrackInput]) -> TrackerOutput<'_> {
        self.frame += 1;
        self.stats.frames += 1;
        self.removed.clear();
        self.intake(input);
        self.predict();
        self.associate();
        self.start_tracks();
        self.drop_expired();
        self.drop_duplicates();
        self.tracks.retain(|t| !t.dead);
        self.output.clear();
        for t in &self.tracks {
            if t.state != State::Tentative {
                self.output.push(TrackedObject {
                    id: t.id,
                    class_id: t.class_id,
                    score: t.score,
                    bbox: if t.lost_frames == 0 {
                        t.det_box
                    } else {
                        t.kf.bbox()
                    },
                    filtered: t.kf.bbox(),
                    hits: t.hits,
                    lost_frames: t.lost_frames,
                });
            }
        }
        self.output.sort_unstable_by_key(|t| t.id);
        TrackerOutput {
            tracks: &self.output,
            removed: &self.removed,
        }
    }

    /// Valid detections above the low threshold, at most `max_detections`, by score.
    fn intake(&mut self, input: &[TrackInput]) {
        self.dets.clear();
        let max = self.cfg.max_detections;
        for d in input {
            if !valid(d) {
                self.stats.rejected_detections += 1;
                continue;
            }
            if d.score < self.cfg.low_threshold {
                continue;
            }
            let det = Det {
                class_id: d.class_id,
                score: d.score,
                bbox: d.bbox,
                z: to_measurement(d.bbox),
                used: false,
            };
            if self.dets.len() < max {
                self.dets.push(det);
                continue;
            }
            self.stats.dropped_detections += 1;
            // Full: the new one replaces the weakest if it scores higher.
            let weakest = self
                .dets
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.score.total_cmp(&b.1.score))
                .map(|(i, w)| (i, w.score));
            if let Some((i, s)) = weakest {
                if d.score > s {
                    self.dets[i] = det;
                }
            }
        }
        self.dets
            .sort_unstable_by(|a, b| b.score.total_cmp(&a.score));
    }

    fn predict(&mut self) {
        self.predicted.clear();
        for t in &mut self.tracks {
            t.kf.predict(t.state == State::Lost);
            t.matched = false;
            // Only corrupt input could get here (all of it is checked): drop, never propagate.
            if !t.kf.is_finite() {
                t.dead = true;
            }
            self.predicted.push(t.kf.bbox());
        }
    }

    fn associate(&mut self) {
        let high = self.cfg.high_threshold;
        let fuse = self.cfg.fuse_score;
        // Pass 1: confirmed tracks, seen or lost, against high detections.
        self.pass(
            |t| !t.dead && t.state != State::Tentative,
            |d| d.score >= high,
            fuse,
            self.cfg.match_threshold,
        );
        // Pass 2: tracks seen last frame that pass 1 missed, against low detections.
        self.pass(
            |t| !t.dead && t.state == State::Tracked && !t.matched,
            |d| d.score < high,
            false,
            self.cfg.second_match_threshold,
        );
        for t in &mut self.tracks {
            if t.state != State::Tentative && !t.matched {
                t.state = State::Lost;
                t.lost_frames += 1;
            }
        }
        // Recovery: confirmed tracks still unmatched, by their last observed box.
        if self.cfg.recovery_match_threshold > 0.0 {
            self.recover(high);
        }
        // Pass 3: tentative tracks against the high detections still free.
        self.pass(
            |t| !t.dead && t.state == State::Tentative,
            |d| d.score >= high,
            fuse,
            self.cfg.unconfirmed_match_threshold,
        );
        for t in &mut self.tracks {
            if t.state == State::Tentative && !t.matched {
                t.dead = true;
            } else if t.state == State::Tentative && t.hits >= self.cfg.min_hits {
                t.state = State::Tracked;
                t.id = self.next_id;
                self.next_id = self.next_id.wrapping_add(1).max(1);
                self.stats.tracks_started += 1;
            }
        }
    }

    /// One association pass between the tracks and free detections the filters pick.
    fn pass(
        &mut self,
        track_ok: impl Fn(&Track) -> bool,
        det_ok: impl Fn(&Det) -> bool,
        fuse: bool,
        limit: f32,
    ) {
        self.rows.clear();
        self.rows
            .extend((0..self.tracks.len()).filter(|&i| track_ok(&self.tracks[i])));
        self.cols.clear();
        self.cols
            .extend((0..self.dets.len()).filter(|&j| !self.dets[j].used && det_ok(&self.dets[j])));
        if self.rows.is_empty() || self.cols.is_empty() {
            return;
        }
        let (tracks, dets, predicted) = (&self.tracks, &self.dets, &self.predicted);
        let (rows, cols) = (&self.rows, &self.cols);
        self.assigner.fill(rows.len(), cols.len(), |r, c| {
            let (t, d) = (&tracks[rows[r]], &dets[cols[c]]);
            if t.class_id != d.class_id {
                return None;
            }
            let overlap = iou(&predicted[rows[r]], &d.bbox);
            if overlap <= 0.0 {
                return None;
            }
            let sim = if fuse { overlap * d.score } else { overlap };
            Some(1.0 - sim as f64)
        });
        self.assigner
            .solve(self.cfg.assignment, limit as f64, &mut self.matches);
        for &(r, c) in &self.matches {
            let (ti, di) = (self.rows[r], self.cols[c]);
            let d = &mut self.dets[di];
            d.used = true;
            let t = &mut self.tracks[ti];
            if !t.kf.update(d.z) {
                t.dead = true;
                continue;
            }
            t.observe(d, self.frame);
        }
    }

    /// OC-SORT's observation-centric recovery: lost tracks against the high detections left,
    /// by IoU with the box last observed. A match restarts the filter at the detection with
    /// the mean velocity since that observation, since the old velocity is what lost it.
    fn recover(&mut self, high: f32) {
        let max_lost = self.cfg.recovery_max_lost.unwrap_or(u32::MAX);
        self.rows.clear();
        self.rows.extend((0..self.tracks.len()).filter(|&i| {
            let t = &self.tracks[i];
            !t.dead && t.state == State::Lost && !t.matched && t.lost_frames <= max_lost
        }));
        self.cols.clear();
        self.cols.extend(
            (0..self.dets.len()).filter(|&j| !self.dets[j].used && self.dets[j].score >= high),
        );
        if self.rows.is_empty() || self.cols.is_empty() {
            return;
        }
        let (tracks, dets) = (&self.tracks, &self.dets);
        let (rows, cols) = (&self.rows, &self.cols);
        self.assigner.fill(rows.len(), cols.len(), |r, c| {
            let (t, d) = (&tracks[rows[r]], &dets[cols[c]]);
            if t.class_id != d.class_id {
                return None;
            }
            let overlap = iou(&t.observed, &d.bbox);
            (overlap > 0.0).then_some(1.0 - overlap as f64)
        });
        self.assigner.solve(
            self.cfg.assignment,
            self.cfg.recovery_match_threshold as f64,
            &mut self.matches,
        );
        for &(r, c) in &self.matches {
            let (ti, di) = (self.rows[r], self.cols[c]);
            let d = &mut self.dets[di];
            d.used = true;
            let t = &mut self.tracks[ti];
            let gap = self.frame.saturating_sub(t.observed_frame).max(1) as f64;
            let last = to_measurement(t.observed);
            let velocity = [(d.z[0] - last[0]) / gap, (d.z[1] - last[1]) / gap];
            t.kf = KalmanBox::with_velocity(d.z, velocity);
            t.observe(d, self.frame);
        }
    }

    fn start_tracks(&mut self) {
        for d in &mut self.dets {
            if d.used || d.score < self.cfg.new_track_threshold {
                continue;
            }
            // Dead tracks still hold their slots until the retain at the end of the frame.
            let alive = self.tracks.iter().filter(|t| !t.dead).count();
            if alive >= self.cfg.capacity {
                self.stats.dropped_tracks += 1;
                continue;
            }
            let mut t = Track {
                id: 0,
                class_id: d.class_id,
                score: d.score,
                kf: KalmanBox::new(d.z),
                observed: d.bbox,
                observed_frame: self.frame,
                det_box: d.bbox,
                state: State::Tentative,
                hits: 1,
                lost_frames: 0,
                start_frame: self.frame,
                matched: true,
                dead: false,
            };
            if self.cfg.min_hits <= 1 {
                t.state = State::Tracked;
                t.id = self.next_id;
                self.next_id = self.next_id.wrapping_add(1).max(1);
                self.stats.tracks_started += 1;
            }
            d.used = true;
            if self.tracks.len() == self.tracks.capacity() {
                // No room without growing: reuse a dead slot (one exists, as alive < capacity).
                if let Some(slot) = self.tracks.iter_mut().find(|t| t.dead) {
                    *slot = t;
                }
            } else {
                self.tracks.push(t);
            }
        }
    }

    fn drop_expired(&mut self) {
        for t in &mut self.tracks {
            if !t.dead && t.state == State::Lost && t.lost_frames > self.cfg.lost_buffer {
                t.dead = true;
                self.removed.push(t.id);
            }
        }
    }

    fn drop_duplicates(&mut self) {
        let n = self.tracks.len();
        for i in 0..n {
            for j in 0..n {
                let (a, b) = (&self.tracks[i], &self.tracks[j]);
                if a.dead || b.dead || a.state != State::Tracked || b.state != State::Lost {
                    continue;
                }
                if a.class_id != b.class_id || iou(&a.kf.bbox(), &b.kf.bbox()) <= DUPLICATE_IOU {
                    continue;
                }
                let victim = if a.start_frame < b.start_frame { j } else { i };
                self.tracks[victim].dead = true;
                self.removed.push(self.tracks[victim].id);
            }
        }
    }
}
