//! `ssd-edge run` and `ssd-edge record` on the camera-free sources: recordings (round trip,
//! damage), directories with a bad image, single images, synthetic scenes.

#[path = "support/camera_fake.rs"]
mod camera;
mod support;

use camera::*;

fn run(args: &[&str]) -> std::process::Output {
    ssd_edge_cmd(args).output().expect("run ssd-edge")
}

#[test]
fn record_then_replay_gives_the_same_frames() {
    let cam = FakeCam::new(&["YUYV"], (W, H));
    let model = tiny_model(cam.dir.path());
    let model = model.to_str().unwrap();
    let rec = cam.dir.path().join("cam.rec");
    let o = cam.run(&[
        "record",
        "--source",
        &cam.source(),
        "--out",
        rec.to_str().unwrap(),
        "--frames",
        "4",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Header 16 + 4 x (32 + 320*240*2).
    assert_eq!(
        std::fs::metadata(&rec).unwrap().len(),
        16 + 4 * (32 + 320 * 240 * 2)
    );

    let src = format!("replay:{}", rec.display());
    let o = run(&["run", "--source", &src, "--model", model]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (frames, summary) = parse_run(&o);
    assert_eq!(frames.len(), 4);
    assert_eq!(summary["frames"], 4);
    frames.iter().for_each(|f| assert_pattern_found(f, W, H));
    // Timestamps are the capture times, increasing.
    let ts: Vec<u64> = frames
        .iter()
        .map(|f| f["timestamp_us"].as_u64().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
}

#[test]
fn recordings_keep_corrupt_mjpeg_frames_for_replay() {
    let cam = FakeCam::new(&["MJPG"], (W, H)).set("FAKECAM_CORRUPT", "2");
    let model = tiny_model(cam.dir.path());
    let rec = cam.dir.path().join("mjpg.rec");
    let o = cam.run(&[
        "record",
        "--source",
        &cam.source(),
        "--out",
        rec.to_str().unwrap(),
        "--frames",
        "5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let src = format!("replay:{}", rec.display());
    let o = run(&["run", "--source", &src, "--model", model.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (frames, summary) = parse_run(&o);
    assert_eq!((frames.len(), summary["corrupt"].as_u64()), (4, Some(1)));
}

#[test]
fn truncated_and_foreign_recordings_are_errors_naming_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let model = model.to_str().unwrap();
    let rec = dir.path().join("synth.rec");
    let o = run(&[
        "record",
        "--source",
        "synth:3",
        "--out",
        rec.to_str().unwrap(),
        "--frames",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let full = std::fs::read(&rec).unwrap();
    let frame_len = 32 + 300 * 300 * 3;
    assert_eq!(full.len(), 16 + 3 * frame_len);

    // Cut inside the third frame's payload: two frames play, then the error.
    std::fs::write(&rec, &full[..full.len() - 1000]).unwrap();
    let src = format!("replay:{}", rec.display());
    let o = run(&["run", "--source", &src, "--model", model]);
    assert!(!o.status.success());
    let (frames, _) = parse_run(&o);
    assert_eq!(frames.len(), 2);
    let offset = 16 + 2 * frame_len;
    let err = stderr(&o);
    assert!(
        err.contains(&format!("recording truncated at byte offset {offset}")),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    // Cut inside a frame header.
    std::fs::write(&rec, &full[..16 + frame_len + 10]).unwrap();
    let o = run(&["run", "--source", &src, "--model", model]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!("truncated at byte offset {}", 16 + frame_len)),
        "{}",
        stderr(&o)
    );

    // Cut inside the file header, and not a recording at all.
    std::fs::write(&rec, &full[..9]).unwrap();
    let o = run(&["run", "--source", &src, "--model", model]);
    assert!(
        stderr(&o).contains("truncated at byte offset 0"),
        "{}",
        stderr(&o)
    );
    std::fs::write(&rec, b"this is a text file, not frames").unwrap();
    let o = run(&["run", "--source", &src, "--model", model]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("not an ssd-edge recording"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_directory_with_a_bad_image_reports_it_and_processes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    pattern(W, H).save(images.join("a.png")).unwrap();
    std::fs::write(images.join("b.png"), b"\x89PNG\r\n\x1a\n garbage").unwrap();
    pattern(600, 300).save(images.join("c.jpg")).unwrap();
    let o = run(&[
        "run",
        "--source",
        images.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (frames, summary) = parse_run(&o);
    assert_eq!(frames.len(), 2);
    assert_eq!(summary["corrupt"], 1);
    assert!(frames[0]["source"].as_str().unwrap().ends_with("a.png"));
    assert!(frames[1]["source"].as_str().unwrap().ends_with("c.jpg"));
    assert_pattern_found(&frames[0], W, H);
    assert_pattern_found(&frames[1], 600, 300);
    assert!(stderr(&o).contains("b.png"), "{}", stderr(&o));

    // One image file is a source too.
    let one = images.join("a.png");
    let o = run(&[
        "run",
        "--source",
        one.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ]);
    let (frames, _) = parse_run(&o);
    assert_eq!(frames.len(), 1);
}

#[test]
fn synthetic_runs_are_scored_against_the_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let o = run(&[
        "run",
        "--source",
        "synth:5",
        "--model",
        model.to_str().unwrap(),
        "--frames",
        "6",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (frames, summary) = parse_run(&o);
    assert_eq!(frames.len(), 6);
    let gt = &summary["ground_truth"]["detections"];
    // The tiny colour model's labels (red, green) are not synthetic classes: every detection
    // it makes is a false positive and every object is missed.
    assert_eq!(gt["true_positives"], 0, "{summary}");
    assert!(gt["false_negatives"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(gt["iou"], 0.5);
}

#[test]
fn bad_source_specs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    for (spec, msg) in [
        ("/no/such/file.png", "no such file or directory"),
        ("synth:x", "synth seed 'x' is not a number"),
        ("replay:/no/such.rec", "/no/such.rec: opening recording"),
    ] {
        let o = run(&["run", "--source", spec, "--model", model.to_str().unwrap()]);
        assert!(!o.status.success(), "{spec}");
        assert!(stderr(&o).contains(msg), "{spec}: {}", stderr(&o));
    }
}
