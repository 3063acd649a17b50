//! Raw-frame recordings: `ssd-edge record` writes them, `--source replay:FILE` plays them
//! back, so a field problem (odd format, corrupt frames, a bad scene) can be replayed at the
//! desk exactly as the camera delivered it (MJPEG stays compressed, corrupt frames stay
//! corrupt).
//!
//! # Container (version 1, all integers little-endian)
//! ```text
//! file header, 16 bytes:  magic "SSDEREC\0" | version u32 = 1 | header length u32 = 16
//! each frame, 32 bytes + payload:
//!   magic "FRAM" | fourcc [4] (RGB3 BGR3 GREY YUYV NV12 MJPG) | width u32 | height u32
//!   | timestamp_us u64 | payload length u32 | reserved u32 = 0 | payload bytes
//! ```
//! A recording cut short (power loss, full disk) plays up to its last complete frame and
//! then fails with an error naming the byte offset of the broken record.

use super::{fourcc, from_fourcc, FrameSource, SourceError};
use crate::frame::Frame;
use crate::limits::check_frame_size;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const MAGIC: &[u8; 8] = b"SSDEREC\0";
pub const VERSION: u32 = 1;
const FILE_HEADER: u64 = 16;
const FRAME_HEADER: u64 = 32;
/// Larger than any raw 4K frame; a bigger length means a damaged record, not a frame.
const MAX_PAYLOAD: u32 = 64 << 20;

/// One frame record's header.
#[derive(Clone, Copy, Debug)]
struct Record {
    format: crate::frame::PixelFormat,
    width: u32,
    height: u32,
    timestamp_us: u64,
    len: u32,
}

fn parse_record(h: &[u8; 32]) -> Result<Record, String> {
    if &h[0..4] != b"FRAM" {
        return Err("bad frame marker".into());
    }
    let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().unwrap());
    let code: [u8; 4] = h[4..8].try_into().unwrap();
    let format = from_fourcc(code)
        .ok_or_else(|| format!("unknown pixel format {:?}", String::from_utf8_lossy(&code)))?;
    let len = u32_at(24);
    if len > MAX_PAYLOAD {
        return Err(format!(
            "frame length {len} is over the {MAX_PAYLOAD}-byte limit"
        ));
    }
    let (width, height) = (u32_at(8), u32_at(12));
    check_frame_size(width, height).map_err(|e| format!("frame size {e}"))?;
    Ok(Record {
        format,
        width,
        height,
        timestamp_us: u64::from_le_bytes(h[16..24].try_into().unwrap()),
        len,
    })
}

/// Plays a recording back frame by frame.
pub struct Replay {
    path: PathBuf,
    reader: BufReader<File>,
    offset: u64,
    /// Records known good by the scan at open; after them, `damage` (if any) is reported.
    frames: u64,
    played: u64,
    damage: Option<SourceError>,
    buf: Vec<u8>,
}

impl Replay {
    /// Opens and scans the recording (headers only) to size the frame buffer once and to find
    /// damage before playback starts.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let file = File::open(path).map_err(|e| SourceError::io(path, "opening recording", e))?;
        let file_len = file
            .metadata()
            .map_err(|e| SourceError::io(path, "reading recording", e))?
            .len();
        let mut reader = BufReader::new(file);
        let mut head = [0u8; 16];
        if file_len < FILE_HEADER {
            return Err(SourceError::Truncated {
                path: path.into(),
                offset: 0,
                what: format!("file header needs {FILE_HEADER} bytes, file has {file_len}"),
            });
        }
        reader
            .read_exact(&mut head)
            .map_err(|e| SourceError::io(path, "reading recording", e))?;
        if &head[0..8] != MAGIC {
            return Err(SourceError::BadRecording {
                path: path.into(),
                what: "wrong magic bytes".into(),
            });
        }
        let version = u32::from_le_bytes(head[8..12].try_into().unwrap());
        if version != VERSION {
            return Err(SourceError::BadRecording {
                path: path.into(),
                what: format!("version {version}, this build reads version {VERSION}"),
            });
        }

