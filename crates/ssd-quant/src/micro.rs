//! Single-layer models: each convolution alone, in float and in int8, timed in tract on this
//! machine and checked for accuracy on a real calibration activation.
//!
//! The int8 time is the QLinearConv alone (i8 in, i8 out), which is what the layer costs inside
//! a chain of int8 layers; the QuantizeLinear and DequantizeLinear a layer needs at a float
//! boundary are timed separately so the selection can charge them only where they occur.

use super::graph::{ConvSite, Fused};
use super::rewrite::{
    act_params, dequantize_node, qlinear_conv, quantize_node, ActQuant, WeightScale,
};
use super::QuantError;
use ssd_model::model::onnx_builder::{node, tensor_f32};
use std::time::{Duration, Instant};
use tract_onnx::pb::{
    tensor_proto::DataType, tensor_shape_proto, type_proto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use tract_onnx::prelude::*;

/// A runnable tract plan (what `into_runnable` gives).
pub type Plan = std::sync::Arc<TypedSimplePlan>;

pub fn value_info(name: &str, elem: DataType, dims: &[usize]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(*d as i64)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn model(
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    input: ValueInfoProto,
    output: ValueInfoProto,
) -> ModelProto {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "ssd-train quantize (layer probe)".into(),
        graph: Some(GraphProto {
            name: "probe".into(),
            node: nodes,
            initializer: inits,
            input: vec![input],
            output: vec![output],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The float layer: Conv and its activation, as in the source model.
pub fn float_layer(site: &ConvSite, in_shape: &[usize], out_shape: &[usize]) -> ModelProto {
    let mut inits = vec![tensor_f32("w", &site.weight_dims, &site.weight)];
    let mut inputs = vec!["x", "w"];
    if let Some(b) = &site.bias {
        inits.push(tensor_f32("b", &[b.len() as i64], b));
        inputs.push("b");
    }
    let mut conv = node("Conv", "conv", &inputs, &["c"]);
    conv.attribute = site.attributes.clone();
    let mut nodes = vec![conv];
    match site.fused {
        Fused::None => nodes[0].output[0] = "y".into(),
        Fused::Relu => nodes.push(node("Relu", "act", &["c"], &["y"])),
        Fused::Clip(hi) => {
            inits.push(tensor_f32("lo", &[], &[0.0]));
            inits.push(tensor_f32("hi", &[], &[hi]));
            nodes.push(node("Clip", "act", &["c", "lo", "hi"], &["y"]));
        }
    }
    model(
        nodes,
        inits,
        value_info("x", DataType::Float, in_shape),
        value_info("y", DataType::Float, out_shape),
    )
}

/// The int8 layer; `wrapped` adds QuantizeLinear before and DequantizeLinear after so it takes
/// and gives float (for the accuracy check), else it is i8 -> i8 (for timing).
pub fn int8_layer(
    site: &ConvSite,
    in_shape: &[usize],
    out_shape: &[usize],
    x: ActQuant,
    y: ActQuant,
    granularity: WeightScale,
    wrapped: bool,
) -> ModelProto {
    let (conv, inits) = qlinear_conv(site, "x_q8", x, "y_q8", y, granularity);
    if wrapped {
        let nodes = vec![
            quantize_node("x", "x_q8"),
            conv,
            dequantize_node("y_q8", "y"),
        ];
        model(
            nodes,
            inits,
            value_info("x", DataType::Float, in_shape),
            value_info("y", DataType::Float, out_shape),
        )
    } else {
        model(
            vec![conv],
            inits,
            value_info("x_q8", DataType::Int8, in_shape),
            value_info("y_q8", DataType::Int8, out_shape),
        )
    }
}

/// QuantizeLinear (`to_int8`) or DequantizeLinear alone over a tensor of `shape`.
pub fn boundary(shape: &[usize], q: ActQuant, to_int8: bool) -> ModelProto {
    let inits = act_params("t_q8", q);
    if to_int8 {
        model(
            vec![quantize_node("t", "t_q8")],
            inits,
            value_info("t", DataType::Float, shape),
            value_info("t_q8", DataType::Int8, shape),
        )
    } else {
        model(
            vec![dequantize_node("t_q8", "t")],
            inits,
            value_info("t_q8", DataType::Int8, shape),
            value_info("t", DataType::Float, shape),
        )
    }
}

pub fn plan(model: &ModelProto, what: &str) -> Result<Plan, QuantError> {
    tract_onnx::onnx()
        .model_for_proto_model(model)
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(|e| QuantError::Tract(format!("{what}: {e:#}")))
}

/// Median wall time of one forward in milliseconds: one warm-up run, then runs until `budget`
/// is spent (at least 3, at most 200).
pub fn time_plan(plan: &Plan, input: &Tensor, budget: Duration) -> Result<f64, QuantError> {
    let mut state = tract_onnx::tract_core::plan::SimpleState::new(plan)
        .map_err(|e| QuantError::Tract(format!("{e:#}")))?;
    let mut times = Vec::new();
    let start = Instant::now();
    // Run 0 is the warm-up (allocations, caches) and is not kept.
    for run in 0.. {
        let t = Instant::now();
        state
            .run(tvec!(input.clone().into()))
            .map_err(|e| QuantError::Tract(format!("{e:#}")))?;
        if run > 0 {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        if times.len() >= 200 || (times.len() >= 3 && start.elapsed() >= budget) {
            break;
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

pub fn zeros(dt: DatumType, shape: &[usize]) -> Result<Tensor, QuantError> {
    Tensor::zero_dt(dt, shape).map_err(|e| QuantError::Internal(format!("{e:#}")))
}

/// Runs a one-input model once and returns its first output as f32 values.
pub fn run_f32(plan: &Plan, input: Tensor) -> Result<Vec<f32>, QuantError> {
    let out = plan
        .run(tvec!(input.into()))
        .map_err(|e| QuantError::Tract(format!("{e:#}")))?;
    as_f32(&out[0])
}

/// A tract value's elements as f32.
pub fn as_f32(t: &TValue) -> Result<Vec<f32>, QuantError> {
    let t = t
        .cast_to::<f32>()
        .map_err(|e| QuantError::Tract(format!("{e:#}")))?;
    let v = t
        .try_as_plain_ram()
        .and_then(|p| p.as_slice::<f32>().map(|s| s.to_vec()));
    v.map_err(|e| QuantError::Tract(format!("{e:#}")))
}

/// ||a - b|| / ||b||, 0 when both vanish.
pub fn relative_error(a: &[f32], b: &[f32]) -> f32 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    if den == 0.0 {
        if num == 0.0 {
            0.0
        } else {
            f32::INFINITY
        }
    } else {
        (num / den).sqrt() as f32
    }
}
