//! V4L2 capture through the `v4l` crate: format negotiation, mmap streaming with bounded
//! waits, newest-frame-only delivery and reconnection after an unplug.
//!
//! The device, its capabilities and formats come from `v4l`'s `Device`/`Capture` API. The
//! streaming loop is ours, built on `v4l::v4l2::{ioctl, mmap}`, because `v4l`'s
//! `io::mmap::Stream` re-queues a buffer that is still queued after a timed-out dequeue
//! (EINVAL from the driver on the next frame) and panics in `Drop` when STREAMOFF fails with
//! anything but ENODEV: neither is acceptable for a camera that must run for weeks.

use super::{fourcc, from_fourcc, FrameSource, SourceError, SourceOptions, SourceStats};
use crate::frame::{Frame, PixelFormat};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use v4l::capability::Flags as CapFlags;
use v4l::device::Handle;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::v4l2;
use v4l::v4l_sys::{v4l2_buffer, v4l2_requestbuffers};
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{Device, Format, FourCC};

/// Cheapest to read first: packed RGB is a copy, YUYV/NV12 a little arithmetic, MJPEG a JPEG
/// decode per frame; GREY last because the models are trained on colour.
const PREFERENCE: [PixelFormat; 6] = [
    PixelFormat::Rgb24,
    PixelFormat::Bgr24,
    PixelFormat::Yuyv,
    PixelFormat::Nv12,
    PixelFormat::Mjpg,
    PixelFormat::Grey,
];
const DEFAULT_SIZE: (u32, u32) = (640, 480);
const DEFAULT_FPS: u32 = 15;
/// Enough to keep capturing while one frame is being inferred, few enough that the newest
/// frame is never far behind.
const BUFFERS: u32 = 4;
const V4L2_BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
const V4L2_MEMORY_MMAP: u32 = 1;
const V4L2_BUF_FLAG_ERROR: u32 = 0x40;

/// What was negotiated with the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub fps: Option<u32>,
}

pub struct Camera {
    path: PathBuf,
    opts: SourceOptions,
    card: String,
    driver: String,
    mode: Negotiated,
    stream: Option<Stream>,
    stats: SourceStats,
    last_sequence: Option<u32>,
    start: Instant,
}

impl Camera {
    pub fn open(path: &Path, opts: &SourceOptions) -> Result<Self, SourceError> {
        let mut cam = Camera {
            path: path.into(),
            opts: opts.clone(),
            card: String::new(),
            driver: String::new(),
            mode: Negotiated {
                format: PixelFormat::Yuyv,
                width: 0,
                height: 0,
                fps: None,
            },
            stream: None,
            stats: SourceStats::default(),
            last_sequence: None,
            start: Instant::now(),
        };
        cam.connect()?;
        log::info!("{}", cam.describe());
        Ok(cam)
    }

    fn connect(&mut self) -> Result<(), SourceError> {
        let path = self.path.clone();
        let err = |what, e| classify(&path, what, e);
        let dev = Device::with_path(&path).map_err(|e| err("opening", e))?;
        let caps = dev
            .query_caps()
            .map_err(|e| err("querying capabilities", e))?;
        if !caps.capabilities.contains(CapFlags::VIDEO_CAPTURE)
            || !caps.capabilities.contains(CapFlags::STREAMING)
        {
            return Err(SourceError::NotCapture {
                path,
                detail: format!("driver {} reports {:?}", caps.driver, caps.capabilities),
            });
        }
        let mode = negotiate(&dev, &path, &self.opts)?;
        let handle = dev.handle();
        let stream = Stream::start(handle, dev, mode, &path)?;
        self.card = caps.card;
        self.driver = caps.driver;
        if self.mode.width != 0 && mode != self.mode {
            log::warn!(
                "{}: reconnected with a different mode {mode:?}",
                path.display()
            );
        }
        self.mode = mode;
        self.stream = Some(stream);
        self.last_sequence = None;
        Ok(())
    }

    fn disconnected(&mut self) -> SourceError {
        // Unmap and close now: a vanished device keeps its node busy until we let go.
        self.stream = None;
        SourceError::Disconnected {
            path: self.path.clone(),
        }
    }
}

