//! The quantization report: per-layer timings and errors, the choice made for each layer, what
//! tract executes, whole-model timings and the float/int8 output comparison. Written as JSON
//! (machine-readable; `--timings` reads its layer table back) and Markdown, and a compact copy
//! goes into the model's metadata so the per-layer table travels with the model to the board.

use super::inspect::KernelCensus;
use super::rewrite::{RewriteStats, WeightScale};
use super::QuantError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerTimes {
    /// Conv (+ activation) in f32, ms.
    pub float_ms: f64,
    /// QLinearConv i8 -> i8 with per-channel weight scales, ms.
    pub int8_ms: f64,
    /// The same with one weight scale for the tensor, ms (absent in older reports).
    #[serde(default)]
    pub int8_tensor_ms: Option<f64>,
    /// QuantizeLinear of the layer's input, ms (paid when the producer is float).
    pub quantize_ms: f64,
    /// DequantizeLinear of the layer's output, ms (paid when a consumer is float).
    pub dequantize_ms: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerReport {
    pub name: String,
    pub kind: String,
    pub in_shape: Vec<usize>,
    pub out_shape: Vec<usize>,
    pub fused: String,
    #[serde(flatten)]
    pub times: LayerTimes,
    /// ||int8 - float|| / ||float|| of this layer alone on a calibration activation, with
    /// per-channel weight scales.
    pub rel_err: f32,
    /// The same with one weight scale for the tensor.
    #[serde(default)]
    pub rel_err_tensor: f32,
    pub int8: bool,
    /// The weight scaling the layer gets when it is int8.
    pub weights: WeightScale,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelTiming {
    pub float_ms: f64,
    pub int8_ms: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutputDiff {
    pub name: String,
    pub max_abs: f32,
    pub mean_abs: f32,
    pub values: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccuracyReport {
    pub images: usize,
    pub outputs: Vec<OutputDiff>,
    pub scores: OutputDiff,
}

#[derive(Clone, Debug, Serialize)]
pub struct QuantReport {
    pub model: String,
    pub out: String,
    pub calib_dir: String,
    pub images: usize,
    pub method: String,
    pub mode: String,
    /// channel, tensor or auto.
    pub weight_scale: String,
    pub max_rel_err: f32,
    pub timings_from: Option<String>,
    pub layers: Vec<LayerReport>,
    pub rewrite: RewriteStats,
    /// What tract runs for the int8 model.
    pub census: KernelCensus,
    /// The same for the float model, for contrast.
    pub float_census: KernelCensus,
    pub timing: ModelTiming,
    pub accuracy: AccuracyReport,
    pub float_bytes: u64,
    pub int8_bytes: u64,
    pub date: String,
}

pub fn paths(out: &Path) -> (PathBuf, PathBuf) {
    let base = out.with_extension("");
    (
        PathBuf::from(format!("{}.quant.json", base.display())),
        PathBuf::from(format!("{}.quant.md", base.display())),
    )
}

impl QuantReport {
    pub fn int8_layers(&self) -> Vec<&str> {
        self.layers
            .iter()
            .filter(|l| l.int8)
            .map(|l| l.name.as_str())
            .collect()
    }

    /// The record stored in the model: provenance, the choice, and the per-layer table in the
    /// same shape `--timings` reads.
    pub fn metadata_json(&self) -> String {
        serde_json::json!({
            "tool": concat!("ssd-train quantize ", env!("CARGO_PKG_VERSION")),
            "date": self.date,
            "source_model": self.model,
            "calibration": { "dir": self.calib_dir, "images": self.images, "method": self.method },
            "scheme": "QLinearConv; activations i8 per-tensor asymmetric; weights i8 symmetric, per-channel or per-tensor as each layer's `weights` says; bias i32",
            "weight_scale": self.weight_scale,
            "mode": self.mode,
            "int8_layers": self.int8_layers(),
            "timing_ms": { "float": self.timing.float_ms, "int8": self.timing.int8_ms,
                           "machine": std::env::consts::ARCH },
            "layers": self.layers,
        })
        .to_string()
    }

    pub fn write_next_to(&self, out: &Path) -> Result<(), QuantError> {
        let (json, md) = paths(out);
        let text =
            serde_json::to_string_pretty(self).map_err(|e| QuantError::Internal(e.to_string()))?;
        std::fs::write(&json, text).map_err(|e| QuantError::Io(json.clone(), e))?;
        std::fs::write(&md, self.markdown()).map_err(|e| QuantError::Io(md.clone(), e))?;
        Ok(())
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Quantization report: {}\n", self.out);
        let _ = writeln!(
            s,
            "Source `{}`, calibrated on {} images from `{}` ({}), mode {}, weight scales {}, {}.\n",
            self.model,
            self.images,
            self.calib_dir,
            self.method,
            self.mode,
            self.weight_scale,
            self.date
        );
        let _ = writeln!(
            s,
            "## Whole model (tract, 1 thread, {})\n",
            std::env::consts::ARCH
        );
        let _ = writeln!(s, "| | float | int8 |\n|---|---|---|");
        let _ = writeln!(
            s,
            "| forward, ms (median) | {:.1} | {:.1} |",
            self.timing.float_ms, self.timing.int8_ms
        );
        let _ = writeln!(
            s,
            "| file size, bytes | {} | {} |",
            self.float_bytes, self.int8_bytes
        );
        let _ = writeln!(
            s,
            "| matmuls in tract, int / float | {} / {} | {} / {} |",
            self.float_census.int_matmuls,
            self.float_census.float_matmuls,
            self.census.int_matmuls,
            self.census.float_matmuls
        );
        let _ = writeln!(
            s,
            "\nGraph: {} QLinearConv, {} QuantizeLinear, {} DequantizeLinear. Kernels tract runs in \
             the int8 model: {:?}.\n",
            self.rewrite.qlinear_convs, self.rewrite.quantize_nodes, self.rewrite.dequantize_nodes, self.census.kernels
        );
        let _ = writeln!(
            s,
            "## Outputs, float vs int8 ({} calibration images)\n",
            self.accuracy.images
        );
        let _ = writeln!(
            s,
            "| output | max abs diff | mean abs diff |\n|---|---|---|"
        );
        for d in self
            .accuracy
            .outputs
            .iter()
            .chain(std::iter::once(&self.accuracy.scores))
        {
            let _ = writeln!(s, "| {} | {:.5} | {:.6} |", d.name, d.max_abs, d.mean_abs);
        }
        let _ = writeln!(
            s,
            "\n## Layers\n\nTimes in ms, median, each layer alone in tract{}. int8 = QLinearConv i8->i8 with \
             per-channel weight scales, int8/T with one scale per tensor; q/dq = QuantizeLinear of its input / \
             DequantizeLinear of its output. err, err/T = ||int8-float||/||float|| of the layer alone on a \
             calibration activation, per-channel and per-tensor.\n",
            self.timings_from.as_ref().map(|p| format!(" (timings from {p})")).unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "| layer | kind | out shape | float | int8 | int8/T | q | dq | err | err/T | choice |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
        for l in &self.layers {
            let tensor_ms = l
                .times
                .int8_tensor_ms
                .map(|t| format!("{t:.2}"))
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                s,
                "| {} | {} | {:?} | {:.2} | {:.2} | {} | {:.2} | {:.2} | {:.4} | {:.4} | {} |",
                l.name,
                l.kind,
                l.out_shape,
                l.times.float_ms,
                l.times.int8_ms,
                tensor_ms,
                l.times.quantize_ms,
                l.times.dequantize_ms,
                l.rel_err,
                l.rel_err_tensor,
                l.reason
            );
        }
        s
    }
}

/// Reads the per-layer times from a report JSON (or from an int8 model's metadata record):
/// anything with a `layers` array of {name, float_ms, int8_ms, quantize_ms, dequantize_ms}.
pub fn read_timings(path: &Path) -> Result<HashMap<String, LayerTimes>, QuantError> {
    let text = std::fs::read_to_string(path).map_err(|e| QuantError::Io(path.to_path_buf(), e))?;
    #[derive(Deserialize)]
    struct Row {
        name: String,
        #[serde(flatten)]
        times: LayerTimes,
    }
    #[derive(Deserialize)]
    struct Table {
        layers: Vec<Row>,
    }
    let t: Table = serde_json::from_str(&text)
        .map_err(|e| QuantError::Timings(path.to_path_buf(), e.to_string()))?;
    Ok(t.layers.into_iter().map(|r| (r.name, r.times)).collect())
}
