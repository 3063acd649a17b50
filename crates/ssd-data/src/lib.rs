//! Data sets and their measure, without libtorch: samples, data sets (Pascal VOC, COCO JSON,
//! synthetic), the paper's augmentation, a threaded batch loader that produces SSD targets
//! (plain arrays; the trainer makes tensors of them), and `eval`, the detection metrics (VOC
//! and COCO AP) of any detector over a data set. `ssd-train` trains and evaluates on these.

pub mod augment;
pub mod coco;
pub mod concat;
pub mod eval;
pub mod loader;
pub mod synth_set;
pub mod voc;

use image::RgbImage;
use ssd_core::ssd::CornerBox;
use std::path::PathBuf;

pub use augment::AugmentConfig;
pub use coco::CocoDataset;
pub use concat::Concat;
pub use loader::{Batch, BatchLoader, LoaderConfig};
pub use synth_set::{SequenceFrames, SynthDataset};
pub use voc::VocDataset;

/// One image and its ground truth; boxes are normalised corners (x0, y0, x1, y1 in [0, 1]),
/// labels are 0-based class indices into the data set's `class_names`.
#[derive(Clone, Debug)]
pub struct Sample {
    pub image: RgbImage,
    pub boxes: Vec<CornerBox>,
    pub labels: Vec<usize>,
    pub difficult: Vec<bool>,
}

pub trait Dataset: Send + Sync {
    fn len(&self) -> usize;
    fn get(&self, i: usize) -> Result<Sample, DataError>;
    fn class_names(&self) -> &[String];
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A name for sample `i` (file stem or index), for messages and result files.
    fn sample_name(&self, i: usize) -> String {
        i.to_string()
    }
}

/// `OutOfRange` unless `i < len`: for sets that compute their samples from the index.
pub(crate) fn check_index(i: usize, len: usize) -> Result<(), DataError> {
    if i < len {
        Ok(())
    } else {
        Err(DataError::OutOfRange { index: i, len })
    }
}

/// What a reader skipped or repaired while loading annotations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadStats {
    pub images: usize,
    pub boxes: usize,
    /// Boxes partly outside the image, clipped to it.
    pub clipped_boxes: usize,
    /// Boxes with no area (after clipping) or non-finite coordinates, dropped.
    pub skipped_boxes: usize,
    /// Annotation files with no objects (kept: they are negatives).
    pub empty_annotations: usize,
    /// Objects of classes outside a class subset, dropped (`VocDataset::open_subset`; COCO
    /// categories not asked for).
    pub other_class_boxes: usize,
    /// Images removed by `skip_empty` (no object of the set's classes left).
    pub skipped_images: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("data set path {path} does not exist")]
    MissingPath { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot decode image: {message}")]
    Image { path: PathBuf, message: String },
    #[error("{path}: malformed annotation: {message}")]
    Annotation { path: PathBuf, message: String },
    #[error("{path}: unknown class name {name:?} (known: {known})")]
    UnknownClass {
        path: PathBuf,
        name: String,
        known: String,
    },
    #[error("sample index {index} out of range (data set has {len})")]
    OutOfRange { index: usize, len: usize },
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Clip a pixel box to the image and normalise it; `None` when nothing with area remains.
/// Returns whether it had to be clipped.
pub(crate) fn clip_normalise(b: [f64; 4], w: u32, h: u32) -> Option<(CornerBox, bool)> {
    if b.iter().any(|v| !v.is_finite()) || w == 0 || h == 0 {
        return None;
    }
    let (wf, hf) = (w as f64, h as f64);
    let c = [
        b[0].clamp(0.0, wf),
        b[1].clamp(0.0, hf),
        b[2].clamp(0.0, wf),
        b[3].clamp(0.0, hf),
    ];
    let clipped = c != b;
    if c[2] - c[0] < 1e-6 * wf || c[3] - c[1] < 1e-6 * hf {
        return None;
    }
    Some((
        [
            (c[0] / wf) as f32,
            (c[1] / hf) as f32,
            (c[2] / wf) as f32,
            (c[3] / hf) as f32,
        ],
        clipped,
    ))
}

/// One annotated image on disk, as the file-backed data sets (VOC, COCO) hold them.
#[derive(Clone, Debug)]
pub(crate) struct DiskEntry<Id> {
    pub id: Id,
    pub image: PathBuf,
    pub boxes: Vec<CornerBox>,
    pub labels: Vec<usize>,
    pub difficult: Vec<bool>,
}

/// Boxes per label over `entries` (for a class subset: a class that never occurs is most
/// likely a misspelt name).
pub(crate) fn boxes_per_class<Id>(entries: &[DiskEntry<Id>], classes: usize) -> Vec<usize> {
    let mut n = vec![0; classes];
    for l in entries.iter().flat_map(|e| &e.labels) {
        if let Some(c) = n.get_mut(*l) {
            *c += 1;
        }
    }
    n
}

pub(crate) fn count_empty<Id>(entries: &[DiskEntry<Id>]) -> usize {
    entries.iter().filter(|e| e.boxes.is_empty()).count()
}

/// Removes the entries with no box; returns how many.
pub(crate) fn drop_empty<Id>(entries: &mut Vec<DiskEntry<Id>>, stats: &mut LoadStats) -> usize {
    let before = entries.len();
    entries.retain(|e| !e.boxes.is_empty());
    let n = before - entries.len();
    stats.skipped_images += n;
    n
}

/// `Dataset::get` of a file-backed data set: entry `i` with its image read from disk.
pub(crate) fn load_entry<Id>(entries: &[DiskEntry<Id>], i: usize) -> Result<Sample, DataError> {
    let e = entries.get(i).ok_or(DataError::OutOfRange {
        index: i,
        len: entries.len(),
    })?;
    Ok(Sample {
        image: load_rgb(&e.image)?,
        boxes: e.boxes.clone(),
        labels: e.labels.clone(),
        difficult: e.difficult.clone(),
    })
}

pub(crate) fn load_rgb(path: &std::path::Path) -> Result<RgbImage, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let img = image::load_from_memory(&bytes).map_err(|e| DataError::Image {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(img.to_rgb8())
}
