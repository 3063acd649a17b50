//! Library side of `ssd-train`, so tests and the CLI share one implementation.

pub mod data;
pub mod eval;
pub mod export;
pub mod import;
pub mod loss;
pub mod net;
pub mod provenance;
pub mod pth;
pub mod quant;
pub mod trainer;
