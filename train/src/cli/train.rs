//! `ssd-train train`: train an SSD on the synthetic scenes or a Pascal VOC layout.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use ssd_edge::image::preprocess::Normalization;
use ssd_train::data::{Dataset, SynthDataset, VocDataset};
use ssd_train::trainer::fit::{fit, FitConfig, ScheduleKind};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Network: vgg16, mobile, mobile@W (width multiplier, e.g. mobile@0.5), tiny.
    #[arg(long, default_value = "mobile@0.5")]
    pub arch: String,
    /// Pascal VOC root (the directory holding Annotations/, JPEGImages/, ImageSets/Main/).
    #[arg(long, conflicts_with = "synth")]
    pub voc: Option<PathBuf>,
    /// VOC image set(s) to train on, comma-separated.
    #[arg(long, default_value = "trainval")]
    pub split: String,
    /// VOC image set for validation mAP.
    #[arg(long, default_value = "test")]
    pub val_split: String,
    /// Class names for VOC data, comma-separated (default: the synthetic scenes' classes).
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<String>,
    /// Train on N synthetic scenes rendered on the fly (seed --data-seed).
    #[arg(long)]
    pub synth: Option<usize>,
    /// Synthetic validation scenes (a different seed from the training scenes).
    #[arg(long, default_value_t = 200)]
    pub val_synth: usize,
    #[arg(long, default_value_t = 1)]
    pub data_seed: u64,
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    /// Linear warm-up steps (from 0.1 x lr).
    #[arg(long, default_value_t = 100)]
    pub warmup: usize,
    /// cosine, or step:F1,F2 (lr x 0.1 at those fractions of the run, e.g. step:0.67,0.83).
    #[arg(long, default_value = "cosine")]
    pub schedule: String,
    /// Output directory: checkpoints (last, best), metrics.csv, plot.png.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue from OUT/last if present.
    #[arg(long)]
    pub resume: bool,
    /// Initial weights (safetensors; for VGG16, ssd.pytorch names: see README).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Data loader threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Torch intra-op threads (default: libtorch's choice).
    #[arg(long)]
    pub threads: Option<i32>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train without augmentation.
    #[arg(long)]
    pub no_augment: bool,
    /// Input normalisation: ssd (BGR, VGG means, 0..255) or imagenet (RGB 0..1, mean/std).
    #[arg(long, default_value = "ssd")]
    pub normalize: String,
    /// Evaluate mAP every N epochs (0: only never).
    #[arg(long, default_value_t = 1)]
    pub eval_every: usize,
    /// cpu, cuda, or auto (CUDA when available).
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// No progress bar (log lines only).
    #[arg(long)]
    pub quiet: bool,
}

fn schedule(s: &str) -> anyhow::Result<ScheduleKind> {
    if s == "cosine" {
        return Ok(ScheduleKind::Cosine);
    }
    if let Some(list) = s.strip_prefix("step:") {
        let fr = list
            .split(',')
            .map(|f| f.trim().parse::<f64>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("bad milestones `{list}`"))?;
        if fr.iter().any(|f| !(0.0..=1.0).contains(f)) {
            bail!("milestones are fractions of the run, in 0..1: `{list}`");
        }
        return Ok(ScheduleKind::Step(fr));
    }
    bail!("unknown schedule `{s}` (cosine or step:F1,F2,...)")
}

fn device(s: &str) -> anyhow::Result<tch::Device> {
    Ok(match s {
        "auto" => tch::Device::cuda_if_available(),
        "cpu" => tch::Device::Cpu,
        "cuda" => {
            if !tch::Cuda::is_available() {
                bail!("--device cuda: no CUDA device is available");
            }
            tch::Device::Cuda(0)
        }
        other => bail!("unknown device `{other}` (cpu, cuda, auto)"),
    })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.epochs == 0 || args.batch == 0 {
        bail!("--epochs and --batch must be positive");
    }
    if let Some(t) = args.threads {
        tch::set_num_threads(t);
    }
    tch::manual_seed(args.seed as i64);
    let normalize = match args.normalize.as_str() {
        "ssd" => Normalization::SSD_PYTORCH,
        "imagenet" => Normalization::IMAGENET,
        other => bail!("unknown normalisation `{other}` (ssd or imagenet)"),
    };
    let mut notes = std::collections::BTreeMap::new();
    notes.insert(
        "command".into(),
        std::env::args().collect::<Vec<_>>().join(" "),
    );
    let (train, val): (Arc<dyn Dataset>, Option<Arc<dyn Dataset>>) = match (&args.voc, args.synth) {
        (Some(root), None) => {
            let classes = if args.classes.is_empty() {
                ssd_train::data::synth_set::class_names()
            } else {
                args.classes.clone()
            };
            let parts: Vec<(PathBuf, String)> = args
                .split
                .split(',')
                .map(|s| (root.clone(), s.trim().to_string()))
                .collect();
            let train = VocDataset::open_many(&parts, &classes)
                .with_context(|| format!("opening {} ({})", root.display(), args.split))?;
            let val = VocDataset::open(root, &args.val_split, &classes)
                .with_context(|| format!("opening {} ({})", root.display(), args.val_split))?;
            notes.insert(
                "dataset".into(),
                format!(
                    "VOC {} {} ({} images)",
                    root.display(),
                    args.split,
                    train.len()
                ),
            );
            (Arc::new(train), Some(Arc::new(val)))
        }
        (None, Some(n)) => {
            let cfg = ssd_edge::synth::SynthConfig::default();
            let train = SynthDataset::new(cfg.clone(), args.data_seed, n);
            // Validation scenes come from another seed: never the training images.
            let val =
                SynthDataset::new(cfg, args.data_seed.wrapping_add(1_000_003), args.val_synth);
            notes.insert(
                "dataset".into(),
                format!(
                    "ssd-edge synthetic scenes, seed {}, {n} images",
                    args.data_seed
                ),
            );
            (
                Arc::new(train),
                (args.val_synth > 0).then(|| Arc::new(val) as Arc<dyn Dataset>),
            )
        }
        _ => bail!("give the training data: --synth N or --voc ROOT"),
    };
    let cfg = FitConfig {
        arch: args.arch,
        epochs: args.epochs,
        batch: args.batch,
        lr: args.lr,
        momentum: args.momentum,
        weight_decay: args.weight_decay,
        warmup_steps: args.warmup,
        schedule: schedule(&args.schedule)?,
        out_dir: args.out.clone(),
        resume: args.resume,
        init_weights: args.weights,
        workers: args.workers,
        seed: args.seed,
        augment: !args.no_augment,
        normalize,
        eval_every: args.eval_every,
        device: device(&args.device)?,
        progress: !args.quiet,
        notes,
    };
    let (trainer, history) = fit(&cfg, train, val).context("training")?;
    if let Some(m) = history.last() {
        println!(
            "{}",
            serde_json::json!({
                "out": args.out,
                "epochs": trainer.state.epoch,
                "steps": trainer.state.step,
                "loss": m.loss,
                "map": m.map,
                "best_map": trainer.state.best_map,
            })
        );
    }
    Ok(ExitCode::SUCCESS)
}
