//! The counting stage: tracks in, events and running totals out.
//!
//! What is fixed for a run (the lines and zones in pixels, the labels, the set of total keys)
//! is built once per frame size; per-track memory lives in a fixed number of slots, one per
//! track the tracker can hold, so a frame allocates nothing.

use super::event::{name, Direction, Event, EventKind, EventTime, Name, TotalKey};
use super::line::LineState;
use super::spec::{CountSpec, PlacedLine, PlacedZone, SpecError};
use super::zone::{ZoneChange, ZoneState};
use crate::track::TrackedObject;

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// 0: free (the tracker's ids start at 1).
    track_id: u32,
    class_id: u16,
}

pub struct Counter {
    spec: CountSpec,
    labels: Vec<String>,
    label_names: Vec<Name>,
    frame_size: Option<(u32, u32)>,
    lines: Vec<PlacedLine>,
    zones: Vec<PlacedZone>,
    slots: Vec<Slot>,
    /// `slots.len() * lines.len()`, slot-major.
    line_states: Vec<LineState>,
    zone_states: Vec<ZoneState>,
    /// Sorted by key; every key this configuration can produce, present from the start.
    totals: Vec<(TotalKey, u64)>,
    /// Tracks inside each zone by class: `zones.len() * labels.len()`.
    occupancy: Vec<u32>,
    events: Vec<Event>,
    /// Tracks that found no free slot (more tracks than the configured capacity).
    overflow: u64,
}

/// Totals and occupancy for a place: what a sink shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Occupancy<'a> {
    pub zone: &'a str,
    pub label: &'a str,
    pub count: u32,
}

impl Counter {
    /// `capacity`: the most tracks alive at once (the tracker's capacity). `labels` by model
    /// class id, 0 the background.
    pub fn new(spec: CountSpec, labels: &[String], capacity: usize) -> Result<Self, SpecError> {
        spec.validate(labels)?;
        let capacity = capacity.max(1);
        let label_names: Vec<Name> = labels.iter().map(|l| name(l)).collect();
        let mut totals = Vec::new();
        for l in &spec.lines {
            for (k, label) in label_names.iter().enumerate().skip(1) {
                if l.classes.as_ref().is_none_or(|cs| cs.contains(&labels[k])) {
                    for d in [Direction::In, Direction::Out] {
                        totals.push((key(&l.name, EventKind::Crossing, label, Some(d)), 0));
                    }
                }
            }
        }
        for z in &spec.zones {
            for (k, label) in label_names.iter().enumerate().skip(1) {
                if z.classes.as_ref().is_none_or(|cs| cs.contains(&labels[k])) {
                    for kind in [EventKind::Entry, EventKind::Exit, EventKind::Loitering] {
                        totals.push((key(&z.name, kind, label, None), 0));
                    }
                }
            }
        }
        totals.sort_by(|a, b| a.0.cmp(&b.0));
        let per_track = spec.lines.len() + 3 * spec.zones.len();
        Ok(Counter {
            line_states: vec![LineState::default(); capacity * spec.lines.len()],
            zone_states: vec![ZoneState::default(); capacity * spec.zones.len()],
            occupancy: vec![0; spec.zones.len() * labels.len()],
            slots: vec![Slot::default(); capacity],
            events: Vec::with_capacity(capacity * per_track.max(1)),
            labels: labels.to_vec(),
            label_names,
            frame_size: None,
            lines: Vec::new(),
            zones: Vec::new(),
            totals,
            overflow: 0,
            spec,
        })
    }

