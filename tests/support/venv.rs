// One definition for both packages' tests, `include!`d (tests/support/board.rs,
// tests/import_pth_cli.rs, train/tests/support/mod.rs, train/tests/finetune_backbone.rs).

/// The venv's Python (`make setup` creates the venv): `$SSD_EDGE_VENV`, else `$VIRTUAL_ENV`
/// (the Makefile exports it), else `~/.cache/ssd-edge/venv`.
pub fn venv_python() -> std::path::PathBuf {
    let venv = std::env::var("SSD_EDGE_VENV")
        .or_else(|_| std::env::var("VIRTUAL_ENV"))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".cache/ssd-edge/venv")
        });
    venv.join("bin/python")
}
