//! The parts of the TFLite schema (tensorflow/lite/schema/schema.fbs) the importer reads.
//! Field ids are the schema's declaration order; a union takes two ids (type, value).

use super::flatbuf::{Buf, Result, Table};
use super::TfliteError;

/// `TensorType` values we name; the others are kept as their number for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorType {
    Float32,
    Float16,
    Int32,
    UInt8,
    Int64,
    Int8,
    Other(i8),
}

impl TensorType {
    fn from_i8(v: i8) -> Self {
        match v {
            0 => TensorType::Float32,
            1 => TensorType::Float16,
            2 => TensorType::Int32,
            3 => TensorType::UInt8,
            4 => TensorType::Int64,
            9 => TensorType::Int8,
            o => TensorType::Other(o),
        }
    }
}

/// Asymmetric linear quantization: `real = scale * (q - zero_point)`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Quantization {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub quantized_dimension: i32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<i32>,
    pub dtype: TensorType,
    /// Index into [`TfliteModel::buffers`]; 0 is the empty sentinel (no constant data).
    pub buffer: u32,
    /// Present only when it carries scales (converters often write an empty table).
    pub quantization: Option<Quantization>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OperatorCode {
    /// The builtin operator (the larger of `builtin_code` and `deprecated_builtin_code`, as
    /// TFLite itself reads it: the old byte field saturates at 127).
    pub builtin: i32,
    pub custom: Option<String>,
    pub version: i32,
}

/// TFLite's `Padding` enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    Same,
    Valid,
}

/// TFLite's `ActivationFunctionType` enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    ReluN1To1,
    Relu6,
    Tanh,
    SignBit,
    Other(i8),
}

impl Activation {
    fn from_i8(v: i8) -> Self {
        match v {
            0 => Activation::None,
            1 => Activation::Relu,
            2 => Activation::ReluN1To1,
            3 => Activation::Relu6,
            4 => Activation::Tanh,
            5 => Activation::SignBit,
            o => Activation::Other(o),
        }
    }
}

/// The builtin options the converter uses, decoded; anything else is kept as its union tag.
#[derive(Clone, Debug, PartialEq)]
pub enum BuiltinOptions {
    None,
    Conv2D {
        padding: Padding,
        stride: [i32; 2],
        dilation: [i32; 2],
        activation: Activation,
    },
    DepthwiseConv2D {
        padding: Padding,
        stride: [i32; 2],
        dilation: [i32; 2],
        depth_multiplier: i32,
        activation: Activation,
    },
    Pool2D {
        padding: Padding,
        stride: [i32; 2],
        filter: [i32; 2],
        activation: Activation,
    },
    FullyConnected {
        activation: Activation,
        weights_format: u8,
        keep_num_dims: bool,
    },
    Softmax {
        beta: f32,
    },
    Concatenation {
        axis: i32,
        activation: Activation,
    },
    /// ADD, SUB, MUL, DIV: only the fused activation.
    Arithmetic {
        activation: Activation,
    },
    Reshape {
        new_shape: Vec<i32>,
    },
    Reducer {
        keep_dims: bool,
    },
    LeakyRelu {
        alpha: f32,
    },
    /// A union member this reader does not decode (the schema's union tag).
    Other(u8),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Operator {
    pub opcode_index: u32,
    /// Tensor indices; -1 marks an omitted optional input.
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub options: BuiltinOptions,
    /// Flexbuffer-encoded options of a custom op.
    pub custom_options: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SubGraph {
    pub name: Option<String>,
    pub tensors: Vec<Tensor>,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub operators: Vec<Operator>,
}

/// A parsed `.tflite` file; constant data borrows from the file's bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct TfliteModel<'a> {
    pub version: u32,
    pub description: Option<String>,
    pub operator_codes: Vec<OperatorCode>,
    pub subgraphs: Vec<SubGraph>,
    /// Raw little-endian bytes of each buffer (empty for buffer 0 and non-constant tensors).
    pub buffers: Vec<&'a [u8]>,
}

impl TfliteModel<'_> {
    /// The operator's name for messages: the builtin's name, or the custom code.
    pub fn op_name(&self, op: &Operator) -> String {
        match self.operator_codes.get(op.opcode_index as usize) {
            Some(code) => match (&code.custom, code.builtin) {
                (Some(c), 32) => c.clone(),
                (_, b) => super::ops::builtin_name(b)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("builtin operator {b}")),
            },
            None => format!("operator code {}", op.opcode_index),
        }
    }
}

