//! What the board needs to know about a model, and how it travels: inside the ONNX file's
//! `metadata_props` (models made by ssd-train) or in a sidecar TOML (third-party models).
//!
//! The schema is versioned (`schema_version`); docs/model-metadata.md is its reference.
//! In `metadata_props` every top-level field is one key, `ssd_edge.<field>`, whose value is
//! that field encoded as JSON, so each value stays readable in tools like Netron and a
//! future field can be added without touching the others.

use serde::{Deserialize, Serialize};
pub use ssd_core::image::preprocess::{ChannelOrder, InputSpec};
use ssd_core::limits::{read_bounded, MAX_CLASSES, MAX_CLASS_SCORES, MAX_SIDECAR_BYTES};
use ssd_core::ssd::{BoxDecode, CodeOrder, ConfKind, NmsConfig, PriorClip, Priors, Variances};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The schema this build writes and the newest it reads. Version 2 added `decode` and the
/// `"size"` prior clip (torchvision's conventions); version 3 TensorFlow's conventions
/// (anchors generated as TensorFlow does or held in the model, `yxhw` box codes, sigmoid
/// scores, class-agnostic NMS, TF1 resizing). Version 1 and 2 files read unchanged.
pub const SCHEMA_VERSION: u32 = 3;
/// Prefix of every metadata_props key we own.
pub const KEY_PREFIX: &str = "ssd_edge.";
/// The key that marks a model as carrying our metadata.
pub const KEY_SCHEMA_VERSION: &str = "ssd_edge.schema_version";

/// Names of the two outputs; `None` means "find it by shape" ([1,P,4] and [1,P,C]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputNames {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<String>,
}

/// Where the weights came from. Every field is optional: a third-party model may know little.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// Accuracy figures by name, e.g. `voc07_map = 0.71`, `coco_ap = 0.23` (fractions).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    /// ISO 8601 date or date-time of training/export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_revision: Option<String>,
    /// The command line that produced the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl Provenance {
    /// Why this record does not qualify a release artifact (empty when it does): it must name a
    /// clean git revision, and its command lines must not name the builder's absolute paths.
    /// `make release` flags models with any, and refuses them with `RELEASE_STRICT_MODELS=1`
    /// (through `ssd-edge info --json`).
    pub fn release_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        match &self.git_revision {
            None => out.push("no git revision recorded".to_string()),
            Some(r) if r.ends_with("-dirty") => out.push(format!(
                "built from a working tree with uncommitted changes (git {r})"
            )),
            Some(_) => {}
        }
        for (field, text) in [("command", &self.command), ("notes", &self.notes)] {
            let Some(text) = text else { continue };
            let abs: Vec<&str> = text
                .split_whitespace()
                .map(|w| w.split_once('=').map_or(w, |(_, v)| v))
                .filter(|w| w.starts_with('/'))
                .collect();
            if !abs.is_empty() {
                out.push(format!(
                    "{field} names absolute paths of the build machine: {}",
                    abs.join(" ")
                ));
            }
        }
        out
    }
}

fn default_detection_threshold() -> f32 {
    0.5
}

/// Everything the board needs to run and decode one SSD model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMeta {
    pub schema_version: u32,
    /// Free-form name, e.g. "ssd300-vgg16", "ssd300-mobile".
    pub architecture: String,
    /// Class names by model class index; index 0 is the background class.
    pub labels: Vec<String>,
    pub input: InputSpec,
    pub priors: Priors,
    #[serde(default)]
    pub variances: Variances,
    /// Box decoding conventions beyond the variances (schema 2); absent means ssd.pytorch's.
    #[serde(default, skip_serializing_if = "BoxDecode::is_default")]
    pub decode: BoxDecode,
    pub conf_kind: ConfKind,
    #[serde(default)]
    pub outputs: OutputNames,
    /// Decoder settings: `nms.score_threshold` is the candidate cut (0.01 as in the
    /// references, right for mAP); see `detection_threshold` for what users see.
    #[serde(default)]
    pub nms: NmsConfig,
    /// Default score a detection needs to be reported by `ssd-edge detect` / `run`.
    #[serde(default = "default_detection_threshold")]
    pub detection_threshold: f32,
    #[serde(default)]
    pub provenance: Provenance,
}

