//! MJPEG frames (one JPEG per frame, as UVC cameras send them) decoded into an RGB buffer
//! that is allocated once for the largest frame the source announced.
//!
//! Cheap cameras send truncated or garbled JPEGs now and then (USB bandwidth hiccups). Those
//! frames are detected here and reported as `MjpegError`, so the pipeline can count and skip
//! them instead of feeding half a grey picture to the detector.

use super::jpeg_scan::ScanError;
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
    /// The entropy-coded data ends before the last block: a frame cut short and an end
    /// marker appended, or a header declaring more pixels than the data holds.
    #[error("corrupt MJPEG frame: truncated ({0})")]
    Incomplete(String),
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
    // Truncation is judged by what the data holds, not by the last two bytes: the Huffman
    // codes of every scan are walked over the real bytes (jpeg_scan.rs; zune-jpeg would decode
    // a cut scan's last MCU row from zeros it synthesizes). A frame walked whole, or one the
    // walk does not follow (progressive: docs/limits.md), is then decoded as it is. Others
    // are decoded *without* their end marker, strictly, so that the decoder's own check
    // ("exhausted data") applies too. (Decoding every frame that way, as before, refused
    // some whole ones: 1x65 baseline, progressive.)
    let walk = super::jpeg_scan::check_complete(jpeg);
    let body = if walk.is_ok() {
        jpeg
    } else {
        &jpeg[..jpeg.len() - 2]
    };
    let strict = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(1 << 16)
        .set_max_height(1 << 16)
        .set_strict_mode(true);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(body), strict);
    let mut lenient = false;
    if decoder.decode_headers().is_err() {
        // Strict header parsing refuses harmless quirks of some cameras (extra bytes between
        // segments): those frames get the lenient decoder over the whole JPEG, as before.
        let options = DecoderOptions::default()
            .jpeg_set_out_colorspace(ColorSpace::RGB)
            .set_max_width(1 << 16)
            .set_max_height(1 << 16);
        decoder = JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
        decoder.decode_headers().map_err(decode_error)?;
        lenient = true;
    }
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
    // Every 8x8 luma block costs at least one bit of entropy data (its DC code, even in a
    // progressive first scan): a header declaring 8192x4096 over 300x300 worth of data is
    // refused before a buffer is sized for it.
    let blocks = u64::from(w.div_ceil(8)) * u64::from(h.div_ceil(8));
    if (body.len() as u64) < blocks / 8 {
        return Err(MjpegError::Incomplete(format!(
            "{w}x{h} needs at least {} bytes of image data, the frame has {}",
            blocks / 8,
            body.len()
        )));
    }
    // The walk's verdict, once the header is known to be sane.
    match walk {
        Ok(_) => {}
        Err(ScanError::Cut(m)) => return Err(MjpegError::Incomplete(m)),
        // What the decoder tolerates in frames whose headers only lenient parsing takes is
        // left to it, as before.
        Err(ScanError::Corrupt(_)) if lenient => {}
        Err(ScanError::Corrupt(m)) => return Err(MjpegError::Decode(m)),
    }
    if out.len() < len {
        out.resize(len, 0);
    }
    match decoder.decode_into(&mut out[..len]) {
        Ok(()) => {}
        Err(e) if !lenient && is_exhausted(&e) => {
            return Err(MjpegError::Incomplete(format!(
                "the image data ends before the last row: {}",
                one_line(&format!("{e:?}"))
            )))
        }
        Err(e) => return Err(decode_error(e)),
    }
    Ok((w, h))
}

