//! The per-frame loop of `ssd-edge run`, in stages:
//! source -> detect (preprocess, forward, decode + NMS) -> track -> count -> sinks.
//!
//! What is built once (the detector's plan, the tracker's and counter's fixed-capacity state,
//! the lines and zones, the sinks) is handed in at start-up; every frame reuses those buffers,
//! so a steady-state frame allocates nothing in our code. Sinks that write to disk or network
//! queue the work for their own threads (see [`crate::sink`]).

mod clock;
mod recover;

pub use clock::{Clock, ClockStats};

use crate::count::Counter;
use crate::model::{Detector, ModelError};
use crate::sink::{FrameReport, RunStats, Sink, SinkError, SourceState, StageMicros};
use crate::snapshot::SnapshotSlot;
use crate::source::{FrameSource, SourceError};
use crate::ssd::Detections;
use crate::track::{TrackInput, Tracker, TrackerOutput};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Longest wait for one frame.
    pub frame_timeout: Duration,
    /// Stop after this many processed frames (None: until the source ends).
    pub max_frames: Option<u64>,
    /// Minimum score of reported detections (the tracker sees lower ones too).
    pub threshold: f32,
    /// Consecutive timeouts after which a live source is restarted.
    pub timeouts_before_restart: u32,
    /// First and longest pause between reconnect attempts.
    pub backoff: (Duration, Duration),
    /// Give up reconnecting after this long (None: keep trying, as a board should).
    pub reconnect_for: Option<Duration>,
    /// Raised (e.g. by a signal handler) to end the run after the current frame.
    pub stop: Option<&'static AtomicBool>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            frame_timeout: Duration::from_secs(2),
            max_frames: None,
            threshold: 0.5,
            timeouts_before_restart: 3,
            backoff: (Duration::from_millis(100), Duration::from_secs(5)),
            reconnect_for: None,
            stop: None,
        }
    }
}

impl From<crate::count::SpecError> for PipelineError {
    fn from(e: crate::count::SpecError) -> Self {
        PipelineError::Count(e)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// Not a `#[from]`/`source()`: the message says the cause once (`{:#}` would repeat it).
    #[error("counting: {0}")]
    Count(crate::count::SpecError),
    #[error("{source_name}: gave up reconnecting after {attempts} attempts in {:.1} s: {last}", .waited.as_secs_f32())]
    GaveUp {
        source_name: String,
        attempts: u32,
        waited: Duration,
        last: SourceError,
    },
}

impl PipelineError {
    /// Stdout closed under us (`| head`): not a failure of the run.
    pub fn is_output_closed(&self) -> bool {
        matches!(self, PipelineError::Sink(SinkError::Closed))
    }
}

/// What a run did; printed as the last JSON line.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Summary {
    pub frames: u64,
    pub dropped: u64,
    pub corrupt: u64,
    pub timeouts: u64,
    pub reconnects: u64,
    pub seconds: f64,
    pub fps: f64,
    /// The run ended because `stop` was raised (SIGINT/SIGTERM/SIGHUP), not by itself.
    pub stopped: bool,
    pub clock: ClockStats,
    /// Resident memory (kB) after the first frame and at the end: a board runs for months,
    /// so this must not grow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_kb: Option<[u64; 2]>,
    /// Tracks, when tracking is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracks: Option<u64>,
    /// Running totals by place, kind, label and direction (non-zero ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totals: Option<serde_json::Value>,
    /// The sinks' own sections (the ground-truth score, the store...).
    #[serde(flatten)]
    pub sinks: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    next_index: u64,
    processed: u64,
    corrupt: u64,
    timeouts: u64,
    consecutive_timeouts: u32,
    rss_first_kb: Option<u64>,
    source_state: SourceState,
    stage_us: StageMicros,
}

pub struct Pipeline {
    source: Box<dyn FrameSource>,
    detector: Detector,
    tracker: Option<Tracker>,
    counter: Option<Counter>,
    sinks: Vec<Box<dyn Sink>>,
    clock: Clock,
    cfg: PipelineConfig,
    labels: Vec<String>,
    detections: Detections,
    track_inputs: Vec<TrackInput>,
    stats: Stats,
    started: Instant,
    snapshot: Option<Arc<SnapshotSlot>>,
}

impl Pipeline {
    pub fn new(source: Box<dyn FrameSource>, detector: Detector, cfg: PipelineConfig) -> Self {
        let meta = detector.meta();
        let labels = meta.labels.clone();
        let mut p = Self {
            source,
            detector,
            tracker: None,
            counter: None,
            sinks: Vec::new(),
            clock: Clock::new(),
            cfg,
            labels,
            detections: Detections::new(),
            track_inputs: Vec::with_capacity(crate::ssd::MAX_DETECTIONS),
            stats: Stats::default(),
            started: Instant::now(),
            snapshot: None,
        };
        p.set_detector_threshold();
        p
    }

