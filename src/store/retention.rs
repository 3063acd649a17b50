//! Retention: events older than `retention_days` are deleted in small transactions (so the
//! writer never holds a long lock); hourly totals stay, so reports on old periods still work.

use super::{hour_of, Store, StoreError};

/// What one pruning pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneStats {
    pub deleted: u64,
    /// Events before this UTC hour are gone (reports use hourly totals there).
    pub pruned_before_ms: Option<i64>,
}

const CHUNK: i64 = 5000;

impl Store {
    /// Deletes events more than `retention_days` older than the newest event with a trusted
    /// clock. Measured from the data, not from the system clock, so a board that boots with
    /// its clock years ahead does not wipe its history.
    pub fn prune(&mut self, retention_days: u32) -> Result<PruneStats, StoreError> {
        if retention_days == 0 {
            return Ok(PruneStats::default());
        }
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let newest: Option<i64> = self
            .conn
            .query_row(
                "SELECT coalesce(
                    (SELECT wall_ms FROM events WHERE clock_suspect = 0
                     ORDER BY wall_ms DESC LIMIT 1),
                    (SELECT max(wall_ms) FROM events))",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        let Some(newest) = newest else {
            return Ok(PruneStats::default());
        };
        // Hour-aligned, so each hour is either wholly in `events` or wholly pruned.
        let cutoff = hour_of(newest - i64::from(retention_days) * 24 * super::HOUR_MS);
        let mut deleted = 0u64;
        loop {
            let tx = self.conn.transaction().map_err(err)?;
            let n = tx
                .execute(
                    "DELETE FROM events WHERE id IN \
                     (SELECT id FROM events WHERE wall_ms < ?1 LIMIT ?2)",
                    rusqlite::params![cutoff, CHUNK],
                )
                .map_err(err)?;
            // Only a real deletion makes reports before the cut-off come from hourly totals.
            if n > 0 {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('pruned_before_ms', ?1) \
                     ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                    [cutoff],
                )
                .map_err(err)?;
            }
            tx.commit().map_err(err)?;
            deleted += n as u64;
            if (n as i64) < CHUNK {
                break;
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
            pruned_before_ms: Some(cutoff),
        })
    }

    /// Events before this UTC instant were pruned (`None`: nothing was ever pruned).
    pub fn pruned_before_ms(&self) -> Result<Option<i64>, StoreError> {
        use rusqlite::OptionalExtension;
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
