//! `ssd-train export`: a training checkpoint to an ONNX model with its metadata.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Checkpoint stem or file (`run/best`, `run/best.json` or `run/best.safetensors`).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Output ONNX file.
    #[arg(long)]
    pub out: PathBuf,
    /// Training data description for the metadata (default: from the checkpoint).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Accuracy figures for the metadata, `name=value` (e.g. `voc07_map=0.71`); repeatable.
    #[arg(long = "metric", value_parser = parse_metric)]
    pub metrics: Vec<(String, f64)>,
    /// The model's own score threshold for reported detections (`detection_threshold` in the
    /// metadata; `detect` and `run` use it unless told otherwise).
    #[arg(long, default_value_t = 0.5, value_parser = ssd_model::model::meta::parse_threshold)]
    pub detection_threshold: f32,
}

fn parse_metric(s: &str) -> Result<(String, f64), String> {
    let (k, v) = s.split_once('=').ok_or("expected name=value")?;
    let v: f64 = v.parse().map_err(|_| format!("`{v}` is not a number"))?;
    Ok((k.to_string(), v))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut prov = ssd_model::model::Provenance {
        dataset: args.dataset,
        command: Some(ssd_train::provenance::command_line()),
        ..Default::default()
    };
    prov.metrics.extend(args.metrics);
    let meta = ssd_train::export::export_checkpoint(
        &args.checkpoint,
        &args.out,
        prov,
        args.detection_threshold,
    )
    .with_context(|| format!("exporting {}", args.checkpoint.display()))?;
    log::info!(
        "wrote {} ({}, {} classes, {} priors, detection threshold {})",
        args.out.display(),
        meta.architecture,
        meta.labels.len(),
        meta.priors.num_priors().unwrap_or(0),
        meta.detection_threshold
    );
    Ok(ExitCode::SUCCESS)
}