impl FrameSource for Camera {
    fn next_frame(&mut self, timeout: Duration) -> Result<Option<Frame<'_>>, SourceError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(SourceError::Disconnected {
                path: self.path.clone(),
            });
        };
        let got = match stream.next(timeout) {
            Ok(Some(got)) => got,
            Ok(None) => {
                return Err(SourceError::Timeout {
                    path: self.path.clone(),
                    timeout,
                })
            }
            Err(e) if is_gone(&e) => return Err(self.disconnected()),
            Err(e) => return Err(classify(&self.path, "capturing", e)),
        };
        // Sequence numbers count every frame the device captured: the gap since the last frame
        // we handed out is what was lost, whether we drained it to stay on the newest frame
        // or the driver had no free buffer while we were inferring.
        let skipped = match self.last_sequence {
            Some(last) => got.sequence.wrapping_sub(last).wrapping_sub(1),
            None => got.sequence.wrapping_sub(got.first_sequence),
        };
        self.stats.dropped += skipped.min(1 << 20) as u64;
        self.last_sequence = Some(got.sequence);
        if got.flags & V4L2_BUF_FLAG_ERROR != 0 || got.bytesused == 0 {
            return Err(SourceError::BadFrame {
                path: self.path.clone(),
                msg: format!("driver flagged frame {} as corrupt", got.sequence),
            });
        }
        let timestamp_us = self.start.elapsed().as_micros() as u64;
        let stream = self.stream.as_ref().expect("stream checked above");
        Ok(Some(Frame {
            data: stream.bytes(got.index, got.bytesused),
            format: self.mode.format,
            width: self.mode.width,
            height: self.mode.height,
            timestamp_us,
        }))
    }

    fn describe(&self) -> String {
        let fps = self
            .mode
            .fps
            .map_or(String::from("driver default fps"), |f| format!("{f} fps"));
        format!(
            "camera {} ({}, driver {}): {} {}x{} at {}",
            self.path.display(),
            self.card,
            self.driver,
            String::from_utf8_lossy(&fourcc(self.mode.format)),
            self.mode.width,
            self.mode.height,
            fps
        )
    }

    fn stats(&self) -> SourceStats {
        self.stats
    }

    fn reconnect(&mut self) -> Result<(), SourceError> {
        self.stream = None;
        self.connect()?;
        self.stats.reconnects += 1;
        Ok(())
    }
}

/// Maps an errno to the error a user can act on.
fn classify(path: &Path, what: &'static str, e: io::Error) -> SourceError {
    let path = path.to_owned();
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENXIO) => SourceError::DeviceMissing { path },
        Some(libc::ENODEV) => SourceError::Disconnected { path },
        Some(libc::EBUSY) => SourceError::DeviceBusy { path },
        Some(libc::EACCES) | Some(libc::EPERM) => SourceError::PermissionDenied { path },
        Some(libc::ENOTTY) => SourceError::NotCapture {
            path,
            detail: format!("{what}: not a V4L2 device"),
        },
        _ => SourceError::Io {
            path,
            what,
            error: e,
        },
    }
}

fn is_gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENODEV) | Some(libc::ENXIO))
}

/// Sort key of a candidate mode, smallest best: (not the asked format, not the asked size,
/// area difference, slower than asked, preference rank).
type RankKey = (u8, u8, u64, u8, usize);