fn padding(v: i8) -> Result<Padding> {
    match v {
        0 => Ok(Padding::Same),
        1 => Ok(Padding::Valid),
        o => Err(TfliteError::Malformed(format!("unknown padding {o}"))),
    }
}

fn options(tag: u8, t: Option<Table<'_>>) -> Result<BuiltinOptions> {
    let Some(t) = t else {
        return Ok(if tag == 0 {
            BuiltinOptions::None
        } else {
            BuiltinOptions::Other(tag)
        });
    };
    let act = |slot| Ok::<_, TfliteError>(Activation::from_i8(t.i8(slot, 0)?));
    Ok(match tag {
        1 => BuiltinOptions::Conv2D {
            padding: padding(t.i8(0, 0)?)?,
            stride: [t.i32(2, 0)?, t.i32(1, 0)?],
            activation: act(3)?,
            dilation: [t.i32(5, 1)?, t.i32(4, 1)?],
        },
        2 => BuiltinOptions::DepthwiseConv2D {
            padding: padding(t.i8(0, 0)?)?,
            stride: [t.i32(2, 0)?, t.i32(1, 0)?],
            depth_multiplier: t.i32(3, 0)?,
            activation: act(4)?,
            dilation: [t.i32(6, 1)?, t.i32(5, 1)?],
        },
        5 => BuiltinOptions::Pool2D {
            padding: padding(t.i8(0, 0)?)?,
            stride: [t.i32(2, 0)?, t.i32(1, 0)?],
            filter: [t.i32(4, 0)?, t.i32(3, 0)?],
            activation: act(5)?,
        },
        8 => BuiltinOptions::FullyConnected {
            activation: act(0)?,
            weights_format: t.u8(1, 0)?,
            keep_num_dims: t.bool(2)?,
        },
        9 => BuiltinOptions::Softmax {
            beta: t.f32(0, 0.0)?,
        },
        10 => BuiltinOptions::Concatenation {
            axis: t.i32(0, 0)?,
            activation: act(1)?,
        },
        // AddOptions, MulOptions, SubOptions, DivOptions.
        11 | 21 | 28 | 29 => BuiltinOptions::Arithmetic {
            activation: act(0)?,
        },
        17 => BuiltinOptions::Reshape {
            new_shape: t.i32s(0)?,
        },
        27 => BuiltinOptions::Reducer {
            keep_dims: t.bool(0)?,
        },
        75 => BuiltinOptions::LeakyRelu {
            alpha: t.f32(0, 0.0)?,
        },
        o => BuiltinOptions::Other(o),
    })
}

fn context<T>(r: Result<T>, what: impl FnOnce() -> String) -> Result<T> {
    r.map_err(|e| match e {
        TfliteError::Malformed(m) => TfliteError::Malformed(format!("{}: {m}", what())),
        e => e,
    })
}

