//! The per-frame loop: source -> detector -> output, with the bookkeeping a camera that runs
//! for weeks needs (skipped corrupt frames, bounded waits, reconnects with back-off) and,
//! for synthetic scenes, a running check against the ground truth.
//!
//! Everything the loop touches is allocated in `Pipeline::new`; a steady-state frame
//! allocates nothing in our code (JSON is formatted straight into the buffered writer).

use crate::model::{Detector, ModelError};
use crate::source::{FrameSource, SourceError};
use crate::ssd::{iou, Detection, Detections};
use crate::synth::{GtObject, CLASS_NAMES};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Longest wait for one frame.
    pub frame_timeout: Duration,
    /// Stop after this many processed frames (None: until the source ends).
    pub max_frames: Option<u64>,
    /// Minimum score of reported detections.
    pub threshold: f32,
    /// Consecutive timeouts after which a live source is restarted.
    pub timeouts_before_restart: u32,
    /// First and longest pause between reconnect attempts.
    pub backoff: (Duration, Duration),
    /// Give up reconnecting after this long (None: keep trying, as a board should).
    pub reconnect_for: Option<Duration>,
    /// IoU at which a detection matches a ground-truth object.
    pub match_iou: f32,
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
            match_iou: 0.5,
            stop: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("writing results: {0}")]
    Output(#[from] io::Error),
    #[error("{source_name}: gave up reconnecting after {attempts} attempts in {:.1} s: {last}", .waited.as_secs_f32())]
    GaveUp {
        source_name: String,
        attempts: u32,
        waited: Duration,
        last: SourceError,
    },
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
    /// The run ended because `stop` was raised (SIGINT/SIGTERM), not by itself.
    pub stopped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ground_truth: Option<GtScore>,
}

/// Detections scored against the synthetic ground truth (difficult objects ignored).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct GtScore {
    pub iou: f32,
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    pub precision: f64,
    pub recall: f64,
}

pub struct Pipeline<W: Write> {
    source: Box<dyn FrameSource>,
    detector: Detector,
    out: W,
    cfg: PipelineConfig,
    detections: Detections,
    /// Model class id -> synthetic class id, by label name.
    class_map: Vec<Option<usize>>,
    /// Labels as JSON string literals, escaped once.
    labels_json: Vec<String>,
    gt_used: Vec<bool>,
    score: GtScore,
    has_gt: bool,
    next_index: u64,
    processed: u64,
    corrupt: u64,
    timeouts: u64,
    consecutive_timeouts: u32,
    started: Instant,
}

impl<W: Write> Pipeline<W> {
    pub fn new(
        source: Box<dyn FrameSource>,
        mut detector: Detector,
        out: W,
        cfg: PipelineConfig,
    ) -> Self {
        detector.set_score_threshold(cfg.threshold);
        let n = detector.meta().num_classes();
        let label = |k: usize| detector.meta().label(k).into_owned();
        let class_map = (0..n)
            .map(|k| CLASS_NAMES.iter().position(|c| *c == label(k)))
            .collect();
        let labels_json = (0..n)
            .map(|k| serde_json::to_string(&label(k)).expect("a string serialises"))
            .collect();
        Self {
            source,
            detector,
            out,
            score: GtScore {
                iou: cfg.match_iou,
                ..GtScore::default()
            },
            cfg,
            detections: Detections::new(),
            class_map,
            labels_json,
            gt_used: Vec::with_capacity(256),
            has_gt: false,
            next_index: 0,
            processed: 0,
            corrupt: 0,
            timeouts: 0,
            consecutive_timeouts: 0,
            started: Instant::now(),
        }
    }

    pub fn source(&self) -> &dyn FrameSource {
        self.source.as_ref()
    }

