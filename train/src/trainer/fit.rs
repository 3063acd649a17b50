//! A whole training run from a configuration: data sets, loader, trainer (new, from initial
//! weights, or resumed), per-epoch evaluation, outputs in one directory.

use std::path::PathBuf;
use std::sync::Arc;

use tch::Device;

use super::evaluate::evaluate;
use super::{
    checkpoint, run, Decay, EpochMetrics, FreezePlan, HostBatch, LrSchedule, OptimConfig, Progress,
    TrainError, Trainer,
};
use crate::data::{AugmentConfig, BatchLoader, Dataset, LoaderConfig};
use crate::import::backbone::{backbone_parameters, load_backbone, Backbone};
use crate::net::NetSpec;
use ssd_core::image::preprocess::Normalization;

#[derive(Clone, Debug, PartialEq)]
pub enum ScheduleKind {
    Cosine,
    /// Milestones as fractions of the total steps (ssd.pytorch: 80k/120k, 100k/120k).
    Step(Vec<f64>),
}

pub struct FitConfig {
    pub arch: String,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub warmup_steps: usize,
    pub schedule: ScheduleKind,
    pub out_dir: PathBuf,
    /// Continue from `out_dir/last` if it exists.
    pub resume: bool,
    /// Initial weights (safetensors, names as the NetSpec / ssd.pytorch).
    pub init_weights: Option<PathBuf>,
    /// A pretrained classification backbone (.pth, see `import::backbone`) for a new run.
    pub backbone_weights: Option<PathBuf>,
    /// Keep the backbone's parameters and BN statistics fixed for the first N epochs.
    pub freeze_backbone_epochs: usize,
    pub workers: usize,
    pub seed: u64,
    pub augment: bool,
    pub normalize: Normalization,
    /// Evaluate every N epochs (and after the last); 0 = never.
    pub eval_every: usize,
    pub device: Device,
    pub progress: bool,
    /// Recorded in the checkpoint (data set description, command line).
    pub notes: std::collections::BTreeMap<String, String>,
}

fn to_host(b: crate::data::Batch) -> HostBatch {
    HostBatch {
        images: b.images,
        conf_t: b.conf_t,
        loc_t: b.loc_t,
        batch: b.size,
    }
}

