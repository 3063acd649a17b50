//! `ssd-train priors`: how well a network's default boxes fit the objects the synthetic
//! scenes hold, by class and size, before any training. An object no prior overlaps with
//! IoU >= 0.5 gets a single forced match in training and is hard to learn; this table is why
//! the shipped models use the `street` boxes (models/README.md).

use std::process::ExitCode;

use ssd_core::ssd::{center_to_corner, iou};
use ssd_core::synth::{aspect_range, Rng, CLASS_NAMES};
use ssd_train::net::NetSpec;

/// Bins of the object's longer side in pixels of the 300x300 input.
const BINS: [(f32, f32); 6] = [
    (16.0, 24.0),
    (24.0, 32.0),
    (32.0, 40.0),
    (40.0, 60.0),
    (60.0, 120.0),
    (120.0, 250.0),
];

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Networks whose priors to compare (e.g. mobile@0.25 mobile@0.25+street).
    #[arg(required = true)]
    pub arch: Vec<String>,
    /// Random objects per class and size bin.
    #[arg(long, default_value_t = 400)]
    pub samples: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// (share of objects with a prior at IoU >= 0.5, mean number of such priors)
fn coverage(
    priors: &[[f32; 4]],
    class_id: usize,
    bin: (f32, f32),
    n: usize,
    rng: &mut Rng,
) -> (f64, f64) {
    let (a0, a1) = aspect_range(class_id);
    let (mut hit, mut pos) = (0usize, 0usize);
    for _ in 0..n {
        // log-uniform in the bin, aspect as the scenes draw it (width / height)
        let size = bin.0 * (bin.1 / bin.0).powf(rng.f32());
        let a = rng.range_f32(a0, a1);
        let (w, h) = if a < 1.0 {
            (size * a, size)
        } else {
            (size, size / a)
        };
        let x = rng.range_f32(0.0, 300.0 - w);
        let y = rng.range_f32(0.0, 300.0 - h);
        let obj = [x / 300.0, y / 300.0, (x + w) / 300.0, (y + h) / 300.0];
        let k = priors.iter().filter(|p| iou(p, &obj) >= 0.5).count();
        hit += usize::from(k > 0);
        pos += k;
    }
    (hit as f64 / n as f64, pos as f64 / n as f64)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    println!(
        "objects with a prior at IoU >= 0.5 (share / mean count), by longer side in px, {} per cell",
        args.samples
    );
    let bins: Vec<String> = BINS.iter().map(|(lo, hi)| format!("{lo}-{hi}")).collect();
    println!("| arch | class | {} |", bins.join(" | "));
    println!("|---|---|{}", "---|".repeat(BINS.len()));
    for arch in &args.arch {
        let spec = NetSpec::from_name(arch, CLASS_NAMES.len() + 1)?;
        let priors: Vec<[f32; 4]> = spec
            .priors
            .generate()
            .iter()
            .map(center_to_corner)
            .collect();
        for (c, name) in CLASS_NAMES.iter().enumerate() {
            let mut rng = Rng::from_parts(&[args.seed, c as u64]);
            let cells: Vec<String> = BINS
                .iter()
                .map(|&b| {
                    let (share, mean) = coverage(&priors, c, b, args.samples, &mut rng);
                    format!("{:.0} % / {mean:.1}", 100.0 * share)
                })
                .collect();
            println!("| {arch} | {name} | {} |", cells.join(" | "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
