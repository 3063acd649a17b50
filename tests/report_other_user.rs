//! `ssd-edge report` by a user who may read the database but not write its folder: an admin
//! reading the counts the service keeps in /var/lib/ssd-edge. SQLite's read-only WAL open
//! needs the `-shm` and `-wal` files to exist already or to be creatable there, so this is
//! checked with the writer stopped (a clean close) and with the writer still running.
//!
//! As root the reader is `nobody` (via `setpriv`, util-linux) on a copy of the binary in the
//! test's folder; as any other user the folder is made read-only instead.
#![cfg(feature = "store")]

mod store_support;

use ssd_edge::count::Direction;
use ssd_edge::store::{RunInfo, Store};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use store_support::*;

const NOBODY: u32 = 65534;

struct Reader {
    bin: PathBuf,
    as_root: bool,
}

/// Sets `dir` up so the reader cannot create files in it, and returns how to run the reader.
fn reader_for(dir: &Path) -> Reader {
    let as_root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    let bin = if as_root {
        // Another user cannot reach the target directory under /root: run a copy.
        let bin = dir.join("ssd-edge");
        std::fs::copy(env!("CARGO_BIN_EXE_ssd-edge"), &bin).unwrap();
        bin
    } else {
        PathBuf::from(env!("CARGO_BIN_EXE_ssd-edge"))
    };
    let mode = if as_root { 0o755 } else { 0o555 };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
    Reader { bin, as_root }
}

impl Reader {
    fn report(&self, db: &Path) -> Output {
        let mut cmd = if self.as_root {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={NOBODY}"))
                .arg(format!("--regid={NOBODY}"))
                .arg("--clear-groups")
                .arg(&self.bin);
            c
        } else {
            Command::new(&self.bin)
        };
        cmd.args(["report", "--csv", "--by", "day", "--tz", "UTC", "--db"])
            .arg(db)
            .env("RUST_LOG", "warn")
            .output()
            .expect("setpriv (util-linux) runs")
    }
}

fn restore(dir: &Path) {
    // tempdir's cleanup must be able to delete the files again.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn write(store: &mut Store, n: u64) {
    let run = store.begin_run(&RunInfo::default()).unwrap();
    let t = ms("2026-06-01T10:00:00Z");
    let events: Vec<_> = (0..n)
        .map(|i| crossing("door", "person", Direction::In, t + i as i64, i + 1))
        .collect();
    store.write_events(run, &events).unwrap();
}

fn expect_counts(o: &Output, n: u64) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "report failed: {}\n{stderr}", o.status);
    let out = String::from_utf8_lossy(&o.stdout);
    let want = format!("2026-06-01T00:00:00+00:00,2026-06-02T00:00:00+00:00,{n}");
    assert!(out.lines().any(|l| l == want), "{want:?} not in:\n{out}");
}

#[test]
fn report_by_another_user_after_the_writer_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("counts.db");
    {
        let mut s = Store::open(&db, &store_config(&db, 1.0)).unwrap();
        write(&mut s, 3);
    }
    let reader = reader_for(dir.path());
    let out = reader.report(&db);
    restore(dir.path());
    expect_counts(&out, 3);
}

#[test]
fn report_by_another_user_while_the_writer_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("counts.db");
    let mut s = Store::open(&db, &store_config(&db, 1.0)).unwrap();
    write(&mut s, 2);
    let reader = reader_for(dir.path());
    let first = reader.report(&db);
    // The writer goes on while the other user's reads come and go.
    write(&mut s, 5);
    let second = reader.report(&db);
    restore(dir.path());
    expect_counts(&first, 2);
    expect_counts(&second, 7);
    s.integrity_check().unwrap();
}
