//! Speed of a configuration on this machine: tch forward (batch 1) and training images/s,
//! and the exported float ONNX forward in tract (what the board runs). The PyTorch side of
//! the comparison is `train/scripts/bench_torch.py`, fed the same `NetSpec` as JSON.
//! `loader` times the data side alone (render or read, augment, resize, match), so a slow
//! training run can be pinned on the loader or on the network.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use tch::{Device, Kind, Tensor};

use super::{Decay, HostBatch, LrSchedule, OptimConfig, TrainError, Trainer};
use crate::net::NetSpec;

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub arch: String,
    pub threads: i32,
    pub gmacs: f64,
    pub params_m: f64,
    pub forward_ms: f64,
    pub batch: usize,
    pub train_images_per_s: f64,
    /// One training step split up (ms per batch): forward, MultiBox loss, backward +
    /// optimiser update.
    pub step_forward_ms: f64,
    pub step_loss_ms: f64,
    pub step_backward_ms: f64,
    pub tract_forward_ms: Option<f64>,
}

pub struct BenchOptions {
    pub threads: i32,
    pub batch: usize,
    pub steps: usize,
    pub forwards: usize,
    pub tract: bool,
}

fn random_batch(spec: &NetSpec, batch: usize) -> HostBatch {
    let s = spec.input_size as i64;
    let p = spec.num_priors() as i64;
    let b = batch as i64;
    let images = Tensor::randn([b, 3, s, s], (Kind::Float, Device::Cpu));
    let loc_t = Tensor::randn([b, p, 4], (Kind::Float, Device::Cpu)) * 0.5;
    // About 1% positives, as matched SSD targets have.
    let cls = Tensor::randint(spec.num_classes as i64, [b, p], (Kind::Int64, Device::Cpu));
    let keep = Tensor::rand([b, p], (Kind::Float, Device::Cpu)).lt(0.01);
    let conf_t = cls * keep.to_kind(Kind::Int64);
    let v = |t: Tensor| Vec::<f32>::try_from(t.reshape([-1])).expect("f32 tensor");
    HostBatch {
        images: v(images),
        loc_t: v(loc_t),
        conf_t: Vec::<i64>::try_from(conf_t.reshape([-1])).expect("i64 tensor"),
        batch,
    }
}

pub fn run(spec: &NetSpec, opts: &BenchOptions) -> Result<BenchReport, TrainError> {
    tch::set_num_threads(opts.threads);
    tch::manual_seed(0);
    let optim = OptimConfig {
        momentum: 0.9,
        weight_decay: 5e-4,
        schedule: LrSchedule {
            base_lr: 1e-4,
            warmup_steps: 0,
            warmup_factor: 1.0,
            total_steps: 1,
            decay: Decay::Cosine { min_factor: 1.0 },
        },
    };
    let names = (1..spec.num_classes).map(|i| format!("class{i}")).collect();
    let input = ssd_model::model::InputSpec::imagenet_rgb(spec.input_size as u32);
    let mut trainer = Trainer::new(spec.clone(), optim, names, input, Device::Cpu)?;
    let s = spec.input_size;
    let x: Vec<f32> = Tensor::randn([1, 3, s as i64, s as i64], (Kind::Float, Device::Cpu))
        .reshape([-1])
        .try_into()?;
    trainer.predict(&x, 1)?; // warm-up
    let t = Instant::now();
    for _ in 0..opts.forwards {
        trainer.predict(&x, 1)?;
    }
    let forward_ms = t.elapsed().as_secs_f64() * 1e3 / opts.forwards.max(1) as f64;

    let batch = random_batch(spec, opts.batch);
    trainer.step(&batch)?; // warm-up
    let t = Instant::now();
    for _ in 0..opts.steps {
        trainer.step(&batch)?;
    }
    let train_images_per_s = (opts.batch * opts.steps) as f64 / t.elapsed().as_secs_f64();
    let (step_forward_ms, step_loss_ms, step_backward_ms) =
        step_breakdown(&mut trainer, &batch, opts.steps)?;

    let tract_forward_ms = if opts.tract {
        Some(tract_forward_ms(spec, &trainer, opts.forwards)?)
    } else {
        None
    };
    Ok(BenchReport {
        arch: spec.arch.clone(),
        threads: opts.threads,
        gmacs: spec.macs() as f64 / 1e9,
        params_m: spec.num_params() as f64 / 1e6,
        forward_ms,
        batch: opts.batch,
        train_images_per_s,
        step_forward_ms,
        step_loss_ms,
        step_backward_ms,
        tract_forward_ms,
    })
}

