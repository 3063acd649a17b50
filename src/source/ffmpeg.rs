//! Video files, RTSP cameras and HTTP (MJPEG) streams, decoded by the system's `ffmpeg` in a
//! supervised child process that writes rgb24 frames on a pipe (why a child process and not a
//! Rust decoder: docs/sources.md).
//!
//! The frame size is read from ffmpeg's own description of its output stream (its stderr),
//! so there is one connection to the camera, not a probe and then a stream. ffmpeg scales
//! every later frame to that first size (its `-autoscale` default), so the pipe always
//! carries whole frames. A stream whose decoded size changes (seen in ffmpeg's verbose
//! filter-graph lines) is reconnected to get the new size; a file goes on scaled, with a
//! warning.
//!
//! A reader thread moves frames from the pipe into three buffers allocated at start: one
//! being written, one ready, one held by the caller. A live source (a URL, or a file with
//! `realtime`) replaces an unread ready frame with the newer one and counts the old one as
//! dropped; a file waits until the caller took it, so every frame is processed.

use super::url::{scrub, secret_forms, Secret, StreamUrl, Transport};
use super::{FrameSource, SourceError, SourceStats};
use crate::frame::{Frame, PixelFormat};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest wait for ffmpeg to connect and describe its first frame. An RTSP camera needs a
/// DESCRIBE/SETUP/PLAY round and a key frame; a board's ffmpeg may be slow to start.
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);
/// ffmpeg's own socket timeout (microseconds): a dead camera makes ffmpeg exit, not hang.
const SOCKET_TIMEOUT_US: &str = "10000000";
/// Warnings and errors of ffmpeg kept for the error message.
const TAIL_LINES: usize = 6;
const BUFFERS: usize = 3;

/// What to decode.
#[derive(Clone, Debug)]
pub enum Input {
    File(PathBuf),
    Url(StreamUrl),
}

/// How to decode it.
#[derive(Clone, Debug, Default)]
pub struct StreamOptions {
    /// Files: pace frames at the file's frame rate and keep only the newest, like a camera.
    pub realtime: bool,
    /// RTSP transport when the URL has no `?transport=` [default: tcp].
    pub transport: Option<Transport>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Longest wait for the first frame's description [default: 20 s].
    pub open_timeout: Option<Duration>,
}

pub struct FfmpegSource {
    input: Input,
    /// The input as ffmpeg gets it, credentials included: never printed.
    target: String,
    /// The input as anyone else sees it.
    name: String,
    secrets: Vec<String>,
    transport: Transport,
    realtime: bool,
    live: bool,
    open_timeout: Duration,
    child: Option<Running>,
    /// The frame handed out last (one of the three buffers once streaming).
    held: Vec<u8>,
    width: u32,
    height: u32,
    fps: Option<f64>,
    stats: SourceStats,
    ended: bool,
    start: Instant,
}

/// One ffmpeg process and its two reader threads.
struct Running {
    child: Child,
    shared: Arc<Shared>,
    frames: Option<JoinHandle<()>>,
    log: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    cond: Condvar,
}

#[derive(Default)]
struct State {
    /// (width, height, fps) from ffmpeg's output stream line.
    format: Option<(u32, u32, Option<f64>)>,
    ready: Option<(Vec<u8>, u64)>,
    spare: Vec<Vec<u8>>,
    dropped: u64,
    /// Why the frame pipe stopped, once it has.
    end: Option<End>,
    log_closed: bool,
    /// The decoded size when the stream started, and a different one seen since.
    input_size: Option<(u32, u32)>,
    resized: Option<(u32, u32)>,
    tail: VecDeque<String>,
    closing: bool,
}

