//! TFLite (`.tflite` flatbuffer) to ONNX, without TensorFlow or libtorch.
//!
//! [`parse`] reads the flatbuffer with a small bounds-checked reader (a truncated or foreign
//! file is an error, never a panic); [`to_onnx`] rewrites the main subgraph as an ONNX graph
//! in NCHW with the board's conventions: one input `image` [1,3,H,W] (no normalisation in the
//! graph), outputs `loc` [1,P,4] and `conf` [1,P,C] holding exactly what the TFLite model
//! computes (raw box encodings, class predictions). A `TFLite_Detection_PostProcess` op ends
//! the graph at its inputs; its anchors and options are returned in [`DetectionPostProcess`].
//!
//! [`split_packed_assets`] reads a MediaPipe `*_packed_assets.data` file (a label map
//! followed by the model).

mod convert;
mod flatbuf;
mod flexbuf;
mod ops;
mod schema;
mod ssd;

pub use convert::{
    to_onnx, ConvertOptions, Converted, ConvertedOutput, DetectionPostProcess, OutputMode,
    PostProcessOptions,
};
pub use ops::builtin_name;
pub use schema::{
    parse, Activation, BuiltinOptions, Operator, OperatorCode, Padding, Quantization, SubGraph,
    Tensor, TensorType, TfliteModel,
};
pub use ssd::{import_ssd, ImportedSsd, SsdOptions};

/// Why a file could not be imported.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TfliteError {
    /// Not a TFLite flatbuffer at all (wrong identifier, too short).
    #[error("not a TFLite model: {0}")]
    NotTflite(String),
    /// A TFLite file whose structure is broken (truncated, offsets outside the file).
    #[error("malformed TFLite model: {0}")]
    Malformed(String),
    /// An operator the converter does not handle; `node` is its first output tensor.
    #[error("unsupported TFLite operator {op} (node `{node}`){detail}")]
    UnsupportedOp {
        op: String,
        node: String,
        detail: String,
    },
    /// A valid model outside what the converter handles (quantized tensors, several inputs...).
    #[error("unsupported TFLite model: {0}")]
    Unsupported(String),
    /// A MediaPipe packed-assets file that does not have the expected layout.
    #[error("packed assets: {0}")]
    PackedAssets(String),
}

/// A hint at what a foreign file is, for the "not a TFLite model" message.
fn sniff(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG") {
        ", looks like a PNG image"
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        ", looks like a JPEG image"
    } else if bytes.first() == Some(&0x08) {
        // ONNX ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
        ", looks like a protobuf (an ONNX model?)"
    } else if bytes.windows(4).take(1 << 16).any(|w| w == b"TFL3") {
        ", but \"TFL3\" appears further in: a container with a label map in front? See split_packed_assets"
    } else {
        ""
    }
}

/// Splits a MediaPipe packed-assets file: a newline-separated label map (one label a line,
/// index 0 first, "???" for background) directly followed by the `.tflite` flatbuffer.
///
/// The label map has no length prefix in the file (the JavaScript loader carries the byte
/// ranges), so the model is found by its "TFL3" identifier at bytes 4..8 of the flatbuffer,
/// which must start right after a newline; the labels must be printable UTF-8.
pub fn split_packed_assets(bytes: &[u8]) -> Result<(Vec<String>, &[u8]), TfliteError> {
    let start = (1..bytes.len().saturating_sub(7))
        .find(|&p| bytes[p - 1] == b'\n' && &bytes[p + 4..p + 8] == b"TFL3")
        .ok_or_else(|| {
            TfliteError::PackedAssets(
                "no TFLite model (\"TFL3\" identifier) after a newline-terminated label map".into(),
            )
        })?;
    let text = std::str::from_utf8(&bytes[..start]).map_err(|e| {
        TfliteError::PackedAssets(format!(
            "the label map before byte {start} is not UTF-8: {e}"
        ))
    })?;
    let labels: Vec<String> = text
        .strip_suffix('\n')
        .unwrap_or(text)
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    if let Some((i, l)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| l.is_empty() || l.chars().any(char::is_control))
    {
        return Err(TfliteError::PackedAssets(format!(
            "label {i} ({l:?}) is empty or holds control characters: not a label map"
        )));
    }
    Ok((labels, &bytes[start..]))
}

/// IEEE 754 binary16 to f32 (exact: every f16 is an f32).
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match (exp, man) {
        (0, 0) => sign,
        // Subnormal: value = man * 2^-24.
        (0, m) => {
            let v = m as f32 * 2f32.powi(-24);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, m) => sign | 0x7fc0_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests;
