//! Library side of `ssd-train`, so tests and the CLI share one implementation.

pub mod export;
pub mod loss;
pub mod net;
pub mod trainer;
pub mod quant;
pub mod data;
pub mod eval;
