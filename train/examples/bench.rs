//! Speed of SSD configurations in tch (forward ms, training images/s) and in tract (exported
//! float forward), one JSON line per configuration.
//!
//! cargo run -p ssd-train --example bench -- [--threads N] [--batch B] [--steps S]
//!     [--forwards F] [--no-tract] [--spec-out DIR] ARCH...
//! `--spec-out DIR` writes DIR/ARCH.json for `train/scripts/bench_torch.py`.

use std::path::PathBuf;

use ssd_train::net::NetSpec;
use ssd_train::trainer::bench::{self, BenchOptions};

fn main() -> anyhow::Result<()> {
    let mut opts = BenchOptions {
        threads: 1,
        batch: 8,
        steps: 3,
        forwards: 5,
        tract: true,
    };
    let mut classes = 4usize;
    let mut spec_out: Option<PathBuf> = None;
    let mut archs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> anyhow::Result<usize> {
            let v = args
                .next()
                .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))?;
            Ok(v.parse()?)
        };
        match a.as_str() {
            "--threads" => opts.threads = num("--threads")? as i32,
            "--batch" => opts.batch = num("--batch")?,
            "--steps" => opts.steps = num("--steps")?,
            "--forwards" => opts.forwards = num("--forwards")?,
            "--classes" => classes = num("--classes")?,
            "--no-tract" => opts.tract = false,
            "--spec-out" => {
                spec_out = Some(
                    args.next()
                        .ok_or_else(|| anyhow::anyhow!("--spec-out needs a dir"))?
                        .into(),
                )
            }
            _ => archs.push(a),
        }
    }
    if archs.is_empty() {
        archs = vec![
            "mobile@0.5".into(),
            "mobile@0.75".into(),
            "mobile".into(),
            "vgg16".into(),
        ];
    }
    for arch in archs {
        let spec = NetSpec::from_name(&arch, classes)?;
        if let Some(dir) = &spec_out {
            std::fs::create_dir_all(dir)?;
            bench::write_spec(&spec, &dir.join(format!("{arch}.json")))?;
        }
        let report = bench::run(&spec, &opts)?;
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}
