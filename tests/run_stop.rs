//! Stopping `ssd-edge run` with SIGTERM (`systemctl stop`) or SIGINT (Ctrl-C): the run ends
//! after the current frame with every line complete and the summary written, exit status 0,
//! also while it waits on a stalled camera or between reconnect attempts.

#[path = "support/camera_fake.rs"]
mod camera;
mod support;

use camera::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Starts `cmd`, waits for `frames` frame lines (or `settle` when `frames` is 0), sends
/// `signal`, and returns (exit status, every stdout line, stderr, time from signal to exit).
fn stop_after(
    mut cmd: Command,
    frames: usize,
    settle: Duration,
    signal: libc::c_int,
) -> (
    std::process::ExitStatus,
    Vec<serde_json::Value>,
    String,
    Duration,
) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ssd-edge");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.expect("stdout is UTF-8"));
        }
    });
    let mut lines = vec![];
    if frames == 0 {
        std::thread::sleep(settle);
    }
    while lines.len() < frames {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("no frame line within 20 s");
        lines.push(line);
    }
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let signalled = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if signalled.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("ssd-edge did not stop within 15 s of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = signalled.elapsed();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let json = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn line {l:?}: {e}")))
        .collect();
    (status, json, err, took)
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
        let (status, lines, err, took) = stop_after(cmd, 3, Duration::ZERO, signal);
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
        assert!(took < Duration::from_secs(5), "took {took:?}");
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
    let (status, lines, err, took) = stop_after(cmd, 2, Duration::ZERO, libc::SIGTERM);
    assert!(status.success(), "{status:?}\n{err}");
    let s = summary(&lines);
    assert_eq!(
        (s["stopped"].as_bool(), s["frames"].as_u64()),
        (Some(true), Some(2)),
        "{s}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn a_run_waiting_to_reconnect_stops_promptly() {
    let cam = FakeCam::new(&["YUYV"], (W, H)).set("FAKECAM_UNPLUG", "2:600000");
    let model = tiny_model(cam.dir.path());
    let (src, model) = (cam.source(), model.display().to_string());
    let cmd = cam.command(&["run", "--source", &src, "--model", &model]);
    // Let the back-off grow past a second before stopping.
    let (status, lines, err, took) = stop_after(cmd, 0, Duration::from_secs(3), libc::SIGTERM);
    assert!(status.success(), "{status:?}\n{err}");
    assert!(err.contains("reconnect attempt"), "{err}");
    let s = summary(&lines);
    assert_eq!(s["stopped"], true, "{s}");
    assert_eq!(s["frames"], 2, "{s}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}
