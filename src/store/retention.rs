//! Retention: events older than `retention_days` are deleted in small transactions (so the
//! writer never holds a long lock); hourly totals stay, so reports on old periods still work.
//!
//! A wrong clock must never cost events (issue 32). Ages are measured on *timelines*: at
//! open ([`Store::check_clock`]) the clock is compared with the last recorded trusted event;
//! a clock behind it (gone backwards across runs) or ahead of it by more than the retention (a
//! clock years ahead, or a board off for longer than the retention) starts a new timeline (a
//! `clock_jump:ID` row in `meta`: the events after id ID), with a warning. Within a timeline
//! the age is measured from its most recently recorded trusted event (highest id, never later
//! than the clock); an older timeline ages only by the running time recorded after it (the
//! spans of the later timelines), never by the jump. So a clock years ahead prunes nothing
//! that is not retention-old in running time, a clock corrected afterwards is a jump of its
//! own, and future-dated events never drag the cut over new ones.
//!
//! In the middle of a run the writer compares each event's wall time with its own monotonic
//! clock ([`ClockWatch`]): a wall clock that moved against it by more than
//! [`CLOCK_BACK_TOLERANCE_MS`] either way (a jump forward by years, NTP stepping it back)
//! starts a new timeline at that event, in the same transaction as the event, logged.

use super::{hour_of, Store, StoreError};
use rusqlite::OptionalExtension;

/// What one pruning pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneStats {
    pub deleted: u64,
    /// Events before this UTC hour are gone (reports use hourly totals there); None when
    /// nothing was deleted.
    pub pruned_before_ms: Option<i64>,
}

/// A clock this far behind the last recorded event counts as gone backwards (NTP steps stay
/// under it).
pub const CLOCK_BACK_TOLERANCE_MS: i64 = super::HOUR_MS;

const CHUNK: i64 = 5000;

/// Watches the wall clock against a monotonic one within a run: the writer feeds it each
/// event's wall time with the monotonic time it received it at.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClockWatch {
    /// wall - monotonic (ms) of the current timeline.
    offset: Option<i64>,
}

impl ClockWatch {
    /// Whether the wall clock jumped before this event (by the amount returned, ms): it
    /// disagrees with the monotonic clock by more than [`CLOCK_BACK_TOLERANCE_MS`] against
    /// the events before it. The queue's delay (ms to seconds) stays far under the tolerance.
    pub fn observe(&mut self, wall_ms: i64, mono_ms: i64) -> Option<i64> {
        let offset = wall_ms.saturating_sub(mono_ms);
        let Some(base) = self.offset else {
            self.offset = Some(offset);
            return None;
        };
        let jump = offset.saturating_sub(base);
        if jump.unsigned_abs() > CLOCK_BACK_TOLERANCE_MS as u64 {
            self.offset = Some(offset);
            Some(jump)
        } else {
            None
        }
    }
}

/// Ids in (lo, hi], and the wall times of the first and last trusted events among them.
type Timeline = (i64, i64, Option<(i64, i64)>);

