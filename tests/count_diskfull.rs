//! The disk filling up under a real `ssd-edge run --config` (the shipped model on the
//! synthetic street, counting into SQLite on a small tmpfs): the run goes on counting, says so
//! loudly once, and once space returns everything counted is written, so the database's
//! totals equal the totals of the run's summary. A database on a read-only file system at
//! start is a clear error. Needs root for `mount`; without it each test fails, unless
//! SSD_EDGE_SKIP_MOUNT=1 says the run knowingly skips them.
#![cfg(feature = "store")]

#[path = "support/tmpfs.rs"]
mod tmpfs;

use ssd_edge::store::Store;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};
use tmpfs::Tmpfs;

const BIN: &str = env!("CARGO_BIN_EXE_ssd-edge");

/// The board's config: synthetic street, float model, the store in `db`.
fn config(dir: &Path, db: &Path) -> PathBuf {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default-float.onnx");
    let text = format!(
        r#"
[source]
uri = "synth:7"
[model]
path = "{}"
[store]
path = "{}"
commit_interval_s = 0.2
[[line]]
name = "middle"
a = [0.5, 1.0]
b = [0.5, 0.0]
anchor = "center"
extend = true
[[zone]]
name = "left"
points = [[0.0, 0.0], [0.4, 0.0], [0.4, 1.0], [0.0, 1.0]]
"#,
        model.display(),
        db.display()
    );
    let p = dir.join("edge.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Fills the file system with one file until it refuses more.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

/// A running `ssd-edge run`: its stdout and stderr lines arrive on channels as they are written.
struct Run {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    out_lines: Vec<String>,
    err_lines: Vec<String>,
}

impl Run {
    fn start(cfg: &Path) -> Run {
        let mut child = Command::new(BIN)
            .args([
                "run",
                "--config",
                cfg.to_str().unwrap(),
                "--frames",
                "1000000",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ssd-edge run");
        let lines = |r: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = channel();
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            });
            rx
        };
        let stdout = lines(Box::new(child.stdout.take().unwrap()));
        let stderr = lines(Box::new(child.stderr.take().unwrap()));
        Run {
            child,
            stdout,
            stderr,
            out_lines: Vec::new(),
            err_lines: Vec::new(),
        }
    }

    fn pump(&mut self) {
        self.out_lines.extend(self.stdout.try_iter());
        self.err_lines.extend(self.stderr.try_iter());
    }

    /// Waits (bounded, not timed: the condition decides) until `cond` holds.
    fn wait_for(&mut self, what: &str, cond: impl Fn(&Run) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            self.pump();
            if cond(self) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.pump();
                panic!(
                    "the run ended ({status}) while waiting for {what}:\n{}",
                    self.err_lines.join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {what}; stderr:\n{}",
                self.err_lines.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Events printed on the frame lines so far.
    fn events(&self) -> usize {
        self.out_lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v.get("events")?.as_array().map(Vec::len))
            .sum()
    }

    fn stderr_count(&self, needle: &str) -> usize {
        self.err_lines.iter().filter(|l| l.contains(needle)).count()
    }

    /// SIGTERM, as systemd stops the service; returns the summary line.
    fn stop(mut self) -> (serde_json::Value, Vec<String>) {
        let s = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(s.success());
        let status = self.child.wait().unwrap();
        // The reader threads end with the pipes.
        self.out_lines.extend(self.stdout.iter());
        self.err_lines.extend(self.stderr.iter());
        assert!(status.success(), "{status}: {}", self.err_lines.join("\n"));
        let summary = self
            .out_lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|v| v.get("summary").cloned())
            .expect("a summary line");
        (summary, self.err_lines)
    }
}

/// `{"middle":{"crossing":{"person":{"in":3}}},"left":{"entry":{"car":2}}}` flattened to
/// "middle/crossing/person/in" -> 3.
fn flatten(v: &serde_json::Value, prefix: &str, out: &mut BTreeMap<String, u64>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}/{k}")
                };
                flatten(v, &p, out);
            }
        }
        v => {
            let n = v.as_u64().unwrap_or_else(|| panic!("{prefix}: {v}"));
            if n > 0 {
                out.insert(prefix.to_string(), n);
            }
        }
    }
}

