//! Small helpers to write ONNX graphs from Rust with `tract_onnx::pb` (prost 0.14 types).
//!
//! Used by the tests (tiny SSDs with fixed weights) and by the trainer's ONNX export, so it
//! stays general: any op can be added with [`GraphBuilder::node`]; the typed helpers only save
//! typing for the common SSD layers. Opset 13 is the default: it is inside the range tract is
//! tested against (9..=18), has `Clip` min/max as inputs and single-axis `Softmax`.
//!
//! ```no_run
//! use ssd_model::model::onnx_builder::{Dim, GraphBuilder, ModelBuilder, ConvParams};
//! let mut g = GraphBuilder::new("net");
//! let x = g.input_f32("input", &[Dim::Fixed(1), Dim::Fixed(3), Dim::Fixed(8), Dim::Fixed(8)]);
//! let w = g.initializer_f32("w", &[4, 3, 3, 3], &[0.1; 108]);
//! let y = g.conv(&x, &w, None, &ConvParams::same(3));
//! let y = g.relu(&y);
//! g.output_f32(&y, &[]);
//! let bytes = ModelBuilder::new(g.build()).encode();
//! ```

use prost::Message;
use tract_onnx::pb;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;

/// The opset written unless [`ModelBuilder::opset`] says otherwise.
pub const DEFAULT_OPSET: i64 = 13;
/// ONNX IR version 8 goes with opsets up to 17.
pub const DEFAULT_IR_VERSION: i64 = 8;

/// One dimension of a graph input or output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    Fixed(i64),
    /// A named symbolic dimension (e.g. a batch size "N").
    Param(String),
}

impl From<i64> for Dim {
    fn from(v: i64) -> Self {
        Dim::Fixed(v)
    }
}

/// Attribute constructors.
pub mod attr {
    use super::*;

    fn base(name: &str, ty: AttributeType) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.to_string(),
            r#type: ty as i32,
            ..Default::default()
        }
    }
    pub fn int(name: &str, v: i64) -> pb::AttributeProto {
        pb::AttributeProto {
            i: v,
            ..base(name, AttributeType::Int)
        }
    }
    pub fn ints(name: &str, v: &[i64]) -> pb::AttributeProto {
        pb::AttributeProto {
            ints: v.to_vec(),
            ..base(name, AttributeType::Ints)
        }
    }
    pub fn float(name: &str, v: f32) -> pb::AttributeProto {
        pb::AttributeProto {
            f: v,
            ..base(name, AttributeType::Float)
        }
    }
    pub fn floats(name: &str, v: &[f32]) -> pb::AttributeProto {
        pb::AttributeProto {
            floats: v.to_vec(),
            ..base(name, AttributeType::Floats)
        }
    }
    pub fn string(name: &str, v: &str) -> pb::AttributeProto {
        pb::AttributeProto {
            s: v.as_bytes().to_vec(),
            ..base(name, AttributeType::String)
        }
    }
    pub fn tensor(name: &str, t: pb::TensorProto) -> pb::AttributeProto {
        pb::AttributeProto {
            t: Some(t),
            ..base(name, AttributeType::Tensor)
        }
    }
}

/// A tensor with its data in `raw_data` (little-endian), the compact form exporters use.
pub fn tensor_raw(name: &str, data_type: DataType, dims: &[i64], raw: Vec<u8>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_string(),
        data_type: data_type as i32,
        dims: dims.to_vec(),
        raw_data: raw,
        ..Default::default()
    }
}

fn check_len(name: &str, dims: &[i64], len: usize) {
    let expected: i64 = dims.iter().product();
    // A mismatch here is a bug in the caller's graph code, not bad user input.
    assert_eq!(
        expected as usize, len,
        "tensor `{name}`: dims {dims:?} do not hold {len} values"
    );
}

pub fn tensor_f32(name: &str, dims: &[i64], data: &[f32]) -> pb::TensorProto {
    check_len(name, dims, data.len());
    let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor_raw(name, DataType::Float, dims, raw)
}

pub fn tensor_i64(name: &str, dims: &[i64], data: &[i64]) -> pb::TensorProto {
    check_len(name, dims, data.len());
    let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor_raw(name, DataType::Int64, dims, raw)
}

