//! Reading and writing ONNX protobufs, and reading tensors and attributes back (constructors
//! are the board's `ssd_model::model::onnx_builder`). The graph is edited as `tract_onnx::pb` structs so everything tract does not look at
//! (metadata_props, doc strings, value_info) survives the round trip.

use super::QuantError;
use prost::Message;
use std::path::Path;
use tract_onnx::pb::{
    tensor_proto::DataType, ModelProto, NodeProto, StringStringEntryProto, TensorProto,
};

pub fn load_model(path: &Path) -> Result<ModelProto, QuantError> {
    let bytes = std::fs::read(path).map_err(|e| QuantError::Io(path.to_path_buf(), e))?;
    decode_model(&bytes).map_err(|why| QuantError::NotOnnx(path.to_path_buf(), why))
}

/// Decodes and sanity-checks: prost accepts many non-ONNX byte strings as an empty message.
pub fn decode_model(bytes: &[u8]) -> Result<ModelProto, String> {
    let model = ModelProto::decode(bytes).map_err(|e| format!("protobuf decode failed: {e}"))?;
    let graph = model.graph.as_ref().ok_or("no graph in the model")?;
    if graph.node.is_empty() {
        return Err("the graph has no nodes".into());
    }
    if graph.input.is_empty() || graph.output.is_empty() {
        return Err("the graph has no inputs or no outputs".into());
    }
    Ok(model)
}

pub fn save_model(model: &ModelProto, path: &Path) -> Result<(), QuantError> {
    std::fs::write(path, model.encode_to_vec()).map_err(|e| QuantError::Io(path.to_path_buf(), e))
}

/// The values of a float initializer (raw or typed storage), checked against its shape.
pub fn f32_values(t: &TensorProto) -> Result<Vec<f32>, String> {
    if t.data_type != DataType::Float as i32 {
        return Err(format!(
            "initializer {} is not float (type {})",
            t.name, t.data_type
        ));
    }
    let len: i64 = t.dims.iter().product();
    let data = if !t.float_data.is_empty() {
        t.float_data.clone()
    } else {
        t.raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    if data.len() as i64 != len {
        return Err(format!(
            "initializer {} holds {} values for shape {:?}",
            t.name,
            data.len(),
            t.dims
        ));
    }
    Ok(data)
}

pub fn attr_int(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// Clip's bounds live in inputs since opset 11 and in attributes before.
pub fn clip_bounds(node: &NodeProto, inits: &[TensorProto]) -> (Option<f32>, Option<f32>) {
    let from_attr = |n: &str| node.attribute.iter().find(|a| a.name == n).map(|a| a.f);
    let from_input = |ix: usize| {
        let name = node.input.get(ix).filter(|s| !s.is_empty())?;
        let t = inits.iter().find(|t| &t.name == name)?;
        f32_values(t).ok()?.first().copied()
    };
    (
        from_input(1).or_else(|| from_attr("min")),
        from_input(2).or_else(|| from_attr("max")),
    )
}

pub fn set_meta(model: &mut ModelProto, key: &str, value: String) {
    if let Some(e) = model.metadata_props.iter_mut().find(|e| e.key == key) {
        e.value = value;
    } else {
        model.metadata_props.push(StringStringEntryProto {
            key: key.into(),
            value,
        });
    }
}

/// Static dims of the first graph input, when the model states them all.
pub fn input_dims(model: &ModelProto) -> Option<Vec<usize>> {
    use tract_onnx::pb::{tensor_shape_proto::dimension::Value, type_proto};
    let input = model.graph.as_ref()?.input.first()?;
    let Some(type_proto::Value::TensorType(t)) = input.r#type.as_ref()?.value.as_ref() else {
        return None;
    };
    t.shape
        .as_ref()?
        .dim
        .iter()
        .map(|d| match d.value {
            Some(Value::DimValue(v)) if v > 0 => Some(v as usize),
            _ => None,
        })
        .collect()
}
