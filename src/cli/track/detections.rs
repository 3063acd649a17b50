//! JSON lines into `ssd-edge track`: the per-frame schema `ssd-edge run` prints
//! (`{"frame":..,"detections":[{"class_id":..,"label":..,"score":..,"box":[x0,y0,x1,y1]}]}`,
//! boxes in pixels, extra fields ignored); lines without `detections` (the closing
//! `{"summary":..}`) and blank lines are skipped. The lines `track` writes are the CLI's
//! (`cli/track/mod.rs`, tracks in `sink::json`'s shape). This is a tool's file path, not the
//! camera's frame path, so it may allocate per line.

use serde::Deserialize;
use ssd_edge::track::TrackInput;
use std::io::{self, BufRead};

#[derive(Deserialize)]
struct LineIn {
    frame: Option<u64>,
    timestamp_us: Option<u64>,
    width: Option<u32>,
    height: Option<u32>,
    detections: Option<Vec<DetIn>>,
}

#[derive(Deserialize)]
struct DetIn {
    class_id: u16,
    #[serde(default)]
    label: Option<String>,
    score: f32,
    #[serde(rename = "box")]
    bbox: [f32; 4],
}

/// One frame's detections, as read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DetectionFrame {
    /// The line's `frame`, or the count of frames read before it when absent.
    pub frame: u64,
    /// The line's `timestamp_us` (microseconds since the run started), when given.
    pub timestamp_us: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub detections: Vec<TrackInput>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The I/O error's text once (no `source()`, so `{:#}` does not print it twice).
    #[error("line {line}: {error}")]
    Io { line: u64, error: io::Error },
    #[error("line {line}: not a frame of detections: {problem}")]
    Malformed { line: u64, problem: String },
}

/// Reads detection frames line by line, remembering each class id's label for the output.
pub struct DetectionReader<R> {
    input: R,
    line: String,
    line_no: u64,
    frames: u64,
    labels: Vec<Option<String>>,
    current: DetectionFrame,
}

impl<R: BufRead> DetectionReader<R> {
    pub fn new(input: R) -> Self {
        DetectionReader {
            input,
            line: String::new(),
            line_no: 0,
            frames: 0,
            labels: Vec::new(),
            current: DetectionFrame::default(),
        }
    }

    /// Reads the next frame into [`DetectionReader::frame`]; false at the end of the input.
    pub fn next_frame(&mut self) -> Result<bool, ReadError> {
        loop {
            self.line.clear();
            self.line_no += 1;
            // Bounded per line: a line that never ends is an error, not 4 GB of memory.
            let n = ssd_edge::limits::read_line_bounded(
                &mut self.input,
                &mut self.line,
                ssd_edge::limits::MAX_LINE_BYTES,
            )
            .map_err(|error| ReadError::Io {
                line: self.line_no,
                error,
            })?;
            if n == 0 {
                return Ok(false);
            }
            let text = self.line.trim();
            if text.is_empty() {
                continue;
            }
            let parsed: LineIn = serde_json::from_str(text).map_err(|e| ReadError::Malformed {
                line: self.line_no,
                problem: e.to_string(),
            })?;
            let Some(dets) = parsed.detections else {
                continue;
            };
            self.current.frame = parsed.frame.unwrap_or(self.frames);
            self.current.timestamp_us = parsed.timestamp_us;
            self.current.width = parsed.width;
            self.current.height = parsed.height;
            self.current.detections.clear();
            for d in dets {
                if let Some(label) = d.label {
                    let k = d.class_id as usize;
                    if self.labels.len() <= k {
                        self.labels.resize(k + 1, None);
                    }
                    self.labels[k].get_or_insert(label);
                }
                self.current.detections.push(TrackInput {
                    class_id: d.class_id,
                    score: d.score,
                    bbox: d.bbox,
                });
            }
            self.frames += 1;
            return Ok(true);
        }
    }

    /// The frame the last successful [`DetectionReader::next_frame`] read.
    pub fn frame(&self) -> &DetectionFrame {
        &self.current
    }

    pub fn labels(&self) -> &[Option<String>] {
        &self.labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str) -> Result<Vec<DetectionFrame>, ReadError> {
        let mut r = DetectionReader::new(text.as_bytes());
        let mut out = Vec::new();
        while r.next_frame()? {
            out.push(r.frame().clone());
        }
        Ok(out)
    }

    #[test]
    fn reads_run_output_and_skips_the_summary() {
        let text = concat!(
            r#"{"frame":3,"timestamp_us":5,"width":300,"height":200,"source":"a.png","detections":[{"class_id":1,"label":"person","score":0.87,"box":[1,2,30,40]}]}"#,
            "\n\n",
            r#"{"frame":4,"width":300,"height":200,"detections":[]}"#,
            "\n",
            r#"{"summary":{"frames":2}}"#,
            "\n"
        );
        let frames = read_all(text).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].frame, 3);
        assert_eq!(frames[0].width, Some(300));
        assert_eq!(frames[0].timestamp_us, Some(5));
        assert_eq!(frames[1].timestamp_us, None);
        assert_eq!(
            frames[0].detections,
            vec![TrackInput {
                class_id: 1,
                score: 0.87,
                bbox: [1.0, 2.0, 30.0, 40.0]
            }]
        );
        assert!(frames[1].detections.is_empty());
    }

    #[test]
    fn malformed_lines_name_their_number() {
        let text =
            "{\"frame\":0,\"detections\":[]}\n{\"frame\":1,\"detections\":[{\"class_id\":1}]}\n";
        let e = read_all(text).unwrap_err();
        assert!(e.to_string().starts_with("line 2: "), "{e}");
        let e = read_all("\n\nnot json\n").unwrap_err();
        assert!(e.to_string().starts_with("line 3: "), "{e}");
        let e = read_all("{\"detections\":[{\"class_id\":1,\"score\":0.5,\"box\":[1,2,3]}]}")
            .unwrap_err();
        assert!(e.to_string().starts_with("line 1: "), "{e}");
    }
}
