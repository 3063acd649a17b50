//! Pixel readers for the raw formats cameras deliver: GREY, YUYV (4:2:2) and NV12 (4:2:0).
//!
//! Each reader borrows a frame's bytes and answers "what RGB is pixel (x, y)?" so the
//! preprocessor can sample straight from the camera buffer into the model input without an
//! intermediate RGB image.
//!
//! YUV is taken as BT.601 limited range (Y 16..235, UV 16..240): what UVC webcams and the Pi
//! camera stack send for these formats. GREY is full-range luma.

use super::formats::{Layout, Reader};
use crate::frame::PixelFormat;
use crate::limits::{frame_bytes, FrameTooLarge};

/// A frame whose bytes do not fit its declared format and size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("empty {width}x{height} frame")]
    Empty { width: u32, height: u32 },
    #[error("{format:?} frame {width}x{height} needs {needed} bytes, got {got}")]
    TooShort {
        format: PixelFormat,
        width: u32,
        height: u32,
        needed: usize,
        got: usize,
    },
    #[error("{format:?} frame needs an even width and height, got {width}x{height}")]
    OddSize {
        format: PixelFormat,
        width: u32,
        height: u32,
    },
    #[error("{0:?} frame: {1}")]
    TooLarge(PixelFormat, FrameTooLarge),
}

/// Bytes a tightly packed frame of this format occupies (`Ok(None)` for MJPEG: variable).
/// The size comes from a header or a device, so it is checked against
/// [`MAX_FRAME_PIXELS`](crate::limits::MAX_FRAME_PIXELS) before any product is taken.
pub fn frame_len(
    format: PixelFormat,
    width: u32,
    height: u32,
) -> Result<Option<usize>, FrameTooLarge> {
    let per_pixel = match format {
        PixelFormat::Rgb24 | PixelFormat::Bgr24 => 3,
        PixelFormat::Grey => 1,
        PixelFormat::Yuyv => 2,
        // NV12 is 1.5 bytes per pixel: the luma plane, then half as much chroma.
        PixelFormat::Nv12 => {
            let luma = frame_bytes(width, height, 1)?;
            return Ok(Some(luma + luma / 2));
        }
        PixelFormat::Mjpg => return Ok(None),
    };
    frame_bytes(width, height, per_pixel).map(Some)
}

/// Size and length check shared by every packed/planar reader.
pub(super) fn check(
    format: PixelFormat,
    data: &[u8],
    width: u32,
    height: u32,
    even: bool,
) -> Result<(), LayoutError> {
    if width == 0 || height == 0 {
        return Err(LayoutError::Empty { width, height });
    }
    if even
        && (!width.is_multiple_of(2) || (format == PixelFormat::Nv12 && !height.is_multiple_of(2)))
    {
        return Err(LayoutError::OddSize {
            format,
            width,
            height,
        });
    }
    let needed = frame_len(format, width, height)
        .map_err(|e| LayoutError::TooLarge(format, e))?
        .unwrap_or(0);
    if data.len() < needed {
        return Err(LayoutError::TooShort {
            format,
            width,
            height,
            needed,
            got: data.len(),
        });
    }
    Ok(())
}

impl From<LayoutError> for super::formats::FormatError {
    fn from(e: LayoutError) -> Self {
        use super::formats::FormatError;
        match e {
            LayoutError::Empty { width, height } => FormatError::Empty { width, height },
            LayoutError::TooShort {
                format,
                width,
                height,
                needed,
                got,
            } => FormatError::TooShort {
                format,
                width,
                height,
                expected: needed,
                got,
            },
            LayoutError::TooLarge(format, size) => FormatError::TooLarge { format, size },
            e @ LayoutError::OddSize { format, .. } => FormatError::Decode {
                format,
                detail: e.to_string(),
            },
        }
    }
}

/// BT.601 limited-range YUV to RGB in 8.8 fixed point (the usual integer form of the matrix).
#[inline(always)]
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = (y as i32 - 16) * 298;
    let d = u as i32 - 128;
    let e = v as i32 - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clamp(c + 409 * e),
        clamp(c - 100 * d - 208 * e),
        clamp(c + 516 * d),
    ]
}

/// 8-bit luma only.
#[derive(Clone, Copy, Debug)]
pub struct Grey;
pub type GreyReader<'a> = Reader<'a, Grey>;

impl Layout for Grey {
    const FORMAT: PixelFormat = PixelFormat::Grey;
    const EVEN: bool = false;
    #[inline(always)]
    fn rgb(data: &[u8], width: usize, _: usize, x: usize, y: usize) -> [u8; 3] {
        let g = data[y * width + x];
        [g, g, g]
    }
}

/// Packed 4:2:2, bytes Y0 U Y1 V: two pixels share one U and one V.
#[derive(Clone, Copy, Debug)]
pub struct Yuyv;
pub type YuyvReader<'a> = Reader<'a, Yuyv>;

impl Layout for Yuyv {
    const FORMAT: PixelFormat = PixelFormat::Yuyv;
    const EVEN: bool = true;
    #[inline(always)]
    fn rgb(data: &[u8], width: usize, _: usize, x: usize, y: usize) -> [u8; 3] {
        let pair = y * width * 2 + (x & !1) * 2;
        let luma = data[pair + (x & 1) * 2];
        yuv_to_rgb(luma, data[pair + 1], data[pair + 3])
    }
}

/// Planar Y, then one interleaved U V plane at half resolution in both directions.
#[derive(Clone, Copy, Debug)]
pub struct Nv12;
pub type Nv12Reader<'a> = Reader<'a, Nv12>;

impl Layout for Nv12 {
    const FORMAT: PixelFormat = PixelFormat::Nv12;
    const EVEN: bool = true;
    #[inline(always)]
    fn rgb(data: &[u8], width: usize, height: usize, x: usize, y: usize) -> [u8; 3] {
        let uv = width * height + (y / 2) * width + (x & !1);
        yuv_to_rgb(data[y * width + x], data[uv], data[uv + 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::formats::PixelReader;

    #[test]
    fn limited_range_extremes() {
        assert_eq!(yuv_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(yuv_to_rgb(235, 128, 128), [255, 255, 255]);
        // Pure red in BT.601 limited range is about (81, 90, 240).
        let [r, g, b] = yuv_to_rgb(81, 90, 240);
        assert!(r > 250 && g < 5 && b < 5, "{r} {g} {b}");
    }

    #[test]
    fn short_buffers_are_rejected() {
        assert!(matches!(
            YuyvReader::new(&[0; 10], 4, 2),
            Err(LayoutError::TooShort { needed: 16, .. })
        ));
        assert!(matches!(
            Nv12Reader::new(&[0; 12], 3, 2),
            Err(LayoutError::OddSize { .. })
        ));
        assert!(GreyReader::new(&[0; 8], 4, 2).is_ok());
    }

    #[test]
    fn yuyv_pairs_share_chroma() {
        // Two pixels: Y0=16 (black), Y1=235 (white), neutral chroma.
        let data = [16, 128, 235, 128];
        let r = YuyvReader::new(&data, 2, 1).unwrap();
        assert_eq!(r.rgb(0, 0), [0, 0, 0]);
        assert_eq!(r.rgb(1, 0), [255, 255, 255]);
    }
}
