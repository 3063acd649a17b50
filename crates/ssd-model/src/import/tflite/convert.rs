//! The main subgraph as an ONNX graph in NCHW.
//!
//! TFLite is NHWC. Every 4-D activation produced by a convolution or pooling is kept in NCHW
//! in ONNX (tagged [`Layout::Nchw`]); ops whose meaning depends on the memory order (RESHAPE,
//! FULLY_CONNECTED, a CONCATENATION mixing layouts, the graph outputs) get a Transpose back to
//! NHWC first, so every output holds exactly the values, in the order, TFLite computes.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb;

use super::flexbuf;
use super::ops::builtin_name;
use super::schema::{Activation, BuiltinOptions, Operator, Padding, TensorType, TfliteModel};
use super::{f16_to_f32, TfliteError};
use crate::model::onnx_builder::{attr, ConvParams, Dim, GraphBuilder, ModelBuilder, PoolParams};

/// Which tensors become the ONNX outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputMode {
    /// An SSD: the box encodings become `loc` [1,P,4], the class predictions `conf` [1,P,C]
    /// (the inputs of `TFLite_Detection_PostProcess` where the model has one, else the
    /// subgraph's two outputs).
    Ssd,
    /// Every subgraph output, in order, under its TFLite name (for other models and tests).
    AsIs,
}

#[derive(Clone, Debug)]
pub struct ConvertOptions {
    /// Name of the ONNX graph input.
    pub input_name: String,
    pub outputs: OutputMode,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            input_name: "image".into(),
            outputs: OutputMode::Ssd,
        }
    }
}

/// One ONNX output.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvertedOutput {
    pub name: String,
    /// The TFLite tensor it holds.
    pub tflite_name: String,
    pub shape: Vec<usize>,
}

/// Options of a `TFLite_Detection_PostProcess` op (flexbuffer custom options); absent keys
/// keep TFLite's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct PostProcessOptions {
    pub y_scale: f32,
    pub x_scale: f32,
    pub h_scale: f32,
    pub w_scale: f32,
    pub nms_iou_threshold: f32,
    pub nms_score_threshold: f32,
    pub max_detections: i64,
    pub max_classes_per_detection: i64,
    pub detections_per_class: i64,
    pub num_classes: i64,
    pub use_regular_nms: bool,
}

/// What the graph stopped before: the op's anchors input and its options.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectionPostProcess {
    /// [P][ycenter, xcenter, h, w], as the model stores them.
    pub anchors: Vec<[f32; 4]>,
    pub options: PostProcessOptions,
}

#[derive(Clone, Debug)]
pub struct Converted {
    /// The encoded ONNX `ModelProto`.
    pub onnx: Vec<u8>,
    pub input_name: String,
    /// Input height and width (the ONNX input is [1, channels, H, W]).
    pub input_hw: (usize, usize),
    pub input_channels: usize,
    pub outputs: Vec<ConvertedOutput>,
    /// P and C of the SSD head ([`OutputMode::Ssd`] only).
    pub num_priors: Option<usize>,
    pub num_classes: Option<usize>,
    /// The op producing the class predictions when it is an activation ("LOGISTIC",
    /// "SOFTMAX"): then `conf` holds scores, not logits.
    pub conf_activation: Option<String>,
    pub post_process: Option<DetectionPostProcess>,
    /// Distinct TFLite operators converted (names), for reports.
    pub ops: Vec<String>,
}

const DETECTION_POSTPROCESS: &str = "TFLite_Detection_PostProcess";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// Same axis order as the TFLite tensor.
    Native,
    /// A 4-D NHWC TFLite tensor held as NCHW.
    Nchw,
}

#[derive(Clone, Debug)]
struct Const {
    shape: Vec<usize>,
    data: ConstData,
}

#[derive(Clone, Debug)]
enum ConstData {
    F32(Vec<f32>),
    /// Float16 as stored; only DEQUANTIZE reads it.
    F16(Vec<f32>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    /// int8/uint8 with its quantization, widened; only DEQUANTIZE reads it.
    Quant(Vec<i32>),
}

#[derive(Clone, Debug)]
enum Val {
    Act { name: String, layout: Layout },
    Const(Const),
}

fn permute<T: Copy>(data: &[T], shape: &[usize], perm: &[usize]) -> (Vec<T>, Vec<usize>) {
    let rank = shape.len();
    let new_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let mut strides = vec![1usize; rank];
    for i in (0..rank.saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    let mut out = Vec::with_capacity(data.len());
    // Output coordinates, row-major; each reads the source element they map to.
    let mut idx = vec![0usize; rank];
    for _ in 0..data.len() {
        let src: usize = (0..rank).map(|i| idx[i] * strides[perm[i]]).sum();
        out.push(data[src]);
        for i in (0..rank).rev() {
            idx[i] += 1;
            if idx[i] < new_shape[i] {
                break;
            }
            idx[i] = 0;
        }
    }
    (out, new_shape)
}

/// The element count, `None` on overflow.
fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// TF's SAME padding along one axis: (before, after).
fn same_pads(input: usize, k: usize, stride: usize, dilation: usize) -> (i64, i64) {
    let eff = (k - 1) * dilation + 1;
    let out = input.div_ceil(stride);
    let total = ((out - 1) * stride + eff).saturating_sub(input);
    ((total / 2) as i64, (total - total / 2) as i64)
}

fn conv_out(input: usize, k: usize, stride: usize, dilation: usize, pad: Padding) -> usize {
    let eff = (k - 1) * dilation + 1;
    match pad {
        Padding::Same => input.div_ceil(stride),
        Padding::Valid => (input + 1).saturating_sub(eff).div_ceil(stride),
    }
}

struct Ctx<'m, 'a> {
    model: &'m TfliteModel<'a>,
    g: GraphBuilder,
    vals: Vec<Option<Val>>,
    /// Cached NHWC (native) / NCHW views of tensors, to emit one Transpose per tensor.
    native: HashMap<usize, String>,
    nchw: HashMap<usize, String>,
    /// Op being converted, for messages.
    op_name: String,
    node: String,
}

impl<'m, 'a> Ctx<'m, 'a> {
    fn sg(&self) -> &'m super::schema::SubGraph {
        &self.model.subgraphs[0]
    }

    fn unsupported(&self, detail: impl Into<String>) -> TfliteError {
        let d: String = detail.into();
        TfliteError::UnsupportedOp {
            op: self.op_name.clone(),
            node: self.node.clone(),
            detail: if d.is_empty() { d } else { format!(": {d}") },
        }
    }

    fn tensor(&self, ix: i32) -> Result<&'m super::schema::Tensor, TfliteError> {
        usize::try_from(ix)
            .ok()
            .and_then(|i| self.sg().tensors.get(i))
            .ok_or_else(|| {
                TfliteError::Malformed(format!(
                    "operator producing `{}` refers to tensor {ix}, which does not exist",
                    self.node
                ))
            })
    }