/// Picks format, size and rate: the user's format if the device has it, then a size as close
/// as possible to the wanted one, then a rate at least the wanted one, then `PREFERENCE`.
fn negotiate(dev: &Device, path: &Path, opts: &SourceOptions) -> Result<Negotiated, SourceError> {
    let err = |what, e| classify(path, what, e);
    let offered = dev.enum_formats().map_err(|e| err("listing formats", e))?;
    let readable: Vec<PixelFormat> = offered
        .iter()
        .filter_map(|d| from_fourcc(d.fourcc.repr))
        .collect();
    if readable.is_empty() {
        let names: Vec<String> = offered.iter().map(|d| d.fourcc.to_string()).collect();
        return Err(SourceError::UnsupportedFormat {
            path: path.into(),
            offered: if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            },
        });
    }
    if let Some(asked) = opts.format {
        if !readable.contains(&asked) {
            log::warn!(
                "{}: does not offer {}, choosing among {}",
                path.display(),
                String::from_utf8_lossy(&fourcc(asked)),
                readable
                    .iter()
                    .map(|f| String::from_utf8_lossy(&fourcc(*f)).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let want = opts.size.unwrap_or(DEFAULT_SIZE);
    let want_fps = opts.fps.unwrap_or(DEFAULT_FPS);
    let mut best: Option<(RankKey, Negotiated)> = None;
    for &format in &readable {
        let code = FourCC::new(&fourcc(format));
        let sizes = dev.enum_framesizes(code).unwrap_or_default();
        let (w, h) = closest_size(&sizes, want);
        let max_fps = dev.enum_frameintervals(code, w, h).ok().and_then(|ivs| {
            ivs.iter()
                .filter_map(|iv| fastest(&iv.interval))
                .reduce(f64::max)
        });
        let key = (
            (opts.format != Some(format)) as u8,
            ((w, h) != want) as u8,
            (w as i64 * h as i64 - want.0 as i64 * want.1 as i64).unsigned_abs(),
            max_fps.is_some_and(|f| f + 0.01 < want_fps as f64) as u8,
            PREFERENCE.iter().position(|p| *p == format).unwrap_or(99),
        );
        let mode = Negotiated {
            format,
            width: w,
            height: h,
            fps: Some(want_fps),
        };
        if best.as_ref().is_none_or(|(k, _)| key < *k) {
            best = Some((key, mode));
        }
    }
    let (_, mut mode) = best.expect("readable is not empty");

    let code = FourCC::new(&fourcc(mode.format));
    let set = dev
        .set_format(&Format::new(mode.width, mode.height, code))
        .map_err(|e| err("setting the format", e))?;
    if set.fourcc != code {
        return Err(SourceError::UnsupportedFormat {
            path: path.into(),
            offered: format!("driver replaced {code} with {}", set.fourcc),
        });
    }
    let tight = match mode.format {
        PixelFormat::Rgb24 | PixelFormat::Bgr24 => set.width * 3,
        PixelFormat::Yuyv => set.width * 2,
        PixelFormat::Grey | PixelFormat::Nv12 => set.width,
        PixelFormat::Mjpg => set.stride,
    };
    if set.stride != 0 && set.stride != tight {
        return Err(SourceError::UnsupportedFormat {
            path: path.into(),
            offered: format!("{code} with padded rows ({} bytes per row)", set.stride),
        });
    }
    mode.width = set.width;
    mode.height = set.height;
    mode.fps = match dev.set_params(&Parameters::with_fps(want_fps)) {
        Ok(p) if p.interval.numerator > 0 => {
            Some((p.interval.denominator as f64 / p.interval.numerator as f64).round() as u32)
        }
        Ok(_) => None,
        Err(e) => {
            log::warn!("{}: cannot set {want_fps} fps: {e}", path.display());
            None
        }
    };
    Ok(mode)
}

fn closest_size(sizes: &[v4l::FrameSize], want: (u32, u32)) -> (u32, u32) {
    let area = |w: u32, h: u32| (w as i64 * h as i64 - want.0 as i64 * want.1 as i64).abs();
    let mut best: Option<(u32, u32)> = None;
    let mut consider = |w: u32, h: u32| {
        if best.is_none_or(|(bw, bh)| area(w, h) < area(bw, bh)) {
            best = Some((w, h));
        }
    };
    for s in sizes {
        match &s.size {
            FrameSizeEnum::Discrete(d) => consider(d.width, d.height),
            FrameSizeEnum::Stepwise(s) => {
                let snap = |v: u32, lo: u32, hi: u32, step: u32| {
                    let v = v.clamp(lo, hi);
                    lo + (v - lo) / step.max(1) * step.max(1)
                };
                consider(
                    snap(want.0, s.min_width, s.max_width, s.step_width),
                    snap(want.1, s.min_height, s.max_height, s.step_height),
                );
            }
        }
    }
    best.unwrap_or(want)
}

/// Highest frame rate an interval description allows.
fn fastest(iv: &FrameIntervalEnum) -> Option<f64> {
    let f = match iv {
        FrameIntervalEnum::Discrete(f) => f,
        FrameIntervalEnum::Stepwise(s) => &s.min,
    };
    (f.numerator > 0).then(|| f.denominator as f64 / f.numerator as f64)
}

/// One dequeued buffer (the newest available) and what was skipped to reach it.
#[derive(Clone, Copy, Debug)]
struct Dequeued {
    index: usize,
    bytesused: usize,
    flags: u32,
    sequence: u32,
    /// Sequence number of the first buffer dequeued in this call (older ones are given back
    /// unread so that the newest is processed).
    first_sequence: u32,
}

/// mmap'ed capture buffers of one open device.
struct Stream {
    handle: Arc<Handle>,
    _dev: Device,
    maps: Vec<(*mut u8, usize)>,
    /// The buffer handed out last; returned to the driver on the next call.
    held: Option<usize>,
}

impl Stream {
    fn start(
        handle: Arc<Handle>,
        dev: Device,
        mode: Negotiated,
        path: &Path,
    ) -> Result<Self, SourceError> {
        let err = |what, e| classify(path, what, e);
        let mut stream = Stream {
            handle,
            _dev: dev,
            maps: Vec::new(),
            held: None,
        };
        let mut req = v4l2_requestbuffers {
            count: BUFFERS,
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_MMAP,
            // SAFETY: a plain C struct for which all-zero is valid.
            ..unsafe { std::mem::zeroed() }
        };
        stream
            .ioctl(v4l2::vidioc::VIDIOC_REQBUFS, &mut req)
            .map_err(|e| err("requesting buffers", e))?;
        if req.count == 0 {
            return Err(SourceError::NotCapture {
                path: path.into(),
                detail: "driver granted no mmap buffers".into(),
            });
        }
        for index in 0..req.count {
            let mut buf = buffer(index);
            stream
                .ioctl(v4l2::vidioc::VIDIOC_QUERYBUF, &mut buf)
                .map_err(|e| err("querying buffers", e))?;
            // SAFETY: mapping the driver's buffer as it describes it; unmapped in Drop.
            let ptr = unsafe {
                v4l2::mmap(
                    std::ptr::null_mut(),
                    buf.length as usize,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    stream.handle.fd(),
                    buf.m.offset as libc::off_t,
                )
            }
            .map_err(|e| err("mapping buffers", e))?;
            stream.maps.push((ptr as *mut u8, buf.length as usize));
        }
        for index in 0..req.count {
            stream
                .queue(index as usize)
                .map_err(|e| err("queueing buffers", e))?;
        }
        let mut typ = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        stream
            .ioctl(v4l2::vidioc::VIDIOC_STREAMON, &mut typ)
            .map_err(|e| err("starting the stream", e))?;
        log::debug!(
            "{}: streaming {mode:?} with {} buffers",
            path.display(),
            req.count
        );
        Ok(stream)
    }

    fn ioctl<T>(&self, request: v4l2::vidioc::_IOC_TYPE, arg: &mut T) -> io::Result<()> {
        // SAFETY: `arg` is the struct this request expects (the callers pair them).
        unsafe {
            v4l2::ioctl(
                self.handle.fd(),
                request,
                arg as *mut T as *mut std::os::raw::c_void,
            )
        }
    }

    fn queue(&self, index: usize) -> io::Result<()> {
        let mut buf = buffer(index as u32);
        self.ioctl(v4l2::vidioc::VIDIOC_QBUF, &mut buf)
    }

    fn dequeue(&self) -> io::Result<Option<v4l2_buffer>> {
        let mut buf = buffer(0);
        match self.ioctl(v4l2::vidioc::VIDIOC_DQBUF, &mut buf) {
            Ok(()) => Ok(Some(buf)),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits up to `timeout` for `POLLIN`. POLLERR alone (no frame) is left to DQBUF to
    /// explain: ENODEV after an unplug.
    fn wait(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.handle.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut pfd, 1, ms) } {
            -1 => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
            0 => Ok(false),
            _ => Ok(true),
        }
    }

    /// Returns the previous buffer to the driver, waits for a frame and, if more than one is
    /// complete, keeps only the newest. `Ok(None)` is a timeout.
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Dequeued>> {
        if let Some(index) = self.held.take() {
            self.queue(index)?;
        }
        let deadline = Instant::now() + timeout;
        let first = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if !self.wait(left)? {
                if left.is_zero() || Instant::now() >= deadline {
                    return Ok(None);
                }
                continue;
            }
            if let Some(buf) = self.dequeue()? {
                break buf;
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            // Readable but nothing to dequeue: an error condition without errno; do not spin.
            std::thread::sleep(Duration::from_millis(1));
        };
        let mut newest = first;
        while self.wait(Duration::ZERO)? {
            match self.dequeue()? {
                Some(buf) => {
                    self.queue(newest.index as usize)?;
                    newest = buf;
                }
                None => break,
            }
        }
        let index = newest.index as usize;
        if index >= self.maps.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "driver returned an unknown buffer index",
            ));
        }
        self.held = Some(index);
        Ok(Some(Dequeued {
            index,
            bytesused: (newest.bytesused as usize).min(self.maps[index].1),
            flags: newest.flags,
            sequence: newest.sequence,
            first_sequence: first.sequence,
        }))
    }

    /// The used part of a buffer: drivers leave stale bytes after `bytesused` (MJPEG above all).
    fn bytes(&self, index: usize, bytesused: usize) -> &[u8] {
        let (ptr, _) = self.maps[index];
        // SAFETY: the mapping lives as long as `self`; the driver does not write a buffer we
        // hold (it is dequeued until the next call).
        unsafe { std::slice::from_raw_parts(ptr, bytesused) }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // Errors are expected here after an unplug (ENODEV) and there is nothing left to do
        // about any of them: the fd is closed right after.
        let mut typ = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        let _ = self.ioctl(v4l2::vidioc::VIDIOC_STREAMOFF, &mut typ);
        for &(ptr, len) in &self.maps {
            // SAFETY: unmapping exactly what `start` mapped.
            let _ = unsafe { v4l2::munmap(ptr as *mut std::os::raw::c_void, len) };
        }
        let mut req = v4l2_requestbuffers {
            count: 0,
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_MMAP,
            // SAFETY: as above.
            ..unsafe { std::mem::zeroed() }
        };
        let _ = self.ioctl(v4l2::vidioc::VIDIOC_REQBUFS, &mut req);
    }
}

