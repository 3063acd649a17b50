//! Video files, RTSP and HTTP MJPEG streams through the ffmpeg child process, against real
//! parts on loopback: videos made by ffmpeg (and OpenCV's vtest.avi), GStreamer's RTSP server
//! (tests/support/rtsp_server.py) killed and restarted under a running board, and an HTTP
//! MJPEG server in a thread here. Needs Debian's ffmpeg, python3-gi and the GStreamer
//! packages of the Makefile's APT_PACKAGES.

#[path = "support/alloc.rs"]
mod alloc;
#[path = "support/board.rs"]
mod board;
#[path = "support/camera_fake.rs"]
mod camera;
mod support;

use board::{Board, TOKEN};
use camera::{parse_run, pattern, ssd_edge_cmd, stderr, tiny_model};
use ssd_edge::source::{self, FrameSource, SourceError, SourceOptions, SourceSpec};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "s3cret-Pa55";
/// Generous: two cores shared by several builds and test binaries.
const WAIT: Duration = Duration::from_secs(60);

fn ffmpeg(args: &[&str]) {
    let o = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg is installed (apt install ffmpeg)");
    assert!(
        o.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `frames` frames of ffmpeg's test pattern, H.264 in an MP4.
fn test_video(dir: &Path, name: &str, frames: u32, size: &str) -> PathBuf {
    let path = dir.join(name);
    let src = format!("testsrc2=size={size}:rate=10");
    let n = frames.to_string();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &src,
        "-frames:v",
        &n,
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        path.to_str().unwrap(),
    ]);
    path
}

fn open(spec: &str, opts: &SourceOptions) -> Result<Box<dyn FrameSource>, SourceError> {
    source::open(&spec.parse::<SourceSpec>()?, opts)
}

/// Reads until the end, at most `limit` frames; (frames, width, height).
fn drain(src: &mut dyn FrameSource, limit: usize) -> (usize, u32, u32) {
    let (mut n, mut w, mut h) = (0, 0, 0);
    while n < limit {
        match src.next_frame(Duration::from_secs(30)) {
            Ok(Some(f)) => {
                assert_eq!(f.data.len(), (f.width * f.height * 3) as usize);
                (w, h) = (f.width, f.height);
                n += 1;
            }
            Ok(None) => break,
            Err(e) => panic!("frame {n}: {e}"),
        }
    }
    (n, w, h)
}

