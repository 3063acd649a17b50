use super::*;

#[test]
fn f16_decodes_exactly() {
    assert_eq!(f16_to_f32(0x3c00), 1.0);
    assert_eq!(f16_to_f32(0xc000), -2.0);
    assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
    assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
    assert_eq!(f16_to_f32(0x8001), -(2f32.powi(-24)));
    assert_eq!(f16_to_f32(0x7bff), 65504.0);
    assert!(f16_to_f32(0x7c00).is_infinite());
    assert!(f16_to_f32(0x7e00).is_nan());
    assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
}

// ---- A tiny FlatBuffers writer, to build TFLite models field by field in tests. ----

enum F {
    U8(u8),
    I32(i32),
    U32(u32),
    Str(String),
    I32s(Vec<i32>),
    Bytes(Vec<u8>),
    Table(T),
    Tables(Vec<T>),
}

/// A table: (field id, value) pairs.
#[derive(Default)]
struct T(Vec<(usize, F)>);

impl T {
    fn f(mut self, slot: usize, v: F) -> Self {
        self.0.push((slot, v));
        self
    }
}

fn align(out: &mut Vec<u8>, n: usize) {
    while !out.len().is_multiple_of(n) {
        out.push(0);
    }
}

fn patch(out: &mut [u8], at: usize, target: usize) {
    out[at..at + 4].copy_from_slice(&((target - at) as u32).to_le_bytes());
}

fn write_vec(out: &mut Vec<u8>, n: usize, data: &[u8], nul: bool) -> usize {
    align(out, 4);
    let pos = out.len();
    out.extend((n as u32).to_le_bytes());
    out.extend(data);
    if nul {
        out.push(0);
    }
    pos
}

/// Vtable, then the table (4 bytes a field), then its children; returns the table's position.
fn write_table(out: &mut Vec<u8>, t: &T) -> usize {
    let nslots = t.0.iter().map(|(s, _)| s + 1).max().unwrap_or(0);
    align(out, 4);
    let vt = out.len();
    out.extend(((4 + 2 * nslots) as u16).to_le_bytes());
    out.extend(((4 + 4 * t.0.len()) as u16).to_le_bytes());
    let mut offs = vec![0u16; nslots];
    for (k, (s, _)) in t.0.iter().enumerate() {
        offs[*s] = (4 + 4 * k) as u16;
    }
    for o in offs {
        out.extend(o.to_le_bytes());
    }
    align(out, 4);
    let tp = out.len();
    out.extend(((tp - vt) as i32).to_le_bytes());
    let mut later = Vec::new();
    for (_, f) in &t.0 {
        let at = out.len();
        match f {
            F::U8(v) => out.extend([*v, 0, 0, 0]),
            F::I32(v) => out.extend(v.to_le_bytes()),
            F::U32(v) => out.extend(v.to_le_bytes()),
            _ => {
                out.extend([0; 4]);
                later.push((at, f));
            }
        }
    }
    for (at, f) in later {
        let target = match f {
            F::Str(s) => write_vec(out, s.len(), s.as_bytes(), true),
            F::I32s(v) => {
                let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                write_vec(out, v.len(), &b, false)
            }
            F::Bytes(b) => write_vec(out, b.len(), b, false),
            F::Table(t) => write_table(out, t),
            F::Tables(ts) => {
                let pos = write_vec(out, ts.len(), &vec![0; 4 * ts.len()], false);
                for (i, t) in ts.iter().enumerate() {
                    let child = write_table(out, t);
                    patch(out, pos + 4 + 4 * i, child);
                }
                pos
            }
            _ => unreachable!(),
        };
        patch(out, at, target);
    }
    tp
}

fn finish(root: &T) -> Vec<u8> {
    let mut out = vec![0u8; 8];
    out[4..8].copy_from_slice(b"TFL3");
    let pos = write_table(&mut out, root);
    patch(&mut out, 0, pos);
    out
}

const FLOAT32: u8 = 0;
const FLOAT16: u8 = 1;
const INT32: u8 = 2;
const INT8: u8 = 9;

