//! Pretrained classification backbones into a detector's VarStore, for fine-tuning
//! (`ssd-train train --backbone-weights F.pth`):
//!
//! - `vgg16`, `tv-ssd300-vgg16` <- ssd.pytorch's `vgg16_reducedfc.pth` (the paper's start:
//!   conv1_1..conv5_3 at `0..28`, fc6 subsampled to a dilated 3x3 conv at `31`, fc7 at `33`;
//!   our names are those keys under `vgg.`);
//! - `tv-ssdlite320-mnv3-full` <- torchvision's `mobilenet_v3_large` ImageNet state dict;
//! - `tv-ssdlite320-mnv2` <- torchvision's `mobilenet_v2` ImageNet state dict.
//!
//! The file must hold every backbone tensor with its exact shape (BN running statistics
//! included) and nothing else but the classifier and BN's `num_batches_tracked`, so a file of
//! another network is an error naming the file and the key, not a half-loaded backbone.
//! Everything is checked before the first tensor is copied.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tch::nn::VarStore;
use tch::Tensor;

use crate::net::NetSpec;
use crate::pth::{PthError, StateDict};

/// A pretrained-backbone file layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backbone {
    /// ssd.pytorch's `vgg16_reducedfc.pth`.
    Vgg16ReducedFc,
    /// torchvision's `mobilenet_v3_large` (ImageNet).
    MobileNetV3Large,
    /// torchvision's `mobilenet_v2` (ImageNet).
    MobileNetV2,
}

impl Backbone {
    /// The layout a network configuration's backbone takes its weights from.
    pub fn for_arch(arch: &str) -> Result<Backbone, BackboneError> {
        match arch {
            "vgg16" | "tv-ssd300-vgg16" => Ok(Backbone::Vgg16ReducedFc),
            "tv-ssdlite320-mnv3-full" => Ok(Backbone::MobileNetV3Large),
            "tv-ssdlite320-mnv2" => Ok(Backbone::MobileNetV2),
            "tv-ssdlite320-mnv3" => Err(BackboneError::Arch(
                "tv-ssdlite320-mnv3 has torchvision's reduced tail (half-width last stage), which \
                 no ImageNet mobilenet_v3_large file fits: use --arch tv-ssdlite320-mnv3-full"
                    .into(),
            )),
            other => Err(BackboneError::Arch(format!(
                "`{other}` has no pretrained-backbone layout (vgg16 and tv-ssd300-vgg16 take \
                 ssd.pytorch's vgg16_reducedfc.pth, tv-ssdlite320-mnv3-full torchvision's \
                 mobilenet_v3_large, tv-ssdlite320-mnv2 torchvision's mobilenet_v2)"
            ))),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Backbone::Vgg16ReducedFc => "ssd.pytorch vgg16_reducedfc",
            Backbone::MobileNetV3Large => "torchvision mobilenet_v3_large",
            Backbone::MobileNetV2 => "torchvision mobilenet_v2",
        }
    }

    /// The file key of our parameter `ours`, or `None` when the backbone file does not
    /// provide it (extras, heads, L2Norm: they keep their initialisation).
    pub fn file_key(self, ours: &str) -> Option<String> {
        match self {
            Backbone::Vgg16ReducedFc => ours.strip_prefix("vgg.").map(str::to_string),
            Backbone::MobileNetV2 => ours
                .strip_prefix("backbone.features.")
                .map(|rest| format!("features.{rest}")),
            Backbone::MobileNetV3Large => mnv3_key(ours.strip_prefix("backbone.features.")?),
        }
    }

    /// Keys the file may hold that the detector does not use.
    fn ignorable(self, key: &str) -> bool {
        key.ends_with("num_batches_tracked")
            || (self != Backbone::Vgg16ReducedFc && key.starts_with("classifier."))
    }
}

