//! Per-format pixel readers and the dispatch from a `Frame` to the right one.
//!
//! A reader answers "RGB of pixel (x, y)" straight from the frame's bytes, so the resampler in
//! `preprocess` converts and resizes in one pass with no intermediate image. The dispatch is
//! monomorphised per format through [`ReaderVisitor`]: the inner loop never matches on the
//! format. Formats that need decoding first (MJPEG) decode into `FormatScratch`, which the
//! caller owns and reuses across frames.

use super::mjpeg;
use super::yuv::{check, GreyReader, LayoutError, Nv12Reader, YuyvReader};
use crate::frame::{Frame, PixelFormat};
use crate::limits::FrameTooLarge;
use std::marker::PhantomData;

/// Problems with a frame's bytes.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("pixel format {0:?} is not supported by this build")]
    Unsupported(PixelFormat),
    #[error("empty {width}x{height} frame")]
    Empty { width: u32, height: u32 },
    #[error("{format:?} frame of {width}x{height} needs {expected} bytes, got {got}")]
    TooShort {
        format: PixelFormat,
        width: u32,
        height: u32,
        expected: usize,
        got: usize,
    },
    #[error("cannot decode {format:?} frame: {detail}")]
    Decode { format: PixelFormat, detail: String },
    #[error("{format:?} frame: {size}")]
    TooLarge {
        format: PixelFormat,
        size: FrameTooLarge,
    },
}

/// Reads one pixel as RGB. Callers guarantee `x < width` and `y < height`.
pub trait PixelReader {
    fn width(&self) -> u32;
    fn height(&self) -> u32;
    fn rgb(&self, x: usize, y: usize) -> [u8; 3];
}

/// Something to do with whichever reader the frame's format calls for.
pub trait ReaderVisitor {
    type Output;
    fn visit<R: PixelReader>(self, reader: &R) -> Self::Output;
}

/// Buffers some formats need (a decoded MJPEG frame); owned by a long-lived struct so a
/// steady stream of frames reuses them.
#[derive(Debug, Default)]
pub struct FormatScratch {
    pub decoded: Vec<u8>,
}

/// Where one packed or planar format keeps pixel (x, y): all that tells one reader from
/// another. [`Reader::new`] has checked the bytes against the size, so `rgb` may index.
pub trait Layout {
    const FORMAT: PixelFormat;
    /// The format needs an even width (and, for NV12, height).
    const EVEN: bool;
    fn rgb(data: &[u8], width: usize, height: usize, x: usize, y: usize) -> [u8; 3];
}

/// A frame's bytes read as layout `L`, checked once in `new` (size, length, even sides).
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a, L> {
    data: &'a [u8],
    width: u32,
    height: u32,
    layout: PhantomData<L>,
}

impl<'a, L: Layout> Reader<'a, L> {
    pub fn new(data: &'a [u8], width: u32, height: u32) -> Result<Self, LayoutError> {
        check(L::FORMAT, data, width, height, L::EVEN)?;
        Ok(Reader {
            data,
            width,
            height,
            layout: PhantomData,
        })
    }
}

impl<L: Layout> PixelReader for Reader<'_, L> {
    fn width(&self) -> u32 {
        self.width
    }
    fn height(&self) -> u32 {
        self.height
    }
    #[inline(always)]
    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        L::rgb(self.data, self.width as usize, self.height as usize, x, y)
    }
}

/// Packed 8-bit RGB, rows of `3 * width` bytes.
#[derive(Clone, Copy, Debug)]
pub struct Rgb24;
pub type Rgb24Reader<'a> = Reader<'a, Rgb24>;

impl Layout for Rgb24 {
    const FORMAT: PixelFormat = PixelFormat::Rgb24;
    const EVEN: bool = false;
    #[inline(always)]
    fn rgb(data: &[u8], width: usize, _: usize, x: usize, y: usize) -> [u8; 3] {
        let i = (y * width + x) * 3;
        let p = &data[i..i + 3];
        [p[0], p[1], p[2]]
    }
}

