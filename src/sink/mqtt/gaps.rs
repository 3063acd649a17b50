//! Events that never reached the outbox (the queue or the outbox was full), kept as ranges
//! ([`Gap`]) and read back from the store into the outbox once there is room; and the
//! store's running totals. Without the `store` feature there is nothing to read back from:
//! [`Gaps`] keeps nothing and the events of a gap are counted as dropped.

use super::outbox::Outbox;
use super::topics::LinkStats;
use super::{Gap, StoreLink};
use crate::count::TotalKey;

#[cfg(feature = "store")]
pub(super) use with_store::Gaps;

#[cfg(not(feature = "store"))]
pub(super) use without_store::Gaps;

#[cfg(feature = "store")]
mod with_store {
    use super::super::replay::Replay;
    use super::*;
    use std::collections::VecDeque;
    use std::time::{Duration, Instant};

    /// Overflow ranges kept for reading back from the store; past this, the last one grows
    /// (events between are then sent twice, never lost).
    const MAX_GAPS: usize = 1024;
    const REPLAY_EVERY: Duration = Duration::from_secs(1);

    pub(in super::super) struct Gaps {
        /// Events that found the queue or the outbox full, to read back from the store.
        ranges: Ranges,
        /// Where the store is; None once it could not be opened (said once).
        store: Option<StoreLink>,
        /// The store, opened on first use.
        replay: Option<Replay>,
        last_replay: Option<Instant>,
    }

    impl Gaps {
        pub fn new(store: Option<StoreLink>) -> Self {
            Gaps {
                ranges: Ranges::new(MAX_GAPS),
                store,
                replay: None,
                last_replay: None,
            }
        }

        fn open(&mut self) -> Option<&Replay> {
            if self.replay.is_none() {
                let link = self.store.as_ref()?;
                match Replay::open(&link.path, link.run_id) {
                    Ok(r) => self.replay = Some(r),
                    Err(e) => {
                        log::warn!("mqtt: cannot read the store: {e}");
                        self.store = None;
                    }
                }
            }
            self.replay.as_ref()
        }

        /// Keeps `g` to read back; false when the store cannot give its events back (no
        /// store, or no row for this run): they are dropped.
        pub fn keep(&mut self, g: Gap) -> bool {
            if !self.open().is_some_and(Replay::can_replay) {
                return false;
            }
            self.ranges.push(g);
            true
        }

        /// The store's running totals (none when it cannot be read).
        pub fn totals(&mut self) -> Vec<(TotalKey, u64)> {
            let Some(r) = self.open() else {
                return Vec::new();
            };
            r.totals().unwrap_or_else(|e| {
                log::warn!("mqtt: reading the totals from the store: {e}");
                Vec::new()
            })
        }

        /// Reads back gap events while the outbox has room (once the store has committed
        /// them, or at the end of the run, when everything is committed).
        pub fn refill(&mut self, outbox: &mut Outbox, finishing: bool, stats: &mut LinkStats) {
            if self.ranges.is_empty() {
                return;
            }
            if !finishing && self.last_replay.is_some_and(|t| t.elapsed() < REPLAY_EVERY) {
                return;
            }
            self.last_replay = Some(Instant::now());
            let Some(r) = &self.replay else { return };
            let committed = match r.last_frame() {
                Ok(f) => f,
                Err(e) => {
                    log::warn!("mqtt: reading events back from the store: {e}");
                    return;
                }
            };
            while let Some(g) = self.ranges.front() {
                if !finishing && committed.is_none_or(|f| f <= g.to.0) {
                    return;
                }
                let room = outbox.room();
                if room == 0 {
                    return;
                }
                let found = match r.gap(&g, room) {
                    Ok(f) => f,
                    Err(e) => {
                        log::warn!("mqtt: reading events back from the store: {e}");
                        return;
                    }
                };
                self.ranges.pop_front();
                if let Some(rest) = found.rest {
                    self.ranges.push_front(rest);
                }
                stats.dropped += found.missing;
                stats.replayed += found.events.len() as u64;
                outbox.refill(g.first, found.events);
            }
        }

        /// Events in the gaps.
        pub fn waiting(&self) -> u64 {
            self.ranges.events()
        }

        pub fn is_empty(&self) -> bool {
            self.ranges.is_empty()
        }
    }

    /// The gaps, oldest first, with at most `max` ranges.
    pub(super) struct Ranges {
        max: usize,
        ranges: VecDeque<Gap>,
    }

    impl Ranges {
        pub fn new(max: usize) -> Self {
            Ranges {
                max,
                ranges: VecDeque::new(),
            }
        }

