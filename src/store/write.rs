//! One batch in one transaction: the events, and the running and hourly totals they add to.
//! Totals never disagree with the events after a crash because they commit together.

use super::{direction_str, hour_of, Store, StoreError};
use crate::count::{Event, TotalKey};
use rusqlite::params;
use std::collections::BTreeMap;

/// Counts of events whose details were dropped (memory bound reached while the database could
/// not be written), by UTC hour and key.
pub type Tallies = BTreeMap<(i64, TotalKey), u64>;

impl Store {
    /// Writes `events` of run `run_id` and adds them to the totals, in one transaction.
    pub fn write_events(&mut self, run_id: i64, events: &[Event]) -> Result<(), StoreError> {
        self.write_batch(run_id, events, &Tallies::new(), &[])
    }

    /// [`Store::write_events`] where the wall clock jumped in the middle of the run before
    /// the events at the indices `jumps` (an index of `events.len()`: after the last one;
    /// [`super::ClockWatch`] finds them): each starts a new retention timeline there.
    pub fn write_events_with_jumps(
        &mut self,
        run_id: i64,
        events: &[Event],
        jumps: &[usize],
    ) -> Result<(), StoreError> {
        self.write_batch(run_id, events, &Tallies::new(), jumps)
    }

    pub(crate) fn write_batch(
        &mut self,
        run_id: i64,
        events: &[Event],
        tallies: &Tallies,
        jumps: &[usize],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let mut per_hour: Tallies = tallies.clone();
        for e in events {
            *per_hour
                .entry((hour_of(e.time.wall_ms), e.total_key()))
                .or_default() += 1;
        }
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (run_id, kind, place, label, class_id, direction, \
                     track_id, score, frame, wall_ms, mono_ms, clock_suspect, dwell_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .map_err(err)?;
            let mut jump = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO meta (key, value) \
                     SELECT 'clock_jump:' || coalesce(max(id), 0), coalesce(max(id), 0) \
                     FROM events",
                )
                .map_err(err)?;
            for (i, e) in events.iter().enumerate() {
                // A timeline starts after the events inserted so far (retention.rs).
                if jumps.contains(&i) {
                    jump.execute([]).map_err(err)?;
                }
                insert
                    .execute(params![
                        run_id,
                        e.kind.as_str(),
                        e.place.as_str(),
                        e.label.as_str(),
                        e.class_id,
                        e.direction.map(|d| d.as_str()),
                        e.track_id,
                        e.score as f64,
                        e.frame as i64,
                        e.time.wall_ms,
                        e.time.mono_ms as i64,
                        e.time.clock_suspect,
                        e.dwell_ms.map(|d| d as i64),
                    ])
                    .map_err(err)?;
            }
            if jumps.contains(&events.len()) {
                jump.execute([]).map_err(err)?;
            }
            let mut hourly = tx
                .prepare_cached(
                    "INSERT INTO hourly (hour_ms, place, kind, label, direction, count) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT (hour_ms, place, kind, label, direction) \
                     DO UPDATE SET count = count + excluded.count",
                )
                .map_err(err)?;
            let mut totals = tx
                .prepare_cached(
                    "INSERT INTO totals (place, kind, label, direction, count) \
                     VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (place, kind, label, direction) \
                     DO UPDATE SET count = count + excluded.count",
                )
                .map_err(err)?;
            let mut per_key: BTreeMap<&TotalKey, u64> = BTreeMap::new();
            for ((hour, key), n) in &per_hour {
                hourly
                    .execute(params![
                        hour,
                        key.place.as_str(),
                        key.kind.as_str(),
                        key.label.as_str(),
                        direction_str(key.direction),
                        *n as i64
                    ])
                    .map_err(err)?;
                *per_key.entry(key).or_default() += n;
            }
            for (key, n) in per_key {
                totals
                    .execute(params![
                        key.place.as_str(),
                        key.kind.as_str(),
                        key.label.as_str(),
                        direction_str(key.direction),
                        n as i64
                    ])
                    .map_err(err)?;
            }
            let mut coarse = tx
                .prepare_cached("INSERT OR IGNORE INTO coarse_hours (hour_ms) VALUES (?1)")
                .map_err(err)?;
            for (hour, _) in tallies.keys() {
                coarse.execute(params![hour]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }
}
