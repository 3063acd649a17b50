//! `ssd-edge import`: published detectors into ssd-edge models (ONNX with the full metadata),
//! on the board itself: no Python, no libtorch. Each format is a submodule that reads its own
//! files and writes the graph and the metadata its reference implementation decodes with;
//! [`write_model`] is the common last step.
//!
//! - [`pth`]: a native reader for PyTorch `.pth` state dicts (zip or legacy pickle; nothing in
//!   the file is executed).
//! - [`torch`]: the ssd.pytorch and torchvision SSD families, from their state dicts through
//!   [`crate::netspec`] (the network description the trainer trains) and its ONNX writer.
//! - [`tfjs`]: TF.js graph models of the TF Object Detection API's SSDs (coco-ssd).
//! - [`tflite`]: TFLite flatbuffers (float32 / float16 weights; MediaPipe's SSDs, and the
//!   `TFLite_Detection_PostProcess` op's anchors and options where a model has one).
//!
//! The trainer (`ssd-train`, which links libtorch) re-exports these rather than keeping its
//! own copy, so both binaries import the same way.

pub mod pth;
pub mod tfjs;
pub mod tflite;
pub mod torch;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::model::{Detector, ModelError, OutputNames};
use ssd_core::ssd::NmsConfig;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the imported model does not load in ssd-edge's runtime: {0}")]
    Load(#[from] ModelError),
    #[error("writing {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Loads `onnx` as the board does (so anything tract would refuse is found before a user
/// copies the file to a board), then writes it to `out` through a temporary file in the same
/// folder renamed into place: a refused or failed import leaves no model, and never half of
/// one, at `out`.
pub fn write_model(onnx: &[u8], out: &Path) -> Result<(), WriteError> {
    Detector::from_bytes(onnx, None)?;
    let io = |source| WriteError::Io {
        path: out.to_path_buf(),
        source,
    };
    let name = out.file_name().ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file name",
        ))
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = out.with_file_name(tmp_name);
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(onnx).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, out));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

/// Class names for a model with `slots` class slots, background first: the given ones (which
/// must be exactly that many), or `background`, `class_1`, ...
pub(crate) fn slot_labels(given: Option<&[String]>, slots: usize) -> Result<Vec<String>, String> {
    match given {
        Some(l) if l.len() == slots => Ok(l.to_vec()),
        Some(l) => Err(format!(
            "{} labels given, the model has {slots} class slots (background included)",
            l.len()
        )),
        None => Ok((0..slots)
            .map(|k| {
                if k == 0 {
                    "background".into()
                } else {
                    format!("class_{k}")
                }
            })
            .collect()),
    }
}

/// The post-processing of TensorFlow's SSD pipelines (coco-ssd's `detect`, MediaPipe's
/// TensorsToDetections + NonMaxSuppression): the best class per box, class-agnostic NMS at
/// IoU 0.5 keeping 100; candidates from 0.01 as for mAP.
pub(crate) fn tf_ssd_nms() -> NmsConfig {
    NmsConfig {
        score_threshold: 0.01,
        iou_threshold: 0.5,
        top_k: 200,
        keep_top_k: 100,
        class_agnostic: true,
    }
}

/// The output names every importer writes.
pub(crate) fn raw_outputs() -> OutputNames {
    OutputNames {
        loc: Some("loc".into()),
        conf: Some("conf".into()),
    }
}
