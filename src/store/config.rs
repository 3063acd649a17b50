use super::StoreError;
use serde::Deserialize;
use std::path::PathBuf;

/// The `[store]` table of the config.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The database file. Relative paths are relative to the working directory.
    pub path: PathBuf,
    /// Seconds between commits: each commit is one fsync, so a longer interval spares SD
    /// cards; kill -9 or power loss loses at most the events of one interval.
    pub commit_interval_s: f64,
    /// Events older than this many days are deleted (their hourly totals stay); 0 keeps them
    /// forever.
    pub retention_days: u32,
    /// Events kept in memory while the database cannot be written (disk full, read-only).
    /// Past this bound only their counts are kept (totals and hourly totals stay exact; the
    /// events' details are dropped).
    pub max_pending_events: usize,
    /// Events the frame loop can hand to the writer thread before the writer takes them;
    /// allocated once at start-up.
    pub queue_capacity: usize,
    /// How long a connection waits for another one's lock, in milliseconds.
    pub busy_timeout_ms: u64,
}

/// The database file a run writes and a report reads when none is given.
pub const DEFAULT_PATH: &str = "ssd-edge.db";

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from(DEFAULT_PATH),
            commit_interval_s: 5.0,
            retention_days: 90,
            max_pending_events: 50_000,
            queue_capacity: 4096,
            busy_timeout_ms: 5000,
        }
    }
}

impl StoreConfig {
    pub fn validate(&self) -> Result<(), StoreError> {
        let bad = |key, message: &str| {
            Err(StoreError::Config {
                key,
                message: message.to_string(),
            })
        };
        if !(self.commit_interval_s.is_finite()
            && self.commit_interval_s > 0.0
            && self.commit_interval_s <= 3600.0)
        {
            return bad(
                "commit_interval_s",
                &format!("{} is not in (0, 3600] seconds", self.commit_interval_s),
            );
        }
        if self.max_pending_events == 0 {
            return bad("max_pending_events", "must be at least 1");
        }
        if self.queue_capacity == 0 {
            return bad("queue_capacity", "must be at least 1");
        }
        if self.path.as_os_str().is_empty() {
            return bad("path", "is empty");
        }
        Ok(())
    }

    pub fn commit_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.commit_interval_s)
    }
}
