//! Published PyTorch detectors into ssd-edge models. The importer itself (the `.pth` reader,
//! the ssd.pytorch / torchvision name maps and metadata, the ONNX writer) is the board crate's
//! `ssd_model::import::torch`, re-exported here, so `ssd-edge import` runs on a board without
//! libtorch; `ssd-train import` delegates to it. Only what copies tensors into a tch VarStore
//! (`backbone`, pretrained backbones for fine-tuning) lives in the trainer.

pub mod backbone;

pub use ssd_model::import::torch::*;
