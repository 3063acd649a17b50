//! Scores a synthetic run against the scene's ground truth: detections (precision/recall per
//! frame, difficult objects ignored) and the sequence's true line crossings, so `make run`
//! shows the counted totals next to the true ones.

use super::{FrameReport, Sink, SinkError};
use crate::ssd::{iou, Detection};
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
    used: Vec<bool>,
    /// True crossings of the sequence's line: [class][left_to_right, right_to_left].
    crossings: [[u64; 2]; NUM_CLASSES],
    line_x: Option<f32>,
    frames: u64,
}

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
            used: Vec::with_capacity(256),
            crossings: [[0; 2]; NUM_CLASSES],
            line_x: None,
            frames: 0,
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
            &mut self.used,
            &mut self.score,
        );
        for c in gt.crossings {
            let d = match c.direction {
                SynthDirection::LeftToRight => 0,
                SynthDirection::RightToLeft => 1,
            };
            self.crossings[c.class_id][d] += 1;
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
