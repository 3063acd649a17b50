//! The training loop: SGD with momentum and weight decay, warm-up + step/cosine schedule,
//! MultiBox loss, checkpoints with resume, progress line, metrics CSV and plot.
//!
//! The trainer sees batches as host buffers (`HostBatch`), so it does not depend on how they
//! are produced (the data module's threaded loader in the CLI, hand-made batches in tests).

pub mod bench;
pub mod checkpoint;
pub mod evaluate;
pub mod fit;
pub mod metrics;
pub mod plot;
pub mod schedule;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::loss::MultiBoxLoss;
use crate::net::{NetError, NetSpec, SsdNet};
pub use checkpoint::TrainState;
pub use metrics::EpochMetrics;
pub use schedule::{Decay, LrSchedule};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("checkpoint {path}: {msg}")]
    Checkpoint { path: PathBuf, msg: String },
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("batch: {0}")]
    Batch(String),
    #[error("evaluation: {0}")]
    Eval(String),
    #[error("backbone weights: {0}")]
    Backbone(Box<crate::import::backbone::BackboneError>),
    #[error("{0}")]
    Config(String),
}

impl From<crate::net::SpecError> for TrainError {
    fn from(e: crate::net::SpecError) -> Self {
        TrainError::Net(e.into())
    }
}

impl From<crate::import::backbone::BackboneError> for TrainError {
    fn from(e: crate::import::backbone::BackboneError) -> Self {
        TrainError::Backbone(Box::new(e))
    }
}

impl TrainError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Optimiser settings (recorded in the checkpoint state).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimConfig {
    pub momentum: f64,
    pub weight_decay: f64,
    pub schedule: LrSchedule,
}

/// One batch in host memory, as the data loader produces it.
pub struct HostBatch {
    /// B x 3 x S x S, normalised.
    pub images: Vec<f32>,
    /// B x P class targets (0 background).
    pub conf_t: Vec<i64>,
    /// B x P x 4 encoded offsets.
    pub loc_t: Vec<f32>,
    pub batch: usize,
}

pub struct StepStats {
    pub loss: f64,
    pub loss_loc: f64,
    pub loss_conf: f64,
    pub num_pos: i64,
    pub lr: f64,
    /// False when the loss was not finite and the update was skipped.
    pub applied: bool,
}

pub struct Trainer {
    pub vs: nn::VarStore,
    pub net: SsdNet,
    pub spec: NetSpec,
    pub state: TrainState,
    /// Variables `run` keeps fixed for the first epochs (fine-tuning from a backbone).
    pub freeze: Option<FreezePlan>,
    opt: nn::Optimizer,
    loss: MultiBoxLoss,
    frozen: Frozen,
}

/// Which variables stay fixed, and for how many epochs (`run` freezes them while the epoch
/// being trained is at most `epochs`, then unfreezes them).
#[derive(Clone, Debug, PartialEq)]
pub struct FreezePlan {
    /// VarStore names, e.g. `import::backbone::backbone_parameters`'s.
    pub names: Vec<String>,
    pub epochs: usize,
}

/// What is frozen now: parameters with `requires_grad` off (no gradient, so SGD neither
/// updates nor decays them), and batch-norm running statistics with the values to restore
/// after each training forward (a train-mode forward updates them).
#[derive(Default)]
struct Frozen {
    params: Vec<Tensor>,
    stats: Vec<(Tensor, Tensor)>,
}

pub fn default_device() -> Device {
    Device::cuda_if_available()
}

impl Trainer {
    /// A freshly initialised network (`state.step` 0).
    pub fn new(
        spec: NetSpec,
        optim: OptimConfig,
        class_names: Vec<String>,
        input: ssd_model::model::InputSpec,
        device: Device,
    ) -> Result<Self, TrainError> {
        let vs = nn::VarStore::new(device);
        let net = SsdNet::new(&vs.root(), &spec)?;
        let opt = nn::sgd(optim.momentum, 0.0, optim.weight_decay, false)
            .build(&vs, optim.schedule.lr(0))?;
        let state = TrainState::new(&spec, optim, class_names, input);
        Ok(Self {
            vs,
            net,
            spec,
            state,
            freeze: None,
            opt,
            loss: MultiBoxLoss::default(),
            frozen: Frozen::default(),
        })
    }

