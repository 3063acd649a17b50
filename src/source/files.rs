//! Image files as a frame source: one file, or every file of a directory in name order.
//! A file that does not decode spoils its frame only: it is reported and the rest go on.

use super::{FrameSource, SourceError};
use crate::frame::{Frame, PixelFormat};
use crate::image::still::read_rgb;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct ImageFiles {
    describe: String,
    paths: Vec<PathBuf>,
    next: usize,
    /// The decoded image of the current frame (files are not the hot path: decoding
    /// allocates inside the `image` crate anyway).
    rgb: Vec<u8>,
    name: String,
    start: Instant,
}

impl ImageFiles {
    pub fn single(path: &Path) -> Self {
        Self::new(path.display().to_string(), vec![path.to_owned()])
    }

    /// Every regular file in `dir`, sorted by name; subdirectories and hidden files are
    /// skipped.
    pub fn directory(dir: &Path) -> Result<Self, SourceError> {
        let entries =
            std::fs::read_dir(dir).map_err(|e| SourceError::io(dir, "reading directory", e))?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| SourceError::io(dir, "reading directory", e))?;
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if path.is_file() && !hidden {
                paths.push(path);
            }
        }
        if paths.is_empty() {
            return Err(SourceError::Spec(format!(
                "{}: no files in directory",
                dir.display()
            )));
        }
        paths.sort();
        Ok(Self::new(
            format!("directory {} ({} files)", dir.display(), paths.len()),
            paths,
        ))
    }

    fn new(describe: String, paths: Vec<PathBuf>) -> Self {
        Self {
            describe,
            paths,
            next: 0,
            rgb: Vec::new(),
            name: String::new(),
            start: Instant::now(),
        }
    }
}

impl FrameSource for ImageFiles {
    fn next_frame(&mut self, _timeout: Duration) -> Result<Option<Frame<'_>>, SourceError> {
        let Some(path) = self.paths.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        self.name.clear();
        self.name.push_str(&path.to_string_lossy());
        let img = read_rgb(path)
            .map_err(|e| SourceError::BadFrame {
                path: e.path,
                msg: e.problem.to_string(),
            })?
            .image;
        let (width, height) = img.dimensions();
        self.rgb = img.into_raw();
        Ok(Some(Frame {
            data: &self.rgb,
            format: PixelFormat::Rgb24,
            width,
            height,
            timestamp_us: self.start.elapsed().as_micros() as u64,
        }))
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn frame_name(&self) -> Option<&str> {
        Some(&self.name)
    }
}
