//! Default boxes ("priors"). One description covers the three forms in use: ssd.pytorch's
//! pixel sizes, the founding notes' linear formula and torchvision's explicit scale list.

use serde::{Deserialize, Serialize};

use super::{CenterBox, SsdError};

/// Upper bound on the prior count: a config comes from a user's model file, and a typo in a
/// feature map size must give an error, not an attempt to allocate gigabytes.
pub const MAX_PRIORS: usize = 1 << 22;

/// How the box scale of each feature map is chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PriorScales {
    /// ssd.pytorch / Caffe: sizes in pixels of the input; the extra square box is
    /// `sqrt(min * max)`.
    Pixels {
        min_sizes: Vec<f32>,
        max_sizes: Vec<f32>,
    },
    /// The paper's formula: `s_k = s_min + (s_max - s_min) / (m - 1) * (k - 1)`, the extra box
    /// `sqrt(s_k * s_(k+1))` with `s_(m+1)` the formula's next value.
    Linear { s_min: f32, s_max: f32 },
    /// torchvision: `m + 1` fractions; map k uses `scales[k]` and `sqrt(scales[k] * scales[k+1])`.
    Explicit { scales: Vec<f32> },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorConfig {
    /// Square input side in pixels.
    pub image_size: u32,
    /// Side of each source feature map, in order.
    pub feature_maps: Vec<usize>,
    /// Pixel stride per map; centres are `(j + 0.5) * step / image_size`. Without steps the
    /// notes' `(j + 0.5) / f` is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<f32>>,
    pub scales: PriorScales,
    /// Ratios besides 1 per map; each adds two boxes (a and 1/a).
    pub aspect_ratios: Vec<Vec<f32>>,
    /// Which prior coordinates are clamped to [0, 1]; `true`/`false` in files mean
    /// `corners`/`none`.
    pub clip: PriorClip,
}

/// The two published clamping conventions. They differ on the maps whose centres pass 1
/// (SSD300's 10x10 map: the last centre is 9.5 x 32 / 300 = 1.013).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriorClip {
    None,
    /// ssd.pytorch: all four of `[cx, cy, w, h]`.
    Corners,
    /// torchvision's `DefaultBoxGenerator(clip=True)`: width and height only.
    Size,
}

impl Serialize for PriorClip {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Booleans for the original two, so files written before `size` existed are unchanged.
        match self {
            PriorClip::None => s.serialize_bool(false),
            PriorClip::Corners => s.serialize_bool(true),
            PriorClip::Size => s.serialize_str("size"),
        }
    }
}

impl<'de> Deserialize<'de> for PriorClip {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Bool(bool),
            Name(String),
        }
        match Repr::deserialize(d)? {
            Repr::Bool(true) => Ok(PriorClip::Corners),
            Repr::Bool(false) => Ok(PriorClip::None),
            Repr::Name(n) => match n.as_str() {
                "none" => Ok(PriorClip::None),
                "corners" => Ok(PriorClip::Corners),
                "size" => Ok(PriorClip::Size),
                other => Err(serde::de::Error::custom(format!(
                    "clip `{other}`: expected true, false, \"none\", \"corners\" or \"size\""
                ))),
            },
        }
    }
}

const SSD300_MAPS: [usize; 6] = [38, 19, 10, 5, 3, 1];
const SSD300_STEPS: [f32; 6] = [8.0, 16.0, 32.0, 64.0, 100.0, 300.0];

fn ssd300_ratios() -> Vec<Vec<f32>> {
    vec![
        vec![2.0],
        vec![2.0, 3.0],
        vec![2.0, 3.0],
        vec![2.0, 3.0],
        vec![2.0],
        vec![2.0],
    ]
}

impl PriorConfig {
    /// ssd.pytorch's VOC SSD300 (`config.py` `voc`): 8732 priors.
    pub fn ssd300_voc() -> Self {
        Self {
            image_size: 300,
            feature_maps: SSD300_MAPS.to_vec(),
            steps: Some(SSD300_STEPS.to_vec()),
            scales: PriorScales::Pixels {
                min_sizes: vec![30.0, 60.0, 111.0, 162.0, 213.0, 264.0],
                max_sizes: vec![60.0, 111.0, 162.0, 213.0, 264.0, 315.0],
            },
            aspect_ratios: ssd300_ratios(),
            clip: PriorClip::Corners,
        }
    }

