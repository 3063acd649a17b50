//! Every size an input can make us allocate is bounded here (docs/limits.md says why each
//! value was chosen). A board runs for months on 1-2 GB of memory: a header that declares a
//! huge frame, a model with absurd dimensions or a device file read as a model must give an
//! error naming the input, never an abort or a swap storm. Sizes are checked in `u64` with
//! checked arithmetic, so the checks also hold on 32-bit ARM where `usize` products wrap.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Most pixels a frame or still image may have once decoded: 32 Mi pixels (8192x4096, 96 MiB
/// as RGB). Four times a 4K frame, above every Pi/Jetson camera sensor and a 24 MP photo.
pub const MAX_FRAME_PIXELS: u64 = 1 << 25;

/// Largest model file read into memory: 512 MiB (a float SSD512-VGG16 is ~110 MB).
pub const MAX_MODEL_BYTES: u64 = 512 << 20;

/// Largest sidecar TOML: 1 MiB (a 1000-class sidecar is ~30 KB).
pub const MAX_SIDECAR_BYTES: u64 = 1 << 20;

/// Largest still image file read whole by `detect` and the image-file source: 256 MiB (an
/// uncompressed BMP of `MAX_FRAME_PIXELS` is 96 MiB).
pub const MAX_IMAGE_FILE_BYTES: u64 = 256 << 20;

/// Most class scores per frame (classes x priors, the conf output's size): 16 Mi. The decoder
/// keeps a candidate list of P entries per class, so this bounds its buffers to ~128 MiB;
/// SSD300 on COCO (91 x 8732) uses 0.8 Mi.
pub const MAX_CLASS_SCORES: u64 = 1 << 24;

/// Most classes a model may have, background included: class ids are `u16`.
pub const MAX_CLASSES: usize = 1 << 16;

/// Most timed frames `bench` takes per model (it keeps one timing record per frame).
pub const MAX_BENCH_FRAMES: u64 = 100_000;

/// A frame or image size over a limit, or one whose byte count does not fit in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "{width}x{height} exceeds the frame size limit of {} pixels",
    MAX_FRAME_PIXELS
)]
pub struct FrameTooLarge {
    pub width: u32,
    pub height: u32,
}

/// Checks a declared frame size against [`MAX_FRAME_PIXELS`] and returns its pixel count.
/// Zero sizes pass (readers report them as empty frames).
pub fn check_frame_size(width: u32, height: u32) -> Result<u64, FrameTooLarge> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_FRAME_PIXELS {
        return Err(FrameTooLarge { width, height });
    }
    Ok(pixels)
}

/// `width * height * bytes_per_pixel` as a `usize`, for a size already within
/// [`MAX_FRAME_PIXELS`] (so it fits in 32 bits: at most 2^25 x 4 bytes).
pub fn frame_bytes(width: u32, height: u32, bytes_per_pixel: u64) -> Result<usize, FrameTooLarge> {
    let pixels = check_frame_size(width, height)?;
    pixels
        .checked_mul(bytes_per_pixel)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(FrameTooLarge { width, height })
}

/// Reads a whole file, refusing one larger than `limit` bytes without reading it: a regular
/// file by its metadata, a device (`/dev/zero`) at once, a pipe after `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    let too_large = |size: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{size}, more than the limit of {limit} bytes"),
        )
    };
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a directory, not a file",
        ));
    }
    if meta.is_file() && meta.len() > limit {
        return Err(too_large(format!("the file has {} bytes", meta.len())));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_char_device() || t.is_block_device() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a device, not a file",
            ));
        }
    }
    let capacity = if meta.is_file() { meta.len() } else { 0 };
    let mut data = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        return Err(too_large("the stream has more bytes".into()));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_are_checked_without_overflow() {
        assert_eq!(check_frame_size(8192, 4096), Ok(MAX_FRAME_PIXELS));
        assert!(check_frame_size(8193, 4096).is_err());
        assert!(check_frame_size(u32::MAX, u32::MAX).is_err());
        assert!(check_frame_size(65536, 65536).is_err());
        assert_eq!(frame_bytes(4, 2, 3), Ok(24));
        assert!(frame_bytes(u32::MAX, 2, 3).is_err());
    }

    #[test]
    fn bounded_reads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, [1u8; 100]).unwrap();
        assert_eq!(read_bounded(&p, 100).unwrap().len(), 100);
        let e = read_bounded(&p, 99).unwrap_err();
        assert!(e.to_string().contains("100 bytes"), "{e}");
        assert!(read_bounded(dir.path(), 99).is_err());
        #[cfg(unix)]
        {
            let e = read_bounded(Path::new("/dev/zero"), 99).unwrap_err();
            assert!(e.to_string().contains("device"), "{e}");
        }
    }
}