#[derive(Debug)]
enum End {
    Eof,
    Truncated(usize),
    Io(std::io::Error),
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panicking reader thread leaves plain data behind: still usable.
    shared.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The ffmpeg binary: `SSD_EDGE_FFMPEG`, else `ffmpeg` on PATH.
pub fn ffmpeg_binary() -> String {
    std::env::var("SSD_EDGE_FFMPEG").unwrap_or_else(|_| "ffmpeg".into())
}

impl FfmpegSource {
    pub fn open(input: Input, opts: &StreamOptions) -> Result<Self, SourceError> {
        let (target, name, live, transport, mut passwords) = match &input {
            Input::File(path) => {
                if let Err(e) = std::fs::metadata(path) {
                    return Err(SourceError::io(path, "opening the video file", e));
                }
                let target = path.to_string_lossy().into_owned();
                (
                    target,
                    format!("video file {}", path.display()),
                    opts.realtime,
                    Transport::Tcp,
                    vec![],
                )
            }
            Input::Url(url) => {
                let transport = url.transport().or(opts.transport).unwrap_or_default();
                let target = url.with_credentials(opts.username.as_deref(), opts.password.as_ref());
                let mut pw = vec![];
                if let Some(p) = url.password() {
                    pw.push(p.to_string());
                }
                (target, url.to_string(), true, transport, pw)
            }
        };
        if let Some(p) = &opts.password {
            passwords.push(p.expose().to_string());
        }
        let refs: Vec<&str> = passwords.iter().map(|s| s.as_str()).collect();
        let mut src = FfmpegSource {
            input,
            target,
            name,
            secrets: secret_forms(&refs),
            transport,
            realtime: opts.realtime,
            live,
            open_timeout: opts.open_timeout.unwrap_or(OPEN_TIMEOUT),
            child: None,
            held: Vec::new(),
            width: 0,
            height: 0,
            fps: None,
            stats: SourceStats::default(),
            ended: false,
            start: Instant::now(),
        };
        src.connect()?;
        log::info!("{}", src.describe());
        Ok(src)
    }

