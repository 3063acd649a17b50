//! Test helpers: a tiny SSD with fixed weights, built as a real ONNX file and run by tract.
//!
//! The model sees a 300x300 RGB input (scale 1/255, no mean/std), averages each 100x100 cell
//! (AveragePool 100/100 -> 3x3 map), and a 1x1 conv turns each cell's mean colour into class
//! logits. Priors: one 3x3 map, step 100 px, min size 60 px, max size 120 px, no extra
//! ratios, so 2 boxes per cell and P = 18. For box 0 of each cell:
//!   background = 2, red = 10 (r - g - b), green = 10 (g - r - b)
//! Box 1 (the extra square) always says background (logit 10). Box offsets are all zero, so
//! a detection's box is exactly its prior: a red cell (row i, col j) yields "red" with score
//! ~0.9997 at the box centred on the cell, 60 px (of the 300 px input) wide.
#![allow(dead_code)]

use ssd_core::ssd::{ConfKind, NmsConfig, PriorConfig, PriorScales, Variances};
use ssd_model::model::onnx_builder::{Dim, GraphBuilder, ModelBuilder, PoolParams};
use ssd_model::model::{ChannelOrder, InputSpec, ModelMeta, OutputNames, Provenance};
use std::path::{Path, PathBuf};

pub const LABELS: [&str; 3] = ["background", "red", "green"];
pub const CELL: u32 = 100;
pub const SIZE: u32 = 300;
/// Prior box 0 side, in pixels of the 300x300 input.
pub const BOX: f32 = 60.0;

pub fn tiny_priors() -> PriorConfig {
    PriorConfig {
        image_size: SIZE,
        feature_maps: vec![3],
        steps: Some(vec![CELL as f32]),
        scales: PriorScales::Pixels {
            min_sizes: vec![BOX],
            max_sizes: vec![2.0 * BOX],
        },
        aspect_ratios: vec![vec![]],
        clip: ssd_core::ssd::PriorClip::Corners,
    }
}

pub fn tiny_meta() -> ModelMeta {
    ModelMeta {
        schema_version: ssd_model::model::meta::SCHEMA_VERSION,
        architecture: "tiny-colour-ssd".into(),
        labels: LABELS.iter().map(|s| s.to_string()).collect(),
        input: InputSpec {
            width: SIZE,
            height: SIZE,
            channel_order: ChannelOrder::Rgb,
            mean: [0.0; 3],
            std: [1.0; 3],
            scale: 1.0 / 255.0,
            resize: Default::default(),
        },
        priors: tiny_priors().into(),
        variances: Variances::default(),
        decode: Default::default(),
        conf_kind: ConfKind::Logits,
        outputs: OutputNames {
            loc: Some("loc".into()),
            conf: Some("conf".into()),
        },
        nms: NmsConfig::default(),
        detection_threshold: 0.5,
        provenance: Provenance {
            dataset: Some("none (fixed weights)".into()),
            command: Some("tests/support".into()),
            ..Default::default()
        },
    }
}

/// Graph options, so tests can build broken variants of the same model.
pub struct Tiny {
    pub meta: Option<ModelMeta>,
    pub input_dims: Vec<Dim>,
    /// Also expose the pooled map as a third output.
    pub extra_output: bool,
    /// Output names (loc, conf).
    pub names: (&'static str, &'static str),
    /// Raw metadata_props, written instead of `meta`'s when set.
    pub props: Option<Vec<(String, String)>>,
}

impl Default for Tiny {
    fn default() -> Self {
        Tiny {
            meta: Some(tiny_meta()),
            input_dims: [1, 3, SIZE as i64, SIZE as i64].map(Dim::Fixed).to_vec(),
            extra_output: false,
            names: ("loc", "conf"),
            props: None,
        }
    }
}

