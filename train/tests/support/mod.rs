//! Shared by the trainer's integration tests that need the venv (`make setup` creates it).

use std::path::PathBuf;

/// The venv's Python: `$SSD_EDGE_VENV`, else `$VIRTUAL_ENV` (the Makefile exports it), else
/// `~/.cache/ssd-edge/venv`.
pub fn venv_python() -> PathBuf {
    let venv = std::env::var("SSD_EDGE_VENV")
        .or_else(|_| std::env::var("VIRTUAL_ENV"))
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or("/root".into()))
                .join(".cache/ssd-edge/venv")
        });
    venv.join("bin/python")
}