    /// The street-counting configuration of the shipped models: the SSD300 grid and box
    /// counts (8732), with smaller boxes so that distant people are matched at all. On VOC's
    /// boxes (smallest 30 px, aspect 2) no prior reaches IoU 0.5 with a person 24-32 px tall;
    /// here the 38x38 map starts at 20 px with tall 2.5:1 boxes (12.6 x 31.6 px).
    /// `ssd-train priors` prints the coverage table behind the numbers (models/README.md).
    pub fn ssd300_street() -> Self {
        let mut aspect_ratios = ssd300_ratios();
        aspect_ratios[0] = vec![2.5];
        Self {
            scales: PriorScales::Pixels {
                min_sizes: vec![20.0, 40.0, 80.0, 130.0, 190.0, 250.0],
                max_sizes: vec![40.0, 80.0, 130.0, 190.0, 250.0, 310.0],
            },
            aspect_ratios,
            ..Self::ssd300_voc()
        }
    }

    /// The names [`preset`](Self::preset) knows.
    pub const PRESETS: [&'static str; 5] = ["voc", "street", "notes", "torchvision", "ssdlite320"];

    /// A named configuration, one of [`PRESETS`](Self::PRESETS).
    pub fn preset(name: &str) -> Option<Self> {
        Some(match name {
            "voc" => Self::ssd300_voc(),
            "street" => Self::ssd300_street(),
            "notes" => Self::ssd300_notes(),
            "torchvision" => Self::ssd300_torchvision(),
            "ssdlite320" => Self::ssdlite320_torchvision(),
            _ => return None,
        })
    }

    /// The founding notes' formula (s_min 0.2, s_max 0.9, 6 maps), centres `(i + 0.5) / f`,
    /// unclipped so the table of the notes is reproduced as written.
    pub fn ssd300_notes() -> Self {
        Self {
            image_size: 300,
            feature_maps: SSD300_MAPS.to_vec(),
            steps: None,
            scales: PriorScales::Linear {
                s_min: 0.2,
                s_max: 0.9,
            },
            aspect_ratios: ssd300_ratios(),
            clip: PriorClip::None,
        }
    }

    /// torchvision's `ssd300_vgg16` default boxes (explicit scales, width and height clamped).
    pub fn ssd300_torchvision() -> Self {
        Self {
            image_size: 300,
            feature_maps: SSD300_MAPS.to_vec(),
            steps: Some(SSD300_STEPS.to_vec()),
            scales: PriorScales::Explicit {
                scales: vec![0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05],
            },
            aspect_ratios: ssd300_ratios(),
            clip: PriorClip::Size,
        }
    }

    /// torchvision's `ssdlite320_mobilenet_v3_large` default boxes: 320x320, maps 20 to 1
    /// without steps (centres `(j + 0.5) / f`), scales 0.2..0.95 then 1, ratios 2 and 3
    /// everywhere (3234 boxes).
    pub fn ssdlite320_torchvision() -> Self {
        let m = 6;
        let mut scales: Vec<f32> = (0..m)
            .map(|k| (0.2 + (0.95 - 0.2) * k as f64 / (m as f64 - 1.0)) as f32)
            .collect();
        scales.push(1.0);
        Self {
            image_size: 320,
            feature_maps: vec![20, 10, 5, 3, 2, 1],
            steps: None,
            scales: PriorScales::Explicit { scales },
            aspect_ratios: vec![vec![2.0, 3.0]; m],
            clip: PriorClip::Size,
        }
    }

    /// Boxes per cell of each map: 2 squares plus 2 per extra aspect ratio.
    pub fn boxes_per_cell(&self) -> Vec<usize> {
        self.aspect_ratios.iter().map(|r| 2 + 2 * r.len()).collect()
    }

    pub fn num_priors(&self) -> usize {
        self.feature_maps
            .iter()
            .zip(self.boxes_per_cell())
            .map(|(f, k)| f * f * k)
            .sum()
    }

    /// `(s_k, s'_k)` per map as fractions of the image: the square box and the extra one.
    pub fn map_scales(&self) -> Vec<(f32, f32)> {
        self.scales_f64()
            .into_iter()
            .map(|(s, e)| (s as f32, e as f32))
            .collect()
    }

    // Computed in f64 like ssd.pytorch's Python floats, rounded to f32 once at the end.
    fn scales_f64(&self) -> Vec<(f64, f64)> {
        let m = self.feature_maps.len();
        let img = f64::from(self.image_size);
        match &self.scales {
            PriorScales::Pixels {
                min_sizes,
                max_sizes,
            } => min_sizes
                .iter()
                .zip(max_sizes)
                .map(|(&lo, &hi)| {
                    let s = f64::from(lo) / img;
                    (s, (s * (f64::from(hi) / img)).sqrt())
                })
                .collect(),
            PriorScales::Linear { s_min, s_max } => {
                let (lo, hi) = (f64::from(*s_min), f64::from(*s_max));
                let step = (hi - lo) / (m as f64 - 1.0);
                let s = |k: usize| lo + step * k as f64;
                (0..m).map(|k| (s(k), (s(k) * s(k + 1)).sqrt())).collect()
            }
            PriorScales::Explicit { scales } => scales
                .windows(2)
                .map(|w| {
                    let (a, b) = (f64::from(w[0]), f64::from(w[1]));
                    (a, (a * b).sqrt())
                })
                .collect(),
        }
    }

    /// All priors, `[cx, cy, w, h]`, ordered by map, row, column, box (ssd.pytorch's order,
    /// which is the NHWC order of the heads' outputs). Call [`validate`](Self::validate) first
    /// on configs from outside; an invalid config yields an unspecified (but finite-size) list.
    pub fn generate(&self) -> Vec<CenterBox> {
        let img = f64::from(self.image_size);
        let scales = self.scales_f64();
        let mut out = Vec::with_capacity(self.num_priors().min(MAX_PRIORS));
        for (k, &f) in self.feature_maps.iter().enumerate() {
            let Some(&(s, extra)) = scales.get(k) else {
                break;
            };
            // Centre spacing in units of the image: step / image_size, or 1 / f.
            let f_k = match &self.steps {
                Some(steps) => img / f64::from(steps.get(k).copied().unwrap_or(1.0)),
                None => f as f64,
            };
            let mut sizes = vec![(s, s), (extra, extra)];
            for &a in self.aspect_ratios.get(k).map(Vec::as_slice).unwrap_or(&[]) {
                let r = f64::from(a).sqrt();
                sizes.push((s * r, s / r));
                sizes.push((s / r, s * r));
            }
            for i in 0..f {
                let cy = (i as f64 + 0.5) / f_k;
                for j in 0..f {
                    let cx = (j as f64 + 0.5) / f_k;
                    for &(w, h) in &sizes {
                        if out.len() >= MAX_PRIORS {
                            return out;
                        }
                        out.push(self.finish([cx, cy, w, h]));
                    }
                }
            }
        }
        out
    }

    fn finish(&self, b: [f64; 4]) -> CenterBox {
        let b = b.map(|v| v as f32);
        let c = |v: f32| v.clamp(0.0, 1.0);
        match self.clip {
            PriorClip::None => b,
            PriorClip::Corners => b.map(c),
            PriorClip::Size => [b[0], b[1], c(b[2]), c(b[3])],
        }
    }

    /// Checks everything [`generate`](Self::generate) relies on.
    pub fn validate(&self) -> Result<(), SsdError> {
        let bad = |msg: String| Err(SsdError::InvalidPriorConfig(msg));
        let m = self.feature_maps.len();
        if self.image_size == 0 {
            return bad("image_size must be positive".into());
        }
        if m == 0 {
            return bad("feature_maps is empty".into());
        }
        if let Some(i) = self.feature_maps.iter().position(|&f| f == 0) {
            return bad(format!("feature_maps[{i}] is 0"));
        }
        if self.aspect_ratios.len() != m {
            return bad(format!(
                "aspect_ratios has {} entries for {m} feature maps",
                self.aspect_ratios.len()
            ));
        }
        for (k, ratios) in self.aspect_ratios.iter().enumerate() {
            check_positive(&format!("aspect_ratios[{k}]"), ratios)?;
        }
        if let Some(steps) = &self.steps {
            check_len("steps", steps.len(), m)?;
            check_positive("steps", steps)?;
        }
        match &self.scales {
            PriorScales::Pixels {
                min_sizes,
                max_sizes,
            } => {
                check_len("min_sizes", min_sizes.len(), m)?;
                check_len("max_sizes", max_sizes.len(), m)?;
                check_positive("min_sizes", min_sizes)?;
                check_positive("max_sizes", max_sizes)?;
            }
            PriorScales::Linear { s_min, s_max } => {
                check_positive("s_min/s_max", &[*s_min, *s_max])?;
                if s_min > s_max {
                    return bad(format!("s_min {s_min} is above s_max {s_max}"));
                }
                if m < 2 {
                    return bad("the linear scale formula needs at least 2 feature maps".into());
                }
            }
            PriorScales::Explicit { scales } => {
                check_len("scales", scales.len(), m + 1)?;
                check_positive("scales", scales)?;
            }
        }
        let mut total = 0usize;
        for (f, k) in self.feature_maps.iter().zip(self.boxes_per_cell()) {
            total = f
                .checked_mul(*f)
                .and_then(|c| c.checked_mul(k))
                .and_then(|n| n.checked_add(total))
                .filter(|&n| n <= MAX_PRIORS)
                .ok_or_else(|| {
                    SsdError::InvalidPriorConfig(format!("more than {MAX_PRIORS} priors"))
                })?;
        }
        Ok(())
    }
}

fn check_len(name: &str, len: usize, want: usize) -> Result<(), SsdError> {
    if len == want {
        Ok(())
    } else {
        Err(SsdError::InvalidPriorConfig(format!(
            "{name} has {len} entries, expected {want}"
        )))
    }
}

fn check_positive(name: &str, values: &[f32]) -> Result<(), SsdError> {
    match values.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
        None => Ok(()),
        Some(v) => Err(SsdError::InvalidPriorConfig(format!(
            "{name} contains {v}, expected finite positive values"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn street_keeps_the_ssd300_layout_and_matches_distant_people() {
        let (voc, street) = (PriorConfig::ssd300_voc(), PriorConfig::ssd300_street());
        street.validate().unwrap();
        assert_eq!(street.num_priors(), 8732);
        // same boxes per cell: the heads, and so the exported graph, keep their shapes
        assert_eq!(street.boxes_per_cell(), voc.boxes_per_cell());
        assert_eq!(PriorConfig::preset("street"), Some(street.clone()));
        assert_eq!(PriorConfig::preset("vgg"), None);
        // a person 11 x 28 px at every half-pixel offset across one stride of the 38x38 map
        let best = |cfg: &PriorConfig, x0: f32| {
            let person = [x0 / 300.0, 0.4, (x0 + 11.0) / 300.0, 0.4 + 28.0 / 300.0];
            cfg.generate()
                .iter()
                .map(|p| crate::ssd::iou(&crate::ssd::center_to_corner(p), &person))
                .fold(0.0f32, f32::max)
        };
        let offsets: Vec<f32> = (0..16).map(|k| 100.0 + k as f32 * 0.5).collect();
        let matched = |cfg: &PriorConfig| offsets.iter().filter(|&&x| best(cfg, x) >= 0.5).count();
        assert_eq!(matched(&voc), 0);
        assert!(matched(&street) >= 10, "{} of 16", matched(&street));
    }

    #[test]
    fn clip_reads_booleans_and_names_and_writes_booleans_where_it_can() {
        let read = |v: &str| serde_json::from_str::<PriorClip>(v);
        assert_eq!(read("true").unwrap(), PriorClip::Corners);
        assert_eq!(read("false").unwrap(), PriorClip::None);
        assert_eq!(read("\"size\"").unwrap(), PriorClip::Size);
        assert_eq!(read("\"corners\"").unwrap(), PriorClip::Corners);
        let e = read("\"centres\"").unwrap_err().to_string();
        assert!(e.contains("centres") && e.contains("size"), "{e}");
        let write = |c: PriorClip| serde_json::to_string(&c).unwrap();
        assert_eq!(write(PriorClip::Corners), "true");
        assert_eq!(write(PriorClip::None), "false");
        assert_eq!(write(PriorClip::Size), "\"size\"");
    }

    #[test]
    fn size_clip_leaves_centres_past_the_image_alone() {
        // SSD300's 10x10 map has step 32: its last centre is 9.5 * 32 / 300 > 1.
        let mut cfg = PriorConfig::ssd300_torchvision();
        let size = cfg.generate();
        cfg.clip = PriorClip::Corners;
        let corners = cfg.generate();
        let offset: usize = (38 * 38 * 4) + (19 * 19 * 6);
        let last_cell = offset + (10 * 10 - 1) * 6;
        assert!((size[last_cell][0] - 9.5 * 32.0 / 300.0).abs() < 1e-6);
        assert_eq!(corners[last_cell][0], 1.0);
        assert!(size.iter().all(|b| b[2] <= 1.0 && b[3] <= 1.0));
        assert!(size.iter().any(|b| b[0] > 1.0));
    }

    #[test]
    fn ssdlite320_has_torchvisions_3234_boxes() {
        let cfg = PriorConfig::ssdlite320_torchvision();
        cfg.validate().unwrap();
        assert_eq!(cfg.num_priors(), 3234);
        let (s0, e0) = cfg.map_scales()[0];
        assert!((s0 - 0.2).abs() < 1e-7 && (e0 - (0.2f32 * 0.35).sqrt()).abs() < 1e-6);
    }
}
