//! The PyTorch detector families: a published detector's state dict (`.pth`, read by
//! [`super::pth`]) to an ONNX model with the full ssd-edge metadata. The importer, not the
//! user, writes the conventions each reference implementation decodes with (priors, clipping,
//! normalisation, thresholds), so an imported model detects what its reference does.
//!
//! Supported: amdegroot/ssd.pytorch's SSD300 (VGG16, `ssd300_mAP_77.43_v2.pth` and models
//! trained with it), torchvision's `ssd300_vgg16` and `ssdlite320_mobilenet_v3_large`. The
//! network is the [`NetSpec`] the trainer trains, written by the same graph writer
//! ([`crate::netspec::onnx`]); used by `ssd-edge import` and `ssd-train import`.

pub mod labels;
pub mod names;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::model::{ModelMeta, Provenance};
use crate::netspec::onnx::{self as export, ExportError, Weights};
use crate::netspec::{self as spec, NetSpec};
use ssd_core::image::preprocess::{ChannelOrder, Normalization};
use ssd_core::ssd::NmsConfig;

use super::pth::{PthError, StateDict};

/// The tool named in imported models (the importer is this crate's, whichever binary runs it).
pub const PRODUCER: (&str, &str) = ("ssd-edge import", env!("CARGO_PKG_VERSION"));

/// Which reference implementation a weight file comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// amdegroot/ssd.pytorch's `build_ssd('test', 300, num_classes)`.
    SsdPytorch,
    /// `torchvision.models.detection.ssd300_vgg16`.
    TorchvisionSsd300,
    /// `torchvision.models.detection.ssdlite320_mobilenet_v3_large`.
    TorchvisionSsdlite320,
}

impl Family {
    /// From `--from` and `--arch` as the CLI takes them.
    pub fn parse(from: &str, arch: Option<&str>) -> Result<Family, ImportError> {
        let bad = |m: String| Err(ImportError::Usage(m));
        match (from, arch) {
            ("ssd.pytorch", None | Some("ssd300") | Some("ssd300_vgg16")) => Ok(Family::SsdPytorch),
            ("ssd.pytorch", Some(a)) => bad(format!(
                "ssd.pytorch has one importable architecture, ssd300_vgg16, not `{a}`"
            )),
            ("torchvision", Some("ssd300_vgg16")) => Ok(Family::TorchvisionSsd300),
            ("torchvision", Some("ssdlite320_mobilenet_v3_large")) => {
                Ok(Family::TorchvisionSsdlite320)
            }
            ("torchvision", Some(a)) => bad(format!(
                "torchvision architecture `{a}` is not supported (ssd300_vgg16 or ssdlite320_mobilenet_v3_large)"
            )),
            ("torchvision", None) => bad(
                "--from torchvision needs --arch ssd300_vgg16 or ssdlite320_mobilenet_v3_large"
                    .into(),
            ),
            (f, _) => bad(format!(
                "unknown --from `{f}` (ssd.pytorch or torchvision)"
            )),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Family::SsdPytorch => "ssd.pytorch SSD300 (VGG16)",
            Family::TorchvisionSsd300 => "torchvision ssd300_vgg16",
            Family::TorchvisionSsdlite320 => "torchvision ssdlite320_mobilenet_v3_large",
        }
    }

