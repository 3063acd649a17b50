//! TF.js graph models (`model.json`, its weight manifest and shards) to ONNX with ssd-edge
//! metadata, natively: no TensorFlow, no Python, so a board imports with the binary it has.
//!
//! Written for the TensorFlow Object Detection API's SSDs as the TF.js converter writes them
//! (coco-ssd's `ssdlite_mobilenet_v2`): the graph's own pre- and post-processing are
//! recognised and turned into metadata, and only the network between them becomes ONNX.
//! - Pre-processing: a `map` loop that resizes each image with `ResizeBilinear` (TF1's
//!   convention without half-pixel centres), then `x * a - b`. The board's preprocessor
//!   does both (`input.resize = "tf1"`, `scale = a`, `mean = b`).
//! - Post-processing: the anchors (a `[1, P, 4]` constant, ymin/xmin/ymax/xmax), the box
//!   decode (`[ty, tx, th, tw]` divided by 10, 10, 5, 5, exp on sizes) and the sigmoid of the
//!   class logits. The anchors are kept as an initializer the metadata names, the decode as
//!   `yxhw` codes with variances 1/scale, the scores as `conf_kind = "sigmoid"`.
//!
//! The network is written NCHW (ONNX's convolution layout) with batch norms and biases folded
//! into the convolutions, TF's asymmetric SAME padding made explicit, and a transpose back to
//! NHWC only where a reshape depends on the layout (the heads). Anything else is refused with
//! the op and node named; nothing is written then.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::meta::{ModelMeta, Provenance, SCHEMA_VERSION};
use crate::model::onnx_builder::{ConvParams, Dim, GraphBuilder, ModelBuilder};
use ssd_core::image::preprocess::{ChannelOrder, InputSpec, Resize};
use ssd_core::limits::read_bounded;
use ssd_core::ssd::{
    AnchorCoords, AnchorTensor, BoxDecode, CodeOrder, ConfKind, Priors, Variances,
};

/// Largest `model.json` read (coco-ssd's is 0.5 MB).
const MAX_MODEL_JSON: u64 = 64 << 20;
/// Largest total of weight shards (coco-ssd's are 18 MB).
const MAX_WEIGHT_BYTES: u64 = 1 << 30;
/// The anchor initializer's name in the ONNX written.
pub const ANCHORS_NAME: &str = "anchors";

#[derive(Debug, thiserror::Error)]
pub enum TfjsError {
    #[error("{}: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: not a TF.js graph model: {what}", .path.display())]
    Format { path: PathBuf, what: String },
    #[error("{}: unsupported op `{op}` at node `{node}`", .path.display())]
    Unsupported {
        path: PathBuf,
        op: String,
        node: String,
    },
    #[error("{}: node `{node}`: {what}", .path.display())]
    Node {
        path: PathBuf,
        node: String,
        what: String,
    },
    #[error("{}: {what}", .path.display())]
    Structure { path: PathBuf, what: String },
}

/// Errors before the model's path is attached.
#[derive(Debug)]
enum E {
    Format(String),
    Unsupported { op: String, node: String },
    Node { node: String, what: String },
    Structure(String),
}

impl E {
    fn at(self, path: &Path) -> TfjsError {
        let path = path.to_path_buf();
        match self {
            E::Format(what) => TfjsError::Format { path, what },
            E::Unsupported { op, node } => TfjsError::Unsupported { path, op, node },
            E::Node { node, what } => TfjsError::Node { path, node, what },
            E::Structure(what) => TfjsError::Structure { path, what },
        }
    }
}

fn node_err(node: &str, what: impl Into<String>) -> E {
    E::Node {
        node: node.to_string(),
        what: what.into(),
    }
}

/// What the caller knows that the graph does not say.
#[derive(Clone, Debug, Default)]
pub struct TfjsOptions {
    /// Class names by logit slot (slot 0 background). Default: `class_<k>`.
    pub labels: Option<Vec<String>>,
    pub architecture: Option<String>,
    pub provenance: Provenance,
}

/// An imported model: the ONNX bytes (metadata inside) and what they say.
#[derive(Debug)]
pub struct Imported {
    pub onnx: Vec<u8>,
    pub meta: ModelMeta,
    /// Ops in the TF.js graph, the part converted and the ONNX nodes written.
    pub tf_nodes: usize,
    pub converted_nodes: usize,
    pub onnx_nodes: usize,
    pub parameters: usize,
}

/// Imports `model.json` (its shards are read from the same folder).
pub fn import(model_json: &Path, opts: &TfjsOptions) -> Result<Imported, TfjsError> {
    let io = |path: &Path, error| TfjsError::Io {
        path: path.to_path_buf(),
        error,
    };
    let text = read_bounded(model_json, MAX_MODEL_JSON).map_err(|e| io(model_json, e))?;
    let json: Value = serde_json::from_slice(&text)
        .map_err(|e| E::Format(format!("invalid JSON: {e}")).at(model_json))?;
    let dir = model_json.parent().unwrap_or(Path::new("."));
    let manifest = json
        .get("weightsManifest")
        .ok_or_else(|| E::Format("no `weightsManifest`".into()).at(model_json))?;
    let shards = read_shards(dir, manifest).map_err(|(p, e)| io(&p, e))?;
    let weights = decode_weights(manifest, &shards).map_err(|e| e.at(model_json))?;
    let graph = parse_graph(&json).map_err(|e| e.at(model_json))?;
    convert(&graph, weights, opts).map_err(|e| e.at(model_json))
}

// ---- weights ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Tensor {
    shape: Vec<usize>,
    data: Data,
}

#[derive(Clone, Debug)]
enum Data {
    F32(Vec<f32>),
    I32(Vec<i32>),
}

impl Tensor {
    fn f32(&self) -> Option<&[f32]> {
        match &self.data {
            Data::F32(v) => Some(v),
            Data::I32(_) => None,
        }
    }

    fn ints(&self) -> Vec<i64> {
        match &self.data {
            Data::F32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I32(v) => v.iter().map(|&x| x as i64).collect(),
        }
    }
}

