//! Issue 32: one writer per database. A second writer (another `Store::open`, another `run`
//! on the same `--db`) is a clear error naming the file, while `report` still reads; the lock
//! goes with its holder. `--db` that is a directory or a device says so, once.
#![cfg(feature = "store")]

mod store_support;

use ssd_edge::count::Direction;
use ssd_edge::store::{RunInfo, Store, StoreError};
use std::path::Path;
use std::process::{Command, Output};
use store_support::*;

fn ssd_edge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ssd-edge"))
        .env("RUST_LOG", "warn")
        .args(args)
        .output()
        .expect("run ssd-edge")
}

/// A config with one line, so `run` opens the store; the shipped model, 3 synthetic frames.
fn config(dir: &Path) -> String {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default-float.onnx");
    let cfg = dir.join("edge.toml");
    std::fs::write(
        &cfg,
        format!(
            "[source]\nuri = \"synth:1\"\nframes = 3\n[model]\npath = \"{}\"\n\
             [[line]]\nname = \"door\"\na = [0.5, 0.0]\nb = [0.5, 1.0]\n",
            model.display()
        ),
    )
    .unwrap();
    cfg.display().to_string()
}

fn one_error_line(o: &Output) -> String {
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "succeeded: {e}");
    assert!(!e.contains("panicked"), "{e}");
    let lines: Vec<&str> = e.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{e}");
    let parts: Vec<&str> = lines[0].split(": ").collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(
            p.len() <= 6 || !parts[i + 1..].contains(p),
            "{p:?} twice: {e}"
        );
    }
    lines[0].to_string()
}

#[test]
fn a_second_writer_is_refused_and_readers_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("counts.db");
    let mut first = Store::open(&db, &store_config(&db, 1.0)).unwrap();
    let run = first.begin_run(&RunInfo::default()).unwrap();
    let t = ms("2026-06-01T10:00:00Z");
    first
        .write_events(run, &[crossing("door", "person", Direction::In, t, 1)])
        .unwrap();
    // Several tries, in this process and from other processes: all refused while it lives.
    for _ in 0..3 {
        match Store::open(&db, &store_config(&db, 1.0)) {
            Err(StoreError::Locked { path }) => assert_eq!(path, db),
            Err(e) => panic!("not Locked: {e}"),
            Ok(_) => panic!("a second writer opened {}", db.display()),
        }
    }
    let cfg = config(dir.path());
    let dbs = db.display().to_string();
    for _ in 0..2 {
        let e = one_error_line(&ssd_edge(&["run", "--config", &cfg, "--db", &dbs]));
        assert!(
            e.contains(&dbs) && e.contains("another ssd-edge run is writing this database"),
            "{e}"
        );
    }
    // Readers are not writers: `report` and read-only opens work while the writer holds it.
    assert_eq!(
        Store::open_read_only(&db).unwrap().event_count().unwrap(),
        1
    );
    let o = ssd_edge(&[
        "report",
        "--db",
        &dbs,
        "--from",
        "2026-06-01",
        "--to",
        "2026-06-02",
    ]);
    assert!(
        o.status.success(),
        "report while a writer runs: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Gone with its holder: the next writer opens and sees the first one's event.
    drop(first);
    let again = Store::open(&db, &store_config(&db, 1.0)).unwrap();
    assert_eq!(again.event_count().unwrap(), 1);
    drop(again);
    let o = ssd_edge(&["run", "--config", &cfg, "--db", &dbs]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn db_paths_that_are_not_files_say_what_they_are_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let sub = dir.path().join("a-directory");
    std::fs::create_dir(&sub).unwrap();
    let subs = sub.display().to_string();
    for (db, why) in [
        (subs.as_str(), "is a directory, not a regular file"),
        ("/dev/null", "is not a regular file"),
        ("/dev/zero", "is not a regular file"),
    ] {
        let e = one_error_line(&ssd_edge(&["run", "--config", &cfg, "--db", db]));
        assert!(e.contains(db) && e.contains(why), "{db}: {e}");
        let e = one_error_line(&ssd_edge(&["report", "--db", db]));
        assert!(e.contains(db) && e.contains(why), "report {db}: {e}");
    }
}
