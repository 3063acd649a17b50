//! ssd-edge: run an SSD object detector on a board, offline.
//!
//! Data flow of one frame (see README "Architecture"):
//! `source` -> `image` (preprocess into the model input) -> `model` (tract) ->
//! `ssd` (decode + NMS into fixed-capacity buffers) -> sinks.
//!
//! The layers below are crates of their own, shared with the trainer (`train/`): `ssd-core`
//! (the SSD math, synthetic scenes, pixel formats and preprocessing, input limits; no
//! runtime) and `ssd-model` (the tract detector, the network description and its ONNX writer,
//! the importers of published detectors). They are re-exported here under their module names,
//! so `ssd_edge::ssd` is `ssd_core::ssd`: one path for the board's code and its tests.

pub mod alloc_count;
pub mod count;
#[cfg(feature = "http")]
pub mod http;
pub mod pipeline;
#[cfg(feature = "store")]
pub mod render;
pub mod shutdown;
pub mod sink;
pub mod snapshot;
pub mod source;
#[cfg(feature = "store")]
pub mod store;
pub mod track;
pub mod wall_clock;

pub use ssd_core::{frame, image, limits, ssd, synth};
pub use ssd_model::{import, model, netspec, provenance};