/// Every group's shards, concatenated in manifest order.
fn read_shards(dir: &Path, manifest: &Value) -> Result<Vec<Vec<u8>>, (PathBuf, std::io::Error)> {
    let invalid = |p: &Path, m: &str| {
        (
            p.to_path_buf(),
            std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string()),
        )
    };
    let mut out = Vec::new();
    let mut total = 0u64;
    for group in manifest.as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let mut bytes = Vec::new();
        for p in group
            .get("paths")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = p.as_str().unwrap_or("");
            // Shards are named relative to model.json; refuse anything that leaves its folder.
            if name.is_empty() || name.contains('/') || name.contains('\\') || name == ".." {
                return Err(invalid(
                    dir,
                    &format!("weight shard path `{name}` is not a file name in the model's folder"),
                ));
            }
            let path = dir.join(name);
            let left = MAX_WEIGHT_BYTES.saturating_sub(total);
            let data = read_bounded(&path, left).map_err(|e| (path.clone(), e))?;
            total += data.len() as u64;
            bytes.extend_from_slice(&data);
        }
        out.push(bytes);
    }
    Ok(out)
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: normalise the fraction.
            let mut e = 127 - 15 + 1;
            let mut f = f;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

fn decode_weights(manifest: &Value, shards: &[Vec<u8>]) -> Result<HashMap<String, Tensor>, E> {
    let mut out = HashMap::new();
    let groups = manifest
        .as_array()
        .ok_or_else(|| E::Format("`weightsManifest` is not a list".into()))?;
    for (group, bytes) in groups.iter().zip(shards) {
        let mut at = 0usize;
        let entries = group
            .get("weights")
            .and_then(Value::as_array)
            .ok_or_else(|| E::Format("a manifest group has no `weights` list".into()))?;
        for w in entries {
            let name = w
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| E::Format("a weight has no name".into()))?;
            let shape: Vec<usize> = w
                .get("shape")
                .and_then(Value::as_array)
                .ok_or_else(|| node_err(name, "weight has no shape"))?
                .iter()
                .map(|d| d.as_u64().map(|d| d as usize))
                .collect::<Option<_>>()
                .ok_or_else(|| node_err(name, "weight shape is not a list of sizes"))?;
            let n = shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .filter(|&n| n <= 1 << 28)
                .ok_or_else(|| node_err(name, format!("weight shape {shape:?} is too large")))?;
            let dtype = w.get("dtype").and_then(Value::as_str).unwrap_or("");
            let quant = w.get("quantization");
            let qtype = quant.and_then(|q| q.get("dtype")).and_then(Value::as_str);
            let width = match (qtype, dtype) {
                (Some("uint8"), _) | (None, "bool") => 1,
                (Some("uint16") | Some("float16"), _) => 2,
                (None, "float32" | "int32") => 4,
                (Some(q), _) => {
                    return Err(node_err(
                        name,
                        format!(
                            "weight quantization `{q}` is not supported (uint8, uint16, float16)"
                        ),
                    ))
                }
                (None, d) => {
                    return Err(node_err(
                        name,
                        format!("weight dtype `{d}` is not supported (float32, int32, bool)"),
                    ))
                }
            };
            let len = n * width;
            let raw = bytes.get(at..at + len).ok_or_else(|| {
                node_err(
                    name,
                    format!(
                        "the weight shards end at byte {} of the group, the manifest needs {} more",
                        bytes.len(),
                        at + len - bytes.len().min(at + len)
                    ),
                )
            })?;
            at += len;
            let data = match (qtype, dtype) {
                (Some("float16"), _) => Data::F32(
                    raw.chunks_exact(2)
                        .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                        .collect(),
                ),
                (Some(q), _) => {
                    let num = |k: &str| quant.and_then(|x| x.get(k)).and_then(Value::as_f64);
                    let (Some(scale), Some(min)) = (num("scale"), num("min")) else {
                        return Err(node_err(name, "quantized weight without `scale` and `min`"));
                    };
                    let vals: Vec<f64> = if q == "uint8" {
                        raw.iter().map(|&b| b as f64).collect()
                    } else {
                        raw.chunks_exact(2)
                            .map(|b| u16::from_le_bytes([b[0], b[1]]) as f64)
                            .collect()
                    };
                    let deq = vals.into_iter().map(|v| (v * scale + min) as f32);
                    if dtype == "int32" {
                        Data::I32(deq.map(|v| v.round() as i32).collect())
                    } else {
                        Data::F32(deq.collect())
                    }
                }
                (None, "float32") => Data::F32(
                    raw.chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect(),
                ),
                (None, "int32") => Data::I32(
                    raw.chunks_exact(4)
                        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect(),
                ),
                _ => Data::I32(raw.iter().map(|&b| b as i32).collect()),
            };
            out.insert(name.to_string(), Tensor { shape, data });
        }
        if at != bytes.len() {
            return Err(E::Format(format!(
                "the weight shards hold {} bytes, the manifest describes {at}",
                bytes.len()
            )));
        }
    }
    if groups.len() != shards.len() {
        return Err(E::Format("manifest groups and shards differ".into()));
    }
    Ok(out)
}

// ---- graph -----------------------------------------------------------------------------

#[derive(Debug)]
struct Node {
    name: String,
    op: String,
    /// `(producer, output index)`; control inputs (`^name`) are dropped.
    inputs: Vec<(String, usize)>,
    attr: serde_json::Map<String, Value>,
}

fn parse_ref(s: &str) -> (String, usize) {
    match s.rsplit_once(':') {
        Some((n, k)) if k.chars().all(|c| c.is_ascii_digit()) && !k.is_empty() => {
            (n.to_string(), k.parse().unwrap_or(0))
        }
        _ => (s.to_string(), 0),
    }
}

struct Graph {
    nodes: Vec<Node>,
    by_name: HashMap<String, usize>,
}

impl Graph {
    fn get(&self, name: &str) -> Option<&Node> {
        self.by_name.get(name).map(|&i| &self.nodes[i])
    }

    /// Consumers of `name`'s outputs, by node.
    fn consumers(&self, name: &str) -> Vec<&Node> {
        self.nodes
            .iter()
            .filter(|n| n.inputs.iter().any(|(p, _)| p == name))
            .collect()
    }
}

