//! The ONNX graph of a [`NetSpec`] with its weights, and the metadata that goes with it.
//! Batch norm is folded into the preceding convolution (inference form), each map's loc and
//! conf predictors become one convolution where they can, heads are permuted to NHWC and
//! flattened exactly as the trainer's `SsdNet::forward_t`, and the model metadata
//! ([`ModelMeta`]) goes into metadata_props.
//!
//! Weights come from a lookup by parameter name ([`Weights::new`]): the trainer's adapter
//! reads its VarStore, `import` reads a published state dict. It lives in `ssd-model`, which
//! the board binary links, so that `ssd-edge import` writes models on the board; it needs the
//! protobuf types (`model::onnx_builder`) and no libtorch.

use crate::model::onnx_builder::{attr, ConvParams, Dim, GraphBuilder, ModelBuilder, PoolParams};
use crate::model::ModelMeta;

use super::{Conv, Head, Layer, NetSpec};

pub const INPUT_NAME: &str = "input";
pub const LOC_NAME: &str = "loc";
pub const CONF_NAME: &str = "conf";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("weights: tensor `{0}` is missing from the checkpoint")]
    Missing(String),
    #[error("weights: tensor `{name}` has {got} values, the network needs {want}")]
    Size {
        name: String,
        got: usize,
        want: usize,
    },
    #[error("metadata: {0}")]
    Meta(String),
    #[error("writing {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Where the writer takes each parameter from, by the spec's name: a trained VarStore (the
/// trainer's adapter), or an imported state dict (through its name map).
pub struct Weights<'a> {
    lookup: Lookup<'a>,
}

/// A parameter's values (row-major) by name.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<Vec<f32>> + 'a>;

impl<'a> Weights<'a> {
    pub fn new(lookup: impl Fn(&str) -> Option<Vec<f32>> + 'a) -> Self {
        Self {
            lookup: Box::new(lookup),
        }
    }

    fn get(&self, name: &str, want: usize) -> Result<Vec<f32>, ExportError> {
        let v = (self.lookup)(name).ok_or_else(|| ExportError::Missing(name.to_string()))?;
        if v.len() != want {
            return Err(ExportError::Size {
                name: name.to_string(),
                got: v.len(),
                want,
            });
        }
        Ok(v)
    }
}

fn conv_params(c: &Conv) -> ConvParams {
    ConvParams::same(c.kernel as i64)
        .stride(c.stride as i64)
        .pad(c.pad as i64)
        .dilation(c.dilation as i64)
        .groups(c.groups as i64)
}

/// A convolution's weights and bias with a following batch norm folded in (`bn` = its
/// parameter prefix, eps).
fn conv_weights(
    w: &Weights,
    c: &Conv,
    bn: Option<(&str, f64)>,
) -> Result<(Vec<f32>, Vec<f32>), ExportError> {
    let per_out = c.c_in / c.groups * c.kernel * c.kernel;
    let mut weight = w.get(&format!("{}.weight", c.name), c.c_out * per_out)?;
    let mut bias = if c.bias {
        w.get(&format!("{}.bias", c.name), c.c_out)?
    } else {
        vec![0.0; c.c_out]
    };
    if let Some((bn, eps)) = bn {
        let gamma = w.get(&format!("{bn}.weight"), c.c_out)?;
        let beta = w.get(&format!("{bn}.bias"), c.c_out)?;
        let mean = w.get(&format!("{bn}.running_mean"), c.c_out)?;
        let var = w.get(&format!("{bn}.running_var"), c.c_out)?;
        for o in 0..c.c_out {
            // Same arithmetic order as libtorch's inference batch norm, in f64 to keep the
            // folded weights within float rounding of the unfolded network.
            let inv = (gamma[o] as f64 / (var[o] as f64 + eps).sqrt()) as f32;
            for v in &mut weight[o * per_out..(o + 1) * per_out] {
                *v *= inv;
            }
            bias[o] = (bias[o] - mean[o]) * inv + beta[o];
        }
    }
    Ok((weight, bias))
}