    /// Tracks the detections (needed for counting).
    pub fn with_tracker(mut self, tracker: Tracker) -> Self {
        self.tracker = Some(tracker);
        self.set_detector_threshold();
        self
    }

    /// Counts the tracks on lines and in zones; needs a tracker.
    pub fn with_counter(mut self, counter: Counter) -> Self {
        self.counter = Some(counter);
        self
    }

    pub fn with_sink(mut self, sink: Box<dyn Sink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Hands a frame to `slot` whenever a reader asks for one (a live view).
    pub fn with_snapshot(mut self, slot: Arc<SnapshotSlot>) -> Self {
        self.snapshot = Some(slot);
        self
    }

    /// Model labels by class id (`class_N` where the model has none).
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn counter(&self) -> Option<&Counter> {
        self.counter.as_ref()
    }

    /// ByteTrack's second pass needs the low-score detections that reports leave out.
    fn set_detector_threshold(&mut self) {
        let t = match &self.tracker {
            Some(tr) => self.cfg.threshold.min(tr.config().low_threshold),
            None => self.cfg.threshold,
        };
        self.detector.set_score_threshold(t);
    }

    /// Runs until the source ends, `max_frames` were processed or a stop is requested; then
    /// finishes every sink. On a fatal error the counters stay available through
    /// [`Pipeline::summary`].
    pub fn run(&mut self) -> Result<Summary, PipelineError> {
        self.started = Instant::now();
        let result = self.frames();
        self.set_source_state(SourceState::Ended);
        // Sinks flush even after an error: what was counted must reach the disk.
        let mut finished = Ok(());
        for s in &mut self.sinks {
            if let Err(e) = s.finish() {
                if finished.is_ok() {
                    finished = Err(e);
                }
            }
        }
        result?;
        finished?;
        Ok(self.summary())
    }

    fn frames(&mut self) -> Result<(), PipelineError> {
        while self.cfg.max_frames.is_none_or(|n| self.stats.processed < n) {
            if self.stop_requested() {
                log::info!(
                    "stop requested: finishing after {} frames",
                    self.stats.processed
                );
                break;
            }
            if !self.frame()? {
                break;
            }
        }
        Ok(())
    }

    /// One frame through every stage; false when the source has ended.
    fn frame(&mut self) -> Result<bool, PipelineError> {
        // -- source
        let frame = match self.source.next_frame(self.cfg.frame_timeout) {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(false),
            Err(e) => {
                self.recover(e)?;
                return Ok(true);
            }
        };
        self.stats.consecutive_timeouts = 0;
        let index = self.stats.next_index;
        self.stats.next_index += 1;
        let (width, height, timestamp_us) = (frame.width, frame.height, frame.timestamp_us);

        // -- detect
        match self.detector.detect_timed(&frame, &mut self.detections) {
            Ok(t) => {
                self.stats.stage_us.preprocess = micros(t.preprocess);
                self.stats.stage_us.forward = micros(t.forward);
                self.stats.stage_us.decode = micros(t.decode);
            }
            Err(ModelError::Frame(e)) => {
                // A corrupt MJPEG or a short buffer spoils this frame only.
                self.stats.corrupt += 1;
                log::warn!("frame {index}: skipped: {e}");
                return Ok(true);
            }
            Err(e) => return Err(e.into()),
        }
        self.stats.processed += 1;
        // The pixels now, while the frame (borrowed from the source) is alive; its boxes
        // after tracking.
        let snapshot = self
            .snapshot
            .as_ref()
            .is_some_and(|s| s.capture(&frame, index));
        self.set_source_state(SourceState::Streaming);
        let time = self.clock.stamp(timestamp_us / 1000);
        let track_started = Instant::now();

        // -- track
        let empty = TrackerOutput {
            tracks: &[],
            removed: &[],
        };
        let tracked = match self.tracker.as_mut() {
            Some(tracker) => {
                self.track_inputs.clear();
                self.track_inputs.extend(
                    self.detections
                        .iter()
                        .map(|d| TrackInput::from_detection(d, width, height)),
                );
                tracker.update(&self.track_inputs)
            }
            None => empty,
        };

        // -- count
        if let Some(c) = self.counter.as_mut() {
            c.update(
                (width, height),
                tracked.tracks,
                tracked.removed,
                index,
                time,
            )?;
        }
        let events = self.counter.as_ref().map_or(&[][..], |c| c.events());
        self.stats.stage_us.track_count = micros(track_started.elapsed());
        let stats = run_stats(&self.stats, &*self.source, self.started);

        // -- sinks: detections above the reporting threshold (a prefix: best first)
        let shown = self
            .detections
            .iter()
            .take_while(|d| d.score >= self.cfg.threshold)
            .count();
        if let (true, Some(slot)) = (snapshot, &self.snapshot) {
            slot.complete(&self.detections[..shown], tracked.tracks);
        }
        let report = FrameReport {
            index,
            timestamp_us,
            width,
            height,
            name: self.source.frame_name(),
            detections: &self.detections[..shown],
            tracks: tracked.tracks,
            events,
            counts: self.counter.as_ref(),
            ground_truth: self.source.ground_truth(),
            labels: &self.labels,
            stats: &stats,
        };
        for s in &mut self.sinks {
            s.frame(&report)?;
        }
        if self.stats.rss_first_kb.is_none() {
            self.stats.rss_first_kb = Some(rss_kb().unwrap_or(0));
        }
        Ok(true)
    }

    /// The counters a health report shows (see [`RunStats`]).
    pub fn run_stats(&self) -> RunStats {
        run_stats(&self.stats, &*self.source, self.started)
    }

    /// Tells the sinks when the source starts streaming, is lost or ends.
    pub(super) fn set_source_state(&mut self, state: SourceState) {
        if self.stats.source_state == state {
            return;
        }
        self.stats.source_state = state;
        let stats = self.run_stats();
        for s in &mut self.sinks {
            s.source_state(&stats);
        }
    }

    pub fn summary(&self) -> Summary {
        let seconds = self.started.elapsed().as_secs_f64();
        let stats = self.source.stats();
        let processed = self.stats.processed;
        Summary {
            frames: processed,
            dropped: stats.dropped,
            corrupt: self.stats.corrupt,
            timeouts: self.stats.timeouts,
            reconnects: stats.reconnects,
            seconds,
            fps: if seconds > 0.0 {
                processed as f64 / seconds
            } else {
                0.0
            },
            stopped: self.stop_requested(),
            clock: self.clock.stats(),
            rss_kb: self
                .stats
                .rss_first_kb
                .and_then(|first| Some([first, rss_kb()?])),
            tracks: self.tracker.as_ref().map(|t| t.stats().tracks_started),
            totals: self.counter.as_ref().map(totals_json),
            sinks: self
                .sinks
                .iter()
                .filter_map(|s| s.summary())
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }
}

/// `{"door": {"crossing": {"person": {"in": 3, "out": 1}}}, "yard": {"entry": {...}}}`,
/// zero counts left out.
pub fn totals_json(c: &Counter) -> serde_json::Value {
    let mut root = serde_json::Map::new();
    for (k, n) in c.totals() {
        if *n == 0 {
            continue;
        }
        let place = root
            .entry(k.place.as_str())
            .or_insert_with(|| serde_json::json!({}));
        let kind = place
            .as_object_mut()
            .expect("an object")
            .entry(k.kind.as_str())
            .or_insert_with(|| serde_json::json!({}));
        let slot = kind.as_object_mut().expect("an object");
        match k.direction {
            Some(d) => {
                let label = slot
                    .entry(k.label.as_str())
                    .or_insert_with(|| serde_json::json!({}));
                label[d.as_str()] = (*n).into();
            }
            None => {
                slot.insert(k.label.to_string(), (*n).into());
            }
        }
    }
    root.into()
}

/// A free function of the parts it reads, so the frame loop can call it while the tracker's
/// output is still borrowed.
fn run_stats(stats: &Stats, source: &dyn FrameSource, started: Instant) -> RunStats {
    let src = source.stats();
    RunStats {
        frames: stats.processed,
        dropped: src.dropped,
        corrupt: stats.corrupt,
        timeouts: stats.timeouts,
        reconnects: src.reconnects,
        uptime_ms: started.elapsed().as_millis() as u64,
        stage_us: stats.stage_us,
        source: stats.source_state,
    }
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

/// Resident set size of this process, from /proc (Linux; None elsewhere).
pub fn rss_kb() -> Option<u64> {
    proc_status_kb("VmRSS:")
}

/// Peak resident set size of this process so far (Linux; None elsewhere).
pub fn peak_rss_kb() -> Option<u64> {
    proc_status_kb("VmHWM:")
}

fn proc_status_kb(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Pipeline {
    pub(super) fn stop_requested(&self) -> bool {
        self.cfg.stop.is_some_and(|s| s.load(Ordering::Relaxed))
    }
}
