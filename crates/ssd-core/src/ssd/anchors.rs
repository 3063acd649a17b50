//! TensorFlow's SSD anchors: the Object Detection API's `ssd_anchor_generator` (a
//! `MultipleGridAnchorGenerator`) and MediaPipe's `SsdAnchorsCalculator`, which lays out the same
//! boxes. Their order differs from [`PriorConfig`](super::PriorConfig)'s (ratios first, the
//! interpolated square last, and a reduced first layer), so they are a generator of their own.

use serde::{Deserialize, Serialize};

use super::{CenterBox, SsdError, MAX_PRIORS};

/// `SsdAnchorsCalculatorOptions`, the fields that change the boxes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsdAnchors {
    pub input_width: u32,
    pub input_height: u32,
    pub min_scale: f32,
    pub max_scale: f32,
    /// One stride per layer; a layer's map side is `ceil(input / stride)`. Consecutive layers
    /// with equal strides share one map (their boxes interleave per cell).
    pub strides: Vec<u32>,
    pub aspect_ratios: Vec<f32>,
    /// Ratio of the extra box at `sqrt(s_k * s_(k+1))`; 0 or less: no extra box.
    #[serde(default = "one")]
    pub interpolated_scale_aspect_ratio: f32,
    /// The first layer has three boxes: (0.1, 1), (s_0, 2), (s_0, 0.5).
    #[serde(default)]
    pub reduce_boxes_in_lowest_layer: bool,
    #[serde(default = "half")]
    pub anchor_offset_x: f32,
    #[serde(default = "half")]
    pub anchor_offset_y: f32,
}

/// `(scale, aspect ratio)` of each box of a cell.
type CellBoxes = Vec<(f32, f32)>;

fn one() -> f32 {
    1.0
}

fn half() -> f32 {
    0.5
}

impl SsdAnchors {
    /// `ssdlite_mobilenet_v2_coco` and MediaPipe's OpenImages SSD: six layers from 19x19 to
    /// 1x1 at 300x300.
    pub fn ssd_mobilenet_300() -> Self {
        Self {
            input_width: 300,
            input_height: 300,
            min_scale: 0.2,
            max_scale: 0.95,
            strides: vec![16, 32, 64, 128, 256, 512],
            aspect_ratios: vec![1.0, 2.0, 0.5, 3.0, 0.3333],
            interpolated_scale_aspect_ratio: 1.0,
            reduce_boxes_in_lowest_layer: true,
            anchor_offset_x: 0.5,
            anchor_offset_y: 0.5,
        }
    }

    fn scale(&self, layer: usize) -> f32 {
        let n = self.strides.len();
        if n == 1 {
            (self.min_scale + self.max_scale) * 0.5
        } else {
            self.min_scale + (self.max_scale - self.min_scale) * layer as f32 / (n as f32 - 1.0)
        }
    }

    /// `(scale, aspect ratio)` of each box of a cell, for the layers `first..end` that share a
    /// map.
    fn cell_boxes(&self, first: usize, end: usize) -> Vec<(f32, f32)> {
        let mut out = Vec::new();
        for layer in first..end {
            let s = self.scale(layer);
            if layer == 0 && self.reduce_boxes_in_lowest_layer {
                out.extend([(0.1, 1.0), (s, 2.0), (s, 0.5)]);
                continue;
            }
            out.extend(self.aspect_ratios.iter().map(|&a| (s, a)));
            if self.interpolated_scale_aspect_ratio > 0.0 {
                let next = if layer + 1 == self.strides.len() {
                    1.0
                } else {
                    self.scale(layer + 1)
                };
                out.push(((s * next).sqrt(), self.interpolated_scale_aspect_ratio));
            }
        }
        out
    }

    /// `(map height, map width, boxes per cell)` per map, in order.
    fn maps(&self) -> Vec<(usize, usize, CellBoxes)> {
        let mut maps = Vec::new();
        let mut layer = 0;
        while layer < self.strides.len() {
            let stride = self.strides[layer];
            let mut end = layer;
            while end < self.strides.len() && self.strides[end] == stride {
                end += 1;
            }
            let h = self.input_height.div_ceil(stride.max(1)) as usize;
            let w = self.input_width.div_ceil(stride.max(1)) as usize;
            maps.push((h, w, self.cell_boxes(layer, end)));
            layer = end;
        }
        maps
    }

    pub fn num_priors(&self) -> usize {
        self.maps().iter().map(|(h, w, b)| h * w * b.len()).sum()
    }

