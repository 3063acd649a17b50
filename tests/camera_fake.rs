//! The real `ssd-edge` binary (and the `v4l` crate in it) against a fake V4L2 device: an
//! LD_PRELOAD shim answering open/ioctl/mmap/poll for a path in a temp dir.

#[path = "support/camera_fake.rs"]
mod camera;
mod support;

use camera::*;
use std::time::{Duration, Instant};

fn run_args<'a>(cam: &'a FakeCam, src: &'a str, model: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let _ = cam;
    let mut a = vec!["run", "--source", src, "--model", model];
    a.extend_from_slice(extra);
    a
}

#[test]
fn cameras_lists_driver_formats_sizes_and_rates() {
    let cam =
        FakeCam::new(&["MJPG", "YUYV", "H264"], (W, H)).set("FAKECAM_SIZES", "320x240,640x480");
    let path = cam.path.display().to_string();
    let o = cam.run(&["cameras", &path]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        text.contains("Fake Camera") && text.contains("driver fakecam"),
        "{text}"
    );
    assert!(text.contains("MJPG") && text.contains("YUYV"), "{text}");
    assert!(
        text.contains("H264") && text.contains("not supported"),
        "{text}"
    );
    assert!(
        text.contains("320x240 @ 30, 15 fps") && text.contains("640x480 @ 30, 15 fps"),
        "{text}"
    );

    let o = cam.run(&["cameras", "--json", &path]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["card"], "Fake Camera");
    assert_eq!(v["formats"].as_array().unwrap().len(), 3);
    assert_eq!(v["formats"][0]["fourcc"], "MJPG");
    assert_eq!(v["formats"][0]["sizes"][1]["size"], "640x480");
    assert_eq!(v["formats"][0]["sizes"][1]["fps"][1], "15");
}

#[test]
fn every_format_reaches_the_detector_correctly() {
    let cam = FakeCam::new(&FORMATS, (W, H));
    let model = tiny_model(cam.dir.path());
    let (src, model) = (cam.source(), model.display().to_string());
    for fourcc in FORMATS {
        let fmt = match fourcc {
            "RGB3" => "rgb24",
            "BGR3" => "bgr24",
            other => other,
        };
        let o = cam.run(&run_args(
            &cam,
            &src,
            &model,
            &["--format", fmt, "--frames", "3"],
        ));
        assert!(o.status.success(), "{fourcc}: {}", stderr(&o));
        let (frames, summary) = parse_run(&o);
        assert_eq!(frames.len(), 3, "{fourcc}");
        assert_eq!(summary["frames"], 3);
        assert_eq!(summary["corrupt"], 0, "{fourcc}");
        assert!(
            cam.log_text().contains(&format!("S_FMT {fourcc} 320x240")),
            "{fourcc} not negotiated"
        );
        for f in &frames {
            assert_eq!(
                (f["width"].as_u64(), f["height"].as_u64()),
                (Some(W as u64), Some(H as u64))
            );
            if fourcc == "GREY" {
                // No colour, so neither red nor green: the tiny model sees background only.
                assert!(detections(f).is_empty(), "{fourcc}: {f}");
            } else {
                assert_pattern_found(f, W, H);
            }
        }
    }
}

