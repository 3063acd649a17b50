//! The graph rewrite: chosen convolutions become QLinearConv with int8 activations and
//! int8 weights; QuantizeLinear/DequantizeLinear only where float and int8 meet.
//!
//! Conventions (the ones tract 0.23 runs as integer kernels and onnxruntime accepts):
//! - activations i8, per-tensor, asymmetric (zero point from the calibrated range, which is
//!   widened to include 0 so that 0.0, the padding value, is exact);
//! - weights i8, symmetric in [-127, 127], per output channel or per tensor (chosen per layer),
//!   one scalar zero point 0;
//! - bias i32 with scale x_scale * w_scale[c] and zero point 0.
//!
//! A ReLU (or Clip(0, hi)) after a convolution disappears: the output range starts at 0, so the
//! i8 saturation at the zero point is the ReLU.

use super::graph::{consumers, ConvSite, Fused};
use super::QuantError;
use ssd_model::model::onnx_builder::{node, tensor_f32, tensor_i32, tensor_i8};
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::{ModelProto, NodeProto, TensorProto};

/// Per-tensor affine int8 parameters: real = scale * (q - zero_point).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ActQuant {
    pub scale: f32,
    pub zero_point: i8,
}

impl ActQuant {
    pub fn from_range(lo: f32, hi: f32) -> ActQuant {
        let lo = lo.min(0.0);
        let hi = hi.max(0.0);
        if !(hi - lo).is_finite() || hi - lo <= f32::EPSILON {
            return ActQuant {
                scale: 1.0 / 255.0,
                zero_point: -128,
            };
        }
        let scale = (hi - lo) / 255.0;
        let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i8;
        ActQuant {
            scale,
            zero_point: zp,
        }
    }

    pub fn quantize(&self, x: f32) -> i8 {
        ((x / self.scale).round_ties_even() + self.zero_point as f32).clamp(-128.0, 127.0) as i8
    }

    pub fn dequantize(&self, q: i8) -> f32 {
        self.scale * (q as f32 - self.zero_point as f32)
    }
}

/// How a layer's weights are scaled. Per channel is the accurate default; one scale for the
/// whole tensor lets tract fuse the requantization (scale, zero point, clamp, cast) into its
/// matmul kernel instead of running it as separate passes over the i32 result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightScale {
    Channel,
    Tensor,
}

/// Symmetric weight quantization: `scales` has one entry per output channel, or a single one.
pub struct WeightQuant {
    pub scales: Vec<f32>,
    pub values: Vec<i8>,
}

impl WeightQuant {
    pub fn scale(&self, channel: usize) -> f32 {
        self.scales[if self.scales.len() == 1 { 0 } else { channel }]
    }
}

pub fn quantize_weights(w: &[f32], out_channels: usize, granularity: WeightScale) -> WeightQuant {
    let groups = match granularity {
        WeightScale::Channel => out_channels,
        WeightScale::Tensor => 1,
    };
    let per = w.len() / groups;
    let mut scales = Vec::with_capacity(groups);
    let mut values = Vec::with_capacity(w.len());
    for g in 0..groups {
        let row = &w[g * per..(g + 1) * per];
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let s = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(s);
        values.extend(
            row.iter()
                .map(|v| (v / s).round().clamp(-127.0, 127.0) as i8),
        );
    }
    WeightQuant { scales, values }
}

/// Range of a layer's int8 output: the calibrated range of its (post-activation) output,
/// limited by what the absorbed activation allows.
pub fn output_quant(
    site: &ConvSite,
    ranges: &HashMap<String, (f32, f32)>,
) -> Result<ActQuant, QuantError> {
    let (lo, hi) = range_of(ranges, &site.output)?;
    Ok(match site.fused {
        Fused::None => ActQuant::from_range(lo, hi),
        Fused::Relu => ActQuant::from_range(0.0, hi),
        Fused::Clip(top) => ActQuant::from_range(0.0, hi.min(top)),
    })
}

pub fn range_of(
    ranges: &HashMap<String, (f32, f32)>,
    tensor: &str,
) -> Result<(f32, f32), QuantError> {
    ranges
        .get(tensor)
        .copied()
        .ok_or_else(|| QuantError::Internal(format!("no calibrated range for tensor {tensor}")))
}

