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

/// How predicted offsets become boxes beyond the variances: the conventions a model was trained
/// with, which its decode must repeat (torchvision sets both, ssd.pytorch neither).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoxDecode {
    /// Clamp decoded corners to the image ([0, 1]) before NMS, so boxes crossing the border
    /// suppress each other as the model's own post-processing does.
    #[serde(default)]
    pub clip: bool,
    /// Upper bound of the log size ratio `loc * variance` before `exp` (torchvision:
    /// ln(1000 / 16)), so a wild width or height cannot overflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_log_scale: Option<f32>,
    /// The order of the four predicted values (schema 3): ours and torchvision's `xywh`, or
    /// TensorFlow's `yxhw` (`[ty, tx, th, tw]`).
    #[serde(default, skip_serializing_if = "CodeOrder::is_xywh")]
    pub order: CodeOrder,
}

/// Order of a box code's four values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeOrder {
    #[default]
    Xywh,
    Yxhw,
}

impl CodeOrder {
    pub fn is_xywh(&self) -> bool {
        *self == CodeOrder::Xywh
    }
}

impl BoxDecode {
    /// torchvision's `BoxCoder` and `clip_boxes_to_image`.
    pub fn torchvision() -> Self {
        Self {
            clip: true,
            max_log_scale: Some((1000.0f64 / 16.0).ln() as f32),
            order: CodeOrder::Xywh,
        }
    }

    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// [`decode`] under these conventions.
    #[inline]
    pub fn apply(&self, loc: &[f32; 4], prior: &CenterBox, v: Variances) -> CornerBox {
        let mut l = match self.order {
            CodeOrder::Xywh => *loc,
            CodeOrder::Yxhw => [loc[1], loc[0], loc[3], loc[2]],
        };
        if let Some(m) = self.max_log_scale {
            // Clamp in the scaled domain (`loc * v.size <= m`), as torchvision clamps dw, dh.
            for x in &mut l[2..] {
                if *x * v.size > m {
                    *x = m / v.size;
                }
            }
        }
        let b = decode(&l, prior, v);
        if self.clip {
            b.map(|c| c.clamp(0.0, 1.0))
        } else {
            b
        }
    }
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
    fn torchvision_decode_clamps_log_size_and_clips_to_the_image() {
        let prior = [0.9, 0.5, 0.2, 0.2];
        let v = Variances::default();
        let tv = BoxDecode::torchvision();
        // A huge width offset: exp(20 * 0.2) unclamped, exp(ln(1000/16)) clamped.
        let loc = [0.0, 0.0, 50.0, 0.0];
        let plain = decode(&loc, &prior, v);
        let b = BoxDecode { clip: false, ..tv }.apply(&loc, &prior, v);
        assert!((b[2] - b[0] - 0.2 * 62.5).abs() < 1e-4, "{b:?}");
        assert!(plain[2] - plain[0] > 1000.0);
        let c = tv.apply(&loc, &prior, v);
        assert!(c.iter().all(|x| (0.0..=1.0).contains(x)), "{c:?}");
        assert_eq!(BoxDecode::default().apply(&loc, &prior, v), plain);
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
