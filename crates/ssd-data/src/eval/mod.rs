//! Detection metrics: Pascal VOC AP (VOC2007 11-point and all-point, difficult ignored) and
//! COCO AP@[.5:.95] as pycocotools computes it; `evaluate_detector` runs any detector (an
//! ONNX model through `ssd_model::model::Detector`, or a training checkpoint) over a data set
//! and reports both.

pub mod coco;
pub mod voc;

use crate::{Dataset, Sample};
use coco::{CocoParams, CocoSummary, EvalDet, EvalGt};
use voc::{VocDet, VocGt, VocParams};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("invalid evaluation input: {0}")]
    Input(String),
    #[error(transparent)]
    Data(#[from] crate::DataError),
    #[error("detector failed on sample {sample}: {message}")]
    Detector { sample: String, message: String },
}

/// One detection for evaluation: 0-based data-set class, normalised corner box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoredBox {
    pub class_id: usize,
    pub score: f32,
    pub bbox: [f32; 4],
}

#[derive(Clone, Debug)]
pub struct ClassReport {
    pub name: String,
    pub ap07: Option<f64>,
    pub ap_all: Option<f64>,
    pub npos: usize,
    pub detections: usize,
}

#[derive(Clone, Debug)]
pub struct EvalReport {
    pub images: usize,
    pub classes: Vec<ClassReport>,
    /// VOC2007 11-point mAP over classes with ground truth.
    pub map07: Option<f64>,
    pub map_all: Option<f64>,
    /// COCO-style numbers on the same data (difficult boxes ignored, not crowds).
    pub coco: CocoSummary,
}

impl EvalReport {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "images": self.images,
            "voc07_map": self.map07,
            "voc_all_point_map": self.map_all,
            "coco_ap": self.coco.stats[0],
            "coco_ap50": self.coco.stats[1],
            "coco_ap75": self.coco.stats[2],
            "coco_stats": self.coco.stats.to_vec(),
            "classes": self.classes.iter().map(|c| serde_json::json!({
                "name": c.name, "ap07": c.ap07, "ap_all": c.ap_all,
                "npos": c.npos, "detections": c.detections,
            })).collect::<Vec<_>>(),
        })
    }
}

impl std::fmt::Display for EvalReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = |v: Option<f64>| v.map_or("   n/a".to_string(), |v| format!("{:6.2}", v * 100.0));
        writeln!(
            f,
            "{:<16} {:>8} {:>8} {:>6} {:>6}",
            "class", "AP07", "AP(all)", "GT", "dets"
        )?;
        for c in &self.classes {
            writeln!(
                f,
                "{:<16} {:>8} {:>8} {:>6} {:>6}",
                c.name,
                pct(c.ap07),
                pct(c.ap_all),
                c.npos,
                c.detections
            )?;
        }
        writeln!(f, "mAP VOC07 11-point: {}", pct(self.map07))?;
        writeln!(f, "mAP all-point:      {}", pct(self.map_all))?;
        for (name, v) in coco::STAT_NAMES.iter().zip(self.coco.stats) {
            writeln!(f, "COCO {name:<24} {:.4}", v)?;
        }
        Ok(())
    }
}

/// Run `detect` on every sample of `data` and score it. `detect` returns detections with
/// normalised boxes and 0-based data-set classes (model class - 1). Used by the ONNX path
/// (`ssd_model::model::Detector`) and by checkpoint evaluation.
pub fn evaluate_detector<F>(data: &dyn Dataset, mut detect: F) -> Result<EvalReport, EvalError>
where
    F: FnMut(usize, &Sample) -> Result<Vec<ScoredBox>, String>,
{
    let num_classes = data.class_names().len();
    let mut gts = Vec::new();
    let mut dets = Vec::new();
    for i in 0..data.len() {
        let s = data.get(i)?;
        let (w, h) = (s.image.width() as f64, s.image.height() as f64);
        let px = |b: &[f32; 4]| {
            [
                b[0] as f64 * w,
                b[1] as f64 * h,
                b[2] as f64 * w,
                b[3] as f64 * h,
            ]
        };
        for k in 0..s.boxes.len() {
            gts.push(VocGt {
                image: i,
                class_id: s.labels[k],
                bbox: px(&s.boxes[k]),
                difficult: s.difficult.get(k).copied().unwrap_or(false),
            });
        }
        let found = detect(i, &s).map_err(|message| EvalError::Detector {
            sample: data.sample_name(i),
            message,
        })?;
        for d in found {
            if d.class_id >= num_classes {
                return Err(EvalError::Input(format!(
                    "detector returned class {} but the data set has {num_classes} classes",
                    d.class_id
                )));
            }
            dets.push(VocDet {
                image: i,
                class_id: d.class_id,
                score: d.score as f64,
                bbox: px(&d.bbox),
            });
        }
    }
    Ok(score(data.class_names(), data.len(), &gts, &dets))
}

/// VOC and COCO numbers for pixel-space ground truth and detections.
pub fn score(class_names: &[String], images: usize, gts: &[VocGt], dets: &[VocDet]) -> EvalReport {
    let per_class = voc::voc_eval(gts, dets, class_names.len(), VocParams::default());
    let xywh = |b: &[f64; 4]| [b[0], b[1], b[2] - b[0], b[3] - b[1]];
    let cgts: Vec<EvalGt> = gts
        .iter()
        .enumerate()
        .map(|(k, g)| {
            let bb = xywh(&g.bbox);
            EvalGt {
                id: k as u64 + 1,
                image_id: g.image as u64,
                category_id: g.class_id as u64,
                bbox: bb,
                area: bb[2] * bb[3],
                iscrowd: false,
                ignore: g.difficult,
            }
        })
        .collect();
    let cdets: Vec<EvalDet> = dets
        .iter()
        .map(|d| EvalDet {
            image_id: d.image as u64,
            category_id: d.class_id as u64,
            bbox: xywh(&d.bbox),
            score: d.score,
        })
        .collect();
    let image_ids: Vec<u64> = (0..images as u64).collect();
    let cat_ids: Vec<u64> = (0..class_names.len() as u64).collect();
    let coco = coco::evaluate(&image_ids, &cat_ids, &cgts, &cdets, &CocoParams::default());
    let classes: Vec<ClassReport> = per_class
        .iter()
        .zip(class_names)
        .map(|(r, n)| ClassReport {
            name: n.clone(),
            ap07: r.ap07,
            ap_all: r.ap_all,
            npos: r.npos,
            detections: r.detections,
        })
        .collect();
    EvalReport {
        images,
        map07: voc::mean_ap(classes.iter().map(|c| c.ap07)),
        map_all: voc::mean_ap(classes.iter().map(|c| c.ap_all)),
        classes,
        coco,
    }
}
