//! The tch module built from a `NetSpec`. Variable paths are the spec's parameter names, so a
//! VarStore saved as safetensors carries ssd.pytorch's names for the VGG16 configuration.

use std::path::Path;

use tch::nn::{self, Init, ModuleT};
use tch::{Kind, Tensor};

use super::spec::{Conv, InitKind, Layer, NetSpec};
use super::NetError;

enum Op {
    Conv(nn::Conv2D),
    BatchNorm(nn::BatchNorm),
    Relu,
    Relu6,
    HardSwish,
    Residual(Vec<Op>),
    SqueezeExcite(nn::Conv2D, nn::Conv2D),
    MaxPool {
        kernel: i64,
        stride: i64,
        pad: i64,
        ceil: bool,
    },
    /// L2 norm: (scale, eps, clamp).
    Source(Option<(Tensor, f64, bool)>),
}

/// A head branch: layers before the prediction conv, and the conv.
struct Branch {
    pre: Vec<Op>,
    conv: nn::Conv2D,
}

pub struct SsdNet {
    spec: NetSpec,
    ops: Vec<Op>,
    /// (loc, conf) per source map.
    heads: Vec<(Branch, Branch)>,
}

/// Splits `a.b.c` into path segments so tch joins them back with dots.
fn sub<'a>(root: &nn::Path<'a>, name: &str) -> nn::Path<'a> {
    name.split('.').fold(root.clone(), |p, seg| p / seg)
}

fn conv(root: &nn::Path, c: &Conv) -> nn::Conv2D {
    let fan_in = (c.c_in / c.groups * c.kernel * c.kernel) as f64;
    let fan_out = (c.c_out / c.groups * c.kernel * c.kernel) as f64;
    let (ws_init, bs_init) = match c.init {
        InitKind::TorchDefault => {
            let bound = 1.0 / fan_in.sqrt();
            (
                Init::Uniform {
                    lo: -bound,
                    up: bound,
                },
                Init::Uniform {
                    lo: -bound,
                    up: bound,
                },
            )
        }
        InitKind::KaimingFanOut => (
            Init::Randn {
                mean: 0.0,
                stdev: (2.0 / fan_out).sqrt(),
            },
            Init::Const(0.0),
        ),
        InitKind::Xavier => {
            let bound = (6.0 / (fan_in + fan_out)).sqrt();
            (
                Init::Uniform {
                    lo: -bound,
                    up: bound,
                },
                Init::Const(0.0),
            )
        }
    };
    let cfg = nn::ConvConfig {
        stride: c.stride as i64,
        padding: c.pad as i64,
        dilation: c.dilation as i64,
        groups: c.groups as i64,
        bias: c.bias,
        ws_init,
        bs_init,
        ..Default::default()
    };
    nn::conv2d(
        sub(root, &c.name),
        c.c_in as i64,
        c.c_out as i64,
        c.kernel as i64,
        cfg,
    )
}

fn build_ops(root: &nn::Path, layers: &[Layer]) -> Vec<Op> {
    layers
        .iter()
        .map(|l| match l {
            Layer::Conv(c) => Op::Conv(conv(root, c)),
            Layer::BatchNorm {
                name,
                channels,
                eps,
            } => Op::BatchNorm(nn::batch_norm2d(
                sub(root, name),
                *channels as i64,
                nn::BatchNormConfig {
                    eps: *eps,
                    ..Default::default()
                },
            )),
            Layer::Relu => Op::Relu,
            Layer::Relu6 => Op::Relu6,
            Layer::HardSwish => Op::HardSwish,
            Layer::Residual { layers } => Op::Residual(build_ops(root, layers)),
            Layer::SqueezeExcite { fc1, fc2 } => {
                Op::SqueezeExcite(conv(root, fc1), conv(root, fc2))
            }
            Layer::MaxPool {
                kernel,
                stride,
                pad,
                ceil,
            } => Op::MaxPool {
                kernel: *kernel as i64,
                stride: *stride as i64,
                pad: *pad as i64,
                ceil: *ceil,
            },
            Layer::Source { l2norm } => Op::Source(l2norm.as_ref().map(|l2| {
                let w = sub(root, &l2.name).var(
                    "weight",
                    &[l2.channels as i64],
                    Init::Const(l2.init_scale as f64),
                );
                (w, l2.eps as f64, l2.clamp)
            })),
        })
        .collect()
}