fn store_totals(db: &Path) -> BTreeMap<String, u64> {
    let store = Store::open_read_only(db).unwrap();
    store.integrity_check().unwrap();
    let mut out = BTreeMap::new();
    for (k, n) in store.totals().unwrap() {
        if n == 0 {
            continue;
        }
        let mut key = format!("{}/{}/{}", k.place, k.kind.as_str(), k.label);
        if let Some(d) = k.direction {
            key += &format!("/{}", d.as_str());
        }
        *out.entry(key).or_default() += n;
    }
    out
}

fn committed_events(db: &Path) -> u64 {
    Store::open_read_only(db).map_or(0, |s| {
        s.totals().unwrap_or_default().iter().map(|(_, n)| n).sum()
    })
}

#[test]
fn a_run_counts_through_a_full_disk_and_writes_everything_when_space_returns() {
    let Some(fs) = Tmpfs::mount("8m") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let db = fs.0.join("counts.db");
    let cfg = config(work.path(), &db);
    let mut run = Run::start(&cfg);
    run.wait_for("a first commit", |_| committed_events(&db) > 0);

    fill(&fs.0.join("ballast"));
    run.wait_for("the store to say it cannot write", |r| {
        r.stderr_count("CANNOT WRITE") > 0
    });
    let at_failure = run.events();
    // Counting goes on while nothing can be written; the store retries every 0.2 s and says
    // nothing more about the same failure.
    run.wait_for("events counted while the disk is full", |r| {
        r.events() >= at_failure + 3
    });
    assert_eq!(run.stderr_count("CANNOT WRITE"), 1, "{:?}", run.err_lines);
    let on_disk_while_full = committed_events(&db);

    std::fs::remove_file(fs.0.join("ballast")).unwrap();
    run.wait_for("the store to write again", |r| r.stderr_count("again;") > 0);
    let (summary, stderr) = run.stop();
    assert_eq!(
        stderr.iter().filter(|l| l.contains("CANNOT WRITE")).count(),
        1,
        "{stderr:?}"
    );

    let mut counted = BTreeMap::new();
    flatten(&summary["totals"], "", &mut counted);
    let stored = store_totals(&db);
    let total: u64 = counted.values().sum();
    eprintln!(
        "{} frames; counted {total} events ({} while the disk was full), {on_disk_while_full} \
         on disk while full; store: {}",
        summary["frames"],
        total.saturating_sub(on_disk_while_full),
        summary["store"]
    );
    assert!(
        total > on_disk_while_full,
        "nothing counted during the failure"
    );
    assert_eq!(stored, counted, "database totals vs the run's summary");
    assert_eq!(summary["store"]["failing"], false, "{summary}");
    assert_eq!(summary["store"]["pending"], 0, "{summary}");
}

/// A card the kernel remounted read-only: at start, a clear error naming the file (a run
/// that silently counted into nothing would lose everything); reports still read it.
#[test]
fn a_read_only_database_at_start_is_a_clear_error() {
    let Some(fs) = Tmpfs::mount("8m") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let db = fs.0.join("counts.db");
    let cfg = config(work.path(), &db);
    let cfg = cfg.to_str().unwrap();
    let o = Command::new(BIN)
        .args(["run", "--config", cfg, "--frames", "40"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = store_totals(&db);

    fs.remount("ro");
    let o = Command::new(BIN)
        .args(["run", "--config", cfg, "--frames", "40"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    eprintln!("{err}");
    assert!(!o.status.success(), "ran on a read-only database");
    assert!(err.contains("counts.db"), "{err}");
    assert!(err.contains("cannot open for writing"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(o.stdout.is_empty(), "no frame was processed");
    let r = Command::new(BIN)
        .args(["report", "--db", db.to_str().unwrap(), "--csv"])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(store_totals(&db), before);

    // A database that does not exist yet on a read-only file system: the same.
    let o = Command::new(BIN)
        .args(["run", "--config", cfg, "--frames", "5", "--db"])
        .arg(fs.0.join("new.db"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("new.db"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    fs.remount("rw");
}