#[test]
fn negotiation_prefers_cheap_colour_formats_and_rejects_unreadable_devices() {
    let cam = FakeCam::new(&["GREY", "MJPG", "YUYV"], (W, H));
    let model = tiny_model(cam.dir.path());
    let (src, model) = (cam.source(), model.display().to_string());
    let o = cam.run(&run_args(&cam, &src, &model, &["--frames", "1"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(cam.log_text().contains("S_FMT YUYV"), "{}", cam.log_text());
    // Asked for a format the device lacks: a warning and the best available one.
    let o = cam.run(&run_args(
        &cam,
        &src,
        &model,
        &["--frames", "1", "--format", "nv12"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not offer NV12"), "{}", stderr(&o));

    let cam = FakeCam::new(&["H264"], (W, H));
    let o = cam.run(&run_args(&cam, &cam.source(), &model, &["--frames", "1"]));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("no pixel format ssd-edge can read") && err.contains("H264"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn corrupt_frames_are_skipped_and_counted() {
    let cam = FakeCam::new(&["MJPG"], (W, H)).set("FAKECAM_CORRUPT", "1,3");
    let model = tiny_model(cam.dir.path());
    let (src, model) = (cam.source(), model.display().to_string());
    let o = cam.run(&run_args(&cam, &src, &model, &["--frames", "5"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let (frames, summary) = parse_run(&o);
    assert_eq!(summary["corrupt"], 2, "{summary}");
    assert_eq!(summary["frames"], 5);
    assert_eq!(frames.len(), 5);
    // Frames keep their capture index: the two spoilt ones leave gaps.
    let idx: Vec<u64> = frames
        .iter()
        .map(|f| f["frame"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, [0, 2, 4, 5, 6]);
    frames.iter().for_each(|f| assert_pattern_found(f, W, H));
    assert!(stderr(&o).contains("corrupt MJPEG frame"), "{}", stderr(&o));

    // Raw formats: the driver's error flag.
    let cam = FakeCam::new(&["YUYV"], (W, H)).set("FAKECAM_CORRUPT", "0");
    let o = cam.run(&run_args(
        &cam,
        &src.replace(&src, &cam.source()),
        &model,
        &["--frames", "3"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let (_, summary) = parse_run(&o);
    assert_eq!(
        (summary["corrupt"].as_u64(), summary["frames"].as_u64()),
        (Some(1), Some(3))
    );
}

#[test]
fn a_stalled_camera_times_out_and_recovers_without_hanging() {
    let cam = FakeCam::new(&["YUYV"], (W, H)).set("FAKECAM_STALL", "2:1500");
    let model = tiny_model(cam.dir.path());
    let (src, model) = (cam.source(), model.display().to_string());
    let began = Instant::now();
    let o = cam.run(&run_args(
        &cam,
        &src,
        &model,
        &["--frames", "5", "--timeout", "0.4"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(began.elapsed() < Duration::from_secs(20));
    let (frames, summary) = parse_run(&o);
    assert_eq!(frames.len(), 5);
    let timeouts = summary["timeouts"].as_u64().unwrap();
    assert!((2..=4).contains(&timeouts), "{summary}");
    assert!(
        stderr(&o).contains("no frame within 400 ms"),
        "{}",
        stderr(&o)
    );
    // Every poll the binary made was bounded.
    let log = cam.log_text();
    assert!(
        log.contains("poll timeout") && !log.contains("poll timeout -1"),
        "{log}"
    );
}

#[test]
fn missing_and_busy_devices_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let missing = format!("camera:{}", dir.path().join("video9").display());
    let o = ssd_edge_cmd(&[
        "run",
        "--source",
        &missing,
        "--model",
        model.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("video9: no such video device"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let cam = FakeCam::new(&["YUYV"], (W, H)).set("FAKECAM_BUSY", "1");
    let o = cam.run(&[
        "run",
        "--source",
        &cam.source(),
        "--model",
        model.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("device busy"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unplug_mid_stream_reconnects_and_numbering_continues() {
    let cam = FakeCam::new(&["MJPG"], (W, H)).set("FAKECAM_UNPLUG", "4:800");
    let model = tiny_model(cam.dir.path());
    let (src, model) = (cam.source(), model.display().to_string());
    let o = cam.run(&run_args(&cam, &src, &model, &["--frames", "10"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let (frames, summary) = parse_run(&o);
    assert_eq!(summary["reconnects"], 1, "{summary}");
    let idx: Vec<u64> = frames
        .iter()
        .map(|f| f["frame"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, (0..10).collect::<Vec<_>>());
    frames.iter().for_each(|f| assert_pattern_found(f, W, H));
    let err = stderr(&o);
    assert!(err.contains("device disconnected"), "{err}");
    assert!(err.contains("reconnect attempt 1 failed"), "{err}");
    assert!(err.contains("reconnected after"), "{err}");
    assert!(cam.log_text().contains("open") && cam.log_text().matches("STREAMON").count() == 2);

    // Never comes back: the run gives up when told to, with a clear error.
    let cam = FakeCam::new(&["YUYV"], (W, H)).set("FAKECAM_UNPLUG", "2:600000");
    let o = cam.run(&run_args(
        &cam,
        &cam.source(),
        &model,
        &["--frames", "10", "--reconnect-for", "1"],
    ));
    assert!(!o.status.success());
    let (frames, _) = parse_run(&o);
    assert_eq!(frames.len(), 2);
    assert!(
        stderr(&o).contains("gave up reconnecting"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn only_the_newest_frame_is_processed_when_capture_is_faster() {
    // 1000 fps of 1280x720 MJPEG: decoding alone is slower than that, so frames pile up.
    let size = (1280, 720);
    let cam = FakeCam::new(&["MJPG"], size).set("FAKECAM_FPS", "1000");
    let model = tiny_model(cam.dir.path());
    let (src, model) = (cam.source(), model.display().to_string());
    let o = cam.run(&run_args(
        &cam,
        &src,
        &model,
        &["--frames", "8", "--size", "1280x720"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let (frames, summary) = parse_run(&o);
    assert_eq!(frames.len(), 8);
    let dropped = summary["dropped"].as_u64().unwrap();
    assert!(dropped > 0, "{summary}");
    // Every frame the sensor made is either processed or counted as dropped.
    let log = cam.log_text();
    let last_seq = log
        .lines()
        .filter_map(|l| l.split("DQBUF ").nth(1))
        .filter_map(|l| l.split(" seq ").nth(1))
        .map(|s| s.trim().parse::<u64>().unwrap())
        .max()
        .unwrap();
    assert_eq!(dropped + 8, last_seq + 1, "{summary}\n{log}");
}
