//! Proves `Decoder::decode` allocates nothing once built: a counting global allocator counts
//! allocations made by this test's thread while decoding realistic 8732 x 21 outputs.

use ssd_edge::ssd::{ConfKind, Decoder, Detections, NmsConfig, PriorConfig, Variances};

#[path = "../crates/ssd-core/benches/support/realistic.rs"]
mod realistic;

#[path = "support/alloc.rs"]
mod alloc;
use alloc::count_allocations;

#[test]
fn counter_sees_allocations() {
    let n = count_allocations(|| drop(std::hint::black_box(vec![1u8; 64])));
    assert_eq!(n, 1);
}

#[test]
fn decode_allocates_nothing() {
    let priors = PriorConfig::ssd300_voc().generate();
    let frames: Vec<_> = (0..4)
        .map(|s| realistic::realistic_frame(&priors, 21, 30, s))
        .collect();
    let scores: Vec<f32> = {
        // The same frame as probabilities, for the ConfKind::Scores path.
        let conf = &frames[0].1;
        conf.chunks_exact(21)
            .flat_map(|r| {
                let m = r.iter().cloned().fold(f32::MIN, f32::max);
                let s: f32 = r.iter().map(|x| (x - m).exp()).sum();
                r.iter().map(move |x| (x - m).exp() / s)
            })
            .collect()
    };
    let mut dec = Decoder::new(priors, 21, Variances::default(), NmsConfig::default());
    let mut out = Detections::new();
    let mut sizes = Vec::with_capacity(frames.len() + 1);
    let n = count_allocations(|| {
        for (loc, conf) in &frames {
            dec.decode(loc, conf, ConfKind::Logits, &mut out).unwrap();
            sizes.push(out.len());
        }
        dec.decode(&frames[0].0, &scores, ConfKind::Scores, &mut out)
            .unwrap();
        sizes.push(out.len());
    });
    assert_eq!(n, 0, "decode allocated {n} times");
    // Not a trivially empty output: the frames fill the detection list.
    assert!(
        sizes.iter().all(|&s| s >= 100),
        "detections per frame: {sizes:?}"
    );
    assert_eq!(sizes[0], sizes[4], "logits and scores paths disagree");
}
