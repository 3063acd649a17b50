//! Importers that turn detectors trained elsewhere into the ONNX graph the board runs.
//!
//! Each importer writes an ONNX model with one NCHW float input (no normalisation inside:
//! the board's preprocessor applies it) and the raw SSD head outputs `loc` and `conf`.

pub mod tflite;
