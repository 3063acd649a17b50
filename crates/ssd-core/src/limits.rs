//! Every size an input can make us allocate is bounded here (docs/limits.md says why each
//! value was chosen). A board runs for months on 1-2 GB of memory: a header that declares a
//! huge frame, a model with absurd dimensions or a device file read as a model must give an
//! error naming the input, never an abort or a swap storm. Sizes are checked in `u64` with
//! checked arithmetic, so the checks also hold on 32-bit ARM where `usize` products wrap.

use std::fs::File;
use std::io::{self, BufRead, Read};
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

/// Largest text file read whole besides the sidecar: `edge.toml`, `--tracker-config`, an MQTT
/// CA bundle (a config is a few kB, the Mozilla CA bundle ~220 kB).
pub const MAX_TEXT_FILE_BYTES: u64 = 1 << 20;

/// Longest line `track --input` reads: 4 MiB (a frame of 1000 detections is ~150 kB). A line
/// that never ends (`/dev/zero`, a stuck writer) is an error after this many bytes.
pub const MAX_LINE_BYTES: u64 = 4 << 20;

/// A file read whole that could not be read, with its path: `"{path}: {problem}"`. The
/// problem is the I/O error's text, with no further `source()`, so `{:#}` prints it once.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", .path.display())]
pub struct FileError {
    pub path: std::path::PathBuf,
    pub problem: String,
    pub kind: io::ErrorKind,
}

impl FileError {
    pub fn new(path: &Path, e: &io::Error) -> Self {
        FileError {
            path: path.to_owned(),
            problem: io_problem(e),
            kind: e.kind(),
        }
    }
}

/// The text of an I/O error without the OS error number (`"does not exist"` rather than
/// `"No such file or directory (os error 2)"`, which users grep for less).
pub fn io_problem(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "does not exist".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::IsADirectory => "is a directory, not a regular file".into(),
        _ => e.to_string(),
    }
}

/// Reads a whole text file through [`read_bounded`]; not UTF-8 is an error saying where.
pub fn read_text_bounded(path: &Path, limit: u64) -> Result<String, FileError> {
    let bytes = read_bounded(path, limit).map_err(|e| FileError::new(path, &e))?;
    String::from_utf8(bytes).map_err(|e| FileError {
        path: path.to_owned(),
        problem: format!(
            "is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
        kind: io::ErrorKind::InvalidData,
    })
}

/// Reads one line (up to and including `\n`) into `line`, at most `limit` bytes of it besides
/// the newline: a longer line is an `InvalidData` error after `limit + 1` bytes were read, so
/// a line that never ends cannot grow the buffer without bound. Returns the bytes read (0 at
/// the end). Not UTF-8 is an `InvalidData` error too.
pub fn read_line_bounded<R: BufRead>(
    reader: &mut R,
    line: &mut String,
    limit: u64,
) -> io::Result<usize> {
    let mut bytes = std::mem::take(line).into_bytes();
    bytes.clear();
    let n = reader
        .by_ref()
        .take(limit.saturating_add(1))
        .read_until(b'\n', &mut bytes)?;
    if n as u64 > limit && bytes.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("line longer than the limit of {limit} bytes"),
        ));
    }
    *line = String::from_utf8(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 (invalid byte at offset {} of the line)",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    Ok(n)
}

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
/// file by its metadata, a device (`/dev/zero`) at once, a pipe after `limit` bytes. Never
/// trusts the metadata alone: at most `limit + 1` bytes are read whatever the file is (a file
/// may grow while it is read, `/proc` files say 0). Every file the program reads whole comes
/// through here (docs/limits.md).
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
            "is a directory, not a regular file",
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
                "is a device, not a regular file",
            ));
        }
    }
    let capacity = if meta.is_file() { meta.len() } else { 0 };
    let mut data = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("is longer than the limit of {limit} bytes"),
        ));
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

    /// A FIFO fed without end by a writer thread: read_bounded stops after limit + 1 bytes.
    /// The writer ends on EPIPE once the reader has closed.
    #[cfg(unix)]
    #[test]
    fn a_fifo_without_end_is_cut_at_the_limit() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let writer = {
            let p = p.clone();
            std::thread::spawn(move || {
                let mut f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
                let chunk = [b'a'; 1 << 16];
                while f.write_all(&chunk).is_ok() {}
            })
        };
        let e = read_bounded(&p, 1 << 20).unwrap_err();
        assert!(
            e.to_string()
                .contains("longer than the limit of 1048576 bytes"),
            "{e}"
        );
        writer.join().unwrap();
    }

    #[test]
    fn huge_files_devices_and_bad_text_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("huge.toml");
        // Sparse: 8 GiB by its metadata, nothing on disk.
        std::fs::File::create(&p).unwrap().set_len(8 << 30).unwrap();
        let e = read_text_bounded(&p, 1 << 20).unwrap_err().to_string();
        assert!(e.starts_with(&p.display().to_string()), "{e}");
        assert!(
            e.contains("8589934592 bytes, more than the limit of 1048576"),
            "{e}"
        );
        let e = read_text_bounded(Path::new("/dev/zero"), 1 << 20)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "/dev/zero: is a device, not a regular file");
        let e = read_text_bounded(dir.path(), 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(e.ends_with(": is a directory, not a regular file"), "{e}");
        let e = read_text_bounded(&dir.path().join("no"), 10)
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("no: does not exist"), "{e}");
        let bad = dir.path().join("latin1.toml");
        std::fs::write(&bad, b"name = \"T\xfcr\"\n").unwrap();
        let e = read_text_bounded(&bad, 100).unwrap_err().to_string();
        assert!(
            e.ends_with("is not UTF-8 text (invalid byte at offset 9)"),
            "{e}"
        );
    }

    #[test]
    fn an_endless_line_is_an_error_after_the_limit() {
        let mut zero = io::BufReader::new(std::fs::File::open("/dev/zero").unwrap());
        let mut line = String::new();
        let e = read_line_bounded(&mut zero, &mut line, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("limit of 1048576 bytes"), "{e}");
    }

    proptest::proptest! {
        /// Any lines, any limit: the bounded reader gives exactly the lines `lines()` would
        /// while each fits, and an error naming the limit at the first that does not.
        #[test]
        fn bounded_lines_match_std_or_name_the_limit(
            lines in proptest::collection::vec("[a-z]{0,40}", 0..20),
            limit in 0u64..50,
            final_newline: bool,
        ) {
            let mut text = lines.join("\n");
            if final_newline && !lines.is_empty() {
                text.push('\n');
            }
            let mut r = io::BufReader::with_capacity(7, text.as_bytes());
            let mut line = String::new();
            for want in text.lines() {
                match read_line_bounded(&mut r, &mut line, limit) {
                    Ok(n) => {
                        proptest::prop_assert!(want.len() as u64 <= limit);
                        proptest::prop_assert_eq!(line.trim_end_matches('\n'), want);
                        proptest::prop_assert!(n > 0);
                    }
                    Err(e) => {
                        proptest::prop_assert!(want.len() as u64 > limit);
                        let says = format!("limit of {limit} bytes");
                        proptest::prop_assert!(e.to_string().contains(&says), "{}", e);
                        return Ok(());
                    }
                }
            }
            proptest::prop_assert_eq!(read_line_bounded(&mut r, &mut line, limit).unwrap(), 0);
        }
    }
}
