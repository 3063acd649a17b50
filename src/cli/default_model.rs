//! The model `ssd-edge` uses when the user names none: baked into the binary with feature
//! `embed-model` (one file to copy onto a board), else the family's file under `models/`.
//! The binary's choice, so it lives here rather than in `ssd-model`.

use ssd_edge::model::{Detector, ModelError, ModelFamily};
use std::path::{Path, PathBuf};

#[cfg(feature = "embed-model")]
static EMBEDDED_REAL: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/models/coco-ssdlite-mnv2.onnx"
));
#[cfg(feature = "embed-model")]
static EMBEDDED_SYNTHETIC: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/default.onnx"));

/// The model to use when the user names none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DefaultModel {
    /// Baked into the binary (feature `embed-model`).
    #[cfg_attr(not(feature = "embed-model"), allow(dead_code))]
    Embedded(&'static [u8]),
    File(PathBuf),
}

/// The family's embedded model with feature `embed-model`, else its file under `models/`.
pub fn default_model(family: ModelFamily) -> DefaultModel {
    #[cfg(feature = "embed-model")]
    {
        DefaultModel::Embedded(match family {
            ModelFamily::Real => EMBEDDED_REAL,
            ModelFamily::Synthetic => EMBEDDED_SYNTHETIC,
        })
    }
    #[cfg(not(feature = "embed-model"))]
    {
        DefaultModel::File(family.default_path())
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