/// A model under construction: tensors, buffers, operator codes, operators.
#[derive(Default)]
struct M {
    tensors: Vec<T>,
    buffers: Vec<Vec<u8>>,
    codes: Vec<T>,
    ops: Vec<T>,
}

impl M {
    fn new() -> Self {
        M {
            buffers: vec![vec![]],
            ..Default::default()
        }
    }
    fn tensor(&mut self, name: &str, shape: &[i32], ty: u8, data: Option<Vec<u8>>) -> i32 {
        let mut t = T::default()
            .f(0, F::I32s(shape.to_vec()))
            .f(1, F::U8(ty))
            .f(3, F::Str(name.into()));
        if let Some(d) = data {
            self.buffers.push(d);
            t = t.f(2, F::U32(self.buffers.len() as u32 - 1));
        }
        self.tensors.push(t);
        self.tensors.len() as i32 - 1
    }
    fn f32s(&mut self, name: &str, shape: &[i32], v: &[f32]) -> i32 {
        let b = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.tensor(name, shape, FLOAT32, Some(b))
    }
    fn i32s(&mut self, name: &str, shape: &[i32], v: &[i32]) -> i32 {
        let b = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.tensor(name, shape, INT32, Some(b))
    }
    fn act(&mut self, name: &str, shape: &[i32]) -> i32 {
        self.tensor(name, shape, FLOAT32, None)
    }
    fn op(&mut self, builtin: i32, ins: &[i32], outs: &[i32], opts: Option<(u8, T)>) {
        let code = self.codes.len() as u32;
        self.codes.push(
            T::default()
                .f(0, F::U8(builtin.min(127) as u8))
                .f(3, F::I32(builtin)),
        );
        let mut o = T::default()
            .f(0, F::U32(code))
            .f(1, F::I32s(ins.to_vec()))
            .f(2, F::I32s(outs.to_vec()));
        if let Some((tag, t)) = opts {
            o = o.f(3, F::U8(tag)).f(4, F::Table(t));
        }
        self.ops.push(o);
    }
    fn build(self, inputs: &[i32], outputs: &[i32]) -> Vec<u8> {
        let sg = T::default()
            .f(0, F::Tables(self.tensors))
            .f(1, F::I32s(inputs.to_vec()))
            .f(2, F::I32s(outputs.to_vec()))
            .f(3, F::Tables(self.ops))
            .f(4, F::Str("main".into()));
        let bufs = self
            .buffers
            .into_iter()
            .map(|b| T::default().f(0, F::Bytes(b)))
            .collect();
        finish(
            &T::default()
                .f(0, F::U32(3))
                .f(1, F::Tables(self.codes))
                .f(2, F::Tables(vec![sg]))
                .f(3, F::Str("unit test".into()))
                .f(4, F::Tables(bufs)),
        )
    }
}

fn conv_opts(same: bool, stride: i32, act: u8) -> T {
    T::default()
        .f(0, F::U8(!same as u8))
        .f(1, F::I32(stride))
        .f(2, F::I32(stride))
        .f(3, F::U8(act))
}

fn f16_bits(v: f32) -> u16 {
    // Exact for the test values (multiples of 1/64 in [-4, 4]).
    let b = v.to_bits();
    if v == 0.0 {
        return ((b >> 16) & 0x8000) as u16;
    }
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    sign | ((exp as u16) << 10) | ((b >> 13) & 0x3ff) as u16
}

fn vals(n: usize, seed: u32) -> Vec<f32> {
    // Multiples of 1/64 so that float16 holds them exactly.
    (0..n)
        .map(|i| {
            (((i as u32).wrapping_mul(2654435761).wrapping_add(seed * 97) >> 20) % 257) as f32
                / 64.0
                - 2.0
        })
        .collect()
}

