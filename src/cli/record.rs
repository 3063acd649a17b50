//! `ssd-edge record`: raw frames of a source, with their format, size and timestamp, into a
//! file that `--source replay:FILE` plays back (format in `ssd_edge::source::replay`).

use anyhow::{bail, Context, Result};
use ssd_edge::source::replay::Recorder;
use ssd_edge::source::{self, SourceSpec};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub src: super::source_args::SourceArgs,
    /// Recording to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Stop after this many frames [default: 100 for synth, else until the source ends].
    #[arg(long)]
    pub frames: Option<u64>,
    /// Longest wait for one frame, in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub timeout: f64,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let spec = args.src.spec(None)?;
    let opts = args.src.options();
    let timeout = super::run::seconds(args.timeout, "--timeout")?;
    // Creating the recording truncates it: it must not be what we are about to read.
    refuse_overwriting_input(&spec, &args.out)?;
    let stop =
        ssd_edge::shutdown::install().context("installing the SIGINT/SIGTERM/SIGHUP handlers")?;
    let mut src = source::open(&spec, &opts)?;
    log::info!("recording {} to {}", src.describe(), args.out.display());
    let limit = args
        .frames
        .or(matches!(spec, SourceSpec::Synth(_)).then_some(100));
    let mut rec = Recorder::create(&args.out)?;
    let (mut written, mut skipped) = (0u64, 0u64);
    while limit.is_none_or(|n| written < n) {
        if stop.load(Ordering::SeqCst) {
            log::info!("stopping on signal");
            break;
        }
        match src.next_frame(timeout) {
            Ok(Some(frame)) => {
                rec.write(&frame)?;
                written += 1;
            }
            Ok(None) => break,
            // Recording is for field problems: keep going past what the run would skip.
            Err(e) if e.is_skippable() || e.is_timeout() => {
                skipped += 1;
                log::warn!("{e}");
            }
            Err(e) => {
                rec.finish()?;
                return Err(e.into());
            }
        }
    }
    let frames = rec.finish()?;
    log::info!(
        "wrote {frames} frames to {} ({skipped} skipped)",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn refuse_overwriting_input(spec: &SourceSpec, out: &Path) -> Result<()> {
    match spec {
        SourceSpec::Replay(input) | SourceSpec::Image(input) | SourceSpec::Video(input)
            if super::detect::same_file(input, out) =>
        {
            bail!(
                "--out {} is the source {} itself; recording would overwrite it",
                out.display(),
                input.display()
            )
        }
        SourceSpec::Directory(dir) if out.exists() => {
            let parent = match out.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            if super::detect::same_file(parent, dir) {
                bail!(
                    "--out {} is inside the source directory {}, whose files are read as frames; recording would overwrite one",
                    out.display(),
                    dir.display()
                )
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
