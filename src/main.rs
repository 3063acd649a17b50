//! The `ssd-edge` command line: parse arguments, run a subcommand, turn errors into messages.

mod cli;

// Counts allocations only while a thread asks (`ssd-edge bench` per frame): a thread-local read
// per allocation otherwise.
#[global_allocator]
static ALLOC: ssd_edge::alloc_count::Counting = ssd_edge::alloc_count::Counting;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = cli::Cli::parse();
    match cli::dispatch(args) {
        Ok(code) => code,
        // The reader of our output went away (`| head`): done, as ripgrep is.
        Err(err) if cli::output::stdout_error(&err).is_some_and(|e| e.is_closed_pipe()) => {
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
