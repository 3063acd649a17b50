use std::path::{Path, PathBuf};

/// Every error names the database file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: no such database (reports never create one; check --db)", path.display())]
    Missing { path: PathBuf },
    /// `what`: "is a directory, not a regular file" or "is not a regular file (...)".
    #[error("{}: {what}", path.display())]
    NotAFile { path: PathBuf, what: &'static str },
    /// Another process writes this database (issue 32: each run's totals would show only
    /// its own share).
    #[error(
        "{}: another ssd-edge run is writing this database (one writer per database; \
         `ssd-edge report` can read it meanwhile)",
        path.display()
    )]
    Locked { path: PathBuf },
    #[error("{}: not an SQLite database (left untouched)", path.display())]
    NotSqlite { path: PathBuf },
    #[error(
        "{}: an SQLite database, but not an ssd-edge one ({detail}); left untouched: \
         choose another [store] path",
        path.display()
    )]
    Foreign { path: PathBuf, detail: String },
    #[error(
        "{}: database is corrupt ({detail}); left untouched: move it aside to start a new one, \
         or recover it with `sqlite3 FILE .recover`",
        path.display()
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "{}: schema version {found} is newer than this ssd-edge understands ({supported}); \
         use a newer ssd-edge",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error(
        "{}: cannot open for writing ({detail}): is the file system read-only or full, or the \
         directory not writable?",
        path.display()
    )]
    CannotOpen { path: PathBuf, detail: String },
    // `error`, not `source`: the message already says the cause, and a `source()` would
    // make `{:#}` print it a second time.
    #[error("{}: {error}", path.display())]
    Sqlite {
        path: PathBuf,
        error: rusqlite::Error,
    },
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("[store] {key}: {message}")]
    Config { key: &'static str, message: String },
    #[error("report: {0}")]
    Query(String),
    /// A report larger than its bound (rows x columns).
    #[error("report too large: {0}")]
    TooLarge(String),
    #[error("store writer: {0}")]
    Writer(String),
}

impl StoreError {
    /// Maps SQLite's "not a database" and "corrupt" codes to their own variants, so the
    /// message says what is wrong with the file rather than which call failed.
    pub(crate) fn sqlite(path: &Path, e: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode;
        let path = path.to_path_buf();
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => StoreError::NotSqlite { path },
            Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                path,
                detail: e.to_string(),
            },
            _ => StoreError::Sqlite { path, error: e },
        }
    }

    /// Disk full, read-only file system, I/O error, locked: conditions the writer waits out
    /// (keeping events in memory) rather than ending the run.
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode::*;
        match self {
            StoreError::Sqlite { error, .. } => matches!(
                error.sqlite_error_code(),
                Some(
                    DiskFull
                        | ReadOnly
                        | SystemIoFailure
                        | DatabaseBusy
                        | DatabaseLocked
                        | CannotOpen
                        | OutOfMemory
                )
            ),
            StoreError::Io { .. } => true,
            _ => false,
        }
    }
}
