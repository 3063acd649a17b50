//! Importers: detectors published in other frameworks' formats, turned into ONNX models with
//! ssd-edge metadata. They live in the board's crate (no libtorch, no Python), so a board
//! imports with the binary it already has; the trainer uses the same code.

pub mod tfjs;