    fn is_url(&self) -> bool {
        matches!(self.input, Input::Url(_))
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(ffmpeg_binary());
        cmd.args([
            "-hide_banner",
            "-nostdin",
            "-nostats",
            "-loglevel",
            // verbose: the decoded size of every filter graph (re)configuration, which is how
            // a resolution change mid-stream shows.
            "level+verbose",
        ]);
        match &self.input {
            Input::Url(url) if url.is_rtsp() => {
                cmd.args(["-rtsp_transport", self.transport.as_str()]);
                cmd.args(["-timeout", SOCKET_TIMEOUT_US]);
            }
            Input::Url(_) => {
                cmd.args(["-rw_timeout", SOCKET_TIMEOUT_US]);
            }
            Input::File(_) if self.realtime => {
                cmd.arg("-re");
            }
            Input::File(_) => {}
        }
        cmd.arg("-i").arg(&self.target);
        cmd.args(["-map", "0:v:0", "-an", "-sn", "-dn"]);
        cmd.args(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Starts ffmpeg and waits (bounded) until it describes its output.
    fn connect(&mut self) -> Result<(), SourceError> {
        self.stop();
        let mut child = self.command().spawn().map_err(|e| {
            let bin = ffmpeg_binary();
            let detail = if e.kind() == std::io::ErrorKind::NotFound {
                format!("cannot run '{bin}': not found (install it: apt install ffmpeg; or set SSD_EDGE_FFMPEG)")
            } else {
                format!("cannot run '{bin}': {e}")
            };
            SourceError::Ffmpeg { name: self.name.clone(), detail }
        })?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                spare: Vec::with_capacity(BUFFERS),
                tail: VecDeque::with_capacity(TAIL_LINES + 1),
                ..State::default()
            }),
            cond: Condvar::new(),
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sh, secrets, name) = (shared.clone(), self.secrets.clone(), self.name.clone());
        let log = std::thread::Builder::new()
            .name("ffmpeg-log".into())
            .spawn(move || read_log(stderr, &sh, &secrets, &name));
        let (sh, live, start) = (shared.clone(), self.live, self.start);
        let frames = std::thread::Builder::new()
            .name("ffmpeg-frames".into())
            .spawn(move || read_frames(stdout, &sh, live, start));
        let mut running = Running {
            child,
            shared,
            frames: frames.ok(),
            log: log.ok(),
        };
        if running.frames.is_none() || running.log.is_none() {
            running.stop();
            return Err(SourceError::Ffmpeg {
                name: self.name.clone(),
                detail: "cannot start the reader threads".into(),
            });
        }
        let deadline = Instant::now() + self.open_timeout;
        let format = {
            let mut st = lock(&running.shared);
            loop {
                if let Some(f) = st.format {
                    break Some(f);
                }
                if st.log_closed || st.end.is_some() {
                    break None;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break None;
                }
                st = running
                    .shared
                    .cond
                    .wait_timeout(st, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        };
        let Some((width, height, fps)) = format else {
            let timed_out = Instant::now() >= deadline;
            let status = running.stop();
            let tail = running.tail();
            let what = if timed_out {
                format!(
                    "no video from ffmpeg within {:.1} s",
                    self.open_timeout.as_secs_f32()
                )
            } else {
                format!("ffmpeg found no video ({})", status_text(status))
            };
            return Err(self.failure(format!("{what}{}", tail_text(&tail))));
        };
        if self.width != 0 && (width, height) != (self.width, self.height) {
            log::warn!(
                "{}: the stream is now {width}x{height} (was {}x{})",
                self.name,
                self.width,
                self.height
            );
        }
        (self.width, self.height, self.fps) = (width, height, fps);
        self.child = Some(running);
        self.ended = false;
        Ok(())
    }

    /// A stream that went wrong: a URL reconnects, a file cannot.
    fn failure(&self, detail: String) -> SourceError {
        if self.is_url() {
            SourceError::StreamLost {
                name: self.name.clone(),
                detail,
            }
        } else {
            SourceError::Ffmpeg {
                name: self.name.clone(),
                detail,
            }
        }
    }

    fn stop(&mut self) {
        if let Some(mut r) = self.child.take() {
            r.stop();
            self.stats.dropped += lock(&r.shared).dropped;
        }
        // The buffers belong to the old size.
        self.held = Vec::new();
    }

    /// The pipe ended: a file's end, or a stream's loss, with ffmpeg's last words.
    fn pipe_ended(&mut self) -> Result<Option<Frame<'_>>, SourceError> {
        let mut running = self.child.take().expect("a running ffmpeg");
        let status = running.stop();
        self.stats.dropped += lock(&running.shared).dropped;
        let end = lock(&running.shared).end.take();
        let tail = running.tail();
        let clean = matches!(end, Some(End::Eof)) && status.is_some_and(|s| s.success());
        if clean && !self.is_url() {
            self.ended = true;
            log::info!("{}: end of file", self.name);
            return Ok(None);
        }
        let what = match end {
            Some(End::Truncated(n)) => format!(
                "stream ended inside a frame ({n} of {} bytes)",
                frame_len(self.width, self.height)
            ),
            Some(End::Io(e)) => format!("reading frames from ffmpeg: {e}"),
            _ if clean => "the stream ended".to_string(),
            _ => format!("ffmpeg stopped ({})", status_text(status)),
        };
        if !self.is_url() {
            self.ended = true;
        }
        Err(self.failure(format!("{what}{}", tail_text(&tail))))
    }
}

impl FrameSource for FfmpegSource {
    fn next_frame(&mut self, timeout: Duration) -> Result<Option<Frame<'_>>, SourceError> {
        if self.ended {
            return Ok(None);
        }
        let Some(running) = self.child.as_ref() else {
            return Err(SourceError::StreamLost {
                name: self.name.clone(),
                detail: "not connected".into(),
            });
        };
        let deadline = Instant::now() + timeout;
        let shared = running.shared.clone();
        let mut st = lock(&shared);
        let timestamp_us = loop {
            if let (Some((w, h)), true) = (st.resized, self.is_url()) {
                // ffmpeg would scale to the old size; a reconnect delivers the new one.
                return Err(SourceError::StreamLost {
                    name: self.name.clone(),
                    detail: format!(
                        "resolution changed from {}x{} to {w}x{h}; reconnecting",
                        self.width, self.height
                    ),
                });
            }
            if let Some((buf, ts)) = st.ready.take() {
                let old = std::mem::replace(&mut self.held, buf);
                if old.capacity() > 0 {
                    st.spare.push(old);
                }
                // A file's reader waits for the ready slot to be free.
                shared.cond.notify_all();
                break ts;
            }
            if st.end.is_some() {
                drop(st);
                return self.pipe_ended();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SourceError::Timeout {
                    path: PathBuf::from(&self.name),
                    timeout,
                });
            }
            st = shared
                .cond
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
        drop(st);
        Ok(Some(Frame {
            data: &self.held,
            format: PixelFormat::Rgb24,
            width: self.width,
            height: self.height,
            timestamp_us,
        }))
    }

