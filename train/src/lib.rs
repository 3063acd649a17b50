//! Library side of `ssd-train`, so tests and the CLI share one implementation: what needs
//! libtorch (networks as tch modules, the loss, the training loop, checkpoint export).

pub mod export;
pub mod import;
pub mod loss;
pub mod net;
pub mod trainer;

// Libtorch-free parts that moved to the board crate (so `ssd-edge import` runs on a board),
// re-exported under their former paths.
pub use ssd_model::import::pth;
pub use ssd_model::provenance;

// The libtorch-free host parts are crates of their own (data sets and metrics, quantization),
// re-exported under the paths the trainer's code and tests use.
pub use ssd_data as data;
pub use ssd_data::eval;
pub use ssd_quant as quant;
