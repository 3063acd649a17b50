//! One JSON line per frame on stdout (or any writer): detections in pixels with the schema
//! `detect` prints, then the frame's tracks and events when tracking and counting are on.
//! Serialised straight into the buffered writer: no allocation per frame.

use super::json::{DetectionJson, TracksJson};
use super::{FrameReport, Sink, SinkError};
use crate::count::Event;
use serde::ser::{Serialize, Serializer};
use std::io::Write;

pub struct JsonLines<W: Write> {
    out: W,
    tracks: bool,
    events: bool,
}

impl<W: Write> JsonLines<W> {
    /// `tracks`/`events`: add those arrays to every line (empty ones included, so a reader
    /// can tell "nothing" from "not tracking").
    pub fn new(out: W, tracks: bool, events: bool) -> Self {
        JsonLines {
            out,
            tracks,
            events,
        }
    }
}

#[derive(serde::Serialize)]
struct Line<'a> {
    frame: u64,
    timestamp_us: u64,
    width: u32,
    height: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    detections: Dets<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tracks: Option<TracksJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<&'a [Event]>,
}

struct Dets<'a>(&'a FrameReport<'a>);

impl Serialize for Dets<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        s.collect_seq(
            r.detections
                .iter()
                .map(|d| DetectionJson::new(d, r.labels, r.width, r.height)),
        )
    }
}

impl<W: Write> Sink for JsonLines<W> {
    fn frame(&mut self, r: &FrameReport<'_>) -> Result<(), SinkError> {
        let labels = r.labels;
        let label = |class_id: u16| labels.get(class_id as usize).map(String::as_str);
        let line = Line {
            frame: r.index,
            timestamp_us: r.timestamp_us,
            width: r.width,
            height: r.height,
            source: r.name,
            detections: Dets(r),
            tracks: self.tracks.then_some(TracksJson {
                tracks: r.tracks,
                label: &label,
            }),
            events: self.events.then_some(r.events),
        };
        let io = |e| SinkError::from_io("stdout", e);
        serde_json::to_writer(&mut self.out, &line).map_err(|e| io(e.into()))?;
        self.out.write_all(b"\n").map_err(io)?;
        self.out.flush().map_err(io)
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.out
            .flush()
            .map_err(|e| SinkError::from_io("stdout", e))
    }
}
