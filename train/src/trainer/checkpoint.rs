//! Checkpoints: `<stem>.safetensors` (the VarStore, parameter names as the NetSpec gives
//! them) and `<stem>.json` (what is needed to rebuild the network and continue training).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::nn::VarStore;

use super::{EpochMetrics, OptimConfig, TrainError};
use crate::net::NetSpec;

pub const STATE_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainState {
    pub version: u32,
    /// `NetSpec::from_name` argument (e.g. `mobile@0.5`).
    pub arch: String,
    /// Including background.
    pub num_classes: usize,
    /// Object classes without background, in model order (model class k + 1).
    pub class_names: Vec<String>,
    /// Epochs completed.
    pub epoch: usize,
    /// Optimiser steps taken.
    pub step: usize,
    pub optim: OptimConfig,
    /// The normalisation the data loader applied: exported into the model metadata so the
    /// board preprocesses frames the way the network was trained.
    pub input: ssd_model::model::InputSpec,
    pub best_map: Option<f64>,
    pub history: Vec<EpochMetrics>,
    /// Free-form facts about the run (data set, command line, seed) for the model card.
    #[serde(default)]
    pub notes: std::collections::BTreeMap<String, String>,
}

impl TrainState {
    pub fn new(
        spec: &NetSpec,
        optim: OptimConfig,
        class_names: Vec<String>,
        input: ssd_model::model::InputSpec,
    ) -> Self {
        Self {
            version: STATE_VERSION,
            arch: spec.arch.clone(),
            num_classes: spec.num_classes,
            class_names,
            epoch: 0,
            step: 0,
            optim,
            input,
            best_map: None,
            history: Vec::new(),
            notes: Default::default(),
        }
    }

    pub fn spec(&self) -> Result<NetSpec, TrainError> {
        Ok(NetSpec::from_name(&self.arch, self.num_classes)?)
    }

    /// Reads `<stem>.json`; `checkpoint` may name the stem, the .json or the .safetensors.
    pub fn load(checkpoint: &Path) -> Result<Self, TrainError> {
        let path = state_path(checkpoint);
        let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
        let state: TrainState =
            serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
                path: path.clone(),
                msg: format!("not a training state: {e}"),
            })?;
        if state.version != STATE_VERSION {
            return Err(TrainError::Checkpoint {
                path,
                msg: format!(
                    "state version {} (this build reads {STATE_VERSION})",
                    state.version
                ),
            });
        }
        if state.class_names.len() + 1 != state.num_classes {
            return Err(TrainError::Checkpoint {
                path,
                msg: format!(
                    "{} class names for {} classes (with background)",
                    state.class_names.len(),
                    state.num_classes
                ),
            });
        }
        Ok(state)
    }
}

fn stem_of(checkpoint: &Path) -> PathBuf {
    match checkpoint.extension().and_then(|e| e.to_str()) {
        Some("json") | Some("safetensors") => checkpoint.with_extension(""),
        _ => checkpoint.to_path_buf(),
    }
}

pub fn weights_path(checkpoint: &Path) -> PathBuf {
    let mut p = stem_of(checkpoint).into_os_string();
    p.push(".safetensors");
    p.into()
}

pub fn state_path(checkpoint: &Path) -> PathBuf {
    let mut p = stem_of(checkpoint).into_os_string();
    p.push(".json");
    p.into()
}

fn tmp_of(p: &Path) -> PathBuf {
    // Keep the extension last: VarStore::save picks the format from it.
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    p.with_file_name(format!(".tmp-{name}"))
}

pub fn save(vs: &VarStore, state: &TrainState, stem: &Path) -> Result<(), TrainError> {
    let w = weights_path(stem);
    let s = state_path(stem);
    let (wt, st) = (tmp_of(&w), tmp_of(&s));
    vs.save(&wt).map_err(|e| TrainError::Checkpoint {
        path: w.clone(),
        msg: e.to_string(),
    })?;
    let json = serde_json::to_string_pretty(state).expect("state serialises");
    std::fs::write(&st, json).map_err(|e| TrainError::io(&s, e))?;
    std::fs::rename(&wt, &w).map_err(|e| TrainError::io(&w, e))?;
    std::fs::rename(&st, &s).map_err(|e| TrainError::io(&s, e))?;
    Ok(())
}
