//! `ssd-edge track`: detections as JSON lines (what `ssd-edge run` prints) through the
//! tracker, one JSON line of confirmed tracks per frame on stdout.

use anyhow::{Context, Result};
use serde::Deserialize;
use ssd_edge::track::jsonl::{write_tracks, DetectionFrame, DetectionReader};
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
    #[arg(long, value_name = "FILE.toml")]
    pub tracker_config: Option<PathBuf>,
}

/// A file holding only a `[tracker]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackerFile {
    #[serde(default)]
    tracker: TrackerConfig,
}

/// Reads and validates the `[tracker]` table of `path`; errors name the file and the key.
pub fn load_tracker_config(path: &Path) -> Result<TrackerConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the tracker config {}", path.display()))?;
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
            let f = File::open(p).with_context(|| format!("opening {}", p.display()))?;
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
    let cfg = match &args.tracker_config {
        Some(p) => load_tracker_config(p)?,
        None => TrackerConfig::default(),
    };
    let (input, name) = open_input(args.input.as_deref())?;
    let mut reader = DetectionReader::new(input);
    let mut tracker = Tracker::new(&cfg);
    let mut out = BufWriter::new(io::stdout().lock());
    let frames = track_frames(&mut reader, &name, &mut tracker, |frame, tracks, labels| {
        write_tracks(&mut out, frame.frame, tracks, labels)?;
        // Flushed per frame: a live `run | track` pipe sees each frame as it happens.
        out.flush().context("writing to stdout")
    })?;
    let s = tracker.stats();
    log::info!(
        "{frames} frames; detections rejected (non-finite or empty boxes): {}, over \
         max_detections: {}; tracks not started for lack of capacity: {}",
        s.rejected_detections,
        s.dropped_detections,
        s.dropped_tracks
    );
    Ok(ExitCode::SUCCESS)
}