fn parse_graph(json: &Value) -> Result<Graph, E> {
    let topo = json.get("modelTopology").ok_or_else(|| {
        E::Format("no `modelTopology` (a layers model? only graph models are supported)".into())
    })?;
    let list = topo
        .get("node")
        .and_then(Value::as_array)
        .ok_or_else(|| E::Format("`modelTopology` has no node list".into()))?;
    let mut nodes = Vec::with_capacity(list.len());
    for n in list {
        let name = n
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let op = n
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if name.is_empty() || op.is_empty() {
            return Err(E::Format("a node without a name or op".into()));
        }
        let inputs = n
            .get("input")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|s| !s.starts_with('^'))
            .map(parse_ref)
            .collect();
        let attr = n
            .get("attr")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        nodes.push(Node {
            name,
            op,
            inputs,
            attr,
        });
    }
    let by_name = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.clone(), i))
        .collect();
    Ok(Graph { nodes, by_name })
}

fn base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// A string attribute: TF.js writes bytes as base64 or as a list of numbers.
fn attr_str(n: &Node, key: &str) -> Option<String> {
    let v = n.attr.get(key)?.get("s")?;
    let bytes = match v {
        Value::String(s) => base64(s)?,
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_u64().map(|b| b as u8))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    String::from_utf8(bytes).ok()
}

fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn attr_ints(n: &Node, key: &str) -> Option<Vec<i64>> {
    n.attr
        .get(key)?
        .get("list")?
        .get("i")?
        .as_array()?
        .iter()
        .map(as_i64)
        .collect()
}

fn attr_int(n: &Node, key: &str) -> Option<i64> {
    as_i64(n.attr.get(key)?.get("i")?)
}

fn attr_bool(n: &Node, key: &str) -> Option<bool> {
    n.attr.get(key)?.get("b")?.as_bool()
}

fn attr_f(n: &Node, key: &str) -> Option<f32> {
    n.attr.get(key)?.get("f")?.as_f64().map(|f| f as f32)
}

// ---- conversion ------------------------------------------------------------------------

/// A converted tensor.
#[derive(Clone, Debug)]
enum Val {
    /// NHWC in TF, NCHW in the ONNX graph: the output of IR op `op`.
    Image {
        op: usize,
        c: usize,
        h: usize,
        w: usize,
    },
    /// Any other tensor, same layout in both.
    Flat {
        op: usize,
        shape: Vec<usize>,
    },
    Const(Tensor),
}

#[derive(Debug)]
enum Ir {
    Input,
    Conv {
        x: usize,
        /// OIHW.
        w: Vec<f32>,
        b: Vec<f32>,
        dims: [usize; 4],
        p: ConvParams,
        name: String,
    },
    Clip {
        x: usize,
        lo: f32,
        hi: f32,
    },
    Relu(usize),
    Add(Vec<usize>),
    /// `x * scale + shift` per channel (what could not be folded into a convolution).
    Affine {
        x: usize,
        scale: Vec<f32>,
        shift: Vec<f32>,
    },
    /// NCHW -> NHWC, then reshape.
    ToFlat {
        x: usize,
        shape: Vec<i64>,
    },
    Reshape {
        x: usize,
        shape: Vec<i64>,
    },
    Concat {
        xs: Vec<usize>,
        axis: i64,
    },
}

struct Conv<'g> {
    g: &'g Graph,
    weights: HashMap<String, Tensor>,
    vals: HashMap<(String, usize), Val>,
    ir: Vec<Ir>,
    /// The tensor that is the network's input (after TF's own pre-processing).
    input: (String, usize),
    in_hw: (usize, usize),
    converted: usize,
}

fn same_pads(input: usize, k: usize, stride: usize, dil: usize) -> (usize, usize, usize) {
    let out = input.div_ceil(stride);
    let eff = (k - 1) * dil + 1;
    let total = ((out - 1) * stride + eff).saturating_sub(input);
    (out, total / 2, total - total / 2)
}

impl<'g> Conv<'g> {
    fn val(&mut self, r: &(String, usize)) -> Result<Val, E> {
        if let Some(v) = self.vals.get(r) {
            return Ok(v.clone());
        }
        if *r == self.input {
            let (h, w) = self.in_hw;
            self.ir.push(Ir::Input);
            let v = Val::Image {
                op: self.ir.len() - 1,
                c: 3,
                h,
                w,
            };
            self.vals.insert(r.clone(), v.clone());
            return Ok(v);
        }
        let node = self
            .g
            .get(&r.0)
            .ok_or_else(|| E::Structure(format!("tensor `{}` is produced by no node", r.0)))?;
        let v = self.node(node, r.1)?;
        self.vals.insert(r.clone(), v.clone());
        Ok(v)
    }

    fn input(&mut self, n: &Node, k: usize) -> Result<Val, E> {
        let r = n
            .inputs
            .get(k)
            .cloned()
            .ok_or_else(|| node_err(&n.name, format!("has no input {k}")))?;
        self.val(&r)
    }

    /// IR ops that read op `x`'s output.
    fn ir_uses(&self, x: usize) -> usize {
        self.ir
            .iter()
            .map(|op| match op {
                Ir::Input => 0,
                Ir::Conv { x: i, .. }
                | Ir::Clip { x: i, .. }
                | Ir::Relu(i)
                | Ir::Affine { x: i, .. }
                | Ir::ToFlat { x: i, .. }
                | Ir::Reshape { x: i, .. } => usize::from(*i == x),
                Ir::Add(xs) | Ir::Concat { xs, .. } => xs.iter().filter(|&&i| i == x).count(),
            })
            .sum()
    }

    /// Consumers that read values (not only the shape).
    fn value_consumers(&self, name: &str) -> usize {
        self.g
            .consumers(name)
            .iter()
            .filter(|c| c.op != "Shape")
            .count()
    }

