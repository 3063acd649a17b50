//! `ssd-train bench`: speed of network configurations on this machine (tch forward and
//! training step, tract forward of the export) and of the training data loader, one JSON line
//! per measurement. `--spec-out DIR` writes each configuration as DIR/ARCH.json for
//! `train/scripts/bench_torch.py`, which times the same network in PyTorch.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use ssd_train::net::NetSpec;
use ssd_train::trainer::bench::{self, BenchOptions};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Configurations to time (vgg16, mobile, mobile@W, mobile-lite@W, mobile-dense@W, tiny).
    #[arg(default_values_t = ["mobile@0.25".to_string(), "mobile@0.5".to_string(), "vgg16".to_string()])]
    pub arch: Vec<String>,
    /// Torch intra-op thread counts, comma-separated (one measurement per count).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub threads: Vec<i32>,
    /// Training batch size.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Timed training steps (after one warm-up step).
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    /// Timed batch-1 forwards (after one warm-up forward).
    #[arg(long, default_value_t = 5)]
    pub forwards: usize,
    /// Classes including background.
    #[arg(long, default_value_t = 4)]
    pub classes: usize,
    /// Skip the tract forward of the exported model.
    #[arg(long)]
    pub no_tract: bool,
    /// Write DIR/ARCH.json (the NetSpec) for bench_torch.py.
    #[arg(long)]
    pub spec_out: Option<PathBuf>,
    /// Time the data loader instead: N synthetic scenes with augmentation and matching.
    #[arg(long, value_name = "N")]
    pub loader: Option<usize>,
    /// Loader threads for --loader.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.batch == 0 || args.steps == 0 || args.forwards == 0 {
        bail!("--batch, --steps and --forwards must be positive");
    }
    if let Some(n) = args.loader {
        if n < args.batch {
            bail!(
                "--loader {n}: fewer images than one batch of {}",
                args.batch
            );
        }
        let r = bench::loader(n, args.batch, args.workers, true).context("loader bench")?;
        println!("{}", serde_json::to_string(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(&t) = args.threads.iter().find(|&&t| t < 1) {
        bail!("--threads {t}: need at least one thread");
    }
    for arch in &args.arch {
        let spec = NetSpec::from_name(arch, args.classes)?;
        if let Some(dir) = &args.spec_out {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            bench::write_spec(&spec, &dir.join(format!("{arch}.json")))?;
        }
        for &threads in &args.threads {
            let opts = BenchOptions {
                threads,
                batch: args.batch,
                steps: args.steps,
                forwards: args.forwards,
                tract: !args.no_tract,
            };
            let report = bench::run(&spec, &opts).with_context(|| format!("bench {arch}"))?;
            println!("{}", serde_json::to_string(&report)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
