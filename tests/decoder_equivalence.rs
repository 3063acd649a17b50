//! The per-frame `Decoder` (one best-first pass over all classes, chunked selection instead of
//! a full sort, vectorised softmax) against the plain definition it replaces: softmax with
//! `f32::exp`, per-class `ssd::nms` over the candidates above the threshold, then the global
//! best `keep_top_k`. Realistic 8732 x 21 frames, several keep/threshold settings, so that
//! the chunked selection needs one, several or all chunks.

use ssd_edge::ssd::{self, ConfKind, Decoder, Detections, NmsConfig, PriorConfig, Variances};

#[path = "../crates/ssd-core/benches/support/realistic.rs"]
mod realistic;

/// (class, score, box) of the reference decode, best first.
fn reference(
    priors: &[[f32; 4]],
    loc: &[f32],
    conf: &[f32],
    classes: usize,
    nms: NmsConfig,
) -> Vec<(u16, f32, [f32; 4])> {
    let v = Variances::default();
    let boxes: Vec<[f32; 4]> = priors
        .iter()
        .zip(loc.chunks_exact(4))
        .map(|(p, l)| ssd::decode(&[l[0], l[1], l[2], l[3]], p, v))
        .collect();
    let scores: Vec<Vec<f32>> = conf
        .chunks_exact(classes)
        .map(|row| {
            let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = row.iter().map(|x| (x - max).exp()).collect();
            let sum: f32 = e.iter().sum();
            e.iter().map(|x| x / sum).collect()
        })
        .collect();
    let mut all = vec![];
    for c in 1..classes {
        let idx: Vec<usize> = scores
            .iter()
            .enumerate()
            .filter(|(_, row)| row[c] > nms.score_threshold)
            .map(|(p, _)| p)
            .collect();
        let b: Vec<[f32; 4]> = idx.iter().map(|&p| boxes[p]).collect();
        let s: Vec<f32> = idx.iter().map(|&p| scores[p][c]).collect();
        for k in ssd::nms(&b, &s, nms.iou_threshold, nms.top_k) {
            all.push((c as u16, s[k], b[k], idx[k]));
        }
    }
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)).then(a.3.cmp(&b.3)));
    all.truncate(nms.keep_top_k.min(ssd::MAX_DETECTIONS));
    all.into_iter().map(|(c, s, b, _)| (c, s, b)).collect()
}

#[test]
fn decoder_equals_per_class_nms_then_global_top_k() {
    let priors = PriorConfig::ssd300_voc().generate();
    let mut checked = 0;
    for (objects, seed) in [(30, 7), (5, 11), (0, 3)] {
        let (loc, conf) = realistic::realistic_frame(&priors, 21, objects, seed);
        for (threshold, keep, top_k) in [
            (0.01, 200, 200),
            (0.01, 5, 200),
            (0.05, 50, 100),
            (0.3, 200, 200),
        ] {
            let nms = NmsConfig {
                score_threshold: threshold,
                iou_threshold: 0.45,
                top_k,
                keep_top_k: keep,
                class_agnostic: false,
            };
            let want = reference(&priors, &loc, &conf, 21, nms);
            let mut dec = Decoder::new(priors.clone(), 21, Variances::default(), nms);
            let mut out = Detections::new();
            dec.decode(&loc, &conf, ConfKind::Logits, &mut out).unwrap();
            let what =
                format!("{objects} objects, threshold {threshold}, keep {keep}, top_k {top_k}");
            assert_eq!(out.len(), want.len(), "{what}");
            for (i, (d, (c, s, b))) in out.iter().zip(&want).enumerate() {
                assert_eq!(d.class_id, *c, "{what}: detection {i}");
                assert!(
                    (d.score - s).abs() <= 1e-6,
                    "{what}: detection {i}: {} vs {s}",
                    d.score
                );
                assert_eq!(d.bbox, *b, "{what}: detection {i}");
            }
            checked += out.len();
        }
    }
    // Not vacuous: the frames produce full outputs.
    assert!(checked > 500, "{checked} detections compared");
}
