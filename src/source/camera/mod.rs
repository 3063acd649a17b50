//! V4L2 capture through the `v4l` crate: format negotiation, mmap streaming with bounded
//! waits, newest-frame-only delivery and reconnection after an unplug.
//!
//! The device, its capabilities and formats come from `v4l`'s `Device`/`Capture` API. The
//! streaming loop is ours, built on `v4l::v4l2::{ioctl, mmap}`, because `v4l`'s
//! `io::mmap::Stream` re-queues a buffer that is still queued after a timed-out dequeue
//! (EINVAL from the driver on the next frame) and panics in `Drop` when STREAMOFF fails with
//! anything but ENODEV: neither is acceptable for a camera that must run for weeks.
//!
//! `negotiate` picks the mode, `stream` holds the mmap buffers and every `unsafe` block,
//! `list` describes devices for `ssd-edge cameras`.

mod list;
mod negotiate;
mod stream;

pub use list::{device_info, list_device_paths, DeviceInfo, FormatInfo, SizeInfo};
pub use negotiate::Negotiated;

use super::{fourcc, FrameSource, SourceError, SourceOptions, SourceStats};
use crate::frame::{Frame, PixelFormat};
use negotiate::negotiate;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use stream::{Stream, V4L2_BUF_FLAG_ERROR};
use v4l::capability::Flags as CapFlags;
use v4l::Device;

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
            data: stream.bytes(),
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
