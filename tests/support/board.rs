//! A real `ssd-edge run` with an `[http]` listener, for the HTTP tests: the built-in synthetic
//! street (deploy/synth.toml's scene, line and zone) through the shipped float model into a
//! fresh database, the listener on a free loopback port (read from the binary's log), and a
//! plain-socket HTTP/1.1 client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "test-token-0123456789abcdef";

pub struct Board {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    /// Frame lines seen on stdout so far.
    pub frame_lines: Arc<AtomicU64>,
    /// Stderr so far.
    pub log: Arc<Mutex<String>>,
    pub summary: Arc<Mutex<Option<serde_json::Value>>>,
}

pub fn config(frames: u64, http: &str) -> String {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default-float.onnx");
    format!(
        r#"
[source]
uri = "synth:7"
frames = {frames}

[model]
path = "{}"

[[line]]
name = "middle"
a = [0.5, 1.0]
b = [0.5, 0.0]
anchor = "center"
extend = true

[[zone]]
name = "left_kerb"
points = [[0.0, 0.55], [0.35, 0.55], [0.35, 1.0], [0.0, 1.0]]
loiter_seconds = 4

[http]
{http}
"#,
        model.display()
    )
}

impl Board {
    /// Starts the run and waits for the listener's address in its log.
    pub fn start(config_text: &str) -> Board {
        Board::start_with(config_text, Command::new(env!("CARGO_BIN_EXE_ssd-edge")))
    }

    /// As [`Board::start`], with `cmd` (a program with its environment, e.g. the fake
    /// camera's) given `run --config edge.toml --db counts.db` and `extra` after them.
    pub fn start_with(config_text: &str, cmd: Command) -> Board {
        Board::start_args(config_text, cmd, &[])
    }

    pub fn start_args(config_text: &str, cmd: Command, extra: &[&str]) -> Board {
        Board::start_prepared(config_text, cmd, extra, |_| {})
    }

    /// As [`Board::start_args`], with `prepare` given the database path first (to fill it).
    pub fn start_prepared(
        config_text: &str,
        mut cmd: Command,
        extra: &[&str],
        prepare: impl FnOnce(&Path),
    ) -> Board {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("edge.toml");
        std::fs::write(&cfg, config_text).unwrap();
        let db = dir.path().join("counts.db");
        prepare(&db);
        let mut child = cmd
            .args(["run", "--config"])
            .arg(&cfg)
            .arg("--db")
            .arg(&db)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ssd-edge");
        let frame_lines = Arc::new(AtomicU64::new(0));
        let summary = Arc::new(Mutex::new(None));
        let (n, s) = (frame_lines.clone(), summary.clone());
        let stdout = child.stdout.take().unwrap();
        // Drained all the time: a full pipe would stall the frame loop.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<serde_json::Value>(&line) {
                    Ok(v) if v.get("summary").is_some() => *s.lock().unwrap() = Some(v),
                    _ => {
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let l = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(rest.trim_end_matches('/').to_string());
                }
                let mut l = l.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a.parse().expect("an address in the log"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "no 'listening on' line within 60 s:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        Board {
            child,
            addr,
            dir,
            db,
            frame_lines,
            log,
            summary,
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// GET with the test token as a Bearer header.
    pub fn get(&self, path: &str) -> Response {
        request(
            self.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: board\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"),
        )
        .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.log()))
    }

    pub fn status(&self) -> serde_json::Value {
        let r = self.get("/status");
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// Waits until the source has ended (and the store has its last commit).
    pub fn wait_ended(&self) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let s = self.status();
            if s["source"]["state"] == "ended" && s["store"]["pending"] == 0 {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "the run did not end within 120 s: {s}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM, then the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!("ssd-edge did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Threads of the process now (Linux).
    pub fn threads(&self) -> usize {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `raw` as is and reads the whole response (the request asks to close).
pub fn request(addr: SocketAddr, raw: &str) -> Result<Response, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(raw.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    parse_response(&buf)
}

pub fn parse_response(buf: &[u8]) -> Result<Response, String> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no response head in {} bytes", buf.len()))?;
    let head = std::str::from_utf8(&buf[..end]).map_err(|e| e.to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: buf[end + 4..].to_vec(),
    })
}

// The venv's Python, for prometheus_client.
include!("venv.rs");