/// The QLinearConv node for `site` reading int8 `xq` and writing int8 `yq`, with its
/// constants. Scale/zero-point constants of `xq`/`yq` are named after those tensors so that
/// every layer reading one tensor shares them.
pub fn qlinear_conv(
    site: &ConvSite,
    xq: &str,
    x: ActQuant,
    yq: &str,
    y: ActQuant,
    granularity: WeightScale,
) -> (NodeProto, Vec<TensorProto>) {
    let n = &site.name;
    let oc = site.out_channels();
    let wq = quantize_weights(&site.weight, oc, granularity);
    let mut inits = act_params(xq, x);
    inits.extend(act_params(yq, y));
    inits.push(tensor_i8(
        &format!("{n}_w_q8"),
        &site.weight_dims,
        &wq.values,
    ));
    let scale_dims: &[i64] = match granularity {
        WeightScale::Channel => &[oc as i64],
        WeightScale::Tensor => &[],
    };
    inits.push(tensor_f32(&format!("{n}_w_scale"), scale_dims, &wq.scales));
    // A scalar zero point, not one per channel: tract folds its zero-point compensation away
    // only when it sees a uniform constant, which saves a full pass summing the activations
    // (98 -> 74 ms for the shipped model here).
    inits.push(tensor_i8(&format!("{n}_w_zp"), &[], &[0]));
    let mut inputs = vec![
        xq.to_string(),
        format!("{xq}_scale"),
        format!("{xq}_zp"),
        format!("{n}_w_q8"),
        format!("{n}_w_scale"),
        format!("{n}_w_zp"),
        format!("{yq}_scale"),
        format!("{yq}_zp"),
    ];
    if let Some(b) = &site.bias {
        let bq: Vec<i32> = b
            .iter()
            .enumerate()
            .map(|(c, b)| {
                (*b as f64 / (x.scale as f64 * wq.scale(c) as f64))
                    .round()
                    .clamp(i32::MIN as f64, i32::MAX as f64) as i32
            })
            .collect();
        inits.push(tensor_i32(&format!("{n}_b_q32"), &[oc as i64], &bq));
        inputs.push(format!("{n}_b_q32"));
    }
    let refs: Vec<&str> = inputs.iter().map(|s| s.as_str()).collect();
    let mut conv = node("QLinearConv", &format!("{n}_q8"), &refs, &[yq]);
    conv.attribute = site.attributes.clone();
    (conv, inits)
}

pub fn act_params(tensor_q: &str, q: ActQuant) -> Vec<TensorProto> {
    vec![
        tensor_f32(&format!("{tensor_q}_scale"), &[], &[q.scale]),
        tensor_i8(&format!("{tensor_q}_zp"), &[], &[q.zero_point]),
    ]
}

pub fn quantize_node(x: &str, xq: &str) -> NodeProto {
    node(
        "QuantizeLinear",
        &format!("{xq}_quantize"),
        &[x, &format!("{xq}_scale"), &format!("{xq}_zp")],
        &[xq],
    )
}

pub fn dequantize_node(yq: &str, y: &str) -> NodeProto {
    node(
        "DequantizeLinear",
        &format!("{yq}_dequantize"),
        &[yq, &format!("{yq}_scale"), &format!("{yq}_zp")],
        &[y],
    )
}