    pub fn validate(&self) -> Result<(), SsdError> {
        let bad = |m: String| Err(SsdError::InvalidPriorConfig(m));
        if self.strides.is_empty() || self.strides.len() > 16 {
            return bad(format!("{} anchor layers (1 to 16)", self.strides.len()));
        }
        if self.strides.contains(&0) {
            return bad("an anchor stride of 0".into());
        }
        if !(1..=8192).contains(&self.input_width) || !(1..=8192).contains(&self.input_height) {
            return bad(format!(
                "anchor input size {}x{} is out of range",
                self.input_width, self.input_height
            ));
        }
        let finite_pos = |x: f32| x.is_finite() && x > 0.0;
        if !finite_pos(self.min_scale) || !finite_pos(self.max_scale) {
            return bad(format!(
                "anchor scales {} .. {} must be positive",
                self.min_scale, self.max_scale
            ));
        }
        if self.aspect_ratios.is_empty() || !self.aspect_ratios.iter().all(|&a| finite_pos(a)) {
            return bad(format!(
                "anchor aspect ratios {:?} must be positive",
                self.aspect_ratios
            ));
        }
        if !self.interpolated_scale_aspect_ratio.is_finite()
            || !self.anchor_offset_x.is_finite()
            || !self.anchor_offset_y.is_finite()
        {
            return bad("anchor offsets and the interpolated ratio must be finite".into());
        }
        let n = self.num_priors();
        if n > MAX_PRIORS {
            return bad(format!("{n} anchors, more than the limit of {MAX_PRIORS}"));
        }
        Ok(())
    }