/// Input 1x5x6x2 -> CONV_2D 3x3/2 SAME (f16 weights via DEQUANTIZE, RELU6) -> 1x3x3x3 ->
/// DEPTHWISE 3x3/1 SAME x2 -> 1x3x3x6 -> ADD const[6] -> RESHAPE 1x9x6 and, from the conv,
/// RESHAPE 1x9x3 -> MEAN over axis 1 keep_dims -> a second output 1x1x3.
struct Small {
    bytes: Vec<u8>,
    x: Vec<f32>,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
    c: Vec<f32>,
}

fn small() -> Small {
    let (w1, b1, w2, b2, c) = (vals(54, 1), vals(3, 2), vals(54, 3), vals(6, 4), vals(6, 5));
    let mut m = M::new();
    let x = m.act("input", &[1, 5, 6, 2]);
    let w1h = m.tensor(
        "w1_f16",
        &[3, 3, 3, 2],
        FLOAT16,
        Some(w1.iter().flat_map(|&v| f16_bits(v).to_le_bytes()).collect()),
    );
    let w1d = m.act("w1", &[3, 3, 3, 2]);
    let b1t = m.f32s("b1", &[3], &b1);
    let y1 = m.act("conv", &[1, 3, 3, 3]);
    let w2t = m.f32s("w2", &[1, 3, 3, 6], &w2);
    let b2t = m.f32s("b2", &[6], &b2);
    let y2 = m.act("dw", &[1, 3, 3, 6]);
    let ct = m.f32s("c", &[6], &c);
    let y3 = m.act("add", &[1, 3, 3, 6]);
    let s1 = m.i32s("shape1", &[3], &[1, 9, 6]);
    let out1 = m.act("boxes", &[1, 9, 6]);
    let s2 = m.i32s("shape2", &[3], &[1, 9, 3]);
    let r2 = m.act("flat", &[1, 9, 3]);
    let ax = m.i32s("axes", &[1], &[1]);
    let out2 = m.act("mean", &[1, 1, 3]);
    m.op(6, &[w1h], &[w1d], None);
    m.op(3, &[x, w1d, b1t], &[y1], Some((1, conv_opts(true, 2, 3))));
    m.op(
        4,
        &[y1, w2t, b2t],
        &[y2],
        Some((
            2,
            T::default()
                .f(0, F::U8(0))
                .f(1, F::I32(1))
                .f(2, F::I32(1))
                .f(3, F::I32(2)),
        )),
    );
    m.op(0, &[y2, ct], &[y3], None);
    m.op(22, &[y3, s1], &[out1], None);
    m.op(22, &[y1, s2], &[r2], None);
    m.op(
        40,
        &[r2, ax],
        &[out2],
        Some((27, T::default().f(0, F::U8(1)))),
    );
    Small {
        bytes: m.build(&[x], &[out1, out2]),
        x: vals(60, 6),
        w1,
        b1,
        w2,
        b2,
        c,
    }
}

/// Direct NHWC convolution with TF's SAME padding (pad_before = total / 2).
#[allow(clippy::too_many_arguments)]
fn conv_nhwc(
    x: &[f32],
    (h, w, c): (usize, usize, usize),
    wt: &[f32],
    (o, k): (usize, usize),
    b: &[f32],
    stride: usize,
    depthwise_mult: Option<usize>,
) -> (Vec<f32>, usize, usize) {
    let (oh, ow) = (h.div_ceil(stride), w.div_ceil(stride));
    let pt = ((oh - 1) * stride + k).saturating_sub(h) / 2;
    let pl = ((ow - 1) * stride + k).saturating_sub(w) / 2;
    let mut y = vec![0.0; oh * ow * o];
    for oy in 0..oh {
        for ox in 0..ow {
            for oc in 0..o {
                let mut s = b[oc];
                for ky in 0..k {
                    for kx in 0..k {
                        let iy = (oy * stride + ky) as isize - pt as isize;
                        let ix = (ox * stride + kx) as isize - pl as isize;
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        let px = &x[(iy as usize * w + ix as usize) * c..][..c];
                        match depthwise_mult {
                            // Filter [1, k, k, o]; output oc reads input oc / mult.
                            Some(m) => s += px[oc / m] * wt[(ky * k + kx) * o + oc],
                            // Filter [o, k, k, c].
                            None => {
                                for ic in 0..c {
                                    s += px[ic] * wt[((oc * k + ky) * k + kx) * c + ic];
                                }
                            }
                        }
                    }
                }
                y[(oy * ow + ox) * o + oc] = s;
            }
        }
    }
    (y, oh, ow)
}