pub fn q_name(tensor: &str) -> String {
    format!("{tensor}_q8")
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RewriteStats {
    pub qlinear_convs: usize,
    pub quantize_nodes: usize,
    pub dequantize_nodes: usize,
}

/// Rewrites `model` so that the sites named in `int8` run as QLinearConv, with per-tensor
/// weight scales for those also named in `per_tensor` (per-channel for the others).
pub fn rewrite(
    model: &ModelProto,
    sites: &[ConvSite],
    int8: &HashSet<String>,
    per_tensor: &HashSet<String>,
    ranges: &HashMap<String, (f32, f32)>,
) -> Result<(ModelProto, RewriteStats), QuantError> {
    let mut out = model.clone();
    let graph = out
        .graph
        .as_mut()
        .ok_or_else(|| QuantError::Internal("model has no graph".into()))?;
    let chosen: Vec<&ConvSite> = sites.iter().filter(|s| int8.contains(&s.name)).collect();
    let mut stats = RewriteStats::default();
    if chosen.is_empty() {
        return Ok((out, stats));
    }
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .unwrap_or(0);
    if opset < 10 {
        return Err(QuantError::Unsupported(format!(
            "opset {opset} has no QLinearConv (needs 10 or later)"
        )));
    }

    let users = consumers(graph);
    let removed: HashSet<usize> = chosen
        .iter()
        .flat_map(|s| std::iter::once(s.conv_index).chain(s.act_index))
        .collect();
    let produced_q: HashMap<&str, &ConvSite> =
        chosen.iter().map(|s| (s.output.as_str(), *s)).collect();
    // Nodes keep their relative order: each new node takes the position of the conv it replaces
    // (a fractional key) and a final topological sort fixes what must come first.
    let mut keyed: Vec<(f64, NodeProto)> = graph
        .node
        .iter()
        .enumerate()
        .filter(|(i, _)| !removed.contains(i))
        .map(|(i, n)| (i as f64, n.clone()))
        .collect();
    let mut new_inits: Vec<TensorProto> = Vec::new();
    let mut have_params: HashSet<String> = HashSet::new();
    let mut push_inits = |inits: Vec<TensorProto>, new_inits: &mut Vec<TensorProto>| {
        for t in inits {
            if have_params.insert(t.name.clone()) {
                new_inits.push(t);
            }
        }
    };
    let mut quantized_inputs: HashSet<&str> = HashSet::new();
    for site in &chosen {
        let key = site.conv_index as f64;
        let x = match produced_q.get(site.input.as_str()) {
            Some(p) => output_quant(p, ranges)?,
            None => {
                let (lo, hi) = range_of(ranges, &site.input)?;
                let xq = ActQuant::from_range(lo, hi);
                if quantized_inputs.insert(site.input.as_str()) {
                    keyed.push((key - 0.5, quantize_node(&site.input, &q_name(&site.input))));
                    push_inits(act_params(&q_name(&site.input), xq), &mut new_inits);
                    stats.quantize_nodes += 1;
                }
                xq
            }
        };
        let y = output_quant(site, ranges)?;
        let granularity = if per_tensor.contains(&site.name) {
            WeightScale::Tensor
        } else {
            WeightScale::Channel
        };
        let (conv, inits) = qlinear_conv(
            site,
            &q_name(&site.input),
            x,
            &q_name(&site.output),
            y,
            granularity,
        );
        push_inits(inits, &mut new_inits);
        keyed.push((key, conv));
        stats.qlinear_convs += 1;
        let float_users = users
            .get(site.output.as_str())
            .map(|u| {
                u.iter().any(|&i| {
                    !(removed.contains(&i)
                        && chosen
                            .iter()
                            .any(|s| s.conv_index == i && s.input == site.output))
                })
            })
            .unwrap_or(false);
        let is_output = graph.output.iter().any(|o| o.name == site.output);
        if float_users || is_output {
            keyed.push((
                key + 0.25,
                dequantize_node(&q_name(&site.output), &site.output),
            ));
            stats.dequantize_nodes += 1;
        }
    }
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    let nodes: Vec<NodeProto> = keyed.into_iter().map(|(_, n)| n).collect();
    graph.initializer.extend(new_inits);
    graph.node = topo_sort(nodes, graph)?;

    // Drop the float weights nobody reads any more, and shape hints of vanished tensors.
    let used: HashSet<String> = graph
        .node
        .iter()
        .flat_map(|n| n.input.iter().cloned())
        .collect();
    let old_params: HashSet<String> = chosen
        .iter()
        .flat_map(|s| std::iter::once(s.conv_index).chain(s.act_index))
        .flat_map(|i| model.graph.as_ref().unwrap().node[i].input[1..].to_vec())
        .collect();
    graph
        .initializer
        .retain(|t| used.contains(&t.name) || !old_params.contains(&t.name));
    graph
        .input
        .retain(|i| used.contains(&i.name) || !old_params.contains(&i.name));
    let produced: HashSet<String> = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter().cloned())
        .collect();
    graph.value_info.retain(|v| produced.contains(&v.name));
    Ok((out, stats))
}

fn topo_sort(
    nodes: Vec<NodeProto>,
    graph: &tract_onnx::pb::GraphProto,
) -> Result<Vec<NodeProto>, QuantError> {
    let mut available: HashSet<String> = graph.input.iter().map(|i| i.name.clone()).collect();
    available.extend(graph.initializer.iter().map(|t| t.name.clone()));
    available.insert(String::new());
    let mut pending = nodes;
    let mut sorted = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for n in pending {
            if n.input.iter().all(|i| available.contains(i)) {
                available.extend(n.output.iter().cloned());
                sorted.push(n);
            } else {
                rest.push(n);
            }
        }
        if rest.len() == before {
            let missing: Vec<&String> = rest[0]
                .input
                .iter()
                .filter(|i| !available.contains(*i))
                .collect();
            return Err(QuantError::Internal(format!(
                "rewritten graph: node {} ({}) reads undefined tensors {missing:?}",
                rest[0].name, rest[0].op_type
            )));
        }
        pending = rest;
    }
    Ok(sorted)
}