    /// Fixes the named variables until `unfreeze`: parameters get no gradient (and so no
    /// update, weight decay or momentum), running statistics are put back after every
    /// training step. The frozen layers still normalise with batch statistics in the
    /// training forward (the network has one train/eval switch), but what they store does
    /// not change. Returns (parameters, statistics) frozen.
    pub fn freeze(&mut self, names: &[String]) -> Result<(usize, usize), TrainError> {
        self.unfreeze();
        let vars = self.vs.variables();
        let mut frozen = Frozen::default();
        for name in names {
            let v = vars.get(name).ok_or_else(|| {
                TrainError::Config(format!(
                    "cannot freeze `{name}`: the network has no such variable"
                ))
            })?;
            if v.requires_grad() {
                frozen.params.push(v.shallow_clone());
            } else {
                frozen.stats.push((v.shallow_clone(), v.copy()));
            }
        }
        for p in &frozen.params {
            let _ = p.set_requires_grad(false);
        }
        self.frozen = frozen;
        Ok((self.frozen.params.len(), self.frozen.stats.len()))
    }

    /// Makes every frozen variable trainable again.
    pub fn unfreeze(&mut self) {
        for p in self.frozen.params.drain(..) {
            let _ = p.set_requires_grad(true);
        }
        self.frozen.stats.clear();
    }

    pub fn is_frozen(&self) -> bool {
        !self.frozen.params.is_empty() || !self.frozen.stats.is_empty()
    }

    /// Freezes or unfreezes as `freeze` says for training epoch `epoch` (1-based).
    pub fn apply_freeze_plan(&mut self, epoch: usize) -> Result<(), TrainError> {
        let Some(plan) = self.freeze.clone() else {
            return Ok(());
        };
        if epoch <= plan.epochs && !self.is_frozen() {
            let (p, s) = self.freeze(&plan.names)?;
            log::info!(
                "epoch {epoch}: backbone frozen ({p} parameter tensors, {s} batch-norm \
                 statistics) through epoch {}",
                plan.epochs
            );
        } else if epoch > plan.epochs && (self.is_frozen() || epoch == plan.epochs + 1) {
            // Also said when a resumed run starts here, never having frozen anything.
            self.unfreeze();
            log::info!("epoch {epoch}: backbone unfrozen, training the whole network");
        }
        Ok(())
    }

