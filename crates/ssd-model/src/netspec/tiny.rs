//! `tiny`: a small plain-conv SSD300 for tests.

use super::{conv_bn, heads_for, Conv, InitKind, Layer, NetSpec};
use ssd_core::ssd::{BoxDecode, PriorConfig, Variances};

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