/// Runs `ops` on `x`, appending source maps to `sources`.
fn run_ops(ops: &[Op], x: &Tensor, train: bool, sources: &mut Vec<Tensor>) -> Tensor {
    let mut x = x.shallow_clone();
    for op in ops {
        match op {
            Op::Conv(c) => x = c.forward_t(&x, train),
            Op::BatchNorm(b) => x = b.forward_t(&x, train),
            Op::Relu => x = x.relu(),
            Op::Relu6 => x = x.clamp(0.0, 6.0),
            Op::HardSwish => x = x.hardswish(),
            Op::Residual(inner) => x = &x + run_ops(inner, &x, train, sources),
            Op::SqueezeExcite(fc1, fc2) => {
                let s = x.mean_dim(&[2i64, 3][..], true, Kind::Float);
                let s = fc2
                    .forward_t(&fc1.forward_t(&s, train).relu(), train)
                    .hardsigmoid();
                x = &x * s;
            }
            Op::MaxPool {
                kernel,
                stride,
                pad,
                ceil,
            } => {
                x = x.max_pool2d(
                    [*kernel, *kernel],
                    [*stride, *stride],
                    [*pad, *pad],
                    [1, 1],
                    *ceil,
                )
            }
            Op::Source(None) => sources.push(x.shallow_clone()),
            Op::Source(Some((w, eps, clamp))) => {
                // ssd.pytorch's L2Norm: x / (||x||_2 over channels + eps) * weight;
                // F.normalize: x / max(||x||, eps) * weight.
                let norm = x.square().sum_dim_intlist(1, true, Kind::Float).sqrt();
                let norm = if *clamp {
                    norm.clamp_min(*eps)
                } else {
                    norm + *eps
                };
                sources.push(&x / norm * w.view([1, -1, 1, 1]));
            }
        }
    }
    x
}

impl Branch {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut none = Vec::new();
        self.conv
            .forward_t(&run_ops(&self.pre, x, train, &mut none), train)
    }
}

impl SsdNet {
    /// Creates the variables of `spec` under `root` with the references' initialisation.
    pub fn new(root: &nn::Path, spec: &NetSpec) -> Result<Self, NetError> {
        spec.check()?;
        let ops = build_ops(root, &spec.layers);
        let heads = spec
            .heads
            .iter()
            .map(|h| {
                (
                    Branch {
                        pre: build_ops(root, &h.loc_pre),
                        conv: conv(root, &h.loc),
                    },
                    Branch {
                        pre: build_ops(root, &h.conf_pre),
                        conv: conv(root, &h.conf),
                    },
                )
            })
            .collect();
        Ok(Self {
            spec: spec.clone(),
            ops,
            heads,
        })
    }

    pub fn spec(&self) -> &NetSpec {
        &self.spec
    }

    /// Source feature maps (after L2Norm where the spec has it), NCHW.
    pub fn features(&self, x: &Tensor, train: bool) -> Vec<Tensor> {
        let mut sources = Vec::with_capacity(self.heads.len());
        let _ = run_ops(&self.ops, x, train, &mut sources);
        sources
    }

    /// `x`: [B,3,S,S] normalised. Returns loc [B,P,4] and conf logits [B,P,C] in ssd.pytorch's
    /// prior order (maps, rows, columns, boxes): NCHW head outputs permuted to NHWC.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> (Tensor, Tensor) {
        let b = x.size()[0];
        let c = self.spec.num_classes as i64;
        let feats = self.features(x, train);
        let mut locs = Vec::with_capacity(feats.len());
        let mut confs = Vec::with_capacity(feats.len());
        for (f, (l, cf)) in feats.iter().zip(&self.heads) {
            locs.push(
                l.forward_t(f, train)
                    .permute([0, 2, 3, 1])
                    .reshape([b, -1, 4]),
            );
            confs.push(
                cf.forward_t(f, train)
                    .permute([0, 2, 3, 1])
                    .reshape([b, -1, c]),
            );
        }
        (Tensor::cat(&locs, 1), Tensor::cat(&confs, 1))
    }

    /// Checks the input before a forward so a wrong image size is an error, not a libtorch
    /// exception.
    pub fn check_input(&self, x: &Tensor) -> Result<(), NetError> {
        let s = self.spec.input_size as i64;
        let size = x.size();
        if size.len() != 4 || size[1] != 3 || size[2] != s || size[3] != s {
            return Err(NetError::Shape(format!(
                "input {size:?}, network expects [B, 3, {s}, {s}]"
            )));
        }
        Ok(())
    }
}

/// Loads weights by name into `vs` from a safetensors file (a VarStore checkpoint, or an
/// ssd.pytorch state dict converted as README describes). Every variable must be present with
/// its exact shape; extra tensors in the file (e.g. BN's num_batches_tracked) are ignored.
pub fn load_weights(vs: &mut nn::VarStore, path: &Path) -> Result<(), NetError> {
    let io = |e: tch::TchError| NetError::Weights {
        path: path.to_path_buf(),
        msg: e.to_string(),
    };
    let named = Tensor::read_safetensors(path).map_err(io)?;
    let file: std::collections::HashMap<String, Tensor> = named.into_iter().collect();
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in names {
        let var = &vars[name];
        let src = file.get(name).ok_or_else(|| NetError::Weights {
            path: path.to_path_buf(),
            msg: format!("tensor `{name}` missing"),
        })?;
        if src.size() != var.size() {
            return Err(NetError::Weights {
                path: path.to_path_buf(),
                msg: format!(
                    "tensor `{name}` has shape {:?}, network needs {:?}",
                    src.size(),
                    var.size()
                ),
            });
        }
        tch::no_grad(|| {
            var.shallow_clone()
                .copy_(&src.to_kind(var.kind()).to_device(var.device()))
        });
    }
    Ok(())
}
