//! `ssd-train train`: train an SSD on the synthetic scenes, a Pascal VOC layout or a COCO
//! instances file, from scratch, from whole-network weights, or from a pretrained backbone
//! (fine-tuning: docs/fine-tune.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use ssd_core::image::preprocess::Normalization;
use ssd_train::data::{
    CocoDataset, Concat, Dataset, LoadStats, SequenceFrames, SynthDataset, VocDataset,
};
use ssd_train::trainer::fit::{fit, FitConfig, ScheduleKind};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Network: vgg16, mobile, mobile@W (width multiplier, e.g. mobile@0.5), mobile-lite@W
    /// (SSDLite heads), mobile-dense@W (dense early blocks), tiny, tv-ssd300-vgg16,
    /// tv-ssdlite320-mnv3, tv-ssdlite320-mnv3-full, tv-ssdlite320-mnv2.
    #[arg(long, default_value = "mobile@0.5")]
    pub arch: String,
    /// Pascal VOC root(s), comma-separated (each holding Annotations/, JPEGImages/,
    /// ImageSets/Main/): training takes --split of every root (VOC2007,VOC2012 trainval is
    /// VOC07+12), validation --val-split of the first.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["synth", "coco"])]
    pub voc: Vec<PathBuf>,
    #[command(flatten)]
    pub coco: Box<CocoArgs>,
    /// VOC image set(s) to train on, comma-separated.
    #[arg(long, default_value = "trainval")]
    pub split: String,
    /// VOC image set for validation mAP.
    #[arg(long, default_value = "test")]
    pub val_split: String,
    /// Classes to train on, comma-separated, in model order (e.g. person,car,bicycle): for
    /// VOC and COCO a subset, objects of other classes are dropped from the annotations.
    /// Default: VOC, the synthetic scenes' classes (another class is an error); COCO, all
    /// categories by id.
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<String>,
    /// Leave out training images with no object of the chosen classes (default: they stay,
    /// as background-only negatives). Validation images are always kept.
    #[arg(long)]
    pub skip_empty: bool,
    /// Train on N synthetic scenes rendered on the fly (seed --data-seed).
    #[arg(long)]
    pub synth: Option<usize>,
    /// Synthetic validation scenes (a different seed from the training scenes).
    #[arg(long, default_value_t = 200)]
    pub val_synth: usize,
    /// Chance per training object of being placed across the frame's edge (--synth; the
    /// validation scenes stay whole-frame).
    #[arg(long, default_value_t = 0.0)]
    pub edge_cut: f32,
    /// With --synth: N more training samples, frames of synthetic sequences (the board's
    /// camera-free source; seeds mixed from --data-seed, never a held-out sequence's).
    #[arg(long, default_value_t = 0)]
    pub sequence_frames: usize,
    /// With --sequence-frames: this many sequence frames join the validation scenes.
    #[arg(long, default_value_t = 0)]
    pub val_sequence_frames: usize,
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
    #[arg(long, conflicts_with = "backbone_weights")]
    pub weights: Option<PathBuf>,
    /// Pretrained backbone (.pth): ssd.pytorch's vgg16_reducedfc.pth for vgg16 and
    /// tv-ssd300-vgg16, torchvision's ImageNet mobilenet_v3_large for tv-ssdlite320-mnv3-full,
    /// mobilenet_v2 for tv-ssdlite320-mnv2. Extras and heads start initialised.
    #[arg(long)]
    pub backbone_weights: Option<PathBuf>,
    /// Keep the backbone fixed (weights and batch-norm statistics) for the first N epochs.
    #[arg(long, default_value_t = 0)]
    pub freeze_backbone_epochs: usize,
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
    #[arg(long, value_enum, default_value_t = NormalizeArg::Ssd)]
    pub normalize: NormalizeArg,
    /// Evaluate mAP every N epochs (0: only never).
    #[arg(long, default_value_t = 1)]
    pub eval_every: usize,
    /// cpu, cuda, or auto (CUDA when available).
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// No progress bar (log lines only).
    #[arg(long)]
    pub quiet: bool,
}

/// COCO data (boxed: keeps the subcommand enum small).
#[derive(clap::Args, Debug)]
pub struct CocoArgs {
    /// COCO instances JSON to train on (with --coco-images).
    #[arg(long, requires = "coco_images", conflicts_with = "synth")]
    pub coco: Option<PathBuf>,
    /// Directory holding the --coco file's images.
    #[arg(long, requires = "coco")]
    pub coco_images: Option<PathBuf>,
    /// COCO instances JSON for validation mAP (with --val-coco-images; default: none).
    #[arg(long, requires_all = ["val_coco_images", "coco"])]
    pub val_coco: Option<PathBuf>,
    #[arg(long, requires = "val_coco")]
    pub val_coco_images: Option<PathBuf>,
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

/// `--normalize`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormalizeArg {
    Ssd,
    Imagenet,
}

