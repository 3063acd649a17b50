//! ONNX export of a trained network: the graph writer is the board crate's
//! (`ssd_model::netspec::onnx`, shared with `import`), which takes each parameter by name from
//! a lookup; this module is the trainer's side of it, the lookup into a tch VarStore, and the
//! checkpoint-to-model command.

use std::collections::HashMap;
use std::path::Path;

use ssd_model::model::ModelMeta;
use tch::{nn::VarStore, Device, Kind, Tensor};

use crate::net::NetSpec;

pub use ssd_model::netspec::onnx::{
    meta_for, utc_now, ExportError, Weights, CONF_NAME, INPUT_NAME, LOC_NAME,
};

/// The trainer's name in the models it writes.
pub const PRODUCER: (&str, &str) = ("ssd-train", env!("CARGO_PKG_VERSION"));

/// The parameters of a trained VarStore, by the spec's names.
pub fn var_store_weights(vs: &VarStore) -> Weights<'static> {
    let vars: HashMap<String, Tensor> = vs.variables();
    Weights::new(move |name| {
        let t = vars
            .get(name)?
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous()
            .view([-1]);
        Vec::<f32>::try_from(&t).ok()
    })
}

/// The ONNX `ModelProto` bytes for `spec` with the weights in `vs`. Outputs `loc` [1,P,4] and
/// `conf` [1,P,C] (logits, `meta.conf_kind` must say so).
pub fn build_onnx(spec: &NetSpec, vs: &VarStore, meta: &ModelMeta) -> Result<Vec<u8>, ExportError> {
    build_onnx_with(spec, &var_store_weights(vs), meta)
}

/// [`build_onnx`] with weights from anywhere.
pub fn build_onnx_with(
    spec: &NetSpec,
    w: &Weights,
    meta: &ModelMeta,
) -> Result<Vec<u8>, ExportError> {
    ssd_model::netspec::onnx::build_onnx(spec, w, meta, PRODUCER)
}

pub fn export(
    spec: &NetSpec,
    vs: &VarStore,
    meta: &ModelMeta,
    path: &Path,
) -> Result<(), ExportError> {
    let bytes = build_onnx(spec, vs, meta)?;
    std::fs::write(path, bytes).map_err(|source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Exports a training checkpoint (`<stem>.safetensors` + `<stem>.json`). `provenance` is
/// completed from the checkpoint: data set note, best mAP, date and git revision if unset.
/// `detection_threshold` becomes the model's own reporting threshold.
pub fn export_checkpoint(
    checkpoint: &Path,
    out: &Path,
    mut provenance: ssd_model::model::Provenance,
    detection_threshold: f32,
) -> Result<ModelMeta, crate::trainer::TrainError> {
    use crate::trainer::{checkpoint as ckpt, TrainError, TrainState};
    let state = TrainState::load(checkpoint)?;
    let spec = state.spec()?;
    let mut vs = VarStore::new(Device::Cpu);
    let _net = crate::net::SsdNet::new(&vs.root(), &spec)?;
    crate::net::load_weights(&mut vs, &ckpt::weights_path(checkpoint))?;
    if provenance.dataset.is_none() {
        provenance.dataset = state.notes.get("dataset").cloned();
    }
    if let Some(m) = state.best_map {
        provenance.metrics.entry("voc07_map".into()).or_insert(m);
    }
    provenance.date.get_or_insert_with(utc_now);
    if provenance.git_revision.is_none() {
        provenance.git_revision = crate::provenance::git_revision();
    }
    if provenance.notes.is_none() {
        provenance.notes = Some(format!(
            "{} epochs, {} steps; training command: {}",
            state.epoch,
            state.step,
            state
                .notes
                .get("command")
                .map(String::as_str)
                .unwrap_or("unknown")
        ));
    }
    let mut meta = meta_for(&spec, &state.class_names, state.input.clone(), provenance);
    meta.detection_threshold = detection_threshold;
    export(&spec, &vs, &meta, out).map_err(|e| TrainError::Checkpoint {
        path: checkpoint.to_path_buf(),
        msg: format!("export to {}: {e}", out.display()),
    })?;
    Ok(meta)
}