/// Problems with model metadata or a sidecar file. Causes are part of each message, not a
/// `source()`, so anyhow's `{:#}` prints each once.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("no ssd-edge metadata (key `{KEY_SCHEMA_VERSION}` absent from metadata_props)")]
    Absent,
    #[error("metadata schema version {found} is newer than this build understands (up to {supported}); upgrade ssd-edge")]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("metadata schema version 0 is invalid (versions start at 1)")]
    ZeroVersion,
    #[error("metadata key `{key}` is missing")]
    MissingKey { key: String },
    #[error("metadata key `{key}` appears more than once")]
    DuplicateKey { key: String },
    #[error("metadata key `{key}` holds invalid JSON for its field: {message}")]
    BadValue { key: String, message: String },
    #[error("unknown metadata key `{key}` for schema version {version}")]
    UnknownKey { key: String, version: u32 },
    #[error("cannot read sidecar {}: {error}", path.display())]
    SidecarIo {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Any other problem of a sidecar file, with the file's name.
    #[error("sidecar {}: {error}", path.display())]
    Sidecar {
        path: PathBuf,
        error: Box<MetaError>,
    },
    /// TOML syntax or type error, with line and column.
    #[error("{0}")]
    Toml(String),
    #[error("invalid model metadata: {0}")]
    Invalid(String),
}

/// Checks a score threshold (a detection is reported when its score is at least this):
/// finite and within [0, 1]. The one rule for `--threshold` and `detection_threshold`.
pub fn check_threshold(t: f32) -> Result<f32, String> {
    if t.is_finite() && (0.0..=1.0).contains(&t) {
        Ok(t)
    } else {
        Err(format!("{t} is not a score threshold in [0, 1]"))
    }
}

/// Parses a `--threshold` value: a number within [0, 1] (NaN, infinities and values outside
/// are refused). For clap's `value_parser`.
pub fn parse_threshold(s: &str) -> Result<f32, String> {
    let t: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    check_threshold(t)
}

/// Largest box variance accepted: the references use 0.1/0.2, the plain formula 1/1; above
/// this every decoded box overflows.
pub const MAX_VARIANCE: f32 = 10.0;

/// The top-level fields, in the order they are written.
const FIELDS: [&str; 12] = [
    "schema_version",
    "architecture",
    "labels",
    "input",
    "priors",
    "variances",
    "decode",
    "conf_kind",
    "outputs",
    "nms",
    "detection_threshold",
    "provenance",
];

impl ModelMeta {
    /// The oldest schema version that describes this model: writers record it, so a board
    /// running an older ssd-edge still reads every model that uses nothing newer.
    pub fn required_version(&self) -> u32 {
        let v3 = self.priors.needs_v3()
            || self.decode.order != CodeOrder::Xywh
            || self.conf_kind == ConfKind::Sigmoid
            || self.nms.class_agnostic
            || !self.input.resize.is_half_pixel();
        let v2 = !self.decode.is_default()
            || self
                .priors
                .grid()
                .is_some_and(|g| g.clip == PriorClip::Size);
        if v3 {
            3
        } else if v2 {
            2
        } else {
            1
        }
    }

    /// Number of classes including background (the conf output's last dimension).
    pub fn num_classes(&self) -> usize {
        self.labels.len()
    }