/// The phases of `Trainer::step`, timed separately (mean ms over `steps`).
fn step_breakdown(
    trainer: &mut Trainer,
    b: &HostBatch,
    steps: usize,
) -> Result<(f64, f64, f64), TrainError> {
    let s = trainer.spec.input_size as i64;
    let p = trainer.spec.num_priors() as i64;
    let n = b.batch as i64;
    let images = Tensor::from_slice(&b.images).view([n, 3, s, s]);
    let conf_t = Tensor::from_slice(&b.conf_t).view([n, p]);
    let loc_t = Tensor::from_slice(&b.loc_t).view([n, p, 4]);
    let (mut fwd, mut loss, mut bwd) = (0.0, 0.0, 0.0);
    for _ in 0..steps.max(1) {
        let t = Instant::now();
        let (loc, conf) = trainer.net.forward_t(&images, true);
        // Results are materialised by libtorch eagerly on the CPU; the float read below
        // makes sure the loss is finished before the clock stops.
        fwd += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let parts = trainer.loss.compute(&loc, &conf, &loc_t, &conf_t);
        let total = parts.total(trainer.loss.alpha);
        let _ = f64::try_from(&total)?;
        loss += t.elapsed().as_secs_f64();
        let t = Instant::now();
        trainer.opt.zero_grad();
        total.backward();
        trainer.opt.step();
        bwd += t.elapsed().as_secs_f64();
    }
    let k = 1e3 / steps.max(1) as f64;
    Ok((fwd * k, loss * k, bwd * k))
}

/// Exports the (trained-for-a-few-steps) weights and times tract's optimised plan, batch 1.
fn tract_forward_ms(spec: &NetSpec, trainer: &Trainer, runs: usize) -> Result<f64, TrainError> {
    use tract_onnx::prelude::*;
    let dir = std::env::temp_dir().join(format!("ssd-train-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
    let path = dir.join("bench.onnx");
    let meta = crate::export::meta_for(
        spec,
        &trainer.state.class_names,
        trainer.state.input.clone(),
        Default::default(),
    );
    crate::export::export(spec, &trainer.vs, &meta, &path)
        .map_err(|e| TrainError::Eval(e.to_string()))?;
    let terr = |e: TractError| TrainError::Eval(format!("tract: {e:#}"));
    let plan = tract_onnx::onnx()
        .model_for_path(&path)
        .map_err(terr)?
        .into_optimized()
        .map_err(terr)?
        .into_runnable()
        .map_err(terr)?;
    let _ = std::fs::remove_dir_all(&dir);
    let s = spec.input_size;
    let input: tract_onnx::prelude::Tensor =
        tract_ndarray::Array4::<f32>::from_elem((1, 3, s, s), 0.5).into();
    let mut state = TypedSimpleState::new(&plan).map_err(terr)?;
    state.run(tvec!(input.clone().into())).map_err(terr)?;
    let t = Instant::now();
    for _ in 0..runs.max(1) {
        state.run(tvec!(input.clone().into())).map_err(terr)?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e3 / runs.max(1) as f64)
}

pub fn write_spec(spec: &NetSpec, path: &Path) -> Result<(), TrainError> {
    let json = serde_json::to_string_pretty(spec).expect("spec serialises");
    std::fs::write(path, json).map_err(|e| TrainError::io(path, e))
}

#[derive(Clone, Debug, Serialize)]
pub struct LoaderReport {
    pub images: usize,
    pub workers: usize,
    pub batch: usize,
    pub augment: bool,
    pub images_per_s: f64,
    /// One worker's time per image (render + augment + normalise + match), ms.
    pub ms_per_image_per_worker: f64,
}

/// Images/s of the training loader over `images` synthetic 300x300 scenes (SSD300 priors),
/// as `ssd-train train --synth` feeds them.
pub fn loader(
    images: usize,
    batch: usize,
    workers: usize,
    augment: bool,
) -> Result<LoaderReport, TrainError> {
    use crate::data::{AugmentConfig, BatchLoader, Dataset, LoaderConfig, SynthDataset};
    use std::sync::Arc;
    let ds: Arc<dyn Dataset> = Arc::new(SynthDataset::new(Default::default(), 1, images));
    let priors = ssd_core::ssd::PriorConfig::ssd300_voc().generate();
    let mut cfg = LoaderConfig::training(priors, batch, 0);
    cfg.workers = workers.max(1);
    cfg.augment = augment.then(AugmentConfig::ssd);
    let loader = BatchLoader::new(ds, cfg).map_err(|e| TrainError::Batch(e.to_string()))?;
    let t = Instant::now();
    let mut n = 0;
    for b in loader.epoch(1) {
        n += b.map_err(|e| TrainError::Batch(e.to_string()))?.size;
    }
    let secs = t.elapsed().as_secs_f64().max(1e-9);
    Ok(LoaderReport {
        images: n,
        workers: workers.max(1),
        batch,
        augment,
        images_per_s: n as f64 / secs,
        ms_per_image_per_worker: secs * 1e3 * workers.max(1) as f64 / n.max(1) as f64,
    })
}
