//! SSDLite320 on MobileNetV2, laid out exactly as torchvision's `mobilenet_v2` so its
//! ImageNet weights load by a mechanical rename (`features.N.*` -> `backbone.features.N.*`,
//! see the trainer's `import::backbone`). Sources as the SSDLite paper (Sandler et al., 2018): the
//! expansion of the first stride-2 160-channel block (20x20 at 320) and the 1280-channel last
//! conv (10x10); then torchvision's SSDLite extras and heads with its 320 prior grid.

use super::{conv_norm_act, ssdlite320_spec, Conv, InitKind, Layer, NetSpec, BN_EPS};

/// torchvision's `inverted_residual_setting` for MobileNetV2 (width 1.0): expansion t,
/// output channels c, repeats n, first stride s.
pub const MOBILENET_V2: [(usize, usize, usize, usize); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

/// Index in `features` of the block whose expansion is the first source (the first
/// stride-2 block of the 160-channel stage).
pub const C4_BLOCK: usize = 14;

/// `Conv2dNormActivation` with torchvision's classification batch norm (eps 1e-5): the
/// shared helper writes the detectors' 1e-3, which would not match ImageNet statistics.
fn cna(layers: &mut Vec<Layer>, name: &str, c: Conv, act: Option<Layer>) {
    let start = layers.len();
    conv_norm_act(layers, name, c, act);
    for l in &mut layers[start..] {
        if let Layer::BatchNorm { eps, .. } = l {
            *eps = BN_EPS;
        }
    }
}

fn bn(name: String, channels: usize) -> Layer {
    Layer::BatchNorm {
        name,
        channels,
        eps: BN_EPS,
    }
}

fn conv(c_in: usize, c_out: usize, k: usize) -> Conv {
    Conv::new("", c_in, c_out, k).init(InitKind::KaimingFanOut)
}

/// One `InvertedResidual` (`features.{i}.conv`): returns its layers, split after the
/// expansion when `split` (the first source sits there; only for a block with no skip).
fn inverted_residual(
    i: usize,
    c_in: usize,
    c_out: usize,
    stride: usize,
    t: usize,
    split: bool,
) -> (Vec<Layer>, Vec<Layer>) {
    let p = format!("backbone.features.{i}.conv");
    let hidden = c_in * t;
    let mut head = Vec::new();
    let mut j = 0;
    if t != 1 {
        cna(
            &mut head,
            &format!("{p}.0"),
            conv(c_in, hidden, 1),
            Some(Layer::Relu6),
        );
        j = 1;
    }
    let mut tail = Vec::new();
    let body = if split { &mut tail } else { &mut head };
    cna(
        body,
        &format!("{p}.{j}"),
        conv(hidden, hidden, 3).stride(stride).pad(1).groups(hidden),
        Some(Layer::Relu6),
    );
    body.push(Layer::Conv(Conv {
        name: format!("{p}.{}", j + 1),
        ..conv(hidden, c_out, 1).no_bias()
    }));
    body.push(bn(format!("{p}.{}", j + 2), c_out));
    (head, tail)
}

/// SSDLite320 with a MobileNetV2 backbone (`tv-ssdlite320-mnv2`); torchvision has no such
/// detector, so only the backbone's layout is torchvision's (`mobilenet_v2`), the extras and
/// heads are those of its `ssdlite320_mobilenet_v3_large`.
pub fn ssdlite320_mobilenet_v2(num_classes: usize) -> NetSpec {
    let mut layers = Vec::new();
    cna(
        &mut layers,
        "backbone.features.0",
        conv(3, 32, 3).stride(2).pad(1),
        Some(Layer::Relu6),
    );
    let mut ch = 32;
    let mut i = 1;
    let mut channels = Vec::new();
    for &(t, c, n, s) in &MOBILENET_V2 {
        for r in 0..n {
            let stride = if r == 0 { s } else { 1 };
            let split = i == C4_BLOCK;
            let (head, tail) = inverted_residual(i, ch, c, stride, t, split);
            if stride == 1 && ch == c {
                layers.push(Layer::Residual { layers: head });
            } else {
                layers.extend(head);
            }
            if split {
                layers.push(Layer::Source { l2norm: None });
                channels.push(ch * t);
                layers.extend(tail);
            }
            ch = c;
            i += 1;
        }
    }
    let last = 1280;
    cna(
        &mut layers,
        &format!("backbone.features.{i}"),
        conv(ch, last, 1),
        Some(Layer::Relu6),
    );
    layers.push(Layer::Source { l2norm: None });
    channels.push(last);
    ssdlite320_spec("tv-ssdlite320-mnv2", num_classes, layers, last, channels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_and_has_torchvision_names() {
        let spec = ssdlite320_mobilenet_v2(21);
        spec.check().unwrap();
        assert_eq!(spec.feature_maps().unwrap(), vec![20, 10, 5, 3, 2, 1]);
        let p = spec.parameters();
        let names: Vec<&str> = p.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"backbone.features.0.0.weight"));
        assert!(names.contains(&"backbone.features.1.conv.1.weight"));
        assert!(names.contains(&"backbone.features.14.conv.0.0.weight"));
        assert!(names.contains(&"backbone.features.18.1.running_var"));
        // torchvision's mobilenet_v2 has 3.50 M parameters with a 1.28 M classifier.
        let backbone: usize = p
            .iter()
            .filter(|(n, _)| n.starts_with("backbone.features.") && !n.contains("running_"))
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        assert_eq!(backbone, 3_504_872 - 1_281_000);
    }
}
