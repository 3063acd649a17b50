//! Typed errors of model loading and inference. Each names the model's origin (a path or
//! "<embedded model>") and the problem, so the CLI can print them as they are. A cause is
//! part of the message and never also a `source()`: anyhow's `{:#}` prints the source chain,
//! and would print it twice.

use super::meta::MetaError;
use ssd_core::image::formats::FormatError;
use ssd_core::ssd::SsdError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model file {} does not exist", path.display())]
    NotFound { path: PathBuf },
    #[error("no model given and the default model {} does not exist: pass --model M.onnx, or run this from the folder that holds models/ (`make model-coco` imports the real model, `make model` trains the synthetic one)", path.display())]
    NoDefaultModel { path: PathBuf },
    #[error("cannot read model file {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{origin}: not a valid ONNX file (truncated or corrupt protobuf: {detail})")]
    Corrupt { origin: String, detail: String },
    #[error("{origin}: not an ONNX model ({detail})")]
    NotOnnx { origin: String, detail: String },
    #[error("{origin}: the model carries no ssd-edge metadata and no sidecar was given; describe it with a sidecar TOML (--sidecar, see docs/model-metadata.md)")]
    NoMetadata { origin: String },
    #[error("{origin}: bad metadata: {error}")]
    Metadata { origin: String, error: MetaError },
    /// The sidecar's own error names the file.
    #[error("{error}")]
    Sidecar { error: MetaError },
    #[error("{origin}: not an SSD model this runtime can use: {detail}")]
    Foreign { origin: String, detail: String },
    #[error("{origin}: the model predicts {model} boxes but the prior configuration generates {priors}; the sidecar or metadata does not describe this model")]
    PriorMismatch {
        origin: String,
        model: usize,
        priors: usize,
    },
    #[error("{origin}: the conf output has {model} classes but {labels} labels are given (background included)")]
    LabelMismatch {
        origin: String,
        model: usize,
        labels: usize,
    },
    #[error("{origin}: tract failed while {stage}: {detail}")]
    Tract {
        origin: String,
        stage: &'static str,
        detail: String,
    },
    #[error("threshold {0}")]
    Threshold(String),
    #[error("frame: {0}")]
    Frame(FormatError),
    #[error("decoding the model outputs: {0}")]
    Decode(SsdError),
}

// By hand, not `#[from]`: that would also make the inner error a `source()`.
impl From<FormatError> for ModelError {
    fn from(e: FormatError) -> Self {
        ModelError::Frame(e)
    }
}

impl From<SsdError> for ModelError {
    fn from(e: SsdError) -> Self {
        ModelError::Decode(e)
    }
}
