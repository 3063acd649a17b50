//! Pixels in and out: per-format readers (`formats`), resize + normalise into the model input
//! in one pass (`preprocess`), still image files (`still`), and drawing detections on a
//! picture (`annotate`, in the built-in pixel `font`).

pub mod annotate;
pub mod font;
pub mod formats;
pub mod jpeg_scan;
pub mod mjpeg;
pub mod preprocess;
pub mod still;
pub mod yuv;

pub use formats::FormatError;
pub use preprocess::Preprocessor;