pub fn tensor_i32(name: &str, dims: &[i64], data: &[i32]) -> pb::TensorProto {
    check_len(name, dims, data.len());
    let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor_raw(name, DataType::Int32, dims, raw)
}

pub fn tensor_i8(name: &str, dims: &[i64], data: &[i8]) -> pb::TensorProto {
    check_len(name, dims, data.len());
    tensor_raw(
        name,
        DataType::Int8,
        dims,
        data.iter().map(|&v| v as u8).collect(),
    )
}

pub fn tensor_u8(name: &str, dims: &[i64], data: &[u8]) -> pb::TensorProto {
    check_len(name, dims, data.len());
    tensor_raw(name, DataType::Uint8, dims, data.to_vec())
}

/// A node without attributes (set `attribute` on the result to add some).
pub fn node(op_type: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> pb::NodeProto {
    pb::NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: name.to_string(),
        op_type: op_type.to_string(),
        ..Default::default()
    }
}

/// A `ValueInfoProto` for a graph input or output; empty `dims` leaves the shape unknown.
pub fn value_info(name: &str, elem: DataType, dims: &[Dim]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::dimension::Value;
    let shape = (!dims.is_empty()).then(|| pb::TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| pb::tensor_shape_proto::Dimension {
                value: Some(match d {
                    Dim::Fixed(v) => Value::DimValue(*v),
                    Dim::Param(p) => Value::DimParam(p.clone()),
                }),
                ..Default::default()
            })
            .collect(),
    });
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem as i32,
                shape,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Convolution attributes. `pads` is ONNX order: [top, left, bottom, right].
#[derive(Clone, Debug, PartialEq)]
pub struct ConvParams {
    pub kernel: [i64; 2],
    pub strides: [i64; 2],
    pub pads: [i64; 4],
    pub dilations: [i64; 2],
    pub group: i64,
}

impl ConvParams {
    /// k x k, stride 1, padding that keeps the size (odd k), no dilation, one group.
    pub fn same(k: i64) -> Self {
        let p = k / 2;
        ConvParams {
            kernel: [k, k],
            strides: [1, 1],
            pads: [p; 4],
            dilations: [1, 1],
            group: 1,
        }
    }
    /// k x k, stride 1, no padding.
    pub fn valid(k: i64) -> Self {
        ConvParams {
            pads: [0; 4],
            ..Self::same(k)
        }
    }
    pub fn stride(mut self, s: i64) -> Self {
        self.strides = [s, s];
        self
    }
    pub fn pad(mut self, p: i64) -> Self {
        self.pads = [p; 4];
        self
    }
    pub fn dilation(mut self, d: i64) -> Self {
        self.dilations = [d, d];
        self
    }
    pub fn groups(mut self, g: i64) -> Self {
        self.group = g;
        self
    }
}

/// Pooling attributes (MaxPool / AveragePool).
#[derive(Clone, Debug, PartialEq)]
pub struct PoolParams {
    pub kernel: [i64; 2],
    pub strides: [i64; 2],
    pub pads: [i64; 4],
    pub ceil_mode: bool,
}

impl PoolParams {
    pub fn new(k: i64, stride: i64) -> Self {
        PoolParams {
            kernel: [k, k],
            strides: [stride, stride],
            pads: [0; 4],
            ceil_mode: false,
        }
    }
    pub fn pad(mut self, p: i64) -> Self {
        self.pads = [p; 4];
        self
    }
    pub fn ceil(mut self) -> Self {
        self.ceil_mode = true;
        self
    }
}

/// Accumulates nodes, initializers and graph inputs/outputs; op helpers return the name of
/// the tensor they produce so calls chain naturally.
#[derive(Clone, Debug, Default)]
pub struct GraphBuilder {
    graph: pb::GraphProto,
    counter: usize,
}

impl GraphBuilder {
    pub fn new(name: &str) -> Self {
        GraphBuilder {
            graph: pb::GraphProto {
                name: name.to_string(),
                ..Default::default()
            },
            counter: 0,
        }
    }