    fn node(&mut self, n: &Node, out_ix: usize) -> Result<Val, E> {
        if out_ix != 0 && n.op != "Const" {
            return Err(node_err(
                &n.name,
                format!("output {out_ix} of `{}` is not supported", n.op),
            ));
        }
        self.converted += 1;
        match n.op.as_str() {
            "Const" => {
                let t =
                    self.weights.get(&n.name).cloned().ok_or_else(|| {
                        node_err(&n.name, "constant without weights in the manifest")
                    })?;
                Ok(Val::Const(t))
            }
            "Identity" => self.input(n, 0),
            "Conv2D" | "DepthwiseConv2dNative" => self.conv(n),
            "Relu6" => self.unary(n, |x| Ir::Clip {
                x,
                lo: 0.0,
                hi: 6.0,
            }),
            "Relu" => self.unary(n, Ir::Relu),
            "Mul" | "Add" | "AddV2" | "BiasAdd" | "Sub" => self.binary(n),
            "AddN" => {
                let mut xs = Vec::new();
                let mut shape = None;
                for k in 0..n.inputs.len() {
                    match self.input(n, k)? {
                        Val::Image { op, c, h, w } => {
                            xs.push(op);
                            shape = Some((c, h, w));
                        }
                        _ => return Err(node_err(&n.name, "AddN of non-image tensors")),
                    }
                }
                let (c, h, w) = shape.ok_or_else(|| node_err(&n.name, "AddN without inputs"))?;
                self.ir.push(Ir::Add(xs));
                Ok(Val::Image {
                    op: self.ir.len() - 1,
                    c,
                    h,
                    w,
                })
            }
            "FusedBatchNorm" | "FusedBatchNormV3" => {
                let x = self.input(n, 0)?;
                let mut p = Vec::new();
                for k in 1..5 {
                    match self.input(n, k)? {
                        Val::Const(t) => p.push(t.f32().map(<[f32]>::to_vec).unwrap_or_default()),
                        _ => {
                            return Err(node_err(
                                &n.name,
                                "batch norm parameters must be constants",
                            ))
                        }
                    }
                }
                let eps = attr_f(n, "epsilon").unwrap_or(1e-3);
                let (gamma, beta, mean, var) = (&p[0], &p[1], &p[2], &p[3]);
                let scale: Vec<f32> = gamma
                    .iter()
                    .zip(var)
                    .map(|(g, v)| g / (v + eps).sqrt())
                    .collect();
                let shift: Vec<f32> = beta
                    .iter()
                    .zip(mean)
                    .zip(&scale)
                    .map(|((b, m), s)| b - m * s)
                    .collect();
                self.affine(n, x, scale, shift)
            }
            "Reshape" => {
                let x = self.input(n, 0)?;
                let shape = self.ints(&n.inputs[1], &n.name)?;
                self.reshape(n, x, shape)
            }
            "Squeeze" => {
                let x = self.input(n, 0)?;
                let Val::Flat { shape, .. } = &x else {
                    return Err(node_err(&n.name, "Squeeze of an image tensor"));
                };
                let rank = shape.len() as i64;
                let dims = attr_ints(n, "squeeze_dims").unwrap_or_default();
                let drop: Vec<usize> = dims.iter().map(|&d| ((d + rank) % rank) as usize).collect();
                let new: Vec<i64> = shape
                    .iter()
                    .enumerate()
                    .filter(|(i, &d)| !(drop.contains(i) || (drop.is_empty() && d == 1)))
                    .map(|(_, &d)| d as i64)
                    .collect();
                self.reshape(n, x, new)
            }
            "ConcatV2" => {
                let k = n.inputs.len() - 1;
                let axis = self.ints(&n.inputs[k], &n.name)?;
                let axis = *axis
                    .first()
                    .ok_or_else(|| node_err(&n.name, "no concat axis"))?;
                let mut xs = Vec::new();
                let mut shapes = Vec::new();
                for i in 0..k {
                    match self.input(n, i)? {
                        Val::Flat { op, shape } => {
                            xs.push(op);
                            shapes.push(shape);
                        }
                        _ => {
                            return Err(node_err(
                                &n.name,
                                "only the heads' flat outputs can be concatenated",
                            ))
                        }
                    }
                }
                let rank = shapes[0].len() as i64;
                let a = ((axis + rank) % rank) as usize;
                let mut shape = shapes[0].clone();
                shape[a] = shapes.iter().map(|s| s[a]).sum();
                self.ir.push(Ir::Concat { xs, axis: a as i64 });
                Ok(Val::Flat {
                    op: self.ir.len() - 1,
                    shape,
                })
            }
            other => Err(E::Unsupported {
                op: other.to_string(),
                node: n.name.clone(),
            }),
        }
    }

    fn unary(&mut self, n: &Node, f: impl Fn(usize) -> Ir) -> Result<Val, E> {
        match self.input(n, 0)? {
            Val::Image { op, c, h, w } => {
                self.ir.push(f(op));
                Ok(Val::Image {
                    op: self.ir.len() - 1,
                    c,
                    h,
                    w,
                })
            }
            Val::Flat { op, shape } => {
                self.ir.push(f(op));
                Ok(Val::Flat {
                    op: self.ir.len() - 1,
                    shape,
                })
            }
            Val::Const(_) => Err(node_err(&n.name, "activation of a constant")),
        }
    }

