//! `ssd-edge track`: detections as JSON lines (what `ssd-edge run` prints) through the
//! tracker, one JSON line of confirmed tracks per frame on stdout. With `--config` naming
//! lines or zones, the same counter as `ssd-edge run` counts on those tracks: each line gets
//! the frame's events and a summary with the totals closes the output, so a detector's saved
//! output can be counted with the detector out of the loop.

use super::config::EdgeConfig;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use ssd_edge::count::{CountSpec, Counter, Event, EventTime};
use ssd_edge::pipeline::totals_json;
use ssd_edge::sink::json::TracksJson;
mod detections;

use detections::{DetectionFrame, DetectionReader};
use ssd_edge::track::{Tracker, TrackerConfig, TrackerOutput};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// JSON lines of detections, as `ssd-edge run` prints them [default: stdin].
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// TOML file with a `[tracker]` table (see docs/tracking.md) [default: built-in defaults].
    #[arg(long, value_name = "FILE.toml", conflicts_with = "config")]
    pub tracker_config: Option<PathBuf>,
    /// The board's config: its `[tracker]` table, and its `[[line]]`s and `[[zone]]`s to
    /// count on (the other tables are not used here).
    #[arg(long, value_name = "edge.toml")]
    pub config: Option<PathBuf>,
    /// Labels of class ids 1, 2, ... for counting (class filters and event labels); an input
    /// naming a class id otherwise is an error [default: the shipped model's].
    #[arg(long, value_name = "L1,L2,..", value_delimiter = ',')]
    pub labels: Option<Vec<String>>,
    /// Frame size for counting when input lines carry no width and height.
    #[arg(long, value_name = "WxH", value_parser = ssd_edge::source::parse_size)]
    pub size: Option<(u32, u32)>,
    /// Frame rate giving event times when input lines carry no timestamp_us.
    #[arg(long, default_value_t = 15.0)]
    pub fps: f64,
}

/// The shipped model's classes (models/README.md), after the background.
const SHIPPED_LABELS: [&str; 3] = ["person", "car", "bicycle"];

/// A file holding only a `[tracker]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackerFile {
    #[serde(default)]
    tracker: TrackerConfig,
}

/// Reads and validates the `[tracker]` table of `path`; errors name the file and the key.
pub fn load_tracker_config(path: &Path) -> Result<TrackerConfig> {
    let text = ssd_edge::limits::read_text_bounded(path, ssd_edge::limits::MAX_TEXT_FILE_BYTES)
        .context("reading the tracker config")?;
    let file: TrackerFile = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
    file.tracker
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(file.tracker)
}

/// Opens `--input` (a file) or stdin, with a name for error messages.
pub fn open_input(path: Option<&Path>) -> Result<(Box<dyn BufRead>, String)> {
    Ok(match path {
        Some(p) => {
            let f = File::open(p)
                .map_err(|e| ssd_edge::limits::FileError::new(p, &e))
                .context("opening the input")?;
            if f.metadata().is_ok_and(|m| m.is_dir()) {
                bail!("{}: is a directory, not a regular file", p.display());
            }
            (Box::new(BufReader::new(f)), p.display().to_string())
        }
        None => (Box::new(BufReader::new(io::stdin())), "stdin".to_string()),
    })
}