/// Writes `c` on `x` as one Conv node whose parameters are named `name.weight`, `name.bias`.
fn write_conv(
    g: &mut GraphBuilder,
    x: &str,
    c: &Conv,
    name: &str,
    c_out: usize,
    weight: &[f32],
    bias: &[f32],
) -> String {
    let dims = [
        c_out as i64,
        (c.c_in / c.groups) as i64,
        c.kernel as i64,
        c.kernel as i64,
    ];
    let wn = g.initializer_f32(&format!("{name}.weight"), &dims, weight);
    let bn = g.initializer_f32(&format!("{name}.bias"), &[c_out as i64], bias);
    g.conv(x, &wn, Some(&bn), &conv_params(c))
}

/// Writes a convolution, folding a following batch norm (`bn` = its parameter prefix, eps).
fn emit_conv(
    g: &mut GraphBuilder,
    w: &Weights,
    x: &str,
    c: &Conv,
    bn: Option<(&str, f64)>,
) -> Result<String, ExportError> {
    let (weight, bias) = conv_weights(w, c, bn)?;
    Ok(write_conv(g, x, c, &c.name, c.c_out, &weight, &bias))
}

/// A map's loc and conf predictors read the same tensor with the same window, so they are
/// written as one convolution (both weight sets stacked along the output channels) and a
/// Split back into the two tensors: tract then packs the source once and runs one product,
/// 6-10 % of the shipped model's float forward (docs/performance.md). The outputs are the
/// same numbers. `None` when the two differ in shape or have layers of their own.
fn emit_merged_head(
    g: &mut GraphBuilder,
    w: &Weights,
    src: &str,
    head: &Head,
    index: usize,
) -> Result<Option<(String, String)>, ExportError> {
    let (l, c) = (&head.loc, &head.conf);
    let same_window = (l.c_in, l.kernel, l.stride, l.pad, l.dilation, l.groups)
        == (c.c_in, c.kernel, c.stride, c.pad, c.dilation, c.groups);
    if !head.loc_pre.is_empty() || !head.conf_pre.is_empty() || !same_window || l.groups != 1 {
        return Ok(None);
    }
    let (mut weight, mut bias) = conv_weights(w, l, None)?;
    let (cw, cb) = conv_weights(w, c, None)?;
    weight.extend(cw);
    bias.extend(cb);
    let name = format!("head.{index}");
    let both = write_conv(g, src, l, &name, l.c_out + c.c_out, &weight, &bias);
    let sizes = g.initializer_i64(
        &format!("{name}.split"),
        &[2],
        &[l.c_out as i64, c.c_out as i64],
    );
    let (lo, co) = (format!("{name}.loc"), format!("{name}.conf"));
    g.node(
        "Split",
        &[&both, &sizes],
        &[&lo, &co],
        vec![attr::int("axis", 1)],
    );
    Ok(Some((lo, co)))
}

/// `hardsigmoid(x) = clamp(x / 6 + 1 / 2, 0, 1)`, torch's definition.
fn hard_sigmoid(g: &mut GraphBuilder, x: &str) -> String {
    g.op(
        "HardSigmoid",
        &[x],
        vec![attr::float("alpha", 1.0 / 6.0), attr::float("beta", 0.5)],
    )
}

