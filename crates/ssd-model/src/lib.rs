//! SSD models as ONNX files, on tract.
//!
//! `model` loads and runs a detector (its metadata, its input, per-node timing), `netspec`
//! describes the networks ssd-edge trains and writes them as ONNX, `import` turns published
//! detectors (TF.js, TFLite, PyTorch `.pth`) into ssd-edge models, and `provenance` records
//! how a model was made. No libtorch: the board binary links this crate (`ssd-edge detect`,
//! `ssd-edge import`), and the trainer (`ssd-train`) uses it to write and check its exports.

pub mod import;
pub mod model;
pub mod netspec;
pub mod provenance;
