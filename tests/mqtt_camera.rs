//! The camera's state in the stats topic: a fake V4L2 camera unplugged mid-stream for 1.5 s
//! shows as `reconnecting` (repeated with fps 0 while no frame comes), then `streaming`
//! again, then `ended`.
#![cfg(feature = "mqtt")]

#[path = "support/camera_fake.rs"]
mod camera;
mod mqtt_support;
mod support;

use camera::*;
use mqtt_support::{wait_for, Broker, Subscriber};
use std::time::Duration;

#[test]
fn a_lost_camera_shows_in_the_stats() {
    let cam = FakeCam::new(&["MJPG"], (W, H)).set("FAKECAM_UNPLUG", "4:1500");
    let model = tiny_model(cam.dir.path());
    let bdir = tempfile::tempdir().unwrap();
    let broker = Broker::start(bdir.path());
    let sub = Subscriber::start(broker.port, "watcher-camera", &["ssd-edge/+/stats"]);
    let cfg = cam.dir.path().join("edge.toml");
    std::fs::write(
        &cfg,
        format!(
            "[mqtt]\nhost = \"127.0.0.1\"\nport = {}\ndevice = \"cam\"\nstats_interval = 0.2\n\
             linger = 1\n",
            broker.port
        ),
    )
    .unwrap();
    let (cfg, src, model) = (
        cfg.display().to_string(),
        cam.source(),
        model.display().to_string(),
    );
    let o = cam.run(&[
        "run", "--config", &cfg, "--source", &src, "--model", &model, "--frames", "10",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stats = || -> Vec<serde_json::Value> {
        sub.messages()
            .iter()
            .map(|m| serde_json::from_str(&m.payload).unwrap())
            .collect()
    };
    wait_for("the last stats", Duration::from_secs(10), || {
        stats().iter().any(|s| s["camera"] == "ended")
    });
    let stats = stats();
    let states: Vec<&str> = stats
        .iter()
        .map(|s| s["camera"].as_str().unwrap())
        .collect();
    eprintln!("camera states: {states:?}");
    let lost = states
        .iter()
        .position(|s| *s == "reconnecting")
        .expect("reconnecting");
    assert!(states[lost..].contains(&"streaming"), "{states:?}");
    assert!(
        stats
            .iter()
            .any(|s| s["camera"] == "reconnecting" && s["fps"].as_f64() == Some(0.0)),
        "{stats:?}"
    );
    let last = stats.iter().rev().find(|s| s["camera"] == "ended").unwrap();
    assert_eq!(last["camera_reconnects"], 1, "{last}");
}
