//! Subcommands. Each lives in its own file with its arguments and its `run`.

mod bench;
mod eval;
mod export;
mod import;
mod priors;
mod quantize;
mod synth;
mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "ssd-train",
    version,
    about = "Train, evaluate, export and quantize SSD models"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write synthetic scenes as a Pascal VOC data set.
    Synth(synth::Args),
    /// Train an SSD model.
    Train(train::Args),
    /// Measure mAP of a checkpoint, an ONNX model, or a detections file.
    Eval(eval::Args),
    /// Export a checkpoint to ONNX with the model metadata inside.
    Export(export::Args),
    /// A published detector's PyTorch weights (.pth) to an ONNX model with full metadata.
    Import(import::Args),
    /// Post-training static int8 quantization of an exported ONNX model.
    Quantize(quantize::Args),
    /// How well a network's default boxes fit the synthetic objects, by class and size.
    Priors(priors::Args),
    /// Speed of network configurations (tch, tract) and of the data loader on this machine.
    Bench(bench::Args),
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Synth(args) => synth::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Export(args) => export::run(args),
        Command::Import(args) => import::run(args),
        Command::Quantize(args) => quantize::run(args),
        Command::Priors(args) => priors::run(args),
        Command::Bench(args) => bench::run(args),
    }
}
