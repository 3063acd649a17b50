//! One frame on request, for a live view (`/snapshot.jpg`). A reader raises `wanted`; the
//! frame loop, only then, converts the current frame to RGB into a buffer allocated at
//! start-up ([`SnapshotSlot::capture`], while the source's frame is alive), adds the frame's
//! detections and tracks after tracking ([`SnapshotSlot::complete`]) and bumps a sequence
//! number. The loop only ever `try_lock`s: a reader copying the frame out makes it skip that
//! frame (and try the next), never wait. Drawing and encoding are the reader's work, on its
//! own thread.
//!
//! A frame with nobody asking costs one relaxed atomic load.

use crate::frame::Frame;
use crate::image::formats::{self, FormatScratch, PixelReader, ReaderVisitor};
use crate::ssd::Detection;
use crate::track::TrackedObject;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The frame a reader gets: RGB rows of `3 * width` bytes.
#[derive(Debug, Default)]
pub struct SnapshotFrame {
    pub rgb: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// The frame's index in the run.
    pub index: u64,
    /// The wall-clock time it was taken (Unix ms).
    pub wall_ms: i64,
    /// Detections above the reporting threshold (normalised boxes).
    pub detections: Vec<Detection>,
    /// Confirmed tracks (pixel boxes).
    pub tracks: Vec<TrackedObject>,
    /// False between `capture` and `complete`: the pixels are newer than the boxes.
    pub complete: bool,
    scratch: FormatScratch,
}

#[derive(Debug)]
pub struct SnapshotSlot {
    wanted: AtomicBool,
    /// Frames delivered so far; a reader waits for it to move.
    seq: AtomicU64,
    frame: Mutex<SnapshotFrame>,
}

impl SnapshotSlot {
    /// Room for a `width` x `height` frame and `tracks` tracks; a larger frame grows the
    /// buffer on its first request. Starts wanted, so a reader finds a frame from the start.
    pub fn new(width: u32, height: u32, tracks: usize) -> Self {
        SnapshotSlot {
            wanted: AtomicBool::new(true),
            seq: AtomicU64::new(0),
            frame: Mutex::new(SnapshotFrame {
                rgb: Vec::with_capacity(3 * width as usize * height as usize),
                detections: Vec::with_capacity(crate::ssd::MAX_DETECTIONS),
                tracks: Vec::with_capacity(tracks),
                ..SnapshotFrame::default()
            }),
        }
    }

    /// Asks the frame loop for its next frame.
    pub fn request(&self) {
        self.wanted.store(true, Ordering::Release);
    }

    /// Frames delivered so far (0: none yet).
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// The last delivered frame (the frame loop skips a frame while this is held).
    pub fn lock(&self) -> MutexGuard<'_, SnapshotFrame> {
        self.frame.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The frame loop's side, first half: converts `frame` if a reader asked and nobody
    /// holds the slot; true when it did (then call [`SnapshotSlot::complete`]).
    pub fn capture(&self, frame: &Frame<'_>, index: u64) -> bool {
        if !self.wanted.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(mut slot) = self.frame.try_lock() else {
            return false;
        };
        let slot = &mut *slot;
        slot.complete = false;
        slot.rgb.clear();
        if let Err(e) = formats::dispatch(frame, &mut slot.scratch, ToRgb(&mut slot.rgb)) {
            log::debug!("snapshot: frame {index}: {e}");
            return false;
        }
        slot.width = frame.width;
        slot.height = frame.height;
        slot.index = index;
        slot.wall_ms = crate::wall_clock::unix_ms();
        true
    }

    /// Second half: the captured frame's detections (normalised) and tracks (pixels). If a
    /// reader holds the slot right now, the frame stays incomplete and the next frame is
    /// captured instead.
    pub fn complete(&self, detections: &[Detection], tracks: &[TrackedObject]) {
        let Ok(mut slot) = self.frame.try_lock() else {
            return;
        };
        slot.detections.clear();
        slot.detections.extend_from_slice(detections);
        slot.tracks.clear();
        slot.tracks.extend_from_slice(tracks);
        slot.complete = true;
        self.wanted.store(false, Ordering::Relaxed);
        self.seq.fetch_add(1, Ordering::Release);
    }

    /// Both halves, for a caller that has the boxes with the frame.
    pub fn offer(
        &self,
        frame: &Frame<'_>,
        index: u64,
        detections: &[Detection],
        tracks: &[TrackedObject],
    ) {
        if self.capture(frame, index) {
            self.complete(detections, tracks);
        }
    }
}

struct ToRgb<'a>(&'a mut Vec<u8>);

impl ReaderVisitor for ToRgb<'_> {
    type Output = ();
    fn visit<R: PixelReader>(self, r: &R) {
        let (w, h) = (r.width() as usize, r.height() as usize);
        self.0.reserve(3 * w * h);
        for y in 0..h {
            for x in 0..w {
                self.0.extend_from_slice(&r.rgb(x, y));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::PixelFormat;

    #[test]
    fn a_frame_is_taken_only_when_wanted() {
        let slot = SnapshotSlot::new(2, 1, 4);
        let data = [10, 20, 30, 40, 50, 60];
        let frame = Frame {
            data: &data,
            format: PixelFormat::Bgr24,
            width: 2,
            height: 1,
            timestamp_us: 0,
        };
        slot.offer(&frame, 7, &[], &[]);
        assert_eq!(slot.seq(), 1, "wanted from the start");
        assert_eq!(slot.lock().rgb, [30, 20, 10, 60, 50, 40]);
        slot.offer(&frame, 8, &[], &[]);
        assert_eq!(slot.seq(), 1, "nobody asked");
        slot.request();
        {
            let _held = slot.lock();
            slot.offer(&frame, 9, &[], &[]);
            assert_eq!(slot.seq(), 1, "a held slot is skipped, not waited for");
        }
        // Held between the halves: the pixels are there, not published.
        assert!(slot.capture(&frame, 10));
        {
            let _held = slot.lock();
            slot.complete(&[], &[]);
        }
        assert_eq!(slot.seq(), 1);
        assert!(!slot.lock().complete);
        slot.offer(&frame, 11, &[], &[]);
        let f = slot.lock();
        assert_eq!((slot.seq(), f.index, f.complete), (2, 11, true));
    }
}