fn run_onnx(model_bytes: &[u8], x_nhwc: &[f32], (h, w, c): (usize, usize, usize)) -> Vec<Vec<f32>> {
    use tract_onnx::prelude::*;
    let mut nchw = vec![0.0; x_nhwc.len()];
    for i in 0..h * w {
        for ch in 0..c {
            nchw[ch * h * w + i] = x_nhwc[i * c + ch];
        }
    }
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &model_bytes[..])
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let input = Tensor::from_shape(&[1, c, h, w], &nchw).unwrap();
    plan.run(tvec!(input.into()))
        .unwrap()
        .iter()
        .map(|t| {
            t.try_as_plain_ram()
                .and_then(|v| v.as_slice::<f32>())
                .unwrap()
                .to_vec()
        })
        .collect()
}

#[test]
fn small_graph_matches_a_direct_nhwc_computation() {
    let s = small();
    let model = parse(&s.bytes).unwrap();
    assert_eq!(model.description.as_deref(), Some("unit test"));
    let opts = ConvertOptions {
        outputs: OutputMode::AsIs,
        ..Default::default()
    };
    let conv = to_onnx(&model, &opts).unwrap();
    assert_eq!(conv.input_hw, (5, 6));
    assert_eq!(
        conv.ops,
        [
            "DEQUANTIZE",
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "ADD",
            "RESHAPE",
            "MEAN"
        ]
    );
    let got = run_onnx(&conv.onnx, &s.x, (5, 6, 2));

    let (y1, oh, ow) = conv_nhwc(&s.x, (5, 6, 2), &s.w1, (3, 3), &s.b1, 2, None);
    assert_eq!((oh, ow), (3, 3));
    let y1: Vec<f32> = y1.iter().map(|v| v.clamp(0.0, 6.0)).collect();
    let (y2, _, _) = conv_nhwc(&y1, (3, 3, 3), &s.w2, (6, 3), &s.b2, 1, Some(2));
    let want1: Vec<f32> = y2.iter().enumerate().map(|(i, v)| v + s.c[i % 6]).collect();
    let want2: Vec<f32> = (0..3)
        .map(|ch| (0..9).map(|p| y1[p * 3 + ch]).sum::<f32>() / 9.0)
        .collect();
    for (got, want) in got.iter().zip([want1, want2]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-4, "{got:?}\n{want:?}");
        }
    }
}

#[test]
fn every_truncation_of_a_model_is_an_error() {
    let s = small();
    for cut in 0..s.bytes.len() {
        let r = parse(&s.bytes[..cut]).and_then(|m| to_onnx(&m, &ConvertOptions::default()));
        assert!(r.is_err(), "cut at {cut} of {}", s.bytes.len());
    }
}

