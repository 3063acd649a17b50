//! mmap streaming on our own ioctl loop (all of the camera's `unsafe`): bounded waits,
//! newest-frame-only delivery, and a `Drop` that never panics after an unplug.

use super::classify;
use super::negotiate::Negotiated;
use crate::source::SourceError;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use v4l::device::Handle;
use v4l::v4l2;
use v4l::v4l_sys::{v4l2_buffer, v4l2_requestbuffers};
use v4l::Device;

/// Enough to keep capturing while one frame is being inferred, few enough that the newest
/// frame is never far behind.
const BUFFERS: u32 = 4;
const V4L2_BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
const V4L2_MEMORY_MMAP: u32 = 1;
pub(super) const V4L2_BUF_FLAG_ERROR: u32 = 0x40;

/// One dequeued buffer (the newest available) and what was skipped to reach it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Dequeued {
    pub(super) bytesused: usize,
    pub(super) flags: u32,
    pub(super) sequence: u32,
    /// Sequence number of the first buffer dequeued in this call (older ones are given back
    /// unread so that the newest is processed).
    pub(super) first_sequence: u32,
}

/// One ioctl request with the argument type the kernel reads and writes through its pointer.
///
/// # Safety
/// `CODE` must be a request whose argument is exactly one `Arg` (size and layout), so that
/// the kernel never reads or writes past it.
unsafe trait Request {
    type Arg;
    const CODE: v4l2::vidioc::_IOC_TYPE;
}

/// The argument size an ioctl request code encodes (linux/ioctl.h: 14 bits from bit 16).
// The cast is a no-op on glibc (c_ulong) but not on musl (c_int).
#[allow(clippy::unnecessary_cast)]
const fn ioc_size(code: v4l2::vidioc::_IOC_TYPE) -> usize {
    ((code as u64 >> 16) & 0x3fff) as usize
}

macro_rules! requests {
    ($($name:ident = $code:ident($arg:ty);)*) => {$(
        struct $name;
        // SAFETY: the argument type of this request in linux/videodev2.h; the assertion below
        // checks at compile time that the size encoded in the request code is its size.
        unsafe impl Request for $name {
            type Arg = $arg;
            const CODE: v4l2::vidioc::_IOC_TYPE = v4l2::vidioc::$code;
        }
        const _: () = assert!(ioc_size(v4l2::vidioc::$code) == std::mem::size_of::<$arg>());
    )*};
}

requests! {
    ReqBufs = VIDIOC_REQBUFS(v4l2_requestbuffers);
    QueryBuf = VIDIOC_QUERYBUF(v4l2_buffer);
    QBuf = VIDIOC_QBUF(v4l2_buffer);
    DqBuf = VIDIOC_DQBUF(v4l2_buffer);
    StreamOn = VIDIOC_STREAMON(u32);
    StreamOff = VIDIOC_STREAMOFF(u32);
}

/// The buffer we hold (dequeued: the driver does not write it until we queue it again) and
/// its used length, already clamped to the mapping.
#[derive(Clone, Copy, Debug)]
struct Held {
    index: usize,
    len: usize,
}

/// mmap'ed capture buffers of one open device.
pub(super) struct Stream {
    handle: Arc<Handle>,
    _dev: Device,
    maps: Vec<(*mut u8, usize)>,
    /// The buffer handed out last; returned to the driver on the next call. Only `next` sets
    /// it, after a successful DQBUF, with `index < maps.len()` and `len <= maps[index].1`:
    /// the invariant `bytes` relies on.
    held: Option<Held>,
}

impl Stream {
    pub(super) fn start(
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
        let mut req = request_buffers(BUFFERS);
        stream
            .ioctl::<ReqBufs>(&mut req)
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
                .ioctl::<QueryBuf>(&mut buf)
                .map_err(|e| err("querying buffers", e))?;
            // SAFETY: a fresh shared mapping at an address the kernel picks (no existing memory
            // is affected), of the length and offset QUERYBUF reported; unmapped in Drop.
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
            .ioctl::<StreamOn>(&mut typ)
            .map_err(|e| err("starting the stream", e))?;
        log::debug!(
            "{}: streaming {mode:?} with {} buffers",
            path.display(),
            req.count
        );
        Ok(stream)
    }

    fn ioctl<R: Request>(&self, arg: &mut R::Arg) -> io::Result<()> {
        // SAFETY: `R: Request` guarantees `arg` is the type this request reads and writes, and
        // `&mut` makes it valid and exclusively ours for the call.
        unsafe {
            v4l2::ioctl(
                self.handle.fd(),
                R::CODE,
                (arg as *mut R::Arg).cast::<std::os::raw::c_void>(),
            )
        }
    }

    fn queue(&self, index: usize) -> io::Result<()> {
        let mut buf = buffer(index as u32);
        self.ioctl::<QBuf>(&mut buf)
    }

    fn dequeue(&self) -> io::Result<Option<v4l2_buffer>> {
        let mut buf = buffer(0);
        match self.ioctl::<DqBuf>(&mut buf) {
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
    pub(super) fn next(&mut self, timeout: Duration) -> io::Result<Option<Dequeued>> {
        if let Some(held) = self.held.take() {
            self.queue(held.index)?;
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
        let bytesused = (newest.bytesused as usize).min(self.maps[index].1);
        self.held = Some(Held {
            index,
            len: bytesused,
        });
        Ok(Some(Dequeued {
            bytesused,
            flags: newest.flags,
            sequence: newest.sequence,
            first_sequence: first.sequence,
        }))
    }

    /// The used part of the buffer the last `next` returned (empty when none is held):
    /// drivers leave stale bytes after `bytesused` (MJPEG above all). Safe by construction:
    /// only a dequeued buffer can be read, within its mapping, and the borrow of `self` ends
    /// before `next` (`&mut self`) can queue it back to the driver or `Drop` unmap it.
    pub(super) fn bytes(&self) -> &[u8] {
        let Some(Held { index, len }) = self.held else {
            return &[];
        };
        let (ptr, mapped) = self.maps[index];
        debug_assert!(len <= mapped);
        // SAFETY: `held` names a dequeued buffer (the driver does not write it until we queue
        // it again, which needs `&mut self`) and `len <= mapped` (see `held`); the mapping
        // lives until `Drop`, and mmap'ed memory is initialised.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // Errors are expected here after an unplug (ENODEV) and there is nothing left to do
        // about any of them: the fd is closed right after.
        let mut typ = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        let _ = self.ioctl::<StreamOff>(&mut typ);
        for &(ptr, len) in &self.maps {
            // SAFETY: unmapping exactly what `start` mapped, once; no slice of it outlives
            // `&mut self` here.
            let _ = unsafe { v4l2::munmap(ptr as *mut std::os::raw::c_void, len) };
        }
        let mut req = request_buffers(0);
        let _ = self.ioctl::<ReqBufs>(&mut req);
    }
}

fn request_buffers(count: u32) -> v4l2_requestbuffers {
    v4l2_requestbuffers {
        count,
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        memory: V4L2_MEMORY_MMAP,
        // SAFETY: a plain C struct of integers for which all-zero is valid.
        ..unsafe { std::mem::zeroed() }
    }
}

fn buffer(index: u32) -> v4l2_buffer {
    v4l2_buffer {
        index,
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        memory: V4L2_MEMORY_MMAP,
        // SAFETY: a plain C struct of integers and a union of an integer and pointers, for
        // which all-zero is valid.
        ..unsafe { std::mem::zeroed() }
    }
}