impl Store {
    /// Compares the clock (`now_ms`) with the last recorded trusted event; a clock that went
    /// backwards, or jumped forward past the retention, starts a new timeline (module docs)
    /// and is returned (and logged). [`Store::open`] calls it with the system clock.
    pub fn check_clock(
        &mut self,
        now_ms: i64,
        retention_days: u32,
    ) -> Result<Option<String>, StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let last: Option<(i64, i64)> = self
            .conn
            .query_row(
                "SELECT id, wall_ms FROM events WHERE clock_suspect = 0 ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)?;
        let Some((last_id, last)) = last else {
            return Ok(None);
        };
        let when = |ms: i64| {
            jiff::Timestamp::from_millisecond(ms).map_or(format!("{ms} ms"), |t| t.to_string())
        };
        let days = retention_days.max(1);
        let retention_ms = i64::from(days) * 24 * super::HOUR_MS;
        let problem = if now_ms < last - CLOCK_BACK_TOLERANCE_MS {
            format!(
                "the clock ({}) is behind the last recorded event ({}): it went backwards",
                when(now_ms),
                when(last)
            )
        } else if now_ms > last.saturating_add(retention_ms) {
            format!(
                "the clock ({}) is more than the retention of {days} days ahead of the last \
                 recorded event ({}): a clock years ahead, or a long pause",
                when(now_ms),
                when(last)
            )
        } else {
            return Ok(None);
        };
        // Events after the newest id are on a new timeline; the id in the key makes a second
        // check before any new event a no-op.
        let max_id: i64 = self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM events", [], |r| r.get(0))
            .map_err(err)?;
        self.conn
            .execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
                rusqlite::params![format!("clock_jump:{max_id}"), max_id],
            )
            .map_err(err)?;
        log::warn!(
            "store: {}: {problem} (event {last_id}); older events age from here on by the \
             running time recorded, not by this jump",
            self.path.display()
        );
        Ok(Some(problem))
    }

    /// Deletes events more than `retention_days` old on their timeline (module docs), by the
    /// system clock.
    pub fn prune(&mut self, retention_days: u32) -> Result<PruneStats, StoreError> {
        self.prune_at(retention_days, super::now_wall_ms())
    }

    /// [`Store::prune`] with the clock given (tests inject wrong clocks).
    pub fn prune_at(&mut self, retention_days: u32, now_ms: i64) -> Result<PruneStats, StoreError> {
        if retention_days == 0 {
            return Ok(PruneStats::default());
        }
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let retention_ms = i64::from(retention_days) * 24 * super::HOUR_MS;
        // Timeline boundaries: timeline i holds the ids in (starts[i], starts[i + 1]].
        let mut starts: Vec<i64> = vec![0];
        {
            let mut st = self
                .conn
                .prepare_cached(
                    "SELECT value FROM meta WHERE key LIKE 'clock_jump:%' ORDER BY value",
                )
                .map_err(err)?;
            let rows = st.query_map([], |r| r.get::<_, i64>(0)).map_err(err)?;
            for v in rows {
                let v = v.map_err(err)?;
                if v > *starts.last().expect("not empty") {
                    starts.push(v);
                }
            }
        }
        // Per timeline: its id range and the wall times of its first and last recorded
        // trusted events.
        let mut lines: Vec<Timeline> = Vec::with_capacity(starts.len());
        for (i, &lo) in starts.iter().enumerate() {
            let hi = starts.get(i + 1).copied().unwrap_or(i64::MAX);
            let ends: Option<(i64, i64)> = self
                .conn
                .query_row(
                    "SELECT (SELECT wall_ms FROM events WHERE id > ?1 AND id <= ?2 \
                       AND clock_suspect = 0 ORDER BY id LIMIT 1), \
                     (SELECT wall_ms FROM events WHERE id > ?1 AND id <= ?2 \
                       AND clock_suspect = 0 ORDER BY id DESC LIMIT 1)",
                    [lo, hi],
                    |r| Ok(r.get::<_, Option<i64>>(0)?.zip(r.get::<_, Option<i64>>(1)?)),
                )
                .map_err(err)?;
            lines.push((lo, hi, ends));
        }
        let current = lines.len() - 1;
        let mut deleted = 0u64;
        let mut pruned_before: Option<i64> = None;
        // Running time recorded on the timelines after the one being pruned.
        let mut later_running = 0i64;
        for (i, &(lo, hi, ends)) in lines.iter().enumerate().rev() {
            // No trusted event: suspect times say nothing about age; nothing goes.
            let Some((first, last)) = ends else { continue };
            // The current timeline's clock is `now`: its reference never runs ahead of it.
            let last = if i == current { last.min(now_ms) } else { last };
            // Hour-aligned, so each hour of a timeline is either wholly kept or pruned.
            let cutoff = hour_of(last.saturating_add(later_running) - retention_ms);
            later_running = later_running.saturating_add((last - first).max(0));
            // Reports switch to hourly totals before it: never a time the clock has not seen.
            let n = self.delete_before(lo, hi, cutoff, cutoff.min(now_ms))?;
            if n > 0 {
                deleted += n;
                pruned_before = pruned_before.max(Some(cutoff.min(now_ms)));
            }
        }
        if deleted > 0 {
            // Give freed pages back to the file system (auto_vacuum = INCREMENTAL).
            self.conn
                .execute_batch("PRAGMA incremental_vacuum;")
                .map_err(err)?;
        }
        Ok(PruneStats {
            deleted,
            pruned_before_ms: pruned_before,
        })
    }

    /// Deletes the events with ids in (lo, hi] dated before `cutoff`, CHUNK rows per
    /// transaction, each with `pruned_before_ms` raised to `mark` when it deleted any.
    fn delete_before(
        &mut self,
        lo: i64,
        hi: i64,
        cutoff: i64,
        mark: i64,
    ) -> Result<u64, StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let mut deleted = 0u64;
        loop {
            let tx = self.conn.transaction().map_err(err)?;
            let n = tx
                .execute(
                    "DELETE FROM events WHERE id IN (SELECT id FROM events \
                     WHERE id > ?1 AND id <= ?2 AND wall_ms < ?3 LIMIT ?4)",
                    rusqlite::params![lo, hi, cutoff, CHUNK],
                )
                .map_err(err)?;
            // Only a real deletion makes reports before the cut-off come from hourly totals.
            if n > 0 {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('pruned_before_ms', ?1) \
                     ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                    [mark],
                )
                .map_err(err)?;
            }
            tx.commit().map_err(err)?;
            deleted += n as u64;
            if (n as i64) < CHUNK {
                return Ok(deleted);
            }
        }
    }

    /// Events before this UTC instant were pruned (`None`: nothing was ever pruned).
    pub fn pruned_before_ms(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'pruned_before_ms'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }
}