    /// The label of a model class index, or "class_<k>" if the list is short.
    pub fn label(&self, class_id: usize) -> std::borrow::Cow<'_, str> {
        match self.labels.get(class_id) {
            Some(l) => std::borrow::Cow::Borrowed(l.as_str()),
            None => std::borrow::Cow::Owned(format!("class_{class_id}")),
        }
    }

    /// Checks the values make sense together (not the model; `Detector::load` checks that),
    /// and that the buffers they size stay within `ssd_core::limits`.
    pub fn validate(&self) -> Result<(), MetaError> {
        let bad = |m: String| Err(MetaError::Invalid(m));
        check_version(self.schema_version)?;
        if self.labels.len() < 2 {
            return bad(format!(
                "labels must hold the background class and at least one object class, got {}",
                self.labels.len()
            ));
        }
        if self.labels.len() > MAX_CLASSES {
            return bad(format!(
                "{} labels, more than the limit of {MAX_CLASSES} classes",
                self.labels.len()
            ));
        }
        let i = &self.input;
        if i.width == 0 || i.height == 0 || i.width > 8192 || i.height > 8192 {
            return bad(format!(
                "input size {}x{} is out of range",
                i.width, i.height
            ));
        }
        if i.std.iter().any(|s| !s.is_finite() || *s == 0.0) {
            return bad(format!(
                "input.std must be finite and non-zero, got {:?}",
                i.std
            ));
        }
        if !i.scale.is_finite() || i.scale == 0.0 || i.mean.iter().any(|m| !m.is_finite()) {
            return bad("input.scale and input.mean must be finite (scale non-zero)".into());
        }
        let required = self.required_version();
        if required == 3 && self.schema_version < 3 {
            return bad(format!(
                "TensorFlow's conventions (anchors, yxhw codes, sigmoid, class-agnostic NMS, TF1 resize) need schema version 3, the metadata says {}",
                self.schema_version
            ));
        }
        if required == 2 && self.schema_version < 2 {
            return bad(format!(
                "`decode` and the \"size\" prior clip need schema version 2, the metadata says {}",
                self.schema_version
            ));
        }
        if let Some(m) = self.decode.max_log_scale {
            if !(m.is_finite() && m > 0.0) {
                return bad(format!(
                    "decode.max_log_scale must be finite and positive, got {m}"
                ));
            }
        }
        let v = &self.variances;
        let variance_ok = |x: f32| x.is_finite() && x > 0.0 && x <= MAX_VARIANCE;
        if !(variance_ok(v.center) && variance_ok(v.size)) {
            return bad(format!(
                "variances must be finite, positive and at most {MAX_VARIANCE}, got center {}, size {}",
                v.center, v.size
            ));
        }
        if let Err(e) = check_threshold(self.detection_threshold) {
            return bad(format!("detection_threshold: {e}"));
        }
        let n = &self.nms;
        if let Err(e) = check_threshold(n.score_threshold) {
            return bad(format!("nms.score_threshold: {e}"));
        }
        if !(n.iou_threshold.is_finite() && n.iou_threshold > 0.0 && n.iou_threshold <= 1.0) {
            return bad(format!(
                "nms.iou_threshold must be in (0, 1], got {}",
                n.iou_threshold
            ));
        }
        if n.top_k == 0 || n.keep_top_k == 0 {
            return bad(format!(
                "nms.top_k and nms.keep_top_k must be at least 1, got {} and {}",
                n.top_k, n.keep_top_k
            ));
        }
        self.priors
            .validate()
            .map_err(|e| MetaError::Invalid(format!("priors: {e}")))?;
        // The decoder keeps P candidates per class: bound classes x priors before it
        // allocates (an anchor tensor is bounded when the model is read).
        if let Some(p) = self.priors.num_priors() {
            check_class_scores(p, self.labels.len())?;
        }
        Ok(())
    }

    /// Encodes as metadata_props entries: `ssd_edge.<field>` = JSON of the field.
    pub fn to_metadata_props(&self) -> Vec<(String, String)> {
        let value = serde_json::to_value(self).expect("ModelMeta serialises to JSON");
        let obj = value.as_object().expect("ModelMeta is a JSON object");
        FIELDS
            .iter()
            .filter_map(|f| {
                obj.get(*f)
                    .map(|v| (format!("{KEY_PREFIX}{f}"), v.to_string()))
            })
            .collect()
    }

    /// Whether metadata_props carry our schema marker at all.
    pub fn is_present(props: &[(String, String)]) -> bool {
        props.iter().any(|(k, _)| k == KEY_SCHEMA_VERSION)
    }

    /// Decodes metadata_props written by [`ModelMeta::to_metadata_props`]. Keys outside the
    /// `ssd_edge.` prefix are ignored (other tools write their own).
    pub fn from_metadata_props(props: &[(String, String)]) -> Result<ModelMeta, MetaError> {
        let get = |field: &str| {
            let key = format!("{KEY_PREFIX}{field}");
            props
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (key, v.as_str()))
        };
        let (key, raw) = get("schema_version").ok_or(MetaError::Absent)?;
        let version: u32 = serde_json::from_str(raw.trim()).map_err(|e| MetaError::BadValue {
            key: key.clone(),
            message: e.to_string(),
        })?;
        // The version decides how the rest is read, so it is checked before anything else.
        check_version(version)?;
        let mut obj = serde_json::Map::new();
        for (k, v) in props {
            let Some(field) = k.strip_prefix(KEY_PREFIX) else {
                continue;
            };
            if !FIELDS.contains(&field) {
                return Err(MetaError::UnknownKey {
                    key: k.clone(),
                    version,
                });
            }
            if obj.contains_key(field) {
                return Err(MetaError::DuplicateKey { key: k.clone() });
            }
            let value: serde_json::Value =
                serde_json::from_str(v).map_err(|e| MetaError::BadValue {
                    key: k.clone(),
                    message: e.to_string(),
                })?;
            obj.insert(field.to_string(), value);
        }
        for required in ["architecture", "labels", "input", "priors", "conf_kind"] {
            if !obj.contains_key(required) {
                return Err(MetaError::MissingKey {
                    key: format!("{KEY_PREFIX}{required}"),
                });
            }
        }
        // Deserialise field by field so an error names the key that holds the bad value.
        for (field, value) in &obj {
            if let Err(e) = check_field(field, value.clone()) {
                return Err(MetaError::BadValue {
                    key: format!("{KEY_PREFIX}{field}"),
                    message: e,
                });
            }
        }
        let meta: ModelMeta =
            serde_json::from_value(serde_json::Value::Object(obj)).map_err(|e| {
                MetaError::BadValue {
                    key: "ssd_edge.*".into(),
                    message: e.to_string(),
                }
            })?;
        meta.validate()?;
        Ok(meta)
    }

    /// Reads a sidecar TOML (same fields as the metadata, `schema_version` first). Every
    /// error names the file.
    pub fn from_sidecar(path: &Path) -> Result<ModelMeta, MetaError> {
        let io_err = |error| MetaError::SidecarIo {
            path: path.to_path_buf(),
            error,
        };
        let bytes = read_bounded(path, MAX_SIDECAR_BYTES).map_err(io_err)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            io_err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not UTF-8 text",
            ))
        })?;
        Self::from_toml_str(&text).map_err(|e| MetaError::Sidecar {
            path: path.to_path_buf(),
            error: Box::new(e),
        })
    }

    /// Parses sidecar TOML text; errors carry the TOML line and column.
    pub fn from_toml_str(text: &str) -> Result<ModelMeta, MetaError> {
        let parse_err = MetaError::Toml;
        // Read the version alone first: a future schema may not parse as this one.
        let table: toml::Table = toml::from_str(text).map_err(|e| parse_err(toml_message(&e)))?;
        let version = match table.get("schema_version") {
            Some(toml::Value::Integer(v)) => u32::try_from(*v)
                .map_err(|_| parse_err(format!("schema_version {v} is out of range")))?,
            Some(other) => {
                return Err(parse_err(format!(
                    "schema_version must be an integer, got {}",
                    other.type_str()
                )))
            }
            None => return Err(parse_err("schema_version is missing".into())),
        };
        check_version(version)?;
        let meta: ModelMeta = toml::from_str(text).map_err(|e| parse_err(toml_message(&e)))?;
        meta.validate()?;
        Ok(meta)
    }

    /// The sidecar TOML form of this metadata.
    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).expect("ModelMeta serialises to TOML")
    }
}