#[test]
fn video_files_give_every_frame_then_end() {
    let dir = tempfile::tempdir().unwrap();
    let mp4 = test_video(dir.path(), "clip.mp4", 12, "320x240");
    for spec in [format!("file:{}", mp4.display()), mp4.display().to_string()] {
        let mut src = open(&spec, &SourceOptions::default()).unwrap();
        assert!(src.describe().contains("320x240"), "{}", src.describe());
        assert_eq!(drain(&mut *src, 1000), (12, 320, 240), "{spec}");
        // Finite: the end stays the end.
        assert!(src.next_frame(Duration::from_secs(1)).unwrap().is_none());
        assert_eq!(src.stats().dropped, 0);
    }
    // Frame times are the file's (10 fps), whatever the decode speed.
    let mut src = open(
        &format!("file:{}", mp4.display()),
        &SourceOptions::default(),
    )
    .unwrap();
    let mut ts = Vec::new();
    while let Some(f) = src.next_frame(Duration::from_secs(30)).unwrap() {
        ts.push(f.timestamp_us);
    }
    assert_eq!(&ts[..3], &[0, 100_000, 200_000]);

    // Real time: paced at 10 fps by ffmpeg (-re), so 12 frames take about a second.
    let mut opts = SourceOptions::default();
    opts.stream.realtime = true;
    let t = Instant::now();
    let mut src = open(&format!("file:{}", mp4.display()), &opts).unwrap();
    let (n, _, _) = drain(&mut *src, 1000);
    assert!(n >= 1 && n as u64 + src.stats().dropped == 12, "{n}");
    assert!(
        t.elapsed() >= Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn run_counts_on_a_video_file() {
    let dir = tempfile::tempdir().unwrap();
    // The tiny model's pattern as a 6-frame MJPEG AVI: both cells found in every frame.
    let png = dir.path().join("p.png");
    pattern(300, 300).save(&png).unwrap();
    let avi = dir.path().join("pattern.avi");
    ffmpeg(&[
        "-loop",
        "1",
        "-i",
        png.to_str().unwrap(),
        "-frames:v",
        "6",
        "-c:v",
        "mjpeg",
        "-q:v",
        "2",
        avi.to_str().unwrap(),
    ]);
    let model = tiny_model(dir.path());
    let o = ssd_edge_cmd(&[
        "run",
        "--source",
        avi.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (frames, summary) = parse_run(&o);
    assert_eq!(frames.len(), 6);
    assert_eq!(summary["frames"], 6);
    frames
        .iter()
        .for_each(|f| camera::assert_pattern_found(f, 300, 300));
}

#[test]
fn the_real_vtest_avi_plays_to_its_end() {
    let path = std::env::var("SSD_EDGE_VTEST").unwrap_or_else(|_| {
        format!(
            "{}/.cache/ssd-edge/real/opencv-doc/usr/share/doc/opencv-doc/examples/data/vtest.avi",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    if !Path::new(&path).exists() {
        if std::env::var("SSD_EDGE_SKIP_REAL").as_deref() == Ok("1") {
            eprintln!("skipped: {path} is missing and SSD_EDGE_SKIP_REAL=1");
            return;
        }
        panic!(
            "{path} is missing: OpenCV's vtest.avi (Debian opencv-doc; `make` fetches it), or \
             set SSD_EDGE_VTEST=PATH, or SSD_EDGE_SKIP_REAL=1 to skip this test"
        );
    }
    let mut src = open(&format!("file:{path}"), &SourceOptions::default()).unwrap();
    let (n, w, h) = drain(&mut *src, 10_000);
    assert_eq!((w, h), (768, 576));
    assert!(n > 700, "{n} frames");
}

#[test]
fn bad_files_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let model = model.to_str().unwrap();
    let run = |source: &str, env: Option<(&str, &str)>| {
        let mut cmd = ssd_edge_cmd(&["run", "--source", source, "--model", model]);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let o = cmd.output().unwrap();
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{err}");
        (o.status.success(), err)
    };
    let junk = dir.path().join("junk.mp4");
    std::fs::write(
        &junk,
        (0..20_000u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a video\n").unwrap();
    for (path, want) in [
        (junk.display().to_string(), "Invalid data"),
        (format!("file:{}", text.display()), "Invalid data"),
        (
            format!("file:{}", dir.path().join("missing.mkv").display()),
            "No such file",
        ),
    ] {
        let (ok, err) = run(&path, None);
        assert!(!ok, "{path}: {err}");
        let name = path.trim_start_matches("file:");
        assert!(err.contains(name) && err.contains(want), "{path}: {err}");
    }
    // A truncated video: the frames before the cut, or a clear error; never a hang.
    let mp4 = test_video(dir.path(), "cut.mkv", 30, "320x240");
    let bytes = std::fs::read(&mp4).unwrap();
    let cut = dir.path().join("cut-half.mkv");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (_, err) = run(cut.to_str().unwrap(), None);
    assert!(!err.contains("panicked"), "{err}");
    // No ffmpeg: said so, with its name.
    let (ok, err) = run(
        mp4.to_str().unwrap(),
        Some(("SSD_EDGE_FFMPEG", "/nonexistent/ffmpeg")),
    );
    assert!(!ok);
    assert!(
        err.contains("/nonexistent/ffmpeg") && err.contains("not found"),
        "{err}"
    );
}

// ---------------------------------------------------------------- RTSP (gst-rtsp-server)

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// tests/support/rtsp_server.py on `port`, killed on drop.
struct Rtsp {
    child: Child,
    port: u16,
}

impl Rtsp {
    fn start(port: u16, extra: &[&str]) -> Rtsp {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/rtsp_server.py");
        // The system python: python3-gi is a Debian package, not in the venv.
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(port.to_string())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("/usr/bin/python3");
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        // READY or EOF (a failed start): bounded by the script itself.
        let _ = out.read_line(&mut line);
        if line.trim() != "READY" {
            let _ = child.kill();
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!(
                "the RTSP server did not start (apt install python3-gi gir1.2-gst-rtsp-server-1.0 \
                 gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly): {err}"
            );
        }
        Rtsp { child, port }
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("rtsp://127.0.0.1:{}/test{path_and_query}", self.port)
    }
}

impl Drop for Rtsp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn rtsp_over_tcp_and_udp() {
    let server = Rtsp::start(free_port(), &[]);
    for (url, how) in [
        (server.url(""), "rtsp over tcp"),
        (server.url("?transport=udp"), "rtsp over udp"),
    ] {
        let mut src = open(&url, &SourceOptions::default()).unwrap();
        assert!(src.describe().contains(how), "{}", src.describe());
        assert_eq!(drain(&mut *src, 10), (10, 320, 240), "{url}");
    }
    // The transport from the options (the config's `transport`), when the URL says none.
    let mut opts = SourceOptions::default();
    opts.stream.transport = Some(source::Transport::Udp);
    let mut src = open(&server.url(""), &opts).unwrap();
    assert!(src.describe().contains("rtsp over udp"));
    assert_eq!(drain(&mut *src, 3).0, 3);
}

#[test]
fn rtsp_passwords_never_show() {
    let server = Rtsp::start(free_port(), &["--user", "admin", "--password", PASSWORD]);
    let port = server.port;
    // In the URL.
    let url = format!("rtsp://admin:{PASSWORD}@127.0.0.1:{port}/test");
    let mut src = open(&url, &SourceOptions::default()).unwrap();
    assert_eq!(drain(&mut *src, 3).0, 3);
    assert!(!src.describe().contains(PASSWORD), "{}", src.describe());
    assert!(src.describe().contains("admin:***@"), "{}", src.describe());
    drop(src);
    // A wrong one: the error shows neither.
    let e = open(
        &format!("rtsp://admin:wrong-{PASSWORD}@127.0.0.1:{port}/test"),
        &SourceOptions::default(),
    )
    .err()
    .expect("refused");
    let msg = format!("{e} {e:?}");
    assert!(msg.contains("401") && !msg.contains(PASSWORD), "{msg}");
    // In the config, through a running board: log, /status and /metrics.
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let config = format!(
        "[source]\nusername = \"admin\"\npassword = \"{PASSWORD}\"\n\
         [http]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n"
    );
    let src = format!("rtsp://127.0.0.1:{port}/test");
    let board = Board::start_args(
        &config,
        Command::new(env!("CARGO_BIN_EXE_ssd-edge")),
        &["--source", &src, "--model", model.to_str().unwrap()],
    );
    wait_state(&board, "streaming");
    let shown = format!(
        "{}{}{}",
        board.status(),
        board.get("/metrics").text(),
        board.get("/").text()
    );
    let log = board.log();
    assert!(board.stop().success());
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(!log.contains(PASSWORD), "{log}");
    assert!(
        log.contains("admin:***@") || !log.contains("admin:"),
        "{log}"
    );
}

/// Polls /status until the source is in `state`; panics with the log after [`WAIT`].
fn wait_state(board: &Board, state: &str) -> serde_json::Value {
    let t = Instant::now();
    loop {
        let s = board.status();
        if s["source"]["state"] == state {
            return s;
        }
        assert!(t.elapsed() < WAIT, "never {state}: {s}\n{}", board.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_restarted_rtsp_server_is_reconnected() {
    let port = free_port();
    let server = Rtsp::start(port, &[]);
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let config = format!("[http]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n");
    let src = server.url("");
    let board = Board::start_args(
        &config,
        Command::new(env!("CARGO_BIN_EXE_ssd-edge")),
        &[
            "--source",
            &src,
            "--model",
            model.to_str().unwrap(),
            "--timeout",
            "1",
        ],
    );
    wait_state(&board, "streaming");
    drop(server);
    wait_state(&board, "reconnecting");
    let metrics = board.get("/metrics").text();
    assert!(
        metrics.contains("ssd_edge_source_state{state=\"reconnecting\"} 1\n"),
        "{metrics}"
    );
    let _server = Rtsp::start(port, &[]);
    let s = wait_state(&board, "streaming");
    let metrics = board.get("/metrics").text();
    assert!(
        metrics.contains("ssd_edge_source_state{state=\"streaming\"} 1\n"),
        "{metrics}"
    );
    let reconnects: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ssd_edge_reconnects_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no reconnect counter: {metrics}"));
    assert!(reconnects >= 1, "{metrics}");
    let log = board.log();
    assert!(board.stop().success(), "{s}\n{log}");
    assert!(log.contains("reconnected after"), "{log}");
}

#[test]
fn a_garbage_rtsp_stream_is_a_bounded_error() {
    let server = Rtsp::start(free_port(), &["--garbage"]);
    let mut opts = SourceOptions::default();
    opts.stream.open_timeout = Some(Duration::from_secs(5));
    let t = Instant::now();
    let e = open(&server.url(""), &opts).err().expect("no video");
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    let msg = e.to_string();
    assert!(msg.starts_with(&server.url("")), "{msg}");
    assert!(
        e.is_disconnect(),
        "a stream error is worth a reconnect: {msg}"
    );
    // Nothing listening: refused, at once.
    let url = format!("rtsp://127.0.0.1:{}/test", free_port());
    let e = open(&url, &opts).err().expect("refused");
    assert!(e.to_string().contains("Connection refused"), "{e}");
}

// ---------------------------------------------------------------- HTTP MJPEG

/// A multipart/x-mixed-replace server of the tiny model's pattern (or of garbage) at `fps`.
struct Mjpeg {
    port: u16,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
}

impl Mjpeg {
    fn start(fps: u32, garbage: bool) -> Mjpeg {
        Mjpeg::start_with(fps, garbage, None)
    }

    /// With `switch`: after that many frames (over all connections) the pattern is served
    /// at another size.
    fn start_with(fps: u32, garbage: bool, switch: Option<(u64, (u32, u32))>) -> Mjpeg {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let jpeg_of = |(w, h)| {
            let mut jpeg = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
                .encode_image(&pattern(w, h))
                .unwrap();
            jpeg
        };
        let mut jpeg = jpeg_of((300, 300));
        let second = switch.map(|(n, size)| (n, jpeg_of(size)));
        if garbage {
            jpeg = (0..jpeg.len()).map(|i| (i * 31 % 256) as u8).collect();
        }
        let (st, n) = (stop.clone(), served.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (st, n, jpeg, second) = (st.clone(), n.clone(), jpeg.clone(), second.clone());
                std::thread::spawn(move || serve(conn, &jpeg, second, fps, &st, &n));
            }
        });
        Mjpeg { port, stop, served }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/video.mjpeg", self.port)
    }
}

impl Drop for Mjpeg {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    mut conn: TcpStream,
    first: &[u8],
    second: Option<(u64, Vec<u8>)>,
    fps: u32,
    stop: &AtomicBool,
    served: &AtomicU64,
) {
    let mut req = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    while req.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
        line.clear();
    }
    let head = "HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n";
    if conn.write_all(head.as_bytes()).is_err() {
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        let jpeg = match &second {
            Some((n, j)) if served.load(Ordering::Relaxed) >= *n => j.as_slice(),
            _ => first,
        };
        let part = format!(
            "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
            jpeg.len()
        );
        let ok = conn.write_all(part.as_bytes()).is_ok()
            && conn.write_all(jpeg).is_ok()
            && conn.write_all(b"\r\n").is_ok();
        if !ok {
            return;
        }
        served.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(1000 / fps as u64));
    }
}

#[test]
fn http_mjpeg_frames_arrive_newest_first_without_allocating() {
    let server = Mjpeg::start(50, false);
    let mut src = open(&server.url(), &SourceOptions::default()).unwrap();
    let f = src.next_frame(WAIT).unwrap().unwrap();
    assert_eq!((f.width, f.height), (300, 300));
    // The red middle cell and the green top-right cell (JPEG: near, not exact).
    let px = |x: usize, y: usize| {
        let i = (y * 300 + x) * 3;
        [f.data[i], f.data[i + 1], f.data[i + 2]]
    };
    let (red, green) = (px(150, 150), px(250, 50));
    assert!(red[0] > 200 && red[1] < 50, "{red:?}");
    assert!(green[1] > 190 && green[0] < 50, "{green:?}");
    // Slower than the camera: only the newest frame is kept, the rest counted as dropped,
    // and the caller's side of the ring does not allocate.
    for _ in 0..3 {
        src.next_frame(WAIT).unwrap().unwrap();
    }
    let mut allocs = 0;
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(200));
        allocs += alloc::count_allocations(|| {
            src.next_frame(WAIT).unwrap().unwrap();
        });
    }
    assert_eq!(allocs, 0);
    let dropped = src.stats().dropped;
    assert!(
        dropped >= 5,
        "{dropped} dropped of {}",
        server.served.load(Ordering::Relaxed)
    );
}

#[test]
fn http_garbage_and_lost_streams_are_errors_not_hangs() {
    let server = Mjpeg::start(20, true);
    let mut opts = SourceOptions::default();
    opts.stream.open_timeout = Some(Duration::from_secs(10));
    let t = Instant::now();
    match open(&server.url(), &opts) {
        Err(e) => assert!(e.to_string().starts_with(&server.url()), "{e}"),
        Ok(mut src) => {
            // ffmpeg may describe the stream before its first frame fails: then the frames
            // stall or the stream is lost, both reported.
            let e = src
                .next_frame(Duration::from_secs(5))
                .expect_err("no frame");
            assert!(e.is_timeout() || e.is_disconnect(), "{e}");
        }
    }
    assert!(t.elapsed() < Duration::from_secs(40));

    // A stream that stops: lost (reconnect), and back when the server is.
    let server = Mjpeg::start(20, false);
    let mut src = open(&server.url(), &SourceOptions::default()).unwrap();
    src.next_frame(WAIT).unwrap().unwrap();
    let url = server.url();
    drop(server);
    let t = Instant::now();
    let e = loop {
        match src.next_frame(Duration::from_secs(2)) {
            Ok(_) => {}
            Err(e) if e.is_disconnect() || e.is_timeout() => break e,
            Err(e) => panic!("{e}"),
        }
        assert!(t.elapsed() < WAIT, "frames go on after the server stopped");
    };
    assert!(e.to_string().starts_with(&url), "{e}");
}

#[test]
fn a_resolution_change_is_a_reconnect_with_the_new_size() {
    let server = Mjpeg::start_with(20, false, Some((15, (200, 150))));
    let mut src = open(&server.url(), &SourceOptions::default()).unwrap();
    let f = src.next_frame(WAIT).unwrap().unwrap();
    assert_eq!((f.width, f.height), (300, 300));
    let t = Instant::now();
    let e = loop {
        match src.next_frame(Duration::from_secs(5)) {
            Ok(Some(f)) => assert_eq!((f.width, f.height), (300, 300)),
            Ok(None) => panic!("a stream does not end"),
            Err(e) => break e,
        }
        assert!(t.elapsed() < WAIT, "the size change was never noticed");
    };
    assert!(e.is_disconnect(), "{e}");
    assert!(e.to_string().contains("to 200x150"), "{e}");
    src.reconnect().unwrap();
    let f = src.next_frame(WAIT).unwrap().unwrap();
    assert_eq!((f.width, f.height), (200, 150));
    assert_eq!(src.stats().reconnects, 1);
}