    /// The conf head's first prediction conv and its boxes per cell: its output channels give
    /// the class count.
    fn class_probe(self) -> (&'static str, usize) {
        match self {
            Family::SsdPytorch => ("conf.0.weight", 4),
            Family::TorchvisionSsd300 => ("head.classification_head.module_list.0.weight", 4),
            Family::TorchvisionSsdlite320 => ("head.classification_head.module_list.0.1.weight", 6),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Read(#[from] PthError),
    #[error("{}: no tensor `{key}`: not a state dict of {family}{hint}", path.display())]
    NotThisFamily {
        path: PathBuf,
        key: String,
        family: &'static str,
        hint: String,
    },
    #[error("{}: tensor `{key}` is missing (a {family} needs it)", path.display())]
    Missing {
        path: PathBuf,
        key: String,
        family: &'static str,
    },
    #[error("{}: tensor `{key}` has shape {got:?}, a {family} needs {want:?}", path.display())]
    Shape {
        path: PathBuf,
        key: String,
        got: Vec<usize>,
        want: Vec<usize>,
        family: &'static str,
    },
    #[error("{}: {count} tensor(s) that a {family} does not have, e.g. {examples}", path.display())]
    Unexpected {
        path: PathBuf,
        count: usize,
        examples: String,
        family: &'static str,
    },
    #[error("{}: {msg}", path.display())]
    Labels { path: PathBuf, msg: String },
    #[error("building the ONNX graph: {0}")]
    Export(#[from] ExportError),
}

pub struct ImportOptions {
    pub family: Family,
    pub weights: PathBuf,
    /// Class names by model index (background first); default: VOC for 21 classes, COCO's
    /// 91 slots for 91, `class_N` otherwise.
    pub labels: Option<Vec<String>>,
    /// Recorded in the provenance.
    pub command: Option<String>,
}

pub struct Imported {
    pub spec: NetSpec,
    pub meta: ModelMeta,
    pub onnx: Vec<u8>,
}

/// Reads a label file: one name per line, background first; blank lines and `#` comments
/// are skipped.
pub fn read_labels(path: &Path) -> Result<Vec<String>, ImportError> {
    let err = |msg: String| ImportError::Labels {
        path: path.to_path_buf(),
        msg,
    };
    let bytes = ssd_core::limits::read_bounded(path, 1 << 20).map_err(|e| err(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| err("not UTF-8 text".into()))?;
    // A JSON list of names (models/coco-labels.json) or one name per line.
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(&text)
            .map_err(|e| err(format!("not a JSON list of names: {e}")));
    }
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

/// DataParallel saves every key under `module.`; such a file imports like a plain one.
fn key_prefix(sd: &StateDict) -> &'static str {
    if !sd.is_empty() && sd.names().all(|n| n.starts_with("module.")) {
        "module."
    } else {
        ""
    }
}

/// A hint for the most common mix-up: a file of the other family.
fn family_hint(sd: &StateDict) -> String {
    let first: Vec<&str> = sd.names().take(3).collect();
    let tv = sd.names().any(|n| n.starts_with("backbone."));
    let sp = sd.names().any(|n| n.starts_with("vgg."));
    let guess = if tv {
        " (its keys start with `backbone.`: a torchvision detector? try --from torchvision --arch ...)"
    } else if sp {
        " (its keys start with `vgg.`: an ssd.pytorch file? try --from ssd.pytorch)"
    } else {
        ""
    };
    format!("; its first keys are {first:?}{guess}")
}

/// The network a file of `family` holds, sized from its tensors.
fn spec_for(
    family: Family,
    sd: &StateDict,
    prefix: &str,
    path: &Path,
) -> Result<NetSpec, ImportError> {
    let (probe, boxes) = family.class_probe();
    let t = sd
        .get(&format!("{prefix}{probe}"))
        .ok_or_else(|| ImportError::NotThisFamily {
            path: path.to_path_buf(),
            key: probe.to_string(),
            family: family.describe(),
            hint: family_hint(sd),
        })?;
    let out = t.shape.first().copied().unwrap_or(0);
    if !out.is_multiple_of(boxes) || out / boxes < 2 {
        // No single shape is right here: any class count works, so say what is wrong.
        return Err(ImportError::Usage(format!(
            "{}: tensor `{probe}` has shape {:?}; a {} needs {boxes} boxes x (at least 2 classes) output channels",
            path.display(),
            t.shape,
            family.describe()
        )));
    }
    let classes = out / boxes;
    let spec = match family {
        Family::SsdPytorch => spec::vgg16(classes),
        Family::TorchvisionSsd300 => spec::torchvision_ssd300_vgg16(classes),
        Family::TorchvisionSsdlite320 => {
            // torchvision halves the last stage when built without an ImageNet backbone (as
            // its COCO weights were); the last conv's width tells which.
            let last = format!("{prefix}backbone.features.1.3.0.weight");
            let reduced = sd.get(&last).map(|t| t.shape.first() == Some(&480));
            spec::ssdlite320_mobilenet_v3(classes, reduced.unwrap_or(true))
        }
    };
    spec.check()
        .map_err(|e| ImportError::Usage(format!("internal network description: {e}")))?;
    Ok(spec)
}

/// The metadata the reference's own post-processing implies.
fn meta_for(family: Family, spec: &NetSpec, labels: Vec<String>, prov: Provenance) -> ModelMeta {
    let size = spec.input_size as u32;
    let (norm, nms) = match family {
        // ssd.pytorch subtracts (104, 117, 123) from BGR pixels, then swaps to RGB.
        Family::SsdPytorch => (Normalization::SSD_PYTORCH, NmsConfig::default()),
        // `ssd300_vgg16` overrides ImageNet's mean/std: pixel minus (123, 117, 104).
        Family::TorchvisionSsd300 => (
            Normalization {
                channel_order: ChannelOrder::Rgb,
                mean: [0.48235, 0.45882, 0.40784],
                std: [1.0 / 255.0; 3],
                scale: 1.0 / 255.0,
            },
            NmsConfig {
                score_threshold: 0.01,
                iou_threshold: 0.45,
                top_k: 400,
                keep_top_k: 200,
                class_agnostic: false,
            },
        ),
        Family::TorchvisionSsdlite320 => (
            Normalization {
                channel_order: ChannelOrder::Rgb,
                mean: [0.5; 3],
                std: [0.5; 3],
                scale: 1.0 / 255.0,
            },
            NmsConfig {
                score_threshold: 0.001,
                iou_threshold: 0.55,
                top_k: 300,
                keep_top_k: 300,
                class_agnostic: false,
            },
        ),
    };
    let mut meta = export::meta_for(spec, &labels[1..], norm.at_size(size, size), prov);
    meta.labels = labels;
    meta.nms = nms;
    meta.schema_version = meta.required_version().max(2);
    meta
}

/// Reads, checks and converts one weight file. Every tensor the network needs must be there
/// with its exact shape, and every tensor in the file must be used (batch norm's
/// `num_batches_tracked` aside), so a file of another architecture is an error, not a model
/// that detects nothing.
pub fn import(opts: &ImportOptions) -> Result<Imported, ImportError> {
    let path = &opts.weights;
    let family = opts.family;
    let sd = StateDict::read(path)?;
    let prefix = key_prefix(&sd);
    let spec = spec_for(family, &sd, prefix, path)?;
    let key = |ours: &str| format!("{prefix}{}", names::file_key(family, ours));
    let mut used = HashSet::new();
    for (ours, want) in spec.parameters() {
        let k = key(&ours);
        let t = sd.get(&k).ok_or_else(|| ImportError::Missing {
            path: path.clone(),
            key: k.clone(),
            family: family.describe(),
        })?;
        // A 0-d tensor never stands for a parameter; compare shapes as PyTorch does.
        if t.shape != want {
            return Err(ImportError::Shape {
                path: path.clone(),
                key: k,
                got: t.shape.clone(),
                want,
                family: family.describe(),
            });
        }
        used.insert(k);
    }
    let extra: Vec<&str> = sd
        .names()
        .filter(|n| !used.contains(*n) && !n.ends_with("num_batches_tracked"))
        .collect();
    if !extra.is_empty() {
        return Err(ImportError::Unexpected {
            path: path.clone(),
            count: extra.len(),
            examples: format!("{:?}", &extra[..extra.len().min(4)]),
            family: family.describe(),
        });
    }
    let labels = match &opts.labels {
        Some(l) if l.len() != spec.num_classes => {
            return Err(ImportError::Usage(format!(
                "{} labels given for a {}-class model (background included)",
                l.len(),
                spec.num_classes
            )))
        }
        Some(l) => l.clone(),
        None => labels::default_labels(spec.num_classes),
    };
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prov = Provenance {
        dataset: Some(match (family, spec.num_classes) {
            (Family::SsdPytorch, 21) => {
                "Pascal VOC (weights' own training; not measured here)".into()
            }
            (_, 91) => "COCO (weights' own training; not measured here)".into(),
            _ => "unknown (imported weights)".into(),
        }),
        date: Some(export::utc_now()),
        git_revision: crate::provenance::git_revision(),
        command: opts.command.clone(),
        notes: Some(format!(
            "imported from {} weights `{file}`",
            family.describe()
        )),
        ..Default::default()
    };
    let meta = meta_for(family, &spec, labels, prov);
    let weights = Weights::new(|ours| sd.get(&key(ours)).map(|t| t.data.clone()));
    let onnx = export::build_onnx(&spec, &weights, &meta, PRODUCER)?;
    Ok(Imported { spec, meta, onnx })
}
