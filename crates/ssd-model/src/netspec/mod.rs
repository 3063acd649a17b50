//! One description of an SSD network (`NetSpec`): its layers with their parameter names,
//! heads and default boxes. The trainer builds its tch module from it, and the ONNX graph
//! writer (`onnx`) builds the exported and the imported graphs from it, so the trained, the
//! exported and the imported network cannot drift apart.
//!
//! It lives in `ssd-model`, not the trainer, because `ssd-edge import` needs it to write a
//! published PyTorch detector as ONNX on the board itself: plain data and shape arithmetic,
//! no libtorch.

use serde::{Deserialize, Serialize};
use ssd_core::ssd::{BoxDecode, PriorConfig, Variances};

mod mobilenet_v1;
mod mobilenet_v3;
pub mod onnx;
mod ssdlite;
pub mod ssdlite_v2;
mod tiny;
mod vgg;

use mobilenet_v1::parse_width;
pub use mobilenet_v1::{
    mobile, mobile_lite, mobile_with, MOBILENET_V1_BLOCKS, MOBILE_EARLY_BLOCKS,
};
pub use mobilenet_v3::{make_divisible, ssdlite320_mobilenet_v3, MOBILENET_V3_LARGE};
pub(crate) use ssdlite::ssdlite320_spec;
pub use tiny::tiny;
pub use vgg::{torchvision_ssd300_vgg16, vgg16};

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
