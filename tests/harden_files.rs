//! Issue 32, files: every file the program reads is read through one bounded reader, whatever
//! the file is (a device, a FIFO that never ends, a sparse file of gigabytes, a line that never
//! ends), and every failure names the file and the problem once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ssd-edge"))
        .env("RUST_LOG", "warn")
        .args(args)
        .output()
        .expect("run ssd-edge")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails, without a panic, with one `error:` line saying each of its causes once and
/// containing every needle.
fn fails_once_with(o: &Output, needles: &[&str]) {
    let e = stderr(o);
    assert!(!o.status.success(), "expected a failure: {e}");
    assert!(!e.contains("panicked"), "panic: {e}");
    let errors: Vec<&str> = e.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{e}");
    let parts: Vec<&str> = errors[0].split(": ").map(str::trim).collect();
    for (i, p) in parts.iter().enumerate() {
        if p.len() > 6 {
            assert!(!parts[i + 1..].contains(p), "cause {p:?} repeated: {e}");
        }
    }
    for n in needles {
        assert!(errors[0].contains(n), "{n:?} missing: {e}");
    }
}

/// A FIFO at `path` fed with `byte` without end by a thread, until its reader goes. The
/// thread is unblocked (by opening the read end once) if the program never opened it.
struct EndlessFifo {
    path: PathBuf,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl EndlessFifo {
    fn new(path: PathBuf, byte: u8) -> Self {
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let p = path.clone();
        let writer = std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
            let chunk = [byte; 1 << 16];
            while f.write_all(&chunk).is_ok() {}
        });
        EndlessFifo {
            path,
            writer: Some(writer),
        }
    }
}

impl Drop for EndlessFifo {
    fn drop(&mut self) {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(w) = self.writer.take() {
            if !w.is_finished() {
                // Open and close the read end: the writer's open returns, its write fails.
                let _ = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(&self.path);
            }
            let _ = w.join();
        }
    }
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn whole_file_reads_are_bounded_for_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let sparse = dir.path().join("huge.toml");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(8 << 30)
        .unwrap();
    let latin1 = dir.path().join("latin1.toml");
    std::fs::write(&latin1, b"[[line]]\nname = \"T\xfcr\"\n").unwrap();
    let limit = "more than the limit of 1048576 bytes";
    let cases: Vec<(Vec<&str>, String, &str)> = vec![
        (
            vec!["run", "--config"],
            "/dev/zero".into(),
            "is a device, not a regular file",
        ),
        (
            vec!["run", "--config"],
            p(dir.path()),
            "is a directory, not a regular file",
        ),
        (vec!["run", "--config"], p(&sparse), limit),
        (
            vec!["run", "--config"],
            p(&latin1),
            "is not UTF-8 text (invalid byte at offset 18)",
        ),
        (
            vec!["run", "--config"],
            "/nonexistent.toml".into(),
            "does not exist",
        ),
        (vec!["track", "--config"], "/dev/zero".into(), "is a device"),
        (vec!["track", "--config"], p(&sparse), limit),
        (
            vec!["track", "--tracker-config"],
            "/dev/zero".into(),
            "is a device",
        ),
        (vec!["track", "--tracker-config"], p(&sparse), limit),
        (
            vec!["track", "--tracker-config"],
            p(dir.path()),
            "is a directory",
        ),
        (
            vec!["track", "--input"],
            p(dir.path()),
            "is a directory, not a regular file",
        ),
        (
            vec!["track", "--input"],
            "/nonexistent.jsonl".into(),
            "does not exist",
        ),
    ];
    for (args, file, why) in &cases {
        let started = Instant::now();
        let mut a = args.clone();
        a.push(file);
        let o = run(&a);
        fails_once_with(&o, &[file.as_str(), why]);
        // Liveness, not timing: /dev/zero used to be read until memory ran out.
        assert!(started.elapsed() < Duration::from_secs(60), "{a:?}");
    }
}

#[test]
fn fifos_and_endless_lines_stop_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    for (i, args) in [
        vec!["run", "--config"],
        vec!["track", "--config"],
        vec!["track", "--tracker-config"],
    ]
    .into_iter()
    .enumerate()
    {
        let fifo = EndlessFifo::new(dir.path().join(format!("cfg{i}.toml")), b'#');
        let mut a = args.clone();
        let name = p(&fifo.path);
        a.push(&name);
        let o = run(&a);
        fails_once_with(&o, &[&name, "longer than the limit of 1048576 bytes"]);
    }
    // A line that never ends, from a device and from a FIFO (with and without a newline
    // ever coming): an error after the 4 MiB line limit, naming the input and the line.
    let o = run(&["track", "--input", "/dev/zero"]);
    fails_once_with(
        &o,
        &[
            "/dev/zero",
            "line 1",
            "line longer than the limit of 4194304 bytes",
        ],
    );
    let fifo = EndlessFifo::new(dir.path().join("in.jsonl"), b' ');
    let name = p(&fifo.path);
    let o = run(&["track", "--input", &name]);
    fails_once_with(&o, &[&name, "line 1", "limit of 4194304 bytes"]);
}