/// Emits `layers` on `x`; source maps are appended to `sources`.
fn emit_layers(
    g: &mut GraphBuilder,
    w: &Weights,
    mut x: String,
    layers: &[Layer],
    sources: &mut Vec<String>,
) -> Result<String, ExportError> {
    let mut i = 0;
    while i < layers.len() {
        match &layers[i] {
            Layer::Conv(c) => {
                let bn = match layers.get(i + 1) {
                    Some(Layer::BatchNorm { name, eps, .. }) => {
                        i += 1;
                        Some((name.as_str(), *eps))
                    }
                    _ => None,
                };
                x = emit_conv(g, w, &x, c, bn)?;
            }
            Layer::BatchNorm {
                name,
                channels,
                eps,
            } => {
                // Not after a conv (no config does this): emit it as an op.
                let n = *channels;
                let mut input = |suffix: &str| -> Result<String, ExportError> {
                    let full = format!("{name}.{suffix}");
                    let v = w.get(&full, n)?;
                    Ok(g.initializer_f32(&full, &[n as i64], &v))
                };
                let (sc, b, m, v) = (
                    input("weight")?,
                    input("bias")?,
                    input("running_mean")?,
                    input("running_var")?,
                );
                x = g.batch_norm(&x, &sc, &b, &m, &v, *eps as f32);
            }
            Layer::Relu => x = g.relu(&x),
            Layer::Relu6 => x = g.clip(&x, 0.0, 6.0),
            Layer::HardSwish => {
                let s = hard_sigmoid(g, &x);
                x = g.mul(&x, &s);
            }
            Layer::Residual { layers } => {
                let y = emit_layers(g, w, x.clone(), layers, sources)?;
                x = g.add(&x, &y);
            }
            Layer::SqueezeExcite { fc1, fc2 } => {
                let s = g.op("GlobalAveragePool", &[&x], vec![]);
                let s = emit_conv(g, w, &s, fc1, None)?;
                let s = g.relu(&s);
                let s = emit_conv(g, w, &s, fc2, None)?;
                let s = hard_sigmoid(g, &s);
                x = g.mul(&x, &s);
            }
            Layer::MaxPool {
                kernel,
                stride,
                pad,
                ceil,
            } => {
                let mut p = PoolParams::new(*kernel as i64, *stride as i64).pad(*pad as i64);
                if *ceil {
                    p = p.ceil();
                }
                x = g.max_pool(&x, &p);
            }
            Layer::Source { l2norm: None } => sources.push(x.clone()),
            Layer::Source { l2norm: Some(l2) } => {
                // ssd.pytorch: x / (sqrt(sum_c x^2) + eps) * weight; F.normalize (`clamp`):
                // x / max(norm, eps) * weight.
                let sq = g.mul(&x, &x);
                let sum = g.reduce_sum(&sq, &[1], true);
                let norm = g.sqrt(&sum);
                let eps = g.scalar_f32("l2norm_eps", l2.eps);
                let norm = if l2.clamp {
                    g.op("Max", &[&norm, &eps], vec![])
                } else {
                    g.add(&norm, &eps)
                };
                let xn = g.div(&x, &norm);
                let scale = w.get(&format!("{}.weight", l2.name), l2.channels)?;
                let sc = g.initializer_f32(
                    &format!("{}.weight", l2.name),
                    &[1, l2.channels as i64, 1, 1],
                    &scale,
                );
                sources.push(g.mul(&xn, &sc));
            }
        }
        i += 1;
    }
    Ok(x)
}

