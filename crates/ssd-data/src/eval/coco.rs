//! COCO box AP as pycocotools' COCOeval computes it (iouType "bbox"): AP@[.5:.95] with
//! 101-point interpolated precision, area ranges all/small/medium/large, maxDets 1/10/100,
//! greedy matching by score with crowd regions, and the 12 summary numbers. The steps and
//! even the float details (numpy linspace thresholds, stable sorts, searchsorted) follow the
//! reference, because the numbers must agree with it to 1e-6.

use super::EvalError;
use crate::coco::{CocoFile, CocoResult};
use std::collections::{BTreeSet, HashMap};

#[derive(Clone, Debug)]
pub struct CocoParams {
    pub iou_thrs: Vec<f64>,
    pub rec_thrs: Vec<f64>,
    pub max_dets: Vec<usize>,
    pub area_rngs: Vec<[f64; 2]>,
}

/// numpy.linspace(start, stop, num) bit for bit: i * step + start, last = stop.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let step = (stop - start) / (num - 1) as f64;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    if let Some(last) = v.last_mut() {
        *last = stop;
    }
    v
}

impl Default for CocoParams {
    fn default() -> Self {
        CocoParams {
            iou_thrs: linspace(0.5, 0.95, 10),
            rec_thrs: linspace(0.0, 1.0, 101),
            max_dets: vec![1, 10, 100],
            area_rngs: vec![[0.0, 1e10], [0.0, 1024.0], [1024.0, 9216.0], [9216.0, 1e10]],
        }
    }
}

/// A ground-truth box for evaluation (COCO xywh pixels).
#[derive(Clone, Debug)]
pub struct EvalGt {
    pub id: u64,
    pub image_id: u64,
    pub category_id: u64,
    pub bbox: [f64; 4],
    pub area: f64,
    pub iscrowd: bool,
    /// Matches are neither rewarded nor punished (crowd in COCO, difficult in VOC).
    pub ignore: bool,
}

#[derive(Clone, Debug)]
pub struct EvalDet {
    pub image_id: u64,
    pub category_id: u64,
    pub bbox: [f64; 4],
    pub score: f64,
}

#[derive(Clone, Debug)]
pub struct CocoSummary {
    /// AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl (-1 where undefined).
    pub stats: [f64; 12],
    /// AP@[.5:.95] per category (area all, maxDets 100), in ascending category id; -1 when
    /// the category has no ground truth.
    pub per_category: Vec<(u64, f64)>,
}

pub const STAT_NAMES: [&str; 12] = [
    "AP @[.5:.95] all 100",
    "AP @.50 all 100",
    "AP @.75 all 100",
    "AP @[.5:.95] small 100",
    "AP @[.5:.95] medium 100",
    "AP @[.5:.95] large 100",
    "AR @[.5:.95] all 1",
    "AR @[.5:.95] all 10",
    "AR @[.5:.95] all 100",
    "AR @[.5:.95] small 100",
    "AR @[.5:.95] medium 100",
    "AR @[.5:.95] large 100",
];

