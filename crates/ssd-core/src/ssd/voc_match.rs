//! Scoring detections against ground truth with the Pascal VOC rule (the devkit's `VOCevaldet`,
//! py-faster-rcnn's `voc_eval`), the one matcher for the trainer's mAP (`ssd-train`'s
//! `eval::voc`) and the board's ground-truth score: detections in decreasing score order; each
//! takes the ground truth of its class with the highest overlap (the first maximum, taken or
//! not); overlap strictly above the threshold and not yet taken -> true positive; taken ->
//! false positive (a duplicate); difficult -> ignored; no overlap above the threshold -> false
//! positive.

use super::iou::iou;
use super::CornerBox;

/// One ground-truth object; `bbox` in the same units as the detections' boxes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GtBox {
    pub class_id: usize,
    pub bbox: CornerBox,
    pub difficult: bool,
}

/// What one detection counts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOutcome {
    TruePositive,
    FalsePositive,
    /// Its best match is a difficult object: neither true nor false positive.
    Ignored,
}

/// The matching parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VocRule {
    /// A match needs an overlap strictly above this (VOC: 0.5).
    pub iou_threshold: f32,
    /// Add 1 to widths and heights, as the devkit does for inclusive pixel boxes. Off for
    /// continuous (normalised or exclusive-end) boxes.
    pub plus_one: bool,
}

impl Default for VocRule {
    fn default() -> Self {
        VocRule {
            iou_threshold: 0.5,
            plus_one: false,
        }
    }
}

impl VocRule {
    pub fn overlap(&self, a: &CornerBox, b: &CornerBox) -> f32 {
        if self.plus_one {
            // Inclusive ends: [x0, x1] covers x1 - x0 + 1 pixels.
            iou(
                &[a[0], a[1], a[2] + 1.0, a[3] + 1.0],
                &[b[0], b[1], b[2] + 1.0, b[3] + 1.0],
            )
        } else {
            iou(a, b)
        }
    }

    /// The VOC rule for one detection of `class_id` against one image's ground truth;
    /// `taken[i]` says whether `gts[i]` was already matched (by a higher-scored detection) and
    /// is set when this detection takes it. Call in decreasing score order.
    pub fn match_one(
        &self,
        class_id: usize,
        bbox: &CornerBox,
        gts: &[GtBox],
        taken: &mut [bool],
    ) -> MatchOutcome {
        debug_assert_eq!(gts.len(), taken.len());
        let mut best: Option<(usize, f32)> = None;
        for (i, g) in gts.iter().enumerate() {
            if g.class_id != class_id {
                continue;
            }
            let o = self.overlap(bbox, &g.bbox);
            // The first maximum wins, as numpy's argmax.
            if best.is_none_or(|(_, b)| o > b) {
                best = Some((i, o));
            }
        }
        match best {
            Some((i, o)) if o > self.iou_threshold => {
                if gts[i].difficult {
                    MatchOutcome::Ignored
                } else if taken[i] {
                    MatchOutcome::FalsePositive
                } else {
                    taken[i] = true;
                    MatchOutcome::TruePositive
                }
            }
            _ => MatchOutcome::FalsePositive,
        }
    }
}

/// One frame's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameCounts {
    pub true_positives: u64,
    pub false_positives: u64,
    /// Non-difficult objects no detection took.
    pub false_negatives: u64,
    /// Detections whose best match is a difficult object.
    pub ignored: u64,
}

