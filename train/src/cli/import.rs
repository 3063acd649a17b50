//! `ssd-train import`: published PyTorch weights to an ONNX model ready for the board. A thin
//! delegate to the board crate's importer (`ssd_model::import`), which `ssd-edge import` runs
//! too: the same files, the same errors, the same model.

use std::path::PathBuf;
use std::process::ExitCode;

use ssd_train::import::{self, Family, ImportOptions};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Reference implementation the weights come from: `ssd.pytorch` or `torchvision`.
    #[arg(long)]
    pub from: String,
    /// Architecture: `ssd300_vgg16` (ssd.pytorch's only one, the default there) or, for
    /// torchvision, `ssd300_vgg16` / `ssdlite320_mobilenet_v3_large`.
    #[arg(long)]
    pub arch: Option<String>,
    /// The state dict as saved by `torch.save` (zip or legacy format), e.g.
    /// `ssd300_mAP_77.43_v2.pth` or `ssdlite320_mobilenet_v3_large_coco-a79551df.pth`.
    #[arg(long)]
    pub weights: PathBuf,
    /// Output ONNX file.
    #[arg(long)]
    pub out: PathBuf,
    /// Class names, one per line, background first (default: VOC for 21 classes, COCO's
    /// 91 slots for 91, class_N otherwise).
    #[arg(long)]
    pub labels: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let family = Family::parse(&args.from, args.arch.as_deref())?;
    let labels = args
        .labels
        .as_deref()
        .map(import::read_labels)
        .transpose()?;
    let opts = ImportOptions {
        family,
        weights: args.weights.clone(),
        labels,
        command: Some(ssd_train::provenance::command_line()),
    };
    let imported = import::import(&opts)?;
    ssd_model::import::write_model(&imported.onnx, &args.out)?;
    let m = &imported.meta;
    log::info!(
        "wrote {} ({}, {} classes, {}x{} input, {} priors, {} parameters)",
        args.out.display(),
        family.describe(),
        m.labels.len(),
        m.input.width,
        m.input.height,
        m.priors.num_priors().unwrap_or(0),
        imported.spec.num_params()
    );
    Ok(ExitCode::SUCCESS)
}