/// Packed 8-bit BGR, rows of `3 * width` bytes.
#[derive(Clone, Copy, Debug)]
pub struct Bgr24;
pub type Bgr24Reader<'a> = Reader<'a, Bgr24>;

impl Layout for Bgr24 {
    const FORMAT: PixelFormat = PixelFormat::Bgr24;
    const EVEN: bool = false;
    #[inline(always)]
    fn rgb(data: &[u8], width: usize, _: usize, x: usize, y: usize) -> [u8; 3] {
        let i = (y * width + x) * 3;
        let p = &data[i..i + 3];
        [p[2], p[1], p[0]]
    }
}

/// Runs `visitor` with the reader for `frame`'s pixel format.
pub fn dispatch<V: ReaderVisitor>(
    frame: &Frame<'_>,
    scratch: &mut FormatScratch,
    visitor: V,
) -> Result<V::Output, FormatError> {
    match frame.format {
        PixelFormat::Rgb24 => {
            Ok(visitor.visit(&Rgb24Reader::new(frame.data, frame.width, frame.height)?))
        }
        PixelFormat::Bgr24 => {
            Ok(visitor.visit(&Bgr24Reader::new(frame.data, frame.width, frame.height)?))
        }
        PixelFormat::Grey => {
            Ok(visitor.visit(&GreyReader::new(frame.data, frame.width, frame.height)?))
        }
        PixelFormat::Yuyv => {
            Ok(visitor.visit(&YuyvReader::new(frame.data, frame.width, frame.height)?))
        }
        PixelFormat::Nv12 => {
            Ok(visitor.visit(&Nv12Reader::new(frame.data, frame.width, frame.height)?))
        }
        PixelFormat::Mjpg => {
            let size = (frame.width, frame.height);
            let (w, h) = mjpeg::decode_rgb(frame.data, size, size, &mut scratch.decoded)?;
            let rgb = &scratch.decoded[..w as usize * h as usize * 3];
            Ok(visitor.visit(&Rgb24Reader::new(rgb, w, h)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect;
    impl ReaderVisitor for Collect {
        type Output = Vec<[u8; 3]>;
        fn visit<R: PixelReader>(self, r: &R) -> Self::Output {
            let mut v = Vec::new();
            for y in 0..r.height() {
                for x in 0..r.width() {
                    v.push(r.rgb(x as usize, y as usize));
                }
            }
            v
        }
    }

    fn frame(data: &[u8], format: PixelFormat, width: u32, height: u32) -> Frame<'_> {
        Frame {
            data,
            format,
            width,
            height,
            timestamp_us: 0,
        }
    }

    #[test]
    fn rgb_and_bgr_read_the_same_colours() {
        let rgb = [1, 2, 3, 4, 5, 6];
        let bgr = [3, 2, 1, 6, 5, 4];
        let mut s = FormatScratch::default();
        let a = dispatch(&frame(&rgb, PixelFormat::Rgb24, 2, 1), &mut s, Collect).unwrap();
        let b = dispatch(&frame(&bgr, PixelFormat::Bgr24, 2, 1), &mut s, Collect).unwrap();
        assert_eq!(a, vec![[1, 2, 3], [4, 5, 6]]);
        assert_eq!(a, b);
    }

    #[test]
    fn short_and_empty_frames_are_errors() {
        let mut s = FormatScratch::default();
        let e = dispatch(&frame(&[0; 5], PixelFormat::Rgb24, 2, 1), &mut s, Collect).unwrap_err();
        assert!(
            matches!(
                e,
                FormatError::TooShort {
                    expected: 6,
                    got: 5,
                    ..
                }
            ),
            "{e}"
        );
        let e = dispatch(&frame(&[], PixelFormat::Bgr24, 0, 4), &mut s, Collect).unwrap_err();
        assert!(matches!(e, FormatError::Empty { .. }), "{e}");
    }
}
