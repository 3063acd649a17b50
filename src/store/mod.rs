//! The event store: counting events and running totals in one SQLite file that survives
//! kill -9 and power loss, and the queries behind `ssd-edge report`.
//!
//! - `config`: the `[store]` table.
//! - `schema`: creating, identifying and checking the file (never "repairing" a foreign or
//!   corrupt one).
//! - `write`: one batch of events, totals and hourly totals in one transaction.
//! - `writer`: the thread that batches events off the frame loop and retries when the disk is
//!   full or read-only.
//! - `retention`: pruning old events while hourly totals stay.
//! - `report`: the counts per bucket (buckets in local time); `crate::render` draws them.

pub mod config;
mod error;
mod lock;
mod report;
mod retention;
mod schema;
mod write;
mod writer;

pub use config::StoreConfig;
pub use error::StoreError;
pub use report::{parse_date_bound, Bucket, Column, Measure, Report, ReportQuery, ReportRow};
pub use retention::{ClockWatch, PruneStats, CLOCK_BACK_TOLERANCE_MS};
pub use writer::{StatusHandle, StoreStatus, Writer, WriterMsg};

use crate::count::{Direction, EventKind, TotalKey};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};

/// What a run records about itself in the `runs` table.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// Binary version, e.g. `CARGO_PKG_VERSION` plus the target.
    pub version: String,
    /// The model file or a description of it.
    pub model: String,
}

/// An open ssd-edge database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    config: StoreConfig,
    /// Held while a writer lives (None for readers); after `conn` so it is released last.
    _lock: Option<lock::WriterLock>,
}

impl Store {
    /// Opens the database at `path` for writing, creating it (and its schema) if the file is
    /// missing or empty. A file that is not an ssd-edge database, is corrupt or has a newer
    /// schema is an error and is left as it is. One writer per database: a second `open`
    /// (another process) while this one lives is [`StoreError::Locked`].
    pub fn open(path: impl AsRef<Path>, config: &StoreConfig) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        config.validate()?;
        // A directory or /dev/null would otherwise fail later with SQLite's vaguer words
        // ("unable to open database file", or a database that silently keeps nothing).
        regular_file_or_missing(&path)?;
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::sqlite(&path, e))?;
        // SQLite falls back to read-only when the file cannot be opened for writing (a card
        // remounted read-only), and with the WAL files of an earlier run still there nothing
        // fails until the first commit: refuse now, not after a run of counts kept only in
        // memory.
        if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Err(StoreError::CannotOpen {
                path,
                detail: "the database opened read-only".into(),
            });
        }
        // Before the schema is touched: two writers creating one schema is the race to avoid.
        let lock = lock::WriterLock::take(&path)?;
        schema::prepare_for_writing(&conn, &path).map_err(|e| match e {
            StoreError::Sqlite { path, error }
                if error.sqlite_error_code() == Some(rusqlite::ErrorCode::CannotOpen) =>
            {
                StoreError::CannotOpen {
                    path,
                    detail: error.to_string(),
                }
            }
            e => e,
        })?;
        let mut store = Store {
            conn,
            path,
            config: config.clone(),
            _lock: Some(lock),
        };
        // A clock that disagrees with the data starts a new retention timeline (retention.rs).
        store.check_clock(now_wall_ms(), config.retention_days)?;
        Ok(store)
    }

    /// Opens an existing database read-only (reports): never creates a file, never takes a
    /// lock that would stop a running writer (WAL readers do not block the writer).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        if !regular_file_or_missing(&path)? {
            return Err(StoreError::Missing { path });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(&path, flags).map_err(|e| StoreError::sqlite(&path, e))?;
        let conn = match schema::check_existing(&conn, &path) {
            Ok(()) => conn,
            // A WAL database whose `-shm` file cannot be created: on a read-only file system
            // (a card mounted read-only to read it elsewhere), or in a folder this user may
            // not write, beside no `-wal` file (a version that did not keep its WAL files,
            // see `schema::persist_wal`). With no WAL content every commit is in the main
            // file and no writer has it open, so it is safe to read as immutable.
            Err(StoreError::Sqlite { error, .. })
                if matches!(
                    error.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
                ) && wal_is_empty(&path) =>
            {
                let conn = Connection::open_with_flags(
                    immutable_uri(&path),
                    flags | OpenFlags::SQLITE_OPEN_URI,
                )
                .map_err(|e| StoreError::sqlite(&path, e))?;
                schema::check_existing(&conn, &path)?;
                conn
            }
            Err(e) => return Err(e),
        };
        Ok(Store {
            conn,
            path,
            config: StoreConfig::default(),
            _lock: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Running totals, as the counting stage seeds its counters with on start-up.
    pub fn totals(&self) -> Result<Vec<(TotalKey, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT place, kind, label, direction, count FROM totals \
                 ORDER BY place, kind, label, direction",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (place, kind, label, direction, count) = row.map_err(|e| self.err(e))?;
            let key = TotalKey {
                place: crate::count::event::name(&place),
                kind: kind_from_str(&kind).ok_or_else(|| self.bad_value("totals.kind", &kind))?,
                label: crate::count::event::name(&label),
                direction: direction_from_str(&direction)
                    .ok_or_else(|| self.bad_value("totals.direction", &direction))?,
            };
            out.push((key, count.max(0) as u64));
        }
        out.sort();
        Ok(out)
    }

    /// Records the start of a run and returns its id (stored with each of its events).
    pub fn begin_run(&mut self, info: &RunInfo) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO runs (started_wall_ms, version, model) VALUES (?1, ?2, ?3)",
                rusqlite::params![now_wall_ms(), info.version, info.model],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Number of stored events (not counting pruned ones).
    pub fn event_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// `PRAGMA integrity_check` (the full one; `open` runs the quicker `quick_check`).
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        schema::check_integrity(&self.conn, &self.path, "integrity_check")
    }

    /// The raw connection, for tests and tools that inspect the tables.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::sqlite(&self.path, e)
    }

    fn bad_value(&self, column: &str, value: &str) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail: format!("unexpected value {value:?} in {column}"),
        }
    }
}

