//! Finds the convolutions a quantizer can take over: a `Conv` with constant weights, and the
//! activation it can absorb into its output range.

use super::onnx_io::{attr_int, clip_bounds, f32_values};
use std::collections::HashMap;
use tract_onnx::pb::{AttributeProto, GraphProto, ModelProto, NodeProto};

/// An activation an int8 output can express exactly by saturating at the ends of its range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fused {
    None,
    Relu,
    /// Clip(lo, hi) with lo == 0 (ReLU6 and friends).
    Clip(f32),
}

#[derive(Clone, Debug)]
pub struct ConvSite {
    /// Layer name: the Conv node's name (its output tensor name when the node is unnamed).
    pub name: String,
    pub conv_index: usize,
    /// Index of the absorbed activation node, if any.
    pub act_index: Option<usize>,
    pub fused: Fused,
    /// Float input tensor.
    pub input: String,
    /// Float output tensor after the absorbed activation.
    pub output: String,
    /// Conv output tensor before the activation.
    pub conv_output: String,
    pub weight: Vec<f32>,
    /// O, I/group, kh, kw.
    pub weight_dims: Vec<i64>,
    pub bias: Option<Vec<f32>>,
    pub group: i64,
    /// The Conv's attributes (pads, strides, dilations, group, kernel_shape), reused verbatim.
    pub attributes: Vec<AttributeProto>,
}

impl ConvSite {
    pub fn out_channels(&self) -> usize {
        self.weight_dims[0] as usize
    }

    pub fn is_depthwise(&self) -> bool {
        self.group > 1 && self.group == self.weight_dims[0] && self.weight_dims[1] == 1
    }

    /// Multiply-accumulates per output pixel, for the report.
    pub fn macs_per_pixel(&self) -> usize {
        self.weight.len()
    }

    pub fn kind(&self) -> String {
        let k = format!("{}x{}", self.weight_dims[2], self.weight_dims[3]);
        if self.is_depthwise() {
            format!("dw{k}")
        } else {
            k
        }
    }
}

pub fn consumers(graph: &GraphProto) -> HashMap<&str, Vec<usize>> {
    let mut map: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for input in &n.input {
            map.entry(input.as_str()).or_default().push(i);
        }
    }
    map
}

fn is_graph_output(graph: &GraphProto, tensor: &str) -> bool {
    graph.output.iter().any(|o| o.name == tensor)
}

/// All Conv nodes with constant weights, in graph order. A Conv whose weights are not an
/// initializer (or not float) stays float and is skipped with a log line.
pub fn conv_sites(model: &ModelProto) -> Vec<ConvSite> {
    let Some(graph) = model.graph.as_ref() else {
        return vec![];
    };
    let inits: HashMap<&str, _> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let consumers = consumers(graph);
    let mut sites = Vec::new();
    for (i, n) in graph.node.iter().enumerate() {
        if n.op_type != "Conv" || !n.domain.is_empty() && n.domain != "ai.onnx" {
            continue;
        }
        let name = if n.name.is_empty() {
            n.output[0].clone()
        } else {
            n.name.clone()
        };
        let Some(w) = n.input.get(1).and_then(|w| inits.get(w.as_str())) else {
            log::warn!("{name}: weights are not a constant, layer stays float");
            continue;
        };
        let (weight, weight_dims) = match f32_values(w) {
            Ok(v) if w.dims.len() == 4 => (v, w.dims.clone()),
            Ok(_) => {
                log::warn!("{name}: not a 2-D convolution, layer stays float");
                continue;
            }
            Err(e) => {
                log::warn!("{name}: {e}, layer stays float");
                continue;
            }
        };
        let bias = match n.input.get(2).filter(|b| !b.is_empty()) {
            None => None,
            Some(b) => match inits.get(b.as_str()).map(|t| f32_values(t)) {
                Some(Ok(v)) => Some(v),
                _ => {
                    log::warn!("{name}: bias is not a float constant, layer stays float");
                    continue;
                }
            },
        };
        let conv_output = n.output[0].clone();
        let (fused, act_index, output) = fusable_activation(graph, &consumers, &conv_output)
            .unwrap_or((Fused::None, None, conv_output.clone()));
        sites.push(ConvSite {
            name,
            conv_index: i,
            act_index,
            fused,
            input: n.input[0].clone(),
            output,
            conv_output,
            weight,
            weight_dims,
            bias,
            group: attr_int(n, "group").unwrap_or(1),
            attributes: n.attribute.clone(),
        });
    }
    sites
}

fn fusable_activation(
    graph: &GraphProto,
    consumers: &HashMap<&str, Vec<usize>>,
    conv_output: &str,
) -> Option<(Fused, Option<usize>, String)> {
    if is_graph_output(graph, conv_output) {
        return None;
    }
    let users = consumers.get(conv_output)?;
    let [only] = users.as_slice() else {
        return None;
    };
    let act: &NodeProto = &graph.node[*only];
    let fused = match act.op_type.as_str() {
        "Relu" => Fused::Relu,
        "Clip" => match clip_bounds(act, &graph.initializer) {
            (Some(lo), Some(hi)) if lo == 0.0 && hi > 0.0 => Fused::Clip(hi),
            (Some(0.0), None) => Fused::Relu,
            _ => return None,
        },
        _ => return None,
    };
    Some((fused, Some(*only), act.output[0].clone()))
}
