//! Standard output for every subcommand. Results go through [`Stdout`], whose errors carry a
//! [`StdoutError`], so `main` can tell them apart under any context: a closed pipe
//! (`ssd-edge ... | head -3`) ends the program quietly with status 0, as ripgrep does, and any
//! other failure (`>/dev/full`) is an error naming stdout. Nothing prints with `println!`,
//! which panics on both.

use std::fmt::Display;
use std::io::{self, Write};

/// Writing to stdout failed.
#[derive(Debug, thiserror::Error)]
#[error("writing to stdout: {0}")]
pub struct StdoutError(pub io::Error);

impl StdoutError {
    /// The reader went away (`| head`): not an error of ours.
    pub fn is_closed_pipe(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

/// Locked stdout whose errors are tagged as [`StdoutError`] (inside an `io::Error` of the
/// same kind, so it can sit under a `BufWriter` or a pipeline's `W: Write`).
pub struct Stdout(io::StdoutLock<'static>);

pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

fn tag(e: io::Error) -> io::Error {
    if e.get_ref().is_some_and(|inner| inner.is::<StdoutError>()) {
        return e;
    }
    io::Error::new(e.kind(), StdoutError(e))
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(tag)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(tag)
    }
}

impl Stdout {
    /// Writes `line` and a newline, and flushes: each result reaches a reader (`| head`, a
    /// log shipper) as soon as it is known.
    pub fn line(&mut self, line: impl Display) -> Result<(), StdoutError> {
        self.text(format_args!("{line}\n"))
    }

    /// Writes `text` as it is, and flushes.
    pub fn text(&mut self, text: impl Display) -> Result<(), StdoutError> {
        write!(self.0, "{text}")
            .and_then(|_| self.0.flush())
            .map_err(StdoutError)
    }
}

/// The stdout failure somewhere in `err`'s chain, if that is what ended the program.
pub fn stdout_error(err: &anyhow::Error) -> Option<&StdoutError> {
    err.chain().find_map(|e| {
        e.downcast_ref::<StdoutError>().or_else(|| {
            e.downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<StdoutError>())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_errors_are_found_under_context() {
        let closed = tag(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(closed.kind(), io::ErrorKind::BrokenPipe);
        let err = anyhow::Error::new(closed).context("writing results");
        assert!(stdout_error(&err).is_some_and(StdoutError::is_closed_pipe));
        let full = anyhow::Error::new(StdoutError(io::Error::from_raw_os_error(28)));
        assert!(stdout_error(&full).is_some_and(|e| !e.is_closed_pipe()));
        // A broken pipe elsewhere (a network sink) is a real error.
        let other = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(stdout_error(&other).is_none());
    }
}