    /// Adds totals kept from an earlier run (the store's), so counts continue after a restart.
    /// Keys this configuration no longer has are ignored.
    pub fn seed_totals<'a>(&mut self, earlier: impl IntoIterator<Item = (&'a TotalKey, u64)>) {
        for (k, n) in earlier {
            if let Ok(i) = self.totals.binary_search_by(|(t, _)| t.cmp(k)) {
                self.totals[i].1 += n;
            }
        }
    }

    pub fn totals(&self) -> &[(TotalKey, u64)] {
        &self.totals
    }

    pub fn occupancy(&self) -> impl Iterator<Item = Occupancy<'_>> {
        let n = self.labels.len();
        self.spec.zones.iter().enumerate().flat_map(move |(z, zc)| {
            (1..n).map(move |k| Occupancy {
                zone: zc.name.as_str(),
                label: self.labels[k].as_str(),
                count: self.occupancy[z * n + k],
            })
        })
    }

    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// One frame: `tracks` alive after it, `removed` the ids the tracker dropped. Returns the
    /// events, valid until the next call. `time.mono_ms` measures dwell.
    pub fn update(
        &mut self,
        (width, height): (u32, u32),
        tracks: &[TrackedObject],
        removed: &[u32],
        frame: u64,
        time: EventTime,
    ) -> Result<&[Event], SpecError> {
        self.events.clear();
        self.count(width, height, tracks, removed, frame, time)?;
        Ok(&self.events)
    }

    /// The events of the last [`Counter::update`].
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    fn count(
        &mut self,
        width: u32,
        height: u32,
        tracks: &[TrackedObject],
        removed: &[u32],
        frame: u64,
        time: EventTime,
    ) -> Result<(), SpecError> {
        if self.frame_size != Some((width, height)) {
            self.resize(width, height)?;
        }
        let (nl, nz) = (self.lines.len(), self.zones.len());
        for &id in removed {
            if let Some(s) = self.slots.iter().position(|s| s.track_id == id) {
                let class_id = self.slots[s].class_id;
                for z in 0..nz {
                    let st = &mut self.zone_states[s * nz + z];
                    if st.inside {
                        let change = self.zones[z].geom.leave(st, time.mono_ms);
                        self.zone_event(z, change, id, class_id, 0.0, frame, time);
                    }
                }
                self.slots[s] = Slot::default();
            }
        }
        for t in tracks {
            // A coasting track's box is a prediction: only observed positions decide.
            if t.lost_frames > 0 || t.id == 0 {
                continue;
            }
            let s = match self.slots.iter().position(|s| s.track_id == t.id) {
                Some(s) => s,
                None => match self.slots.iter().position(|s| s.track_id == 0) {
                    Some(s) => {
                        self.slots[s] = Slot {
                            track_id: t.id,
                            class_id: t.class_id,
                        };
                        self.line_states[s * nl..(s + 1) * nl].fill(LineState::default());
                        self.zone_states[s * nz..(s + 1) * nz].fill(ZoneState::default());
                        s
                    }
                    None => {
                        self.overflow += 1;
                        continue;
                    }
                },
            };
            let class = t.class_id as usize;
            for l in 0..nl {
                if !counts(&self.lines[l].counts_class, class) {
                    continue;
                }
                if let Some(d) = self.lines[l]
                    .geom
                    .update(&mut self.line_states[s * nl + l], &t.filtered)
                {
                    let place = self.lines[l].name.clone();
                    self.emit(Event {
                        kind: EventKind::Crossing,
                        place,
                        label: self.label(t.class_id),
                        class_id: t.class_id,
                        direction: Some(d),
                        track_id: t.id,
                        score: t.score,
                        frame,
                        time,
                        dwell_ms: None,
                    });
                }
            }
            for z in 0..nz {
                if !counts(&self.zones[z].counts_class, class) {
                    continue;
                }
                if let Some(change) = self.zones[z].geom.update(
                    &mut self.zone_states[s * nz + z],
                    &t.filtered,
                    time.mono_ms,
                ) {
                    self.zone_event(z, change, t.id, t.class_id, t.score, frame, time);
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn zone_event(
        &mut self,
        z: usize,
        change: ZoneChange,
        track_id: u32,
        class_id: u16,
        score: f32,
        frame: u64,
        time: EventTime,
    ) {
        let n = self.labels.len();
        let occ = &mut self.occupancy[z * n + (class_id as usize).min(n - 1)];
        let (kind, dwell_ms) = match change {
            ZoneChange::Entered => {
                *occ += 1;
                (EventKind::Entry, None)
            }
            ZoneChange::Left { dwell_ms } => {
                *occ = occ.saturating_sub(1);
                (EventKind::Exit, Some(dwell_ms))
            }
            ZoneChange::Loitering { dwell_ms } => (EventKind::Loitering, Some(dwell_ms)),
        };
        let place = self.zones[z].name.clone();
        self.emit(Event {
            kind,
            place,
            label: self.label(class_id),
            class_id,
            direction: None,
            track_id,
            score,
            frame,
            time,
            dwell_ms,
        });
    }

    fn label(&self, class_id: u16) -> Name {
        self.label_names
            .get(class_id as usize)
            .cloned()
            .unwrap_or_else(|| name(&format!("class_{class_id}")))
    }

    fn emit(&mut self, e: Event) {
        let k = e.total_key();
        if let Ok(i) = self.totals.binary_search_by(|(t, _)| t.cmp(&k)) {
            self.totals[i].1 += 1;
        }
        // The capacity covers every slot firing every line and zone at once.
        if self.events.len() < self.events.capacity() {
            self.events.push(e);
        }
    }

    /// Lines and zones in pixels for a new frame size; per-track memory starts over, since
    /// positions in the old size mean nothing in the new one.
    fn resize(&mut self, width: u32, height: u32) -> Result<(), SpecError> {
        let (lines, zones) = self.spec.resolve(width, height, &self.labels)?;
        self.lines = lines;
        self.zones = zones;
        self.frame_size = Some((width, height));
        self.slots.fill(Slot::default());
        self.line_states.fill(LineState::default());
        self.zone_states.fill(ZoneState::default());
        self.occupancy.fill(0);
        Ok(())
    }
}

/// Whether a line's or zone's class filter takes `class` (ids past the model's are not).
fn counts(mask: &[bool], class: usize) -> bool {
    mask.get(class).copied().unwrap_or(false)
}

fn key(place: &str, kind: EventKind, label: &Name, direction: Option<Direction>) -> TotalKey {
    TotalKey {
        place: name(place),
        kind,
        label: label.clone(),
        direction,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::count::spec::{LineConfig, Units, ZoneConfig};
    use crate::count::Anchor;

    fn labels() -> Vec<String> {
        ["background", "person", "car"].map(String::from).to_vec()
    }

    fn spec() -> CountSpec {
        CountSpec {
            lines: vec![LineConfig {
                name: "mid".into(),
                a: [0.5, 1.0],
                b: [0.5, 0.0],
                units: Units::Fraction,
                band: None,
                band_height: None,
                anchor: Anchor::Center,
                extend: false,
                classes: Some(vec!["person".into()]),
            }],
            zones: vec![ZoneConfig {
                name: "right".into(),
                points: vec![[0.6, 0.0], [1.0, 0.0], [1.0, 1.0], [0.6, 1.0]],
                units: Units::Fraction,
                band: None,
                anchor: Anchor::Center,
                classes: None,
                loiter_seconds: Some(1.0),
            }],
        }
    }

    fn track(id: u32, class_id: u16, x: f32) -> TrackedObject {
        TrackedObject {
            id,
            class_id,
            score: 0.9,
            bbox: [x - 10.0, 140.0, x + 10.0, 160.0],
            filtered: [x - 10.0, 140.0, x + 10.0, 160.0],
            hits: 5,
            lost_frames: 0,
        }
    }

    fn at(ms: u64) -> EventTime {
        EventTime {
            wall_ms: 1_700_000_000_000 + ms as i64,
            mono_ms: ms,
            clock_suspect: false,
        }
    }

    fn total(c: &Counter, place: &str, kind: EventKind, label: &str, d: Option<Direction>) -> u64 {
        let k = TotalKey {
            place: name(place),
            kind,
            label: name(label),
            direction: d,
        };
        c.totals().iter().find(|(t, _)| *t == k).unwrap().1
    }

    #[test]
    fn counts_crossings_per_class_and_zone_visits() {
        let mut c = Counter::new(spec(), &labels(), 8).unwrap();
        let mut kinds = vec![];
        for f in 0..30u64 {
            let x = 20.0 + f as f32 * 8.0; // 20 .. 252 px in a 300 px frame
            let tracks = [track(1, 1, x), track(2, 2, x)];
            let ev = c.update((300, 300), &tracks, &[], f, at(f * 200)).unwrap();
            kinds.extend(ev.iter().map(|e| (e.track_id, e.kind, e.direction)));
        }
        // the car is not counted on the person-only line, both visit the zone
        assert!(kinds.contains(&(1, EventKind::Crossing, Some(Direction::In))));
        assert!(!kinds.iter().any(|k| k.0 == 2 && k.1 == EventKind::Crossing));
        assert_eq!(
            total(
                &c,
                "mid",
                EventKind::Crossing,
                "person",
                Some(Direction::In)
            ),
            1
        );
        assert_eq!(total(&c, "right", EventKind::Entry, "car", None), 1);
        assert_eq!(total(&c, "right", EventKind::Loitering, "car", None), 1);
        let occ: u32 = c.occupancy().map(|o| o.count).sum();
        assert_eq!(occ, 2);
        // the tracker drops both inside the zone: exits with dwell, occupancy back to 0
        let ev = c.update((300, 300), &[], &[1, 2], 30, at(6000)).unwrap();
        assert_eq!(ev.len(), 2);
        assert!(ev
            .iter()
            .all(|e| e.kind == EventKind::Exit && e.dwell_ms.unwrap() > 0));
        assert_eq!(c.occupancy().map(|o| o.count).sum::<u32>(), 0);
    }

    #[test]
    fn coasting_tracks_do_not_count_and_totals_continue_from_a_seed() {
        let mut c = Counter::new(spec(), &labels(), 4).unwrap();
        let k = TotalKey {
            place: name("mid"),
            kind: EventKind::Crossing,
            label: name("person"),
            direction: Some(Direction::In),
        };
        c.seed_totals([(&k, 41)]);
        let mut t = track(7, 1, 100.0);
        c.update((300, 300), &[t], &[], 0, at(0)).unwrap();
        t.bbox = [160.0, 140.0, 180.0, 160.0];
        t.filtered = t.bbox;
        t.lost_frames = 2;
        assert!(c
            .update((300, 300), &[t], &[], 1, at(100))
            .unwrap()
            .is_empty());
        t.lost_frames = 0;
        assert_eq!(
            c.update((300, 300), &[t], &[], 2, at(200)).unwrap().len(),
            1
        );
        assert_eq!(
            total(
                &c,
                "mid",
                EventKind::Crossing,
                "person",
                Some(Direction::In)
            ),
            42
        );
    }

    #[test]
    fn more_tracks_than_slots_are_counted_as_overflow_not_a_panic() {
        let mut c = Counter::new(spec(), &labels(), 2).unwrap();
        let tracks: Vec<_> = (1..=5).map(|i| track(i, 1, 50.0)).collect();
        c.update((300, 300), &tracks, &[], 0, at(0)).unwrap();
        assert_eq!(c.overflow(), 3);
    }
}
