//! Subcommands. Each lives in its own file with its arguments and its `run`.

mod detect;
mod info;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "ssd-edge",
    version = concat!(
        env!("CARGO_PKG_VERSION"),
        " (",
        env!("SSD_EDGE_TARGET"),
        "; features: ",
        env!("SSD_EDGE_FEATURES"),
        ")"
    ),
    about = "Offline SSD object detection for Raspberry Pi and Jetson"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Detect objects in image files and print one JSON line per image.
    Detect(detect::Args),
    /// Print what a model carries: input, labels, priors, thresholds, provenance.
    Info(info::Args),
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Detect(args) => detect::run(args),
        Command::Info(args) => info::run(args),
    }
}
