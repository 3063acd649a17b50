//! A synthetic SSD output shaped like a real frame, shared by the decode benchmark and the
//! no-allocation test: mostly confident background with low-score clutter above the 0.01
//! threshold (a few per cent of prior/class pairs, so per-class top-k truncation happens),
//! plus objects each lit up by a cluster of overlapping priors with high scores and offsets
//! that point at the object.

use ssd_core::ssd::{center_to_corner, encode, iou, CenterBox, Variances};

/// SplitMix64: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Approximately standard normal (Irwin-Hall, 4 terms), plenty for test data.
    fn normal(&mut self) -> f32 {
        let s: f32 = (0..4).map(|_| self.uniform()).sum();
        (s - 2.0) * 3f32.sqrt()
    }
}

/// `(loc, conf)` for `priors.len()` priors and `classes` classes, `conf` as softmax logits.
pub fn realistic_frame(
    priors: &[CenterBox],
    classes: usize,
    objects: usize,
    seed: u64,
) -> (Vec<f32>, Vec<f32>) {
    frame(priors, classes, objects, seed, 4.0, -3.0)
}

/// As [`realistic_frame`] with `conf` as independent sigmoid logits (TensorFlow's COCO
/// SSDLite): clutter centred at -7 so that, as with the softmax frame, a few per cent of
/// prior/class pairs clear a 0.01 score threshold (sigmoid(-4.6) = 0.01).
#[allow(dead_code)] // the no-allocation test and the equivalence test use the softmax frame only
pub fn realistic_frame_sigmoid(
    priors: &[CenterBox],
    classes: usize,
    objects: usize,
    seed: u64,
) -> (Vec<f32>, Vec<f32>) {
    frame(priors, classes, objects, seed, 0.0, -7.0)
}

/// `background` and `clutter`: the mean logit of class 0 and of the other classes.
fn frame(
    priors: &[CenterBox],
    classes: usize,
    objects: usize,
    seed: u64,
    background: f32,
    clutter: f32,
) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng(seed);
    let mut loc: Vec<f32> = (0..priors.len() * 4).map(|_| 0.5 * rng.normal()).collect();
    let mut conf = Vec::with_capacity(priors.len() * classes);
    for _ in priors {
        conf.push(background + rng.normal());
        for _ in 1..classes {
            conf.push(clutter + 1.1 * rng.normal());
        }
    }
    let v = Variances::default();
    for _ in 0..objects {
        let class = 1 + (rng.next() as usize) % (classes - 1);
        let size = 0.05 * 12f32.powf(rng.uniform()); // 0.05 .. 0.6, log-uniform
        let aspect = 0.5 + 1.5 * rng.uniform();
        let (w, h) = (size * aspect.sqrt(), size / aspect.sqrt());
        let (cx, cy) = (rng.uniform(), rng.uniform());
        let obj = center_to_corner(&[cx, cy, w, h]);
        for (p, prior) in priors.iter().enumerate() {
            let overlap = iou(&obj, &center_to_corner(prior));
            if overlap < 0.35 {
                continue;
            }
            let row = &mut conf[p * classes..(p + 1) * classes];
            row[class] = row[0] + 6.0 * overlap + rng.normal();
            let target = encode(&obj, prior, v);
            for (l, t) in loc[p * 4..p * 4 + 4].iter_mut().zip(target) {
                *l = t + 0.1 * rng.normal();
            }
        }
    }
    (loc, conf)
}