    fn shape(&self, ix: i32) -> Result<Vec<usize>, TfliteError> {
        let t = self.tensor(ix)?;
        t.shape
            .iter()
            .map(|&d| {
                usize::try_from(d).ok().filter(|&d| d > 0).ok_or_else(|| {
                    TfliteError::Unsupported(format!(
                        "tensor `{}` has a dynamic, zero or negative dimension {:?}",
                        t.name, t.shape
                    ))
                })
            })
            .collect()
    }

    /// The value of tensor `ix`: an activation already computed, or a constant from its
    /// buffer (decoded on first use).
    fn val(&mut self, ix: i32) -> Result<Val, TfliteError> {
        let t = self.tensor(ix)?;
        let i = ix as usize;
        if let Some(v) = &self.vals[i] {
            return Ok(v.clone());
        }
        let data = self
            .model
            .buffers
            .get(t.buffer as usize)
            .copied()
            .unwrap_or_default();
        if t.buffer == 0 || data.is_empty() {
            return Err(TfliteError::Unsupported(format!(
                "tensor `{}` is read by `{}` before any operator writes it and has no constant data",
                t.name, self.node
            )));
        }
        let shape = self.shape(ix)?;
        let n = numel(&shape).ok_or_else(|| {
            TfliteError::Malformed(format!(
                "constant `{}` has an overflowing shape {shape:?}",
                t.name
            ))
        })?;
        let width = match t.dtype {
            TensorType::Float32 | TensorType::Int32 => 4,
            TensorType::Float16 => 2,
            TensorType::Int64 => 8,
            TensorType::Int8 | TensorType::UInt8 => 1,
            TensorType::Other(o) => {
                return Err(TfliteError::Unsupported(format!(
                    "constant `{}` has tensor type {o}, which the importer does not read",
                    t.name
                )))
            }
        };
        if Some(data.len()) != n.checked_mul(width) {
            return Err(TfliteError::Malformed(format!(
                "constant `{}` of shape {shape:?} has {} bytes of data, expected {}",
                t.name,
                data.len(),
                n.saturating_mul(width)
            )));
        }
        let chunks = |w| data.chunks_exact(w);
        let cdata = match t.dtype {
            TensorType::Float32 => ConstData::F32(
                chunks(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            TensorType::Float16 => ConstData::F16(
                chunks(2)
                    .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                    .collect(),
            ),
            TensorType::Int32 => ConstData::I32(
                chunks(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            TensorType::Int64 => ConstData::I64(
                chunks(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect(),
            ),
            TensorType::Int8 => ConstData::Quant(data.iter().map(|&b| b as i8 as i32).collect()),
            TensorType::UInt8 => ConstData::Quant(data.iter().map(|&b| b as i32).collect()),
            TensorType::Other(_) => unreachable!("refused above"),
        };
        let v = Val::Const(Const { shape, data: cdata });
        self.vals[i] = Some(v.clone());
        Ok(v)
    }

    /// A constant float tensor (weights, biases), refusing quantized or f16 data that did
    /// not go through DEQUANTIZE.
    fn const_f32(&mut self, ix: i32, what: &str) -> Result<(Vec<f32>, Vec<usize>), TfliteError> {
        let name = self.tensor(ix)?.name.clone();
        match self.val(ix)? {
            Val::Const(Const {
                shape,
                data: ConstData::F32(d),
            }) => Ok((d, shape)),
            Val::Const(Const {
                data: ConstData::Quant(_),
                ..
            }) => Err(self.unsupported(format!(
                "{what} `{name}` is an int8/uint8 quantized constant (quantized models are not supported)"
            ))),
            Val::Const(_) => Err(self.unsupported(format!(
                "{what} `{name}` is not float32 data"
            ))),
            Val::Act { .. } => Err(self.unsupported(format!(
                "{what} `{name}` is computed at run time; only constant {what}s are supported"
            ))),
        }
    }

    fn const_ints(&mut self, ix: i32, what: &str) -> Result<Vec<i64>, TfliteError> {
        let name = self.tensor(ix)?.name.clone();
        match self.val(ix)? {
            Val::Const(Const {
                data: ConstData::I32(d),
                ..
            }) => Ok(d.into_iter().map(i64::from).collect()),
            Val::Const(Const {
                data: ConstData::I64(d),
                ..
            }) => Ok(d),
            _ => Err(self.unsupported(format!("{what} `{name}` is not a constant integer tensor"))),
        }
    }

    fn initializer(&mut self, data: ConstData, shape: &[usize]) -> Result<String, TfliteError> {
        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let name = self.g.fresh("const");
        use crate::model::onnx_builder::{tensor_f32, tensor_i32, tensor_i64};
        let t = match data {
            ConstData::F32(d) => tensor_f32(&name, &dims, &d),
            ConstData::I32(d) => tensor_i32(&name, &dims, &d),
            ConstData::I64(d) => tensor_i64(&name, &dims, &d),
            ConstData::F16(_) | ConstData::Quant(_) => {
                return Err(self.unsupported(
                    "a float16 or quantized constant is used without DEQUANTIZE".to_string(),
                ))
            }
        };
        Ok(self.g.initializer(t))
    }

    /// Tensor `ix` in TFLite's own axis order.
    fn native(&mut self, ix: i32) -> Result<String, TfliteError> {
        if let Some(n) = self.native.get(&(ix as usize)) {
            return Ok(n.clone());
        }
        let name = match self.val(ix)? {
            Val::Act {
                name,
                layout: Layout::Native,
            } => name,
            Val::Act {
                name,
                layout: Layout::Nchw,
            } => self.g.transpose(&name, &[0, 2, 3, 1]),
            Val::Const(c) => self.initializer(c.data, &c.shape)?,
        };
        self.native.insert(ix as usize, name.clone());
        Ok(name)
    }

    /// A 4-D tensor `ix` as NCHW.
    fn nchw(&mut self, ix: i32) -> Result<String, TfliteError> {
        if let Some(n) = self.nchw.get(&(ix as usize)) {
            return Ok(n.clone());
        }
        if self.shape(ix)?.len() != 4 {
            return Err(self.unsupported(format!(
                "input `{}` is not 4-D (shape {:?})",
                self.tensor(ix)?.name,
                self.tensor(ix)?.shape
            )));
        }
        let name = match self.val(ix)? {
            Val::Act {
                name,
                layout: Layout::Nchw,
            } => name,
            Val::Act {
                name,
                layout: Layout::Native,
            } => self.g.transpose(&name, &[0, 3, 1, 2]),
            Val::Const(c) => {
                let (data, shape) = match c.data {
                    ConstData::F32(d) => {
                        let (d, s) = permute(&d, &c.shape, &[0, 3, 1, 2]);
                        (ConstData::F32(d), s)
                    }
                    other => (other, c.shape.clone()),
                };
                self.initializer(data, &shape)?
            }
        };
        self.nchw.insert(ix as usize, name.clone());
        Ok(name)
    }

    fn layout(&mut self, ix: i32) -> Result<Option<Layout>, TfliteError> {
        Ok(match self.val(ix)? {
            Val::Act { layout, .. } => Some(layout),
            Val::Const(_) => None,
        })
    }

    fn activation(&mut self, x: String, act: Activation) -> Result<String, TfliteError> {
        Ok(match act {
            Activation::None => x,
            Activation::Relu => self.g.relu(&x),
            Activation::Relu6 => self.g.clip(&x, 0.0, 6.0),
            Activation::ReluN1To1 => self.g.clip(&x, -1.0, 1.0),
            Activation::Tanh => self.g.op("Tanh", &[&x], vec![]),
            other => {
                return Err(self.unsupported(format!("fused activation {other:?}")));
            }
        })
    }

    fn set(&mut self, ix: i32, name: String, layout: Layout) -> Result<(), TfliteError> {
        self.tensor(ix)?;
        self.vals[ix as usize] = Some(Val::Act { name, layout });
        Ok(())
    }

    fn input(op: &Operator, i: usize) -> Option<i32> {
        op.inputs.get(i).copied().filter(|&x| x >= 0)
    }

    fn req_input(&self, op: &Operator, i: usize) -> Result<i32, TfliteError> {
        Self::input(op, i).ok_or_else(|| self.unsupported(format!("input {i} is missing")))
    }

    fn convert_op(&mut self, op: &Operator, name: &str) -> Result<(), TfliteError> {
        let out = *op
            .outputs
            .first()
            .ok_or_else(|| self.unsupported("the operator has no output"))?;
        if op.outputs.len() != 1 {
            return Err(self.unsupported(format!("{} outputs", op.outputs.len())));
        }
        let out_t = self.tensor(out)?;
        match out_t.dtype {
            TensorType::Float32 => {}
            TensorType::Int8 | TensorType::UInt8 => {
                return Err(self.unsupported(format!(
                    "output `{}` is a quantized {:?} tensor (quantized models are not supported)",
                    out_t.name, out_t.dtype
                )))
            }
            other => {
                return Err(self.unsupported(format!(
                    "output `{}` has type {other:?}; only float32 activations are supported",
                    out_t.name
                )))
            }
        }
        let out_shape = self.shape(out)?;
        let x = self.req_input(op, 0)?;
        let x_name = self.tensor(x)?.name.clone();
        if let Val::Act { .. } = self.val(x)? {
            let dt = self.tensor(x)?.dtype;
            if dt != TensorType::Float32 {
                return Err(self.unsupported(format!(
                    "input `{x_name}` has type {dt:?}; only float32 activations are supported"
                )));
            }
        }
        match (name, &op.options) {
            ("DEQUANTIZE", _) => {
                let v = self.val(x)?;
                let t = self.tensor(x)?;
                let Val::Const(c) = v else {
                    return Err(self.unsupported(format!(
                        "input `{x_name}` is computed at run time; only constant inputs are folded"
                    )));
                };
                let data = match c.data {
                    ConstData::F16(d) | ConstData::F32(d) => d,
                    ConstData::Quant(q) => {
                        let qp = t.quantization.as_ref().ok_or_else(|| {
                            self.unsupported(format!("`{x_name}` has no quantization scales"))
                        })?;
                        dequantize(&q, &c.shape, qp)
                            .map_err(|e| self.unsupported(format!("`{x_name}`: {e}")))?
                    }
                    _ => {
                        return Err(
                            self.unsupported(format!("input `{x_name}` is an integer tensor"))
                        )
                    }
                };
                self.vals[out as usize] = Some(Val::Const(Const {
                    shape: c.shape,
                    data: ConstData::F32(data),
                }));
            }
            (
                "CONV_2D",
                &BuiltinOptions::Conv2D {
                    padding,
                    stride,
                    dilation,
                    activation,
                },
            ) => {
                let xs = self.shape(x)?;
                let wi = self.req_input(op, 1)?;
                let (w, ws) = self.const_f32(wi, "filter")?;
                if xs.len() != 4 || ws.len() != 4 {
                    return Err(self.unsupported("input and filter must be 4-D"));
                }
                let (o, kh, kw, ci) = (ws[0], ws[1], ws[2], ws[3]);
                if ci == 0 || xs[3] % ci != 0 {
                    return Err(self.unsupported(format!(
                        "{} input channels do not split into groups of {ci}",
                        xs[3]
                    )));
                }
                let group = xs[3] / ci;
                let (w, _) = permute(&w, &ws, &[0, 3, 1, 2]);
                let w = self.initializer(ConstData::F32(w), &[o, ci, kh, kw])?;
                let b = self.bias(op, o)?;
                let p = self.conv_params(&xs, &out_shape, [kh, kw], stride, dilation, padding)?;
                let xn = self.nchw(x)?;
                let y = self.g.conv(&xn, &w, b.as_deref(), &p.groups(group as i64));
                let y = self.activation(y, activation)?;
                self.set(out, y, Layout::Nchw)?;
            }
            (
                "DEPTHWISE_CONV_2D",
                &BuiltinOptions::DepthwiseConv2D {
                    padding,
                    stride,
                    dilation,
                    activation,
                    ..
                },
            ) => {
                let xs = self.shape(x)?;
                let wi = self.req_input(op, 1)?;
                let (w, ws) = self.const_f32(wi, "filter")?;
                if xs.len() != 4 || ws.len() != 4 || ws[0] != 1 {
                    return Err(self.unsupported("input and filter must be 4-D, filter [1,H,W,C]"));
                }
                let (kh, kw, o) = (ws[1], ws[2], ws[3]);
                let c = xs[3];
                if c == 0 || o % c != 0 {
                    return Err(self.unsupported(format!(
                        "{o} output channels are not a multiple of {c} input channels"
                    )));
                }
                // TFLite output channel c*M + m is ONNX group c's m-th output: same order.
                let (w, _) = permute(&w, &ws, &[3, 0, 1, 2]);
                let w = self.initializer(ConstData::F32(w), &[o, 1, kh, kw])?;
                let b = self.bias(op, o)?;
                let p = self.conv_params(&xs, &out_shape, [kh, kw], stride, dilation, padding)?;
                let xn = self.nchw(x)?;
                let y = self.g.conv(&xn, &w, b.as_deref(), &p.groups(c as i64));
                let y = self.activation(y, activation)?;
                self.set(out, y, Layout::Nchw)?;
            }
            (
                "AVERAGE_POOL_2D" | "MAX_POOL_2D",
                &BuiltinOptions::Pool2D {
                    padding,
                    stride,
                    filter,
                    activation,
                },
            ) => {
                let xs = self.shape(x)?;
                if xs.len() != 4 {
                    return Err(self.unsupported("input must be 4-D"));
                }
                let k = [filter[0].max(0) as usize, filter[1].max(0) as usize];
                let c = self.conv_params(&xs, &out_shape, k, stride, [1, 1], padding)?;
                let p = PoolParams {
                    kernel: c.kernel,
                    strides: c.strides,
                    pads: c.pads,
                    ceil_mode: false,
                };
                let xn = self.nchw(x)?;
                // ONNX AveragePool excludes padding from the count by default, as TF does.
                let y = if name == "MAX_POOL_2D" {
                    self.g.max_pool(&xn, &p)
                } else {
                    self.g.average_pool(&xn, &p)
                };
                let y = self.activation(y, activation)?;
                self.set(out, y, Layout::Nchw)?;
            }
            ("ADD" | "SUB" | "MUL" | "DIV", opts) => {
                let act = match opts {
                    BuiltinOptions::Arithmetic { activation } => *activation,
                    BuiltinOptions::None => Activation::None,
                    _ => return Err(self.unsupported("unexpected options")),
                };
                let y_ix = self.req_input(op, 1)?;
                let (a, b, layout) = self.binary_inputs(x, y_ix)?;
                let onnx_op = match name {
                    "ADD" => "Add",
                    "SUB" => "Sub",
                    "MUL" => "Mul",
                    _ => "Div",
                };
                let y = self.g.op(onnx_op, &[&a, &b], vec![]);
                let y = self.activation(y, act)?;
                self.set(out, y, layout)?;
            }
            ("CONCATENATION", &BuiltinOptions::Concatenation { axis, activation }) => {
                let rank = out_shape.len() as i32;
                let axis = if axis < 0 { axis + rank } else { axis };
                if axis < 0 || axis >= rank {
                    return Err(self.unsupported(format!("axis {axis} for rank {rank}")));
                }
                let ins: Vec<i32> = op.inputs.iter().copied().filter(|&i| i >= 0).collect();
                let mut all_nchw = rank == 4;
                for &i in &ins {
                    all_nchw &= self.layout(i)? == Some(Layout::Nchw);
                }
                let (names, axis, layout) = if all_nchw {
                    let names = ins
                        .iter()
                        .map(|&i| self.nchw(i))
                        .collect::<Result<Vec<_>, _>>()?;
                    (names, [0, 2, 3, 1][axis as usize], Layout::Nchw)
                } else {
                    let names = ins
                        .iter()
                        .map(|&i| self.native(i))
                        .collect::<Result<Vec<_>, _>>()?;
                    (names, axis as i64, Layout::Native)
                };
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let y = self.g.concat(&refs, axis);
                let y = self.activation(y, activation)?;
                self.set(out, y, layout)?;
            }
            ("RESHAPE" | "SQUEEZE" | "EXPAND_DIMS", _) => {
                // The output tensor's static shape says it all; the new_shape option or the
                // shape input may hold a -1.
                let xs = self.shape(x)?;
                if numel(&xs).is_none() || numel(&xs) != numel(&out_shape) {
                    return Err(self.unsupported(format!(
                        "reshapes {xs:?} into {out_shape:?}, a different element count"
                    )));
                }
                let xn = self.native(x)?;
                let shape: Vec<i64> = out_shape.iter().map(|&d| d as i64).collect();
                let y = self.g.reshape(&xn, &shape);
                self.set(out, y, Layout::Native)?;
            }
            (
                "LOGISTIC" | "TANH" | "RELU" | "RELU6" | "RELU_N1_TO_1" | "EXP" | "LEAKY_RELU",
                opts,
            ) => {
                let (xn, layout) = match self.val(x)? {
                    Val::Act { name, layout } => (name, layout),
                    Val::Const(_) => (self.native(x)?, Layout::Native),
                };
                let y = match name {
                    "LOGISTIC" => self.g.sigmoid(&xn),
                    "TANH" => self.g.op("Tanh", &[&xn], vec![]),
                    "EXP" => self.g.op("Exp", &[&xn], vec![]),
                    "RELU" => self.g.relu(&xn),
                    "RELU6" => self.g.clip(&xn, 0.0, 6.0),
                    "RELU_N1_TO_1" => self.g.clip(&xn, -1.0, 1.0),
                    _ => {
                        let BuiltinOptions::LeakyRelu { alpha } = opts else {
                            return Err(self.unsupported("LeakyReluOptions missing"));
                        };
                        self.g
                            .op("LeakyRelu", &[&xn], vec![attr::float("alpha", *alpha)])
                    }
                };
                self.set(out, y, layout)?;
            }
            ("SOFTMAX", &BuiltinOptions::Softmax { beta }) => {
                let (xn, layout) = match self.val(x)? {
                    Val::Act { name, layout } => (name, layout),
                    Val::Const(_) => (self.native(x)?, Layout::Native),
                };
                let axis = match layout {
                    Layout::Nchw => 1,
                    Layout::Native => out_shape.len() as i64 - 1,
                };
                let xb = if beta == 1.0 {
                    xn
                } else {
                    let b = self.g.scalar_f32("beta", beta);
                    self.g.mul(&xn, &b)
                };
                let y = self.g.softmax(&xb, axis);
                self.set(out, y, layout)?;
            }
            ("MEAN", &BuiltinOptions::Reducer { keep_dims }) => {
                let ai = self.req_input(op, 1)?;
                let xs = self.shape(x)?;
                let rank = xs.len() as i64;
                let mut axes = self.const_ints(ai, "axes")?;
                for a in axes.iter_mut() {
                    if *a < 0 {
                        *a += rank;
                    }
                    if *a < 0 || *a >= rank {
                        return Err(self.unsupported(format!("axis {a} for rank {rank}")));
                    }
                }
                // Without keep_dims the dims left keep NHWC order; NCHW gives the same
                // order unless C stays together with H or W.
                let keeps_c = !axes.contains(&3);
                let keeps_hw = !axes.contains(&1) || !axes.contains(&2);
                let use_nchw =
                    self.layout(x)? == Some(Layout::Nchw) && (keep_dims || !(keeps_c && keeps_hw));
                let (xn, axes, layout) = if use_nchw {
                    let m: Vec<i64> = axes.iter().map(|&a| [0, 2, 3, 1][a as usize]).collect();
                    let l = if keep_dims {
                        Layout::Nchw
                    } else {
                        Layout::Native
                    };
                    (self.nchw(x)?, m, l)
                } else {
                    (self.native(x)?, axes, Layout::Native)
                };
                let y = self.g.op(
                    "ReduceMean",
                    &[&xn],
                    vec![
                        attr::ints("axes", &axes),
                        attr::int("keepdims", keep_dims as i64),
                    ],
                );
                self.set(out, y, layout)?;
            }
            (
                "FULLY_CONNECTED",
                &BuiltinOptions::FullyConnected {
                    activation,
                    weights_format,
                    ..
                },
            ) => {
                if weights_format != 0 {
                    return Err(self.unsupported(format!("weights format {weights_format}")));
                }
                let wi = self.req_input(op, 1)?;
                let (w, ws) = self.const_f32(wi, "weights")?;
                if ws.len() != 2 {
                    return Err(self.unsupported("weights must be 2-D [out, in]"));
                }
                let (o, i) = (ws[0], ws[1]);
                let (wt, _) = permute(&w, &ws, &[1, 0]);
                let wt = self.initializer(ConstData::F32(wt), &[i, o])?;
                let xn = self.native(x)?;
                let flat = self.g.reshape(&xn, &[-1, i as i64]);
                let mut y = self.g.op("MatMul", &[&flat, &wt], vec![]);
                if let Some(b) = self.bias(op, o)? {
                    y = self.g.add(&y, &b);
                }
                let y = self.activation(y, activation)?;
                let shape: Vec<i64> = out_shape.iter().map(|&d| d as i64).collect();
                let y = if out_shape.len() == 2 {
                    y
                } else {
                    self.g.reshape(&y, &shape)
                };
                self.set(out, y, Layout::Native)?;
            }
            ("PAD" | "PADV2", _) => {
                let pi = self.req_input(op, 1)?;
                let pads = self.const_ints(pi, "paddings")?;
                let rank = out_shape.len();
                if pads.len() != 2 * rank {
                    return Err(self.unsupported("paddings must be [rank, 2]"));
                }
                let value = match Self::input(op, 2) {
                    Some(vi) => {
                        let (v, _) = self.const_f32(vi, "constant value")?;
                        *v.first()
                            .ok_or_else(|| self.unsupported("empty constant value"))?
                    }
                    None => 0.0,
                };
                let nchw_in = self.layout(x)? == Some(Layout::Nchw);
                if nchw_in && rank != 4 {
                    return Err(self.unsupported(format!("a 4-D input padded to rank {rank}")));
                }
                let (xn, order, layout) = if nchw_in {
                    (self.nchw(x)?, vec![0, 3, 1, 2], Layout::Nchw)
                } else {
                    (self.native(x)?, (0..rank).collect(), Layout::Native)
                };
                let mut onnx_pads: Vec<i64> = order.iter().map(|&a| pads[2 * a]).collect();
                onnx_pads.extend(order.iter().map(|&a| pads[2 * a + 1]));
                let pn = self.g.fresh("pads");
                let pn = self.g.initializer_i64(&pn, &[2 * rank as i64], &onnx_pads);
                let vn = self.g.scalar_f32("pad_value", value);
                let y = self.g.op("Pad", &[&xn, &pn, &vn], vec![]);
                self.set(out, y, layout)?;
            }
            (
                "CONV_2D" | "DEPTHWISE_CONV_2D" | "AVERAGE_POOL_2D" | "MAX_POOL_2D"
                | "CONCATENATION" | "SOFTMAX" | "MEAN" | "FULLY_CONNECTED",
                _,
            ) => return Err(self.unsupported("its options table is missing or of another type")),
            _ => return Err(self.unsupported("")),
        }
        Ok(())
    }

    fn bias(&mut self, op: &Operator, n: usize) -> Result<Option<String>, TfliteError> {
        let Some(bi) = Self::input(op, 2) else {
            return Ok(None);
        };
        let (b, bs) = self.const_f32(bi, "bias")?;
        if b.len() != n {
            return Err(self.unsupported(format!("bias of shape {bs:?} for {n} channels")));
        }
        Ok(Some(self.initializer(ConstData::F32(b), &[n])?))
    }

    fn conv_params(
        &self,
        xs: &[usize],
        out_shape: &[usize],
        k: [usize; 2],
        stride: [i32; 2],
        dilation: [i32; 2],
        padding: Padding,
    ) -> Result<ConvParams, TfliteError> {
        if stride.iter().chain(&dilation).any(|&v| v < 1) || k.contains(&0) {
            return Err(self.unsupported(format!(
                "stride {stride:?}, dilation {dilation:?}, kernel {k:?}"
            )));
        }
        let s = [stride[0] as usize, stride[1] as usize];
        let d = [dilation[0] as usize, dilation[1] as usize];
        let (mut pads, mut outs) = ([0i64; 4], [0usize; 2]);
        for a in 0..2 {
            if padding == Padding::Same {
                let (b, e) = same_pads(xs[1 + a], k[a], s[a], d[a]);
                pads[a] = b;
                pads[2 + a] = e;
            }
            outs[a] = conv_out(xs[1 + a], k[a], s[a], d[a], padding);
        }
        if out_shape.len() != 4 || out_shape[1] != outs[0] || out_shape[2] != outs[1] {
            return Err(TfliteError::Malformed(format!(
                "`{}`: output shape {out_shape:?} disagrees with the computed {}x{}",
                self.node, outs[0], outs[1]
            )));
        }
        Ok(ConvParams {
            kernel: [k[0] as i64, k[1] as i64],
            strides: [s[0] as i64, s[1] as i64],
            pads,
            dilations: [d[0] as i64, d[1] as i64],
            group: 1,
        })
    }

    /// Inputs of an element-wise binary op in a common layout.
    fn binary_inputs(&mut self, a: i32, b: i32) -> Result<(String, String, Layout), TfliteError> {
        let (la, lb) = (self.layout(a)?, self.layout(b)?);
        let nchw_ok = |s: &mut Self, ix: i32, l: Option<Layout>| -> Result<bool, TfliteError> {
            Ok(match l {
                Some(l) => l == Layout::Nchw,
                // A constant broadcasts into NCHW once padded to rank 4 and permuted.
                None => s.shape(ix)?.len() <= 4,
            })
        };
        let use_nchw = (la == Some(Layout::Nchw) || lb == Some(Layout::Nchw))
            && nchw_ok(self, a, la)?
            && nchw_ok(self, b, lb)?;
        if use_nchw {
            let an = self.nchw_broadcast(a)?;
            let bn = self.nchw_broadcast(b)?;
            Ok((an, bn, Layout::Nchw))
        } else {
            Ok((self.native(a)?, self.native(b)?, Layout::Native))
        }
    }

    fn nchw_broadcast(&mut self, ix: i32) -> Result<String, TfliteError> {
        if let Val::Const(c) = self.val(ix)? {
            if c.shape.len() < 4 {
                let mut shape = vec![1usize; 4 - c.shape.len()];
                shape.extend(&c.shape);
                let data = match c.data {
                    ConstData::F32(d) => {
                        let (d, s) = permute(&d, &shape, &[0, 3, 1, 2]);
                        shape = s;
                        ConstData::F32(d)
                    }
                    other => other,
                };
                return self.initializer(data, &shape);
            }
        }
        self.nchw(ix)
    }
}

fn dequantize(
    q: &[i32],
    shape: &[usize],
    qp: &super::schema::Quantization,
) -> Result<Vec<f32>, String> {
    let n = qp.scale.len();
    if n == 0 {
        return Err("no scales".into());
    }
    if n == 1 {
        let zp = qp.zero_point.first().copied().unwrap_or(0);
        return Ok(q
            .iter()
            .map(|&v| qp.scale[0] * (v as i64 - zp) as f32)
            .collect());
    }
    let axis = usize::try_from(qp.quantized_dimension)
        .ok()
        .filter(|&a| a < shape.len() && shape[a] == n)
        .ok_or_else(|| {
            format!(
                "{n} scales do not match axis {} of {shape:?}",
                qp.quantized_dimension
            )
        })?;
    let inner: usize = shape[axis + 1..].iter().product();
    Ok(q.iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / inner) % n;
            let zp = qp.zero_point.get(c).copied().unwrap_or(0);
            qp.scale[c] * (v as i64 - zp) as f32
        })
        .collect())
}

fn op_name_of(model: &TfliteModel<'_>, op: &Operator) -> Result<(String, bool), TfliteError> {
    let code = model
        .operator_codes
        .get(op.opcode_index as usize)
        .ok_or_else(|| {
            TfliteError::Malformed(format!(
                "operator uses opcode index {} of {} operator codes",
                op.opcode_index,
                model.operator_codes.len()
            ))
        })?;
    Ok(match (&code.custom, code.builtin) {
        (Some(c), 32) => (c.clone(), true),
        (_, 32) => ("CUSTOM (no custom code)".to_string(), true),
        (_, b) => (
            builtin_name(b)
                .map(str::to_string)
                .unwrap_or_else(|| format!("builtin operator {b}")),
            false,
        ),
    })
}

/// Converts the main subgraph (see the module docs). Nothing is written anywhere: the caller
/// gets the ONNX bytes only when the whole graph converted.
pub fn to_onnx(model: &TfliteModel<'_>, opts: &ConvertOptions) -> Result<Converted, TfliteError> {
    let sg = model
        .subgraphs
        .first()
        .ok_or_else(|| TfliteError::Malformed("the model has no subgraph".into()))?;
    let nt = sg.tensors.len();
    let tensor = |ix: i32| {
        usize::try_from(ix)
            .ok()
            .and_then(|i| sg.tensors.get(i))
            .ok_or_else(|| TfliteError::Malformed(format!("tensor index {ix} of {nt} tensors")))
    };
    // Producer of each tensor.
    let mut producer: HashMap<i32, usize> = HashMap::new();
    for (oi, op) in sg.operators.iter().enumerate() {
        for &o in &op.outputs {
            tensor(o)?;
            producer.insert(o, oi);
        }
    }

    // Outputs and, where present, the post-process op they feed.
    let mut post_process = None;
    let pp = sg
        .operators
        .iter()
        .map(|op| Ok((op, op_name_of(model, op)?.0)))
        .collect::<Result<Vec<_>, TfliteError>>()?
        .into_iter()
        .find(|(_, n)| n == DETECTION_POSTPROCESS);
    let out_ixs: Vec<(i32, String)> = match (&opts.outputs, pp) {
        (OutputMode::Ssd, Some((op, _))) => {
            if op.inputs.len() < 3 {
                return Err(TfliteError::Malformed(format!(
                    "{DETECTION_POSTPROCESS} has {} inputs, expected 3",
                    op.inputs.len()
                )));
            }
            post_process = Some((op.inputs[2], op.custom_options.clone()));
            vec![(op.inputs[0], "loc".into()), (op.inputs[1], "conf".into())]
        }
        (OutputMode::Ssd, None) => pick_ssd_outputs(sg, &tensor)?,
        (OutputMode::AsIs, _) => sg
            .outputs
            .iter()
            .map(|&o| Ok((o, sanitize(&tensor(o)?.name))))
            .collect::<Result<_, TfliteError>>()?,
    };

    // The operators the outputs need, in the model's (topological) order.
    let mut needed = HashSet::new();
    let mut stack: Vec<i32> = out_ixs.iter().map(|(o, _)| *o).collect();
    while let Some(t) = stack.pop() {
        if let Some(&oi) = producer.get(&t) {
            if needed.insert(oi) {
                stack.extend(sg.operators[oi].inputs.iter().copied().filter(|&i| i >= 0));
            }
        }
    }

    // The single image input.
    let mut g = GraphBuilder::new(sg.name.as_deref().unwrap_or("tflite"));
    let mut vals = vec![None; nt];
    let [inp] = sg.inputs.as_slice() else {
        return Err(TfliteError::Unsupported(format!(
            "the subgraph has {} inputs; one image input is supported",
            sg.inputs.len()
        )));
    };
    let it = tensor(*inp)?;
    if it.dtype != TensorType::Float32 {
        return Err(TfliteError::Unsupported(format!(
            "input `{}` is {:?}; only float32 inputs are supported (quantized models are not)",
            it.name, it.dtype
        )));
    }
    let (h, w, c) = match it.shape.as_slice() {
        &[1, h, w, c] if h > 0 && w > 0 && c > 0 => (h as usize, w as usize, c as usize),
        s => {
            return Err(TfliteError::Unsupported(format!(
                "input `{}` has shape {s:?}; expected [1, H, W, C]",
                it.name
            )))
        }
    };
    let x = g.input_f32(
        &opts.input_name,
        &[1i64, c as i64, h as i64, w as i64].map(Dim::Fixed),
    );
    vals[*inp as usize] = Some(Val::Act {
        name: x,
        layout: Layout::Nchw,
    });

    let mut ctx = Ctx {
        model,
        g,
        vals,
        native: HashMap::new(),
        nchw: HashMap::new(),
        op_name: String::new(),
        node: String::new(),
    };
    let mut ops_seen: Vec<String> = Vec::new();
    for (oi, op) in sg.operators.iter().enumerate() {
        if !needed.contains(&oi) {
            continue;
        }
        let (name, custom) = op_name_of(model, op)?;
        ctx.node = op
            .outputs
            .first()
            .and_then(|&o| tensor(o).ok())
            .map(|t| t.name.clone())
            .unwrap_or_else(|| format!("operator {oi}"));
        ctx.op_name = name.clone();
        if custom {
            return Err(ctx.unsupported("custom operator"));
        }
        ctx.convert_op(op, &name)?;
        if !ops_seen.contains(&name) {
            ops_seen.push(name);
        }
    }

    let mut outputs = Vec::new();
    for (ix, oname) in &out_ixs {
        let t = tensor(*ix)?;
        ctx.node = t.name.clone();
        ctx.op_name = "graph output".into();
        if let Some(Val::Const(_)) | None = ctx.vals[*ix as usize] {
            return Err(TfliteError::Unsupported(format!(
                "output `{}` is not computed from the input",
                t.name
            )));
        }
        let v = ctx.native(*ix)?;
        ctx.g.node("Identity", &[&v], &[oname], vec![]);
        let shape = ctx.shape(*ix)?;
        ctx.g.output_f32(
            oname,
            &shape
                .iter()
                .map(|&d| Dim::Fixed(d as i64))
                .collect::<Vec<_>>(),
        );
        outputs.push(ConvertedOutput {
            name: oname.clone(),
            tflite_name: t.name.clone(),
            shape,
        });
    }

    let (num_priors, num_classes) = match opts.outputs {
        OutputMode::Ssd => {
            let (l, c) = (&outputs[0].shape, &outputs[1].shape);
            if l.len() != 3 || c.len() != 3 || l[2] != 4 || l[1] != c[1] || l[0] != 1 {
                return Err(TfliteError::Unsupported(format!(
                    "box encodings {l:?} and class predictions {c:?} are not [1,P,4] and [1,P,C]"
                )));
            }
            (Some(l[1]), Some(c[2]))
        }
        OutputMode::AsIs => (None, None),
    };
    let conf_activation = match opts.outputs {
        OutputMode::Ssd => producer
            .get(&out_ixs[1].0)
            .map(|&oi| op_name_of(model, &sg.operators[oi]))
            .transpose()?
            .map(|(n, _)| n)
            .filter(|n| n == "LOGISTIC" || n == "SOFTMAX"),
        OutputMode::AsIs => None,
    };

    let post_process = match post_process {
        Some((anchors_ix, custom)) => {
            let at = tensor(anchors_ix)?;
            ctx.node = at.name.clone();
            ctx.op_name = DETECTION_POSTPROCESS.into();
            let (a, s) = ctx.const_f32(anchors_ix, "anchors")?;
            if s.len() != 2 || s[1] != 4 || Some(s[0]) != num_priors {
                return Err(TfliteError::Unsupported(format!(
                    "anchors `{}` have shape {s:?}, expected [{}, 4]",
                    at.name,
                    num_priors.unwrap_or(0)
                )));
            }
            let anchors = a
                .chunks_exact(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect();
            let options = flexbuf::post_process_options(&custom).map_err(|e| {
                TfliteError::Unsupported(format!("{DETECTION_POSTPROCESS} options: {e}"))
            })?;
            Some(DetectionPostProcess { anchors, options })
        }
        None => None,
    };

    let graph: pb::GraphProto = ctx.g.build();
    let onnx = ModelBuilder::new(graph)
        .doc(&format!(
            "Imported from TFLite ({}) by ssd-edge",
            model.description.as_deref().unwrap_or("no description")
        ))
        .encode();
    Ok(Converted {
        onnx,
        input_name: opts.input_name.clone(),
        input_hw: (h, w),
        input_channels: c,
        outputs,
        num_priors,
        num_classes,
        conf_activation,
        post_process,
        ops: ops_seen,
    })
}

fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "output".into()
    } else {
        s
    }
}

/// The box-encoding and class-prediction outputs of a raw-output SSD.
fn pick_ssd_outputs<'t>(
    sg: &'t super::schema::SubGraph,
    tensor: &dyn Fn(i32) -> Result<&'t super::schema::Tensor, TfliteError>,
) -> Result<Vec<(i32, String)>, TfliteError> {
    let outs = sg
        .outputs
        .iter()
        .map(|&o| Ok((o, tensor(o)?)))
        .collect::<Result<Vec<_>, TfliteError>>()?;
    let describe = || {
        outs.iter()
            .map(|(_, t)| format!("`{}` {:?}", t.name, t.shape))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let [(a, ta), (b, tb)] = outs.as_slice() else {
        return Err(TfliteError::Unsupported(format!(
            "expected two outputs (box encodings [1,P,4], class predictions [1,P,C]) or a {DETECTION_POSTPROCESS} op; found {}",
            describe()
        )));
    };
    let is_box = |t: &super::schema::Tensor| t.shape.len() == 3 && t.shape[2] == 4;
    let box_name = |t: &super::schema::Tensor| {
        let n = t.name.to_lowercase();
        n.contains("box") || n.contains("loc") || n.contains("regress")
    };
    let loc_first = match (is_box(ta), is_box(tb)) {
        (true, false) => true,
        (false, true) => false,
        (true, true) if box_name(ta) != box_name(tb) => box_name(ta),
        _ => {
            return Err(TfliteError::Unsupported(format!(
                "cannot tell the box encodings from the class predictions among {}",
                describe()
            )))
        }
    };
    let (l, c) = if loc_first { (*a, *b) } else { (*b, *a) };
    Ok(vec![(l, "loc".into()), (c, "conf".into())])
}

#[cfg(test)]
pub(crate) fn test_permute(data: &[f32], shape: &[usize], perm: &[usize]) -> Vec<f32> {
    permute(data, shape, perm).0
}

#[cfg(test)]
pub(crate) fn test_same_pads(input: usize, k: usize, stride: usize) -> (i64, i64) {
    same_pads(input, k, stride, 1)
}
