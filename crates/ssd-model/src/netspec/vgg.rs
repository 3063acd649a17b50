//! SSD300 on VGG16: ssd.pytorch's network and torchvision's `ssd300_vgg16` (the same layers
//! with torchvision's default boxes, decode and L2 norm).

use super::{heads_for, Conv, InitKind, L2Norm, Layer, NetSpec};
use ssd_core::ssd::{BoxDecode, PriorConfig, Variances};

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
