//! Still image files (PNG, JPEG, BMP, PNM) decoded to RGB, for `detect` and the image-file
//! source. Files are untrusted: the file size and the declared pixel count are checked
//! against `crate::limits` before anything is decoded, and a JPEG without its end marker is
//! refused as truncated (the decoder would fill the missing rows with grey), as on the MJPEG
//! path.

use super::mjpeg::{check_markers, one_line};
use crate::limits::{check_frame_size, read_bounded, FrameTooLarge, MAX_IMAGE_FILE_BYTES};
use image::{ImageError, ImageFormat, ImageReader, RgbImage};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// A still image that could not be read, and which file it was.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct StillError {
    pub path: PathBuf,
    pub problem: Problem,
}

/// What was wrong with the file.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("cannot read: {0}")]
    Read(std::io::Error),
    #[error("not an image (unrecognised format)")]
    NotImage,
    #[error("image size {0}")]
    TooLarge(FrameTooLarge),
    #[error("truncated JPEG (no end marker)")]
    Truncated,
    /// The entropy data ends before the image does (judged by the decoder, see
    /// `image::mjpeg::decode_rgb`), whatever the last bytes are.
    #[error("truncated JPEG ({0})")]
    Incomplete(String),
    #[error("cannot decode {format:?} image (corrupt or truncated?): {detail}")]
    Decode { format: ImageFormat, detail: String },
    #[error("refused by the decoder's memory limit: {0}")]
    Limit(String),
    #[error("unsupported {format:?} image: {detail}")]
    Unsupported { format: ImageFormat, detail: String },
}

/// A decoded image and the format its bytes were in.
pub struct Still {
    pub image: RgbImage,
    pub format: ImageFormat,
}

/// Reads and decodes `path` (the format is found from the bytes, not the name).
pub fn read_rgb(path: &Path) -> Result<Still, StillError> {
    let fail = |problem| StillError {
        path: path.to_path_buf(),
        problem,
    };
    let bytes = read_bounded(path, MAX_IMAGE_FILE_BYTES).map_err(|e| fail(Problem::Read(e)))?;
    decode_rgb(&bytes).map_err(fail)
}

/// Decodes an image held in memory.
pub fn decode_rgb(bytes: &[u8]) -> Result<Still, Problem> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(Problem::Read)?;
    let format = reader.format().ok_or(Problem::NotImage)?;
    if format == ImageFormat::Jpeg {
        // One JPEG decoder for stills and camera frames: it judges truncation by what it
        // consumed (a cut scan with an end marker appended is refused, not grey-filled).
        use super::mjpeg::MjpegError as M;
        check_markers(bytes).map_err(|_| Problem::Truncated)?;
        let mut rgb = Vec::new();
        let (w, h) = super::mjpeg::decode_rgb(bytes, (0, 0), (u32::MAX, u32::MAX), &mut rgb)
            .map_err(|e| match e {
                M::NoStart | M::Truncated(_) => Problem::Truncated,
                M::Incomplete(d) => Problem::Incomplete(d),
                M::OverLimit(t) => Problem::TooLarge(t),
                other => Problem::Decode {
                    format,
                    detail: other.to_string(),
                },
            })?;
        rgb.truncate(w as usize * h as usize * 3);
        let image = RgbImage::from_raw(w, h, rgb).ok_or(Problem::Decode {
            format,
            detail: "decoded buffer does not match its size".into(),
        })?;
        return Ok(Still { image, format });
    }
    let mapped = |e: ImageError| match e {
        ImageError::Limits(l) => Problem::Limit(one_line(&l.to_string())),
        ImageError::Unsupported(u) => Problem::Unsupported {
            format,
            detail: one_line(&u.to_string()),
        },
        other => Problem::Decode {
            format,
            detail: one_line(&other.to_string()),
        },
    };
    // Our limit first, from the header alone (without the decoder's own memory limit, which
    // would refuse a bomb with a less helpful message).
    let mut header = ImageReader::with_format(Cursor::new(bytes), format);
    header.no_limits();
    let (w, h) = header.into_dimensions().map_err(mapped)?;
    check_frame_size(w, h).map_err(Problem::TooLarge)?;
    let image = reader.decode().map_err(mapped)?;
    Ok(Still {
        image: image.into_rgb8(),
        format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn decodes_by_content_and_refuses_cut_jpegs() {
        let img = RgbImage::from_pixel(16, 8, image::Rgb([200, 10, 10]));
        for f in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Bmp] {
            let bytes = encode(&img, f);
            let still = decode_rgb(&bytes).unwrap();
            assert_eq!((still.format, still.image.dimensions()), (f, (16, 8)));
        }
        let jpeg = encode(&img, ImageFormat::Jpeg);
        let cut = &jpeg[..jpeg.len() / 2];
        assert!(matches!(decode_rgb(cut), Err(Problem::Truncated)));
        assert!(matches!(decode_rgb(b"hello"), Err(Problem::NotImage)));
    }
}
