//! Library side of `ssd-train`, so tests and the CLI share one implementation.

pub mod data;
pub mod eval;
pub mod export;
pub mod import;
pub mod loss;
pub mod net;
pub mod quant;
pub mod trainer;

// Libtorch-free parts that moved to the board crate (so `ssd-edge import` runs on a board),
// re-exported under their former paths.
pub use ssd_model::import::pth;
pub use ssd_model::provenance;
