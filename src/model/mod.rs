//! Models: the metadata contract (`meta`), writing ONNX graphs (`onnx_builder`), and the
//! tract runtime (`Detector`) that turns frames into detections.

mod detector;
mod error;
pub mod meta;
pub mod onnx_builder;
mod summary;

pub use detector::{Detector, MetaOrigin, StageTimes};
pub use error::ModelError;
pub use meta::{ChannelOrder, InputSpec, MetaError, ModelMeta, OutputNames, Provenance};
pub use summary::ModelSummary;

use std::path::{Path, PathBuf};

/// Where the CLI looks for a model when none is given, relative to the current directory.
pub const DEFAULT_MODEL_PATH: &str = "models/default.onnx";

#[cfg(feature = "embed-model")]
static EMBEDDED_MODEL: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/default.onnx"));

/// The model to use when the user names none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DefaultModel {
    /// Baked into the binary (feature `embed-model`).
    Embedded(&'static [u8]),
    File(PathBuf),
}

/// The embedded model with feature `embed-model`, else `models/default.onnx`.
pub fn default_model() -> DefaultModel {
    #[cfg(feature = "embed-model")]
    {
        DefaultModel::Embedded(EMBEDDED_MODEL)
    }
    #[cfg(not(feature = "embed-model"))]
    {
        DefaultModel::File(PathBuf::from(DEFAULT_MODEL_PATH))
    }
}

impl DefaultModel {
    /// Loads it; a missing default file gets a hint on how to make one.
    pub fn load(&self, sidecar: Option<&Path>) -> Result<Detector, ModelError> {
        match self {
            DefaultModel::Embedded(bytes) => Detector::from_bytes(bytes, sidecar),
            DefaultModel::File(path) => match Detector::load(path, sidecar) {
                Err(ModelError::NotFound { path }) => Err(ModelError::NoDefaultModel { path }),
                other => other,
            },
        }
    }
}
