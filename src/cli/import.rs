//! `ssd-edge import`: a published detector to an ssd-edge model (ONNX with the full metadata),
//! on the board itself. Each `--from` format is one match arm over `ssd_edge::import`; what
//! follows is common: the model is loaded as `detect` would load it, then written, so a
//! refused import leaves no file.

use anyhow::{bail, Result};
use ssd_edge::import::{self, tfjs, tflite, torch};
use ssd_edge::model::ModelMeta;
use std::path::PathBuf;
use std::process::ExitCode;

/// The formats `--from` names.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// amdegroot/ssd.pytorch's SSD300 (VGG16): its `.pth` state dict.
    #[value(name = "ssd.pytorch")]
    SsdPytorch,
    /// torchvision's `ssd300_vgg16` or `ssdlite320_mobilenet_v3_large` (`--arch`): its `.pth`
    /// state dict.
    Torchvision,
    /// A TF.js graph model (`model.json` with its weight shards).
    Tfjs,
    /// A TFLite flatbuffer (`.tflite`).
    Tflite,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The format and reference implementation the file comes from.
    #[arg(long, value_enum)]
    pub from: Format,
    /// Architecture: for torchvision `ssd300_vgg16` or `ssdlite320_mobilenet_v3_large`; for
    /// ssd.pytorch `ssd300_vgg16` (its only one, the default).
    #[arg(long)]
    pub arch: Option<String>,
    /// The file to import: a state dict as `torch.save` writes it (zip or legacy format), e.g.
    /// `ssd300_mAP_77.43_v2.pth` or `ssdlite320_mobilenet_v3_large_coco-a79551df.pth`; a
    /// TF.js graph model's `model.json` (its weight shards beside it).
    #[arg(long, value_name = "FILE")]
    pub weights: PathBuf,
    /// Output ONNX model.
    #[arg(long, value_name = "M.onnx")]
    pub out: PathBuf,
    /// For a TFLite SSD without a `TFLite_Detection_PostProcess` op (its anchors live in the
    /// app around it): the anchor generator, `mediapipe-ssd300` (MediaPipe's
    /// SsdAnchorsCalculator / the TF Object Detection API's 6-layer SSD at 300x300).
    #[arg(long, value_name = "NAME")]
    pub anchors: Option<String>,
    /// Class names, one per line or a JSON list, background first (default: VOC for 21
    /// classes, COCO's 91 slots for 91, class_N otherwise).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
}

/// An imported model, ready to be checked and written.
struct Converted {
    onnx: Vec<u8>,
    meta: ModelMeta,
    /// What it was, for the log line.
    what: String,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let converted = match args.from {
        Format::SsdPytorch | Format::Torchvision => from_torch(&args)?,
        Format::Tfjs => from_tfjs(&args)?,
        Format::Tflite => from_tflite(&args)?,
    };
    import::write_model(&converted.onnx, &args.out)?;
    let m = &converted.meta;
    log::info!(
        "wrote {} ({}, {} classes, {}x{} input, {} priors)",
        args.out.display(),
        converted.what,
        m.labels.len(),
        m.input.width,
        m.input.height,
        m.priors
            .num_priors()
            .map_or("the model's own".to_string(), |p| p.to_string()),
    );
    Ok(ExitCode::SUCCESS)
}

/// ssd.pytorch and torchvision state dicts.
fn from_torch(args: &Args) -> Result<Converted> {
    let from = match args.from {
        Format::SsdPytorch => "ssd.pytorch",
        _ => "torchvision",
    };
    let family = torch::Family::parse(from, args.arch.as_deref())?;
    let labels = args.labels.as_deref().map(torch::read_labels).transpose()?;
    let imported = torch::import(&torch::ImportOptions {
        family,
        weights: args.weights.clone(),
        labels,
        command: Some(ssd_edge::provenance::command_line()),
    })?;
    Ok(Converted {
        what: format!(
            "{}, {} parameters",
            family.describe(),
            imported.spec.num_params()
        ),
        onnx: imported.onnx,
        meta: imported.meta,
    })
}

/// TF.js graph models of the TF Object Detection API's SSDs.
fn from_tfjs(args: &Args) -> Result<Converted> {
    let labels = args.labels.as_deref().map(torch::read_labels).transpose()?;
    let imported = tfjs::import(
        &args.weights,
        &tfjs::TfjsOptions {
            labels,
            architecture: args.arch.clone(),
            provenance: ssd_edge::model::Provenance {
                command: Some(ssd_edge::provenance::command_line()),
                git_revision: ssd_edge::provenance::git_revision(),
                notes: Some(
                    "imported from a TF.js graph model; the weights are the publisher's (see models/NOTICE)"
                        .into(),
                ),
                ..Default::default()
            },
        },
    )?;
    Ok(Converted {
        what: format!(
            "TF.js graph model, {} of {} TF nodes converted into {} ONNX nodes, {} parameters",
            imported.converted_nodes, imported.tf_nodes, imported.onnx_nodes, imported.parameters
        ),
        onnx: imported.onnx,
        meta: imported.meta,
    })
}

/// TFLite SSDs: a `.tflite` file, or a MediaPipe packed-assets file (label map + model).
fn from_tflite(args: &Args) -> Result<Converted> {
    let bytes = ssd_edge::limits::read_bounded(&args.weights, 1 << 30)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.weights.display()))?;
    let (packed_labels, model) = if bytes.get(4..8) == Some(b"TFL3".as_slice()) {
        (None, bytes.as_slice())
    } else {
        let (l, m) = tflite::split_packed_assets(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.weights.display()))?;
        (Some(l), m)
    };
    let labels = match args.labels.as_deref() {
        Some(p) => Some(torch::read_labels(p)?),
        None => packed_labels,
    };
    let anchors = match args.anchors.as_deref() {
        None => None,
        Some("mediapipe-ssd300") => Some(ssd_edge::ssd::SsdAnchors::ssd_mobilenet_300()),
        Some(other) => bail!("--anchors `{other}`: the known generator is mediapipe-ssd300"),
    };
    let imported = tflite::import_ssd(
        model,
        &tflite::SsdOptions {
            labels,
            anchors,
            architecture: args.arch.clone(),
            provenance: ssd_edge::model::Provenance {
                command: Some(ssd_edge::provenance::command_line()),
                git_revision: ssd_edge::provenance::git_revision(),
                notes: Some(
                    "imported from a TFLite flatbuffer; the weights are the publisher's".into(),
                ),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", args.weights.display()))?;
    Ok(Converted {
        what: format!("TFLite SSD ({})", imported.ops.join(", ")),
        onnx: imported.onnx,
        meta: imported.meta,
    })
}
