//! Small float ONNX models and calibration images with fixed contents, for the quantizer's
//! tests and for trying the tool without a trained model. The models carry `ssd_edge.*`
//! metadata like an exported model does.

use super::micro::value_info;
use ssd_core::synth::Rng;
use ssd_model::model::onnx_builder::{attr, node, tensor_f32};
use std::path::Path;
use tract_onnx::pb::{
    tensor_proto::DataType, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto,
};

/// Weights are uniform in [-1, 1) from the project's one RNG (`ssd_core::synth::Rng`).
struct Builder {
    rng: Rng,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    n: usize,
}

impl Builder {
    fn new(seed: u64) -> Self {
        Builder {
            rng: Rng::new(seed),
            nodes: vec![],
            inits: vec![],
            n: 0,
        }
    }

    fn fresh(&mut self, p: &str) -> String {
        self.n += 1;
        format!("{p}{}", self.n)
    }

    /// Conv with He-scaled weights; `dw` makes it depthwise (group = channels).
    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        name: &str,
        x: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        dw: bool,
    ) -> String {
        let per = if dw { k * k } else { cin * k * k };
        let amp = (6.0 / per as f32).sqrt();
        let w: Vec<f32> = (0..cout * per)
            .map(|_| self.rng.range_f32(-1.0, 1.0) * amp)
            .collect();
        let b: Vec<f32> = (0..cout)
            .map(|_| self.rng.range_f32(-1.0, 1.0) * 0.1)
            .collect();
        let wn = format!("{name}.weight");
        let bn = format!("{name}.bias");
        let dims = [
            cout as i64,
            if dw { 1 } else { cin as i64 },
            k as i64,
            k as i64,
        ];
        self.inits.push(tensor_f32(&wn, &dims, &w));
        self.inits.push(tensor_f32(&bn, &[cout as i64], &b));
        let out = format!("{name}_out");
        let mut n = node("Conv", name, &[x, &wn, &bn], &[&out]);
        let p = (k / 2) as i64;
        n.attribute = vec![
            attr::ints("kernel_shape", &[k as i64, k as i64]),
            attr::ints("strides", &[stride as i64, stride as i64]),
            attr::ints("pads", &[p, p, p, p]),
            attr::ints("dilations", &[1, 1]),
            attr::int("group", if dw { cin as i64 } else { 1 }),
        ];
        self.nodes.push(n);
        out
    }

    fn relu(&mut self, x: &str) -> String {
        let y = self.fresh("relu");
        self.nodes.push(node("Relu", &y, &[x], &[&y]));
        y
    }

    fn relu6(&mut self, x: &str) -> String {
        let y = self.fresh("clip");
        let (lo, hi) = (format!("{y}.min"), format!("{y}.max"));
        self.inits.push(tensor_f32(&lo, &[], &[0.0]));
        self.inits.push(tensor_f32(&hi, &[], &[6.0]));
        self.nodes.push(node("Clip", &y, &[x, &lo, &hi], &[&y]));
        y
    }

    fn max_pool(&mut self, x: &str) -> String {
        let y = self.fresh("pool");
        let mut n = node("MaxPool", &y, &[x], &[&y]);
        n.attribute = vec![
            attr::ints("kernel_shape", &[2, 2]),
            attr::ints("strides", &[2, 2]),
        ];
        self.nodes.push(n);
        y
    }

    /// NCHW head output -> [1, H*W*A, per].
    fn flatten_head(&mut self, x: &str, per: i64) -> String {
        let t = self.fresh("transpose");
        let mut n = node("Transpose", &t, &[x], &[&t]);
        n.attribute = vec![attr::ints("perm", &[0, 2, 3, 1])];
        self.nodes.push(n);
        let shape = self.fresh("shape");
        self.inits.push(TensorProto {
            name: shape.clone(),
            dims: vec![3],
            data_type: DataType::Int64 as i32,
            int64_data: vec![1, -1, per],
            ..Default::default()
        });
        let r = self.fresh("reshape");
        self.nodes.push(node("Reshape", &r, &[&t, &shape], &[&r]));
        r
    }

    fn concat(&mut self, xs: &[String], out: &str) {
        let refs: Vec<&str> = xs.iter().map(|s| s.as_str()).collect();
        let mut n = node("Concat", out, &refs, &[out]);
        n.attribute = vec![attr::int("axis", 1)];
        self.nodes.push(n);
    }

    fn finish(self, size: usize, outputs: Vec<(&str, Vec<usize>)>) -> ModelProto {
        let mut model = ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            producer_name: "ssd-train quant fixtures".into(),
            graph: Some(GraphProto {
                name: "fixture".into(),
                node: self.nodes,
                initializer: self.inits,
                input: vec![value_info("image", DataType::Float, &[1, 3, size, size])],
                output: outputs
                    .iter()
                    .map(|(n, s)| value_info(n, DataType::Float, s))
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let input = serde_json::json!({
            "width": size, "height": size, "channel_order": "RGB",
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "scale": 1.0 / 255.0
        });
        for (k, v) in [
            ("ssd_edge.input", input.to_string()),
            ("ssd_edge.conf_kind", "\"logits\"".to_string()),
            (
                "ssd_edge.outputs",
                r#"{"loc":"loc","conf":"conf"}"#.to_string(),
            ),
            ("ssd_edge.architecture", "\"fixture\"".to_string()),
            ("fixture.note", "kept as is".to_string()),
        ] {
            model.metadata_props.push(StringStringEntryProto {
                key: k.into(),
                value: v,
            });
        }
        model
    }
}

/// One 3x3 convolution 3 -> 8 with bias and no activation on a 1x3x16x16 input, output
/// `conf` [1, 8, 16, 16]: small enough to bound its int8 error element by element.
pub fn single_conv() -> ModelProto {
    let mut b = Builder::new(3);
    // The conv's own output becomes the graph output.
    b.conv("conv", "image", 3, 8, 3, 1, false);
    b.nodes.last_mut().unwrap().output[0] = "conf".into();
    b.finish(16, vec![("conf", vec![1, 8, 16, 16])])
}

/// Plain 3x3 convolutions (ReLU, ReLU6, stride 2, a linear 1x1 last layer), input 1x3x32x32,
/// output `conf` [1, 256, 4] flattened like a head.
pub fn conv_net() -> ModelProto {
    let mut b = Builder::new(7);
    let x = b.conv("conv1", "image", 3, 8, 3, 1, false);
    let x = b.relu(&x);
    let x = b.conv("conv2", &x, 8, 16, 3, 2, false);
    let x = b.relu(&x);
    let x = b.conv("conv3", &x, 16, 16, 3, 1, false);
    let x = b.relu6(&x);
    let x = b.conv("conv4", &x, 16, 4, 1, 1, false);
    let y = b.flatten_head(&x, 4);
    b.concat(&[y], "conf");
    b.finish(32, vec![("conf", vec![1, 256, 4])])
}

/// Number of classes (with background) of [`ssd_like`].
pub const SSD_CLASSES: usize = 3;
/// Priors of [`ssd_like`]: 2 boxes per cell on 16x16 and 8x8 maps.
pub const SSD_PRIORS: usize = 2 * (16 * 16 + 8 * 8);

/// An SSD-shaped mobile network on a 64x64 input: a stem conv, depthwise-separable blocks, a
/// max pool, an extra layer, loc/conf heads on two maps, Transpose/Reshape/Concat into
/// loc [1, 640, 4] and conf [1, 640, 3].
pub fn ssd_like() -> ModelProto {
    let mut b = Builder::new(11);
    let x = b.conv("stem", "image", 3, 16, 3, 2, false); // 32x32
    let x = b.relu(&x);
    let x = b.conv("dw1", &x, 16, 16, 3, 1, true);
    let x = b.relu6(&x);
    let x = b.conv("pw1", &x, 16, 32, 1, 1, false);
    let x = b.relu6(&x);
    let x = b.max_pool(&x); // 16x16
    let x = b.conv("dw2", &x, 32, 32, 3, 1, true);
    let x = b.relu(&x);
    let map1 = b.conv("pw2", &x, 32, 32, 1, 1, false);
    let map1 = b.relu(&map1);
    let extra = b.conv("extra1", &map1, 32, 32, 3, 2, false); // 8x8
    let map2 = b.relu(&extra);
    let a = 2;
    let mut locs = vec![];
    let mut confs = vec![];
    for (i, m) in [map1, map2].iter().enumerate() {
        let l = b.conv(&format!("loc{i}"), m, 32, a * 4, 3, 1, false);
        locs.push(b.flatten_head(&l, 4));
        let c = b.conv(&format!("conf{i}"), m, 32, a * SSD_CLASSES, 3, 1, false);
        confs.push(b.flatten_head(&c, SSD_CLASSES as i64));
    }
    b.concat(&locs, "loc");
    b.concat(&confs, "conf");
    b.finish(
        64,
        vec![
            ("loc", vec![1, SSD_PRIORS, 4]),
            ("conf", vec![1, SSD_PRIORS, SSD_CLASSES]),
        ],
    )
}

/// Writes `n` PNG scenes (gradient background, a few filled rectangles and discs) of
/// `size`x`size` into `dir`.
pub fn write_calib_images(dir: &Path, n: usize, size: u32) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut signed = || rng.range_f32(-1.0, 1.0);
    for i in 0..n {
        let mut img = image::RgbImage::new(size, size);
        let base: [f32; 3] = [signed(), signed(), signed()].map(|v| 100.0 + 80.0 * v);
        for (x, y, p) in img.enumerate_pixels_mut() {
            let g = (x + y) as f32 / (2 * size) as f32 * 60.0;
            *p = image::Rgb(base.map(|b| (b + g).clamp(0.0, 255.0) as u8));
        }
        for _ in 0..4 {
            let color = [signed(), signed(), signed()].map(|v| (127.5 + 127.5 * v) as u8);
            let cx = (signed() * 0.5 + 0.5) * size as f32;
            let cy = (signed() * 0.5 + 0.5) * size as f32;
            let r = (signed() * 0.5 + 0.6) * size as f32 / 5.0;
            let disc = signed() > 0.0;
            for (x, y, p) in img.enumerate_pixels_mut() {
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                let inside = if disc {
                    dx * dx + dy * dy < r * r
                } else {
                    dx.abs() < r && dy.abs() < r * 0.6
                };
                if inside {
                    *p = image::Rgb(color);
                }
            }
        }
        img.save(dir.join(format!("{i:04}.png")))
            .map_err(std::io::Error::other)?;
    }
    Ok(())
}