impl Tiny {
    pub fn build(&self) -> Vec<u8> {
        let mut g = GraphBuilder::new("tiny_ssd");
        let x = g.input_f32("image", &self.input_dims);
        let pooled = g.average_pool(&x, &PoolParams::new(CELL as i64, CELL as i64));

        // conf: 2 boxes x 3 classes; channel = box * 3 + class (the NHWC head layout).
        #[rustfmt::skip]
        let w: [f32; 18] = [
            0.0, 0.0, 0.0,      // box 0 background
            10.0, -10.0, -10.0, // box 0 red
            -10.0, 10.0, -10.0, // box 0 green
            0.0, 0.0, 0.0,      // box 1 background
            0.0, 0.0, 0.0,      // box 1 red
            0.0, 0.0, 0.0,      // box 1 green
        ];
        let b = [2.0, 0.0, 0.0, 10.0, 0.0, 0.0];
        let cw = g.initializer_f32("conf_w", &[6, 3, 1, 1], &w);
        let cb = g.initializer_f32("conf_b", &[6], &b);
        let conf = g.conv(
            &pooled,
            &cw,
            Some(&cb),
            &ssd_model::model::onnx_builder::ConvParams::valid(1),
        );
        let conf = g.transpose(&conf, &[0, 2, 3, 1]);
        g.reshape(&conf, &[1, -1, 3]);
        let conf = g.rename_last_output(self.names.1);

        let lw = g.initializer_f32("loc_w", &[8, 3, 1, 1], &[0.0; 24]);
        let lb = g.initializer_f32("loc_b", &[8], &[0.0; 8]);
        let loc = g.conv(
            &pooled,
            &lw,
            Some(&lb),
            &ssd_model::model::onnx_builder::ConvParams::valid(1),
        );
        let loc = g.transpose(&loc, &[0, 2, 3, 1]);
        g.reshape(&loc, &[1, -1, 4]);
        let loc = g.rename_last_output(self.names.0);

        g.output_f32(&loc, &[]);
        g.output_f32(&conf, &[]);
        if self.extra_output {
            g.output_f32(&pooled, &[]);
        }
        let mut m = ModelBuilder::new(g.build());
        if let Some(props) = &self.props {
            m = m.metadata(props.clone());
        } else if let Some(meta) = &self.meta {
            m = m.metadata(meta.to_metadata_props());
        }
        m.encode()
    }

    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.build()).unwrap();
        path
    }
}

/// The default tiny model, with metadata.
pub fn tiny_model_bytes() -> Vec<u8> {
    Tiny::default().build()
}

/// A grey image with solid squares: (x0, y0, x1, y1, rgb) in pixels, end exclusive.
pub fn image_with(
    width: u32,
    height: u32,
    rects: &[(u32, u32, u32, u32, [u8; 3])],
) -> image::RgbImage {
    let mut img = image::RgbImage::from_pixel(width, height, image::Rgb([128, 128, 128]));
    for &(x0, y0, x1, y1, c) in rects {
        for y in y0..y1.min(height) {
            for x in x0..x1.min(width) {
                img.put_pixel(x, y, image::Rgb(c));
            }
        }
    }
    img
}

/// Expected pixel box of prior box 0 of cell (row, col) in an image of the given size.
pub fn cell_box(row: u32, col: u32, width: u32, height: u32) -> [f32; 4] {
    let sx = width as f32 / SIZE as f32;
    let sy = height as f32 / SIZE as f32;
    let cx = (col * CELL + CELL / 2) as f32;
    let cy = (row * CELL + CELL / 2) as f32;
    [
        (cx - BOX / 2.0) * sx,
        (cy - BOX / 2.0) * sy,
        (cx + BOX / 2.0) * sx,
        (cy + BOX / 2.0) * sy,
    ]
}

pub fn assert_box_near(got: &[f32], want: &[f32; 4], tol: f32) {
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= tol,
            "box {got:?} differs from {want:?} by more than {tol}"
        );
    }
}