    /// Boxes as `[cx, cy, w, h]`, normalised; cells row-major, a cell's boxes together, maps
    /// in order (the order of the models' box-code outputs).
    pub fn generate(&self) -> Vec<CenterBox> {
        let mut out = Vec::with_capacity(self.num_priors());
        for (h, w, boxes) in self.maps() {
            for y in 0..h {
                for x in 0..w {
                    let cx = (x as f32 + self.anchor_offset_x) / w as f32;
                    let cy = (y as f32 + self.anchor_offset_y) / h as f32;
                    for &(s, a) in &boxes {
                        let r = a.sqrt();
                        out.push([cx, cy, s * r, s / r]);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssd_mobilenet_300_has_1917_boxes_in_six_maps() {
        let a = SsdAnchors::ssd_mobilenet_300();
        let sides: Vec<usize> = a.maps().iter().map(|m| m.0).collect();
        assert_eq!(sides, [19, 10, 5, 3, 2, 1]);
        assert_eq!(a.num_priors(), 19 * 19 * 3 + (100 + 25 + 9 + 4 + 1) * 6);
        assert_eq!(a.generate().len(), 1917);
        a.validate().unwrap();
    }

    #[test]
    fn first_cell_holds_the_reduced_layer_and_last_map_the_interpolated_box() {
        let boxes = SsdAnchors::ssd_mobilenet_300().generate();
        let c = 0.5 / 19.0;
        assert_eq!(boxes[0], [c, c, 0.1, 0.1]);
        let r2 = 2f32.sqrt();
        assert!((boxes[1][2] - 0.2 * r2).abs() < 1e-6 && (boxes[1][3] - 0.2 / r2).abs() < 1e-6);
        // The 1x1 map: centre 0.5, its last box sqrt(0.95 * 1.0) square.
        let last = boxes[1916];
        assert_eq!(&last[..2], &[0.5, 0.5]);
        assert!((last[2] - 0.95f32.sqrt()).abs() < 1e-6 && last[2] == last[3]);
    }

    #[test]
    fn nonsense_options_are_refused() {
        let mut a = SsdAnchors::ssd_mobilenet_300();
        a.strides[2] = 0;
        assert!(a
            .validate()
            .unwrap_err()
            .to_string()
            .contains("stride of 0"));
        let mut a = SsdAnchors::ssd_mobilenet_300();
        a.strides = vec![1; 8];
        a.input_width = 8192;
        a.input_height = 8192;
        assert!(a.validate().unwrap_err().to_string().contains("limit"));
    }
}

/// How an anchor tensor stored in the model lists each box.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnchorCoords {
    /// `[ymin, xmin, ymax, xmax]` (TensorFlow's box lists).
    Yxyx,
    /// `[ycenter, xcenter, h, w]` (TFLite's detection post-processing input).
    YxhwCenter,
    /// `[cx, cy, w, h]` (our priors).
    CxcywhCenter,
}

impl AnchorCoords {
    pub fn to_center(self, b: [f32; 4]) -> CenterBox {
        match self {
            AnchorCoords::Yxyx => [
                (b[1] + b[3]) * 0.5,
                (b[0] + b[2]) * 0.5,
                b[3] - b[1],
                b[2] - b[0],
            ],
            AnchorCoords::YxhwCenter => [b[1], b[0], b[3], b[2]],
            AnchorCoords::CxcywhCenter => b,
        }
    }
}

/// Anchors held by the model itself: an ONNX initializer `[P, 4]` (float32) that no node reads.
/// The most general form: any anchor layout a graph held as a constant keeps its exact values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorTensor {
    /// The initializer's name in the ONNX graph.
    pub name: String,
    pub coords: AnchorCoords,
    /// The boxes, once the model file has been read (not part of the metadata).
    #[serde(skip)]
    pub boxes: Option<std::sync::Arc<Vec<CenterBox>>>,
}

/// Where a model's default boxes come from (`priors` in the metadata): the SSD grid of
/// [`PriorConfig`](super::PriorConfig) (schema 1), TensorFlow's generator or a tensor in the
/// model (schema 3, tagged by `kind`).
#[derive(Clone, Debug, PartialEq)]
pub enum Priors {
    Grid(super::PriorConfig),
    Ssd(SsdAnchors),
    Tensor(AnchorTensor),
}

impl From<super::PriorConfig> for Priors {
    fn from(c: super::PriorConfig) -> Self {
        Priors::Grid(c)
    }
}

impl Priors {
    pub fn grid(&self) -> Option<&super::PriorConfig> {
        match self {
            Priors::Grid(c) => Some(c),
            _ => None,
        }
    }

    pub fn grid_mut(&mut self) -> Option<&mut super::PriorConfig> {
        match self {
            Priors::Grid(c) => Some(c),
            _ => None,
        }
    }

    /// The box count; for a tensor not yet read from its model, `None`.
    pub fn num_priors(&self) -> Option<usize> {
        match self {
            Priors::Grid(c) => Some(c.num_priors()),
            Priors::Ssd(a) => Some(a.num_priors()),
            Priors::Tensor(t) => t.boxes.as_ref().map(|b| b.len()),
        }
    }

    pub fn validate(&self) -> Result<(), SsdError> {
        match self {
            Priors::Grid(c) => c.validate(),
            Priors::Ssd(a) => a.validate(),
            Priors::Tensor(t) if t.name.is_empty() => Err(SsdError::InvalidPriorConfig(
                "the anchor tensor's name is empty".into(),
            )),
            Priors::Tensor(_) => Ok(()),
        }
    }

    /// The boxes in center form. A tensor must have been read from its model.
    pub fn generate(&self) -> Result<Vec<CenterBox>, SsdError> {
        match self {
            Priors::Grid(c) => Ok(c.generate()),
            Priors::Ssd(a) => Ok(a.generate()),
            Priors::Tensor(t) => t.boxes.as_ref().map(|b| b.to_vec()).ok_or_else(|| {
                SsdError::InvalidPriorConfig(format!(
                    "anchor tensor `{}` has not been read from the model",
                    t.name
                ))
            }),
        }
    }

    /// Whether these need schema version 3.
    pub fn needs_v3(&self) -> bool {
        !matches!(self, Priors::Grid(_))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum TaggedPriors {
    SsdAnchors(SsdAnchors),
    Tensor(AnchorTensor),
}

impl Serialize for Priors {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            // Untagged, so schema 1/2 files are written exactly as before.
            Priors::Grid(c) => c.serialize(s),
            Priors::Ssd(a) => TaggedPriors::SsdAnchors(a.clone()).serialize(s),
            Priors::Tensor(t) => TaggedPriors::Tensor(t.clone()).serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Priors {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // The grid form has no top-level `kind` (its `scales` table has one of its own).
        let v = serde_json::Value::deserialize(d)?;
        if v.get("kind").is_some() {
            match serde_json::from_value::<TaggedPriors>(v).map_err(D::Error::custom)? {
                TaggedPriors::SsdAnchors(a) => Ok(Priors::Ssd(a)),
                TaggedPriors::Tensor(t) => Ok(Priors::Tensor(t)),
            }
        } else {
            serde_json::from_value(v)
                .map(Priors::Grid)
                .map_err(D::Error::custom)
        }
    }
}

#[cfg(test)]
mod serde_tests {
    use super::*;

    #[test]
    fn priors_round_trip_in_every_form_and_grid_files_stay_untagged() {
        let grid = Priors::Grid(crate::ssd::PriorConfig::ssd300_voc());
        let json = serde_json::to_value(&grid).unwrap();
        assert!(json.get("kind").is_none() && json.get("feature_maps").is_some());
        let forms = [
            grid,
            Priors::Ssd(SsdAnchors::ssd_mobilenet_300()),
            Priors::Tensor(AnchorTensor {
                name: "anchors".into(),
                coords: AnchorCoords::Yxyx,
                boxes: None,
            }),
        ];
        for p in forms {
            let text = serde_json::to_string(&p).unwrap();
            let back: Priors = serde_json::from_str(&text).unwrap();
            assert_eq!(back, p, "{text}");
        }
        let err = serde_json::from_str::<Priors>(r#"{"kind": "cones"}"#).unwrap_err();
        assert!(err.to_string().contains("cones"), "{err}");
    }

    #[test]
    fn yxyx_anchors_become_centre_boxes() {
        let c = AnchorCoords::Yxyx.to_center([0.1, 0.2, 0.5, 0.4]);
        let want = [0.3, 0.3, 0.2, 0.4];
        assert!(
            c.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{c:?}"
        );
    }
}