/// `--device`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceArg {
    Cpu,
    Cuda,
    Auto,
}

/// The device, and says which: a GPU host whose libtorch lacks CUDA would otherwise train on
/// the CPU unnoticed.
fn device(want: DeviceArg) -> anyhow::Result<tch::Device> {
    let cuda = tch::Cuda::is_available();
    let d = match (want, cuda) {
        (DeviceArg::Auto | DeviceArg::Cuda, true) => tch::Device::Cuda(0),
        (DeviceArg::Auto, false) => {
            log::info!("training on CPU (no CUDA)");
            return Ok(tch::Device::Cpu);
        }
        (DeviceArg::Cpu, _) => {
            log::info!("training on CPU (--device cpu)");
            return Ok(tch::Device::Cpu);
        }
        (DeviceArg::Cuda, false) => bail!(
            "--device cuda: no CUDA device is available (is libtorch a CUDA build? see docs/fine-tune.md)"
        ),
    };
    log::info!(
        "training on CUDA (device 0 of {}, cuDNN {})",
        tch::Cuda::device_count(),
        if tch::Cuda::cudnn_is_available() {
            "available"
        } else {
            "not available"
        }
    );
    Ok(d)
}

/// Logs what a class subset removed, and refuses an asked-for class that never occurs (a
/// misspelt name would otherwise train a class with no examples).
fn check_subset(
    what: &str,
    classes: &[String],
    stats: &LoadStats,
    boxes: &[usize],
    empty: usize,
    asked: bool,
) -> anyhow::Result<()> {
    log::info!(
        "{what}: {} images, {} boxes of {} ({}), {} boxes of other classes dropped, {} images \
         without objects {}",
        stats.images - stats.skipped_images,
        boxes.iter().sum::<usize>(),
        classes.join(", "),
        boxes
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join("/"),
        stats.other_class_boxes,
        empty.max(stats.skipped_images),
        if stats.skipped_images > 0 {
            "skipped"
        } else {
            "kept as negatives"
        }
    );
    if let Some(i) = boxes.iter().position(|&n| n == 0).filter(|_| asked) {
        bail!(
            "{what}: no box of class {:?}; the data set's class names are case-sensitive",
            classes[i]
        );
    }
    Ok(())
}

