//! Calibration: run the float model in tract over real images with every tensor a conv reads
//! or writes exposed as an extra output, and reduce each to a range.
//!
//! Ranges: min/max by default. The calibration set is a sample of the training distribution
//! and the tails of SSD activations carry the confident detections (large logits, large box
//! offsets), which clipping at a percentile would flatten; int8's 256 levels are enough for
//! the ranges we see. `--calib-method percentile:P` is there for data with rare outliers: the
//! per-image P-th (and 100-P-th) percentiles, averaged over images.

use super::QuantError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tract_onnx::pb::{ModelProto, ValueInfoProto};
use tract_onnx::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub enum RangeMethod {
    MinMax,
    Percentile(f32),
}

impl std::str::FromStr for RangeMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "minmax" {
            return Ok(RangeMethod::MinMax);
        }
        if let Some(p) = s.strip_prefix("percentile") {
            let p = p.strip_prefix(':').unwrap_or("99.99");
            let p: f32 = p.parse().map_err(|_| format!("bad percentile in {s:?}"))?;
            if !(50.0..=100.0).contains(&p) {
                return Err(format!("percentile {p} is outside 50..100"));
            }
            return Ok(RangeMethod::Percentile(p));
        }
        Err(format!(
            "unknown calibration method {s:?} (minmax or percentile[:P])"
        ))
    }
}

impl std::fmt::Display for RangeMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RangeMethod::MinMax => write!(f, "minmax"),
            RangeMethod::Percentile(p) => write!(f, "percentile:{p}"),
        }
    }
}

const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "bmp", "ppm", "pgm", "pnm"];

/// Image files of `dir`, sorted by name, at most `max` spread evenly over the listing.
pub fn list_images(dir: &Path, max: usize) -> Result<Vec<PathBuf>, QuantError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| QuantError::CalibDir(dir.to_path_buf(), e.to_string()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    if files.is_empty() {
        return Err(QuantError::CalibDir(
            dir.to_path_buf(),
            format!(
                "no images ({}) in the directory",
                IMAGE_EXTENSIONS.join(", ")
            ),
        ));
    }
    files.sort();
    if files.len() > max && max > 0 {
        let step = files.len() as f64 / max as f64;
        files = (0..max)
            .map(|i| files[(i as f64 * step) as usize].clone())
            .collect();
    }
    Ok(files)
}

/// Decodes one image and turns it into the model input exactly as the board does.
pub fn load_input(path: &Path, input: &super::InputSpec) -> Result<Tensor, QuantError> {
    let img = image::open(path)
        .map_err(|e| QuantError::CalibImage(path.to_path_buf(), e.to_string()))?
        .to_rgb8();
    super::preprocess::to_tensor(&img, input)
        .map_err(|e| QuantError::CalibImage(path.to_path_buf(), e))
}

/// Calibration result: a range per tensor, each tensor's shape, and the activations of the
/// first image (the per-layer accuracy check feeds them to single-layer models).
pub struct Calibration {
    pub ranges: HashMap<String, (f32, f32)>,
    pub shapes: HashMap<String, Vec<usize>>,
    pub first: HashMap<String, Tensor>,
    pub images: usize,
}

/// A float tract plan of `model` whose outputs are its own outputs followed by `extra`.
pub fn plan_with_outputs(
    model: &ModelProto,
    extra: &[String],
    input_shape: &[usize],
) -> Result<super::micro::Plan, QuantError> {
    let mut proto = model.clone();
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| QuantError::Internal("no graph".into()))?;
    for name in extra {
        if !graph.output.iter().any(|o| &o.name == name) {
            graph.output.push(ValueInfoProto {
                name: name.clone(),
                ..Default::default()
            });
        }
    }
    let typed = tract_onnx::onnx()
        .model_for_proto_model(&proto)
        .and_then(|m| m.with_input_fact(0, f32::fact(input_shape).into()))
        .and_then(|m| m.into_optimized())
        .map_err(|e| QuantError::Tract(format!("float model with calibration outputs: {e:#}")))?;
    typed
        .into_runnable()
        .map_err(|e| QuantError::Tract(format!("{e:#}")))
}

pub fn calibrate(
    model: &ModelProto,
    tensors: &[String],
    images: &[PathBuf],
    input: &super::InputSpec,
    method: RangeMethod,
) -> Result<Calibration, QuantError> {
    let shape = [1, 3, input.height as usize, input.width as usize];
    let plan = plan_with_outputs(model, tensors, &shape)?;
    let index: HashMap<&str, usize> = {
        let graph = model.graph.as_ref().unwrap();
        let mut names: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
        for t in tensors {
            if !names.contains(t) {
                names.push(t.clone());
            }
        }
        tensors
            .iter()
            .map(|t| (t.as_str(), names.iter().position(|n| n == t).unwrap()))
            .collect()
    };
    let mut sums: HashMap<String, (f64, f64)> = HashMap::new();
    let mut ranges: HashMap<String, (f32, f32)> = HashMap::new();
    let mut shapes = HashMap::new();
    let mut first = HashMap::new();
    for (i, path) in images.iter().enumerate() {
        let x = load_input(path, input)?;
        let outputs = plan.run(tvec!(x.into())).map_err(|e| {
            QuantError::Tract(format!("float forward on {}: {e:#}", path.display()))
        })?;
        for t in tensors {
            let v = &outputs[index[t.as_str()]];
            let data = v
                .try_as_plain_ram()
                .and_then(|p| p.as_slice::<f32>().map(|s| s.to_vec()))
                .map_err(|e| QuantError::Tract(format!("tensor {t}: {e:#}")))?;
            if data.iter().any(|x| !x.is_finite()) {
                return Err(QuantError::Calibration(format!(
                    "tensor {t} holds NaN or infinite values on {}",
                    path.display()
                )));
            }
            let (lo, hi) = match method {
                RangeMethod::MinMax => data
                    .iter()
                    .fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(*v), h.max(*v))),
                RangeMethod::Percentile(p) => percentiles(data, p),
            };
            match method {
                RangeMethod::MinMax => {
                    let r = ranges.entry(t.clone()).or_insert((lo, hi));
                    *r = (r.0.min(lo), r.1.max(hi));
                }
                RangeMethod::Percentile(_) => {
                    let s = sums.entry(t.clone()).or_insert((0.0, 0.0));
                    s.0 += lo as f64;
                    s.1 += hi as f64;
                }
            }
            if i == 0 {
                shapes.insert(t.clone(), v.shape().to_vec());
                first.insert(t.clone(), v.clone().into_tensor());
            }
        }
        log::debug!("calibrated on {}", path.display());
    }
    if let RangeMethod::Percentile(_) = method {
        let n = images.len() as f64;
        ranges = sums
            .into_iter()
            .map(|(k, (l, h))| (k, ((l / n) as f32, (h / n) as f32)))
            .collect();
    }
    Ok(Calibration {
        ranges,
        shapes,
        first,
        images: images.len(),
    })
}

fn percentiles(mut data: Vec<f32>, p: f32) -> (f32, f32) {
    let n = data.len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let hi_ix = (((p / 100.0) * (n - 1) as f32).round() as usize).min(n - 1);
    let lo_ix = (n - 1) - hi_ix;
    let hi = *data.select_nth_unstable_by(hi_ix, f32::total_cmp).1;
    let lo = *data.select_nth_unstable_by(lo_ix, f32::total_cmp).1;
    (lo, hi)
}