        let (mut frames, mut max_len) = (0u64, 0usize);
        let mut offset = FILE_HEADER;
        let mut damage = None;
        while offset < file_len {
            let mut h = [0u8; 32];
            if file_len - offset < FRAME_HEADER {
                damage = Some(SourceError::Truncated {
                    path: path.into(),
                    offset,
                    what: format!(
                        "frame header needs {FRAME_HEADER} bytes, {} left",
                        file_len - offset
                    ),
                });
                break;
            }
            reader
                .read_exact(&mut h)
                .map_err(|e| SourceError::io(path, "reading recording", e))?;
            let rec = match parse_record(&h) {
                Ok(r) => r,
                Err(what) => {
                    damage = Some(SourceError::BadRecording {
                        path: path.into(),
                        what: format!("{what} at byte offset {offset}"),
                    });
                    break;
                }
            };
            let end = offset + FRAME_HEADER + rec.len as u64;
            if end > file_len {
                damage = Some(SourceError::Truncated {
                    path: path.into(),
                    offset,
                    what: format!(
                        "frame {frames} needs {} payload bytes, {} left",
                        rec.len,
                        file_len - offset - FRAME_HEADER
                    ),
                });
                break;
            }
            reader
                .seek(SeekFrom::Start(end))
                .map_err(|e| SourceError::io(path, "reading recording", e))?;
            max_len = max_len.max(rec.len as usize);
            frames += 1;
            offset = end;
        }
        reader
            .seek(SeekFrom::Start(FILE_HEADER))
            .map_err(|e| SourceError::io(path, "reading recording", e))?;
        Ok(Self {
            path: path.into(),
            reader,
            offset: FILE_HEADER,
            frames,
            played: 0,
            damage,
            buf: vec![0; max_len],
        })
    }

    /// Complete frames in the recording.
    pub fn len(&self) -> u64 {
        self.frames
    }

    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }
}

impl FrameSource for Replay {
    fn next_frame(&mut self, _timeout: Duration) -> Result<Option<Frame<'_>>, SourceError> {
        if self.played == self.frames {
            return match self.damage.take() {
                Some(e) => Err(e),
                None => Ok(None),
            };
        }
        let mut h = [0u8; 32];
        let path = &self.path;
        self.reader
            .read_exact(&mut h)
            .map_err(|e| SourceError::io(path, "reading recording", e))?;
        let rec = parse_record(&h).map_err(|what| SourceError::BadRecording {
            path: path.clone(),
            what: format!(
                "{what} at byte offset {} (file changed while playing?)",
                self.offset
            ),
        })?;
        let data = &mut self.buf[..rec.len as usize];
        self.reader
            .read_exact(data)
            .map_err(|e| SourceError::io(path, "reading recording", e))?;
        self.offset += FRAME_HEADER + rec.len as u64;
        self.played += 1;
        Ok(Some(Frame {
            data,
            format: rec.format,
            width: rec.width,
            height: rec.height,
            timestamp_us: rec.timestamp_us,
        }))
    }

    fn describe(&self) -> String {
        format!("recording {} ({} frames)", self.path.display(), self.frames)
    }
}

/// Writes a recording. Errors (a full disk above all) name the file.
pub struct Recorder {
    path: PathBuf,
    out: BufWriter<File>,
    frames: u64,
    /// Only regular files are synced: fsync on `/dev/null` or a pipe fails (EINVAL).
    sync: bool,
}

impl Recorder {
    pub fn create(path: &Path) -> Result<Self, SourceError> {
        let file =
            File::create(path).map_err(|e| SourceError::io(path, "creating recording", e))?;
        let sync = file
            .metadata()
            .map_err(|e| SourceError::io(path, "creating recording", e))?
            .is_file();
        let mut out = BufWriter::new(file);
        let mut head = [0u8; 16];
        head[0..8].copy_from_slice(MAGIC);
        head[8..12].copy_from_slice(&VERSION.to_le_bytes());
        head[12..16].copy_from_slice(&(FILE_HEADER as u32).to_le_bytes());
        out.write_all(&head)
            .map_err(|e| SourceError::io(path, "writing recording", e))?;
        Ok(Self {
            path: path.into(),
            out,
            frames: 0,
            sync,
        })
    }

    pub fn write(&mut self, frame: &Frame) -> Result<(), SourceError> {
        let len = u32::try_from(frame.data.len())
            .ok()
            .filter(|&l| l <= MAX_PAYLOAD)
            .ok_or_else(|| SourceError::BadFrame {
                path: self.path.clone(),
                msg: format!("frame of {} bytes is too large to record", frame.data.len()),
            })?;
        let mut h = [0u8; 32];
        h[0..4].copy_from_slice(b"FRAM");
        h[4..8].copy_from_slice(&fourcc(frame.format));
        h[8..12].copy_from_slice(&frame.width.to_le_bytes());
        h[12..16].copy_from_slice(&frame.height.to_le_bytes());
        h[16..24].copy_from_slice(&frame.timestamp_us.to_le_bytes());
        h[24..28].copy_from_slice(&len.to_le_bytes());
        let path = &self.path;
        self.out
            .write_all(&h)
            .and_then(|_| self.out.write_all(frame.data))
            .map_err(|e| SourceError::io(path, "writing recording", e))?;
        self.frames += 1;
        Ok(())
    }

    /// Flushes and syncs; returns the number of frames written.
    pub fn finish(mut self) -> Result<u64, SourceError> {
        let path = self.path.clone();
        self.out
            .flush()
            .map_err(|e| SourceError::io(&path, "writing recording", e))?;
        if self.sync {
            self.out
                .get_ref()
                .sync_all()
                .map_err(|e| SourceError::io(&path, "writing recording", e))?;
        }
        Ok(self.frames)
    }
}
