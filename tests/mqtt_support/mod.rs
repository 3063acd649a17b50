//! A real Mosquitto broker per test (loopback, a free port, persistence in a temp dir so
//! retained messages survive a restart), subscribers, and `ssd-edge run` with an `[mqtt]`
//! table pointing at it.
#![allow(dead_code)]

use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_ssd-edge");
pub const DEVICE: &str = "testcam";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn mosquitto_path() -> PathBuf {
    let dirs = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&dirs)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|d: PathBuf| d.join("mosquitto"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "mosquitto is not installed: `make setup` installs it (Debian packages \
                 mosquitto and mosquitto-clients)"
            )
        })
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `f` is true, polling; panics with `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub struct Broker {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// More listener settings (TLS).
    pub extra: String,
}

impl Broker {
    /// A broker on a free port, its config and persistence under `dir`.
    pub fn start(dir: &Path) -> Broker {
        Broker::start_on(dir, free_port())
    }

    pub fn start_on(dir: &Path, port: u16) -> Broker {
        Broker::start_with(dir, port, "")
    }

    pub fn start_with(dir: &Path, port: u16, extra: &str) -> Broker {
        let mut b = Broker {
            port,
            dir: dir.to_owned(),
            child: None,
            extra: extra.to_string(),
        };
        b.restart();
        b
    }

    /// Starts it (again, on the same port).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let conf = self.dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence true\n\
                 persistence_location {}/\nautosave_interval 1\nmax_queued_messages 100000\n\
                 log_dest file {}/mosquitto.log\n{}{}\n",
                self.port,
                self.dir.display(),
                self.dir.display(),
                // As root, Mosquitto would switch to the `mosquitto` user, which cannot read
                // the test's temporary folder.
                // SAFETY: geteuid(2) takes nothing and cannot fail.
                if unsafe { libc::geteuid() } == 0 {
                    "user root\n"
                } else {
                    ""
                },
                self.extra
            ),
        )
        .unwrap();
        let child = Command::new(mosquitto_path())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let port = self.port;
        wait_for("mosquitto to listen", Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }

    /// SIGTERM: Mosquitto saves its persistence file (retained messages, queued messages of
    /// persistent sessions) and exits.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid (not yet waited for).
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Clone, Debug)]
pub struct Message {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
}

/// A subscriber with a persistent session (QoS 1): the broker queues for it while it is
/// away, and keeps the queue across its own restart. It reconnects by itself.
pub struct Subscriber {
    pub got: Arc<Mutex<Vec<Message>>>,
    client: Client,
}

impl Subscriber {
    pub fn start(port: u16, id: &str, filters: &[&str]) -> Subscriber {
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
        opts.set_clean_session(false)
            .set_keep_alive(Duration::from_secs(5));
        let (client, mut conn) = Client::new(opts, 100);
        let got = Arc::new(Mutex::new(Vec::new()));
        let (sink, sub, filters) = (
            got.clone(),
            client.clone(),
            filters.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        );
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || loop {
            match conn.recv() {
                Err(_) => return,
                Ok(Ok(Event::Incoming(Incoming::ConnAck(_)))) => {
                    for f in &filters {
                        let _ = sub.try_subscribe(f.clone(), QoS::AtLeastOnce);
                    }
                }
                Ok(Ok(Event::Incoming(Incoming::SubAck(_)))) => {
                    let _ = ready_tx.send(());
                }
                Ok(Ok(Event::Incoming(Incoming::Publish(p)))) => {
                    sink.lock().unwrap().push(Message {
                        topic: p.topic.clone(),
                        payload: String::from_utf8_lossy(&p.payload).into_owned(),
                        retain: p.retain,
                    });
                }
                Ok(Ok(_)) => {}
                Ok(Err(_)) => std::thread::sleep(Duration::from_millis(100)),
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("subscribed");
        Subscriber { got, client }
    }

    pub fn messages(&self) -> Vec<Message> {
        self.got.lock().unwrap().clone()
    }

    pub fn has(&self, f: impl Fn(&Message) -> bool) -> bool {
        self.got.lock().unwrap().iter().any(f)
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.client.try_disconnect();
    }
}

/// What a fresh subscriber gets on `filter` right after subscribing: the retained
/// messages, by topic. A marker published after the subscription ends the wait (the broker
/// sends the retained messages first).
pub fn retained(port: u16, filter: &str) -> BTreeMap<String, String> {
    let id = format!("fresh-{}", free_port());
    let marker = format!("test-marker/{id}");
    let mut opts = MqttOptions::new(&id, "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut conn) = Client::new(opts, 100);
    client.subscribe(filter, QoS::AtLeastOnce).unwrap();
    client.subscribe(&marker, QoS::AtLeastOnce).unwrap();
    let mut out = BTreeMap::new();
    let t = Instant::now();
    let mut subacks = 0;
    for n in conn.iter() {
        assert!(t.elapsed() < Duration::from_secs(10), "no marker");
        match n {
            Ok(Event::Incoming(Incoming::SubAck(_))) => {
                subacks += 1;
                if subacks == 2 {
                    client
                        .publish(&marker, QoS::AtLeastOnce, false, "end")
                        .unwrap();
                }
            }
            Ok(Event::Incoming(Incoming::Publish(p))) => {
                if p.topic == marker {
                    break;
                }
                if p.retain {
                    out.insert(
                        p.topic.clone(),
                        String::from_utf8_lossy(&p.payload).into_owned(),
                    );
                }
            }
            Ok(_) => {}
            Err(e) => panic!("fresh subscriber: {e}"),
        }
    }
    let _ = client.disconnect();
    out
}

/// The synthetic street with a line and a zone, counted into `dir/counts.db`, published to
/// the broker on `port`; `extra` goes into the `[mqtt]` table.
pub fn config(dir: &Path, port: u16, extra: &str) -> PathBuf {
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
[mqtt]
host = "127.0.0.1"
port = {port}
device = "{DEVICE}"
stats_interval = 0.5
{linger}
{extra}
[[line]]
name = "middle"
a = [0.5, 1.0]
b = [0.5, 0.0]
anchor = "center"
extend = true
[[zone]]
name = "left_kerb"
points = [[0.0, 0.55], [0.35, 0.55], [0.35, 1.0], [0.0, 1.0]]
"#,
        model.display(),
        dir.join("counts.db").display(),
        linger = if extra.contains("linger") {
            ""
        } else {
            "linger = 2"
        },
    );
    let p = dir.join("edge.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// A running `ssd-edge run`; its stderr lines are collected (for the log lines a test
/// waits on).
pub struct Run {
    pub child: Child,
    pub stderr: Arc<Mutex<Vec<String>>>,
    stdout: Option<std::thread::JoinHandle<String>>,
}

impl Run {
    pub fn start(cfg: &Path, frames: u64) -> Run {
        let mut child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(cfg)
            .args(["--frames", &frames.to_string()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ssd-edge");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(l);
            }
        });
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut s);
            s
        });
        Run {
            child,
            stderr,
            stdout: Some(stdout),
        }
    }

    pub fn logged(&self, needle: &str) -> bool {
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Waits for the end; the summary line.
    pub fn summary(mut self) -> serde_json::Value {
        let status = self.child.wait().unwrap();
        let out = self.stdout.take().unwrap().join().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(status.success(), "ssd-edge failed:\n{}", self.log());
        out.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|v| v.get("summary").cloned())
            .unwrap_or_else(|| panic!("no summary:\n{}", self.log()))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sum of the store's totals (0 before the first commit).
pub fn store_sum(db: &Path) -> u64 {
    if !db.exists() {
        return 0;
    }
    ssd_edge::store::Store::open_read_only(db)
        .and_then(|s| s.totals())
        .map(|t| t.iter().map(|(_, n)| n).sum())
        .unwrap_or(0)
}

/// The store's running totals, as `totals/...` topic suffixes.
pub fn store_totals(db: &Path) -> BTreeMap<String, u64> {
    let store = ssd_edge::store::Store::open_read_only(db).unwrap();
    store
        .totals()
        .unwrap()
        .into_iter()
        .map(|(k, n)| {
            let mut t = format!("{}/{}/{}", k.place, k.kind.as_str(), k.label);
            if let Some(d) = k.direction {
                t = format!("{t}/{}", d.as_str());
            }
            (t, n)
        })
        .collect()
}

/// Event counts by the same key, from event messages (duplicates by (run, seq) removed).
pub fn event_counts(msgs: &[Message]) -> (BTreeMap<String, u64>, usize) {
    let base = format!("ssd-edge/{DEVICE}/events");
    let mut seen = std::collections::BTreeSet::new();
    let mut counts = BTreeMap::new();
    let mut dups = 0;
    for m in msgs.iter().filter(|m| m.topic == base) {
        let e: serde_json::Value = serde_json::from_str(&m.payload).unwrap();
        if !seen.insert((e["run"].as_i64().unwrap(), e["seq"].as_u64().unwrap())) {
            dups += 1;
            continue;
        }
        let mut t = format!(
            "{}/{}/{}",
            e["place"].as_str().unwrap(),
            e["kind"].as_str().unwrap(),
            e["label"].as_str().unwrap()
        );
        if let Some(d) = e["direction"].as_str() {
            t = format!("{t}/{d}");
        }
        *counts.entry(t).or_insert(0) += 1;
    }
    (counts, dups)
}

/// Retained totals by the store's key form, zeros left out (the store has no row for them).
pub fn retained_totals(port: u16) -> BTreeMap<String, u64> {
    let prefix = format!("ssd-edge/{DEVICE}/totals/");
    retained(port, &format!("{prefix}#"))
        .into_iter()
        .map(|(t, p)| (t[prefix.len()..].to_string(), p.parse::<u64>().unwrap()))
        .filter(|(_, n)| *n > 0)
        .collect()
}