    /// A fresh tensor name with the given prefix ("conv" -> "conv_7").
    pub fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_{}", self.counter)
    }

    pub fn input(&mut self, name: &str, elem: DataType, dims: &[Dim]) -> String {
        self.graph.input.push(value_info(name, elem, dims));
        name.to_string()
    }

    pub fn input_f32(&mut self, name: &str, dims: &[Dim]) -> String {
        self.input(name, DataType::Float, dims)
    }

    /// Declares an existing tensor as a graph output (empty `dims`: shape left to inference).
    pub fn output(&mut self, name: &str, elem: DataType, dims: &[Dim]) {
        self.graph.output.push(value_info(name, elem, dims));
    }

    pub fn output_f32(&mut self, name: &str, dims: &[Dim]) {
        self.output(name, DataType::Float, dims)
    }

    /// Adds any tensor as an initializer; returns its name.
    pub fn initializer(&mut self, t: pb::TensorProto) -> String {
        let name = t.name.clone();
        self.graph.initializer.push(t);
        name
    }

    pub fn initializer_f32(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        self.initializer(tensor_f32(name, dims, data))
    }

    pub fn initializer_i64(&mut self, name: &str, dims: &[i64], data: &[i64]) -> String {
        self.initializer(tensor_i64(name, dims, data))
    }

    /// A scalar f32 constant as an initializer with a fresh name.
    pub fn scalar_f32(&mut self, prefix: &str, v: f32) -> String {
        let name = self.fresh(prefix);
        self.initializer_f32(&name, &[], &[v])
    }

    /// Adds a node with explicit input and output names. Empty input names mark omitted
    /// optional inputs, as ONNX does.
    pub fn node(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        outputs: &[&str],
        attributes: Vec<pb::AttributeProto>,
    ) {
        let name = format!("{}_{}", op_type, self.graph.node.len());
        self.graph.node.push(pb::NodeProto {
            attribute: attributes,
            ..node(op_type, &name, inputs, outputs)
        });
    }

    /// A single-output node whose output gets a fresh name derived from the op type.
    pub fn op(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        attributes: Vec<pb::AttributeProto>,
    ) -> String {
        let out = self.fresh(&op_type.to_lowercase());
        self.node(op_type, inputs, &[&out], attributes);
        out
    }

    /// Renames the output of the most recent node (to give graph outputs stable names).
    pub fn rename_last_output(&mut self, new_name: &str) -> String {
        if let Some(node) = self.graph.node.last_mut() {
            if let Some(out) = node.output.first_mut() {
                *out = new_name.to_string();
            }
        }
        new_name.to_string()
    }

    pub fn conv(&mut self, x: &str, w: &str, b: Option<&str>, p: &ConvParams) -> String {
        let mut inputs = vec![x, w];
        if let Some(b) = b {
            inputs.push(b);
        }
        let attrs = vec![
            attr::ints("kernel_shape", &p.kernel),
            attr::ints("strides", &p.strides),
            attr::ints("pads", &p.pads),
            attr::ints("dilations", &p.dilations),
            attr::int("group", p.group),
        ];
        self.op("Conv", &inputs, attrs)
    }

    pub fn relu(&mut self, x: &str) -> String {
        self.op("Relu", &[x], vec![])
    }

    /// Clip with scalar bounds (opset >= 11 form: bounds are inputs). ReLU6 is `clip(x, 0, 6)`.
    pub fn clip(&mut self, x: &str, min: f32, max: f32) -> String {
        let lo = self.scalar_f32("clip_min", min);
        let hi = self.scalar_f32("clip_max", max);
        self.op("Clip", &[x, &lo, &hi], vec![])
    }

    fn pool(&mut self, op: &str, x: &str, p: &PoolParams) -> String {
        let attrs = vec![
            attr::ints("kernel_shape", &p.kernel),
            attr::ints("strides", &p.strides),
            attr::ints("pads", &p.pads),
            attr::int("ceil_mode", p.ceil_mode as i64),
        ];
        self.op(op, &[x], attrs)
    }

    pub fn max_pool(&mut self, x: &str, p: &PoolParams) -> String {
        self.pool("MaxPool", x, p)
    }

    pub fn average_pool(&mut self, x: &str, p: &PoolParams) -> String {
        self.pool("AveragePool", x, p)
    }

    pub fn concat(&mut self, xs: &[&str], axis: i64) -> String {
        self.op("Concat", xs, vec![attr::int("axis", axis)])
    }

    /// Reshape to a constant shape (0 copies the input dim, -1 is inferred, as in ONNX).
    pub fn reshape(&mut self, x: &str, shape: &[i64]) -> String {
        let name = self.fresh("shape");
        let s = self.initializer_i64(&name, &[shape.len() as i64], shape);
        self.op("Reshape", &[x, &s], vec![])
    }

    pub fn transpose(&mut self, x: &str, perm: &[i64]) -> String {
        self.op("Transpose", &[x], vec![attr::ints("perm", perm)])
    }

    pub fn softmax(&mut self, x: &str, axis: i64) -> String {
        self.op("Softmax", &[x], vec![attr::int("axis", axis)])
    }

    pub fn sigmoid(&mut self, x: &str) -> String {
        self.op("Sigmoid", &[x], vec![])
    }

    pub fn add(&mut self, a: &str, b: &str) -> String {
        self.op("Add", &[a, b], vec![])
    }

    pub fn mul(&mut self, a: &str, b: &str) -> String {
        self.op("Mul", &[a, b], vec![])
    }

    pub fn div(&mut self, a: &str, b: &str) -> String {
        self.op("Div", &[a, b], vec![])
    }

    pub fn sqrt(&mut self, x: &str) -> String {
        self.op("Sqrt", &[x], vec![])
    }

    /// ReduceSum over `axes`. From opset 13 on, ReduceSum takes its axes as a second (i64)
    /// input, not an attribute (tract and onnxruntime ignore or reject the attribute form).
    pub fn reduce_sum(&mut self, x: &str, axes: &[i64], keepdims: bool) -> String {
        let name = self.fresh("axes");
        let axes = self.initializer_i64(&name, &[axes.len() as i64], axes);
        self.op(
            "ReduceSum",
            &[x, axes.as_str()],
            vec![attr::int("keepdims", keepdims as i64)],
        )
    }

    pub fn flatten(&mut self, x: &str, axis: i64) -> String {
        self.op("Flatten", &[x], vec![attr::int("axis", axis)])
    }

    pub fn batch_norm(
        &mut self,
        x: &str,
        scale: &str,
        bias: &str,
        mean: &str,
        var: &str,
        epsilon: f32,
    ) -> String {
        self.op(
            "BatchNormalization",
            &[x, scale, bias, mean, var],
            vec![attr::float("epsilon", epsilon)],
        )
    }

    pub fn graph(&self) -> &pb::GraphProto {
        &self.graph
    }

    pub fn build(self) -> pb::GraphProto {
        self.graph
    }
}

