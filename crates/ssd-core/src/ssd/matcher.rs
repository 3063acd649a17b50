//! Training target assignment, as ssd.pytorch's `match`.

use super::iou::{area, intersection};
use super::{center_to_corner, encode, CenterBox, CornerBox, Variances};

/// Assigns each prior a class target (`conf_t`: 0 background, `label + 1` otherwise) and the
/// encoded offsets of its matched truth (`loc_t`, filled for every prior; only positives are
/// meaningful).
///
/// Each truth first claims its best prior (positive even below `threshold`; a later truth wins
/// a prior two truths claim); every other prior takes its best truth when the overlap is at
/// least `threshold` (ssd.pytorch zeroes `overlap < threshold`). Ties go to the lower index.
/// With no truths every prior is background.
///
/// # Panics
/// If `labels` and `truths`, or `conf_t`, `loc_t` and `priors`, differ in length: those are
/// sized by the caller, so a mismatch is a bug, not bad input.
pub fn match_priors(
    truths: &[CornerBox],
    labels: &[usize],
    priors: &[CenterBox],
    threshold: f32,
    v: Variances,
    conf_t: &mut [i64],
    loc_t: &mut [[f32; 4]],
) {
    assert_eq!(truths.len(), labels.len(), "one label per truth");
    assert_eq!(
        conf_t.len(),
        priors.len(),
        "conf_t needs one entry per prior"
    );
    assert_eq!(loc_t.len(), priors.len(), "loc_t needs one entry per prior");
    if truths.is_empty() {
        conf_t.fill(0);
        loc_t.fill([0.0; 4]);
        return;
    }
    let truth_areas: Vec<f32> = truths.iter().map(area).collect();
    // Per truth: (best overlap, best prior). Per prior: best truth index in conf_t and its
    // overlap in loc_t[p][0], reused as scratch to avoid allocating P-sized buffers.
    let mut best_prior = vec![(f32::NEG_INFINITY, 0usize); truths.len()];
    for (p, prior) in priors.iter().enumerate() {
        let pc = center_to_corner(prior);
        let prior_area = area(&pc);
        let (mut best, mut best_t) = (f32::NEG_INFINITY, 0usize);
        for (t, truth) in truths.iter().enumerate() {
            let inter = intersection(truth, &pc);
            let overlap = inter / (truth_areas[t] + prior_area - inter);
            if overlap > best {
                (best, best_t) = (overlap, t);
            }
            if overlap > best_prior[t].0 {
                best_prior[t] = (overlap, p);
            }
        }
        conf_t[p] = best_t as i64;
        loc_t[p][0] = best;
    }
    for (t, &(_, p)) in best_prior.iter().enumerate() {
        conf_t[p] = t as i64;
        loc_t[p][0] = 2.0;
    }
    for (p, prior) in priors.iter().enumerate() {
        let t = conf_t[p] as usize;
        let positive = loc_t[p][0] >= threshold;
        conf_t[p] = if positive { labels[t] as i64 + 1 } else { 0 };
        loc_t[p] = encode(&truths[t], prior, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_prior_is_forced_positive() {
        let priors = [[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5]];
        // Overlaps prior 1 only a little: below threshold, yet forced positive.
        let truths = [[0.6, 0.6, 0.7, 0.7]];
        let (mut conf, mut loc) = ([9i64; 2], [[9.0f32; 4]; 2]);
        match_priors(
            &truths,
            &[4],
            &priors,
            0.5,
            Variances::default(),
            &mut conf,
            &mut loc,
        );
        assert_eq!(conf, [0, 5]);
        assert!(loc[1].iter().all(|v| v.is_finite()));
    }

    #[test]
    fn no_truths_means_all_background() {
        let priors = [[0.5, 0.5, 0.2, 0.2]];
        let (mut conf, mut loc) = ([3i64], [[1.0f32; 4]]);
        match_priors(
            &[],
            &[],
            &priors,
            0.5,
            Variances::default(),
            &mut conf,
            &mut loc,
        );
        assert_eq!((conf, loc), ([0], [[0.0; 4]]));
    }
}
