//! `ssd-edge track` end to end: the real binary on JSON lines of detections.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn ssd_edge(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssd-edge"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ssd-edge");
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn lines(o: &Output) -> Vec<serde_json::Value> {
    assert!(o.status.success(), "failed: {}", stderr(o));
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn assert_fails_with(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
}

/// Two people walking apart for `frames` frames, as `ssd-edge run` prints them, with its
/// extra fields and the closing summary line.
fn walk(frames: u32) -> String {
    let mut s = String::new();
    for f in 0..frames {
        let (a, b) = (10.0 + 3.0 * f as f32, 250.0 - 3.0 * f as f32);
        s += &format!(
            "{{\"frame\":{f},\"timestamp_us\":{},\"width\":300,\"height\":300,\"detections\":[\
             {{\"class_id\":1,\"label\":\"person\",\"score\":0.9,\"box\":[{a},20,{},100]}},\
             {{\"class_id\":1,\"label\":\"person\",\"score\":0.8,\"box\":[{b},150,{},230]}}]}}\n",
            f * 33_000,
            a + 30.0,
            b + 30.0
        );
    }
    s + "{\"summary\":{\"frames\":3}}\n"
}

#[test]
fn tracks_stdin_with_stable_ids() {
    let out = lines(&ssd_edge(&["track"], Some(&walk(20))));
    assert_eq!(out.len(), 20, "one line per frame, none for the summary");
    assert_eq!(out[0]["frame"], 0);
    assert_eq!(
        out[0]["tracks"].as_array().unwrap().len(),
        0,
        "confirmed after two hits"
    );
    for (f, line) in out.iter().enumerate().skip(1) {
        assert_eq!(line["frame"], f);
        let tracks = line["tracks"].as_array().unwrap();
        let ids: Vec<u64> = tracks.iter().map(|t| t["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, vec![1, 2], "frame {f}");
        let one = &tracks[0];
        assert_eq!(one["label"], "person");
        assert_eq!(one["class_id"], 1);
        assert_eq!(one["lost_frames"], 0);
        assert_eq!(one["score"], 0.9);
        let x0 = one["box"][0].as_f64().unwrap();
        assert!(
            (x0 - (10.0 + 3.0 * f as f64)).abs() < 2.0,
            "frame {f}: {one}"
        );
    }
}

#[test]
fn reads_a_file_and_a_tracker_config() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("dets.jsonl");
    std::fs::write(&input, walk(5)).unwrap();
    let cfg = dir.path().join("t.toml");
    std::fs::write(&cfg, "[tracker]\nmin_hits = 1\nassignment = \"greedy\"\n").unwrap();
    let out = lines(&ssd_edge(
        &["track", "--input", s(&input), "--tracker-config", s(&cfg)],
        None,
    ));
    assert_eq!(out.len(), 5);
    assert_eq!(
        out[0]["tracks"].as_array().unwrap().len(),
        2,
        "min_hits = 1 confirms at once"
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn lost_tracks_coast_and_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("t.toml");
    std::fs::write(&cfg, "[tracker]\nlost_buffer = 2\n").unwrap();
    let mut text = walk(4);
    for f in 4..8 {
        text += &format!("{{\"frame\":{f},\"detections\":[]}}\n");
    }
    let out = lines(&ssd_edge(
        &["track", "--tracker-config", s(&cfg)],
        Some(&text),
    ));
    assert_eq!(out[4]["tracks"][0]["lost_frames"], 1);
    assert_eq!(out[5]["tracks"][0]["lost_frames"], 2);
    assert_eq!(out[6]["tracks"].as_array().unwrap().len(), 0);
    assert_eq!(out[6]["removed"], serde_json::json!([1, 2]));
    assert!(out[7].get("removed").is_none());
}

#[test]
fn malformed_input_names_the_line() {
    let mut text = walk(3);
    text +=
        "{\"frame\":3,\"detections\":[{\"class_id\":1,\"score\":\"high\",\"box\":[0,0,1,1]}]}\n";
    assert_fails_with(&ssd_edge(&["track"], Some(&text)), &["stdin", "line 5"]);
    assert_fails_with(&ssd_edge(&["track"], Some("{\"frame\":0,\n")), &["line 1"]);
    let o = ssd_edge(&["track", "--input", "/nonexistent/dets.jsonl"], None);
    assert_fails_with(&o, &["/nonexistent/dets.jsonl"]);
}

#[test]
fn out_of_range_numbers_do_not_panic() {
    let text =
        "{\"frame\":0,\"detections\":[{\"class_id\":1,\"score\":0.9,\"box\":[1e39,0,-1e39,5]},\
                {\"class_id\":1,\"score\":0.9,\"box\":[5,5,4,4]}]}\n";
    let out = lines(&ssd_edge(&["track"], Some(text)));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["tracks"].as_array().unwrap().len(), 0);
}

#[test]
fn bad_tracker_configs_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    for (text, key) in [
        ("[tracker]\nlost_bufer = 3\n", "lost_bufer"),
        ("[tracker]\nlow_threshold = 0.9\n", "tracker.low_threshold"),
        ("[tracker]\ncapacity = -1\n", "capacity"),
        ("[tracker]\nassignment = \"best\"\n", "best"),
        ("[trackr]\n", "trackr"),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let o = ssd_edge(&["track", "--tracker-config", s(&cfg)], Some(""));
        assert_fails_with(&o, &["bad.toml", key]);
    }
    let o = ssd_edge(
        &["track", "--tracker-config", "/nonexistent/t.toml"],
        Some(""),
    );
    assert_fails_with(&o, &["/nonexistent/t.toml"]);
}

/// `--config` with a line: the counter of `ssd-edge run` on the detection file. The walk's two
/// people cross x = 150 in opposite directions: one `in`, one `out`.
#[test]
fn a_config_with_a_line_counts_the_tracks() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("edge.toml");
    std::fs::write(
        &cfg,
        "[tracker]\nmin_hits = 2\n[[line]]\nname = \"door\"\na = [0.5, 1.0]\nb = [0.5, 0.0]\n\
         anchor = \"center\"\n",
    )
    .unwrap();
    let out = lines(&ssd_edge(&["track", "--config", s(&cfg)], Some(&walk(80))));
    assert_eq!(out.len(), 81, "80 frames and the summary");
    let events: Vec<&serde_json::Value> = out[..80]
        .iter()
        .flat_map(|l| l["events"].as_array().unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    for e in &events {
        assert_eq!(e["kind"], "crossing");
        assert_eq!(e["place"], "door");
        assert_eq!(e["label"], "person");
    }
    // frames are 33 ms apart in the input
    assert_eq!(
        events[0]["time"]["mono_ms"].as_u64().unwrap(),
        events[0]["frame"].as_u64().unwrap() * 33
    );
    let totals = &out[80]["summary"]["totals"]["door"]["crossing"]["person"];
    assert_eq!(totals["in"], 1, "{}", out[80]);
    assert_eq!(totals["out"], 1, "{}", out[80]);
}

#[test]
fn counting_needs_matching_labels_and_a_frame_size() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("edge.toml");
    std::fs::write(
        &cfg,
        "[[line]]\nname = \"door\"\na = [0.5, 1.0]\nb = [0.5, 0.0]\nclasses = [\"person\"]\n",
    )
    .unwrap();
    // the input calls class 1 "person"; these labels call it "cat"
    let any = dir.path().join("any.toml");
    std::fs::write(
        &any,
        "[[line]]\nname = \"door\"\na = [0.5, 1.0]\nb = [0.5, 0.0]\n",
    )
    .unwrap();
    let o = ssd_edge(
        &["track", "--config", s(&any), "--labels", "cat,dog"],
        Some(&walk(3)),
    );
    assert_fails_with(&o, &["class id 1", "person", "--labels"]);
    // a class filter naming a label the table lacks is the config's error
    let o = ssd_edge(&["track", "--config", s(&cfg), "--labels", "car"], Some(""));
    assert_fails_with(&o, &["edge.toml", "person"]);
    // no width/height in the input and no --size
    let bare = "{\"frame\":0,\"detections\":[]}\n";
    let o = ssd_edge(&["track", "--config", s(&cfg)], Some(bare));
    assert_fails_with(&o, &["--size"]);
    let out = lines(&ssd_edge(
        &["track", "--config", s(&cfg), "--size", "300x300"],
        Some(bare),
    ));
    assert_eq!(out.len(), 2);
    // --config and --tracker-config are one or the other
    let o = ssd_edge(
        &["track", "--config", s(&cfg), "--tracker-config", s(&cfg)],
        Some(""),
    );
    assert!(!o.status.success());
}