/// Wraps a graph into a `ModelProto` with opset, producer and metadata_props.
#[derive(Clone, Debug)]
pub struct ModelBuilder {
    model: pb::ModelProto,
}

impl ModelBuilder {
    pub fn new(graph: pb::GraphProto) -> Self {
        ModelBuilder {
            model: pb::ModelProto {
                ir_version: DEFAULT_IR_VERSION,
                opset_import: vec![pb::OperatorSetIdProto {
                    domain: String::new(),
                    version: DEFAULT_OPSET,
                }],
                producer_name: "ssd-edge".to_string(),
                producer_version: env!("CARGO_PKG_VERSION").to_string(),
                graph: Some(graph),
                ..Default::default()
            },
        }
    }

    pub fn opset(mut self, version: i64) -> Self {
        self.model.opset_import = vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version,
        }];
        self
    }

    pub fn producer(mut self, name: &str, version: &str) -> Self {
        self.model.producer_name = name.to_string();
        self.model.producer_version = version.to_string();
        self
    }

    pub fn doc(mut self, doc: &str) -> Self {
        self.model.doc_string = doc.to_string();
        self
    }

    /// Appends key/value pairs to metadata_props (e.g. `ModelMeta::to_metadata_props()`).
    pub fn metadata<I, K, V>(mut self, props: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        for (k, v) in props {
            self.model.metadata_props.push(pb::StringStringEntryProto {
                key: k.into(),
                value: v.into(),
            });
        }
        self
    }

    pub fn build(self) -> pb::ModelProto {
        self.model
    }

    pub fn encode(&self) -> Vec<u8> {
        self.model.encode_to_vec()
    }

    pub fn write(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(path, self.encode())
    }
}