/// Trains on `train`, evaluating on `val`. Returns the per-epoch history (including epochs of
/// a resumed run).
pub fn fit(
    cfg: &FitConfig,
    train: Arc<dyn Dataset>,
    val: Option<Arc<dyn Dataset>>,
) -> Result<(Trainer, Vec<EpochMetrics>), TrainError> {
    let classes = train.class_names().to_vec();
    let last = cfg.out_dir.join("last");
    let mut trainer = if cfg.resume && checkpoint::state_path(&last).exists() {
        let t = Trainer::resume(&last, cfg.device)?;
        if t.state.class_names != classes {
            return Err(TrainError::Checkpoint {
                path: checkpoint::state_path(&last),
                msg: format!(
                    "trained on classes {:?}, data set has {classes:?}",
                    t.state.class_names
                ),
            });
        }
        log::info!(
            "resuming {} from epoch {}, step {}",
            last.display(),
            t.state.epoch,
            t.state.step
        );
        if let Some(w) = &cfg.backbone_weights {
            log::info!(
                "--backbone-weights {} not read: the checkpoint holds the weights",
                w.display()
            );
        }
        t
    } else {
        let spec = NetSpec::from_name(&cfg.arch, classes.len() + 1)?;
        let loader_probe = train.len() / cfg.batch.max(1);
        let total = loader_probe.max(1) * cfg.epochs;
        let decay = match &cfg.schedule {
            ScheduleKind::Cosine => Decay::Cosine { min_factor: 0.01 },
            ScheduleKind::Step(fr) => Decay::Step {
                milestones: fr.iter().map(|f| (f * total as f64) as usize).collect(),
                gamma: 0.1,
            },
        };
        let optim = OptimConfig {
            momentum: cfg.momentum,
            weight_decay: cfg.weight_decay,
            schedule: LrSchedule {
                base_lr: cfg.lr,
                warmup_steps: cfg.warmup_steps,
                warmup_factor: 0.1,
                total_steps: total,
                decay,
            },
        };
        let s = spec.input_size as u32;
        let input = cfg.normalize.at_size(s, s);
        let mut t = Trainer::new(spec, optim, classes.clone(), input, cfg.device)?;
        if cfg.init_weights.is_some() && cfg.backbone_weights.is_some() {
            return Err(TrainError::Config(
                "give --weights (a whole network) or --backbone-weights, not both".into(),
            ));
        }
        if let Some(w) = &cfg.init_weights {
            crate::net::load_weights(&mut t.vs, w)?;
            log::info!("initial weights from {}", w.display());
        }
        if let Some(w) = &cfg.backbone_weights {
            let report = load_backbone(&mut t.vs, &t.spec, w)?;
            log::info!("{report}");
            t.state.notes.insert("backbone".into(), report.to_string());
            warn_normalisation(report.backbone, &cfg.normalize);
        } else if cfg.freeze_backbone_epochs > 0 && cfg.init_weights.is_none() {
            return Err(TrainError::Config(
                "--freeze-backbone-epochs needs --backbone-weights (or --weights): it would \
                 freeze a randomly initialised backbone"
                    .into(),
            ));
        }
        let notes = std::mem::take(&mut t.state.notes);
        t.state.notes = cfg.notes.clone();
        t.state.notes.extend(notes);
        t
    };
    if trainer.state.epoch >= cfg.epochs {
        log::info!("already trained for {} epochs", trainer.state.epoch);
    }
    if cfg.freeze_backbone_epochs > 0 {
        let names = backbone_parameters(&trainer.spec)?
            .into_iter()
            .map(|(ours, _, _)| ours)
            .collect();
        trainer.freeze = Some(FreezePlan {
            names,
            epochs: cfg.freeze_backbone_epochs,
        });
    }
    let spec = trainer.spec.clone();
    let mut lcfg = LoaderConfig::training(spec.priors.generate(), cfg.batch, cfg.seed);
    lcfg.image_size = spec.input_size;
    lcfg.variances = spec.variances;
    lcfg.workers = cfg.workers.max(1);
    lcfg.normalize = cfg.normalize;
    lcfg.augment = cfg.augment.then(AugmentConfig::ssd);
    let loader = BatchLoader::new(train, lcfg).map_err(|e| TrainError::Batch(e.to_string()))?;
    log::info!(
        "{}: {:.2} GMAC/image, {:.2} M parameters, {} priors, {} batches of {} per epoch on {:?}",
        spec.arch,
        spec.macs() as f64 / 1e9,
        spec.num_params() as f64 / 1e6,
        spec.num_priors(),
        loader.batches_per_epoch(),
        cfg.batch,
        trainer.device()
    );
    let norm = cfg.normalize;
    let epochs = cfg.epochs;
    let eval_every = cfg.eval_every;
    let mut progress = Progress::new(cfg.progress);
    let history = run(
        &mut trainer,
        epochs,
        &cfg.out_dir,
        |epoch| {
            let e = loader.epoch(epoch as u64);
            let n = e.len();
            Ok((
                e.map(|b| b.map(to_host).map_err(|e| TrainError::Batch(e.to_string()))),
                n,
            ))
        },
        |t, epoch| match &val {
            Some(v) if eval_every > 0 && (epoch % eval_every == 0 || epoch == epochs) => {
                let r = evaluate(t, v.as_ref(), &norm)?;
                Ok(r.map07)
            }
            _ => Ok(None),
        },
        &mut progress,
    )?;
    if loader.skipped() > 0 {
        log::warn!("{} unreadable samples were skipped", loader.skipped());
    }
    Ok((trainer, history))
}

/// The pretrained backbones saw one input convention on ImageNet; fine-tuning with another
/// works but starts further from their features.
fn warn_normalisation(bb: Backbone, norm: &Normalization) {
    let (want, flag) = match bb {
        Backbone::Vgg16ReducedFc => (Normalization::CAFFE_BGR, "ssd"),
        Backbone::MobileNetV2 | Backbone::MobileNetV3Large => (Normalization::IMAGENET, "imagenet"),
    };
    if *norm != want {
        log::warn!(
            "the {} backbone was trained on {flag}-normalised input (--normalize {flag}); \
             this run normalises otherwise",
            bb.describe()
        );
    }
}