    /// An integer vector computed from constants and static shapes (reshape targets).
    fn ints(&mut self, r: &(String, usize), at: &str) -> Result<Vec<i64>, E> {
        let node = self
            .g
            .get(&r.0)
            .ok_or_else(|| node_err(at, format!("shape input `{}` is produced by no node", r.0)))?;
        match node.op.as_str() {
            "Const" => match self.weights.get(&node.name) {
                Some(t) => Ok(t.ints()),
                None => Err(node_err(&node.name, "constant without weights")),
            },
            "Shape" => {
                let v = self.val(&node.inputs[0])?;
                Ok(match v {
                    Val::Image { c, h, w, .. } => vec![1, h as i64, w as i64, c as i64],
                    Val::Flat { shape, .. } => shape.iter().map(|&d| d as i64).collect(),
                    Val::Const(t) => t.shape.iter().map(|&d| d as i64).collect(),
                })
            }
            "StridedSlice" => {
                let x = self.ints(&node.inputs[0], &node.name)?;
                let b = self.ints(&node.inputs[1], &node.name)?;
                let e = self.ints(&node.inputs[2], &node.name)?;
                let s = self.ints(&node.inputs[3], &node.name)?;
                let simple = [b.len(), e.len(), s.len()] == [1, 1, 1]
                    && s[0] == 1
                    && ["begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask"]
                        .iter()
                        .all(|k| attr_int(node, k).unwrap_or(0) == 0);
                if !simple {
                    return Err(node_err(
                        &node.name,
                        "only a plain 1-D StridedSlice of a shape is supported",
                    ));
                }
                let len = x.len() as i64;
                let (from, to) = ((b[0] + len) % len.max(1), (e[0] + len) % len.max(1));
                if attr_int(node, "shrink_axis_mask").unwrap_or(0) & 1 == 1 {
                    x.get(from as usize)
                        .map(|&v| vec![v])
                        .ok_or_else(|| node_err(&node.name, "slice out of range"))
                } else {
                    Ok(x.get(from as usize..to as usize)
                        .map(<[i64]>::to_vec)
                        .unwrap_or_default())
                }
            }
            "Pack" | "ConcatV2" => {
                let k = if node.op == "ConcatV2" {
                    node.inputs.len() - 1
                } else {
                    node.inputs.len()
                };
                let mut out = Vec::new();
                for i in 0..k {
                    out.extend(self.ints(&node.inputs[i], &node.name)?);
                }
                Ok(out)
            }
            other => Err(E::Unsupported {
                op: other.to_string(),
                node: node.name.clone(),
            }),
        }
    }

    fn reshape(&mut self, n: &Node, x: Val, mut target: Vec<i64>) -> Result<Val, E> {
        let (op, numel, image) = match &x {
            Val::Image { op, c, h, w } => (*op, c * h * w, true),
            Val::Flat { op, shape } => (*op, shape.iter().product(), false),
            Val::Const(_) => return Err(node_err(&n.name, "reshape of a constant")),
        };
        // The batch is 1: a leading -1 or batch size computed from a shape is that.
        let known: i64 = target.iter().filter(|&&d| d >= 0).product();
        if let Some(ix) = target.iter().position(|&d| d < 0) {
            if known <= 0 || numel as i64 % known != 0 {
                return Err(node_err(
                    &n.name,
                    format!("cannot reshape {numel} values to {target:?}"),
                ));
            }
            target[ix] = numel as i64 / known;
        } else if known as usize != numel {
            return Err(node_err(
                &n.name,
                format!("cannot reshape {numel} values to {target:?}"),
            ));
        }
        let shape: Vec<usize> = target.iter().map(|&d| d as usize).collect();
        self.ir.push(if image {
            Ir::ToFlat {
                x: op,
                shape: target,
            }
        } else {
            Ir::Reshape {
                x: op,
                shape: target,
            }
        });
        Ok(Val::Flat {
            op: self.ir.len() - 1,
            shape,
        })
    }

    fn conv(&mut self, n: &Node) -> Result<Val, E> {
        let Val::Image { op: x, c, h, w } = self.input(n, 0)? else {
            return Err(node_err(&n.name, "convolution of a non-image tensor"));
        };
        let Val::Const(f) = self.input(n, 1)? else {
            return Err(node_err(&n.name, "filter is not a constant"));
        };
        if attr_str(n, "data_format").is_some_and(|f| f != "NHWC") {
            return Err(node_err(&n.name, "only NHWC convolutions are supported"));
        }
        let strides = attr_ints(n, "strides").unwrap_or(vec![1, 1, 1, 1]);
        let dil = attr_ints(n, "dilations").unwrap_or(vec![1, 1, 1, 1]);
        if strides.len() != 4 || dil.len() != 4 || strides[0] != 1 || strides[3] != 1 {
            return Err(node_err(
                &n.name,
                "strides and dilations must be [1, h, w, 1]",
            ));
        }
        let data = f.f32().ok_or_else(|| node_err(&n.name, "integer filter"))?;
        let [kh, kw, ci, m]: [usize; 4] =
            f.shape.clone().try_into().map_err(|_| {
                node_err(&n.name, format!("filter shape {:?} is not HWIO", f.shape))
            })?;
        if ci != c {
            return Err(node_err(
                &n.name,
                format!("filter expects {ci} channels, input has {c}"),
            ));
        }
        let depthwise = n.op == "DepthwiseConv2dNative";
        let (o, group, i_per) = if depthwise {
            (ci * m, ci, 1)
        } else {
            (m, 1, ci)
        };
        // HWIO (or H, W, C, multiplier) -> OIHW.
        let mut wt = vec![0f32; o * i_per * kh * kw];
        for y in 0..kh {
            for xk in 0..kw {
                for i in 0..ci {
                    for j in 0..m {
                        let v = data[((y * kw + xk) * ci + i) * m + j];
                        let (oc, ic) = if depthwise { (i * m + j, 0) } else { (j, i) };
                        wt[((oc * i_per + ic) * kh + y) * kw + xk] = v;
                    }
                }
            }
        }
        let pad = attr_str(n, "padding").unwrap_or_default();
        let (sh, sw) = (strides[1] as usize, strides[2] as usize);
        let (dh, dw) = (dil[1] as usize, dil[2] as usize);
        let (oh, ow, pads) = match pad.as_str() {
            "SAME" => {
                let (oh, t, b) = same_pads(h, kh, sh, dh);
                let (ow, l, r) = same_pads(w, kw, sw, dw);
                (oh, ow, [t, l, b, r])
            }
            "VALID" => (
                (h - (kh - 1) * dh).div_ceil(sh),
                (w - (kw - 1) * dw).div_ceil(sw),
                [0; 4],
            ),
            other => {
                return Err(node_err(
                    &n.name,
                    format!("padding `{other}` is not supported"),
                ))
            }
        };
        self.ir.push(Ir::Conv {
            x,
            w: wt,
            b: vec![0.0; o],
            dims: [o, i_per, kh, kw],
            p: ConvParams {
                kernel: [kh as i64, kw as i64],
                strides: [sh as i64, sw as i64],
                pads: pads.map(|p| p as i64),
                dilations: [dh as i64, dw as i64],
                group: group as i64,
            },
            name: n.name.clone(),
        });
        Ok(Val::Image {
            op: self.ir.len() - 1,
            c: o,
            h: oh,
            w: ow,
        })
    }

