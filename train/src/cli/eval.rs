//! `ssd-train eval`: score a detections file against COCO ground truth, or run an ONNX model
//! or a training checkpoint over a VOC-layout data set and report VOC07 / all-point AP and
//! COCO AP.
//!
//! A checkpoint is evaluated through its ONNX export run by the board's Detector: the export is
//! tested equal to the tch network (within 1e-5), and this way the numbers are those of the
//! exact decode + NMS the board runs.

use anyhow::{bail, Context};
use ssd_core::frame::Frame;
use ssd_core::ssd::Detections;
use ssd_model::model::Detector;
use ssd_train::data::coco::{read_json, CocoFile, CocoResult};
use ssd_train::data::VocDataset;
use ssd_train::eval::{coco, evaluate_detector, ScoredBox};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// COCO ground truth (instances JSON); with --dets.
    #[arg(long, requires = "dets")]
    pub gt: Option<PathBuf>,
    /// COCO results JSON: [{image_id, category_id, bbox: [x,y,w,h], score}].
    #[arg(long, requires = "gt")]
    pub dets: Option<PathBuf>,
    /// ONNX model to evaluate on --data.
    #[arg(long, requires = "data", conflicts_with = "checkpoint")]
    pub onnx: Option<PathBuf>,
    /// Training checkpoint (`run/best`, `run/last`, or its .json/.safetensors) to evaluate on --data.
    #[arg(long, requires = "data")]
    pub checkpoint: Option<PathBuf>,
    /// Sidecar TOML for a model without metadata.
    #[arg(long)]
    pub sidecar: Option<PathBuf>,
    /// VOC root (Annotations/, JPEGImages/, ImageSets/Main/).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Split list under ImageSets/Main.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Score threshold for detections (VOC protocol: low, 0.01).
    #[arg(long, default_value_t = 0.01)]
    pub threshold: f32,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let (Some(gt), Some(dets)) = (&args.gt, &args.dets) {
        let g: CocoFile = read_json(gt)?;
        let d: Vec<CocoResult> = read_json(dets)?;
        let s =
            coco::evaluate_files(&g, &d).with_context(|| format!("scoring {}", dets.display()))?;
        if args.json {
            println!(
                "{}",
                serde_json::json!({"stats": s.stats.to_vec(), "names": coco::STAT_NAMES})
            );
        } else {
            for (name, v) in coco::STAT_NAMES.iter().zip(s.stats) {
                println!("{name:<24} {v:.4}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Kept alive until the evaluation is over; removed on drop.
    let exported;
    let model = match (&args.onnx, &args.checkpoint) {
        (Some(m), _) => Some(m.clone()),
        (None, Some(ckpt)) => {
            exported = TempOnnx::new();
            let prov = ssd_model::model::Provenance::default();
            ssd_train::export::export_checkpoint(ckpt, &exported.0, prov, args.threshold)
                .with_context(|| format!("exporting checkpoint {}", ckpt.display()))?;
            Some(exported.0.clone())
        }
        (None, None) => None,
    };
    if let Some(model) = &model {
        let data = args.data.as_ref().context("--onnx needs --data")?;
        let mut det = Detector::load(model, args.sidecar.as_deref())
            .with_context(|| format!("loading {}", model.display()))?;
        det.set_score_threshold(args.threshold);
        // data classes are the model's labels without background, matched by name
        let labels: Vec<String> = det.meta().labels.iter().skip(1).cloned().collect();
        let ds = VocDataset::open(data, &args.split, &labels)?;
        let st = ds.stats();
        log::info!(
            "{}: {} images, {} boxes ({} clipped, {} skipped, {} missing images)",
            data.display(),
            st.images,
            st.boxes,
            st.clipped_boxes,
            st.skipped_boxes,
            ds.missing_images().len()
        );
        let mut out = Detections::new();
        let report = evaluate_detector(&ds, |_, s| {
            let frame = Frame::rgb(&s.image, 0);
            det.detect(&frame, &mut out).map_err(|e| e.to_string())?;
            Ok(out
                .iter()
                .filter(|d| d.class_id >= 1)
                .map(|d| ScoredBox {
                    class_id: d.class_id as usize - 1,
                    score: d.score,
                    bbox: d.bbox,
                })
                .collect())
        })?;
        if args.json {
            println!("{}", report.to_json());
        } else {
            print!("{report}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    bail!(
        "nothing to evaluate: give --gt GT.json --dets DETS.json, or --onnx M.onnx --data DIR, \
         or --checkpoint RUN/best --data DIR"
    )
}

/// A temporary ONNX file for a checkpoint's export, deleted when dropped.
struct TempOnnx(PathBuf);

impl TempOnnx {
    fn new() -> Self {
        let name = format!("ssd-train-eval-{}.onnx", std::process::id());
        TempOnnx(std::env::temp_dir().join(name))
    }
}

impl Drop for TempOnnx {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
