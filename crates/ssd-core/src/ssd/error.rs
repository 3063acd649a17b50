use thiserror::Error;

/// Errors of the SSD math. Prior configurations come from model files users bring, and
/// network outputs from models that may not match them, so both are checked, never assumed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SsdError {
    #[error("invalid prior configuration: {0}")]
    InvalidPriorConfig(String),
    #[error("loc output has {actual} values, expected {expected} ({priors} priors x 4)")]
    LocLength {
        expected: usize,
        actual: usize,
        priors: usize,
    },
    #[error(
        "conf output has {actual} values, expected {expected} ({priors} priors x {classes} classes)"
    )]
    ConfLength {
        expected: usize,
        actual: usize,
        priors: usize,
        classes: usize,
    },
}
