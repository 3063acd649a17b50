//! MJPEG frames (one JPEG per frame, as UVC cameras send them) decoded into an RGB buffer
//! that is allocated once for the largest frame the source announced.
//!
//! Cheap cameras send truncated or garbled JPEGs now and then (USB bandwidth hiccups). Those
//! frames are detected here and reported as `MjpegError`, so the pipeline can count and skip
//! them instead of feeding half a grey picture to the detector.

use crate::frame::{Frame, PixelFormat};
use crate::limits::{frame_bytes, FrameTooLarge};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MjpegError {
    #[error("corrupt MJPEG frame: no JPEG start marker")]
    NoStart,
    #[error("corrupt MJPEG frame: truncated (no JPEG end marker in {0} bytes)")]
    Truncated(usize),
    #[error("corrupt MJPEG frame: {0}")]
    Decode(String),
    #[error("MJPEG frame is {got_w}x{got_h}, the stream announced {want_w}x{want_h}")]
    SizeMismatch {
        got_w: u32,
        got_h: u32,
        want_w: u32,
        want_h: u32,
    },
    #[error("MJPEG frame: {0}")]
    OverLimit(FrameTooLarge),
    #[error("MJPEG frame {width}x{height} exceeds the {max_w}x{max_h} buffer")]
    TooLarge {
        width: u32,
        height: u32,
        max_w: u32,
        max_h: u32,
    },
}

impl From<MjpegError> for super::formats::FormatError {
    fn from(e: MjpegError) -> Self {
        super::formats::FormatError::Decode {
            format: PixelFormat::Mjpg,
            detail: e.to_string(),
        }
    }
}

/// Decodes MJPEG frames into one reused RGB24 buffer.
pub struct MjpegDecoder {
    rgb: Vec<u8>,
    max_w: u32,
    max_h: u32,
}

impl MjpegDecoder {
    /// Allocates the RGB buffer for frames up to `max_w` x `max_h` (at most
    /// [`MAX_FRAME_PIXELS`](crate::limits::MAX_FRAME_PIXELS)).
    pub fn new(max_w: u32, max_h: u32) -> Result<Self, MjpegError> {
        let len = frame_bytes(max_w, max_h, 3).map_err(MjpegError::OverLimit)?;
        Ok(Self {
            rgb: vec![0; len],
            max_w,
            max_h,
        })
    }

    /// Decodes `frame` (format Mjpg) and returns it as an Rgb24 frame borrowing the internal
    /// buffer. A frame of another format is returned unchanged.
    pub fn decode<'s>(&'s mut self, frame: Frame<'s>) -> Result<Frame<'s>, MjpegError> {
        if frame.format != PixelFormat::Mjpg {
            return Ok(frame);
        }
        let (w, h) = decode_rgb(
            frame.data,
            (frame.width, frame.height),
            (self.max_w, self.max_h),
            &mut self.rgb,
        )?;
        Ok(Frame {
            data: &self.rgb[..w as usize * h as usize * 3],
            format: PixelFormat::Rgb24,
            width: w,
            height: h,
            timestamp_us: frame.timestamp_us,
        })
    }
}

/// Decodes one JPEG into `out` as RGB24 and returns its size. `expect` (if not 0x0) is the
/// size the stream announced; `max` bounds what a corrupt header can make us allocate. `out`
/// grows only when a frame is larger than any before.
pub fn decode_rgb(
    data: &[u8],
    expect: (u32, u32),
    max: (u32, u32),
    out: &mut Vec<u8>,
) -> Result<(u32, u32), MjpegError> {
    let jpeg = check_markers(data)?;
    // The size limit is checked below, after the header, before any pixel is decoded.
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(1 << 16)
        .set_max_height(1 << 16);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    decoder.decode_headers().map_err(decode_error)?;
    let info = decoder
        .info()
        .ok_or_else(|| MjpegError::Decode("no image header".into()))?;
    let (w, h) = (info.width as u32, info.height as u32);
    if expect != (0, 0) && (w, h) != expect {
        return Err(MjpegError::SizeMismatch {
            got_w: w,
            got_h: h,
            want_w: expect.0,
            want_h: expect.1,
        });
    }
    // The header is untrusted: a 365-byte file can declare 65500x65500.
    let len = frame_bytes(w, h, 3).map_err(MjpegError::OverLimit)?;
    if w > max.0 || h > max.1 {
        return Err(MjpegError::TooLarge {
            width: w,
            height: h,
            max_w: max.0,
            max_h: max.1,
        });
    }
    if out.len() < len {
        out.resize(len, 0);
    }
    decoder.decode_into(&mut out[..len]).map_err(decode_error)?;
    Ok((w, h))
}

fn decode_error(e: zune_jpeg::errors::DecodeErrors) -> MjpegError {
    MjpegError::Decode(one_line(&format!("{e:?}")))
}

/// Decoder messages can quote segments with line breaks; errors are logged one per line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The JPEG proper: SOI at the start, EOI at the end once the zero padding some UVC cameras
/// append is ignored. A missing EOI is the usual sign of a frame cut short on the bus, which
/// a lenient decoder would otherwise fill with grey.
pub fn check_markers(data: &[u8]) -> Result<&[u8], MjpegError> {
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return Err(MjpegError::NoStart);
    }
    let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if end < 4 || data[end - 2] != 0xFF || data[end - 1] != 0xD9 {
        return Err(MjpegError::Truncated(data.len()));
    }
    Ok(&data[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        assert_eq!(check_markers(&[0, 1, 2, 3]), Err(MjpegError::NoStart));
        assert_eq!(
            check_markers(&[0xFF, 0xD8, 1, 2, 3]),
            Err(MjpegError::Truncated(5))
        );
        let padded = [0xFF, 0xD8, 7, 0xFF, 0xD9, 0, 0];
        assert_eq!(check_markers(&padded).unwrap().len(), 5);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut d = MjpegDecoder::new(16, 16).unwrap();
        let data = [0xFF, 0xD8, 0xFF, 0xC0, 0, 3, 0xFF, 0xD9];
        let frame = Frame {
            data: &data,
            format: PixelFormat::Mjpg,
            width: 16,
            height: 16,
            timestamp_us: 0,
        };
        assert!(d.decode(frame).is_err());
    }
}
