//! One description of an SSD network. The tch module (`net::model`) and the ONNX graph
//! (`export`) are both built by walking a `NetSpec`, so the trained and the exported network
//! cannot drift apart.

use serde::{Deserialize, Serialize};
use ssd_edge::ssd::{PriorConfig, Variances};

use super::NetError;

/// How a convolution's weights start (bias always starts at zero, as in the references).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum InitKind {
    /// PyTorch's default Conv2d init (kaiming uniform, a = sqrt(5)): what ssd.pytorch's VGG
    /// layers get before a pre-trained backbone is loaded.
    TorchDefault,
    /// Kaiming normal, fan-out: for convolutions followed by batch norm (MobileNet practice).
    KaimingFanOut,
    /// Xavier uniform: ssd.pytorch's init for extras, loc and conf heads.
    Xavier,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv {
    /// Parameter path prefix, e.g. `vgg.0` (weights are `vgg.0.weight`, `vgg.0.bias`).
    pub name: String,
    pub c_in: usize,
    pub c_out: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub dilation: usize,
    pub groups: usize,
    pub bias: bool,
    pub init: InitKind,
}

impl Conv {
    pub fn new(name: impl Into<String>, c_in: usize, c_out: usize, kernel: usize) -> Self {
        Self {
            name: name.into(),
            c_in,
            c_out,
            kernel,
            stride: 1,
            pad: 0,
            dilation: 1,
            groups: 1,
            bias: true,
            init: InitKind::TorchDefault,
        }
    }
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = s;
        self
    }
    pub fn pad(mut self, p: usize) -> Self {
        self.pad = p;
        self
    }
    pub fn dilation(mut self, d: usize) -> Self {
        self.dilation = d;
        self
    }
    pub fn groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }
    pub fn no_bias(mut self) -> Self {
        self.bias = false;
        self
    }
    pub fn init(mut self, i: InitKind) -> Self {
        self.init = i;
        self
    }

    pub fn out_size(&self, s: usize) -> Result<usize, NetError> {
        let span = self.dilation * (self.kernel - 1) + 1;
        if s + 2 * self.pad < span {
            return Err(NetError::Shape(format!(
                "{}: input {s} too small for kernel span {span}",
                self.name
            )));
        }
        Ok((s + 2 * self.pad - span) / self.stride + 1)
    }

    /// Multiply-accumulates for one image at output size `out`.
    pub fn macs(&self, out: usize) -> u64 {
        (out * out * self.c_out * (self.c_in / self.groups) * self.kernel * self.kernel) as u64
    }

    pub fn params(&self) -> u64 {
        let w = self.c_out * (self.c_in / self.groups) * self.kernel * self.kernel;
        (w + if self.bias { self.c_out } else { 0 }) as u64
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Layer {
    Conv(Conv),
    /// Inference-mode batch norm; folded into the preceding convolution on export.
    BatchNorm {
        name: String,
        channels: usize,
    },
    Relu,
    MaxPool {
        kernel: usize,
        stride: usize,
        pad: usize,
        /// PyTorch/ONNX ceil mode (SSD300's pool3: 75 -> 38).
        ceil: bool,
    },
    /// The current tensor is a source feature map for the next head, optionally through a
    /// learnable-scale L2 normalisation (SSD's conv4_3).
    Source {
        l2norm: Option<L2Norm>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct L2Norm {
    /// Parameter name of the scale vector (ssd.pytorch: `L2Norm.weight`).
    pub name: String,
    pub channels: usize,
    pub init_scale: f32,
    /// Added to the norm (ssd.pytorch: 1e-10).
    pub eps: f32,
}

/// Box predictors for one source map: `boxes` priors per cell, 4 offsets and C scores each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Head {
    pub loc: Conv,
    pub conf: Conv,
    pub boxes: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetSpec {
    /// Configuration name as given on the command line (`vgg16`, `mobile`, `mobile@0.5`, `tiny`).
    pub arch: String,
    /// Including background (class 0).
    pub num_classes: usize,
    pub input_size: usize,
    pub layers: Vec<Layer>,
    pub heads: Vec<Head>,
    pub priors: PriorConfig,
    /// The box encoding's variances: the loader's training targets, validation decoding and
    /// the exported metadata all read them from here.
    pub variances: Variances,
}

pub const BN_EPS: f64 = 1e-5;

impl NetSpec {
    /// Parses `vgg16`, `mobile`, `mobile@W` (width multiplier W), `tiny`.
    pub fn from_name(arch: &str, num_classes: usize) -> Result<Self, NetError> {
        if num_classes < 2 {
            return Err(NetError::Config(format!(
                "num_classes must count background and at least one class, got {num_classes}"
            )));
        }
        let spec = match arch {
            "vgg16" => vgg16(num_classes),
            "tiny" => tiny(num_classes),
            "mobile" => mobile(num_classes, 1.0, arch),
            other => match other.strip_prefix("mobile@") {
                Some(w) => {
                    let w: f32 = w.parse().map_err(|_| {
                        NetError::Config(format!("bad width multiplier in `{other}`"))
                    })?;
                    if !(0.1..=2.0).contains(&w) {
                        return Err(NetError::Config(format!(
                            "width multiplier {w} out of range 0.1..=2"
                        )));
                    }
                    mobile(num_classes, w, other)
                }
                None => {
                    return Err(NetError::Config(format!(
                        "unknown architecture `{other}` (expected vgg16, mobile, mobile@W, tiny)"
                    )))
                }
            },
        };
        spec.check()?;
        Ok(spec)
    }

    /// Sizes of the source maps, by walking the layers with PyTorch's output-size rules.
    pub fn feature_maps(&self) -> Result<Vec<usize>, NetError> {
        Ok(self.walk()?.0)
    }

    /// (source map sizes, multiply-accumulates per image incl. heads, parameter count)
    fn walk(&self) -> Result<(Vec<usize>, u64, u64), NetError> {
        let mut s = self.input_size;
        let mut maps = Vec::new();
        let mut macs = 0u64;
        let mut params = 0u64;
        for layer in &self.layers {
            match layer {
                Layer::Conv(c) => {
                    s = c.out_size(s)?;
                    macs += c.macs(s);
                    params += c.params();
                }
                Layer::BatchNorm { channels, .. } => params += 2 * *channels as u64,
                Layer::Relu => {}
                Layer::MaxPool {
                    kernel,
                    stride,
                    pad,
                    ceil,
                } => s = pool_out(s, *kernel, *stride, *pad, *ceil),
                Layer::Source { l2norm } => {
                    maps.push(s);
                    if let Some(l2) = l2norm {
                        params += l2.channels as u64;
                    }
                }
            }
        }
        for (head, &m) in self.heads.iter().zip(&maps) {
            macs += head.loc.macs(head.loc.out_size(m)?) + head.conf.macs(head.conf.out_size(m)?);
            params += head.loc.params() + head.conf.params();
        }
        Ok((maps, macs, params))
    }

    /// Multiply-accumulates of one 1x3xSxS forward (GFLOPs ~ 2 x this / 1e9).
    pub fn macs(&self) -> u64 {
        self.walk().map(|w| w.1).unwrap_or(0)
    }

    pub fn num_params(&self) -> u64 {
        self.walk().map(|w| w.2).unwrap_or(0)
    }

    pub fn num_priors(&self) -> usize {
        self.priors.num_priors()
    }

    /// The consistency the rest of the code relies on: channels chain, one head per source,
    /// heads sized for the prior config, feature maps equal to the prior config's.
    pub fn check(&self) -> Result<(), NetError> {
        let mut ch = 3usize;
        let mut sources = Vec::new();
        for layer in &self.layers {
            match layer {
                Layer::Conv(c) => {
                    if c.c_in != ch || c.c_in % c.groups != 0 || c.c_out % c.groups != 0 {
                        return Err(NetError::Config(format!(
                            "{}: expects {} input channels (groups {}), gets {ch}",
                            c.name, c.c_in, c.groups
                        )));
                    }
                    ch = c.c_out;
                }
                Layer::BatchNorm { name, channels } if *channels != ch => {
                    return Err(NetError::Config(format!(
                        "{name}: {channels} channels, input has {ch}"
                    )))
                }
                Layer::Source { l2norm: Some(l2) } if l2.channels != ch => {
                    return Err(NetError::Config(format!(
                        "{}: {} channels, input has {ch}",
                        l2.name, l2.channels
                    )))
                }
                Layer::Source { .. } => sources.push(ch),
                _ => {}
            }
        }
        let boxes = self.priors.boxes_per_cell();
        if sources.len() != self.heads.len() || boxes.len() != self.heads.len() {
            return Err(NetError::Config(format!(
                "{} source maps, {} heads, {} prior maps",
                sources.len(),
                self.heads.len(),
                boxes.len()
            )));
        }
        for (i, ((head, &c), &k)) in self.heads.iter().zip(&sources).zip(&boxes).enumerate() {
            if head.loc.c_in != c
                || head.conf.c_in != c
                || head.boxes != k
                || head.loc.c_out != 4 * k
                || head.conf.c_out != self.num_classes * k
            {
                return Err(NetError::Config(format!(
                    "head {i} does not fit its map ({c} channels, {k} boxes, {} classes)",
                    self.num_classes
                )));
            }
        }
        let maps = self.feature_maps()?;
        if maps != self.priors.feature_maps {
            return Err(NetError::Config(format!(
                "network source maps {maps:?} differ from the prior config's {:?}",
                self.priors.feature_maps
            )));
        }
        if self.priors.image_size as usize != self.input_size {
            return Err(NetError::Config(format!(
                "input size {} differs from the prior config's {}",
                self.input_size, self.priors.image_size
            )));
        }
        Ok(())
    }
}

/// PyTorch's pooling output size, including ceil mode's rule that the last window must start
/// inside the (left-padded) input.
pub fn pool_out(s: usize, k: usize, stride: usize, pad: usize, ceil: bool) -> usize {
    let num = s + 2 * pad - k;
    let mut out = if ceil {
        num.div_ceil(stride) + 1
    } else {
        num / stride + 1
    };
    if ceil && (out - 1) * stride >= s + pad {
        out -= 1;
    }
    out
}

fn heads_for(cfg: &PriorConfig, channels: &[usize], num_classes: usize) -> Vec<Head> {
    cfg.boxes_per_cell()
        .iter()
        .zip(channels)
        .enumerate()
        .map(|(i, (&k, &c))| Head {
            loc: Conv::new(format!("loc.{i}"), c, 4 * k, 3)
                .pad(1)
                .init(InitKind::Xavier),
            conf: Conv::new(format!("conf.{i}"), c, num_classes * k, 3)
                .pad(1)
                .init(InitKind::Xavier),
            boxes: k,
        })
        .collect()
}

/// SSD300-VGG16 exactly as ssd.pytorch builds it; layer indices follow its `vgg` ModuleList
/// (ReLU and pool modules take an index too), so parameter names are `vgg.N.weight` etc.
pub fn vgg16(num_classes: usize) -> NetSpec {
    let mut layers = Vec::new();
    let mut idx = 0usize;
    let mut ch = 3usize;
    let conv = |layers: &mut Vec<Layer>, idx: &mut usize, ch: &mut usize, c: Conv| {
        *ch = c.c_out;
        layers.push(Layer::Conv(c));
        layers.push(Layer::Relu);
        *idx += 2;
    };
    let pool = |layers: &mut Vec<Layer>, idx: &mut usize, ceil: bool| {
        layers.push(Layer::MaxPool {
            kernel: 2,
            stride: 2,
            pad: 0,
            ceil,
        });
        *idx += 1;
    };
    for (stage, (&n, &width)) in [2usize, 2, 3, 3, 3]
        .iter()
        .zip(&[64usize, 128, 256, 512, 512])
        .enumerate()
    {
        for _ in 0..n {
            let c = Conv::new(format!("vgg.{idx}"), ch, width, 3).pad(1);
            conv(&mut layers, &mut idx, &mut ch, c);
        }
        match stage {
            // ssd.pytorch's 'C' pool: ceil mode turns 75 into 38.
            2 => pool(&mut layers, &mut idx, true),
            3 => {
                // conv4_3 (after its ReLU) is the first source, through L2Norm(20).
                layers.push(Layer::Source {
                    l2norm: Some(L2Norm {
                        name: "L2Norm".into(),
                        channels: 512,
                        init_scale: 20.0,
                        eps: 1e-10,
                    }),
                });
                pool(&mut layers, &mut idx, false);
            }
            4 => {}
            _ => pool(&mut layers, &mut idx, false),
        }
    }
    // pool5: 3x3 stride 1 pad 1.
    layers.push(Layer::MaxPool {
        kernel: 3,
        stride: 1,
        pad: 1,
        ceil: false,
    });
    idx += 1;
    let fc6 = Conv::new(format!("vgg.{idx}"), 512, 1024, 3)
        .pad(6)
        .dilation(6);
    conv(&mut layers, &mut idx, &mut ch, fc6);
    let fc7 = Conv::new(format!("vgg.{idx}"), 1024, 1024, 1);
    conv(&mut layers, &mut idx, &mut ch, fc7);
    layers.push(Layer::Source { l2norm: None });
    // Extras: ssd.pytorch applies ReLU after every extra conv and takes every second as source.
    let extras: [(usize, usize, usize, usize, usize); 8] = [
        (1024, 256, 1, 1, 0),
        (256, 512, 3, 2, 1),
        (512, 128, 1, 1, 0),
        (128, 256, 3, 2, 1),
        (256, 128, 1, 1, 0),
        (128, 256, 3, 1, 0),
        (256, 128, 1, 1, 0),
        (128, 256, 3, 1, 0),
    ];
    for (i, &(ci, co, k, s, p)) in extras.iter().enumerate() {
        layers.push(Layer::Conv(
            Conv::new(format!("extras.{i}"), ci, co, k)
                .stride(s)
                .pad(p)
                .init(InitKind::Xavier),
        ));
        layers.push(Layer::Relu);
        if i % 2 == 1 {
            layers.push(Layer::Source { l2norm: None });
        }
    }
    let priors = PriorConfig::ssd300_voc();
    let heads = heads_for(&priors, &[512, 1024, 512, 256, 256, 256], num_classes);
    NetSpec {
        arch: "vgg16".into(),
        num_classes,
        input_size: 300,
        layers,
        heads,
        priors,
        variances: Variances::default(),
    }
}

fn scaled(c: usize, width: f32) -> usize {
    // Multiples of 8 keep SIMD lanes full in tract's kernels.
    (((c as f32 * width) / 8.0).round() as usize * 8).max(8)
}

/// conv (no bias) + BN + ReLU, the MobileNet unit.
fn conv_bn(layers: &mut Vec<Layer>, name: &str, c: Conv) {
    let ch = c.c_out;
    layers.push(Layer::Conv(c));
    layers.push(Layer::BatchNorm {
        name: format!("{name}.bn"),
        channels: ch,
    });
    layers.push(Layer::Relu);
}

fn dw_separable(layers: &mut Vec<Layer>, name: &str, c_in: usize, c_out: usize, stride: usize) {
    conv_bn(
        layers,
        &format!("{name}.dw"),
        Conv::new(format!("{name}.dw.conv"), c_in, c_in, 3)
            .stride(stride)
            .pad(1)
            .groups(c_in)
            .no_bias()
            .init(InitKind::KaimingFanOut),
    );
    conv_bn(
        layers,
        &format!("{name}.pw"),
        Conv::new(format!("{name}.pw.conv"), c_in, c_out, 1)
            .no_bias()
            .init(InitKind::KaimingFanOut),
    );
}

/// MobileNet v1's depthwise-separable blocks after the stem: (output channels, stride).
pub const MOBILENET_V1_BLOCKS: [(usize, usize); 13] = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
];

/// MobileNet-v1-style body (depthwise separable, batch norm) at 300x300 with source maps
/// 38, 19, 10 from the body and 5, 3, 1 from extras: the SSD300 grid, so the VOC prior
/// configuration (8732 boxes) applies unchanged.
pub fn mobile(num_classes: usize, width: f32, arch: &str) -> NetSpec {
    let w = |c: usize| scaled(c, width);
    let mut layers = Vec::new();
    conv_bn(
        &mut layers,
        "body.0",
        Conv::new("body.0.conv", 3, w(32), 3)
            .stride(2)
            .pad(1)
            .no_bias()
            .init(InitKind::KaimingFanOut),
    );
    // Sources after the 38x38, 19x19, 10x10 stages.
    let blocks = MOBILENET_V1_BLOCKS;
    let mut ch = w(32);
    let mut channels = Vec::new();
    for (i, &(c, s)) in blocks.iter().enumerate() {
        dw_separable(&mut layers, &format!("body.{}", i + 1), ch, w(c), s);
        ch = w(c);
        if i == 4 || i == 10 || i == 12 {
            layers.push(Layer::Source { l2norm: None });
            channels.push(ch);
        }
    }
    // Extras 10 -> 5 -> 3 -> 1: 1x1 reduce, 3x3 (stride 2 pad 1, twice; then valid).
    let extras: [(usize, usize, usize, usize); 3] =
        [(256, 512, 2, 1), (128, 256, 2, 1), (128, 256, 1, 0)];
    for (i, &(mid, out, s, p)) in extras.iter().enumerate() {
        let (mid, out) = (w(mid), w(out));
        conv_bn(
            &mut layers,
            &format!("extras.{i}.reduce"),
            Conv::new(format!("extras.{i}.reduce.conv"), ch, mid, 1)
                .no_bias()
                .init(InitKind::Xavier),
        );
        conv_bn(
            &mut layers,
            &format!("extras.{i}.conv"),
            Conv::new(format!("extras.{i}.conv.conv"), mid, out, 3)
                .stride(s)
                .pad(p)
                .no_bias()
                .init(InitKind::Xavier),
        );
        layers.push(Layer::Source { l2norm: None });
        ch = out;
        channels.push(ch);
    }
    let priors = PriorConfig::ssd300_voc();
    let heads = heads_for(&priors, &channels, num_classes);
    NetSpec {
        arch: arch.into(),
        num_classes,
        input_size: 300,
        layers,
        heads,
        priors,
        variances: Variances::default(),
    }
}

/// A small plain-conv network for tests: 300x300 input (the synthetic scenes' size and the
/// SSD300 grid), few channels, batch norm so it trains from scratch in minutes on a CPU.
pub fn tiny(num_classes: usize) -> NetSpec {
    let mut layers = Vec::new();
    let mut ch = 3;
    let mut n = 0;
    let mut block =
        |layers: &mut Vec<Layer>, ch: &mut usize, out: usize, k: usize, s: usize, p: usize| {
            conv_bn(
                layers,
                &format!("body.{n}"),
                Conv::new(format!("body.{n}.conv"), *ch, out, k)
                    .stride(s)
                    .pad(p)
                    .no_bias()
                    .init(InitKind::KaimingFanOut),
            );
            *ch = out;
            n += 1;
        };
    block(&mut layers, &mut ch, 8, 3, 2, 1); // 150
    block(&mut layers, &mut ch, 16, 3, 2, 1); // 75
    block(&mut layers, &mut ch, 24, 3, 2, 1); // 38
    block(&mut layers, &mut ch, 24, 3, 1, 1);
    layers.push(Layer::Source { l2norm: None });
    let mut channels = vec![ch];
    for (out, s, p) in [(32, 2, 1), (32, 2, 1), (32, 2, 1), (32, 2, 1), (32, 1, 0)] {
        block(&mut layers, &mut ch, out, 3, s, p); // 19, 10, 5, 3, 1
        layers.push(Layer::Source { l2norm: None });
        channels.push(ch);
    }
    let priors = PriorConfig::ssd300_voc();
    let heads = heads_for(&priors, &channels, num_classes);
    NetSpec {
        arch: "tiny".into(),
        num_classes,
        input_size: 300,
        layers,
        heads,
        priors,
        variances: Variances::default(),
    }
}
