//! Batch loader: shapes, SSD targets, determinism whatever the thread count, unreadable
//! samples skipped and counted, early drop without hanging; and a throughput benchmark
//! (`cargo test -p ssd-train --test data_loader -- --ignored --nocapture`).

use ssd_core::ssd::PriorConfig;
use ssd_core::synth::SynthConfig;
use ssd_train::data::{BatchLoader, DataError, Dataset, LoaderConfig, Sample, SynthDataset};
use std::sync::Arc;

fn config(workers: usize) -> LoaderConfig {
    let mut c = LoaderConfig::training(PriorConfig::ssd300_voc().generate(), 4, 77);
    c.workers = workers;
    c
}

#[test]
fn batches_have_the_contract_shapes_and_positives() {
    let ds: Arc<dyn Dataset> = Arc::new(SynthDataset::new(SynthConfig::default(), 1, 12));
    let loader = BatchLoader::new(ds, config(2)).unwrap();
    assert_eq!(loader.batches_per_epoch(), 3);
    let mut n = 0;
    for b in loader.epoch(0) {
        let b = b.unwrap();
        assert_eq!(b.size, 4);
        assert_eq!(b.images.len(), 4 * 3 * 300 * 300);
        assert_eq!(b.conf_t.len(), 4 * 8732);
        assert_eq!(b.loc_t.len(), 4 * 8732 * 4);
        assert!(b.images.iter().all(|v| v.is_finite()));
        assert!(b.loc_t.iter().all(|v| v.is_finite()));
        assert!(b.conf_t.iter().all(|&c| (0..=3).contains(&c)));
        for j in 0..4 {
            let pos = b.conf_t[j * 8732..(j + 1) * 8732]
                .iter()
                .filter(|&&c| c > 0)
                .count();
            // every kept truth claims at least one prior
            assert!(
                pos >= b.targets[j].boxes.len(),
                "image {j}: {pos} positives"
            );
        }
        n += 1;
    }
    assert_eq!(n, 3);
}

#[test]
fn batch_content_does_not_depend_on_thread_count() {
    let ds: Arc<dyn Dataset> = Arc::new(SynthDataset::new(SynthConfig::default(), 2, 8));
    let one = BatchLoader::new(ds.clone(), config(1)).unwrap();
    let three = BatchLoader::new(ds, config(3)).unwrap();
    let a: Vec<_> = one.epoch(1).map(|b| b.unwrap()).collect();
    let b: Vec<_> = three.epoch(1).map(|b| b.unwrap()).collect();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.indices, y.indices);
        assert_eq!(x.images, y.images);
        assert_eq!(x.conf_t, y.conf_t);
        assert_eq!(x.loc_t, y.loc_t);
    }
    // another epoch is shuffled and augmented differently
    let c: Vec<_> = one.epoch(2).map(|b| b.unwrap()).collect();
    assert_ne!(a[0].images, c[0].images);
}

struct Flaky(SynthDataset);

impl Dataset for Flaky {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, i: usize) -> Result<Sample, DataError> {
        if i % 3 == 1 {
            return Err(DataError::Image {
                path: format!("img{i}.jpg").into(),
                message: "corrupt".into(),
            });
        }
        self.0.get(i)
    }
    fn class_names(&self) -> &[String] {
        self.0.class_names()
    }
}

#[test]
fn unreadable_samples_are_replaced_and_counted() {
    let ds: Arc<dyn Dataset> = Arc::new(Flaky(SynthDataset::new(SynthConfig::default(), 3, 6)));
    let mut cfg = config(2);
    cfg.batch_size = 3;
    let loader = BatchLoader::new(ds, cfg).unwrap();
    let batches: Vec<_> = loader.epoch(0).map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), 2);
    for b in &batches {
        assert!(b.indices.iter().all(|i| i % 3 != 1));
    }
    assert_eq!(loader.skipped(), 2);
}

#[test]
fn bad_configs_are_errors_and_dropping_an_epoch_early_does_not_hang() {
    let ds: Arc<dyn Dataset> = Arc::new(SynthDataset::new(SynthConfig::default(), 4, 3));
    assert!(
        BatchLoader::new(ds.clone(), config(1)).is_err(),
        "fewer samples than a batch"
    );
    let empty: Arc<dyn Dataset> = Arc::new(SynthDataset::new(SynthConfig::default(), 4, 0));
    assert!(BatchLoader::new(empty, config(1)).is_err());
    let ds: Arc<dyn Dataset> = Arc::new(SynthDataset::new(SynthConfig::default(), 4, 40));
    let loader = BatchLoader::new(ds, config(3)).unwrap();
    let mut e = loader.epoch(0);
    let first = e.next().unwrap().unwrap();
    assert_eq!(first.size, 4);
    // Workers blocked on full queues must exit: a hang fails after a bounded wait instead of
    // stalling the test run.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(e);
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(DROP_LIMIT).is_ok(),
        "dropping an epoch after one batch did not return within {DROP_LIMIT:?}"
    );
}

/// Far beyond the milliseconds a drop takes, even on a loaded machine.
const DROP_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

#[test]
#[ignore = "benchmark: prints loader throughput"]
fn loader_throughput() {
    let n = 128;
    let ds: Arc<dyn Dataset> = Arc::new(SynthDataset::new(SynthConfig::default(), 5, n));
    for workers in [1, 2] {
        let mut cfg = config(workers);
        cfg.batch_size = 16;
        let loader = BatchLoader::new(ds.clone(), cfg).unwrap();
        let t = std::time::Instant::now();
        let mut imgs = 0;
        for b in loader.epoch(0) {
            imgs += b.unwrap().size;
        }
        let s = t.elapsed().as_secs_f64();
        println!("loader: {workers} worker(s): {imgs} images in {s:.2} s = {:.1} images/s (synth render + augment + match 8732 priors)", imgs as f64 / s);
    }
}
