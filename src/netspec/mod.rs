//! One description of an SSD network (`NetSpec`): its layers with their parameter names,
//! heads and default boxes. The trainer builds its tch module from it, and the ONNX graph
//! writer (`onnx`) builds the exported and the imported graphs from it, so the trained, the
//! exported and the imported network cannot drift apart.
//!
//! It lives in the board crate, not the trainer, because `ssd-edge import` needs it to write
//! a published PyTorch detector as ONNX on the board itself: plain data and shape arithmetic,
//! no libtorch.

use crate::ssd::{BoxDecode, PriorConfig, Variances};
use serde::{Deserialize, Serialize};

#[cfg(feature = "runtime")]
pub mod onnx;
pub mod ssdlite_v2;

/// A network description that does not hold together.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("network configuration: {0}")]
    Config(String),
    #[error("shape: {0}")]
    Shape(String),
}

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

    pub fn out_size(&self, s: usize) -> Result<usize, SpecError> {
        let span = self.dilation * (self.kernel - 1) + 1;
        if s + 2 * self.pad < span {
            return Err(SpecError::Shape(format!(
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

fn default_bn_eps() -> f64 {
    BN_EPS
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Layer {
    Conv(Conv),
    /// Inference-mode batch norm; folded into the preceding convolution on export.
    BatchNorm {
        name: String,
        channels: usize,
        /// torchvision's MobileNet detectors use 1e-3.
        #[serde(default = "default_bn_eps")]
        eps: f64,
    },
    Relu,
    /// `min(max(x, 0), 6)`: MobileNet's activation.
    Relu6,
    /// `x * relu6(x + 3) / 6`: MobileNetV3's activation.
    HardSwish,
    /// `x + layers(x)`: an inverted residual with its skip (same channels and size).
    Residual {
        layers: Vec<Layer>,
    },
    /// Squeeze-and-excitation as torchvision's MobileNetV3:
    /// `x * hardsigmoid(fc2(relu(fc1(mean over H, W of x))))`; fc1, fc2 are 1x1 convs.
    SqueezeExcite {
        fc1: Conv,
        fc2: Conv,
    },
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
    /// Added to the norm (ssd.pytorch: 1e-10), or its lower bound with `clamp`.
    pub eps: f32,
    /// `x / max(norm, eps)` as torch's `F.normalize` (torchvision's SSD300) instead of
    /// ssd.pytorch's `x / (norm + eps)`; they differ where a whole channel vector is zero.
    #[serde(default)]
    pub clamp: bool,
}

/// Box predictors for one source map: `boxes` priors per cell, 4 offsets and C scores each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Head {
    /// Layers before the loc / conf convolution (SSDLite: a depthwise 3x3 + BN + ReLU6).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loc_pre: Vec<Layer>,
    pub loc: Conv,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conf_pre: Vec<Layer>,
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
    /// Decode conventions the network was trained with (torchvision's clip and size clamp);
    /// they travel into the exported metadata.
    #[serde(default)]
    pub decode: BoxDecode,
}

pub const BN_EPS: f64 = 1e-5;

impl NetSpec {
    /// Parses `vgg16`, `mobile`, `mobile@W` (width multiplier W), `mobile-lite@W` (its body
    /// with SSDLite heads), `mobile-dense@W` (dense early blocks), `tiny`, `tv-ssd300-vgg16`,
    /// `tv-ssdlite320-mnv3` and `tv-ssdlite320-mnv3-full` (the last two: torchvision's SSDLite
    /// with the reduced or the full MobileNetV3 tail).
    pub fn from_name(arch: &str, num_classes: usize) -> Result<Self, SpecError> {
        if num_classes < 2 {
            return Err(SpecError::Config(format!(
                "num_classes must count background and at least one class, got {num_classes}"
            )));
        }
        // `ARCH+PRESET` swaps in another default-box configuration of the same layout
        // (`mobile@0.25+street`): the name is what checkpoints record, so the priors travel
        // from training through export into the model's metadata.
        if let Some((base, preset)) = arch.split_once('+') {
            let mut spec = Self::from_name(base, num_classes)?;
            let priors = PriorConfig::preset(preset).ok_or_else(|| {
                SpecError::Config(format!(
                    "unknown prior configuration `{preset}` in `{arch}` (expected {})",
                    PriorConfig::PRESETS.join(", ")
                ))
            })?;
            if priors.feature_maps != spec.priors.feature_maps
                || priors.boxes_per_cell() != spec.priors.boxes_per_cell()
                || priors.image_size != spec.priors.image_size
            {
                return Err(SpecError::Config(format!(
                    "prior configuration `{preset}` has another grid or box count than `{base}`'s"
                )));
            }
            spec.priors = priors;
            spec.arch = arch.into();
            spec.check()?;
            return Ok(spec);
        }
        let spec = match arch {
            "vgg16" => vgg16(num_classes),
            "tiny" => tiny(num_classes),
            "tv-ssd300-vgg16" => torchvision_ssd300_vgg16(num_classes),
            "tv-ssdlite320-mnv3" => ssdlite320_mobilenet_v3(num_classes, true),
            "tv-ssdlite320-mnv3-full" => ssdlite320_mobilenet_v3(num_classes, false),
            "tv-ssdlite320-mnv2" => ssdlite_v2::ssdlite320_mobilenet_v2(num_classes),
            "mobile" => mobile(num_classes, 1.0, arch),
            other => {
                if let Some(w) = other.strip_prefix("mobile-dense@") {
                    let w = parse_width(w, other)?;
                    mobile_with(num_classes, w, other, MOBILE_EARLY_BLOCKS)
                } else if let Some(w) = other.strip_prefix("mobile-lite@") {
                    mobile_lite(num_classes, parse_width(w, other)?, other)
                } else if let Some(w) = other.strip_prefix("mobile@") {
                    mobile(num_classes, parse_width(w, other)?, other)
                } else {
                    return Err(SpecError::Config(format!(
                        "unknown architecture `{other}` (expected vgg16, mobile, mobile@W, mobile-lite@W, mobile-dense@W, tiny, tv-ssd300-vgg16, tv-ssdlite320-mnv3, tv-ssdlite320-mnv3-full, tv-ssdlite320-mnv2)"
                    )));
                }
            }
        };
        spec.check()?;
        Ok(spec)
    }

    /// Sizes of the source maps, by walking the layers with PyTorch's output-size rules.
    pub fn feature_maps(&self) -> Result<Vec<usize>, SpecError> {
        Ok(self.walk()?.0)
    }

    /// (source map sizes, multiply-accumulates per image incl. heads, parameter count)
    fn walk(&self) -> Result<(Vec<usize>, u64, u64), SpecError> {
        let t = self.trace()?;
        Ok((
            t.sources.iter().map(|&(s, _)| s).collect(),
            t.macs,
            t.params,
        ))
    }

    /// Shapes and cost through the body and every head; head pre-layers must keep their
    /// map's shape.
    fn trace(&self) -> Result<Trace, SpecError> {
        let mut t = Trace {
            size: self.input_size,
            channels: 3,
            ..Trace::default()
        };
        t.layers(&self.layers, true)?;
        for (i, (head, &(m, c))) in self.heads.iter().zip(&t.sources.clone()).enumerate() {
            for (pre, conv) in [(&head.loc_pre, &head.loc), (&head.conf_pre, &head.conf)] {
                let mut h = Trace {
                    size: m,
                    channels: c,
                    ..Trace::default()
                };
                h.layers(pre, false)?;
                if h.channels != c || h.size != m {
                    return Err(SpecError::Config(format!(
                        "head {i}: layers before `{}` change the map's shape",
                        conv.name
                    )));
                }
                h.layer(&Layer::Conv(conv.clone()), false)?;
                t.macs += h.macs;
                t.params += h.params;
            }
        }
        Ok(t)
    }

    /// Every parameter and buffer the network reads, with its shape, in layer order: what a
    /// weight file must provide (batch norm's `num_batches_tracked` is not read).
    pub fn parameters(&self) -> Vec<(String, Vec<usize>)> {
        fn conv(out: &mut Vec<(String, Vec<usize>)>, c: &Conv) {
            out.push((
                format!("{}.weight", c.name),
                vec![c.c_out, c.c_in / c.groups.max(1), c.kernel, c.kernel],
            ));
            if c.bias {
                out.push((format!("{}.bias", c.name), vec![c.c_out]));
            }
        }
        fn walk(out: &mut Vec<(String, Vec<usize>)>, layers: &[Layer]) {
            for l in layers {
                match l {
                    Layer::Conv(c) => conv(out, c),
                    Layer::BatchNorm { name, channels, .. } => {
                        for p in ["weight", "bias", "running_mean", "running_var"] {
                            out.push((format!("{name}.{p}"), vec![*channels]));
                        }
                    }
                    Layer::Residual { layers } => walk(out, layers),
                    Layer::SqueezeExcite { fc1, fc2 } => {
                        conv(out, fc1);
                        conv(out, fc2);
                    }
                    Layer::Source { l2norm: Some(l2) } => {
                        out.push((format!("{}.weight", l2.name), vec![l2.channels]))
                    }
                    Layer::Relu
                    | Layer::Relu6
                    | Layer::HardSwish
                    | Layer::MaxPool { .. }
                    | Layer::Source { l2norm: None } => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&mut out, &self.layers);
        for h in &self.heads {
            walk(&mut out, &h.loc_pre);
            conv(&mut out, &h.loc);
        }
        for h in &self.heads {
            walk(&mut out, &h.conf_pre);
            conv(&mut out, &h.conf);
        }
        out
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
    pub fn check(&self) -> Result<(), SpecError> {
        let sources: Vec<usize> = self.trace()?.sources.iter().map(|&(_, c)| c).collect();
        let boxes = self.priors.boxes_per_cell();
        if sources.len() != self.heads.len() || boxes.len() != self.heads.len() {
            return Err(SpecError::Config(format!(
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
                return Err(SpecError::Config(format!(
                    "head {i} does not fit its map ({c} channels, {k} boxes, {} classes)",
                    self.num_classes
                )));
            }
        }
        let maps = self.feature_maps()?;
        if maps != self.priors.feature_maps {
            return Err(SpecError::Config(format!(
                "network source maps {maps:?} differ from the prior config's {:?}",
                self.priors.feature_maps
            )));
        }
        if self.priors.image_size as usize != self.input_size {
            return Err(SpecError::Config(format!(
                "input size {} differs from the prior config's {}",
                self.input_size, self.priors.image_size
            )));
        }
        Ok(())
    }
}

/// Shapes through a layer list: size and channels after each layer, the sources met, and the
/// cost. One walk serves `check` (channel chaining) and the cost/feature-map figures.
#[derive(Default)]
struct Trace {
    size: usize,
    channels: usize,
    /// (map size, channels) of each source.
    sources: Vec<(usize, usize)>,
    macs: u64,
    params: u64,
}

impl Trace {
    fn layers(&mut self, layers: &[Layer], sources_allowed: bool) -> Result<(), SpecError> {
        layers
            .iter()
            .try_for_each(|l| self.layer(l, sources_allowed))
    }

    fn conv(&mut self, c: &Conv) -> Result<(), SpecError> {
        let ch = self.channels;
        if c.c_in != ch
            || c.groups == 0
            || !c.c_in.is_multiple_of(c.groups)
            || !c.c_out.is_multiple_of(c.groups)
        {
            return Err(SpecError::Config(format!(
                "{}: expects {} input channels (groups {}), gets {ch}",
                c.name, c.c_in, c.groups
            )));
        }
        self.size = c.out_size(self.size)?;
        self.macs += c.macs(self.size);
        self.params += c.params();
        self.channels = c.c_out;
        Ok(())
    }

    fn layer(&mut self, layer: &Layer, sources_allowed: bool) -> Result<(), SpecError> {
        let ch = self.channels;
        match layer {
            Layer::Conv(c) => self.conv(c)?,
            Layer::BatchNorm { name, channels, .. } => {
                if *channels != ch {
                    return Err(SpecError::Config(format!(
                        "{name}: {channels} channels, input has {ch}"
                    )));
                }
                self.params += 2 * *channels as u64;
            }
            Layer::Relu | Layer::Relu6 | Layer::HardSwish => {}
            Layer::MaxPool {
                kernel,
                stride,
                pad,
                ceil,
            } => self.size = pool_out(self.size, *kernel, *stride, *pad, *ceil),
            Layer::Residual { layers } => {
                let size = self.size;
                self.layers(layers, false)?;
                if self.size != size || self.channels != ch {
                    return Err(SpecError::Config(format!(
                        "a residual block maps {ch}x{size}x{size} to {}x{}x{}; the skip needs the same shape",
                        self.channels, self.size, self.size
                    )));
                }
            }
            Layer::SqueezeExcite { fc1, fc2 } => {
                let size = self.size;
                self.size = 1;
                self.conv(fc1)?;
                self.conv(fc2)?;
                if self.channels != ch || self.size != 1 || fc1.kernel != 1 || fc2.kernel != 1 {
                    return Err(SpecError::Config(format!(
                        "{}/{}: squeeze-excite needs 1x1 convs back to {ch} channels",
                        fc1.name, fc2.name
                    )));
                }
                self.size = size;
            }
            Layer::Source { l2norm } => {
                if !sources_allowed {
                    return Err(SpecError::Config(
                        "a source map inside a block or a head".into(),
                    ));
                }
                if let Some(l2) = l2norm {
                    if l2.channels != ch {
                        return Err(SpecError::Config(format!(
                            "{}: {} channels, input has {ch}",
                            l2.name, l2.channels
                        )));
                    }
                    self.params += l2.channels as u64;
                }
                self.sources.push((self.size, ch));
            }
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
            loc_pre: Vec::new(),
            conf_pre: Vec::new(),
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
                        clamp: false,
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
        decode: BoxDecode::default(),
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
        eps: BN_EPS,
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
    mobile_with(num_classes, width, arch, 0)
}

/// Blocks of `mobile` before the 38x38 stage (at 150x150 and 75x75), the ones
/// `mobile-dense@W` writes as dense convolutions.
pub const MOBILE_EARLY_BLOCKS: usize = 3;

/// `mobile` with its first `dense_blocks` depthwise-separable blocks written as one dense 3x3
/// convolution each (same channels and strides): more multiply-adds where the small objects'
/// features start, in the form tract runs fastest per multiply-add.
pub fn mobile_with(num_classes: usize, width: f32, arch: &str, dense_blocks: usize) -> NetSpec {
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
        let name = format!("body.{}", i + 1);
        if i < dense_blocks {
            conv_bn(
                &mut layers,
                &name,
                Conv::new(format!("{name}.conv"), ch, w(c), 3)
                    .stride(s)
                    .pad(1)
                    .no_bias()
                    .init(InitKind::KaimingFanOut),
            );
        } else {
            dw_separable(&mut layers, &name, ch, w(c), s);
        }
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
        decode: BoxDecode::default(),
    }
}

/// A width multiplier `W` of `mobile@W`: within 0.1..=2.
fn parse_width(w: &str, arch: &str) -> Result<f32, SpecError> {
    let w: f32 = w
        .parse()
        .map_err(|_| SpecError::Config(format!("bad width multiplier in `{arch}`")))?;
    if !(0.1..=2.0).contains(&w) {
        return Err(SpecError::Config(format!(
            "width multiplier {w} out of range 0.1..=2"
        )));
    }
    Ok(w)
}

/// `mobile@W` with SSDLite's heads (a depthwise 3x3 + batch norm + ReLU6, then a 1x1
/// predictor) instead of dense 3x3 predictors: the same body, grid and boxes, so it differs
/// from `mobile@W` only where the heads' time goes.
pub fn mobile_lite(num_classes: usize, width: f32, arch: &str) -> NetSpec {
    let mut spec = mobile(num_classes, width, arch);
    let channels: Vec<usize> = spec.heads.iter().map(|h| h.loc.c_in).collect();
    spec.heads = ssdlite_heads(&spec.priors, &channels, num_classes);
    spec
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
        decode: BoxDecode::default(),
    }
}

/// torchvision's `ssd300_vgg16`: ssd.pytorch's network (same layers, same prior grid) with
/// torchvision's default boxes, decode conventions and `F.normalize`'s L2 norm. Parameter
/// names stay ssd.pytorch's; `import::torch::names` maps torchvision's onto them.
pub fn torchvision_ssd300_vgg16(num_classes: usize) -> NetSpec {
    let mut spec = vgg16(num_classes);
    for layer in &mut spec.layers {
        if let Layer::Source { l2norm: Some(l2) } = layer {
            l2.eps = 1e-12;
            l2.clamp = true;
        }
    }
    spec.arch = "tv-ssd300-vgg16".into();
    spec.priors = PriorConfig::ssd300_torchvision();
    spec.decode = BoxDecode::torchvision();
    spec
}

/// torchvision's `_make_divisible`: round to a multiple of 8, never more than 10 % down.
pub fn make_divisible(v: f32, divisor: usize) -> usize {
    let d = divisor as f32;
    let mut n = ((v + d / 2.0) as usize / divisor * divisor).max(divisor);
    if (n as f32) < 0.9 * v {
        n += divisor;
    }
    n
}

/// MobileNetV3-Large's inverted residuals (torchvision's table): kernel, expanded channels,
/// output channels, squeeze-excite, hard-swish (else ReLU), stride.
pub const MOBILENET_V3_LARGE: [(usize, usize, usize, bool, bool, usize); 15] = [
    (3, 16, 16, false, false, 1),
    (3, 64, 24, false, false, 2),
    (3, 72, 24, false, false, 1),
    (5, 72, 40, true, false, 2),
    (5, 120, 40, true, false, 1),
    (5, 120, 40, true, false, 1),
    (3, 240, 80, false, true, 2),
    (3, 200, 80, false, true, 1),
    (3, 184, 80, false, true, 1),
    (3, 184, 80, false, true, 1),
    (3, 480, 112, true, true, 1),
    (3, 672, 112, true, true, 1),
    (5, 672, 160, true, true, 2),
    (5, 960, 160, true, true, 1),
    (5, 960, 160, true, true, 1),
];

/// torchvision's batch norm for the MobileNet detectors: eps 1e-3.
pub(crate) const MNV3_BN_EPS: f64 = 1e-3;

/// `name.0` conv (no bias) + `name.1` BN + activation: torchvision's `Conv2dNormActivation`.
pub(crate) fn conv_norm_act(layers: &mut Vec<Layer>, name: &str, c: Conv, act: Option<Layer>) {
    let ch = c.c_out;
    layers.push(Layer::Conv(Conv {
        name: format!("{name}.0"),
        bias: false,
        ..c
    }));
    layers.push(Layer::BatchNorm {
        name: format!("{name}.1"),
        channels: ch,
        eps: MNV3_BN_EPS,
    });
    layers.extend(act);
}

fn mnv3_act(hard_swish: bool) -> Layer {
    if hard_swish {
        Layer::HardSwish
    } else {
        Layer::Relu
    }
}

/// The parts of one MobileNetV3 block: expand (if any), depthwise, squeeze-excite (if any),
/// project, each as (its index in torchvision's `block` Sequential, layers).
fn mnv3_block_parts(
    prefix: &str,
    c_in: usize,
    (k, exp, out, se, hs, stride): (usize, usize, usize, bool, bool, usize),
) -> Vec<(usize, Vec<Layer>)> {
    let conv = |i: usize, ci: usize, co: usize, k: usize| {
        Conv::new(format!("{prefix}.{i}"), ci, co, k).init(InitKind::KaimingFanOut)
    };
    let mut parts = Vec::new();
    let mut i = 0;
    if exp != c_in {
        let mut l = Vec::new();
        conv_norm_act(
            &mut l,
            &format!("{prefix}.{i}"),
            conv(i, c_in, exp, 1),
            Some(mnv3_act(hs)),
        );
        parts.push((i, l));
        i += 1;
    }
    let mut l = Vec::new();
    conv_norm_act(
        &mut l,
        &format!("{prefix}.{i}"),
        conv(i, exp, exp, k)
            .stride(stride)
            .pad((k - 1) / 2)
            .groups(exp),
        Some(mnv3_act(hs)),
    );
    parts.push((i, l));
    i += 1;
    if se {
        let sq = make_divisible(exp as f32 / 4.0, 8);
        parts.push((
            i,
            vec![Layer::SqueezeExcite {
                fc1: Conv::new(format!("{prefix}.{i}.fc1"), exp, sq, 1),
                fc2: Conv::new(format!("{prefix}.{i}.fc2"), sq, exp, 1),
            }],
        ));
        i += 1;
    }
    let mut l = Vec::new();
    conv_norm_act(&mut l, &format!("{prefix}.{i}"), conv(i, exp, out, 1), None);
    parts.push((i, l));
    parts
}

fn mnv3_block(
    layers: &mut Vec<Layer>,
    prefix: &str,
    c_in: usize,
    cfg: (usize, usize, usize, bool, bool, usize),
) {
    let body: Vec<Layer> = mnv3_block_parts(prefix, c_in, cfg)
        .into_iter()
        .flat_map(|(_, l)| l)
        .collect();
    if cfg.5 == 1 && cfg.2 == c_in {
        layers.push(Layer::Residual { layers: body });
    } else {
        layers.extend(body);
    }
}

/// SSDLite's prediction block: depthwise 3x3 + BN + ReLU6 (`name.0`), then a 1x1 conv with
/// bias (`name.1`).
fn ssdlite_head(name: &str, c: usize, out: usize) -> (Vec<Layer>, Conv) {
    let mut pre = Vec::new();
    conv_norm_act(
        &mut pre,
        &format!("{name}.0"),
        Conv::new("", c, c, 3)
            .pad(1)
            .groups(c)
            .init(InitKind::Xavier),
        Some(Layer::Relu6),
    );
    (
        pre,
        Conv::new(format!("{name}.1"), c, out, 1).init(InitKind::Xavier),
    )
}

/// torchvision's `ssdlite320_mobilenet_v3_large`, with its parameter names: the backbone cut
/// at the C4 block's expansion (20x20, 672 channels) and after the last conv (10x10), four
/// extra blocks (1x1, depthwise 3x3 stride 2, 1x1, all ReLU6) down to 1x1, SSDLite heads.
/// `reduced_tail` halves the last stage as torchvision does when no ImageNet backbone is
/// given (how its published COCO weights were trained).
pub fn ssdlite320_mobilenet_v3(num_classes: usize, reduced_tail: bool) -> NetSpec {
    let div = if reduced_tail { 2 } else { 1 };
    let mut table = MOBILENET_V3_LARGE;
    table[12].2 /= div;
    for row in &mut table[13..] {
        row.1 /= div;
        row.2 /= div;
    }
    let mut layers = Vec::new();
    conv_norm_act(
        &mut layers,
        "backbone.features.0.0",
        Conv::new("", 3, 16, 3)
            .stride(2)
            .pad(1)
            .init(InitKind::KaimingFanOut),
        Some(Layer::HardSwish),
    );
    let mut ch = 16;
    for (i, &cfg) in table[..12].iter().enumerate() {
        mnv3_block(
            &mut layers,
            &format!("backbone.features.0.{}.block", i + 1),
            ch,
            cfg,
        );
        ch = cfg.2;
    }
    // The C4 block is split: its expansion ends the first source, the rest starts the second.
    let parts = mnv3_block_parts("backbone.features.1.0", ch, table[12]);
    let (_, expand) = &parts[0];
    for l in expand {
        layers.push(match l {
            Layer::Conv(c) => Layer::Conv(Conv {
                name: "backbone.features.0.13.0".into(),
                ..c.clone()
            }),
            Layer::BatchNorm { channels, eps, .. } => Layer::BatchNorm {
                name: "backbone.features.0.13.1".into(),
                channels: *channels,
                eps: *eps,
            },
            other => other.clone(),
        });
    }
    layers.push(Layer::Source { l2norm: None });
    let mut channels = vec![table[12].1];
    layers.extend(parts[1..].iter().flat_map(|(_, l)| l.iter().cloned()));
    ch = table[12].2;
    for (i, &cfg) in table[13..].iter().enumerate() {
        mnv3_block(
            &mut layers,
            &format!("backbone.features.1.{}.block", i + 1),
            ch,
            cfg,
        );
        ch = cfg.2;
    }
    let last = 6 * ch;
    conv_norm_act(
        &mut layers,
        "backbone.features.1.3",
        Conv::new("", ch, last, 1).init(InitKind::KaimingFanOut),
        Some(Layer::HardSwish),
    );
    layers.push(Layer::Source { l2norm: None });
    channels.push(last);
    ch = last;
    let arch = if reduced_tail {
        "tv-ssdlite320-mnv3"
    } else {
        "tv-ssdlite320-mnv3-full"
    };
    ssdlite320_spec(arch, num_classes, layers, ch, channels)
}

/// Completes an SSDLite320 network from its backbone `layers` (ending in a `ch`-channel map,
/// `channels` of the sources so far): extras, heads, torchvision's priors and decode.
pub(crate) fn ssdlite320_spec(
    arch: &str,
    num_classes: usize,
    mut layers: Vec<Layer>,
    ch: usize,
    mut channels: Vec<usize>,
) -> NetSpec {
    ssdlite_extras(&mut layers, ch, &mut channels);
    let priors = PriorConfig::ssdlite320_torchvision();
    let heads = ssdlite_heads(&priors, &channels, num_classes);
    NetSpec {
        arch: arch.into(),
        num_classes,
        input_size: 320,
        layers,
        heads,
        priors,
        variances: Variances::default(),
        decode: BoxDecode::torchvision(),
    }
}

/// SSDLite's four extra blocks (1x1, depthwise 3x3 stride 2, 1x1, all ReLU6; torchvision's
/// `_extra_block`), each a source: 10 -> 5 -> 3 -> 2 -> 1 at 320x320.
fn ssdlite_extras(layers: &mut Vec<Layer>, mut ch: usize, channels: &mut Vec<usize>) {
    for (k, out) in [512usize, 256, 256, 128].into_iter().enumerate() {
        let mid = out / 2;
        let name = |j: usize| format!("backbone.extra.{k}.{j}");
        conv_norm_act(
            layers,
            &name(0),
            Conv::new("", ch, mid, 1).init(InitKind::Xavier),
            Some(Layer::Relu6),
        );
        conv_norm_act(
            layers,
            &name(1),
            Conv::new("", mid, mid, 3)
                .stride(2)
                .pad(1)
                .groups(mid)
                .init(InitKind::Xavier),
            Some(Layer::Relu6),
        );
        conv_norm_act(
            layers,
            &name(2),
            Conv::new("", mid, out, 1).init(InitKind::Xavier),
            Some(Layer::Relu6),
        );
        layers.push(Layer::Source { l2norm: None });
        channels.push(out);
        ch = out;
    }
}

/// SSDLite heads on the source maps, with torchvision's names.
fn ssdlite_heads(priors: &PriorConfig, channels: &[usize], num_classes: usize) -> Vec<Head> {
    priors
        .boxes_per_cell()
        .iter()
        .zip(channels)
        .enumerate()
        .map(|(i, (&k, &c))| {
            let (loc_pre, loc) =
                ssdlite_head(&format!("head.regression_head.module_list.{i}"), c, 4 * k);
            let (conf_pre, conf) = ssdlite_head(
                &format!("head.classification_head.module_list.{i}"),
                c,
                num_classes * k,
            );
            Head {
                loc_pre,
                loc,
                conf_pre,
                conf,
                boxes: k,
            }
        })
        .collect()
}
