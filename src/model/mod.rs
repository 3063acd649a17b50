//! Models: the metadata contract (`meta`), writing ONNX graphs (`onnx_builder`), and the
//! tract runtime (`Detector`) that turns frames into detections.

pub mod auto;
mod detector;
mod error;
pub mod meta;
pub mod onnx_builder;
mod summary;

pub use detector::{Detector, MetaOrigin, NodeTime, StageTimes};
pub use error::ModelError;
pub use meta::{ChannelOrder, InputSpec, MetaError, ModelMeta, OutputNames, Provenance};
pub use summary::ModelSummary;

use std::path::{Path, PathBuf};

/// Threads for tract's kernels (matrix products and convolutions split over a pool that is
/// built here, once; nothing starts threads per frame). 1 keeps every op on the caller's
/// thread. Applies to every model run afterwards.
pub fn set_threads(n: usize) {
    use tract_linalg::multithread::{set_default_executor, Executor};
    set_default_executor(if n <= 1 {
        Executor::SingleThread
    } else {
        Executor::multithread_with_name(n, "ssd-edge-tract")
    });
}

/// The cores this process may use (cgroup and affinity limits included).
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

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