/// Bounds priors x classes, the decoder's candidate space.
pub fn check_class_scores(priors: usize, classes: usize) -> Result<(), MetaError> {
    let scores = priors as u64 * classes as u64;
    if scores > MAX_CLASS_SCORES {
        return Err(MetaError::Invalid(format!(
            "{priors} priors x {classes} classes = {scores} class scores per frame, more than the limit of {MAX_CLASS_SCORES}"
        )));
    }
    Ok(())
}

fn check_version(version: u32) -> Result<(), MetaError> {
    if version == 0 {
        return Err(MetaError::ZeroVersion);
    }
    if version > SCHEMA_VERSION {
        return Err(MetaError::UnsupportedVersion {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

fn check_field(field: &str, v: serde_json::Value) -> Result<(), String> {
    fn chk<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<(), String> {
        serde_json::from_value::<T>(v)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    match field {
        "schema_version" => chk::<u32>(v),
        "architecture" => chk::<String>(v),
        "labels" => chk::<Vec<String>>(v),
        "input" => chk::<InputSpec>(v),
        "priors" => chk::<Priors>(v),
        "variances" => chk::<Variances>(v),
        "decode" => chk::<BoxDecode>(v),
        "conf_kind" => chk::<ConfKind>(v),
        "outputs" => chk::<OutputNames>(v),
        "nms" => chk::<NmsConfig>(v),
        "detection_threshold" => chk::<f32>(v),
        "provenance" => chk::<Provenance>(v),
        _ => Ok(()),
    }
}

/// toml's messages already say "TOML parse error at line L, column C" and quote the line;
/// keep them on one line for log-friendly errors.
fn toml_message(e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_string();
    match e.span() {
        Some(_) => {
            let full = e.to_string();
            let first = full.lines().next().unwrap_or("").trim().to_string();
            if first.is_empty() {
                msg
            } else {
                format!("{first}: {msg}")
            }
        }
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::Provenance;

    #[test]
    fn release_models_need_a_clean_revision_and_portable_commands() {
        let clean = Provenance {
            git_revision: Some("a8fb1fb0c0de".into()),
            command: Some("ssd-train export --checkpoint ~/.cache/b --out models/m.onnx".into()),
            notes: Some("8 epochs; training command: ssd-train train --out=~/x".into()),
            ..Default::default()
        };
        assert_eq!(clean.release_problems(), Vec::<String>::new());

        let p = Provenance {
            git_revision: Some("a8fb1fb0c0de-dirty".into()),
            command: Some("/work/target/debug/ssd-train export --out models/m.onnx".into()),
            notes: Some("training command: ssd-train train --weights=/root/p1/last".into()),
            ..Default::default()
        };
        let problems = p.release_problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("a8fb1fb0c0de-dirty"), "{problems:?}");
        assert!(problems[1].starts_with("command") && problems[1].contains("/work/target"));
        assert!(problems[2].starts_with("notes") && problems[2].contains("/root/p1/last"));

        let none = Provenance::default().release_problems();
        assert_eq!(none, ["no git revision recorded"]);
    }
}