/// zune-jpeg's ways of saying the scan needed more bytes than there were.
fn is_exhausted(e: &zune_jpeg::errors::DecodeErrors) -> bool {
    use zune_jpeg::errors::DecodeErrors as E;
    match e {
        E::ExhaustedData => true,
        E::FormatStatic(m) => m.contains("Premature end"),
        other => {
            let m = format!("{other:?}");
            m.contains("Exhausted") || m.contains("Premature end") || m.contains("No more bytes")
        }
    }
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

    /// A JPEG of `w`x`h` with busy content (so the entropy data is long), via `image`.
    fn jpeg(w: u32, h: u32, seed: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            let v = (x * 7 + y * 13 + seed).wrapping_mul(2654435761) >> 24;
            image::Rgb([v as u8, (x * 5) as u8, (y * 3 + seed) as u8])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    /// Offset just after the SOS segment: where the entropy-coded data starts.
    fn scan_start(j: &[u8]) -> usize {
        let sos = j.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        sos + 2 + usize::from(u16::from_be_bytes([j[sos + 2], j[sos + 3]]))
    }

    /// Every cut of the scan of `j` (from its first entropy byte to its last), `FF D9`
    /// appended, is refused; returns how many were tried.
    fn every_cut_is_refused(j: &[u8], name: &str) -> usize {
        let mut out = Vec::new();
        let (start, end) = (scan_start(j), j.len() - 2);
        for cut in start..end {
            let mut bad = j[..cut].to_vec();
            bad.extend_from_slice(&[0xFF, 0xD9]);
            let r = decode_rgb(&bad, (0, 0), (1 << 14, 1 << 14), &mut out);
            assert!(
                matches!(r, Err(MjpegError::Incomplete(_) | MjpegError::Decode(_))),
                "{name} cut at {cut} of {start}..{end}: {r:?}"
            );
        }
        end - start
    }

    #[test]
    fn a_cut_scan_with_an_end_marker_appended_is_refused_at_every_cut() {
        let mut out = Vec::new();
        // Small enough to try every byte (a 300x300 scan is tried by the proptest below).
        for (w, h) in [(64, 48), (40, 36), (17, 9)] {
            let j = jpeg(w, h, 1);
            assert_eq!(decode_rgb(&j, (w, h), (w, h), &mut out), Ok((w, h)));
            // Every byte of the scan, the last MCU row included (issue 32: zune-jpeg decodes
            // it from zeros it synthesizes; jpeg_scan walks the real bytes).
            assert!(every_cut_is_refused(&j, &format!("{w}x{h}")) > 5);
        }
    }

    /// Frames from other encoders: restart intervals (every 3 MCUs, every MCU row), 4:4:4,
    /// 4:2:2, one component, and a Motion JPEG frame without Huffman tables (ffmpeg's, with
    /// its DHT removed and an `AVI1` APP0 added, as UVC cameras send them). Whole ones decode and are walked to the
    /// end; every cut is refused. A progressive frame is left to the decoder (documented).
    #[test]
    fn frames_of_other_encoders_are_walked_whole_and_refused_cut() {
        use crate::image::jpeg_scan::{check_complete, Scan};
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/jpeg");
        let mut out = Vec::new();
        for name in [
            "restart_every_3_mcus_420.jpg",
            "restart_every_row_444.jpg",
            "gray_odd_size.jpg",
            "mjpeg_no_dht_422.jpg",
        ] {
            let j = std::fs::read(dir.join(name)).unwrap();
            assert_eq!(check_complete(&j), Ok(Scan::Complete), "{name}");
            let r = decode_rgb(&j, (0, 0), (1024, 1024), &mut out);
            assert!(r.is_ok(), "{name}: {r:?}");
            assert!(every_cut_is_refused(&j, name) > 100, "{name}");
        }
        // Not walked (its refinement scans need every coefficient's history): decoded whole;
        // a cut in it is the decoder's to see (docs/limits.md).
        let j = std::fs::read(dir.join("progressive.jpg")).unwrap();
        assert_eq!(check_complete(&j), Ok(Scan::NotChecked("progressive")));
        let r = decode_rgb(&j, (0, 0), (1024, 1024), &mut out);
        assert!(r.is_ok(), "progressive.jpg: {r:?}");
    }

    #[test]
    fn a_header_declaring_more_pixels_than_the_data_is_refused() {
        let j = jpeg(300, 300, 2);
        let sof = j.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        let mut big = j.clone();
        big[sof + 5..sof + 7].copy_from_slice(&4096u16.to_be_bytes());
        big[sof + 7..sof + 9].copy_from_slice(&8192u16.to_be_bytes());
        let mut out = Vec::new();
        let r = decode_rgb(&big, (0, 0), (8192, 4096), &mut out);
        let Err(MjpegError::Incomplete(m)) = r else {
            panic!("{r:?}")
        };
        assert!(m.contains("8192x4096 needs at least"), "{m}");
        // Slightly larger than the data: the decoder runs out of data and says so.
        let mut taller = j.clone();
        taller[sof + 5..sof + 7].copy_from_slice(&600u16.to_be_bytes());
        let r = decode_rgb(&taller, (0, 0), (300, 600), &mut out);
        assert!(matches!(r, Err(MjpegError::Incomplete(_))), "{r:?}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Complete JPEGs of any size decode (no false "truncated"), and the same with any
        /// cut of their scan (down to its last byte) and an end marker appended never
        /// decodes as a good frame.
        #[test]
        fn whole_frames_decode_and_cut_ones_never_do(
            w in 1u32..320, h in 1u32..240, seed: u32, cut_frac in 0.0f64..1.0,
        ) {
            let j = jpeg(w, h, seed);
            let mut out = Vec::new();
            proptest::prop_assert_eq!(decode_rgb(&j, (w, h), (w, h), &mut out), Ok((w, h)));
            let (start, end) = (scan_start(&j), j.len() - 2);
            // Any cut, the last MCU row included: at least one byte of the scan is gone.
            let cut = start + ((end - start) as f64 * cut_frac) as usize;
            let mut bad = j[..cut].to_vec();
            bad.extend_from_slice(&[0xFF, 0xD9]);
            let r = decode_rgb(&bad, (w, h), (w, h), &mut out);
            proptest::prop_assert!(r.is_err(), "{}x{} cut at {} of {}..{}: {:?}", w, h, cut, start, end, r);
        }
    }
}