    /// Continues from a checkpoint written by `save` (its network, weights, step and
    /// schedule). SGD momentum buffers are not in the checkpoint: they rebuild in a few steps.
    pub fn resume(checkpoint: &Path, device: Device) -> Result<Self, TrainError> {
        let state = TrainState::load(checkpoint)?;
        let spec = state.spec()?;
        let mut t = Self::new(
            spec,
            state.optim.clone(),
            state.class_names.clone(),
            state.input.clone(),
            device,
        )?;
        crate::net::load_weights(&mut t.vs, &checkpoint::weights_path(checkpoint))?;
        t.state = state;
        Ok(t)
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// One optimiser step on `b`. A non-finite loss skips the update (and is reported) so one
    /// bad batch cannot destroy the weights.
    pub fn step(&mut self, b: &HostBatch) -> Result<StepStats, TrainError> {
        let s = self.spec.input_size as i64;
        let p = self.spec.num_priors() as i64;
        let n = b.batch as i64;
        if b.images.len() as i64 != n * 3 * s * s
            || b.conf_t.len() as i64 != n * p
            || b.loc_t.len() as i64 != n * p * 4
        {
            return Err(TrainError::Batch(format!(
                "batch of {n}: {} image values, {} conf targets, {} loc values; network needs \
                 {n}x3x{s}x{s} and {p} priors",
                b.images.len(),
                b.conf_t.len(),
                b.loc_t.len()
            )));
        }
        let dev = self.device();
        let images = Tensor::from_slice(&b.images)
            .view([n, 3, s, s])
            .to_device(dev);
        let conf_t = Tensor::from_slice(&b.conf_t).view([n, p]).to_device(dev);
        let loc_t = Tensor::from_slice(&b.loc_t).view([n, p, 4]).to_device(dev);
        let lr = self.state.optim.schedule.lr(self.state.step);
        self.opt.set_lr(lr);
        let (loc, conf) = self.net.forward_t(&images, true);
        tch::no_grad(|| {
            for (live, kept) in &self.frozen.stats {
                live.shallow_clone().copy_(kept);
            }
        });
        let parts = self.loss.compute(&loc, &conf, &loc_t, &conf_t);
        let total = parts.total(self.loss.alpha);
        let value = f64::try_from(&total)?;
        let applied = value.is_finite();
        if applied {
            self.opt.zero_grad();
            total.backward();
            self.opt.step();
        } else {
            log::warn!("step {}: loss is {value}, update skipped", self.state.step);
        }
        self.state.step += 1;
        Ok(StepStats {
            loss: value,
            loss_loc: f64::try_from(&parts.loc)?,
            loss_conf: f64::try_from(&parts.conf)?,
            num_pos: parts.num_pos,
            lr,
            applied,
        })
    }

    /// Inference-mode forward of `n` images (host buffer, normalised): loc [n*P*4] and conf
    /// logits [n*P*C], row-major.
    pub fn predict(&self, images: &[f32], n: usize) -> Result<(Vec<f32>, Vec<f32>), TrainError> {
        let s = self.spec.input_size as i64;
        if images.len() != n * 3 * (s * s) as usize {
            return Err(TrainError::Batch(format!(
                "{} values for {n} images of 3x{s}x{s}",
                images.len()
            )));
        }
        let x = Tensor::from_slice(images)
            .view([n as i64, 3, s, s])
            .to_device(self.device());
        let (loc, conf) = tch::no_grad(|| self.net.forward_t(&x, false));
        let flat = |t: Tensor| {
            Vec::<f32>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Float).reshape([-1]))
        };
        Ok((flat(loc)?, flat(conf)?))
    }

    /// Writes `<stem>.safetensors` + `<stem>.json` (weights, then state; each through a
    /// temporary file and a rename so an interrupted write leaves the previous checkpoint).
    pub fn save(&self, stem: &Path) -> Result<(), TrainError> {
        checkpoint::save(&self.vs, &self.state, stem)
    }
}

/// Where the progress line goes; separated so tests can keep stderr quiet.
pub struct Progress {
    last: Instant,
    pub enabled: bool,
}

