//! MultiBox loss against ssd.pytorch's values in the repository's reference fixture
//! (tests/fixtures/README.md): targets matched with `ssd_core::ssd::match_priors` (threshold
//! 0.5, clipped VOC priors), then our loss on the reference's loc/conf predictions.

use ssd_core::ssd::{match_priors, PriorConfig, Variances};
use ssd_train::loss::MultiBoxLoss;
use tch::{Device, Kind, Tensor};

const REFERENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/ssd_pytorch_reference.json"
);

fn reference() -> serde_json::Value {
    let path = std::env::var("SSD_REFERENCE_JSON").unwrap_or_else(|_| REFERENCE.to_string());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The fixture stores the rows the loss can read (`[image, prior, values]`); every other loc row
/// is 0 and every other conf row `conf_fill` (see tests/fixtures/README.md).
fn dense(rows: &serde_json::Value, fill: &[f32], b: usize, p: usize) -> Vec<f32> {
    let w = fill.len();
    let mut out: Vec<f32> = fill.iter().copied().cycle().take(b * p * w).collect();
    for row in rows.as_array().unwrap() {
        let (i, prior) = (
            row[0].as_u64().unwrap() as usize,
            row[1].as_u64().unwrap() as usize,
        );
        let v = f32s(&row[2]);
        assert_eq!(v.len(), w, "fixture row width");
        out[(i * p + prior) * w..(i * p + prior + 1) * w].copy_from_slice(&v);
    }
    out
}

fn f32s(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn loss_matches_ssd_pytorch() {
    let r = reference();
    let priors = PriorConfig::ssd300_voc().generate();
    let p = priors.len();
    assert_eq!(p, 8732);
    for (case_i, case) in r["loss"].as_array().unwrap().iter().enumerate() {
        let targets = case["targets"].as_array().unwrap();
        let b = targets.len();
        let mut conf_t = vec![0i64; b * p];
        let mut loc_t = vec![[0f32; 4]; b * p];
        for (i, objs) in targets.iter().enumerate() {
            let mut truths = Vec::new();
            let mut labels = Vec::new();
            for o in objs.as_array().unwrap() {
                let v = f32s(o);
                truths.push([v[0], v[1], v[2], v[3]]);
                labels.push(v[4] as usize);
            }
            match_priors(
                &truths,
                &labels,
                &priors,
                0.5,
                Variances::default(),
                &mut conf_t[i * p..(i + 1) * p],
                &mut loc_t[i * p..(i + 1) * p],
            );
        }
        let c = 21;
        let (loc_data, conf_data) = match case.get("loc_data") {
            // The untrimmed reference file (given through SSD_REFERENCE_JSON): dense arrays.
            Some(loc) => (f32s(loc), f32s(&case["conf_data"])),
            None => (
                dense(&case["loc_rows"], &[0.0; 4], b, p),
                dense(&case["conf_rows"], &f32s(&case["conf_fill"]), b, p),
            ),
        };
        let loc_p = Tensor::from_slice(&loc_data).view([b as i64, p as i64, 4]);
        let conf_p = Tensor::from_slice(&conf_data).view([b as i64, p as i64, c]);
        let loc_flat: Vec<f32> = loc_t.iter().flatten().copied().collect();
        let loc_t = Tensor::from_slice(&loc_flat).view([b as i64, p as i64, 4]);
        let conf_t = Tensor::from_slice(&conf_t).view([b as i64, p as i64]);
        let parts = MultiBoxLoss::default().compute(&loc_p, &conf_p, &loc_t, &conf_t);
        let num_pos = case["num_pos"].as_i64().unwrap();
        assert_eq!(parts.num_pos, num_pos, "case {case_i}");
        let l = f64::try_from(&parts.loc).unwrap();
        let cl = f64::try_from(&parts.conf).unwrap();
        let (rl, rc) = (
            case["loss_l"].as_f64().unwrap(),
            case["loss_c"].as_f64().unwrap(),
        );
        println!("case {case_i}: loss_l {l} (ref {rl}), loss_c {cl} (ref {rc}), N {num_pos}");
        assert!(
            ((l - rl) / rl).abs() < 1e-4,
            "case {case_i}: loss_l {l} vs {rl}"
        );
        assert!(
            ((cl - rc) / rc).abs() < 1e-4,
            "case {case_i}: loss_c {cl} vs {rc}"
        );
    }
}

#[test]
fn no_positives_gives_zero_not_nan() {
    let (b, p, c) = (2i64, 50i64, 4i64);
    let loc_p = Tensor::randn([b, p, 4], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let conf_p = Tensor::randn([b, p, c], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    // Garbage (inf/NaN) in the loc targets of non-positive priors must not matter.
    let loc_t = Tensor::full([b, p, 4], f64::NAN, (Kind::Float, Device::Cpu));
    let conf_t = Tensor::zeros([b, p], (Kind::Int64, Device::Cpu));
    let parts = MultiBoxLoss::default().compute(&loc_p, &conf_p, &loc_t, &conf_t);
    let total = parts.total(1.0);
    assert_eq!(parts.num_pos, 0);
    assert_eq!(f64::try_from(&total).unwrap(), 0.0);
    total.backward();
    let g = f64::try_from(loc_p.grad().abs().sum(Kind::Float)).unwrap();
    assert_eq!(g, 0.0);
    assert!(f64::try_from(conf_p.grad().abs().sum(Kind::Float))
        .unwrap()
        .is_finite());
}

#[test]
fn mining_keeps_three_negatives_per_positive_per_image() {
    // One positive in image 0, none in image 1: image 0 contributes 1 + 3 priors, image 1 none.
    let (p, c) = (10i64, 3i64);
    let conf_p = Tensor::zeros([2, p, c], (Kind::Float, Device::Cpu));
    let mut conf_t_v = vec![0i64; 20];
    conf_t_v[4] = 2;
    let conf_t = Tensor::from_slice(&conf_t_v).view([2, p]);
    let loc = Tensor::zeros([2, p, 4], (Kind::Float, Device::Cpu));
    let parts = MultiBoxLoss::default().compute(&loc, &conf_p, &loc, &conf_t);
    // Uniform logits: every selected prior costs ln 3; 4 selected, N = 1.
    let want = 4.0 * 3f64.ln();
    let got = f64::try_from(&parts.conf).unwrap();
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
}