    /// `x * scale + shift` per channel, folded into the convolution that produced `x` when
    /// nothing else reads that convolution's output.
    fn affine(&mut self, n: &Node, x: Val, scale: Vec<f32>, shift: Vec<f32>) -> Result<Val, E> {
        let Val::Image { op, c, h, w } = x else {
            return Err(node_err(
                &n.name,
                "per-channel arithmetic on a non-image tensor",
            ));
        };
        let widen = |v: Vec<f32>, what: &str| match v.len() {
            1 => Ok(vec![v[0]; c]),
            l if l == c => Ok(v),
            l => Err(node_err(
                &n.name,
                format!("{what} has {l} values for {c} channels"),
            )),
        };
        let (scale, shift) = (widen(scale, "scale")?, widen(shift, "shift")?);
        // The image operand (a constant operand may come first, as in `Mul(c, x)`).
        let producer = n
            .inputs
            .iter()
            .map(|r| r.0.clone())
            .find(|r| self.g.get(r).is_some_and(|p| p.op != "Const"))
            .unwrap_or_default();
        let foldable =
            matches!(self.ir[op], Ir::Conv { .. }) && self.value_consumers(&producer) == 1;
        if foldable {
            if let Ir::Conv { w, b, dims, .. } = &mut self.ir[op] {
                let per = dims[1] * dims[2] * dims[3];
                for (oc, (s, t)) in scale.iter().zip(&shift).enumerate() {
                    for v in &mut w[oc * per..(oc + 1) * per] {
                        *v *= s;
                    }
                    b[oc] = b[oc] * s + t;
                }
            }
            return Ok(Val::Image { op, c, h, w });
        }
        let identity_scale = scale.iter().all(|&v| v == 1.0);
        // `c + (conv + y)`, as grappler rewrites a residual's bias: fold `c` into that
        // convolution's bias when the sum is its only reader.
        if identity_scale && self.value_consumers(&producer) == 1 {
            if let Ir::Add(xs) = &self.ir[op] {
                let conv = xs
                    .iter()
                    .copied()
                    .find(|&x| matches!(self.ir[x], Ir::Conv { .. }) && self.ir_uses(x) == 1);
                if let Some(Ir::Conv { b, .. }) = conv.map(|x| &mut self.ir[x]) {
                    for (b, t) in b.iter_mut().zip(&shift) {
                        *b += t;
                    }
                    return Ok(Val::Image { op, c, h, w });
                }
            }
        }
        self.ir.push(Ir::Affine {
            x: op,
            scale,
            shift,
        });
        Ok(Val::Image {
            op: self.ir.len() - 1,
            c,
            h,
            w,
        })
    }

    fn binary(&mut self, n: &Node) -> Result<Val, E> {
        let a = self.input(n, 0)?;
        let b = self.input(n, 1)?;
        let op = n.op.as_str();
        match (a, b) {
            (
                Val::Image { op: ia, c, h, w },
                Val::Image {
                    op: ib,
                    c: c2,
                    h: h2,
                    w: w2,
                },
            ) if op != "Mul" && op != "Sub" => {
                if (c, h, w) != (c2, h2, w2) {
                    return Err(node_err(&n.name, "adding images of different shapes"));
                }
                self.ir.push(Ir::Add(vec![ia, ib]));
                Ok(Val::Image {
                    op: self.ir.len() - 1,
                    c,
                    h,
                    w,
                })
            }
            (x @ Val::Image { .. }, Val::Const(t)) | (Val::Const(t), x @ Val::Image { .. }) => {
                let v = t
                    .f32()
                    .ok_or_else(|| node_err(&n.name, "integer constant"))?
                    .to_vec();
                if t.shape.iter().rev().skip(1).any(|&d| d != 1) {
                    return Err(node_err(
                        &n.name,
                        format!("constant of shape {:?} is not per channel", t.shape),
                    ));
                }
                let c_first = matches!(self.input(n, 0)?, Val::Const(_));
                let zeros = vec![0.0; v.len()];
                let ones = vec![1.0; v.len()];
                match op {
                    "Mul" => self.affine(n, x, v, zeros),
                    "Add" | "AddV2" | "BiasAdd" => self.affine(n, x, ones, v),
                    // x - c, or c - x.
                    "Sub" if !c_first => self.affine(n, x, ones, v.iter().map(|c| -c).collect()),
                    "Sub" => self.affine(n, x, vec![-1.0; v.len()], v),
                    _ => unreachable!("binary ops are matched by the caller"),
                }
            }
            _ => Err(E::Unsupported {
                op: format!("{op} (of these operand kinds)"),
                node: n.name.clone(),
            }),
        }
    }
}

/// What the graph's TF pre-processing does: the network input tensor, its size, resize and
/// `x * scale - mean`.
struct Preproc {
    input: (String, usize),
    height: usize,
    width: usize,
    resize: Resize,
    scale: f32,
    mean: f32,
}

fn scalar(c: &Conv, name: &str) -> Option<f32> {
    let t = c.weights.get(name)?;
    match &t.data {
        Data::F32(v) if v.len() == 1 => Some(v[0]),
        Data::I32(v) if v.len() == 1 => Some(v[0] as f32),
        _ => None,
    }
}

