//! Counts `ssd-edge info` reports about a model file: ops, nodes, parameters.

use serde::Serialize;
use std::collections::BTreeMap;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ModelSummary {
    pub file_bytes: usize,
    pub ir_version: i64,
    /// Default-domain opset.
    pub opset: i64,
    pub producer: String,
    /// Nodes in the ONNX graph, and how many of each op type.
    pub nodes: usize,
    pub ops: BTreeMap<String, usize>,
    /// Elements in initializers and Constant nodes (weights, biases, shapes).
    pub parameters: u64,
    /// Parameter elements by data type ("float", "int8", ...).
    pub parameters_by_type: BTreeMap<String, u64>,
    /// Nodes in tract's optimised plan.
    pub optimized_nodes: usize,
    pub input: String,
    pub loc_output: String,
    pub conf_output: String,
}

fn type_name(t: i32) -> String {
    DataType::try_from(t)
        .map(|d| d.as_str_name().to_lowercase())
        .unwrap_or_else(|_| format!("type {t}"))
}

impl ModelSummary {
    pub fn from_proto(proto: &pb::ModelProto, file_bytes: usize) -> Self {
        let mut s = ModelSummary {
            file_bytes,
            ir_version: proto.ir_version,
            opset: proto
                .opset_import
                .iter()
                .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
                .map_or(0, |o| o.version),
            producer: format!("{} {}", proto.producer_name, proto.producer_version)
                .trim()
                .to_string(),
            ..Default::default()
        };
        let Some(graph) = &proto.graph else { return s };
        s.nodes = graph.node.len();
        let mut add = |t: &pb::TensorProto| {
            // Dims are untrusted (the graph is not checked yet): saturate, never overflow.
            let n = t
                .dims
                .iter()
                .fold(1u64, |n, &d| n.saturating_mul(d.max(0) as u64));
            s.parameters = s.parameters.saturating_add(n);
            let by_type = s
                .parameters_by_type
                .entry(type_name(t.data_type))
                .or_default();
            *by_type = by_type.saturating_add(n);
        };
        for t in &graph.initializer {
            add(t);
        }
        for node in &graph.node {
            if node.op_type == "Constant" {
                for a in &node.attribute {
                    if let Some(t) = &a.t {
                        add(t);
                    }
                }
            }
        }
        for node in &graph.node {
            *s.ops.entry(node.op_type.clone()).or_default() += 1;
        }
        s
    }
}
