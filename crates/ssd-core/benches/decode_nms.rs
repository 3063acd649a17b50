//! Decode + NMS of one frame as a real detector produces it (see `support/realistic.rs`):
//! SSD300 VOC (8732 priors x 21 classes, softmax logits, per-class NMS) and TensorFlow's COCO
//! SSDLite (1917 priors x 91 classes, sigmoid logits, `[ty, tx, th, tw]` codes, class-agnostic
//! NMS with the model's own settings, as `models/coco-ssdlite-mnv2-float.onnx` declares them).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ssd_core::ssd::{
    BoxDecode, CodeOrder, ConfKind, Decoder, Detections, NmsConfig, PriorConfig, SsdAnchors,
    Variances,
};

#[path = "support/realistic.rs"]
mod realistic;

fn bench_case(
    c: &mut Criterion,
    name: &str,
    dec: &mut Decoder,
    kind: ConfKind,
    loc: &[f32],
    conf: &[f32],
) {
    let mut out = Detections::new();
    dec.decode(loc, conf, kind, &mut out).unwrap();
    eprintln!("{name}: {} detections", out.len());
    c.bench_function(name, |b| {
        b.iter(|| {
            dec.decode(black_box(loc), black_box(conf), kind, &mut out)
                .unwrap();
            black_box(out.len())
        })
    });
}

fn decode_nms(c: &mut Criterion) {
    let priors = PriorConfig::ssd300_voc().generate();
    let mut dec = Decoder::new(
        priors.clone(),
        21,
        Variances::default(),
        NmsConfig::default(),
    );
    for objects in [30, 5] {
        let (loc, conf) = realistic::realistic_frame(&priors, 21, objects, 7);
        let name = format!("decode_nms_8732x21_logits_{objects}_objects");
        bench_case(c, &name, &mut dec, ConfKind::Logits, &loc, &conf);
    }

    let anchors = SsdAnchors::ssd_mobilenet_300().generate();
    let nms = NmsConfig {
        score_threshold: 0.01,
        iou_threshold: 0.5,
        top_k: 200,
        keep_top_k: 100,
        class_agnostic: true,
    };
    let mut dec =
        Decoder::new(anchors.clone(), 91, Variances::default(), nms).with_box_decode(BoxDecode {
            order: CodeOrder::Yxhw,
            ..BoxDecode::default()
        });
    for objects in [30, 5] {
        let (mut loc, conf) = realistic::realistic_frame_sigmoid(&anchors, 91, objects, 7);
        // The frame's codes are `[tx, ty, tw, th]`; TensorFlow's are `[ty, tx, th, tw]`.
        for code in loc.chunks_exact_mut(4) {
            code.swap(0, 1);
            code.swap(2, 3);
        }
        let name = format!("decode_nms_1917x91_sigmoid_agnostic_{objects}_objects");
        bench_case(c, &name, &mut dec, ConfKind::Sigmoid, &loc, &conf);
    }
}

criterion_group!(benches, decode_nms);
criterion_main!(benches);