fn find_preprocessing(c: &Conv) -> Result<Preproc, E> {
    let g = c.g;
    let resize = g
        .nodes
        .iter()
        .find(|n| n.op == "ResizeBilinear")
        .ok_or_else(|| E::Structure("no ResizeBilinear in the graph: not a TF Object Detection API model with its pre-processor".into()))?;
    if attr_bool(resize, "align_corners") == Some(true) {
        return Err(node_err(
            &resize.name,
            "align_corners resizing is not supported",
        ));
    }
    let mode = if attr_bool(resize, "half_pixel_centers") == Some(true) {
        Resize::HalfPixel
    } else {
        Resize::Tf1
    };
    let size = c
        .weights
        .get(
            &resize
                .inputs
                .get(1)
                .map(|r| r.0.clone())
                .unwrap_or_default(),
        )
        .map(Tensor::ints)
        .filter(|s| s.len() == 2 && s.iter().all(|&d| (1..=4096).contains(&d)))
        .ok_or_else(|| node_err(&resize.name, "resize size is not a constant [H, W]"))?;
    // The network starts at `Sub(Mul(a, images), b)` after the resize loop.
    let sub = g
        .nodes
        .iter()
        .find(|n| n.op == "Sub" && n.name.starts_with("Preprocessor/"))
        .ok_or_else(|| {
            E::Structure(
                "no `Preprocessor/...` Sub: the input normalisation was not recognised".into(),
            )
        })?;
    let mul = g
        .get(&sub.inputs[0].0)
        .filter(|m| m.op == "Mul")
        .ok_or_else(|| node_err(&sub.name, "expected `x * a - b` after the resize"))?;
    let a = mul
        .inputs
        .iter()
        .find_map(|r| scalar(c, &r.0))
        .ok_or_else(|| node_err(&mul.name, "the input scale is not a scalar constant"))?;
    let b = scalar(c, &sub.inputs[1].0)
        .ok_or_else(|| node_err(&sub.name, "the input offset is not a scalar constant"))?;
    Ok(Preproc {
        input: (sub.name.clone(), 0),
        height: size[0] as usize,
        width: size[1] as usize,
        resize: mode,
        scale: a,
        mean: b,
    })
}

/// The TF OD API post-processor: box codes, class logits, anchors and the code scales.
struct Postproc {
    boxes: (String, usize),
    logits: (String, usize),
    anchors: Vec<f32>,
    /// 1/scale of the centre and size codes.
    center: f32,
    size: f32,
}

fn find_postprocessing(c: &Conv) -> Result<Postproc, E> {
    let g = c.g;
    let post = |n: &&Node| n.name.starts_with("Postprocessor/");
    let sigmoid = g
        .nodes
        .iter()
        .filter(post)
        .find(|n| n.op == "Sigmoid")
        .ok_or_else(|| E::Structure("no sigmoid in `Postprocessor/`: only TF Object Detection API SSDs with sigmoid scores are supported".into()))?;
    let logits = sigmoid.inputs[0].clone();
    // The box codes enter the decoder through a Squeeze (or directly) into Postprocessor/.
    let boxes = g
        .nodes
        .iter()
        .filter(post)
        .flat_map(|n| n.inputs.iter())
        .filter(|r| !r.0.starts_with("Postprocessor/") && *r != &logits)
        .filter(|r| g.get(&r.0).is_some_and(|p| p.op != "Const"))
        .map(|r| match g.get(&r.0) {
            Some(p) if p.op == "Squeeze" => p.inputs[0].clone(),
            _ => r.clone(),
        })
        .next()
        .ok_or_else(|| {
            E::Structure("the box codes feeding `Postprocessor/` were not found".into())
        })?;
    let anchors = g
        .nodes
        .iter()
        .filter(|n| n.op == "Const" && n.name.starts_with("Postprocessor/"))
        .filter_map(|n| c.weights.get(&n.name))
        .find(|t| {
            t.shape.len() >= 2
                && t.shape[t.shape.len() - 1] == 4
                && t.shape.iter().rev().skip(2).all(|&d| d == 1)
        })
        .and_then(|t| t.f32().map(<[f32]>::to_vec))
        .ok_or_else(|| E::Structure("no anchor constant [1, P, 4] in `Postprocessor/`".into()))?;
    // FasterRcnnBoxCoder: codes [ty, tx, th, tw] multiplied by 1/scale (folded reciprocals).
    let recip = |node: &str| -> Result<f32, E> {
        let n = g
            .get(node)
            .ok_or_else(|| E::Structure(format!("box decoder node `{node}` not found")))?;
        n.inputs
            .iter()
            .find_map(|r| scalar(c, &r.0))
            .ok_or_else(|| node_err(node, "the box code scale is not a constant"))
    };
    let scales = [
        recip("Postprocessor/Decode/div")?,
        recip("Postprocessor/Decode/div_1")?,
        recip("Postprocessor/Decode/div_2")?,
        recip("Postprocessor/Decode/div_3")?,
    ];
    if scales[0] != scales[1] || scales[2] != scales[3] {
        return Err(E::Structure(format!(
            "box code scales {scales:?}: y and x (and h and w) must share one scale"
        )));
    }
    Ok(Postproc {
        boxes,
        logits,
        anchors,
        center: scales[0],
        size: scales[2],
    })
}

