//! ssd-edge: run an SSD object detector on a board, offline.
//!
//! Data flow of one frame (see README "Architecture"):
//! `source` -> `image` (preprocess into the model input) -> `model` (tract) ->
//! `ssd` (decode + NMS into fixed-capacity buffers) -> sinks.
//! `ssd` and `synth` are shared with the trainer (`train/`), so the boxes a model was trained
//! with are, by construction, the boxes the board decodes with. So are `netspec` (the network
//! description and its ONNX writer) and `import` (published detectors into ssd-edge models),
//! which need no libtorch and so run on the board too (`ssd-edge import`).

pub mod alloc_count;
pub mod config;
pub mod count;
pub mod frame;
#[cfg(feature = "http")]
pub mod http;
pub mod image;
#[cfg(feature = "runtime")]
pub mod import;
pub mod limits;
#[cfg(feature = "runtime")]
pub mod model;
pub mod netspec;
#[cfg(feature = "runtime")]
pub mod pipeline;
pub mod provenance;
pub mod shutdown;
pub mod sink;
pub mod snapshot;
pub mod source;
pub mod ssd;
#[cfg(feature = "store")]
pub mod store;
pub mod synth;
pub mod track;
pub mod wall_clock;