/// Parses the flatbuffer. Checks the "TFL3" identifier first, so that a foreign file gets a
/// clear message rather than a garbled-offset one.
pub fn parse(bytes: &[u8]) -> std::result::Result<TfliteModel<'_>, TfliteError> {
    if bytes.len() < 8 {
        return Err(TfliteError::NotTflite(format!(
            "{} bytes is too short for a TFLite flatbuffer",
            bytes.len()
        )));
    }
    if &bytes[4..8] != b"TFL3" {
        return Err(TfliteError::NotTflite(format!(
            "no \"TFL3\" identifier at bytes 4..8 (found {:02x?}{})",
            &bytes[4..8],
            super::sniff(bytes)
        )));
    }
    let buf = Buf::new(bytes);
    let root = context(buf.root(), || "model".into())?;
    let version = root.u32(0, 0)?;
    let codes = context(root.tables(1), || "operator codes".into())?;
    let mut operator_codes = Vec::with_capacity(codes.len());
    for (i, c) in codes.iter().enumerate() {
        let code = context(
            (|| {
                let deprecated = c.i8(0, 0)? as i32;
                let builtin = c.i32(3, 0)?;
                Ok(OperatorCode {
                    builtin: deprecated.max(builtin),
                    custom: c.string(1)?,
                    version: c.i32(2, 1)?,
                })
            })(),
            || format!("operator code {i}"),
        )?;
        operator_codes.push(code);
    }

    let bufs = context(root.tables(4), || "buffers".into())?;
    let mut buffers = Vec::with_capacity(bufs.len());
    for (i, b) in bufs.iter().enumerate() {
        let data = context(
            (|| {
                let data = b.bytes(0)?;
                let offset = b.u64(1, 0)?;
                let size = b.u64(2, 0)?;
                // Models over 2 GB keep buffers after the flatbuffer, addressed from the
                // start of the file (offset 1 is the converter's "not yet placed" marker).
                if data.is_empty() && offset > 1 {
                    let (o, s) = (usize::try_from(offset), usize::try_from(size));
                    match (o, s) {
                        (Ok(o), Ok(s)) => buf.get(o, s),
                        _ => Err(TfliteError::Malformed(format!(
                            "offset {offset} + size {size} do not fit this machine"
                        ))),
                    }
                } else {
                    Ok(data)
                }
            })(),
            || format!("buffer {i}"),
        )?;
        buffers.push(data);
    }

    let sgs = context(root.tables(2), || "subgraphs".into())?;
    let mut subgraphs = Vec::with_capacity(sgs.len());
    for (si, sg) in sgs.iter().enumerate() {
        let ts = context(sg.tables(0), || format!("subgraph {si} tensors"))?;
        let mut tensors = Vec::with_capacity(ts.len());
        for (ti, t) in ts.iter().enumerate() {
            let tensor = context(
                (|| {
                    let quantization = match t.table(4)? {
                        Some(q) => {
                            let scale = q.f32s(2)?;
                            (!scale.is_empty())
                                .then(|| {
                                    Ok::<_, TfliteError>(Quantization {
                                        scale,
                                        zero_point: q.i64s(3)?,
                                        quantized_dimension: q.i32(6, 0)?,
                                    })
                                })
                                .transpose()?
                        }
                        None => None,
                    };
                    Ok(Tensor {
                        shape: t.i32s(0)?,
                        dtype: TensorType::from_i8(t.i8(1, 0)?),
                        buffer: t.u32(2, 0)?,
                        name: t.string(3)?.unwrap_or_default(),
                        quantization,
                    })
                })(),
                || format!("subgraph {si} tensor {ti}"),
            )?;
            tensors.push(tensor);
        }
        let ops = context(sg.tables(3), || format!("subgraph {si} operators"))?;
        let mut operators = Vec::with_capacity(ops.len());
        for (oi, o) in ops.iter().enumerate() {
            let op = context(
                (|| {
                    let tag = o.u8(3, 0)?;
                    Ok(Operator {
                        opcode_index: o.u32(0, 0)?,
                        inputs: o.i32s(1)?,
                        outputs: o.i32s(2)?,
                        options: options(tag, o.table(4)?)?,
                        custom_options: o.bytes(5)?.to_vec(),
                    })
                })(),
                || format!("subgraph {si} operator {oi}"),
            )?;
            operators.push(op);
        }
        let sub = context(
            (|| {
                Ok(SubGraph {
                    name: sg.string(4)?,
                    inputs: sg.i32s(1)?,
                    outputs: sg.i32s(2)?,
                    tensors,
                    operators,
                })
            })(),
            || format!("subgraph {si}"),
        )?;
        subgraphs.push(sub);
    }
    Ok(TfliteModel {
        version,
        description: context(root.string(3), || "description".into())?,
        operator_codes,
        subgraphs,
        buffers,
    })
}