/// Ground truth and results in the COCO JSON formats, as pycocotools reads them.
pub fn evaluate_files(gt: &CocoFile, dets: &[CocoResult]) -> Result<CocoSummary, EvalError> {
    let image_ids: BTreeSet<u64> = gt.images.iter().map(|i| i.id).collect();
    let gts: Vec<EvalGt> = gt
        .annotations
        .iter()
        .map(|a| EvalGt {
            id: a.id,
            image_id: a.image_id,
            category_id: a.category_id,
            bbox: a.bbox,
            area: a.area.unwrap_or(a.bbox[2] * a.bbox[3]),
            iscrowd: a.iscrowd != 0,
            ignore: a.iscrowd != 0,
        })
        .collect();
    for d in dets {
        if !image_ids.contains(&d.image_id) {
            return Err(EvalError::Input(format!(
                "detection for image id {} which is not in the ground truth",
                d.image_id
            )));
        }
    }
    let dts: Vec<EvalDet> = dets
        .iter()
        .map(|d| EvalDet {
            image_id: d.image_id,
            category_id: d.category_id,
            bbox: d.bbox,
            score: d.score,
        })
        .collect();
    let cats: Vec<u64> = gt
        .categories
        .iter()
        .map(|c| c.id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(evaluate(
        &image_ids.into_iter().collect::<Vec<_>>(),
        &cats,
        &gts,
        &dts,
        &CocoParams::default(),
    ))
}

/// pycocotools' maskUtils.iou for boxes (bbIou).
fn iou_xywh(d: &[f64; 4], g: &[f64; 4], crowd: bool) -> f64 {
    let da = d[2] * d[3];
    let ga = g[2] * g[3];
    let w = (d[0] + d[2]).min(g[0] + g[2]) - d[0].max(g[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (d[1] + d[3]).min(g[1] + g[3]) - d[1].max(g[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let i = w * h;
    let u = if crowd { da } else { da + ga - i };
    i / u
}

struct ImgEval {
    /// [T][D] matched gt id (0 = none, as pycocotools' dtMatches)
    dt_matches: Vec<Vec<u64>>,
    dt_ignore: Vec<Vec<bool>>,
    dt_scores: Vec<f64>,
    gt_ignore: Vec<bool>,
}

fn stable_desc_by_score<T>(v: &mut [&T], score: impl Fn(&T) -> f64) {
    v.sort_by(|a, b| {
        score(b)
            .partial_cmp(&score(a))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
}

/// COCOeval.evaluate + accumulate + summarize.
pub fn evaluate(
    image_ids: &[u64],
    cat_ids: &[u64],
    gts: &[EvalGt],
    dts: &[EvalDet],
    p: &CocoParams,
) -> CocoSummary {
    let max_det = *p.max_dets.iter().max().unwrap_or(&100);
    // per (image, category), in file order
    let mut gmap: HashMap<(u64, u64), Vec<&EvalGt>> = HashMap::new();
    for g in gts {
        gmap.entry((g.image_id, g.category_id)).or_default().push(g);
    }
    let mut dmap: HashMap<(u64, u64), Vec<&EvalDet>> = HashMap::new();
    for d in dts {
        dmap.entry((d.image_id, d.category_id)).or_default().push(d);
    }
    let (t_n, r_n, k_n, a_n, m_n) = (
        p.iou_thrs.len(),
        p.rec_thrs.len(),
        cat_ids.len(),
        p.area_rngs.len(),
        p.max_dets.len(),
    );
    // evalImgs[k][a][i]
    let mut eval_imgs: Vec<Vec<Vec<Option<ImgEval>>>> = Vec::with_capacity(k_n);
    let empty_g: Vec<&EvalGt> = Vec::new();
    let empty_d: Vec<&EvalDet> = Vec::new();
    // result detections get ids 1..N in file order (loadRes), used as gtMatches markers
    let det_id: HashMap<*const EvalDet, u64> = dts
        .iter()
        .enumerate()
        .map(|(i, d)| (d as *const EvalDet, i as u64 + 1))
        .collect();
    for &cat in cat_ids {
        let mut per_area = Vec::with_capacity(a_n);
        for _ in 0..a_n {
            per_area.push(Vec::with_capacity(image_ids.len()));
        }
        for &img in image_ids {
            let g = gmap.get(&(img, cat)).unwrap_or(&empty_g);
            let mut d: Vec<&EvalDet> = dmap.get(&(img, cat)).unwrap_or(&empty_d).clone();
            if g.is_empty() && d.is_empty() {
                for pa in per_area.iter_mut() {
                    pa.push(None);
                }
                continue;
            }
            stable_desc_by_score(&mut d, |x| x.score);
            d.truncate(max_det);
            // ious[d][g], gt in file order
            let ious: Vec<Vec<f64>> = d
                .iter()
                .map(|dd| {
                    g.iter()
                        .map(|gg| iou_xywh(&dd.bbox, &gg.bbox, gg.iscrowd))
                        .collect()
                })
                .collect();
            for (a, rng) in p.area_rngs.iter().enumerate() {
                per_area[a].push(Some(evaluate_img(g, &d, &ious, rng, max_det, p, &det_id)));
            }
        }
        eval_imgs.push(per_area);
    }

    // accumulate
    let idx = |t: usize, r: usize, k: usize, a: usize, m: usize| {
        (((t * r_n + r) * k_n + k) * a_n + a) * m_n + m
    };
    let ridx = |t: usize, k: usize, a: usize, m: usize| ((t * k_n + k) * a_n + a) * m_n + m;
    let mut precision = vec![-1.0f64; t_n * r_n * k_n * a_n * m_n];
    let mut recall = vec![-1.0f64; t_n * k_n * a_n * m_n];
    for k in 0..k_n {
        for a in 0..a_n {
            for (m, &md) in p.max_dets.iter().enumerate() {
                let es: Vec<&ImgEval> = eval_imgs[k][a].iter().flatten().collect();
                if es.is_empty() {
                    continue;
                }
                // (score, image order, position) so a stable sort on score alone reproduces
                // numpy's mergesort over the concatenation
                let mut order: Vec<(f64, usize, usize)> = Vec::new();
                for (e_i, e) in es.iter().enumerate() {
                    for (j, &s) in e.dt_scores.iter().take(md).enumerate() {
                        order.push((s, e_i, j));
                    }
                }
                order.sort_by(|x, y| y.0.partial_cmp(&x.0).unwrap_or(std::cmp::Ordering::Equal));
                let npig = es
                    .iter()
                    .map(|e| e.gt_ignore.iter().filter(|&&ig| !ig).count())
                    .sum::<usize>();
                if npig == 0 {
                    continue;
                }
                for t in 0..t_n {
                    let mut tp = 0.0f64;
                    let mut fp = 0.0f64;
                    let mut rc = Vec::with_capacity(order.len());
                    let mut pr = Vec::with_capacity(order.len());
                    for &(_, e_i, j) in &order {
                        let e = es[e_i];
                        let matched = e.dt_matches[t][j] != 0;
                        let ignored = e.dt_ignore[t][j];
                        if matched && !ignored {
                            tp += 1.0;
                        }
                        if !matched && !ignored {
                            fp += 1.0;
                        }
                        rc.push(tp / npig as f64);
                        pr.push(tp / (fp + tp + f64::EPSILON));
                    }
                    let nd = rc.len();
                    recall[ridx(t, k, a, m)] = if nd > 0 { rc[nd - 1] } else { 0.0 };
                    for i in (1..nd).rev() {
                        if pr[i] > pr[i - 1] {
                            pr[i - 1] = pr[i];
                        }
                    }
                    for (r, &thr) in p.rec_thrs.iter().enumerate() {
                        // searchsorted(rc, thr, side='left')
                        let pi = rc.partition_point(|&v| v < thr);
                        precision[idx(t, r, k, a, m)] = if pi < nd { pr[pi] } else { 0.0 };
                    }
                }
            }
        }
    }

    let dims = Dims {
        t_n,
        r_n,
        k_n,
        a_n,
        m_n,
    };
    let m_of = |md: usize| p.max_dets.iter().position(|&x| x == md).unwrap_or(m_n - 1);
    let m100 = m_of(100);
    let all_t: Vec<usize> = (0..t_n).collect();
    let ap_at = |v: f64| match p.iou_thrs.iter().position(|&x| x == v) {
        Some(t) => summarize_ap(&precision, &dims, &[t], 0, m100),
        None => -1.0,
    };
    let area = |a: usize| a.min(a_n - 1);
    let stats = [
        summarize_ap(&precision, &dims, &all_t, 0, m100),
        ap_at(0.5),
        ap_at(0.75),
        summarize_ap(&precision, &dims, &all_t, area(1), m100),
        summarize_ap(&precision, &dims, &all_t, area(2), m100),
        summarize_ap(&precision, &dims, &all_t, area(3), m100),
        summarize_ar(&recall, &dims, 0, m_of(1)),
        summarize_ar(&recall, &dims, 0, m_of(10)),
        summarize_ar(&recall, &dims, 0, m100),
        summarize_ar(&recall, &dims, area(1), m100),
        summarize_ar(&recall, &dims, area(2), m100),
        summarize_ar(&recall, &dims, area(3), m100),
    ];
    let per_category = cat_ids
        .iter()
        .enumerate()
        .map(|(k, &c)| {
            let vals = all_t
                .iter()
                .flat_map(|&t| (0..r_n).map(move |r| (t, r)))
                .map(|(t, r)| precision[idx(t, r, k, 0, m100)]);
            (c, mean_valid(vals))
        })
        .collect();
    CocoSummary {
        stats,
        per_category,
    }
}

struct Dims {
    t_n: usize,
    r_n: usize,
    k_n: usize,
    a_n: usize,
    m_n: usize,
}

/// numpy's mean over entries > -1 (-1 when there are none), as COCOeval.summarize.
fn mean_valid(vals: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for v in vals {
        if v > -1.0 {
            s += v;
            n += 1;
        }
    }
    if n == 0 {
        -1.0
    } else {
        s / n as f64
    }
}

fn summarize_ap(precision: &[f64], d: &Dims, ts: &[usize], a: usize, m: usize) -> f64 {
    let idx =
        |t: usize, r: usize, k: usize| (((t * d.r_n + r) * d.k_n + k) * d.a_n + a) * d.m_n + m;
    let cells = ts
        .iter()
        .flat_map(|&t| (0..d.r_n).flat_map(move |r| (0..d.k_n).map(move |k| (t, r, k))));
    mean_valid(cells.map(|(t, r, k)| precision[idx(t, r, k)]))
}

fn summarize_ar(recall: &[f64], d: &Dims, a: usize, m: usize) -> f64 {
    let idx = |t: usize, k: usize| ((t * d.k_n + k) * d.a_n + a) * d.m_n + m;
    let cells = (0..d.t_n).flat_map(|t| (0..d.k_n).map(move |k| (t, k)));
    mean_valid(cells.map(|(t, k)| recall[idx(t, k)]))
}

#[allow(clippy::too_many_arguments)]
fn evaluate_img(
    g: &[&EvalGt],
    d_sorted: &[&EvalDet],
    ious: &[Vec<f64>],
    rng: &[f64; 2],
    max_det: usize,
    p: &CocoParams,
    det_id: &HashMap<*const EvalDet, u64>,
) -> ImgEval {
    let ignore_of = |x: &EvalGt| x.ignore || x.area < rng[0] || x.area > rng[1];
    // stable sort: not-ignored first
    let mut gtind: Vec<usize> = (0..g.len()).collect();
    gtind.sort_by_key(|&i| ignore_of(g[i]));
    let gs: Vec<&EvalGt> = gtind.iter().map(|&i| g[i]).collect();
    let gt_ig: Vec<bool> = gs.iter().map(|x| ignore_of(x)).collect();
    let ds = &d_sorted[..d_sorted.len().min(max_det)];
    let (t_n, g_n, d_n) = (p.iou_thrs.len(), gs.len(), ds.len());
    let mut gtm = vec![vec![0u64; g_n]; t_n];
    let mut dtm = vec![vec![0u64; d_n]; t_n];
    let mut dt_ig = vec![vec![false; d_n]; t_n];
    if g_n > 0 && d_n > 0 {
        for (t, &thr) in p.iou_thrs.iter().enumerate() {
            for (di, dd) in ds.iter().enumerate() {
                let mut best = thr.min(1.0 - 1e-10);
                let mut m: Option<usize> = None;
                for (gi, gg) in gs.iter().enumerate() {
                    if gtm[t][gi] > 0 && !gg.iscrowd {
                        continue;
                    }
                    if let Some(mm) = m {
                        if !gt_ig[mm] && gt_ig[gi] {
                            break;
                        }
                    }
                    let v = ious[di][gtind[gi]];
                    if v < best {
                        continue;
                    }
                    best = v;
                    m = Some(gi);
                }
                if let Some(mm) = m {
                    dt_ig[t][di] = gt_ig[mm];
                    dtm[t][di] = gs[mm].id;
                    gtm[t][mm] = det_id.get(&(*dd as *const EvalDet)).copied().unwrap_or(1);
                }
            }
        }
    }
    for (di, dd) in ds.iter().enumerate() {
        let area = dd.bbox[2] * dd.bbox[3];
        let out = area < rng[0] || area > rng[1];
        for t in 0..t_n {
            if dtm[t][di] == 0 && out {
                dt_ig[t][di] = true;
            }
        }
    }
    ImgEval {
        dt_matches: dtm,
        dt_ignore: dt_ig,
        dt_scores: ds.iter().map(|d| d.score).collect(),
        gt_ignore: gt_ig,
    }
}
