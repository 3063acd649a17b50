//! SSDLite's extras and heads with torchvision's 320 prior grid, shared by the MobileNetV2 and
//! V3 networks and by `mobile-lite@W`.

use super::{conv_norm_act, Conv, Head, InitKind, Layer, NetSpec};
use ssd_core::ssd::{BoxDecode, PriorConfig, Variances};

/// SSDLite's prediction block: depthwise 3x3 + BN + ReLU6 (`name.0`), then a 1x1 conv with
/// bias (`name.1`).
pub(crate) fn ssdlite_head(name: &str, c: usize, out: usize) -> (Vec<Layer>, Conv) {
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
pub(crate) fn ssdlite_extras(layers: &mut Vec<Layer>, mut ch: usize, channels: &mut Vec<usize>) {
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
pub(crate) fn ssdlite_heads(
    priors: &PriorConfig,
    channels: &[usize],
    num_classes: usize,
) -> Vec<Head> {
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
