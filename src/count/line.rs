//! Line crossings with a hysteresis band.
//!
//! A track's side of a line changes only when its anchor is seen beyond the band (a strip of
//! half-width `band` on each side of the line). A crossing is the side changing from left to
//! right (`in`) or right to left (`out`), so a box jittering on the line counts once, and a
//! track only counts again in the same direction after it really went back. Because one
//! anchor point decides (not all four corners, as supervision's LineZone asks), a line near the
//! frame edge still counts boxes that the frame edge cuts.

use super::event::Direction;
use super::geometry::{crossing_param, signed_distance, Anchor, Point};

/// A line as the counter uses it: in pixels of the frame, built once per frame size.
#[derive(Clone, Debug, PartialEq)]
pub struct LineGeom {
    pub a: Point,
    pub b: Point,
    /// Half-width of the hysteresis band, pixels.
    pub band: f32,
    /// Cap on the band as a fraction of the box's height: a box's anchor dithers in
    /// proportion to the box (legs, the detector's fit), so a small person far from the camera
    /// gets a narrower band than one near it. `f32::INFINITY` leaves the band fixed.
    pub band_height: f32,
    pub anchor: Anchor,
    /// Count crossings anywhere on the infinite line, not only within A-B.
    pub extend: bool,
}

/// Which side of the line a track was last seen on, beyond the band.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Side {
    #[default]
    Unknown,
    Left,
    Right,
}

/// One track's memory of one line.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LineState {
    side: Side,
    /// The anchor when the track was last seen beyond the band on `side`.
    last: Point,
}

impl LineGeom {
    /// The band's half-width for this box, pixels: the line's, capped by `band_height` times
    /// the box's height (a degenerate box falls back to the line's band).
    pub fn band_for(&self, bbox: &[f32; 4]) -> f32 {
        let h = bbox[3] - bbox[1];
        if h.is_finite() && h > 0.0 {
            self.band.min(self.band_height * h)
        } else {
            self.band
        }
    }

