//! SSD networks: one architecture description per configuration (`spec::NetSpec`, the board
//! crate's `ssd_model::netspec`, re-exported here), from which the tch module
//! (`model::SsdNet`) and the ONNX graph (`crate::export`) are both built.

pub mod model;

use std::path::PathBuf;

pub use model::{load_weights, SsdNet};
pub use ssd_model::netspec as spec;
pub use ssd_model::netspec::{ssdlite_v2, NetSpec, SpecError};

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A configuration or shape error of the description itself.
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("shape: {0}")]
    Shape(String),
    #[error("weights {path}: {msg}")]
    Weights { path: PathBuf, msg: String },
}
