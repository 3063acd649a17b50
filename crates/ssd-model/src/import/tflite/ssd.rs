//! A converted TFLite SSD with its ssd-edge metadata: what the flatbuffer says (input size,
//! the post-processing op's anchors and scales where it has one) and what a TFLite SSD's
//! pipeline around it says (MediaPipe's `SsdAnchorsCalculator` and `TensorsToDetections`
//! options, the input range), which the caller names.

use prost::Message;
use tract_onnx::pb;

use super::{to_onnx, ConvertOptions, TfliteError};
use crate::model::meta::{ModelMeta, Provenance, SCHEMA_VERSION};
use crate::model::onnx_builder::tensor_f32;
use ssd_core::image::preprocess::{ChannelOrder, InputSpec, Resize};
use ssd_core::ssd::{
    AnchorCoords, AnchorTensor, BoxDecode, CodeOrder, ConfKind, Priors, SsdAnchors, Variances,
};

/// The anchor initializer's name when the model carried its anchors.
pub const ANCHORS_NAME: &str = "anchors";

#[derive(Clone, Debug)]
pub struct SsdOptions {
    /// Class names by slot, background first (MediaPipe's label map, or `--labels`).
    pub labels: Option<Vec<String>>,
    /// The anchor generator for a model without `TFLite_Detection_PostProcess` (whose
    /// anchors live in the app around it). Ignored when the model has that op.
    pub anchors: Option<SsdAnchors>,
    /// The float range the pixels 0..255 are mapped to (`[-1, 1]` for MobileNet SSDs).
    pub input_range: (f32, f32),
    pub architecture: Option<String>,
    pub provenance: Provenance,
}

impl Default for SsdOptions {
    fn default() -> Self {
        SsdOptions {
            labels: None,
            anchors: None,
            input_range: (-1.0, 1.0),
            architecture: None,
            provenance: Provenance::default(),
        }
    }
}

/// The ONNX bytes (metadata inside) and the metadata.
pub struct ImportedSsd {
    pub onnx: Vec<u8>,
    pub meta: ModelMeta,
    pub ops: Vec<String>,
}

fn bad(what: String) -> TfliteError {
    TfliteError::Unsupported(what)
}

pub fn import_ssd(bytes: &[u8], opts: &SsdOptions) -> Result<ImportedSsd, TfliteError> {
    let model = super::parse(bytes)?;
    let conv = to_onnx(&model, &ConvertOptions::default())?;
    let (h, w) = conv.input_hw;
    let p = conv
        .num_priors
        .ok_or_else(|| bad("no SSD box and class outputs".into()))?;
    let c = conv
        .num_classes
        .ok_or_else(|| bad("no SSD class output".into()))?;
    if conv.input_channels != 3 {
        return Err(bad(format!(
            "{} input channels, not RGB",
            conv.input_channels
        )));
    }
    let mut proto = pb::ModelProto::decode(conv.onnx.as_slice())
        .map_err(|e| bad(format!("the converted graph does not re-read: {e}")))?;
    // Where the anchors and the code scales come from.
    let (priors, variances) = match (&conv.post_process, &opts.anchors) {
        (Some(pp), _) => {
            let o = &pp.options;
            if o.y_scale != o.x_scale || o.h_scale != o.w_scale || o.y_scale <= 0.0 || o.h_scale <= 0.0 {
                return Err(bad(format!(
                    "box code scales y {} x {} h {} w {}: y and x (and h and w) must share one positive scale",
                    o.y_scale, o.x_scale, o.h_scale, o.w_scale
                )));
            }
            let flat: Vec<f32> = pp.anchors.iter().flatten().copied().collect();
            let graph = proto.graph.as_mut().ok_or_else(|| bad("no graph".into()))?;
            graph
                .initializer
                .push(tensor_f32(ANCHORS_NAME, &[pp.anchors.len() as i64, 4], &flat));
            (
                Priors::Tensor(AnchorTensor {
                    name: ANCHORS_NAME.into(),
                    coords: AnchorCoords::YxhwCenter,
                    boxes: None,
                }),
                Variances {
                    center: 1.0 / o.y_scale,
                    size: 1.0 / o.h_scale,
                },
            )
        }
        (None, Some(a)) => {
            if a.num_priors() != p {
                return Err(bad(format!(
                    "the anchor options give {} anchors, the model predicts {p} boxes",
                    a.num_priors()
                )));
            }
            // TensorsToDetections' scales for these SSDs: 10, 10, 5, 5.
            (Priors::Ssd(a.clone()), Variances::default())
        }
        (None, None) => {
            return Err(bad(
                "the model has no TFLite_Detection_PostProcess op, so its anchors are not in the file: name the generator (--anchors mediapipe-ssd300)".into(),
            ))
        }
    };
    let labels = crate::import::slot_labels(opts.labels.as_deref(), c).map_err(bad)?;
    let (lo, hi) = opts.input_range;
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return Err(bad(format!("input range [{lo}, {hi}] is empty")));
    }
    let meta = ModelMeta {
        schema_version: SCHEMA_VERSION,
        architecture: opts
            .architecture
            .clone()
            .unwrap_or_else(|| "ssd-tflite".into()),
        labels,
        input: InputSpec {
            width: w as u32,
            height: h as u32,
            channel_order: ChannelOrder::Rgb,
            mean: [-lo; 3],
            std: [1.0; 3],
            scale: (hi - lo) / 255.0,
            resize: Resize::HalfPixel,
        },
        priors,
        variances,
        decode: BoxDecode {
            clip: false,
            max_log_scale: None,
            order: CodeOrder::Yxhw,
        },
        conf_kind: match conv.conf_activation.as_deref() {
            None => ConfKind::Sigmoid,
            Some("LOGISTIC") => ConfKind::Scores,
            Some(other) => {
                return Err(bad(format!(
                    "class predictions from {other} are not supported"
                )))
            }
        },
        outputs: crate::import::raw_outputs(),
        nms: crate::import::tf_ssd_nms(),
        detection_threshold: 0.5,
        provenance: opts.provenance.clone(),
    };
    meta.validate().map_err(|e| bad(e.to_string()))?;
    proto.metadata_props.extend(
        meta.to_metadata_props()
            .into_iter()
            .map(|(key, value)| pb::StringStringEntryProto { key, value }),
    );
    Ok(ImportedSsd {
        onnx: proto.encode_to_vec(),
        meta,
        ops: conv.ops,
    })
}