/// Scores one frame's detections, `(class_id, score, bbox)` in decreasing score order (the
/// decoder's output order), against its ground truth. `taken` is a reused buffer: it
/// allocates only when a frame has more objects than any before. A detection scored above the
/// one before it is scored in the given order (debug builds assert the order).
pub fn match_detections(
    dets: impl IntoIterator<Item = (usize, f32, CornerBox)>,
    gts: &[GtBox],
    rule: &VocRule,
    taken: &mut Vec<bool>,
) -> FrameCounts {
    taken.clear();
    taken.resize(gts.len(), false);
    let mut counts = FrameCounts::default();
    let mut last = f32::INFINITY;
    for (class_id, score, bbox) in dets {
        // Only a score above the previous one is out of order (NaN compares as unordered).
        debug_assert!(
            score.partial_cmp(&last) != Some(std::cmp::Ordering::Greater),
            "detections out of score order"
        );
        last = score;
        match rule.match_one(class_id, &bbox, gts, taken) {
            MatchOutcome::TruePositive => counts.true_positives += 1,
            MatchOutcome::FalsePositive => counts.false_positives += 1,
            MatchOutcome::Ignored => counts.ignored += 1,
        }
    }
    counts.false_negatives = gts
        .iter()
        .zip(taken.iter())
        .filter(|(g, t)| !g.difficult && !**t)
        .count() as u64;
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gt(class_id: usize, bbox: CornerBox, difficult: bool) -> GtBox {
        GtBox {
            class_id,
            bbox,
            difficult,
        }
    }

    const RULE: VocRule = VocRule {
        iou_threshold: 0.5,
        plus_one: false,
    };

    #[test]
    fn each_detection_takes_its_best_overlap() {
        // The first detection overlaps gt 0 at 0.73 and gt 1 at 0.9: it takes gt 1, which
        // leaves gt 0 to the second.
        let gts = [
            gt(0, [0.0, 0.0, 10.0, 10.0], false),
            gt(0, [2.0, 0.0, 12.0, 10.0], false),
        ];
        let dets = [
            (0, 0.9, [2.0, 0.0, 11.0, 10.0]),
            (0, 0.8, [0.0, 0.0, 10.0, 10.0]),
        ];
        let mut taken = Vec::new();
        let c = match_detections(dets, &gts, &RULE, &mut taken);
        assert_eq!(
            c,
            FrameCounts {
                true_positives: 2,
                ..Default::default()
            }
        );
    }

    #[test]
    fn taken_best_match_is_a_duplicate_even_if_another_is_free() {
        // Both detections' best is gt 0 (IoU 1 and 0.8); gt 1 overlaps the second at 0.55 but
        // VOC never falls back to a second-best match.
        let gts = [
            gt(0, [0.0, 0.0, 10.0, 10.0], false),
            gt(0, [1.5, 0.0, 11.5, 10.0], false),
        ];
        let a = RULE.overlap(&[0.0, 0.0, 10.0, 8.0], &gts[0].bbox);
        let b = RULE.overlap(&[0.0, 0.0, 10.0, 8.0], &gts[1].bbox);
        assert!(a > b && b > 0.5, "{a} {b}");
        let dets = [
            (0, 0.9, [0.0, 0.0, 10.0, 10.0]),
            (0, 0.8, [0.0, 0.0, 10.0, 8.0]),
        ];
        let c = match_detections(dets, &gts, &RULE, &mut Vec::new());
        assert_eq!((c.true_positives, c.false_positives), (1, 1));
        assert_eq!(c.false_negatives, 1);
    }

    #[test]
    fn threshold_is_strict_classes_separate_difficult_ignored() {
        let gts = [
            gt(0, [0.0, 0.0, 10.0, 10.0], false),
            gt(1, [20.0, 0.0, 30.0, 10.0], true),
            gt(1, [40.0, 0.0, 50.0, 10.0], false),
        ];
        let dets = [
            // IoU exactly 0.5 with gt 0: not a match.
            (0, 0.9, [0.0, 0.0, 10.0, 5.0]),
            // Right box, wrong class.
            (1, 0.8, [0.0, 0.0, 10.0, 10.0]),
            // On the difficult object, twice: ignored both times.
            (1, 0.7, [20.0, 0.0, 30.0, 10.0]),
            (1, 0.6, [20.0, 0.0, 30.0, 10.0]),
        ];
        let c = match_detections(dets, &gts, &RULE, &mut vec![true; 9]);
        assert_eq!(
            c,
            FrameCounts {
                true_positives: 0,
                false_positives: 2,
                false_negatives: 2,
                ignored: 2,
            }
        );
        // With the devkit's +1 pixel convention the first overlaps 66/121 > 0.5.
        let plus_one = VocRule {
            plus_one: true,
            ..RULE
        };
        let c = match_detections(dets[..1].iter().copied(), &gts, &plus_one, &mut Vec::new());
        assert_eq!(c.true_positives, 1);
    }

    #[test]
    fn reused_buffer_does_not_carry_over_between_frames() {
        let gts = [gt(0, [0.0, 0.0, 10.0, 10.0], false)];
        let det = [(0, 0.9, [0.0, 0.0, 10.0, 10.0])];
        let mut taken = Vec::with_capacity(4);
        for _ in 0..3 {
            let c = match_detections(det, &gts, &RULE, &mut taken);
            assert_eq!((c.true_positives, c.false_positives), (1, 0));
        }
        let none = match_detections([], &gts, &RULE, &mut taken);
        assert_eq!(none.false_negatives, 1);
        assert_eq!(taken.capacity(), 4);
    }
}
