//! Per-epoch metrics: appended to `metrics.csv` and kept for the plot.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::TrainError;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub step: usize,
    pub loss: f64,
    pub loss_loc: f64,
    pub loss_conf: f64,
    pub lr: f64,
    pub images_per_s: f64,
    /// VOC07 mAP on the validation set (fraction), when evaluated this epoch.
    pub map: Option<f64>,
    /// Batches skipped because the loss was not finite.
    pub skipped: usize,
    pub seconds: f64,
    /// Of `seconds`: time the training loop waited for the data loader (a loader that keeps
    /// up shows ~0 here).
    #[serde(default)]
    pub data_wait_s: f64,
    /// Of `seconds`: time spent in the validation pass.
    #[serde(default)]
    pub eval_s: f64,
}

pub const CSV_HEADER: &str =
    "epoch,step,loss,loss_loc,loss_conf,lr,images_per_s,map,skipped,seconds,data_wait_s,eval_s";

impl EpochMetrics {
    pub fn csv_row(&self) -> String {
        format!(
            "{},{},{:.6},{:.6},{:.6},{:.6e},{:.2},{},{},{:.1},{:.1},{:.1}",
            self.epoch,
            self.step,
            self.loss,
            self.loss_loc,
            self.loss_conf,
            self.lr,
            self.images_per_s,
            self.map.map(|m| format!("{m:.4}")).unwrap_or_default(),
            self.skipped,
            self.seconds,
            self.data_wait_s,
            self.eval_s
        )
    }
}

/// Appends one row, writing the header first when the file is new.
pub fn append_csv(path: &Path, m: &EpochMetrics) -> Result<(), TrainError> {
    let io = |e| TrainError::io(path, e);
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    if new {
        writeln!(f, "{CSV_HEADER}").map_err(io)?;
    }
    writeln!(f, "{}", m.csv_row()).map_err(io)
}
