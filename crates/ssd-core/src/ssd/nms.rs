//! Greedy non-maximum suppression with ssd.pytorch's semantics.

use serde::{Deserialize, Serialize};

use super::iou::{area, intersection};
use super::CornerBox;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NmsConfig {
    /// A class score must be strictly above this to be a candidate.
    pub score_threshold: f32,
    /// A box is suppressed when its IoU with a kept box is strictly above this.
    pub iou_threshold: f32,
    /// Highest-scoring candidates per class considered by NMS.
    pub top_k: usize,
    /// Detections kept per image over all classes (capped at `MAX_DETECTIONS`).
    pub keep_top_k: usize,
    /// Schema 3: each box competes with its best class only, and boxes of different classes
    /// suppress each other (TensorFlow's coco-ssd, MediaPipe). Default: per-class NMS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub class_agnostic: bool,
}

impl Default for NmsConfig {
    fn default() -> Self {
        Self {
            score_threshold: 0.01,
            iou_threshold: 0.45,
            top_k: 200,
            keep_top_k: 200,
            class_agnostic: false,
        }
    }
}

/// A scored box index; ordered best first by score, then by lower index so ties are
/// deterministic with unstable (allocation-free) sorts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Candidate {
    pub score: f32,
    pub index: u32,
}

#[inline]
pub(crate) fn best_first(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    b.score.total_cmp(&a.score).then(a.index.cmp(&b.index))
}

/// Keeps only the `top_k` best candidates, sorted best first, in place and without allocating:
/// ssd.pytorch considers only the `top_k` highest scores of a class before suppression.
pub(crate) fn top_k_sorted(cands: &mut Vec<Candidate>, top_k: usize) {
    if cands.len() > top_k && top_k > 0 {
        cands.select_nth_unstable_by(top_k - 1, best_first);
    }
    cands.truncate(top_k);
    cands.sort_unstable_by(best_first);
}

/// Keeps the `top_k` best candidates in any order (selection only, no sort).
pub(crate) fn top_k_unsorted(cands: &mut Vec<Candidate>, top_k: usize) {
    if cands.len() > top_k && top_k > 0 {
        cands.select_nth_unstable_by(top_k - 1, best_first);
    }
    cands.truncate(top_k);
}

/// Whether `b` survives the boxes kept so far (ssd.pytorch: union = (area_rem - inter) +
/// area_kept; keep iff IoU <= threshold, so a NaN overlap of two empty boxes suppresses).
#[inline]
pub(crate) fn survives(b: &CornerBox, kept: &[(CornerBox, f32)], iou_threshold: f32) -> bool {
    let b_area = area(b);
    kept.iter().all(|(k, k_area)| {
        let inter = intersection(k, b);
        inter / ((b_area - inter) + k_area) <= iou_threshold
    })
}

/// Greedy NMS over `sorted` (best first): a candidate survives unless its IoU with an already
/// kept box is above `iou_threshold`. Survivors are written to `kept` (cleared first); its
/// capacity must be at least `sorted.len()` for the no-allocation guarantee. `kept_boxes`
/// is scratch of the same capacity holding survivors' boxes contiguously for the inner loop.
pub(crate) fn suppress(
    sorted: &[Candidate],
    boxes: &[CornerBox],
    iou_threshold: f32,
    kept: &mut Vec<Candidate>,
    kept_boxes: &mut Vec<(CornerBox, f32)>,
) {
    kept.clear();
    kept_boxes.clear();
    for cand in sorted {
        let b = &boxes[cand.index as usize];
        if survives(b, kept_boxes, iou_threshold) {
            kept.push(*cand);
            kept_boxes.push((*b, area(b)));
        }
    }
}

/// Indices of the boxes NMS keeps, best score first: scores sorted, the `top_k` best
/// considered, suppression above `iou_threshold`. Allocates; the per-frame path is
/// [`Decoder`](super::Decoder), which runs the same code on preallocated buffers.
pub fn nms(boxes: &[CornerBox], scores: &[f32], iou_threshold: f32, top_k: usize) -> Vec<usize> {
    let mut cands: Vec<Candidate> = scores
        .iter()
        .take(boxes.len())
        .enumerate()
        .map(|(i, &score)| Candidate {
            score,
            index: i as u32,
        })
        .collect();
    top_k_sorted(&mut cands, top_k);
    let mut kept = Vec::with_capacity(cands.len());
    let mut kept_boxes = Vec::with_capacity(cands.len());
    suppress(&cands, boxes, iou_threshold, &mut kept, &mut kept_boxes);
    kept.iter().map(|c| c.index as usize).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppresses_overlap_above_threshold_only() {
        let boxes = [
            [0.0, 0.0, 1.0, 1.0],
            [0.0, 0.0, 1.0, 0.9], // IoU 0.9 with box 0
            [0.5, 0.0, 1.5, 1.0], // IoU 1/3 with box 0
            [2.0, 2.0, 3.0, 3.0],
        ];
        let scores = [0.9, 0.8, 0.7, 0.95];
        assert_eq!(nms(&boxes, &scores, 0.45, 200), vec![3, 0, 2]);
        // Exactly at the threshold survives (ssd.pytorch keeps IoU <= threshold).
        assert_eq!(nms(&boxes, &scores, 1.0 / 3.0 + 1e-7, 200), vec![3, 0, 2]);
        assert_eq!(nms(&boxes, &scores, 0.3, 200), vec![3, 0]);
    }

    #[test]
    fn only_top_k_scores_are_considered() {
        let boxes = [
            [0.0, 0.0, 1.0, 1.0],
            [2.0, 2.0, 3.0, 3.0],
            [4.0, 4.0, 5.0, 5.0],
        ];
        assert_eq!(nms(&boxes, &[0.1, 0.3, 0.2], 0.45, 2), vec![1, 2]);
    }
}
