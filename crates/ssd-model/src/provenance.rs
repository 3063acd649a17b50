//! What a model records about how it was made: the command line and the git revision.
//!
//! Models are release artifacts, so their records must not depend on the machine that built
//! them: the command is written as run from the repository's root, with the program's own
//! path dropped and absolute paths made relative to the repository (or to `~` for the
//! builder's home), and a revision with uncommitted changes carries `-dirty`, which
//! `make release` flags (and refuses for a tagged release: package/package.sh).
//!
//! In the board crate because `ssd-edge import` records it as `ssd-train` does; it only runs
//! `git` (none on a board: no revision is recorded there).

use std::path::{Path, PathBuf};
use std::process::Command;

/// This process's command line, as [`portable_command`] writes it for the current directory's
/// repository and the current user's home.
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args().collect();
    let cwd = std::env::current_dir().ok();
    let root = git(&["rev-parse", "--show-toplevel"]).map(PathBuf::from);
    let home = std::env::var_os("HOME").map(PathBuf::from);
    portable_command(&args, cwd.as_deref(), root.as_deref(), home.as_deref())
}

/// `args[0]` becomes its file name; each absolute path argument (also the value of
/// `--flag=/path`) becomes relative to `root`, or `~/...` under `home`. When `cwd` is a folder
/// below `root`, the command starts with `cd <folder> &&` so relative arguments keep their
/// meaning.
pub fn portable_command(
    args: &[String],
    cwd: Option<&Path>,
    root: Option<&Path>,
    home: Option<&Path>,
) -> String {
    let portable = |arg: &str| -> String {
        let p = Path::new(arg);
        if !p.is_absolute() {
            return arg.to_string();
        }
        if let Some(rel) = root.and_then(|r| p.strip_prefix(r).ok()) {
            return if rel.as_os_str().is_empty() {
                ".".into()
            } else {
                rel.display().to_string()
            };
        }
        if let Some(rel) = home.and_then(|h| p.strip_prefix(h).ok()) {
            return Path::new("~").join(rel).display().to_string();
        }
        arg.to_string()
    };
    let mut out = Vec::with_capacity(args.len() + 2);
    if let (Some(cwd), Some(root)) = (cwd, root) {
        if let Ok(sub) = cwd.strip_prefix(root) {
            if !sub.as_os_str().is_empty() {
                out.push(format!("cd {} &&", sub.display()));
            }
        }
    }
    for (i, arg) in args.iter().enumerate() {
        if i == 0 {
            let name = Path::new(arg)
                .file_name()
                .map_or_else(|| arg.clone(), |n| n.to_string_lossy().into_owned());
            out.push(name);
        } else if let Some((flag, value)) = arg.split_once('=').filter(|(f, _)| f.starts_with('-'))
        {
            out.push(format!("{flag}={}", portable(value)));
        } else {
            out.push(portable(arg));
        }
    }
    out.join(" ")
}

/// The current git revision (with `-dirty` when tracked files have uncommitted changes), if
/// git is there. A dirty model is logged: it cannot be rebuilt from any commit.
pub fn git_revision() -> Option<String> {
    let rev = git(&["rev-parse", "--short=12", "HEAD"])?;
    let changed = git(&["status", "--porcelain", "--untracked-files=no"]).unwrap_or_default();
    if changed.is_empty() {
        return Some(rev);
    }
    let files: Vec<&str> = changed.lines().map(|l| l.get(3..).unwrap_or(l)).collect();
    log::warn!(
        "the working tree has uncommitted changes ({}): the model records revision \
         {rev}-dirty, which `make release` flags",
        files.join(", ")
    );
    Some(format!("{rev}-dirty"))
}

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(args: &[&str], cwd: &str) -> String {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        portable_command(
            &args,
            Some(Path::new(cwd)),
            Some(Path::new("/home/ann/ssd-edge")),
            Some(Path::new("/home/ann")),
        )
    }

    #[test]
    fn paths_become_repository_relative_or_home_relative() {
        let c = cmd(
            &[
                "/home/ann/ssd-edge/target/debug/ssd-train",
                "export",
                "--checkpoint",
                "/home/ann/.cache/ssd-edge/model-build/phase2/best",
                "--out=/home/ann/ssd-edge/models/default-float.onnx",
                "--calib",
                "/data/calib",
                "--arch",
                "mobile@0.25",
                "models/x.onnx",
            ],
            "/home/ann/ssd-edge",
        );
        assert_eq!(
            c,
            "ssd-train export --checkpoint ~/.cache/ssd-edge/model-build/phase2/best \
             --out=models/default-float.onnx --calib /data/calib --arch mobile@0.25 models/x.onnx"
        );
    }

    #[test]
    fn a_subfolder_is_named_and_the_root_itself_is_dot() {
        let c = cmd(
            &[
                "ssd-train",
                "eval",
                "--data",
                "/home/ann/ssd-edge",
                "a.onnx",
            ],
            "/home/ann/ssd-edge/train",
        );
        assert_eq!(c, "cd train && ssd-train eval --data . a.onnx");
    }

    #[test]
    fn outside_any_repository_only_home_is_shortened() {
        let args: Vec<String> = [
            "/usr/bin/ssd-train",
            "train",
            "--out",
            "/home/ann/m",
            "/srv/x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = portable_command(
            &args,
            Some(Path::new("/srv")),
            None,
            Some(Path::new("/home/ann")),
        );
        assert_eq!(c, "ssd-train train --out ~/m /srv/x");
    }
}