/// Classes (with background) of [`mobile_ssd300`].
pub const MOBILE_CLASSES: usize = 4;

/// A MobileNet-v1-style SSD300 with random weights (stem, 13 depthwise-separable blocks, SSD
/// extras, 3x3 heads on 19/10/5/3/2/1 maps with 3/6/6/6/6/6 boxes: 1917 priors): the layer
/// shapes of a board model, for timing and trying the quantizer before a trained model exists.
pub fn mobile_ssd300() -> ModelProto {
    let mut b = Builder::new(23);
    let mut x = b.conv("stem", "image", 3, 32, 3, 2, false);
    x = b.relu6(&x);
    let blocks = ssd_model::netspec::MOBILENET_V1_BLOCKS;
    let mut cin = 32;
    let mut maps = vec![];
    for (i, (cout, s)) in blocks.iter().enumerate() {
        x = b.conv(&format!("dw{}", i + 1), &x, cin, cin, 3, *s, true);
        x = b.relu6(&x);
        x = b.conv(&format!("pw{}", i + 1), &x, cin, *cout, 1, 1, false);
        x = b.relu6(&x);
        cin = *cout;
        if i == 10 || i == 12 {
            maps.push((x.clone(), cin));
        }
    }
    for (i, (mid, out)) in [(256, 512), (128, 256), (128, 256), (64, 128)]
        .iter()
        .enumerate()
    {
        x = b.conv(&format!("extra{}_1", i + 1), &x, cin, *mid, 1, 1, false);
        x = b.relu(&x);
        x = b.conv(&format!("extra{}_2", i + 1), &x, *mid, *out, 3, 2, false);
        x = b.relu(&x);
        cin = *out;
        maps.push((x.clone(), cin));
    }
    let boxes = [3, 6, 6, 6, 6, 6];
    let (mut locs, mut confs) = (vec![], vec![]);
    for (i, ((m, c), a)) in maps.iter().zip(boxes).enumerate() {
        let l = b.conv(&format!("loc{i}"), m, *c, a * 4, 3, 1, false);
        locs.push(b.flatten_head(&l, 4));
        let k = b.conv(&format!("conf{i}"), m, *c, a * MOBILE_CLASSES, 3, 1, false);
        confs.push(b.flatten_head(&k, MOBILE_CLASSES as i64));
    }
    b.concat(&locs, "loc");
    b.concat(&confs, "conf");
    b.finish(
        300,
        vec![
            ("loc", vec![1, 1917, 4]),
            ("conf", vec![1, 1917, MOBILE_CLASSES]),
        ],
    )
}