    fn describe(&self) -> String {
        let fps = self
            .fps
            .map_or(String::new(), |f| format!(" at {f:.3} fps"));
        let how = match &self.input {
            Input::Url(u) if u.is_rtsp() => format!(", rtsp over {}", self.transport.as_str()),
            Input::Url(_) => String::new(),
            Input::File(_) if self.realtime => ", real time".into(),
            Input::File(_) => String::new(),
        };
        format!(
            "{} (ffmpeg{how}): {}x{} rgb24{fps}",
            self.name, self.width, self.height
        )
    }

    fn stats(&self) -> SourceStats {
        let mut s = self.stats;
        if let Some(r) = &self.child {
            s.dropped += lock(&r.shared).dropped;
        }
        s
    }

    fn reconnect(&mut self) -> Result<(), SourceError> {
        if !self.is_url() {
            return Err(SourceError::Spec(format!(
                "{} cannot reconnect (a file is read once)",
                self.name
            )));
        }
        self.connect()?;
        self.stats.reconnects += 1;
        Ok(())
    }
}

impl Drop for FfmpegSource {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Running {
    /// Kills ffmpeg if it still runs, reaps it and joins the threads. Bounded: a killed
    /// process closes its pipes, which ends both readers.
    fn stop(&mut self) -> Option<ExitStatus> {
        {
            let mut st = lock(&self.shared);
            st.closing = true;
            self.shared.cond.notify_all();
        }
        // Give a process that is exiting by itself a moment, so its status is its own.
        let mut status = None;
        for _ in 0..20 {
            match self.child.try_wait() {
                Ok(Some(s)) => {
                    status = Some(s);
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => break,
            }
        }
        if status.is_none() {
            let _ = self.child.kill();
            status = self.child.wait().ok();
            // Killed by us: not ffmpeg's verdict.
            status = status.filter(|s| s.code().is_some());
        }
        for h in [self.frames.take(), self.log.take()].into_iter().flatten() {
            let _ = h.join();
        }
        status
    }

    fn tail(&self) -> Vec<String> {
        lock(&self.shared).tail.iter().cloned().collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.frames.is_some() || self.log.is_some() {
            self.stop();
        }
    }
}

fn status_text(status: Option<ExitStatus>) -> String {
    match status.and_then(|s| s.code()) {
        Some(code) => format!("exit status {code}"),
        None => "killed".into(),
    }
}

fn tail_text(tail: &[String]) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!(": {}", tail.join("; "))
    }
}

fn frame_len(width: u32, height: u32) -> usize {
    width as usize * height as usize * 3
}

