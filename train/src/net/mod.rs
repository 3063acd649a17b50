//! SSD networks: one architecture description (`spec::NetSpec`) per configuration, from which
//! the tch module (`model::SsdNet`) and the ONNX graph (`crate::export`) are both built.

pub mod model;
pub mod spec;
pub mod ssdlite_v2;

use std::path::PathBuf;

pub use model::{load_weights, SsdNet};
pub use spec::NetSpec;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("network configuration: {0}")]
    Config(String),
    #[error("shape: {0}")]
    Shape(String),
    #[error("weights {path}: {msg}")]
    Weights { path: PathBuf, msg: String },
}
