//! `ssd-edge run --config` end to end: the shipped model on the synthetic street, tracked and
//! counted into a real SQLite store; kill -9 and restart; bad configs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ssd-edge");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn config(dir: &Path, extra: &str) -> PathBuf {
    let model = root().join("models/default-float.onnx");
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
{extra}
"#,
        model.display(),
        dir.join("counts.db").display()
    );
    let p = dir.join("edge.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run ssd-edge")
}

/// The numbers of a closing log line such as `counted on line middle, in / out: person 4 / 3,
/// car 2 / 2, bicycle 1 / 0`, summed.
fn logged_sum(stderr: &str, prefix: &str) -> u64 {
    let line = stderr
        .lines()
        .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no log line with {prefix:?}:\n{stderr}"));
    let (_, counts) = line.split_once(": ").unwrap();
    counts
        .split([',', '/', ' '])
        .filter_map(|w| w.parse::<u64>().ok())
        .sum()
}

fn summary(o: &Output) -> serde_json::Value {
    let out = String::from_utf8_lossy(&o.stdout);
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v.get("summary").cloned())
        .unwrap_or_else(|| panic!("no summary:\n{}", String::from_utf8_lossy(&o.stderr)))
}

fn crossings(total: &serde_json::Value) -> u64 {
    total["middle"]["crossing"]
        .as_object()
        .map(|m| {
            m.values()
                .flat_map(|d| d.as_object().unwrap().values())
                .map(|n| n.as_u64().unwrap())
                .sum()
        })
        .unwrap_or(0)
}

fn true_crossings(s: &serde_json::Value) -> u64 {
    s["ground_truth"]["crossings"]
        .as_object()
        .unwrap()
        .values()
        .map(|d| d["left_to_right"].as_u64().unwrap() + d["right_to_left"].as_u64().unwrap())
        .sum()
}

#[test]
fn counts_reach_the_store_the_report_and_continue_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let cfg = cfg.to_str().unwrap();
    let o = Command::new(BIN)
        .args(["run", "--config", cfg, "--frames", "300"])
        .env("RUST_LOG", "info")
        .output()
        .expect("run ssd-edge");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary(&o);
    let counted = crossings(&s["totals"]);
    let truth = true_crossings(&s);
    // the closing log sets the line's counts beside the truth, the same numbers as the summary
    let log = String::from_utf8_lossy(&o.stderr);
    assert_eq!(logged_sum(&log, "counted on line middle"), counted, "{log}");
    assert_eq!(
        logged_sum(&log, "true crossings of x = 150 px"),
        truth,
        "{log}"
    );
    eprintln!(
        "300 frames: counted {counted} crossings, true {truth}: {}",
        s["totals"]
    );
    assert!(truth >= 3, "the sequence crosses the line: {s}");
    // the shipped model misses some objects, but what it counts is real: never more than the truth
    assert!(
        counted >= 1 && counted <= truth,
        "counted {counted} of {truth}"
    );
    // every event printed was committed
    let out = String::from_utf8_lossy(&o.stdout);
    let events: usize = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("events").and_then(|e| e.as_array()).map(|a| a.len()))
        .sum();
    assert!(events > 0);
    assert_eq!(
        s["store"]["committed"].as_u64().unwrap(),
        events as u64,
        "{s}"
    );

    // the report reads the same numbers back
    let db = dir.path().join("counts.db");
    let r = run(&["report", "--db", db.to_str().unwrap(), "--csv"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let csv = String::from_utf8_lossy(&r.stdout);
    assert!(csv.contains("middle"), "{csv}");

    // a second run starts from the stored totals
    let o2 = run(&["run", "--config", cfg, "--frames", "30"]);
    assert!(
        o2.status.success(),
        "{}",
        String::from_utf8_lossy(&o2.stderr)
    );
    let s2 = summary(&o2);
    assert!(
        crossings(&s2["totals"]) >= counted,
        "{} then {}",
        s["totals"],
        s2["totals"]
    );
}

#[test]
fn kill_9_mid_run_keeps_the_database_sound_and_totals_growing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let cfg = cfg.to_str().unwrap();
    let db = dir.path().join("counts.db");
    let mut seen_before = 0u64;
    for (round, ms) in [2500u64, 4000, 3200].into_iter().enumerate() {
        let mut child = Command::new(BIN)
            .args(["run", "--config", cfg, "--frames", "100000"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        // SIGKILL: no handler, no flush
        child.kill().unwrap();
        child.wait().unwrap();
        // the database opens and reads back (a report runs integrity checks at open)
        let r = run(&["report", "--db", db.to_str().unwrap(), "--csv"]);
        assert!(
            r.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        // totals only grow across kills, and a fresh run continues from them
        let o = run(&["run", "--config", cfg, "--frames", "1"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let now = summary(&o)["totals"].clone();
        let n: u64 = now
            .as_object()
            .map(|places| {
                places
                    .values()
                    .flat_map(|kinds| kinds.as_object().unwrap().values())
                    .flat_map(|labels| labels.as_object().unwrap().values())
                    .map(|v| match v.as_u64() {
                        Some(n) => n,
                        None => v
                            .as_object()
                            .unwrap()
                            .values()
                            .map(|n| n.as_u64().unwrap())
                            .sum(),
                    })
                    .sum()
            })
            .unwrap_or(0);
        assert!(
            n >= seen_before,
            "round {round}: totals went back from {seen_before} to {n}"
        );
        seen_before = n;
    }
    assert!(seen_before > 0, "nothing was counted in three runs");
}

#[test]
fn bad_configs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, expect) in [
        (
            "[[line]]\nname = \"z\"\na = [0.1, 0.1]\nb = [0.1, 0.1]\n",
            "zero-length line",
        ),
        (
            "[[line]]\nname = \"z\"\na = [0.1, 1.5]\nb = [0.1, 0.1]\n",
            "outside the frame",
        ),
        (
            "[[line]]\nname = \"z\"\na = [0.1, 0.2]\nb = [0.1, 0.1]\nclasses = [\"dog\"]\n",
            "unknown class `dog`",
        ),
        (
            "[[zone]]\nname = \"bow\"\npoints = [[0, 0], [1, 1], [1, 0], [0, 1]]\n",
            "self-intersecting",
        ),
        (
            "[[line]]\nname = \"middle\"\na = [0.1, 0.2]\nb = [0.1, 0.1]\n",
            "used twice",
        ),
        ("[tracker]\ncapacty = 3\n", "unknown field `capacty`"),
        ("[tracker]\ncapacity = 0\n", "tracker.capacity"),
    ] {
        let cfg = config(dir.path(), extra);
        let o = run(&["run", "--config", cfg.to_str().unwrap(), "--frames", "1"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{extra}");
        assert!(err.contains(expect), "{extra}: {err}");
        assert!(err.contains("edge.toml"), "names the file: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_corrupt_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let db = dir.path().join("counts.db");
    std::fs::write(&db, b"this is not a database, it is somebody's notes\n").unwrap();
    let before = std::fs::read(&db).unwrap();
    let o = run(&["run", "--config", cfg.to_str().unwrap(), "--frames", "5"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("counts.db"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}