    /// Runs until the source ends or `max_frames` were processed. On a fatal error the
    /// counters stay available through [`Pipeline::summary`].
    pub fn run(&mut self) -> Result<Summary, PipelineError> {
        self.started = Instant::now();
        while self.cfg.max_frames.is_none_or(|n| self.processed < n) {
            if self.stop_requested() {
                log::info!("stop requested: finishing after {} frames", self.processed);
                break;
            }
            let frame = match self.source.next_frame(self.cfg.frame_timeout) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    self.recover(e)?;
                    continue;
                }
            };
            self.consecutive_timeouts = 0;
            let index = self.next_index;
            self.next_index += 1;
            let (width, height, timestamp_us) = (frame.width, frame.height, frame.timestamp_us);

            match self.detector.detect(&frame, &mut self.detections) {
                Ok(()) => {}
                Err(ModelError::Frame(e)) => {
                    // A corrupt MJPEG or a short buffer spoils this frame only.
                    self.corrupt += 1;
                    log::warn!("frame {index}: skipped: {e}");
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            self.processed += 1;

            if let Some(gt) = self.source.ground_truth() {
                self.has_gt = true;
                score_frame(
                    &self.detections,
                    gt,
                    (width, height),
                    &self.class_map,
                    &mut self.gt_used,
                    &mut self.score,
                );
            }
            let name = self.source.frame_name();
            write_frame(
                &mut self.out,
                index,
                timestamp_us,
                (width, height),
                name,
                &self.detections,
                &self.labels_json,
            )?;
        }
        Ok(self.summary())
    }

    /// Decides what a source error means for the run: skip a frame, wait again, reconnect,
    /// or stop.
    fn recover(&mut self, e: SourceError) -> Result<(), PipelineError> {
        if e.is_skippable() {
            self.next_index += 1;
            self.corrupt += 1;
            log::warn!("skipped frame: {e}");
            return Ok(());
        }
        if e.is_timeout() {
            self.timeouts += 1;
            self.consecutive_timeouts += 1;
            log::warn!("{e} ({} in a row)", self.consecutive_timeouts);
            if self.consecutive_timeouts >= self.cfg.timeouts_before_restart {
                log::warn!("{}: restarting the stream", self.source.describe());
                self.consecutive_timeouts = 0;
                return self.reconnect(e);
            }
            return Ok(());
        }
        if e.is_disconnect() {
            log::warn!("{e}; reconnecting");
            return self.reconnect(e);
        }
        Err(e.into())
    }

    /// Re-opens the source with exponential back-off. Counters and the frame index carry on.
    fn reconnect(&mut self, cause: SourceError) -> Result<(), PipelineError> {
        let began = Instant::now();
        let (mut delay, max_delay) = self.cfg.backoff;
        let mut last = cause;
        for attempt in 1u32.. {
            // Back-off in short naps, so a stop request is not held up by a 5 s pause.
            let resume = Instant::now() + delay;
            while Instant::now() < resume {
                if self.stop_requested() {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(50).min(delay));
            }
            match self.source.reconnect() {
                Ok(()) => {
                    log::info!(
                        "reconnected after {attempt} attempt(s) in {:.1} s: {}",
                        began.elapsed().as_secs_f32(),
                        self.source.describe()
                    );
                    return Ok(());
                }
                Err(
                    e @ (SourceError::DeviceMissing { .. }
                    | SourceError::Disconnected { .. }
                    | SourceError::DeviceBusy { .. }
                    | SourceError::Io { .. }
                    | SourceError::Timeout { .. }),
                ) => {
                    if self
                        .cfg
                        .reconnect_for
                        .is_some_and(|limit| began.elapsed() >= limit)
                    {
                        return Err(PipelineError::GaveUp {
                            source_name: self.source.describe(),
                            attempts: attempt,
                            waited: began.elapsed(),
                            last: e,
                        });
                    }
                    delay = (delay * 2).min(max_delay);
                    log::warn!(
                        "reconnect attempt {attempt} failed: {e}; next in {} ms",
                        delay.as_millis()
                    );
                    last = e;
                }
                Err(e) => {
                    log::error!("cannot reconnect after: {last}");
                    return Err(e.into());
                }
            }
        }
        unreachable!("the attempt counter is unbounded")
    }

