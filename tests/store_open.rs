//! Opening the database: a new file gets the schema; a foreign, non-SQLite, corrupt or newer
//! file is a clear error naming the file and is left byte for byte as it was.
#![cfg(feature = "store")]

mod store_support;

use ssd_edge::count::Direction;
use ssd_edge::store::{RunInfo, Store, StoreConfig, StoreError};
use std::path::Path;
use store_support::*;

fn open(path: &Path) -> Result<Store, StoreError> {
    Store::open(path, &store_config(path, 1.0))
}

fn assert_refused(path: &Path, expect: &str) {
    let before = std::fs::read(path).unwrap();
    let err = match open(path) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(expect), "{msg}");
    let err = Store::open_read_only(path)
        .err()
        .expect("read-only open refused too");
    assert!(err.to_string().contains(expect), "{err}");
    assert_eq!(std::fs::read(path).unwrap(), before, "file changed");
}

#[test]
fn new_database_is_ours_in_wal_mode_and_reopens_with_its_totals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    {
        let mut s = open(&path).unwrap();
        let run = s.begin_run(&RunInfo::default()).unwrap();
        let t = ms("2026-06-01T10:00:00Z");
        s.write_events(
            run,
            &[
                crossing("door", "person", Direction::In, t, 1),
                crossing("door", "person", Direction::In, t + 10, 2),
                crossing("door", "person", Direction::Out, t + 20, 3),
            ],
        )
        .unwrap();
    }
    let s = open(&path).unwrap();
    let conn = s.connection();
    let app: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app, 0x5353_4445);
    assert_eq!(mode, "wal");
    let totals: Vec<(String, u64)> = s
        .totals()
        .unwrap()
        .into_iter()
        .map(|(k, n)| (format!("{} {:?}", k.place, k.direction), n))
        .collect();
    assert_eq!(
        totals,
        [
            ("door Some(In)".to_string(), 2),
            ("door Some(Out)".to_string(), 1)
        ]
    );
    s.integrity_check().unwrap();
}

#[test]
fn an_empty_file_becomes_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("touched.db");
    std::fs::write(&path, b"").unwrap();
    open(&path).unwrap();
    assert!(Store::open_read_only(&path).is_ok());
}

#[test]
fn a_text_file_is_not_sqlite_and_stays_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "my shopping list\n".repeat(400)).unwrap();
    assert_refused(&path, "not an SQLite database");
}

#[test]
fn another_applications_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE photos (id INTEGER PRIMARY KEY); INSERT INTO photos VALUES (1);",
        )
        .unwrap();
    }
    assert_refused(&path, "not an ssd-edge one");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    drop(open(&path).unwrap());
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("PRAGMA user_version = 99;").unwrap();
    }
    assert_refused(&path, "schema version 99 is newer");
}

#[test]
fn a_corrupt_database_is_refused_not_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.db");
    {
        let mut s = open(&path).unwrap();
        let run = s.begin_run(&RunInfo::default()).unwrap();
        let t = ms("2026-06-01T10:00:00Z");
        let events: Vec<_> = (0..3000)
            .map(|i| crossing("door", "person", Direction::In, t + i, i as u64))
            .collect();
        s.write_events(run, &events).unwrap();
    }
    // Closing the last connection checkpointed the WAL into the file (which is kept, empty,
    // for readers who may not create it). Scribble over pages in the middle of the database
    // (a bad SD card, a stray dd), keeping the header intact.
    let mut bytes = std::fs::read(&path).unwrap();
    let wal = std::fs::metadata(path.with_extension("db-wal")).unwrap();
    assert_eq!(wal.len(), 0, "WAL not checkpointed and cut at close");
    let page = 4096;
    assert!(bytes.len() > 20 * page, "{} bytes", bytes.len());
    for b in &mut bytes[6 * page..14 * page] {
        *b = 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    assert_refused(&path, "corrupt");
}

#[test]
fn reports_never_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.db");
    let err = Store::open_read_only(&path).err().unwrap();
    assert!(matches!(err, StoreError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("missing.db"));
    assert!(!path.exists());
}

#[test]
fn bad_config_values_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let cfg = StoreConfig {
        commit_interval_s: 0.0,
        ..store_config(&path, 1.0)
    };
    let err = Store::open(&path, &cfg).err().unwrap().to_string();
    assert!(err.contains("[store] commit_interval_s"), "{err}");
    let err = toml::from_str::<StoreConfig>("commit_interval = 3")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `commit_interval`"), "{err}");
    let cfg: StoreConfig = toml::from_str("path = \"/var/lib/ssd-edge/counts.db\"").unwrap();
    assert_eq!(
        cfg.commit_interval_s,
        StoreConfig::default().commit_interval_s
    );
}