/// Runs every frame of `reader` through `tracker`, handing each frame's result to `each`.
/// The seam `ssd-edge track` and later stages (counting) share.
pub fn track_frames<R: BufRead>(
    reader: &mut DetectionReader<R>,
    input_name: &str,
    tracker: &mut Tracker,
    mut each: impl FnMut(&DetectionFrame, &TrackerOutput<'_>, &[Option<String>]) -> Result<()>,
) -> Result<u64> {
    let mut frames = 0;
    while reader
        .next_frame()
        .with_context(|| format!("reading detections from {input_name}"))?
    {
        let out = tracker.update(&reader.frame().detections);
        frames += 1;
        each(reader.frame(), &out, reader.labels())?;
    }
    Ok(frames)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (cfg, spec) = match (&args.config, &args.tracker_config) {
        (Some(p), _) => {
            let c = EdgeConfig::load(p)?;
            let spec = c.count_spec();
            (c.tracker, spec)
        }
        (None, Some(p)) => (load_tracker_config(p)?, CountSpec::default()),
        (None, None) => (TrackerConfig::default(), CountSpec::default()),
    };
    anyhow::ensure!(
        args.fps.is_finite() && args.fps > 0.0 && args.fps <= 1e4,
        "--fps {}: must be a positive frame rate",
        args.fps
    );
    let mut counting = if spec.is_empty() {
        None
    } else {
        let config = args.config.as_deref().unwrap_or(Path::new("--config"));
        Some(Counting::new(spec, &args, config, cfg.capacity)?)
    };
    let (input, name) = open_input(args.input.as_deref())?;
    let mut reader = DetectionReader::new(input);
    let mut tracker = Tracker::new(&cfg);
    let mut out = BufWriter::new(io::stdout().lock());
    let frames = track_frames(&mut reader, &name, &mut tracker, |frame, tracks, labels| {
        let events = match counting.as_mut() {
            Some(c) => Some(c.frame(frame, tracks, labels, &name)?),
            None => None,
        };
        write_tracks(&mut out, frame.frame, tracks, labels, events)?;
        // Flushed per frame: a live `run | track` pipe sees each frame as it happens.
        out.flush().context("writing to stdout")
    })?;
    let s = tracker.stats();
    if let Some(c) = &counting {
        let summary = serde_json::json!({"summary": {
            "frames": frames,
            "tracks": s.tracks_started,
            "totals": totals_json(&c.counter),
        }});
        writeln!(out, "{summary}")
            .and_then(|_| out.flush())
            .context("writing to stdout")?;
    }
    log::info!(
        "{frames} frames; detections rejected (non-finite or empty boxes): {}, over \
         max_detections: {}; tracks not started for lack of capacity: {}",
        s.rejected_detections,
        s.dropped_detections,
        s.dropped_tracks
    );
    Ok(ExitCode::SUCCESS)
}

/// The counting stage of `track --config`: the counter `run` uses, fed the input's frames.
struct Counting {
    counter: Counter,
    labels: Vec<String>,
    size: Option<(u32, u32)>,
    frame_ms: f64,
    /// Wall time of the first frame: event times are this plus the input's timestamps.
    start_ms: i64,
    /// Input labels already checked against `labels`.
    checked: usize,
}

impl Counting {
    fn new(spec: CountSpec, args: &Args, config: &Path, capacity: usize) -> Result<Self> {
        let mut labels = vec!["background".to_string()];
        match &args.labels {
            Some(l) => labels.extend(l.iter().map(|s| s.trim().to_string())),
            None => labels.extend(SHIPPED_LABELS.map(String::from)),
        }
        let counter = Counter::new(spec, &labels, capacity)
            .map_err(|e| anyhow::anyhow!("{}: {}: {}", config.display(), e.key, e.message))?;
        let start_ms = ssd_edge::wall_clock::unix_ms();
        Ok(Counting {
            counter,
            labels,
            size: args.size,
            frame_ms: 1e3 / args.fps,
            start_ms,
            checked: 0,
        })
    }

    fn frame(
        &mut self,
        frame: &DetectionFrame,
        tracks: &TrackerOutput<'_>,
        input_labels: &[Option<String>],
        input: &str,
    ) -> Result<&[Event]> {
        // Counts under a wrong name would be silently wrong: the input's own labels must
        // agree with the table the counter uses.
        for (k, l) in input_labels.iter().enumerate().skip(self.checked) {
            if let Some(l) = l {
                if self.labels.get(k) != Some(l) {
                    bail!(
                        "{input} names class id {k} {l:?}, but counting uses {:?} for it: \
                         give the detector's labels with --labels",
                        self.labels.get(k).map_or("nothing", String::as_str)
                    );
                }
            }
        }
        self.checked = input_labels.len();
        let size = match (frame.width, frame.height) {
            (Some(w), Some(h)) => (w, h),
            _ => self.size.with_context(|| {
                format!(
                    "{input}: frame {} has no width and height; give the frame size with --size",
                    frame.frame
                )
            })?,
        };
        // A 0x0 frame resolves every line to a point: nothing would ever count.
        if size.0 == 0 || size.1 == 0 {
            bail!(
                "{input}: frame {}: a {}x{} frame: width and height must be at least 1",
                frame.frame,
                size.0,
                size.1
            );
        }
        ssd_edge::limits::check_frame_size(size.0, size.1)
            .with_context(|| format!("{input}: frame {}", frame.frame))?;
        let mono_ms = match frame.timestamp_us {
            Some(us) => us / 1000,
            None => (frame.frame as f64 * self.frame_ms) as u64,
        };
        let time = EventTime {
            wall_ms: self.start_ms.saturating_add(mono_ms as i64),
            mono_ms,
            clock_suspect: false,
        };
        self.counter
            .update(size, tracks.tracks, tracks.removed, frame.frame, time)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.key, e.message))
    }
}