#[test]
fn an_unsupported_op_is_named_with_its_node() {
    let mut m = M::new();
    let x = m.act("input", &[1, 2, 2, 3]);
    let perm = m.i32s("perm", &[4], &[0, 3, 1, 2]);
    let y = m.act("the/transposed", &[1, 3, 2, 2]);
    m.op(39, &[x, perm], &[y], None);
    let bytes = m.build(&[x], &[y]);
    let err = to_onnx(
        &parse(&bytes).unwrap(),
        &ConvertOptions {
            outputs: OutputMode::AsIs,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err,
        TfliteError::UnsupportedOp {
            op: "TRANSPOSE".into(),
            node: "the/transposed".into(),
            detail: String::new()
        }
    );
    assert_eq!(
        err.to_string(),
        "unsupported TFLite operator TRANSPOSE (node `the/transposed`)"
    );
}

#[test]
fn quantized_tensors_are_refused_by_name() {
    // An int8 filter used directly by CONV_2D (a quantized model).
    let mut m = M::new();
    let x = m.act("input", &[1, 2, 2, 1]);
    let w = m.tensor("qweights", &[1, 1, 1, 1], INT8, Some(vec![3]));
    let y = m.act("out", &[1, 2, 2, 1]);
    m.op(3, &[x, w], &[y], Some((1, conv_opts(true, 1, 0))));
    let bytes = m.build(&[x], &[y]);
    let opts = ConvertOptions {
        outputs: OutputMode::AsIs,
        ..Default::default()
    };
    let e = to_onnx(&parse(&bytes).unwrap(), &opts).unwrap_err();
    assert!(
        e.to_string().contains("`qweights`") && e.to_string().contains("quantized"),
        "{e}"
    );

    // A uint8 image input.
    let mut m = M::new();
    let x = m.tensor("u8input", &[1, 2, 2, 3], 3, None);
    let y = m.act("out", &[1, 2, 2, 3]);
    m.op(14, &[x], &[y], None);
    let e = to_onnx(&parse(&m.build(&[x], &[y])).unwrap(), &opts).unwrap_err();
    assert!(e.to_string().contains("`u8input`"), "{e}");
}

#[test]
fn foreign_bytes_are_not_tflite() {
    for (bytes, hint) in [
        (&b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..], "PNG"),
        (&b"\x08\x08\x12\x07ssd-edge"[..], "ONNX"),
        (&b"short"[..], "too short"),
        (&[0u8; 64][..], "TFL3"),
    ] {
        let e = parse(bytes).unwrap_err();
        assert!(matches!(e, TfliteError::NotTflite(_)), "{e}");
        assert!(e.to_string().contains(hint), "{e}");
    }
}

#[test]
fn packed_assets_split_at_the_model() {
    let s = small();
    let mut packed = b"???\nPerson\nCar\n".to_vec();
    packed.extend(&s.bytes);
    let (labels, model) = split_packed_assets(&packed).unwrap();
    assert_eq!(labels, ["???", "Person", "Car"]);
    assert_eq!(model, &s.bytes[..]);
    assert!(split_packed_assets(&s.bytes).is_err());
    let mut bad = b"\x01\x02\n".to_vec();
    bad.extend(&s.bytes);
    assert!(split_packed_assets(&bad).is_err());
}

#[test]
fn permute_and_same_pads() {
    // 2x3 -> 3x2.
    let d = [0., 1., 2., 3., 4., 5.];
    assert_eq!(
        convert::test_permute(&d, &[2, 3], &[1, 0]),
        [0., 3., 1., 4., 2., 5.]
    );
    // TF: 300 / stride 2, k 3 -> total 1: (0, 1); 5 / 2, k 3 -> (1, 1); 19 / 1, k 3 -> (1, 1).
    assert_eq!(convert::test_same_pads(300, 3, 2), (0, 1));
    assert_eq!(convert::test_same_pads(5, 3, 2), (1, 1));
    assert_eq!(convert::test_same_pads(19, 3, 1), (1, 1));
    assert_eq!(convert::test_same_pads(2, 1, 2), (0, 0));
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Random bytes behind a valid identifier: parse and convert return, never panic.
        #[test]
        fn random_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 8..512)) {
            bytes[4..8].copy_from_slice(b"TFL3");
            if let Ok(m) = parse(&bytes) {
                let _ = to_onnx(&m, &ConvertOptions::default());
            }
        }

        /// A valid model with bytes overwritten: an error or a model, never a panic.
        #[test]
        fn mutated_models_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
            let mut bytes = small().bytes;
            let n = bytes.len();
            for (at, v) in edits {
                bytes[at % n] = v;
            }
            if let Ok(m) = parse(&bytes) {
                for outputs in [OutputMode::Ssd, OutputMode::AsIs] {
                    let _ = to_onnx(&m, &ConvertOptions { outputs, ..Default::default() });
                }
            }
        }

        #[test]
        fn flexbuffer_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = flexbuf::post_process_options(&bytes);
        }
    }
}
