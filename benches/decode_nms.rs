//! Decode + NMS of one SSD300 VOC frame (8732 priors x 21 classes, logits) as a real
//! detector produces it: see `support/realistic.rs`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ssd_edge::ssd::{ConfKind, Decoder, Detections, NmsConfig, PriorConfig, Variances};

#[path = "support/realistic.rs"]
mod realistic;

fn decode_nms(c: &mut Criterion) {
    let priors = PriorConfig::ssd300_voc().generate();
    let mut dec = Decoder::new(
        priors.clone(),
        21,
        Variances::default(),
        NmsConfig::default(),
    );
    let mut out = Detections::new();
    for objects in [30, 5] {
        let (loc, conf) = realistic::realistic_frame(&priors, 21, objects, 7);
        dec.decode(&loc, &conf, ConfKind::Logits, &mut out).unwrap();
        eprintln!("{objects} objects: {} detections", out.len());
        c.bench_function(
            &format!("decode_nms_8732x21_logits_{objects}_objects"),
            |b| {
                b.iter(|| {
                    dec.decode(
                        black_box(&loc),
                        black_box(&conf),
                        ConfKind::Logits,
                        &mut out,
                    )
                    .unwrap();
                    black_box(out.len())
                })
            },
        );
    }
}

criterion_group!(benches, decode_nms);
criterion_main!(benches);
