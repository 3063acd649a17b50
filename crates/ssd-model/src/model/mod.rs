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

/// Which shipped model a command defaults to: the real COCO detector for cameras, video,
/// streams and photos; the synthetic-street model for the synthetic source (its scenes are
/// what it was trained on, and tests compare it with the generator's exact truth).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFamily {
    Real,
    Synthetic,
}

impl ModelFamily {
    /// The int8 and float files of the family, int8 first (see [`auto`]).
    pub fn files(self) -> [&'static str; 2] {
        match self {
            ModelFamily::Real => ["coco-ssdlite-mnv2.onnx", "coco-ssdlite-mnv2-float.onnx"],
            ModelFamily::Synthetic => ["default.onnx", "default-float.onnx"],
        }
    }

    /// Where the CLI looks for the family's model when none is given, relative to the
    /// current directory.
    pub fn default_path(self) -> PathBuf {
        Path::new(MODELS_DIR).join(self.files()[0])
    }
}

/// The folder of the shipped models, relative to the current directory.
pub const MODELS_DIR: &str = "models";
/// The synthetic-street model's path (kept for tools that name it).
pub const DEFAULT_MODEL_PATH: &str = "models/default.onnx";
