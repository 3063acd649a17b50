//! SSD300 on a MobileNet-v1-style body (`mobile@W`, `mobile-dense@W`, `mobile-lite@W`): the
//! trainer's own family, at the SSD300 grid so the VOC prior configuration applies unchanged.

use super::ssdlite::ssdlite_heads;
use super::{conv_bn, heads_for, Conv, InitKind, Layer, NetSpec, SpecError};
use ssd_core::ssd::{BoxDecode, PriorConfig, Variances};

fn scaled(c: usize, width: f32) -> usize {
    // Multiples of 8 keep SIMD lanes full in tract's kernels.
    (((c as f32 * width) / 8.0).round() as usize * 8).max(8)
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
pub(crate) fn parse_width(w: &str, arch: &str) -> Result<f32, SpecError> {
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