/// ffmpeg's stderr: the output size, and the last warnings and errors (secrets scrubbed).
fn read_log(stderr: ChildStderr, shared: &Shared, secrets: &[String], name: &str) {
    let mut r = BufReader::new(stderr);
    let mut line = Vec::with_capacity(256);
    let mut in_output = false;
    loop {
        line.clear();
        match r.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        for part in text.split('\r') {
            let part = part.trim_end();
            if part.is_empty() {
                continue;
            }
            let info = part.contains("[info] ") || part.contains("[verbose] ");
            if info {
                if let Some(size) = parse_graph_input(part) {
                    let mut st = lock(shared);
                    match st.input_size {
                        None => st.input_size = Some(size),
                        Some(first) if first != size && st.resized.is_none() => {
                            log::warn!(
                                "{name}: the video is now {}x{} (was {}x{})",
                                size.0,
                                size.1,
                                first.0,
                                first.1
                            );
                            st.resized = Some(size);
                            shared.cond.notify_all();
                        }
                        Some(_) => {}
                    }
                }
                if part.contains("Output #0") {
                    in_output = true;
                }
                if in_output && part.contains("Stream #") && part.contains("Video:") {
                    if let Some(f) = parse_output_stream(part) {
                        let mut st = lock(shared);
                        st.format.get_or_insert(f);
                        shared.cond.notify_all();
                    }
                }
                continue;
            }
            let clean = scrub(&strip_level(part), secrets);
            log::debug!("ffmpeg: {clean}");
            let mut st = lock(shared);
            if st.tail.len() == TAIL_LINES {
                st.tail.pop_front();
            }
            st.tail.push_back(clean);
        }
    }
    let mut st = lock(shared);
    st.log_closed = true;
    shared.cond.notify_all();
}

/// `[tcp @ 0x55..] [error] Connection refused` -> `[tcp] Connection refused`.
fn strip_level(line: &str) -> String {
    let mut out = line.to_string();
    for level in ["[warning] ", "[error] ", "[fatal] ", "[panic] "] {
        out = out.replace(level, "");
    }
    // Addresses differ run to run and tell a user nothing.
    if let (Some(at), Some(end)) = (out.find(" @ 0x"), out.find("] ")) {
        if at < end {
            out.replace_range(at..end, "");
        }
    }
    out
}