/// Ok(true) for a regular file, Ok(false) for no file; a directory, device, FIFO or socket
/// is [`StoreError::NotAFile`] saying which.
fn regular_file_or_missing(path: &Path) -> Result<bool, StoreError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(true),
        Ok(m) => Err(StoreError::NotAFile {
            path: path.to_owned(),
            what: if m.is_dir() {
                "is a directory, not a regular file"
            } else {
                "is not a regular file (a device, FIFO or socket): give a database file"
            },
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::Io {
            path: path.to_owned(),
            error: e,
        }),
    }
}

/// No `-wal` file beside `path`, or an empty one (the writer's clean close).
fn wal_is_empty(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).map_or(true, |m| m.len() == 0)
}

fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    uri
}

pub(crate) use crate::wall_clock::unix_ms as now_wall_ms;

pub(crate) const HOUR_MS: i64 = 3_600_000;

/// The UTC hour `wall_ms` falls in, as the hourly totals key it.
pub fn hour_of_ms(wall_ms: i64) -> i64 {
    hour_of(wall_ms)
}

pub(crate) fn hour_of(wall_ms: i64) -> i64 {
    wall_ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// How a missing direction is stored in the key columns of `totals` and `hourly` (SQLite
/// primary keys of WITHOUT ROWID tables cannot hold NULL).
pub(crate) fn direction_str(d: Option<Direction>) -> &'static str {
    d.map_or("", Direction::as_str)
}

pub(crate) fn direction_from_str(s: &str) -> Option<Option<Direction>> {
    match s {
        "" => Some(None),
        "in" => Some(Some(Direction::In)),
        "out" => Some(Some(Direction::Out)),
        _ => None,
    }
}

pub(crate) fn kind_from_str(s: &str) -> Option<EventKind> {
    Some(match s {
        "crossing" => EventKind::Crossing,
        "entry" => EventKind::Entry,
        "exit" => EventKind::Exit,
        "loitering" => EventKind::Loitering,
        _ => return None,
    })
}
