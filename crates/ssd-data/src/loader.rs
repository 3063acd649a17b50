//! Threaded batch loader: worker threads decode, augment, resize, normalise and match priors
//! ahead of the training step, into bounded queues, so the device never waits for data and
//! memory stays bounded.
//!
//! Batch b of an epoch is made by worker b % W and read from that worker's queue in order,
//! and every random choice is seeded by (seed, epoch, position in the epoch): the batches are
//! identical whatever the number of workers.

use super::augment::{prepare, AugmentConfig, Targets};
use super::{DataError, Dataset};
use ssd_core::image::preprocess::Normalization;
use ssd_core::ssd::{match_priors, CenterBox, Variances};
use ssd_core::synth::Rng;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

#[derive(Clone, Debug)]
pub struct LoaderConfig {
    pub batch_size: usize,
    /// Output images are image_size x image_size.
    pub image_size: usize,
    pub workers: usize,
    /// Batches each worker may have ready ahead of the consumer.
    pub prefetch: usize,
    pub shuffle: bool,
    pub seed: u64,
    /// `None`: resize only (evaluation).
    pub augment: Option<AugmentConfig>,
    pub normalize: Normalization,
    pub priors: Vec<CenterBox>,
    pub match_threshold: f32,
    pub variances: Variances,
    pub drop_last: bool,
    /// ssd.pytorch trains without difficult objects (keep_difficult=False).
    pub keep_difficult: bool,
}

impl LoaderConfig {
    /// SSD training defaults for the given priors (augmentation on, 300x300, ssd.pytorch
    /// normalisation, threshold 0.5, the default variances).
    pub fn training(priors: Vec<CenterBox>, batch_size: usize, seed: u64) -> Self {
        LoaderConfig {
            batch_size,
            image_size: 300,
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .min(4),
            prefetch: 2,
            shuffle: true,
            seed,
            augment: Some(AugmentConfig::ssd()),
            normalize: Normalization::CAFFE_BGR,
            priors,
            match_threshold: 0.5,
            variances: Variances::default(),
            drop_last: true,
            keep_difficult: false,
        }
    }
}

/// One training batch, ready for the device.
#[derive(Clone, Debug)]
pub struct Batch {
    /// size * 3 * S * S, NCHW, normalised.
    pub images: Vec<f32>,
    /// size * P: 0 background, label + 1 otherwise.
    pub conf_t: Vec<i64>,
    /// size * P * 4: encoded offsets of the matched truth.
    pub loc_t: Vec<f32>,
    /// Images in this batch.
    pub size: usize,
    pub image_size: usize,
    pub num_priors: usize,
    /// Data set index of each image (after substitutions for unreadable samples).
    pub indices: Vec<usize>,
    /// Boxes after augmentation, per image (normalised to the output image).
    pub targets: Vec<Targets>,
}

pub struct BatchLoader {
    dataset: Arc<dyn Dataset>,
    cfg: Arc<LoaderConfig>,
    skipped: Arc<AtomicUsize>,
}

/// How many following samples to try when one cannot be read.
const SUBSTITUTE_TRIES: usize = 16;

impl BatchLoader {
    pub fn new(dataset: Arc<dyn Dataset>, cfg: LoaderConfig) -> Result<Self, DataError> {
        if cfg.batch_size == 0 || cfg.image_size == 0 {
            return Err(DataError::Config(
                "batch size and image size must be positive".into(),
            ));
        }
        if cfg.priors.is_empty() {
            return Err(DataError::Config("no priors".into()));
        }
        if dataset.is_empty() {
            return Err(DataError::Config("data set is empty".into()));
        }
        if cfg.drop_last && dataset.len() < cfg.batch_size {
            return Err(DataError::Config(format!(
                "data set has {} samples, fewer than one batch of {}",
                dataset.len(),
                cfg.batch_size
            )));
        }
        Ok(BatchLoader {
            dataset,
            cfg: Arc::new(cfg),
            skipped: Arc::new(AtomicUsize::new(0)),
        })
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.cfg
    }

    pub fn batches_per_epoch(&self) -> usize {
        let n = self.dataset.len();
        if self.cfg.drop_last {
            n / self.cfg.batch_size
        } else {
            n.div_ceil(self.cfg.batch_size)
        }
    }

