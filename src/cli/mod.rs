//! Subcommands. Each lives in its own file with its arguments and its `run`.

mod bench;
mod cameras;
mod config;
mod default_model;
mod detect;
mod import;
mod info;
pub mod output;
mod record;
#[cfg(feature = "store")]
mod report;
mod run;
#[cfg(feature = "http")]
mod serve;
mod source_args;
mod track;

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
    /// Threads for the model's kernels [default: every core this process may use].
    #[arg(long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Detect objects in image files and print one JSON line per image.
    Detect(detect::Args),
    /// Print what a model carries: input, labels, priors, thresholds, provenance.
    Info(info::Args),
    /// Run the detector on frames from a camera, files, a recording or synthetic scenes.
    Run(run::Args),
    /// List V4L2 cameras with their formats, frame sizes and frame rates.
    Cameras(cameras::Args),
    /// Record raw frames with their metadata, for `run --source replay:FILE`.
    Record(record::Args),
    /// Time preprocessing, forward pass and decode per frame, for one or more models.
    Bench(bench::Args),
    /// Track detections read as JSON lines (what `run` prints) and print tracks per frame.
    Track(track::Args),
    /// Counts per minute, hour or day from the event store, as a table, CSV or PNG chart.
    #[cfg(feature = "store")]
    Report(report::Args),
    /// Convert a published detector (ssd.pytorch, torchvision .pth) into an ssd-edge model.
    Import(import::Args),
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let threads = cli
        .threads
        .map_or_else(ssd_edge::model::available_threads, usize::from);
    if matches!(
        cli.command,
        Command::Detect(_) | Command::Run(_) | Command::Bench(_)
    ) {
        ssd_edge::model::set_threads(threads);
        log::debug!("model kernels on {threads} thread(s)");
    }
    match cli.command {
        Command::Detect(args) => detect::run(args),
        Command::Info(args) => info::run(args),
        Command::Run(args) => run::run(args),
        Command::Cameras(args) => cameras::run(args),
        Command::Record(args) => record::run(args),
        Command::Bench(args) => bench::run(args, threads),
        Command::Track(args) => track::run(args),
        #[cfg(feature = "store")]
        Command::Report(args) => report::run(args),
        Command::Import(args) => import::run(args),
    }
}