/// Eight 3x3 convolutions with ReLU (64 -> 128 channels, two max pools) on 1x3x300x300 and a
/// 3x3 head: the "plain conv net" of the baseline table.
pub fn plain_net300() -> ModelProto {
    let mut b = Builder::new(29);
    let mut x = "image".to_string();
    let mut cin = 3;
    for (i, cout) in [32, 32, 64, 64, 64, 128, 128, 128].iter().enumerate() {
        x = b.conv(&format!("conv{}", i + 1), &x, cin, *cout, 3, 1, false);
        x = b.relu(&x);
        if i == 1 || i == 4 {
            x = b.max_pool(&x);
        }
        cin = *cout;
    }
    let c = b.conv("head", &x, cin, 4, 3, 1, false);
    let c = b.flatten_head(&c, 4);
    b.concat(&[c], "conf");
    b.finish(300, vec![("conf", vec![1, 75 * 75, 4])])
}

/// Writes a named fixture model (`conv`, `ssd`, `mobile-ssd300`, `plain300`) to `model` and
/// `images` calibration images of its input size into `calib`.
pub fn write_fixture(name: &str, model: &Path, calib: &Path, images: usize) -> Result<(), String> {
    let (m, size) = match name {
        "conv" => (conv_net(), 32),
        "ssd" => (ssd_like(), 64),
        "mobile-ssd300" => (mobile_ssd300(), 300),
        "plain300" => (plain_net300(), 300),
        other => {
            return Err(format!(
                "unknown fixture {other:?} (conv, ssd, mobile-ssd300, plain300)"
            ))
        }
    };
    use prost::Message;
    if let Some(dir) = model.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(model, m.encode_to_vec()).map_err(|e| format!("{}: {e}", model.display()))?;
    write_calib_images(calib, images, size).map_err(|e| format!("{}: {e}", calib.display()))
}