    fn stop_requested(&self) -> bool {
        self.cfg.stop.is_some_and(|s| s.load(Ordering::Relaxed))
    }

    pub fn summary(&self) -> Summary {
        let seconds = self.started.elapsed().as_secs_f64();
        let stats = self.source.stats();
        Summary {
            frames: self.processed,
            dropped: stats.dropped,
            corrupt: self.corrupt,
            timeouts: self.timeouts,
            reconnects: stats.reconnects,
            seconds,
            fps: if seconds > 0.0 {
                self.processed as f64 / seconds
            } else {
                0.0
            },
            stopped: self.stop_requested(),
            ground_truth: self.has_gt.then_some(self.score),
        }
    }
}

/// Greedy matching, best detection first, as the VOC protocol does per image.
fn score_frame(
    dets: &[Detection],
    gt: &[GtObject],
    (width, height): (u32, u32),
    class_map: &[Option<usize>],
    used: &mut Vec<bool>,
    score: &mut GtScore,
) {
    used.clear();
    used.resize(gt.len(), false);
    let (w, h) = (width as f32, height as f32);
    for det in dets {
        let class = class_map.get(det.class_id as usize).copied().flatten();
        let b = det.bbox;
        let px = [b[0] * w, b[1] * h, b[2] * w, b[3] * h];
        let mut best = (score.iou, None);
        for (i, g) in gt.iter().enumerate() {
            if Some(g.class_id) != class || used[i] {
                continue;
            }
            let o = iou(&px, &g.bbox);
            if o >= best.0 {
                best = (o, Some(i));
            }
        }
        match best.1 {
            Some(i) => {
                used[i] = true;
                if !gt[i].difficult {
                    score.true_positives += 1;
                }
            }
            None => score.false_positives += 1,
        }
    }
    score.false_negatives += gt
        .iter()
        .zip(used.iter())
        .filter(|(g, u)| !g.difficult && !**u)
        .count() as u64;
    let (tp, fp, fneg) = (
        score.true_positives as f64,
        score.false_positives as f64,
        score.false_negatives as f64,
    );
    score.precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    score.recall = if tp + fneg > 0.0 {
        tp / (tp + fneg)
    } else {
        0.0
    };
}

/// One JSON line per frame, boxes in pixels of the frame (as `ssd-edge detect` prints them).
fn write_frame<W: Write>(
    out: &mut W,
    index: u64,
    timestamp_us: u64,
    (width, height): (u32, u32),
    name: Option<&str>,
    dets: &[Detection],
    labels_json: &[String],
) -> io::Result<()> {
    write!(
        out,
        "{{\"frame\":{index},\"timestamp_us\":{timestamp_us},\"width\":{width},\"height\":{height}"
    )?;
    if let Some(name) = name {
        write!(out, ",\"source\":")?;
        serde_json::to_writer(&mut *out, name)?;
    }
    write!(out, ",\"detections\":[")?;
    let (w, h) = (width as f32, height as f32);
    for (i, d) in dets.iter().enumerate() {
        let label = labels_json
            .get(d.class_id as usize)
            .map_or("null", |s| s.as_str());
        let px = |v: f32, s: f32| ((v * s).clamp(0.0, s) * 100.0).round() / 100.0;
        write!(
            out,
            "{}{{\"class_id\":{},\"label\":{label},\"score\":{:.4},\"box\":[{},{},{},{}]}}",
            if i > 0 { "," } else { "" },
            d.class_id,
            d.score,
            px(d.bbox[0], w),
            px(d.bbox[1], h),
            px(d.bbox[2], w),
            px(d.bbox[3], h),
        )?;
    }
    writeln!(out, "]}}")?;
    out.flush()
}