impl Progress {
    pub fn new(enabled: bool) -> Self {
        Self {
            last: Instant::now(),
            enabled,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn show(
        &mut self,
        epoch: usize,
        epochs: usize,
        i: usize,
        n: usize,
        loss: f64,
        lr: f64,
        ips: f64,
        force: bool,
    ) {
        if !self.enabled || (!force && self.last.elapsed().as_millis() < 500) {
            return;
        }
        self.last = Instant::now();
        let width = 24;
        let done = (i * width) / n.max(1);
        let bar: String = (0..width)
            .map(|k| if k < done { '#' } else { '.' })
            .collect();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\repoch {epoch}/{epochs} [{bar}] {i}/{n} loss {loss:.4} lr {lr:.2e} {ips:.1} img/s   "
        );
        if force {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

/// Runs training to `epochs` (counting epochs already done in `trainer.state`). Each epoch:
/// batches from `batches(epoch)`, then `evaluate` (mAP as a fraction, or None to skip), a CSV
/// row, the plot, and a checkpoint `last` (and `best` when mAP improved) in `out_dir`.
pub fn run<I, B, E>(
    trainer: &mut Trainer,
    epochs: usize,
    out_dir: &Path,
    mut batches: B,
    mut evaluate: E,
    progress: &mut Progress,
) -> Result<Vec<EpochMetrics>, TrainError>
where
    I: Iterator<Item = Result<HostBatch, TrainError>>,
    B: FnMut(usize) -> Result<(I, usize), TrainError>,
    E: FnMut(&Trainer, usize) -> Result<Option<f64>, TrainError>,
{
    std::fs::create_dir_all(out_dir).map_err(|e| TrainError::io(out_dir, e))?;
    let csv = out_dir.join("metrics.csv");
    while trainer.state.epoch < epochs {
        let epoch = trainer.state.epoch + 1;
        trainer.apply_freeze_plan(epoch)?;
        let started = Instant::now();
        let (mut iter, n_batches) = batches(epoch)?;
        let (mut sum, mut sum_l, mut sum_c, mut count, mut images, mut skipped) =
            (0.0, 0.0, 0.0, 0usize, 0usize, 0usize);
        let mut lr = 0.0;
        let mut data_wait = 0.0;
        let mut i = 0;
        loop {
            let waited = Instant::now();
            let Some(b) = iter.next() else { break };
            data_wait += waited.elapsed().as_secs_f64();
            let b = b?;
            let st = trainer.step(&b)?;
            images += b.batch;
            lr = st.lr;
            if st.applied {
                sum += st.loss;
                sum_l += st.loss_loc;
                sum_c += st.loss_conf;
                count += 1;
            } else {
                skipped += 1;
            }
            let ips = images as f64 / started.elapsed().as_secs_f64();
            i += 1;
            progress.show(
                epoch,
                epochs,
                i,
                n_batches,
                sum / count.max(1) as f64,
                lr,
                ips,
                false,
            );
        }
        drop(iter);
        let train_secs = started.elapsed().as_secs_f64();
        let ips = images as f64 / train_secs.max(1e-9);
        let mean = |v: f64| {
            if count > 0 {
                v / count as f64
            } else {
                f64::NAN
            }
        };
        progress.show(
            epoch,
            epochs,
            n_batches,
            n_batches,
            mean(sum),
            lr,
            ips,
            true,
        );
        let eval_started = Instant::now();
        let map = evaluate(trainer, epoch)?;
        let eval_s = eval_started.elapsed().as_secs_f64();
        let m = EpochMetrics {
            epoch,
            step: trainer.state.step,
            loss: mean(sum),
            loss_loc: mean(sum_l),
            loss_conf: mean(sum_c),
            lr,
            images_per_s: ips,
            map,
            skipped,
            seconds: started.elapsed().as_secs_f64(),
            data_wait_s: data_wait,
            eval_s,
        };
        log::info!(
            "epoch {epoch}: loss {:.4} (loc {:.4}, conf {:.4}), {:.1} img/s, {:.1} s training \
             of which {:.1} s waiting for data, {:.1} s evaluating{}",
            m.loss,
            m.loss_loc,
            m.loss_conf,
            ips,
            train_secs,
            data_wait,
            eval_s,
            map.map(|v| format!(", mAP {:.2}%", v * 100.0))
                .unwrap_or_default()
        );
        metrics::append_csv(&csv, &m)?;
        trainer.state.epoch = epoch;
        trainer.state.history.push(m);
        plot::write(&out_dir.join("plot.png"), &trainer.state.history)?;
        if let Some(v) = map {
            if trainer.state.best_map.is_none_or(|b| v > b) {
                trainer.state.best_map = Some(v);
                trainer.save(&out_dir.join("best"))?;
            }
        }
        trainer.save(&out_dir.join("last"))?;
    }
    Ok(trainer.state.history.clone())
}