    /// Samples that could not be read so far (each replaced by a following one).
    pub fn skipped(&self) -> usize {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Sample order of an epoch.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.dataset.len()).collect();
        if self.cfg.shuffle {
            Rng::from_parts(&[self.cfg.seed, epoch, 0x0D3]).shuffle(&mut order);
        }
        order
    }

    /// Start the workers for one epoch; the iterator yields its batches in order. Dropping
    /// it stops the workers.
    pub fn epoch(&self, epoch: u64) -> Epoch {
        let order = Arc::new(self.order(epoch));
        let nb = self.batches_per_epoch();
        let workers = self.cfg.workers.clamp(1, nb.max(1));
        let mut queues = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for k in 0..workers {
            let (tx, rx) = sync_channel(self.cfg.prefetch.max(1));
            let (ds, cfg, order, skipped) = (
                self.dataset.clone(),
                self.cfg.clone(),
                order.clone(),
                self.skipped.clone(),
            );
            let h = std::thread::Builder::new()
                .name(format!("loader-{k}"))
                .spawn(move || {
                    for b in (k..nb).step_by(workers) {
                        let batch = make_batch(ds.as_ref(), &cfg, &order, epoch, b, &skipped);
                        if tx.send(batch).is_err() {
                            return; // consumer gone
                        }
                    }
                })
                .expect("spawning a loader thread");
            queues.push(rx);
            handles.push(h);
        }
        Epoch {
            queues,
            handles,
            next: 0,
            total: nb,
        }
    }
}

pub struct Epoch {
    queues: Vec<Receiver<Result<Batch, DataError>>>,
    handles: Vec<JoinHandle<()>>,
    next: usize,
    total: usize,
}

impl Epoch {
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

impl Iterator for Epoch {
    type Item = Result<Batch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.total {
            return None;
        }
        let q = &self.queues[self.next % self.queues.len()];
        self.next += 1;
        match q.recv() {
            Ok(b) => Some(b),
            Err(_) => Some(Err(DataError::Config(
                "a loader thread stopped unexpectedly".into(),
            ))),
        }
    }
}

impl Drop for Epoch {
    fn drop(&mut self) {
        self.queues.clear(); // unblocks workers waiting to send
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

fn make_batch(
    ds: &dyn Dataset,
    cfg: &LoaderConfig,
    order: &[usize],
    epoch: u64,
    b: usize,
    skipped: &AtomicUsize,
) -> Result<Batch, DataError> {
    let start = b * cfg.batch_size;
    let end = (start + cfg.batch_size).min(order.len());
    let n = end - start;
    let s = cfg.image_size;
    let p = cfg.priors.len();
    let mut batch = Batch {
        images: vec![0.0; n * 3 * s * s],
        conf_t: vec![0; n * p],
        loc_t: vec![0.0; n * p * 4],
        size: n,
        image_size: s,
        num_priors: p,
        indices: Vec::with_capacity(n),
        targets: Vec::with_capacity(n),
    };
    let mut loc = vec![[0.0f32; 4]; p];
    for j in 0..n {
        let pos = start + j;
        let mut rng = Rng::from_parts(&[cfg.seed, epoch, pos as u64, 0xA06]);
        let (idx, mut sample) = read_with_substitute(ds, order[pos], skipped)?;
        if !cfg.keep_difficult {
            let keep: Vec<bool> = sample.difficult.iter().map(|d| !d).collect();
            let mut k = keep.iter();
            sample.boxes.retain(|_| *k.next().unwrap_or(&true));
            let mut k = keep.iter();
            sample.labels.retain(|_| *k.next().unwrap_or(&true));
            sample.difficult.retain(|d| !d);
        }
        let out = &mut batch.images[j * 3 * s * s..(j + 1) * 3 * s * s];
        let t = prepare(
            &sample,
            cfg.augment.as_ref(),
            &cfg.normalize,
            s,
            &mut rng,
            out,
        )?;
        let conf = &mut batch.conf_t[j * p..(j + 1) * p];
        match_priors(
            &t.boxes,
            &t.labels,
            &cfg.priors,
            cfg.match_threshold,
            cfg.variances,
            conf,
            &mut loc,
        );
        for (k, l) in loc.iter().enumerate() {
            batch.loc_t[(j * p + k) * 4..(j * p + k) * 4 + 4].copy_from_slice(l);
        }
        batch.indices.push(idx);
        batch.targets.push(t);
    }
    Ok(batch)
}

fn read_with_substitute(
    ds: &dyn Dataset,
    first: usize,
    skipped: &AtomicUsize,
) -> Result<(usize, super::Sample), DataError> {
    let mut last_err = None;
    for k in 0..SUBSTITUTE_TRIES.min(ds.len()) {
        let idx = (first + k) % ds.len();
        match ds.get(idx) {
            Ok(s) => return Ok((idx, s)),
            Err(e) => {
                skipped.fetch_add(1, Ordering::Relaxed);
                log::warn!(
                    "skipping unreadable sample {} ({}): {e}",
                    idx,
                    ds.sample_name(idx)
                );
                last_err = Some(e);
            }
        }
    }
    Err(last_err.unwrap_or(DataError::Config("no readable sample".into())))
}
