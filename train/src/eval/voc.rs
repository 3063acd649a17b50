//! Pascal VOC average precision as the devkit (and py-faster-rcnn's `voc_eval`) defines it:
//! detections of a class sorted by score; each takes the ground truth of highest overlap in
//! its image; overlap > threshold and not yet taken -> true positive, taken -> false
//! positive (duplicate), difficult -> ignored; otherwise false positive. AP is the 11-point
//! interpolated precision (VOC2007) or the area under the monotone precision envelope
//! (VOC2010+ "all points").

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

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VocParams {
    pub iou_threshold: f64,
    /// Add 1 to widths and heights, as the devkit does for inclusive pixel boxes. Off for
    /// continuous (normalised or exclusive-end) boxes.
    pub plus_one: bool,
}

impl Default for VocParams {
    fn default() -> Self {
        VocParams {
            iou_threshold: 0.5,
            plus_one: false,
        }
    }
}

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
    let mut by_image: HashMap<usize, Vec<(usize, &VocGt)>> = HashMap::new();
    let mut npos = 0;
    for (k, g) in gts.iter().filter(|g| g.class_id == c).enumerate() {
        npos += !g.difficult as usize;
        by_image.entry(g.image).or_default().push((k, g));
    }
    let n_gt = gts.iter().filter(|g| g.class_id == c).count();
    let mut taken = vec![false; n_gt];
    let mut ds: Vec<&VocDet> = dets.iter().filter(|d| d.class_id == c).collect();
    ds.sort_by(|a, b| {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let one = if p.plus_one { 1.0 } else { 0.0 };
    let (mut tp, mut fp) = (Vec::with_capacity(ds.len()), Vec::with_capacity(ds.len()));
    for d in &ds {
        let mut ovmax = f64::NEG_INFINITY;
        let mut jmax: Option<(usize, bool)> = None;
        if let Some(cands) = by_image.get(&d.image) {
            for &(k, g) in cands {
                let iw = (d.bbox[2].min(g.bbox[2]) - d.bbox[0].max(g.bbox[0]) + one).max(0.0);
                let ih = (d.bbox[3].min(g.bbox[3]) - d.bbox[1].max(g.bbox[1]) + one).max(0.0);
                let inter = iw * ih;
                let uni = (d.bbox[2] - d.bbox[0] + one) * (d.bbox[3] - d.bbox[1] + one)
                    + (g.bbox[2] - g.bbox[0] + one) * (g.bbox[3] - g.bbox[1] + one)
                    - inter;
                let ov = inter / uni;
                // first maximum wins, as numpy's argmax
                if ov > ovmax {
                    ovmax = ov;
                    jmax = Some((k, g.difficult));
                }
            }
        }
        let (mut t, mut f) = (0.0, 0.0);
        match jmax {
            Some((k, difficult)) if ovmax > p.iou_threshold => {
                if !difficult {
                    if !taken[k] {
                        t = 1.0;
                        taken[k] = true;
                    } else {
                        f = 1.0;
                    }
                }
            }
            _ => f = 1.0,
        }
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