/// One output line: `{"frame":F,"tracks":[..]}` with the tracks in `sink::json`'s shape (the
/// one `run --track` prints), plus `"removed":[ids]` when tracks were dropped this frame, and
/// `"events":[..]` (the counting stage's, as `ssd-edge run` prints them) when counting.
#[derive(serde::Serialize)]
struct TrackLine<'a> {
    frame: u64,
    tracks: TracksJson<'a>,
    #[serde(skip_serializing_if = "<[u32]>::is_empty")]
    removed: &'a [u32],
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<&'a [Event]>,
}

/// Writes one frame's line; a class id no input line labelled is `class_N` (as everywhere).
fn write_tracks<W: Write>(
    out: &mut W,
    frame: u64,
    tracks: &TrackerOutput<'_>,
    labels: &[Option<String>],
    events: Option<&[Event]>,
) -> io::Result<()> {
    let label = |class_id: u16| labels.get(class_id as usize)?.as_deref();
    let line = TrackLine {
        frame,
        tracks: TracksJson {
            tracks: tracks.tracks,
            label: &label,
        },
        removed: tracks.removed,
        events,
    };
    serde_json::to_writer(&mut *out, &line)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssd_edge::track::TrackedObject;

    #[test]
    fn writes_tracks_with_labels() {
        let tracks = [TrackedObject {
            id: 7,
            class_id: 2,
            score: 0.5,
            bbox: [1.004, 2.0, 3.5, 4.0],
            filtered: [1.0, 2.0, 3.5, 4.0],
            hits: 3,
            lost_frames: 1,
        }];
        let labels = vec![None, None, Some("car \"x\"".to_string())];
        let mut out = Vec::new();
        let o = TrackerOutput {
            tracks: &tracks,
            removed: &[3, 4],
        };
        write_tracks(&mut out, 9, &o, &labels, None).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "{\"frame\":9,\"tracks\":[{\"id\":7,\"class_id\":2,\"label\":\"car \\\"x\\\"\",\
             \"score\":0.5,\"box\":[1.0,2.0,3.5,4.0],\"lost_frames\":1}],\"removed\":[3,4]}\n"
        );
        out.clear();
        let none = TrackerOutput {
            tracks: &tracks,
            removed: &[],
        };
        write_tracks(&mut out, 0, &none, &[], Some(&[])).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        // No input line labelled class 2: named by its id, as detections are.
        assert_eq!(v["tracks"][0]["label"], "class_2");
        assert_eq!(v["events"], serde_json::json!([]));
        assert!(v.get("removed").is_none());
    }
}
