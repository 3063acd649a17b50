//! Scores a synthetic run against the scene's ground truth: detections (precision/recall per
//! frame, difficult objects ignored) and the sequence's true line crossings. In the summary
//! line (`ground_truth`), and logged when the run ends next to the crossings each line counted,
//! so `make run-synth` shows counted against true without another tool.

use super::{FrameReport, Sink, SinkError};
use crate::count::{Direction, EventKind, Name};
use crate::ssd::{match_detections, Detection, GtBox, VocRule};
use crate::synth::{Direction as SynthDirection, GtObject, CLASS_NAMES, NUM_CLASSES};
use serde_json::json;

/// Detections scored against the synthetic ground truth.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct GtScore {
    pub iou: f32,
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    pub precision: f64,
    pub recall: f64,
}

pub struct GroundTruthSink {
    score: GtScore,
    /// Model class id -> synthetic class id, by label name.
    class_map: Vec<Option<usize>>,
    buffers: (Vec<GtBox>, Vec<bool>),
    /// True crossings of the sequence's line: [class][left_to_right, right_to_left].
    crossings: [[u64; 2]; NUM_CLASSES],
    line_x: Option<f32>,
    frames: u64,
    /// Crossings each line counted, [class][in, out] of the synthetic classes, in the order
    /// the lines first counted one; room for `LINES` lines is made at start-up.
    counted: Vec<(Name, [[u64; 2]; NUM_CLASSES])>,
}

/// Lines whose counts the closing log sets beside the truth without allocating on the way.
const LINES: usize = 8;

impl GroundTruthSink {
    /// `labels`: the model's, by class id.
    pub fn new(labels: &[String], match_iou: f32) -> Self {
        GroundTruthSink {
            score: GtScore {
                iou: match_iou,
                ..GtScore::default()
            },
            class_map: labels
                .iter()
                .map(|l| CLASS_NAMES.iter().position(|c| c == l))
                .collect(),
            buffers: (Vec::with_capacity(256), Vec::with_capacity(256)),
            crossings: [[0; 2]; NUM_CLASSES],
            line_x: None,
            frames: 0,
            counted: Vec::with_capacity(LINES),
        }
    }

    pub fn score(&self) -> Option<GtScore> {
        (self.frames > 0).then_some(self.score)
    }

    /// True crossings per synthetic class: (left_to_right, right_to_left).
    pub fn crossings(&self) -> &[[u64; 2]; NUM_CLASSES] {
        &self.crossings
    }
}

impl Sink for GroundTruthSink {
    fn frame(&mut self, r: &FrameReport<'_>) -> Result<(), SinkError> {
        let Some(gt) = r.ground_truth else {
            return Ok(());
        };
        self.frames += 1;
        self.line_x = Some(gt.line_x);
        score_frame(
            r.detections,
            gt.objects,
            (r.width, r.height),
            &self.class_map,
            &mut self.buffers,
            &mut self.score,
        );
        for c in gt.crossings {
            let d = match c.direction {
                SynthDirection::LeftToRight => 0,
                SynthDirection::RightToLeft => 1,
            };
            self.crossings[c.class_id][d] += 1;
        }
        for e in r.events.iter().filter(|e| e.kind == EventKind::Crossing) {
            let Some(class) = CLASS_NAMES.iter().position(|c| *c == e.label.as_str()) else {
                continue;
            };
            let d = usize::from(e.direction == Some(Direction::Out));
            let at = match self.counted.iter().position(|(line, _)| *line == e.place) {
                Some(at) => at,
                None => {
                    self.counted.push((e.place.clone(), [[0; 2]; NUM_CLASSES]));
                    self.counted.len() - 1
                }
            };
            self.counted[at].1[class][d] += 1;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let (Some(score), Some(x)) = (self.score(), self.line_x) else {
            return Ok(());
        };
        let per_class = |n: &[[u64; 2]; NUM_CLASSES]| {
            CLASS_NAMES
                .iter()
                .zip(n)
                .map(|(c, [a, b])| format!("{c} {a} / {b}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        log::info!(
            "synthetic ground truth, {} frames: detections precision {:.3}, recall {:.3} (IoU {})",
            self.frames,
            score.precision,
            score.recall,
            score.iou
        );
        log::info!(
            "true crossings of x = {x:.0} px, left to right / right to left: {}",
            per_class(&self.crossings)
        );
        for (line, n) in &self.counted {
            log::info!("counted on line {line}, in / out: {}", per_class(n));
        }
        Ok(())
    }

    fn summary(&self) -> Option<(&'static str, serde_json::Value)> {
        let score = self.score()?;
        let crossings: serde_json::Map<_, _> = CLASS_NAMES
            .iter()
            .zip(&self.crossings)
            .map(|(c, n)| {
                (
                    c.to_string(),
                    json!({"left_to_right": n[0], "right_to_left": n[1]}),
                )
            })
            .collect();
        Some((
            "ground_truth",
            json!({
                "detections": score,
                "line_x": self.line_x,
                "crossings": crossings,
            }),
        ))
    }
}

/// The VOC protocol's per-image matching (the one `ssd-train eval` uses), accumulated.
fn score_frame(
    dets: &[Detection],
    gt: &[GtObject],
    (width, height): (u32, u32),
    class_map: &[Option<usize>],
    buffers: &mut (Vec<GtBox>, Vec<bool>),
    score: &mut GtScore,
) {
    let (gts, taken) = buffers;
    gts.clear();
    gts.extend(gt.iter().map(GtBox::from));
    let (w, h) = (width as f32, height as f32);
    let rule = VocRule {
        iou_threshold: score.iou,
        ..VocRule::default()
    };
    let dets = dets.iter().map(|d| {
        let b = d.bbox;
        // a model class with no synthetic counterpart matches nothing: a false positive
        let class = class_map
            .get(d.class_id as usize)
            .copied()
            .flatten()
            .unwrap_or(usize::MAX);
        (class, d.score, [b[0] * w, b[1] * h, b[2] * w, b[3] * h])
    });
    let c = match_detections(dets, gts, &rule, taken);
    score.true_positives += c.true_positives;
    score.false_positives += c.false_positives;
    score.false_negatives += c.false_negatives;
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