/// torchvision's SSDLite cuts `features` at the C4 block (13): `features.0` is blocks 0..12
/// plus block 13's expansion (`.13`), `features.1` the rest of block 13 (`.0`, keeping the
/// block's own indices), blocks 14, 15 and the last conv 16.
fn mnv3_key(rest: &str) -> Option<String> {
    let (part, rest) = rest.split_once('.')?;
    let (i, rest) = rest.split_once('.')?;
    let i: usize = i.parse().ok()?;
    Some(match (part, i) {
        ("0", 13) => format!("features.13.block.0.{rest}"),
        ("0", 0..=12) => format!("features.{i}.{rest}"),
        ("1", 0) => format!("features.13.block.{rest}"),
        ("1", 1..=3) => format!("features.{}.{rest}", 13 + i),
        _ => return None,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum BackboneError {
    #[error("{0}")]
    Arch(String),
    #[error(transparent)]
    Read(#[from] PthError),
    #[error("{}: not a {backbone} state dict: {found}", path.display())]
    WrongFile {
        path: PathBuf,
        backbone: &'static str,
        found: String,
    },
    #[error("{}: tensor `{key}` is missing (a {backbone} has it; it initialises `{ours}`)", path.display())]
    Missing {
        path: PathBuf,
        key: String,
        ours: String,
        backbone: &'static str,
    },
    #[error("{}: tensor `{key}` has shape {got:?}, a {backbone} has {want:?}", path.display())]
    Shape {
        path: PathBuf,
        key: String,
        got: Vec<usize>,
        want: Vec<usize>,
        backbone: &'static str,
    },
    #[error("{}: {count} tensor(s) that a {backbone} does not have, e.g. {examples}", path.display())]
    Unexpected {
        path: PathBuf,
        count: usize,
        examples: String,
        backbone: &'static str,
    },
    #[error("the network has no variable `{0}` with the spec's shape (internal)")]
    Var(String),
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
}

/// What `load_backbone` copied.
#[derive(Clone, Debug, PartialEq)]
pub struct BackboneReport {
    pub backbone: Backbone,
    pub path: PathBuf,
    /// Tensors copied (weights, biases, BN running statistics).
    pub tensors: usize,
    /// Values in them.
    pub values: u64,
    /// Trainable parameter values among them (running statistics excluded).
    pub parameters: u64,
    /// The network's tensors the file does not provide (extras, heads), left initialised.
    pub left_initialised: usize,
    /// File keys not used: the classifier, `num_batches_tracked`.
    pub ignored: usize,
}

impl std::fmt::Display for BackboneReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} backbone from {}: {} tensors ({:.2} M parameters), {} tensors of extras and \
             heads left initialised, {} file tensors ignored (classifier, num_batches_tracked)",
            self.backbone.describe(),
            self.path.display(),
            self.tensors,
            self.parameters as f64 / 1e6,
            self.left_initialised,
            self.ignored
        )
    }
}

/// The network's parameters that come from the backbone file: (our name, file key, shape),
/// in layer order. These are what `--freeze-backbone-epochs` freezes.
pub fn backbone_parameters(
    spec: &NetSpec,
) -> Result<Vec<(String, String, Vec<usize>)>, BackboneError> {
    let bb = Backbone::for_arch(&spec.arch)?;
    Ok(spec
        .parameters()
        .into_iter()
        .filter_map(|(ours, shape)| bb.file_key(&ours).map(|k| (ours, k, shape)))
        .collect())
}

/// What a state dict looks like, for the wrong-file message.
fn guess(sd: &StateDict) -> Option<(Option<Backbone>, &'static str)> {
    let has = |k: &str| sd.get(k).is_some();
    let out0 = |k: &str| sd.get(k).and_then(|t| t.shape.first().copied());
    if sd
        .names()
        .any(|n| n.starts_with("backbone.") || n.starts_with("head."))
    {
        return Some((
            None,
            "a whole torchvision detector (`ssd-edge import` converts those)",
        ));
    }
    if has("vgg.0.weight") {
        return Some((
            None,
            "a whole ssd.pytorch SSD300 (`ssd-edge import` converts it)",
        ));
    }
    if has("features.18.0.weight") {
        return Some((Some(Backbone::MobileNetV2), "torchvision's mobilenet_v2"));
    }
    if out0("features.16.0.weight") == Some(960) {
        return Some((
            Some(Backbone::MobileNetV3Large),
            "torchvision's mobilenet_v3_large",
        ));
    }
    if out0("features.12.0.weight") == Some(576) {
        return Some((None, "torchvision's mobilenet_v3_small"));
    }
    if has("features.0.weight") && has("features.28.weight") {
        return Some((
            None,
            "torchvision's vgg16 (its fc6/fc7 are Linear layers; the SSD starting point is \
             ssd.pytorch's subsampled vgg16_reducedfc.pth)",
        ));
    }
    if has("0.weight") && has("31.weight") && has("33.weight") {
        return Some((
            Some(Backbone::Vgg16ReducedFc),
            "ssd.pytorch's vgg16_reducedfc",
        ));
    }
    None
}