fn buffer(index: u32) -> v4l2_buffer {
    v4l2_buffer {
        index,
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        memory: V4L2_MEMORY_MMAP,
        // SAFETY: a plain C struct for which all-zero is valid.
        ..unsafe { std::mem::zeroed() }
    }
}

/// Everything `ssd-edge cameras` shows about one device.
#[derive(Debug, serde::Serialize)]
pub struct DeviceInfo {
    pub path: PathBuf,
    pub driver: String,
    pub card: String,
    pub bus: String,
    pub capture: bool,
    pub formats: Vec<FormatInfo>,
}

#[derive(Debug, serde::Serialize)]
pub struct FormatInfo {
    pub fourcc: String,
    pub description: String,
    pub supported: bool,
    pub sizes: Vec<SizeInfo>,
}

#[derive(Debug, serde::Serialize)]
pub struct SizeInfo {
    /// `640x480`, or `160x120-1920x1080/8x8` for a stepwise range.
    pub size: String,
    /// Frame rates, e.g. `30`, `15`, or `1-30` for a continuous range.
    pub fps: Vec<String>,
}

/// Queries a device without streaming from it.
pub fn device_info(path: &Path) -> Result<DeviceInfo, SourceError> {
    let err = |what, e| classify(path, what, e);
    let dev = Device::with_path(path).map_err(|e| err("opening", e))?;
    let caps = dev
        .query_caps()
        .map_err(|e| err("querying capabilities", e))?;
    let capture = caps.capabilities.contains(CapFlags::VIDEO_CAPTURE);
    let mut formats = Vec::new();
    if capture {
        for desc in dev.enum_formats().map_err(|e| err("listing formats", e))? {
            let mut sizes = Vec::new();
            for fs in dev.enum_framesizes(desc.fourcc).unwrap_or_default() {
                let (size, probe) = match &fs.size {
                    FrameSizeEnum::Discrete(d) => {
                        (format!("{}x{}", d.width, d.height), (d.width, d.height))
                    }
                    FrameSizeEnum::Stepwise(s) => (
                        format!(
                            "{}x{}-{}x{}/{}x{}",
                            s.min_width,
                            s.min_height,
                            s.max_width,
                            s.max_height,
                            s.step_width,
                            s.step_height
                        ),
                        (s.max_width, s.max_height),
                    ),
                };
                let fps = dev
                    .enum_frameintervals(desc.fourcc, probe.0, probe.1)
                    .unwrap_or_default()
                    .iter()
                    .map(|iv| match &iv.interval {
                        FrameIntervalEnum::Discrete(f) => rate(f),
                        FrameIntervalEnum::Stepwise(s) => {
                            format!("{}-{}", rate(&s.max), rate(&s.min))
                        }
                    })
                    .collect();
                sizes.push(SizeInfo { size, fps });
            }
            formats.push(FormatInfo {
                fourcc: desc.fourcc.to_string(),
                description: desc.description.clone(),
                supported: from_fourcc(desc.fourcc.repr).is_some(),
                sizes,
            });
        }
    }
    Ok(DeviceInfo {
        path: path.into(),
        driver: caps.driver,
        card: caps.card,
        bus: caps.bus,
        capture,
        formats,
    })
}

fn rate(f: &v4l::Fraction) -> String {
    if f.numerator == 0 {
        return "?".into();
    }
    let fps = f.denominator as f64 / f.numerator as f64;
    if (fps - fps.round()).abs() < 1e-6 {
        format!("{}", fps.round())
    } else {
        format!("{fps:.2}")
    }
}

/// `/dev/video*` in numeric order.
pub fn list_device_paths() -> Vec<PathBuf> {
    let mut paths: Vec<(u32, PathBuf)> = std::fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix("video")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    paths.sort();
    paths.into_iter().map(|(_, p)| p).collect()
}
