//! Stopping `ssd-edge run` with SIGTERM (`systemctl stop`) or SIGINT (Ctrl-C): the run ends
//! after the current frame with every line complete and the summary written, exit status 0,
//! also while it waits on a stalled camera or between reconnect attempts.
//!
//! The assertions are on what happened (lines, summary, log), not on wall time, which a busy
//! 2-core runner does not bound: waits the run must cut short last far longer than the
//! generous hang guard, so exiting at all shows that the stop interrupted them.

#[path = "support/camera_fake.rs"]
mod camera;
mod support;

use camera::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Far longer than any of these runs takes to stop, even on a loaded runner: only a hang hits it.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// Starts `cmd`, waits for `frames` frame lines and, when `ready` is given, for a stderr line
/// it accepts, sends `signal`, and returns (exit status, every
/// stdout line, stderr, the stderr lines read before the signal).
fn stop_after(
    mut cmd: Command,
    frames: usize,
    ready: Option<&dyn Fn(&str) -> bool>,
    signal: libc::c_int,
) -> (
    std::process::ExitStatus,
    Vec<serde_json::Value>,
    String,
    usize,
) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ssd-edge");
    let lines_of = |pipe: Box<dyn std::io::Read + Send>| {
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let _ = tx.send(line.expect("output is UTF-8"));
            }
        });
        (rx, reader)
    };
    let (out_rx, out_reader) = lines_of(Box::new(child.stdout.take().unwrap()));
    let (err_rx, err_reader) = lines_of(Box::new(child.stderr.take().unwrap()));
    let mut lines = vec![];
    while lines.len() < frames {
        let line = out_rx
            .recv_timeout(HANG_GUARD)
            .expect("no frame line within the hang guard");
        lines.push(line);
    }
    let mut err_lines = vec![];
    if let Some(ready) = ready {
        loop {
            let line = err_rx
                .recv_timeout(HANG_GUARD)
                .unwrap_or_else(|_| panic!("the awaited log line never came: {err_lines:#?}"));
            err_lines.push(line);
            if ready(err_lines.last().unwrap()) {
                break;
            }
        }
    }
    let before_signal = err_lines.len();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let signalled = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if signalled.elapsed() > HANG_GUARD {
            let _ = child.kill();
            panic!("ssd-edge did not stop within {HANG_GUARD:?} of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    out_reader.join().unwrap();
    err_reader.join().unwrap();
    lines.extend(out_rx.try_iter());
    err_lines.extend(err_rx.try_iter());
    let json = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn line {l:?}: {e}")))
        .collect();
    (status, json, err_lines.join("\n"), before_signal)
}

/// The number of the last "reconnect attempt N failed" line in `err`, 0 if none.
fn last_attempt(err: &str) -> u32 {
    err.lines()
        .filter_map(|l| {
            l.split("reconnect attempt ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .next_back()
        .unwrap_or(0)
}

fn summary(lines: &[serde_json::Value]) -> &serde_json::Value {
    let last = lines.last().expect("some output");
    last.get("summary")
        .unwrap_or_else(|| panic!("last line is not the summary: {last}"))
}

#[test]
fn sigterm_and_sigint_end_a_synthetic_run_with_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let cmd = ssd_edge_cmd(&[
            "run",
            "--source",
            "synth:5",
            "--frames",
            "1000000",
            "--model",
            model.to_str().unwrap(),
        ]);
        let (status, lines, err, _) = stop_after(cmd, 3, None, signal);
        assert!(status.success(), "signal {signal}: {status:?}\n{err}");
        let s = summary(&lines);
        assert_eq!(s["stopped"], true, "{s}");
        let frames = s["frames"].as_u64().unwrap();
        assert!(frames >= 3, "{s}");
        // Every processed frame has its line, numbered without gaps.
        assert_eq!(lines.len() as u64, frames + 1, "{s}");
        for (i, l) in lines[..lines.len() - 1].iter().enumerate() {
            assert_eq!(l["frame"], i as u64);
        }
        assert!(err.contains("stop requested"), "{err}");
        // Stopped by the signal, not by running out of frames.
        assert!(frames < 1_000_000, "{s}");
    }
}

#[test]
fn a_run_waiting_on_a_stalled_camera_stops_promptly() {
    let cam = FakeCam::new(&["YUYV"], (W, H)).set("FAKECAM_STALL", "2:600000");
    let model = tiny_model(cam.dir.path());
    let (src, model) = (cam.source(), model.display().to_string());
    let cmd = cam.command(&[
        "run",
        "--source",
        &src,
        "--model",
        &model,
        "--timeout",
        "0.5",
    ]);
    // The camera stalls for 600 s, ten times the hang guard: a run that waited it out fails.
    let (status, lines, err, _) = stop_after(cmd, 2, None, libc::SIGTERM);
    assert!(status.success(), "{status:?}\n{err}");
    let s = summary(&lines);
    assert_eq!(
        (s["stopped"].as_bool(), s["frames"].as_u64()),
        (Some(true), Some(2)),
        "{s}"
    );
    assert!(err.contains("stop requested"), "{err}");
}

#[test]
fn a_run_waiting_to_reconnect_stops_promptly() {
    let cam = FakeCam::new(&["YUYV"], (W, H)).set("FAKECAM_UNPLUG", "2:600000");
    let model = tiny_model(cam.dir.path());
    let (src, model) = (cam.source(), model.display().to_string());
    let cmd = cam.command(&["run", "--source", &src, "--model", &model]);
    // Stop once the back-off has grown past a second (the device stays gone for 600 s).
    let grown = |l: &str| {
        l.split("; next in ")
            .nth(1)
            .and_then(|t| t.trim_end_matches(" ms").parse::<u64>().ok())
            .is_some_and(|ms| ms >= 1000)
    };
    let (status, lines, err, before) = stop_after(cmd, 0, Some(&grown), libc::SIGTERM);
    assert!(status.success(), "{status:?}\n{err}");
    let seen = last_attempt(&err.lines().take(before).collect::<Vec<_>>().join("\n"));
    assert!(seen >= 1, "{err}");
    // The stop ends the back-off: no attempt after the one in flight when the signal came.
    assert!(last_attempt(&err) <= seen + 1, "{err}");
    assert!(err.contains("stop requested"), "{err}");
    let s = summary(&lines);
    assert_eq!(s["stopped"], true, "{s}");
    assert_eq!(s["frames"], 2, "{s}");
}
