//! The store as the source of truth for the MQTT thread: running totals to publish on every
//! (re)connect and at the end of the run, and the events of a [`Gap`] read back by position
//! (run, frame, index within the frame) from the `events` table. A read-only connection
//! (WAL: it never blocks the writer).

use super::{Gap, Pos};
use crate::count::event::name;
use crate::count::{Event, EventTime, TotalKey};
use crate::store::{direction_from_str, kind_from_str, Store, StoreError};
use std::path::Path;

pub struct Replay {
    store: Store,
    run_id: Option<i64>,
}

/// Events read back for a gap: `events[i]` is event `gap.first + i`; `rest` is what is left
/// of the gap when the outbox had room for fewer.
pub struct Found {
    pub events: Vec<Event>,
    pub rest: Option<Gap>,
    /// Events of the gap the store does not have (details dropped on a full disk, pruned).
    pub missing: u64,
}

impl Replay {
    pub fn open(path: &Path, run_id: Option<i64>) -> Result<Replay, StoreError> {
        Ok(Replay {
            store: Store::open_read_only(path)?,
            run_id,
        })
    }

    pub fn can_replay(&self) -> bool {
        self.run_id.is_some()
    }

    pub fn totals(&self) -> Result<Vec<(TotalKey, u64)>, StoreError> {
        self.store.totals()
    }

    /// The last frame of this run with a committed event.
    pub fn last_frame(&self) -> Result<Option<u64>, StoreError> {
        let Some(run) = self.run_id else {
            return Ok(None);
        };
        self.store
            .connection()
            .query_row(
                "SELECT max(frame) FROM events WHERE run_id = ?1",
                [run],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(|f| f.map(|f| f as u64))
            .map_err(|e| StoreError::sqlite(self.store.path(), e))
    }

    /// At most `room` events of `gap`, in order.
    pub fn gap(&self, gap: &Gap, room: usize) -> Result<Found, StoreError> {
        let Some(run) = self.run_id else {
            return Ok(Found {
                events: Vec::new(),
                rest: None,
                missing: gap.len(),
            });
        };
        let err = |e| StoreError::sqlite(self.store.path(), e);
        let mut stmt = self
            .store
            .connection()
            .prepare_cached(
                "SELECT kind, place, label, class_id, direction, track_id, score, frame, \
                 wall_ms, mono_ms, clock_suspect, dwell_ms FROM events \
                 WHERE run_id = ?1 AND frame BETWEEN ?2 AND ?3 ORDER BY id",
            )
            .map_err(err)?;
        let mut rows = stmt
            .query(rusqlite::params![run, gap.from.0 as i64, gap.to.0 as i64])
            .map_err(err)?;
        let mut events = Vec::new();
        let mut at: Pos = (u64::MAX, 0);
        let mut rest = None;
        while let Some(r) = rows.next().map_err(err)? {
            let frame = r.get::<_, i64>(7).map_err(err)? as u64;
            at = if at.0 == frame {
                (frame, at.1 + 1)
            } else {
                (frame, 0)
            };
            if at < gap.from || at > gap.to {
                continue;
            }
            if events.len() == room {
                rest = Some(Gap {
                    first: gap.first + room as u64,
                    last: gap.last,
                    from: at,
                    to: gap.to,
                });
                break;
            }
            let kind: String = r.get(0).map_err(err)?;
            let direction: Option<String> = r.get(4).map_err(err)?;
            let bad = |what: &str, v: &str| StoreError::Corrupt {
                path: self.store.path().to_owned(),
                detail: format!("unexpected value {v:?} in events.{what}"),
            };
            events.push(Event {
                kind: kind_from_str(&kind).ok_or_else(|| bad("kind", &kind))?,
                place: name(&r.get::<_, String>(1).map_err(err)?),
                label: name(&r.get::<_, String>(2).map_err(err)?),
                class_id: r.get::<_, i64>(3).map_err(err)? as u16,
                direction: match &direction {
                    None => None,
                    Some(d) => direction_from_str(d).ok_or_else(|| bad("direction", d))?,
                },
                track_id: r.get::<_, i64>(5).map_err(err)? as u32,
                score: r.get::<_, f64>(6).map_err(err)? as f32,
                frame,
                time: EventTime {
                    wall_ms: r.get(8).map_err(err)?,
                    mono_ms: r.get::<_, i64>(9).map_err(err)? as u64,
                    clock_suspect: r.get(10).map_err(err)?,
                },
                dwell_ms: r.get::<_, Option<i64>>(11).map_err(err)?.map(|d| d as u64),
            });
        }
        let wanted = match &rest {
            Some(r) => r.first - gap.first,
            None => gap.len(),
        };
        Ok(Found {
            missing: wanted.saturating_sub(events.len() as u64),
            events,
            rest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_crossing as ev;
    use super::*;
    use crate::store::{RunInfo, StoreConfig};

    #[test]
    fn a_gap_is_read_back_by_position_in_parts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut store = Store::open(&path, &StoreConfig::default()).unwrap();
        let run = store.begin_run(&RunInfo::default()).unwrap();
        // frame 1: tracks 10, 11; frame 2: 20, 21, 22; frame 3: 30
        let events = [
            ev(1, 10),
            ev(1, 11),
            ev(2, 20),
            ev(2, 21),
            ev(2, 22),
            ev(3, 30),
        ];
        store.write_events(run, &events).unwrap();
        // another run with the same frame numbers must not be read
        let other = store.begin_run(&RunInfo::default()).unwrap();
        store.write_events(other, &[ev(1, 99), ev(2, 98)]).unwrap();

        let r = Replay::open(&path, Some(run)).unwrap();
        assert_eq!(r.last_frame().unwrap(), Some(3));
        // seq 2..=5: from the second event of frame 1 to the third of frame 2
        let gap = Gap {
            first: 2,
            last: 5,
            from: (1, 1),
            to: (2, 2),
        };
        let all = r.gap(&gap, 10).unwrap();
        let ids: Vec<u32> = all.events.iter().map(|e| e.track_id).collect();
        assert_eq!(ids, [11, 20, 21, 22]);
        assert!(all.rest.is_none());
        assert_eq!(all.missing, 0);
        assert_eq!(all.events[0], events[1]);

        let part = r.gap(&gap, 3).unwrap();
        assert_eq!(part.events.len(), 3);
        let rest = part.rest.unwrap();
        assert_eq!(
            (rest.first, rest.last, rest.from, rest.to),
            (5, 5, (2, 2), (2, 2))
        );
        let tail = r.gap(&rest, 3).unwrap();
        assert_eq!(tail.events[0].track_id, 22);
        assert!(tail.rest.is_none());

        // events the store never got are counted as missing
        let beyond = Gap {
            first: 6,
            last: 8,
            from: (3, 0),
            to: (4, 1),
        };
        let b = r.gap(&beyond, 10).unwrap();
        assert_eq!((b.events.len(), b.missing), (1, 2));
    }
}