    /// Updates a track's state with its anchor this frame; returns the crossing, if any.
    pub fn update(&self, state: &mut LineState, bbox: &[f32; 4]) -> Option<Direction> {
        let p = self.anchor.of(bbox);
        let d = signed_distance(self.a, self.b, p);
        let band = self.band_for(bbox);
        let now = if d > band {
            Side::Right
        } else if d < -band {
            Side::Left
        } else {
            // A track first seen inside the band (it appeared there, or its track began
            // mid-crossing) starts on the side of the line its anchor is on: leaving the band
            // on the other side is then a crossing, as the line itself defines it. Later
            // visits to the band change nothing, which is what the band is for.
            if state.side == Side::Unknown {
                state.side = if d < 0.0 { Side::Left } else { Side::Right };
                state.last = p;
            }
            return None;
        };
        let before = std::mem::replace(&mut state.side, now);
        let from = std::mem::replace(&mut state.last, p);
        let direction = match (before, now) {
            (Side::Left, Side::Right) => Direction::In,
            (Side::Right, Side::Left) => Direction::Out,
            _ => return None,
        };
        if self.extend {
            return Some(direction);
        }
        // The path from the last point beyond the band to this one must meet the segment.
        let len = ((self.b[0] - self.a[0]).powi(2) + (self.b[1] - self.a[1]).powi(2)).sqrt();
        let slack = band / len;
        match crossing_param(self.a, self.b, from, p) {
            Some(t) if (-slack..=1.0 + slack).contains(&t) => Some(direction),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vertical line at x = 100 from the bottom (A) to the top (B): `in` is left to right.
    fn line(band: f32) -> LineGeom {
        LineGeom {
            a: [100.0, 200.0],
            b: [100.0, 0.0],
            band,
            band_height: f32::INFINITY,
            anchor: Anchor::Center,
            extend: false,
        }
    }

    fn boxed(x: f32, y: f32) -> [f32; 4] {
        [x - 5.0, y - 5.0, x + 5.0, y + 5.0]
    }

    fn run(l: &LineGeom, xs: &[f32], y: f32) -> Vec<Direction> {
        let mut s = LineState::default();
        xs.iter()
            .filter_map(|&x| l.update(&mut s, &boxed(x, y)))
            .collect()
    }

    #[test]
    fn left_to_right_is_in_and_back_is_out() {
        let l = line(4.0);
        let xs: Vec<f32> = (0..200).step_by(3).map(|x| x as f32).collect();
        assert_eq!(run(&l, &xs, 100.0), vec![Direction::In]);
        let back: Vec<f32> = xs.iter().rev().copied().collect();
        assert_eq!(run(&l, &back, 100.0), vec![Direction::Out]);
    }

    #[test]
    fn jitter_inside_the_band_counts_once() {
        let l = line(4.0);
        let mut xs = vec![50.0, 90.0];
        for i in 0..50 {
            xs.push(if i % 2 == 0 { 97.0 } else { 103.0 });
        }
        xs.extend([110.0, 150.0]);
        assert_eq!(run(&l, &xs, 100.0), vec![Direction::In]);
    }

    #[test]
    fn a_track_that_really_comes_back_counts_again() {
        let l = line(4.0);
        let xs = [80.0, 120.0, 80.0, 120.0];
        assert_eq!(
            run(&l, &xs, 100.0),
            vec![Direction::In, Direction::Out, Direction::In]
        );
    }

    #[test]
    fn first_sighting_on_a_side_is_not_a_crossing() {
        let l = line(4.0);
        assert!(run(&l, &[150.0, 160.0], 100.0).is_empty());
        assert!(run(&l, &[100.0, 101.0, 99.0], 100.0).is_empty());
    }

    #[test]
    fn a_track_first_seen_inside_the_band_starts_on_its_anchor_side() {
        let l = line(4.0);
        // just left of the line, then out to the right: it crossed
        assert_eq!(run(&l, &[98.0, 101.0, 110.0], 100.0), vec![Direction::In]);
        assert_eq!(run(&l, &[102.0, 99.0, 90.0], 100.0), vec![Direction::Out]);
        // just right of the line, then out to the right: it did not
        assert!(run(&l, &[101.0, 98.0, 110.0, 120.0], 100.0).is_empty());
    }

    #[test]
    fn the_band_shrinks_with_the_box_but_still_absorbs_its_dither() {
        // band 12 px, capped at 0.1 box heights: a 10 px box gets 1 px, a 200 px box 12 px
        let mut l = line(12.0);
        l.band_height = 0.1;
        assert_eq!(l.band_for(&boxed(0.0, 0.0)), 1.0);
        assert_eq!(l.band_for(&[0.0, 0.0, 10.0, 200.0]), 12.0);
        assert_eq!(
            l.band_for(&[0.0, 5.0, 10.0, 5.0]),
            12.0,
            "a flat box keeps the band"
        );
        // the small box ends 5 px past the line: beyond its 1 px band, it crossed
        assert_eq!(run(&l, &[80.0, 95.0, 105.0], 100.0), vec![Direction::In]);
        l.band_height = f32::INFINITY;
        assert!(run(&l, &[80.0, 95.0, 105.0], 100.0).is_empty());
        // dither of +-0.8 px (within 0.1 box heights) is still not counted back and forth
        l.band_height = 0.1;
        let mut xs = vec![80.0];
        xs.extend((0..40).map(|i| if i % 2 == 0 { 99.2 } else { 100.8 }));
        xs.push(120.0);
        assert_eq!(run(&l, &xs, 100.0), vec![Direction::In]);
    }

    #[test]
    fn only_crossings_within_the_segment_count_unless_extended() {
        let mut l = line(4.0);
        // the segment spans y in [0, 200]; y = 300 passes below its end
        assert!(run(&l, &[50.0, 150.0], 300.0).is_empty());
        l.extend = true;
        assert_eq!(run(&l, &[50.0, 150.0], 300.0), vec![Direction::In]);
    }

    #[test]
    fn a_line_at_the_frame_edge_counts_a_box_cut_by_the_edge() {
        // 300 px frame, line at x = 296; the detector clips boxes at 300, so the centre of a
        // leaving box ends up at most at (x0 + 300) / 2.
        let l = LineGeom {
            a: [296.0, 300.0],
            b: [296.0, 0.0],
            band: 2.0,
            band_height: f32::INFINITY,
            anchor: Anchor::Center,
            extend: false,
        };
        let mut s = LineState::default();
        let mut n = 0;
        for x0 in (250..300).step_by(4) {
            let x0 = x0 as f32;
            let b = [x0, 100.0, (x0 + 40.0).min(300.0), 140.0];
            n += l.update(&mut s, &b).is_some() as u32;
        }
        assert_eq!(n, 1);
    }
}
