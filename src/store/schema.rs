//! Creating and recognising the database file. `application_id` says "this is ssd-edge's",
//! `user_version` says which schema; anything else is refused and left as it is.

use super::StoreError;
use rusqlite::Connection;
use std::path::Path;

/// "SSDE" in ASCII.
pub const APPLICATION_ID: i32 = 0x5353_4445;
/// The schema this binary writes. A migration from N to N+1 goes in `migrate`.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA_V1: &str = "
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    started_wall_ms INTEGER NOT NULL,
    version TEXT NOT NULL,
    model TEXT NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    kind TEXT NOT NULL,
    place TEXT NOT NULL,
    label TEXT NOT NULL,
    class_id INTEGER NOT NULL,
    direction TEXT,
    track_id INTEGER NOT NULL,
    score REAL NOT NULL,
    frame INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL,
    mono_ms INTEGER NOT NULL,
    clock_suspect INTEGER NOT NULL,
    dwell_ms INTEGER
);
CREATE INDEX events_wall ON events (wall_ms);
-- direction is '' for zone events: WITHOUT ROWID keys cannot be NULL.
CREATE TABLE totals (
    place TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    direction TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (place, kind, label, direction)
) WITHOUT ROWID;
-- Kept when events are pruned, so reports on old periods still work. hour_ms is the UTC hour.
CREATE TABLE hourly (
    hour_ms INTEGER NOT NULL,
    place TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    direction TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (hour_ms, place, kind, label, direction)
) WITHOUT ROWID;
-- Hours for which some events were counted without their details (memory bound reached while
-- the disk was full): reports take these hours from `hourly`.
CREATE TABLE coarse_hours (hour_ms INTEGER PRIMARY KEY);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

/// Read-write open: identify (or create) the schema, then WAL and the durability settings.
pub fn prepare_for_writing(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let err = |e| StoreError::sqlite(path, e);
    match identify(conn, path)? {
        Kind::Empty => {
            // auto_vacuum must be set before the first table: pruned pages are then given
            // back by `incremental_vacuum`, so the file shrinks after retention.
            conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")
                .map_err(err)?;
            conn.execute_batch(&format!(
                "BEGIN; {SCHEMA_V1} PRAGMA application_id = {APPLICATION_ID}; \
                 PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            ))
            .map_err(err)?;
        }
        Kind::Ours(v) => migrate(conn, path, v)?,
    }
    // WAL: readers (reports) never block the writer and a crash leaves the main file
    // consistent. synchronous = FULL fsyncs the WAL at every commit: with NORMAL, a power cut
    // could lose every commit since the last checkpoint, not just the last interval's.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Sqlite {
            path: path.to_path_buf(),
            error: rusqlite::Error::InvalidParameterName(format!(
                "journal_mode is {mode}, WAL could not be enabled"
            )),
        });
    }
    // journal_size_limit: the kept WAL file is cut back to 4 MiB after a checkpoint that a
    // long report held up, and to nothing at close (`persist_wal`).
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA journal_size_limit = 4194304;",
    )
    .map_err(err)?;
    persist_wal(conn, path)
}

/// Keeps the `-wal` and `-shm` files when the writer closes. A user who may read the database
/// but not write its folder (an admin running `ssd-edge report` on the service's
/// /var/lib/ssd-edge) can open a WAL database only if both files already exist; without this
/// the last close deletes them and such a report fails until the service runs again.
fn persist_wal(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    use rusqlite::ffi;
    let mut on: std::ffi::c_int = 1;
    // SAFETY: the handle lives as long as `conn`'s borrow, and SQLITE_FCNTL_PERSIST_WAL reads
    // and writes exactly one int through the pointer.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_PERSIST_WAL,
            (&mut on as *mut std::ffi::c_int).cast(),
        )
    };
    if rc != ffi::SQLITE_OK {
        return Err(StoreError::sqlite(
            path,
            rusqlite::Error::SqliteFailure(ffi::Error::new(rc), Some("persistent WAL".into())),
        ));
    }
    Ok(())
}

/// Read-only open: the file must already be an ssd-edge database of a known version.
pub fn check_existing(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    match identify(conn, path)? {
        Kind::Empty => Err(StoreError::Foreign {
            path: path.to_path_buf(),
            detail: "an empty file or database with no tables".into(),
        }),
        Kind::Ours(v) if v == SCHEMA_VERSION => Ok(()),
        Kind::Ours(v) => Err(StoreError::Query(format!(
            "{}: schema version {v} is older than this binary's ({SCHEMA_VERSION}); open it \
             once with `ssd-edge run` to upgrade it",
            path.display()
        ))),
    }
}

enum Kind {
    Empty,
    Ours(i64),
}

fn identify(conn: &Connection, path: &Path) -> Result<Kind, StoreError> {
    let err = |e| StoreError::sqlite(path, e);
    // The first read of the header is where a non-SQLite file fails (SQLITE_NOTADB).
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(err)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(err)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(err)?;
    if app_id == 0 && version == 0 && tables == 0 {
        return Ok(Kind::Empty);
    }
    if app_id != APPLICATION_ID {
        return Err(StoreError::Foreign {
            path: path.to_path_buf(),
            detail: format!(
                "application_id {app_id:#x}, {tables} schema objects; ssd-edge's is \
                 {APPLICATION_ID:#x}"
            ),
        });
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    // A file damaged by a bad SD card or a stray write: refuse it before writing into it.
    check_integrity(conn, path, "quick_check")?;
    Ok(Kind::Ours(version))
}

fn migrate(_conn: &Connection, path: &Path, version: i64) -> Result<(), StoreError> {
    match version {
        SCHEMA_VERSION => Ok(()),
        v => Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("ssd-edge application id with unknown schema version {v}"),
        }),
    }
}

pub fn check_integrity(conn: &Connection, path: &Path, pragma: &str) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare(&format!("PRAGMA {pragma}"))
        .map_err(|e| StoreError::sqlite(path, e))?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| StoreError::sqlite(path, e))?;
    if rows.len() == 1 && rows[0] == "ok" {
        return Ok(());
    }
    let mut detail = format!("{pragma}: ");
    detail.push_str(&rows.iter().take(3).cloned().collect::<Vec<_>>().join("; "));
    if rows.len() > 3 {
        detail.push_str(&format!("; and {} more", rows.len() - 3));
    }
    Err(StoreError::Corrupt {
        path: path.to_path_buf(),
        detail,
    })
}