/// `[graph 0 input from stream 0:0 @ 0x..] [verbose] w:640 h:360 pixfmt:...` -> (640, 360).
fn parse_graph_input(line: &str) -> Option<(u32, u32)> {
    if !line.contains("input from stream") {
        return None;
    }
    let rest = &line[line.find("] w:")? + 4..];
    let (w, rest) = rest.split_once(' ')?;
    let h = rest.strip_prefix("h:")?.split(' ').next()?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

/// `Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24(pc, ...), 320x240 [SAR 1:1
/// DAR 4:3], q=2-31, 18432 kb/s, 10 fps, 10 tbn` -> (320, 240, Some(10.0)).
fn parse_output_stream(line: &str) -> Option<(u32, u32, Option<f64>)> {
    let mut size = None;
    let mut fps = None;
    let tokens: Vec<&str> = line.split([' ', ',']).filter(|t| !t.is_empty()).collect();
    for (i, t) in tokens.iter().enumerate() {
        if size.is_none() {
            if let Some((w, h)) = t.split_once('x') {
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                if digits(w) && digits(h) && !w.starts_with('0') {
                    if let (Ok(w), Ok(h)) = (w.parse::<u32>(), h.parse::<u32>()) {
                        size = Some((w, h));
                    }
                }
            }
        }
        if *t == "fps" && i > 0 {
            fps = tokens[i - 1].parse::<f64>().ok().filter(|f| *f > 0.0);
        }
    }
    let (w, h) = size?;
    crate::limits::check_frame_size(w, h).ok()?;
    Some((w, h, fps))
}

/// Moves frames from ffmpeg's stdout into the three buffers (see the module comment).
fn read_frames(mut out: ChildStdout, shared: &Shared, live: bool, start: Instant) {
    let (width, height, fps) = {
        let mut st = lock(shared);
        loop {
            if let Some(f) = st.format {
                break f;
            }
            if st.closing || st.log_closed {
                // ffmpeg described no output: whatever it wrote is not frames we can size.
                let mut sink = [0u8; 4096];
                drop(st);
                while matches!(out.read(&mut sink), Ok(n) if n > 0) {}
                let mut st = lock(shared);
                st.end.get_or_insert(End::Eof);
                shared.cond.notify_all();
                return;
            }
            st = shared.cond.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    };
    let len = frame_len(width, height);
    let mut writing = vec![0u8; len];
    {
        let mut st = lock(shared);
        for _ in 1..BUFFERS {
            st.spare.push(vec![0u8; len]);
        }
    }
    // Files at their own pace are stamped with their frame times (a loiter time means the
    // same at any decode speed); live frames with when they arrived.
    let frame_us = (!live).then_some(fps).flatten().map(|f| 1e6 / f);
    let mut index = 0u64;
    let end = loop {
        let mut filled = 0;
        let mut end = None;
        while filled < len {
            match out.read(&mut writing[filled..]) {
                Ok(0) => {
                    end = Some(if filled == 0 {
                        End::Eof
                    } else {
                        End::Truncated(filled)
                    });
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    end = Some(End::Io(e));
                    break;
                }
            }
        }
        if let Some(end) = end {
            break end;
        }
        let ts = match frame_us {
            Some(us) => (index as f64 * us) as u64,
            None => start.elapsed().as_micros() as u64,
        };
        index += 1;
        let mut st = lock(shared);
        if !live {
            while st.ready.is_some() && !st.closing {
                st = shared.cond.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        }
        if st.closing {
            return;
        }
        let next = match st.ready.take() {
            Some((older, _)) => {
                st.dropped += 1;
                older
            }
            None => match st.spare.pop() {
                Some(b) => b,
                None => {
                    // Cannot happen with three buffers; never grow, drop this frame instead.
                    st.dropped += 1;
                    continue;
                }
            },
        };
        st.ready = Some((std::mem::replace(&mut writing, next), ts));
        shared.cond.notify_all();
    };
    let mut st = lock(shared);
    st.end = Some(end);
    shared.cond.notify_all();
}

/// True for a bare path that names a video file by its extension.
pub fn is_video_path(path: &Path) -> bool {
    const EXTENSIONS: [&str; 14] = [
        "avi", "mp4", "mkv", "mov", "m4v", "webm", "mpg", "mpeg", "ts", "flv", "wmv", "h264",
        "h265", "mjpeg",
    ];
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_stream_line_gives_size_and_rate() {
        let line = "[info]   Stream #0:0(und): Video: rawvideo (RGB[24] / 0x18424752), rgb24(pc, gbr/unknown/unknown, progressive), 320x240 [SAR 1:1 DAR 4:3], q=2-31, 18432 kb/s, 10 fps, 10 tbn (default)";
        assert_eq!(parse_output_stream(line), Some((320, 240, Some(10.0))));
        let line = "[info]   Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24, 1280x720, q=2-31, 200 kb/s, 29.97 fps";
        assert_eq!(parse_output_stream(line), Some((1280, 720, Some(29.97))));
        assert_eq!(
            parse_output_stream("Stream #0:0: Video: rawvideo (0x18424752)"),
            None
        );
        assert_eq!(
            strip_level("[tcp @ 0x55b6c59d1880] [error] Connection refused"),
            "[tcp] Connection refused"
        );
        assert_eq!(
            parse_graph_input("[graph 0 input from stream 0:0 @ 0x55e527019140] [verbose] w:640 h:360 pixfmt:yuv420p tb:1/90000"),
            Some((640, 360))
        );
        assert!(is_video_path(Path::new("/x/vtest.AVI")));
        assert!(!is_video_path(Path::new("/x/a.png")));
    }
}
