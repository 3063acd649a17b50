//! Box forms and the SSD offset encoding. Arithmetic order follows ssd.pytorch's
//! `box_utils.py` so results agree with its reference values to the last bits.

use serde::{Deserialize, Serialize};

/// `[cx, cy, w, h]`, normalised to the image size.
pub type CenterBox = [f32; 4];
/// `[x0, y0, x1, y1]`, normalised to the image size.
pub type CornerBox = [f32; 4];

/// Scales of the encoded offsets: centre offsets are divided by `center * prior size`, log size
/// ratios by `size`. The references use 0.1/0.2; the notes' plain formula is 1/1.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variances {
    pub center: f32,
    pub size: f32,
}

impl Default for Variances {
    fn default() -> Self {
        Self {
            center: 0.1,
            size: 0.2,
        }
    }
}

pub fn center_to_corner(b: &CenterBox) -> CornerBox {
    [
        b[0] - b[2] / 2.0,
        b[1] - b[3] / 2.0,
        b[0] + b[2] / 2.0,
        b[1] + b[3] / 2.0,
    ]
}

pub fn corner_to_center(b: &CornerBox) -> CenterBox {
    [
        (b[0] + b[2]) / 2.0,
        (b[1] + b[3]) / 2.0,
        b[2] - b[0],
        b[3] - b[1],
    ]
}

/// Offsets a prior must learn to become `gt` (training targets).
pub fn encode(gt: &CornerBox, prior: &CenterBox, v: Variances) -> [f32; 4] {
    let gcx = ((gt[0] + gt[2]) / 2.0 - prior[0]) / (v.center * prior[2]);
    let gcy = ((gt[1] + gt[3]) / 2.0 - prior[1]) / (v.center * prior[3]);
    let gw = ((gt[2] - gt[0]) / prior[2]).ln() / v.size;
    let gh = ((gt[3] - gt[1]) / prior[3]).ln() / v.size;
    [gcx, gcy, gw, gh]
}

/// Inverse of [`encode`]: predicted offsets applied to a prior, in corner form.
pub fn decode(loc: &[f32; 4], prior: &CenterBox, v: Variances) -> CornerBox {
    let cx = prior[0] + loc[0] * v.center * prior[2];
    let cy = prior[1] + loc[1] * v.center * prior[3];
    let w = prior[2] * (loc[2] * v.size).exp();
    let h = prior[3] * (loc[3] * v.size).exp();
    // ssd.pytorch derives x1 from x0 + w rather than cx + w/2; same up to rounding.
    let x0 = cx - w / 2.0;
    let y0 = cy - h / 2.0;
    [x0, y0, x0 + w, y0 + h]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let prior = [0.4, 0.6, 0.2, 0.3];
        let gt = [0.25, 0.5, 0.45, 0.95];
        let v = Variances::default();
        let back = decode(&encode(&gt, &prior, v), &prior, v);
        for (a, b) in gt.iter().zip(back) {
            assert!((a - b).abs() < 1e-6, "{gt:?} vs {back:?}");
        }
    }

    #[test]
    fn corner_center_round_trip() {
        let c = [0.5, 0.25, 0.2, 0.1];
        let k = center_to_corner(&c);
        assert_eq!(k, [0.4, 0.2, 0.6, 0.3]);
        let back = corner_to_center(&k);
        for (a, b) in c.iter().zip(back) {
            assert!((a - b).abs() < 1e-7);
        }
    }
}