fn convert(g: &Graph, weights: HashMap<String, Tensor>, opts: &TfjsOptions) -> Result<Imported, E> {
    let mut c = Conv {
        g,
        weights,
        vals: HashMap::new(),
        ir: Vec::new(),
        input: (String::new(), 0),
        in_hw: (0, 0),
        converted: 0,
    };
    let pre = find_preprocessing(&c)?;
    let post = find_postprocessing(&c)?;
    c.input = pre.input.clone();
    c.in_hw = (pre.height, pre.width);
    let loc = c.val(&post.boxes)?;
    let conf = c.val(&post.logits)?;
    let (
        Val::Flat {
            op: loc_op,
            shape: loc_shape,
        },
        Val::Flat {
            op: conf_op,
            shape: conf_shape,
        },
    ) = (loc, conf)
    else {
        return Err(E::Structure(
            "the box codes and logits are not flat tensors".into(),
        ));
    };
    let p = loc_shape.iter().product::<usize>() / 4;
    let classes = *conf_shape.last().unwrap_or(&0);
    if conf_shape.iter().product::<usize>() != p * classes || p * 4 != post.anchors.len() {
        return Err(E::Structure(format!(
            "box codes {loc_shape:?}, logits {conf_shape:?} and {} anchors do not agree",
            post.anchors.len() / 4
        )));
    }

    // Emit the ONNX graph.
    let mut gb = GraphBuilder::new("tfjs-import");
    let input = gb.input_f32(
        "image",
        &[
            Dim::Fixed(1),
            Dim::Fixed(3),
            Dim::Fixed(pre.height as i64),
            Dim::Fixed(pre.width as i64),
        ],
    );
    let mut names: Vec<String> = Vec::with_capacity(c.ir.len());
    let mut params = 0usize;
    for (i, op) in c.ir.iter().enumerate() {
        let name = match op {
            Ir::Input => input.clone(),
            Ir::Conv {
                x,
                w,
                b,
                dims,
                p,
                name,
            } => {
                params += w.len() + b.len();
                let dims_i: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
                let wn = gb.initializer_f32(&format!("{name}/weights"), &dims_i, w);
                let bn = gb.initializer_f32(&format!("{name}/bias"), &[b.len() as i64], b);
                gb.conv(&names[*x], &wn, Some(&bn), p)
            }
            Ir::Clip { x, lo, hi } => gb.clip(&names[*x], *lo, *hi),
            Ir::Relu(x) => gb.relu(&names[*x]),
            Ir::Add(xs) => {
                let mut acc = names[xs[0]].clone();
                for x in &xs[1..] {
                    acc = gb.add(&acc, &names[*x]);
                }
                acc
            }
            Ir::Affine { x, scale, shift } => {
                let n = scale.len() as i64;
                let s = gb.initializer_f32(&format!("affine_{i}/scale"), &[n, 1, 1], scale);
                let t = gb.initializer_f32(&format!("affine_{i}/shift"), &[n, 1, 1], shift);
                let m = gb.mul(&names[*x], &s);
                gb.add(&m, &t)
            }
            Ir::ToFlat { x, shape } => {
                let t = gb.transpose(&names[*x], &[0, 2, 3, 1]);
                gb.reshape(&t, shape)
            }
            Ir::Reshape { x, shape } => gb.reshape(&names[*x], shape),
            Ir::Concat { xs, axis } => {
                let refs: Vec<&str> = xs.iter().map(|x| names[*x].as_str()).collect();
                gb.concat(&refs, *axis)
            }
        };
        names.push(name);
    }
    gb.reshape(&names[loc_op], &[1, p as i64, 4]);
    gb.rename_last_output("loc");
    gb.reshape(&names[conf_op], &[1, p as i64, classes as i64]);
    gb.rename_last_output("conf");
    gb.output_f32("loc", &[Dim::Fixed(1), Dim::Fixed(p as i64), Dim::Fixed(4)]);
    gb.output_f32(
        "conf",
        &[
            Dim::Fixed(1),
            Dim::Fixed(p as i64),
            Dim::Fixed(classes as i64),
        ],
    );
    // The anchors as the graph held them; no node reads them, the decoder does.
    gb.initializer_f32(ANCHORS_NAME, &[p as i64, 4], &post.anchors);

    let labels = super::slot_labels(opts.labels.as_deref(), classes).map_err(E::Structure)?;
    let meta = ModelMeta {
        schema_version: SCHEMA_VERSION,
        architecture: opts
            .architecture
            .clone()
            .unwrap_or_else(|| "ssd-tfjs".to_string()),
        labels,
        input: InputSpec {
            width: pre.width as u32,
            height: pre.height as u32,
            channel_order: ChannelOrder::Rgb,
            mean: [pre.mean; 3],
            std: [1.0; 3],
            scale: pre.scale,
            resize: pre.resize,
        },
        priors: Priors::Tensor(AnchorTensor {
            name: ANCHORS_NAME.into(),
            coords: AnchorCoords::Yxyx,
            boxes: None,
        }),
        variances: Variances {
            center: post.center,
            size: post.size,
        },
        decode: BoxDecode {
            clip: false,
            max_log_scale: None,
            order: CodeOrder::Yxhw,
        },
        conf_kind: ConfKind::Sigmoid,
        outputs: super::raw_outputs(),
        nms: super::tf_ssd_nms(),
        detection_threshold: 0.5,
        provenance: opts.provenance.clone(),
    };
    let onnx_nodes = gb.graph().node.len();
    let model = ModelBuilder::new(gb.build())
        .producer("ssd-edge import", env!("CARGO_PKG_VERSION"))
        .metadata(meta.to_metadata_props());
    Ok(Imported {
        onnx: model.encode(),
        meta,
        tf_nodes: g.nodes.len(),
        converted_nodes: c.converted,
        onnx_nodes,
        parameters: params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_values_decode_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
    }

    #[test]
    fn base64_and_number_lists_are_both_strings() {
        assert_eq!(base64("U0FNRQ==").unwrap(), b"SAME");
        assert_eq!(parse_ref("a/b:2"), ("a/b".to_string(), 2));
        assert_eq!(parse_ref("a/b"), ("a/b".to_string(), 0));
    }

    #[test]
    fn same_padding_is_asymmetric_as_tensorflow_pads() {
        // 300 -> 150 with a 3x3 stride-2 kernel: one pixel after, none before.
        assert_eq!(same_pads(300, 3, 2, 1), (150, 0, 1));
        assert_eq!(same_pads(19, 3, 2, 1), (10, 1, 1));
        assert_eq!(same_pads(10, 1, 1, 1), (10, 0, 0));
    }

    #[test]
    fn truncated_shards_and_foreign_dtypes_are_errors() {
        let manifest: Value = serde_json::json!([{ "paths": ["x"], "weights": [
            {"name": "w", "shape": [2, 2], "dtype": "float32"}]}]);
        let err = decode_weights(&manifest, &[vec![0u8; 8]]).unwrap_err();
        assert!(
            matches!(err, E::Node { ref node, ref what } if node == "w" && what.contains("need")),
            "{err:?}"
        );
        let manifest: Value = serde_json::json!([{ "paths": ["x"], "weights": [
            {"name": "s", "shape": [1], "dtype": "string"}]}]);
        let err = decode_weights(&manifest, &[vec![0u8; 8]]).unwrap_err();
        assert!(
            matches!(err, E::Node { ref what, .. } if what.contains("string")),
            "{err:?}"
        );
        let manifest: Value = serde_json::json!([{ "paths": ["x"], "weights": [
            {"name": "q", "shape": [2], "dtype": "float32",
             "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}}]}]);
        let w = decode_weights(&manifest, &[vec![0u8, 4]]).unwrap();
        assert_eq!(w["q"].f32().unwrap(), &[-1.0, 1.0]);
    }
}
