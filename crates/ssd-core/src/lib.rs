//! The SSD math and everything around it that needs no model runtime.
//!
//! `ssd` (default boxes, box codecs, IoU, NMS, the decoder into fixed-capacity buffers, the
//! VOC matcher), `synth` (the synthetic street scenes), `image` and `frame` (pixel formats,
//! decoding stills and MJPEG, preprocessing into a model's input) and `limits` (bounded
//! reads of untrusted input). The board (`ssd-edge`) and the trainer (`ssd-train`) both build
//! on this crate, so the boxes a model was trained with are, by construction, the boxes the
//! board decodes with. No tract and no libtorch: its tests run under qemu for every ARM
//! target.

pub mod frame;
pub mod image;
pub mod limits;
pub mod ssd;
pub mod synth;
