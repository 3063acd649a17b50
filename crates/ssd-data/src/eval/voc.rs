//! Pascal VOC average precision as the devkit (and py-faster-rcnn's `voc_eval`) defines it:
//! detections of a class sorted by score, each matched in its image by the board's VOC rule
//! (`ssd_core::ssd::VocRule::match_one`: the ground truth of highest overlap; overlap >
//! threshold and not yet taken -> true positive, taken -> false positive (duplicate),
//! difficult -> ignored; otherwise false positive). AP is the 11-point interpolated precision
//! (VOC2007) or the area under the monotone precision envelope (VOC2010+ "all points").

use ssd_core::ssd::{GtBox, MatchOutcome};

#[derive(Clone, Debug)]
pub struct VocGt {
    pub image: usize,
    pub class_id: usize,
    /// x0, y0, x1, y1
    pub bbox: [f64; 4],
    pub difficult: bool,
}

#[derive(Clone, Debug)]
pub struct VocDet {
    pub image: usize,
    pub class_id: usize,
    pub score: f64,
    pub bbox: [f64; 4],
}

/// The per-image matching rule, shared with the board's ground-truth score.
pub type VocParams = ssd_core::ssd::VocRule;

#[derive(Clone, Debug, PartialEq)]
pub struct VocClassResult {
    /// None when the class has no non-difficult ground truth (the devkit's NaN).
    pub ap07: Option<f64>,
    pub ap_all: Option<f64>,
    pub npos: usize,
    pub detections: usize,
    pub true_positives: usize,
}

/// AP per class for classes 0..num_classes.
pub fn voc_eval(
    gts: &[VocGt],
    dets: &[VocDet],
    num_classes: usize,
    p: VocParams,
) -> Vec<VocClassResult> {
    (0..num_classes)
        .map(|c| eval_class(gts, dets, c, p))
        .collect()
}

/// Mean over classes that have ground truth; None if none has.
pub fn mean_ap(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn eval_class(gts: &[VocGt], dets: &[VocDet], c: usize, p: VocParams) -> VocClassResult {
    use std::collections::HashMap;
    // Per image: its ground truth of class c and which of it is taken.
    let mut by_image: HashMap<usize, (Vec<GtBox>, Vec<bool>)> = HashMap::new();
    let mut npos = 0;
    for g in gts.iter().filter(|g| g.class_id == c) {
        npos += !g.difficult as usize;
        let (boxes, taken) = by_image.entry(g.image).or_default();
        boxes.push(GtBox {
            class_id: c,
            bbox: g.bbox.map(|v| v as f32),
            difficult: g.difficult,
        });
        taken.push(false);
    }
    let mut ds: Vec<&VocDet> = dets.iter().filter(|d| d.class_id == c).collect();
    ds.sort_by(|a, b| {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let (mut tp, mut fp) = (Vec::with_capacity(ds.len()), Vec::with_capacity(ds.len()));
    for d in &ds {
        let outcome = match by_image.get_mut(&d.image) {
            Some((boxes, taken)) => p.match_one(c, &d.bbox.map(|v| v as f32), boxes, taken),
            None => MatchOutcome::FalsePositive,
        };
        let (t, f) = match outcome {
            MatchOutcome::TruePositive => (1.0, 0.0),
            MatchOutcome::FalsePositive => (0.0, 1.0),
            MatchOutcome::Ignored => (0.0, 0.0),
        };
        tp.push(t);
        fp.push(f);
    }
    let mut acc_t = 0.0;
    let mut acc_f = 0.0;
    let mut rec = Vec::with_capacity(tp.len());
    let mut prec = Vec::with_capacity(tp.len());
    for (t, f) in tp.iter().zip(&fp) {
        acc_t += t;
        acc_f += f;
        rec.push(acc_t / npos as f64);
        prec.push(acc_t / (acc_t + acc_f).max(f64::EPSILON));
    }
    let (ap07, ap_all) = if npos == 0 {
        (None, None)
    } else {
        (
            Some(ap_11_point(&rec, &prec)),
            Some(ap_all_points(&rec, &prec)),
        )
    };
    VocClassResult {
        ap07,
        ap_all,
        npos,
        detections: ds.len(),
        true_positives: acc_t as usize,
    }
}

/// VOC2007: mean over t = 0, 0.1, ..., 1 of the best precision at recall >= t.
pub fn ap_11_point(rec: &[f64], prec: &[f64]) -> f64 {
    let mut ap = 0.0;
    for i in 0..11 {
        // numpy.arange(0., 1.1, 0.1): i * 0.1
        let t = i as f64 * 0.1;
        let p = rec
            .iter()
            .zip(prec)
            .filter(|(r, _)| **r >= t)
            .map(|(_, p)| *p)
            .fold(None, |m: Option<f64>, p| Some(m.map_or(p, |m| m.max(p))))
            .unwrap_or(0.0);
        ap += p / 11.0;
    }
    ap
}

/// Area under the precision envelope, summed where recall changes.
pub fn ap_all_points(rec: &[f64], prec: &[f64]) -> f64 {
    let mut mrec = Vec::with_capacity(rec.len() + 2);
    mrec.push(0.0);
    mrec.extend_from_slice(rec);
    mrec.push(1.0);
    let mut mpre = Vec::with_capacity(prec.len() + 2);
    mpre.push(0.0);
    mpre.extend_from_slice(prec);
    mpre.push(0.0);
    for i in (1..mpre.len()).rev() {
        mpre[i - 1] = mpre[i - 1].max(mpre[i]);
    }
    let mut ap = 0.0;
    for i in 0..mrec.len() - 1 {
        if mrec[i + 1] != mrec[i] {
            ap += (mrec[i + 1] - mrec[i]) * mpre[i + 1];
        }
    }
    ap
}