/// Checks `path` against `spec`'s backbone and copies it into `vs` (which must hold
/// `spec`'s variables, as `SsdNet::new` creates them). On any error nothing is copied.
pub fn load_backbone(
    vs: &mut VarStore,
    spec: &NetSpec,
    path: &Path,
) -> Result<BackboneReport, BackboneError> {
    let bb = Backbone::for_arch(&spec.arch)?;
    let mut sd = StateDict::read(path)?;
    // DataParallel saves every key under `module.`.
    if !sd.is_empty() && sd.names().all(|n| n.starts_with("module.")) {
        sd = sd.strip_prefix("module.")?;
    }
    if let Some((kind, what)) = guess(&sd) {
        if kind != Some(bb) {
            return Err(BackboneError::WrongFile {
                path: path.to_path_buf(),
                backbone: bb.describe(),
                found: format!("it looks like {what}"),
            });
        }
    } else if sd.is_empty() {
        return Err(BackboneError::WrongFile {
            path: path.to_path_buf(),
            backbone: bb.describe(),
            found: "it holds no tensors".into(),
        });
    }
    let plan = backbone_parameters(spec)?;
    let mut used = HashSet::new();
    for (ours, key, want) in &plan {
        let t = sd.get(key).ok_or_else(|| BackboneError::Missing {
            path: path.to_path_buf(),
            key: key.clone(),
            ours: ours.clone(),
            backbone: bb.describe(),
        })?;
        if &t.shape != want {
            return Err(BackboneError::Shape {
                path: path.to_path_buf(),
                key: key.clone(),
                got: t.shape.clone(),
                want: want.clone(),
                backbone: bb.describe(),
            });
        }
        used.insert(key.as_str());
    }
    let mut ignored = 0;
    let extra: Vec<&str> = sd
        .names()
        .filter(|n| !used.contains(n))
        .filter(|n| {
            let skip = bb.ignorable(n);
            ignored += skip as usize;
            !skip
        })
        .collect();
    if !extra.is_empty() {
        return Err(BackboneError::Unexpected {
            path: path.to_path_buf(),
            count: extra.len(),
            examples: format!("{:?}", &extra[..extra.len().min(4)]),
            backbone: bb.describe(),
        });
    }
    let vars = vs.variables();
    // Every target first, so a spec/VarStore mismatch cannot leave a partial copy.
    let targets = plan
        .iter()
        .map(|(ours, _, want)| {
            let v = vars
                .get(ours)
                .filter(|v| v.size() == want.iter().map(|&d| d as i64).collect::<Vec<_>>())
                .ok_or_else(|| BackboneError::Var(ours.clone()))?;
            Ok(v.shallow_clone())
        })
        .collect::<Result<Vec<Tensor>, BackboneError>>()?;
    let (mut values, mut parameters) = (0u64, 0u64);
    for ((ours, key, _), var) in plan.iter().zip(targets) {
        let t = sd.get(key).expect("checked above");
        let src = Tensor::from_slice(&t.data)
            .view(var.size().as_slice())
            .to_kind(var.kind())
            .to_device(var.device());
        tch::no_grad(|| var.shallow_clone().copy_(&src));
        values += t.numel() as u64;
        if !ours.contains("running_") {
            parameters += t.numel() as u64;
        }
    }
    Ok(BackboneReport {
        backbone: bb,
        path: path.to_path_buf(),
        tensors: plan.len(),
        values,
        parameters,
        left_initialised: spec.parameters().len() - plan.len(),
        ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnv3_names_follow_torchvisions_ssdlite_split() {
        let k = |s: &str| Backbone::MobileNetV3Large.file_key(s);
        assert_eq!(
            k("backbone.features.0.0.0.weight").as_deref(),
            Some("features.0.0.weight")
        );
        assert_eq!(
            k("backbone.features.0.12.block.2.fc1.bias").as_deref(),
            Some("features.12.block.2.fc1.bias")
        );
        assert_eq!(
            k("backbone.features.0.13.1.running_mean").as_deref(),
            Some("features.13.block.0.1.running_mean")
        );
        assert_eq!(
            k("backbone.features.1.0.1.0.weight").as_deref(),
            Some("features.13.block.1.0.weight")
        );
        assert_eq!(
            k("backbone.features.1.2.block.3.1.bias").as_deref(),
            Some("features.15.block.3.1.bias")
        );
        assert_eq!(
            k("backbone.features.1.3.0.weight").as_deref(),
            Some("features.16.0.weight")
        );
        assert_eq!(k("backbone.extra.0.0.0.weight"), None);
        assert_eq!(k("head.regression_head.module_list.0.1.weight"), None);
    }

    #[test]
    fn every_backbone_parameter_maps_once() {
        for arch in ["vgg16", "tv-ssdlite320-mnv3-full", "tv-ssdlite320-mnv2"] {
            let spec = NetSpec::from_name(arch, 4).unwrap();
            let plan = backbone_parameters(&spec).unwrap();
            let keys: HashSet<&str> = plan.iter().map(|(_, k, _)| k.as_str()).collect();
            assert_eq!(keys.len(), plan.len(), "{arch}");
            assert!(plan.len() > 20, "{arch}");
        }
        assert!(backbone_parameters(&NetSpec::from_name("tiny", 4).unwrap()).is_err());
        let e = backbone_parameters(&NetSpec::from_name("tv-ssdlite320-mnv3", 4).unwrap());
        assert!(e.unwrap_err().to_string().contains("mnv3-full"));
    }
}
