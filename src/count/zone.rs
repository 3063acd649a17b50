//! Zones: polygons with occupancy, entries, exits, dwell time and loitering.
//!
//! Like lines, zones have a band along their edge: a track enters when its anchor is inside by
//! more than the band and leaves when it is outside by more than the band, so a box flickering
//! on the edge does not produce a stream of entry/exit pairs.

use super::geometry::{boundary_distance, inside_polygon, Anchor, Point};

#[derive(Clone, Debug, PartialEq)]
pub struct ZoneGeom {
    /// Pixels of the frame.
    pub points: Vec<Point>,
    pub band: f32,
    pub anchor: Anchor,
    /// Dwell after which one loitering event is emitted per visit; None: never.
    pub loiter_ms: Option<u64>,
}

/// One track's memory of one zone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneState {
    pub inside: bool,
    pub entered_ms: u64,
    pub loitered: bool,
}

/// What a track did in a zone this frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneChange {
    Entered,
    /// Left after this long inside.
    Left {
        dwell_ms: u64,
    },
    Loitering {
        dwell_ms: u64,
    },
}

impl ZoneGeom {
    pub fn update(
        &self,
        state: &mut ZoneState,
        bbox: &[f32; 4],
        now_ms: u64,
    ) -> Option<ZoneChange> {
        let p = self.anchor.of(bbox);
        let margin = boundary_distance(&self.points, p);
        if margin > self.band {
            let inside = inside_polygon(&self.points, p);
            if inside && !state.inside {
                *state = ZoneState {
                    inside: true,
                    entered_ms: now_ms,
                    loitered: false,
                };
                return Some(ZoneChange::Entered);
            }
            if !inside && state.inside {
                return Some(self.leave(state, now_ms));
            }
        }
        if state.inside && !state.loitered {
            let dwell_ms = now_ms.saturating_sub(state.entered_ms);
            if self.loiter_ms.is_some_and(|l| dwell_ms >= l) {
                state.loitered = true;
                return Some(ZoneChange::Loitering { dwell_ms });
            }
        }
        None
    }

    /// The track is gone (lost for good, or the run ends) while its state says inside.
    pub fn leave(&self, state: &mut ZoneState, now_ms: u64) -> ZoneChange {
        let dwell_ms = now_ms.saturating_sub(state.entered_ms);
        *state = ZoneState::default();
        ZoneChange::Left { dwell_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> ZoneGeom {
        ZoneGeom {
            points: vec![
                [100.0, 100.0],
                [200.0, 100.0],
                [200.0, 200.0],
                [100.0, 200.0],
            ],
            band: 3.0,
            anchor: Anchor::Center,
            loiter_ms: Some(1000),
        }
    }

    fn at(x: f32) -> [f32; 4] {
        [x - 5.0, 145.0, x + 5.0, 155.0]
    }

    #[test]
    fn entry_exit_with_dwell() {
        let z = zone();
        let mut s = ZoneState::default();
        assert_eq!(z.update(&mut s, &at(50.0), 0), None);
        assert_eq!(z.update(&mut s, &at(150.0), 100), Some(ZoneChange::Entered));
        assert_eq!(z.update(&mut s, &at(160.0), 200), None);
        assert_eq!(
            z.update(&mut s, &at(250.0), 600),
            Some(ZoneChange::Left { dwell_ms: 500 })
        );
    }

    #[test]
    fn flicker_on_the_edge_is_one_visit() {
        let z = zone();
        let mut s = ZoneState::default();
        let mut changes = vec![];
        for (i, x) in [90.0, 110.0, 99.0, 101.0, 98.0, 102.0, 110.0, 99.0, 101.0]
            .into_iter()
            .enumerate()
        {
            changes.extend(z.update(&mut s, &at(x), i as u64 * 10));
        }
        assert_eq!(changes, vec![ZoneChange::Entered]);
    }

    #[test]
    fn loitering_fires_once_per_visit() {
        let z = zone();
        let mut s = ZoneState::default();
        let mut n = 0;
        for t in 0..30u64 {
            if let Some(ZoneChange::Loitering { dwell_ms }) = z.update(&mut s, &at(150.0), t * 100)
            {
                assert_eq!(dwell_ms, 1000);
                n += 1;
            }
        }
        assert_eq!(n, 1);
        assert_eq!(z.leave(&mut s, 5000), ZoneChange::Left { dwell_ms: 5000 });
        assert!(!s.inside);
    }
}
