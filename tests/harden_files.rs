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
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
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

/// Writes `edge.toml` with `body` in `dir` and returns its path.
fn config(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

const LINE: &str = "a = [0.5, 0.0]\nb = [0.5, 1.0]\n";

/// Config values that make counting meaningless, names that collide once derived and pixel
/// lines outside the frame: refused when the config is loaded (before the model: the model
/// path here does not exist) or before the first frame, naming the file and the key once.
#[test]
fn config_ranges_names_and_pixel_lines_are_refused_before_any_frame() {
    let dir = tempfile::tempdir().unwrap();
    let head = "[source]\nuri = \"synth:1\"\nframes = 3\n[model]\npath = \"/nonexistent.onnx\"\n";
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!("{head}[[line]]\nname = \"a/b\"\n{LINE}[[line]]\nname = \"a_b\"\n{LINE}"),
            vec!["line[1].name", "`a_b` and `a/b` both become `a_b`"],
        ),
        (
            format!("{head}[[line]]\nname = \"Tür\"\n{LINE}[[zone]]\nname = \"Tör\"\npoints = [[0, 0], [1, 0], [1, 1]]\n"),
            vec!["zone[0].name", "`Tör` and `Tür` both become `t_r`"],
        ),
        (
            format!("{head}[[line]]\nname = \"door\"\n{LINE}band = 1e30\n"),
            vec!["line[0] (door).band", "is outside [0, 0.5]"],
        ),
        (
            format!("{head}[[line]]\nname = \"door\"\na = [0.5, 0.5]\nb = [0.5, 0.5000001]\n"),
            vec!["line[0] (door).b", "must be at least 0.001"],
        ),
        (
            format!("{head}[mqtt]\nhost = \"localhost\"\nstats_interval = 1e-9\n"),
            vec!["mqtt.stats_interval", "is not in [0.1, 86400] seconds"],
        ),
        (
            format!("{head}[mqtt]\nhost = \"localhost\"\nlinger = 600\n"),
            vec!["mqtt.linger", "is not in (0, 30] seconds"],
        ),
    ];
    for (i, (body, needles)) in cases.iter().enumerate() {
        let cfg = config(dir.path(), &format!("c{i}.toml"), body);
        let o = run(&["run", "--config", &cfg]);
        let mut n = needles.clone();
        n.push(&cfg);
        fails_once_with(&o, &n);
        assert!(o.stdout.is_empty(), "{cfg}: frames came out");
    }
    // Pixel units outside the 300x300 synthetic frame: before any frame, with the config.
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default-float.onnx");
    let cfg = config(
        dir.path(),
        "pixels.toml",
        &format!(
            "[source]\nuri = \"synth:1\"\nframes = 3\n[model]\npath = \"{}\"\n[[line]]\n\
             name = \"door\"\nunits = \"pixels\"\na = [500, 10]\nb = [500, 200]\n",
            model.display()
        ),
    );
    let o = run(&["run", "--config", &cfg]);
    fails_once_with(
        &o,
        &[
            &cfg,
            "line[0] (door).a",
            "[500, 10] is outside the 300x300 frame",
        ],
    );
    assert!(o.stdout.is_empty(), "frames came out before the check");
}

/// `track` frames of width or height 0 would resolve every line to a point.
#[test]
fn track_frames_of_zero_size_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "t.toml",
        &format!("[[line]]\nname = \"door\"\n{LINE}"),
    );
    for (w, h) in [(0, 300), (300, 0), (0, 0)] {
        let input = dir.path().join(format!("in{w}x{h}.jsonl"));
        std::fs::write(
            &input,
            format!("{{\"frame\":0,\"width\":{w},\"height\":{h},\"detections\":[]}}\n"),
        )
        .unwrap();
        let inp = p(&input);
        let o = run(&["track", "--config", &cfg, "--input", &inp]);
        fails_once_with(
            &o,
            &[
                &inp,
                &format!("a {w}x{h} frame: width and height must be at least 1"),
            ],
        );
    }
}