        pub fn push(&mut self, g: Gap) {
            let full = self.ranges.len() >= self.max;
            match self.ranges.back_mut() {
                Some(last) if last.last + 1 == g.first => {
                    last.last = g.last;
                    last.to = g.to;
                }
                Some(last) if full => {
                    last.last = last.last.max(g.last);
                    last.to = last.to.max(g.to);
                }
                _ => self.ranges.push_back(g),
            }
        }

        pub fn front(&self) -> Option<Gap> {
            self.ranges.front().copied()
        }

        pub fn pop_front(&mut self) {
            self.ranges.pop_front();
        }

        /// What is left of the front range after reading part of it.
        pub fn push_front(&mut self, g: Gap) {
            self.ranges.push_front(g);
        }

        pub fn is_empty(&self) -> bool {
            self.ranges.is_empty()
        }

        pub fn events(&self) -> u64 {
            self.ranges.iter().map(Gap::len).sum()
        }
    }
}

#[cfg(not(feature = "store"))]
mod without_store {
    use super::*;

    /// No store: no gap is kept, no total read.
    pub(in super::super) struct Gaps;

    impl Gaps {
        pub fn new(_store: Option<StoreLink>) -> Self {
            Gaps
        }

        pub fn keep(&mut self, _g: Gap) -> bool {
            false
        }

        pub fn totals(&mut self) -> Vec<(TotalKey, u64)> {
            Vec::new()
        }

        pub fn refill(&mut self, _outbox: &mut Outbox, _finishing: bool, _stats: &mut LinkStats) {}

        pub fn waiting(&self) -> u64 {
            0
        }

        pub fn is_empty(&self) -> bool {
            true
        }
    }
}

#[cfg(all(test, feature = "store"))]
mod tests {
    use super::with_store::{Gaps, Ranges};
    use super::*;
    use crate::count::Event;
    use crate::store::{RunInfo, Store, StoreConfig};

    fn ev(frame: u64) -> Event {
        super::super::test_crossing(frame, frame as u32)
    }

    fn gap(first: u64, last: u64) -> Gap {
        // One event a frame: event n at frame n.
        Gap {
            first,
            last,
            from: (first, 0),
            to: (last, 0),
        }
    }

    fn ranges(r: &mut Ranges) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        while let Some(g) = r.front() {
            r.pop_front();
            out.push((g.first, g.last));
        }
        out
    }

    #[test]
    fn adjacent_gaps_join_and_the_last_grows_past_the_limit() {
        let mut r = Ranges::new(3);
        r.push(gap(1, 2));
        r.push(gap(3, 3)); // adjacent: one range
        r.push(gap(5, 6));
        assert_eq!(r.events(), 5);
        r.push(gap(9, 9));
        // Full: the last range covers the new one, and the events between (7, 8) too.
        r.push(gap(12, 12));
        assert_eq!(r.events(), 3 + 2 + 4);
        assert_eq!(ranges(&mut r), [(1, 3), (5, 6), (9, 12)]);
        assert!(r.is_empty());
    }

    #[test]
    fn gaps_are_read_back_into_the_room_the_outbox_has() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut store = Store::open(&path, &StoreConfig::default()).unwrap();
        let run = store.begin_run(&RunInfo::default()).unwrap();
        store
            .write_events(run, &(1..=5).map(ev).collect::<Vec<_>>())
            .unwrap();

        let mut stats = LinkStats::default();
        let mut outbox = Outbox::new(2);
        let mut gaps = Gaps::new(Some(StoreLink {
            path: path.clone(),
            run_id: Some(run),
        }));
        assert!(gaps.keep(gap(1, 3)));
        assert!(gaps.keep(gap(5, 6))); // event 6 never reached the store
        assert_eq!(gaps.waiting(), 5);
        // The store has committed past the first gap: it is read during the run.
        gaps.refill(&mut outbox, false, &mut stats);
        assert_eq!((outbox.len(), gaps.waiting()), (2, 3));
        assert_eq!(
            outbox.next_unsent().map(|(s, p)| (s, p.replayed)),
            Some((1, true))
        );
        // No room: nothing more is read.
        gaps.refill(&mut outbox, true, &mut stats);
        assert_eq!(gaps.waiting(), 3);
        // Room: the rest of the first gap, then the second.
        let mut outbox = Outbox::new(10);
        gaps.refill(&mut outbox, true, &mut stats);
        assert!(gaps.is_empty());
        assert_eq!(outbox.len(), 2);
        assert_eq!((stats.replayed, stats.dropped), (4, 1));

        // A run the store has no row for: nothing can be read back.
        let mut lost = Gaps::new(Some(StoreLink { path, run_id: None }));
        assert!(!lost.keep(gap(1, 1)));
        assert!(lost.is_empty());
        assert!(!Gaps::new(None).keep(gap(1, 1)));
    }
}