fn open_voc(args: &Args) -> anyhow::Result<(VocDataset, VocDataset)> {
    let subset = !args.classes.is_empty();
    let classes = if subset {
        args.classes.clone()
    } else {
        ssd_train::data::synth_set::class_names()
    };
    let open = |parts: &[(PathBuf, String)]| {
        if subset {
            VocDataset::open_subset(parts, &classes)
        } else {
            VocDataset::open_many(parts, &classes)
        }
    };
    let parts: Vec<(PathBuf, String)> = args
        .voc
        .iter()
        .flat_map(|root| {
            args.split
                .split(',')
                .map(|s| (root.clone(), s.trim().to_string()))
        })
        .collect();
    let roots = || {
        args.voc
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut train =
        open(&parts).with_context(|| format!("opening {} ({})", roots(), args.split))?;
    let root = &args.voc[0];
    let val = open(&[(root.to_path_buf(), args.val_split.clone())])
        .with_context(|| format!("opening {} ({})", root.display(), args.val_split))?;
    if args.skip_empty {
        train.skip_empty();
    }
    if subset {
        check_subset(
            "training set",
            &classes,
            train.stats(),
            &train.boxes_per_class(),
            train.empty_images(),
            true,
        )?;
    }
    Ok((train, val))
}

fn open_coco(
    args: &Args,
    json: &std::path::Path,
    images: &std::path::Path,
) -> anyhow::Result<CocoDataset> {
    let subset = (!args.classes.is_empty()).then_some(args.classes.as_slice());
    let mut ds = CocoDataset::open(json, images, subset)
        .with_context(|| format!("opening {}", json.display()))?;
    if args.skip_empty {
        ds.skip_empty();
    }
    Ok(ds)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.epochs == 0 || args.batch == 0 {
        bail!("--epochs and --batch must be positive");
    }
    if let Some(t) = args.threads {
        tch::set_num_threads(t);
    }
    tch::manual_seed(args.seed as i64);
    let normalize = match args.normalize {
        NormalizeArg::Ssd => Normalization::CAFFE_BGR,
        NormalizeArg::Imagenet => Normalization::IMAGENET,
    };
    let mut notes = std::collections::BTreeMap::new();
    notes.insert("command".into(), ssd_train::provenance::command_line());
    if args.synth.is_none() && args.sequence_frames + args.val_sequence_frames > 0 {
        bail!(
            "--sequence-frames and --val-sequence-frames join the --synth scenes: give --synth N"
        );
    }
    if args.sequence_frames == 0 && args.val_sequence_frames > 0 {
        bail!("--val-sequence-frames without --sequence-frames: give both, or neither");
    }
    let (train, val): (Arc<dyn Dataset>, Option<Arc<dyn Dataset>>) =
        match (args.voc.first(), &args.coco.coco, args.synth) {
            (None, Some(json), None) => {
                let images = args
                    .coco
                    .coco_images
                    .as_deref()
                    .context("--coco needs --coco-images")?;
                let train = open_coco(&args, json, images)?;
                check_subset(
                    "training set",
                    train.class_names(),
                    train.stats(),
                    &train.boxes_per_class(),
                    train.empty_images(),
                    !args.classes.is_empty(),
                )?;
                let val = match (&args.coco.val_coco, &args.coco.val_coco_images) {
                    (Some(j), Some(d)) => {
                        let subset = Some(train.class_names());
                        let v = CocoDataset::open(j, d, subset)
                            .with_context(|| format!("opening {}", j.display()))?;
                        Some(Arc::new(v) as Arc<dyn Dataset>)
                    }
                    _ => None,
                };
                notes.insert(
                    "dataset".into(),
                    format!(
                        "COCO {} ({} images, classes {})",
                        json.display(),
                        train.len(),
                        train.class_names().join(",")
                    ),
                );
                (Arc::new(train), val)
            }
            (Some(_), None, None) => {
                let (train, val) = open_voc(&args)?;
                notes.insert(
                    "dataset".into(),
                    format!(
                        "VOC {} {} ({} images)",
                        args.voc
                            .iter()
                            .map(|r| r.display().to_string())
                            .collect::<Vec<_>>()
                            .join("+"),
                        args.split,
                        train.len()
                    ),
                );
                (Arc::new(train), Some(Arc::new(val)))
            }
            (None, None, Some(n)) => {
                if !args.classes.is_empty() || args.skip_empty {
                    bail!("--classes and --skip-empty are for VOC and COCO data, not --synth");
                }
                if !(0.0..=1.0).contains(&args.edge_cut) {
                    bail!("--edge-cut is a chance, in 0..1: {}", args.edge_cut);
                }
                let cfg = ssd_core::synth::SynthConfig::default();
                let train_cfg = ssd_core::synth::SynthConfig {
                    edge_cut: args.edge_cut,
                    ..cfg.clone()
                };
                let train: Arc<dyn Dataset> =
                    Arc::new(SynthDataset::new(train_cfg, args.data_seed, n));
                // Validation scenes come from another seed: never the training images.
                let val_seed = args.data_seed.wrapping_add(1_000_003);
                let val: Arc<dyn Dataset> =
                    Arc::new(SynthDataset::new(cfg.clone(), val_seed, args.val_synth));
                let mut described = format!(
                    "ssd-edge synthetic scenes, seed {}, {n} images",
                    args.data_seed
                );
                let (train, val) = if args.sequence_frames > 0 {
                    // the scenes `ssd-train synth --sequence` writes, as the evaluations read
                    let seq_cfg = ssd_core::synth::SequenceConfig {
                        scene: cfg,
                        ..Default::default()
                    };
                    let frames = |seed, len| {
                        Arc::new(SequenceFrames::new(seq_cfg.clone(), seed, len))
                            as Arc<dyn Dataset>
                    };
                    described += &format!(
                        " + {} sequence frames ({} per sequence, {} apart)",
                        args.sequence_frames,
                        SequenceFrames::FRAMES_PER_SEQUENCE,
                        SequenceFrames::FRAME_SPACING
                    );
                    (
                        Arc::new(Concat::new(vec![
                            train,
                            frames(args.data_seed, args.sequence_frames),
                        ])?) as Arc<dyn Dataset>,
                        Arc::new(Concat::new(vec![
                            val,
                            frames(val_seed, args.val_sequence_frames),
                        ])?) as Arc<dyn Dataset>,
                    )
                } else {
                    (train, val)
                };
                notes.insert("dataset".into(), described);
                (train, (!val.is_empty()).then_some(val))
            }
            _ => bail!(
                "give the training data: --synth N, --voc ROOT or --coco JSON --coco-images DIR"
            ),
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
        backbone_weights: args.backbone_weights,
        freeze_backbone_epochs: args.freeze_backbone_epochs,
        workers: args.workers,
        seed: args.seed,
        augment: !args.no_augment,
        normalize,
        eval_every: args.eval_every,
        device: device(args.device)?,
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