/// The ONNX `ModelProto` bytes for `spec` with the weights `w`. Outputs `loc` [1,P,4] and
/// `conf` [1,P,C] (logits, `meta.conf_kind` must say so). `producer` (name, version) is the
/// tool recorded in the model: the trainer for its exports, ssd-edge for imports.
pub fn build_onnx(
    spec: &NetSpec,
    w: &Weights,
    meta: &ModelMeta,
    producer: (&str, &str),
) -> Result<Vec<u8>, ExportError> {
    check_meta(spec, meta)?;
    let s = spec.input_size as i64;
    let mut g = GraphBuilder::new(&format!("ssd-{}", spec.arch));
    let x = g.input_f32(
        INPUT_NAME,
        &[Dim::Fixed(1), Dim::Fixed(3), Dim::Fixed(s), Dim::Fixed(s)],
    );
    let mut sources = Vec::new();
    emit_layers(&mut g, w, x, &spec.layers, &mut sources)?;
    let c = spec.num_classes as i64;
    let mut locs = Vec::new();
    let mut confs = Vec::new();
    for (i, (src, head)) in sources.iter().zip(&spec.heads).enumerate() {
        let (l, cf) = match emit_merged_head(&mut g, w, src, head, i)? {
            Some(pair) => pair,
            None => {
                let mut none = Vec::new();
                let l = emit_layers(&mut g, w, src.clone(), &head.loc_pre, &mut none)?;
                let l = emit_conv(&mut g, w, &l, &head.loc, None)?;
                let cf = emit_layers(&mut g, w, src.clone(), &head.conf_pre, &mut none)?;
                (l, emit_conv(&mut g, w, &cf, &head.conf, None)?)
            }
        };
        let l = g.transpose(&l, &[0, 2, 3, 1]);
        locs.push(g.reshape(&l, &[1, -1, 4]));
        let cf = g.transpose(&cf, &[0, 2, 3, 1]);
        confs.push(g.reshape(&cf, &[1, -1, c]));
    }
    let p = spec.num_priors() as i64;
    let lrefs: Vec<&str> = locs.iter().map(String::as_str).collect();
    g.concat(&lrefs, 1);
    g.rename_last_output(LOC_NAME);
    let crefs: Vec<&str> = confs.iter().map(String::as_str).collect();
    g.concat(&crefs, 1);
    g.rename_last_output(CONF_NAME);
    g.output_f32(LOC_NAME, &[Dim::Fixed(1), Dim::Fixed(p), Dim::Fixed(4)]);
    g.output_f32(CONF_NAME, &[Dim::Fixed(1), Dim::Fixed(p), Dim::Fixed(c)]);
    let model = ModelBuilder::new(g.build())
        .producer(producer.0, producer.1)
        .doc(&format!("SSD {} exported by {}", spec.arch, producer.0))
        .metadata(meta.to_metadata_props());
    Ok(model.encode())
}

fn check_meta(spec: &NetSpec, meta: &ModelMeta) -> Result<(), ExportError> {
    let bad = |m: String| Err(ExportError::Meta(m));
    if meta.labels.len() != spec.num_classes {
        return bad(format!(
            "{} labels for a {}-class network",
            meta.labels.len(),
            spec.num_classes
        ));
    }
    if meta.priors.grid() != Some(&spec.priors) {
        return bad("prior configuration differs from the network's".into());
    }
    if meta.input.width as usize != spec.input_size || meta.input.height as usize != spec.input_size
    {
        return bad(format!(
            "input {}x{} for a {}x{} network",
            meta.input.width, meta.input.height, spec.input_size, spec.input_size
        ));
    }
    if meta.conf_kind != ssd_core::ssd::ConfKind::Logits {
        return bad("the exported conf output is logits; conf_kind must be logits".into());
    }
    meta.validate()
        .map_err(|e| ExportError::Meta(e.to_string()))
}

/// The metadata of a network exported by `build_onnx`: labels are `background` + the
/// class names, outputs named `loc` / `conf` (logits), decoder settings at their defaults.
pub fn meta_for(
    spec: &NetSpec,
    class_names: &[String],
    input: crate::model::InputSpec,
    provenance: crate::model::Provenance,
) -> ModelMeta {
    let mut labels = vec!["background".to_string()];
    labels.extend(class_names.iter().cloned());
    let mut meta = ModelMeta {
        schema_version: crate::model::meta::SCHEMA_VERSION,
        architecture: if spec.arch.starts_with("tv-") {
            spec.arch.clone()
        } else {
            format!("ssd300-{}", spec.arch)
        },
        labels,
        input,
        priors: spec.priors.clone().into(),
        variances: spec.variances,
        decode: spec.decode,
        conf_kind: ssd_core::ssd::ConfKind::Logits,
        outputs: crate::model::OutputNames {
            loc: Some(LOC_NAME.into()),
            conf: Some(CONF_NAME.into()),
        },
        nms: Default::default(),
        detection_threshold: 0.5,
        provenance,
    };
    // The oldest schema that describes it (never below 2, what these writers always wrote),
    // so boards running an older ssd-edge read it.
    meta.schema_version = meta.required_version().max(2);
    meta
}

/// ISO 8601 UTC time without a date crate (civil-from-days, Howard Hinnant's algorithm).
/// `SOURCE_DATE_EPOCH`, when set, replaces the clock (reproducible builds: `make model-coco`
/// sets it to the commit's time).
pub fn utc_now() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
