//! The one source of truth for SSD math, shared by the board (`ssd-edge`) and the trainer
//! (`ssd-train`): default boxes, box encoding, IoU, training-target matching, and the
//! allocation-free per-frame decoder with NMS, and the VOC rule that scores detections against
//! ground truth. Semantics follow amdegroot/ssd.pytorch, whose
//! reference values the tests in `tests/ssd_reference.rs` reproduce.

mod anchors;
mod codec;
mod decoder;
mod error;
mod iou;
mod matcher;
mod nms;
mod priors;
mod softmax_exp;
mod voc_match;

pub use anchors::{AnchorCoords, AnchorTensor, Priors, SsdAnchors};
pub use codec::{
    center_to_corner, corner_to_center, decode, encode, BoxDecode, CenterBox, CodeOrder, CornerBox,
    Variances,
};
pub use decoder::{ConfKind, Decoder, Detection, Detections, MAX_DETECTIONS};
pub use error::SsdError;
pub use iou::iou;
pub use matcher::match_priors;
pub use nms::{nms, NmsConfig};
pub use priors::{PriorClip, PriorConfig, PriorScales, MAX_PRIORS};
pub use voc_match::{match_detections, FrameCounts, GtBox, MatchOutcome, VocRule};
