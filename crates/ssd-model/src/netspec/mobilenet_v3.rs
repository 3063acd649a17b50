//! torchvision's SSDLite320 on MobileNetV3-Large (`tv-ssdlite320-mnv3`, `-full`).

use super::ssdlite::ssdlite320_spec;
use super::{conv_norm_act, Conv, InitKind, Layer, NetSpec};

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
