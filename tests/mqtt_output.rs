//! `ssd-edge run` with an `[mqtt]` table against a real Mosquitto: events, retained totals
//! equal to the store's, occupancy, stats, Home Assistant discovery, availability and the
//! last will; config errors.
#![cfg(feature = "mqtt")]

mod mqtt_support;

use mqtt_support::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn a_run_publishes_events_totals_occupancy_stats_and_discovery() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let sub = Subscriber::start(
        broker.port,
        "watcher-output",
        &["ssd-edge/#", "homeassistant/#"],
    );
    let cfg = config(dir.path(), broker.port, "");
    let s = Run::start(&cfg, 300).summary();
    let m = &s["mqtt"];
    eprintln!("summary mqtt: {m}");

    // every event the store counted arrived once, in order of seq
    let db = dir.path().join("counts.db");
    let store = store_totals(&db);
    let n: u64 = store.values().sum();
    assert!(n >= 3, "the synthetic street has events: {store:?}");
    let msgs = sub.messages();
    let (events, dups) = event_counts(&msgs);
    assert_eq!(events, store, "events received vs the store");
    assert_eq!(dups, 0);
    assert_eq!(m["published"], n);
    assert_eq!(m["acked"], n);
    assert_eq!(m["dropped"], 0);
    assert_eq!(m["reconnects"], 0);
    let first: serde_json::Value = serde_json::from_str(
        &msgs
            .iter()
            .find(|m| m.topic.ends_with("/events"))
            .unwrap()
            .payload,
    )
    .unwrap();
    for key in [
        "run", "seq", "kind", "place", "label", "track_id", "frame", "wall_ms",
    ] {
        assert!(first.get(key).is_some(), "{key} in {first}");
    }

    // a fresh subscriber gets the right totals at once
    assert_eq!(retained_totals(broker.port), store);
    let all = retained(broker.port, "ssd-edge/#");
    let base = format!("ssd-edge/{DEVICE}");
    assert_eq!(all[&format!("{base}/availability")], "offline");
    let occupancy: Vec<_> = all
        .iter()
        .filter(|(t, _)| t.starts_with(&format!("{base}/occupancy/left_kerb/")))
        .collect();
    assert!(!occupancy.is_empty(), "{all:?}");
    for (_, v) in &occupancy {
        v.parse::<u32>().unwrap();
    }
    assert!(sub.has(|m| m.topic == format!("{base}/availability") && m.payload == "online"));

    // stats: the pipeline's health
    let stats: Vec<serde_json::Value> = msgs
        .iter()
        .filter(|m| m.topic == format!("{base}/stats"))
        .map(|m| serde_json::from_str(&m.payload).unwrap())
        .collect();
    assert!(!stats.is_empty());
    let last = stats.last().unwrap();
    for key in [
        "fps",
        "inference_ms",
        "dropped_frames",
        "camera",
        "frames",
        "mqtt",
    ] {
        assert!(last.get(key).is_some(), "{key} in {last}");
    }
    assert!(stats.iter().any(|s| s["fps"].as_f64().unwrap() > 0.0));
    assert!(stats.iter().any(|s| s["camera"] == "streaming"));

    // Home Assistant discovery: one device, totals total_increasing, occupancy measurement
    let disc = retained(broker.port, "homeassistant/#");
    let configs: Vec<serde_json::Value> = disc
        .iter()
        .inspect(|(t, _)| assert!(t.ends_with("/config"), "{t}"))
        .map(|(_, p)| serde_json::from_str(p).unwrap())
        .collect();
    let total_cfgs: Vec<_> = configs
        .iter()
        .filter(|c| c["state_topic"].as_str().unwrap().contains("/totals/"))
        .collect();
    let retained_all_totals = all.keys().filter(|t| t.contains("/totals/")).count();
    assert_eq!(total_cfgs.len(), retained_all_totals);
    for c in &total_cfgs {
        assert_eq!(c["state_class"], "total_increasing", "{c}");
        assert!(all.contains_key(c["state_topic"].as_str().unwrap()), "{c}");
    }
    assert!(configs.iter().any(|c| c["state_class"] == "measurement"
        && c["state_topic"].as_str().unwrap().contains("/occupancy/")));
    let ids: std::collections::BTreeSet<_> = configs
        .iter()
        .map(|c| c["device"]["identifiers"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1, "one device per board: {ids:?}");
    let uniq: std::collections::BTreeSet<_> =
        configs.iter().map(|c| c["unique_id"].to_string()).collect();
    assert_eq!(uniq.len(), configs.len(), "unique ids");
    assert!(configs
        .iter()
        .all(|c| c["availability_topic"] == format!("{base}/availability")));
}

#[test]
fn discovery_can_be_switched_off() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let cfg = config(dir.path(), broker.port, "discovery = false");
    Run::start(&cfg, 20).summary();
    assert!(retained(broker.port, "homeassistant/#").is_empty());
    assert!(!retained(broker.port, "ssd-edge/#").is_empty());
}

#[test]
fn kill_9_leaves_the_last_will_offline_retained() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let sub = Subscriber::start(broker.port, "watcher-will", &["ssd-edge/+/availability"]);
    let cfg = config(dir.path(), broker.port, "keep_alive = 5");
    let mut run = Run::start(&cfg, 1_000_000);
    let topic = format!("ssd-edge/{DEVICE}/availability");
    wait_for("online", Duration::from_secs(20), || {
        sub.has(|m| m.topic == topic && m.payload == "online")
    });
    // SAFETY: kill(2) on our own child's pid (not yet waited for).
    unsafe { libc::kill(run.child.id() as i32, libc::SIGKILL) };
    run.child.wait().unwrap();
    wait_for("the last will", Duration::from_secs(15), || {
        sub.has(|m| m.topic == topic && m.payload == "offline")
    });
    assert_eq!(retained(broker.port, &topic)[&topic], "offline");
}

#[test]
fn bad_mqtt_configs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, key, needle) in [
        ("qos = 2", "", "unknown field `qos`"),
        ("tls = true", "mqtt.ca_file", "CA certificate"),
        (
            "tls = true\nca_file = \"missing-ca.pem\"",
            "mqtt.ca_file",
            "missing-ca.pem",
        ),
        ("keep_alive = 0", "mqtt.keep_alive", "outside"),
        ("password = \"x\"", "mqtt.password", "username"),
    ] {
        let cfg = config(dir.path(), 1883, extra);
        let o = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&cfg)
            .args(["--frames", "1"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{extra}: accepted");
        assert!(err.contains(key) && err.contains(needle), "{extra}: {err}");
    }
    // port is a key of [mqtt] already set by the helper: replace it
    let text = std::fs::read_to_string(config(dir.path(), 1883, ""))
        .unwrap()
        .replace("port = 1883", "port = 70000");
    let cfg = dir.path().join("port.toml");
    std::fs::write(&cfg, text).unwrap();
    let o = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("mqtt.port") && err.contains("70000"), "{err}");
}
