//! Helpers for the camera tests: the fake V4L2 device (tests/fakecam/fakecam.c, an
//! LD_PRELOAD shim), test patterns in every pixel format, and running the real binary.
#![allow(dead_code)]

use image::RgbImage;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const FORMATS: [&str; 6] = ["RGB3", "BGR3", "GREY", "YUYV", "NV12", "MJPG"];
pub const W: u32 = 320;
pub const H: u32 = 240;

/// Compiles the shim once per test process.
pub fn fakecam_lib() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakecam/fakecam.c");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("libfakecam-{}.so", std::process::id()));
        let status = Command::new("cc")
            .args(["-shared", "-fPIC", "-O1", "-Wall", "-o"])
            .arg(&out)
            .arg(&src)
            .args(["-ldl", "-lpthread"])
            .status()
            .expect("run cc (gcc is needed for the fake camera)");
        assert!(status.success(), "compiling {}", src.display());
        out
    })
}

/// Red cell (row 1, col 1) and green cell (0, 2) of the tiny model's 3x3
/// grid, on grey: the tiny model finds exactly these two.
pub fn pattern(w: u32, h: u32) -> RgbImage {
    let (cw, ch) = (w / 3, h / 3);
    let mut img = RgbImage::from_pixel(w, h, image::Rgb([128, 128, 128]));
    let mut fill = |col: u32, row: u32, c: [u8; 3]| {
        for y in row * ch..(row + 1) * ch {
            for x in col * cw..(col + 1) * cw {
                img.put_pixel(x, y, image::Rgb(c));
            }
        }
    };
    fill(1, 1, [230, 20, 20]);
    fill(2, 0, [20, 220, 30]);
    img
}

/// A smooth colour gradient with a few hard edges: the conversion tests' input.
pub fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let r = (x * 255 / w.max(1)) as u8;
        let g = (y * 255 / h.max(1)) as u8;
        let b = if (x / 40 + y / 40) % 2 == 0 { 200 } else { 60 };
        image::Rgb([r, g, b])
    })
}

/// BT.601 limited range, the inverse of what `ssd_edge::image::yuv` reads.
pub fn rgb_to_yuv(p: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = p.map(|v| v as f32);
    let y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b;
    let u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b;
    let v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b;
    [y, u, v].map(|c| c.round().clamp(0.0, 255.0) as u8)
}

pub fn luma(p: [u8; 3]) -> u8 {
    (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32).round() as u8
}

/// `img` in a V4L2 pixel format (fourcc as the fake device names it).
pub fn encode(img: &RgbImage, fourcc: &str) -> Vec<u8> {
    let (w, h) = img.dimensions();
    let px = |x: u32, y: u32| img.get_pixel(x, y).0;
    let mut out = Vec::new();
    match fourcc {
        "RGB3" => out.extend_from_slice(img.as_raw()),
        "BGR3" => img
            .pixels()
            .for_each(|p| out.extend_from_slice(&[p[2], p[1], p[0]])),
        "GREY" => img.pixels().for_each(|p| out.push(luma(p.0))),
        "YUYV" => {
            for y in 0..h {
                for x in (0..w).step_by(2) {
                    let (a, b) = (rgb_to_yuv(px(x, y)), rgb_to_yuv(px(x + 1, y)));
                    let u = (a[1] as u32 + b[1] as u32).div_ceil(2) as u8;
                    let v = (a[2] as u32 + b[2] as u32).div_ceil(2) as u8;
                    out.extend_from_slice(&[a[0], u, b[0], v]);
                }
            }
        }
        "NV12" => {
            for y in 0..h {
                for x in 0..w {
                    out.push(rgb_to_yuv(px(x, y))[0]);
                }
            }
            for y in (0..h).step_by(2) {
                for x in (0..w).step_by(2) {
                    let mut uv = [0u32; 2];
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        let c = rgb_to_yuv(px(x + dx, y + dy));
                        uv[0] += c[1] as u32;
                        uv[1] += c[2] as u32;
                    }
                    out.extend_from_slice(&[((uv[0] + 2) / 4) as u8, ((uv[1] + 2) / 4) as u8]);
                }
            }
        }
        "MJPG" => {
            let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92);
            enc.encode_image(img).expect("encode JPEG");
        }
        other => panic!("no encoder for {other}"),
    }
    out
}

/// A fake camera: a temp dir with frames in the formats it offers, and the environment
/// that makes the shim answer for its path.
pub struct FakeCam {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub log: PathBuf,
    env: Vec<(String, String)>,
}

impl FakeCam {
    /// Offers `formats` at `size`, each with the pattern as its frames.
    pub fn new(formats: &[&str], size: (u32, u32)) -> Self {
        let img = pattern(size.0, size.1);
        Self::with_frames(formats, size, &[img])
    }

    pub fn with_frames(formats: &[&str], size: (u32, u32), frames: &[RgbImage]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let frames_dir = dir.path().join("frames");
        std::fs::create_dir(&frames_dir).unwrap();
        for f in formats {
            if encodable(f) {
                for (i, img) in frames.iter().enumerate() {
                    std::fs::write(frames_dir.join(format!("{f}.{i}")), encode(img, f)).unwrap();
                }
            }
        }
        let path = dir.path().join("video-fake");
        let log = dir.path().join("fakecam.log");
        let env = vec![
            ("FAKECAM_PATH".into(), path.display().to_string()),
            ("FAKECAM_FORMATS".into(), formats.join(",")),
            ("FAKECAM_SIZES".into(), format!("{}x{}", size.0, size.1)),
            ("FAKECAM_FPS".into(), "30,15".into()),
            ("FAKECAM_FRAMES".into(), frames_dir.display().to_string()),
            ("FAKECAM_LOG".into(), log.display().to_string()),
        ];
        FakeCam {
            dir,
            path,
            log,
            env,
        }
    }

    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn source(&self) -> String {
        format!("camera:{}", self.path.display())
    }

    /// `ssd-edge ARGS` with the shim preloaded.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = ssd_edge_cmd(args);
        cmd.env("LD_PRELOAD", fakecam_lib());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run ssd-edge")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn encodable(f: &str) -> bool {
    FORMATS.contains(&f)
}

pub fn ssd_edge_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ssd-edge"));
    cmd.args(args).env("RUST_LOG", "info");
    cmd
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Per-frame lines and the summary of a `run`.
pub fn parse_run(o: &Output) -> (Vec<serde_json::Value>, serde_json::Value) {
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    let mut frames = Vec::new();
    let mut summary = serde_json::Value::Null;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}\nstderr:\n{}", stderr(o)));
        if let Some(s) = v.get("summary") {
            summary = s.clone();
        } else {
            frames.push(v);
        }
    }
    assert!(
        !summary.is_null(),
        "no summary line; stderr:\n{}",
        stderr(o)
    );
    (frames, summary)
}

/// Writes the tiny model into `dir`.
pub fn tiny_model(dir: &Path) -> PathBuf {
    let path = dir.join("tiny.onnx");
    std::fs::write(&path, super_tiny_model_bytes()).unwrap();
    path
}

fn super_tiny_model_bytes() -> Vec<u8> {
    crate::support::tiny_model_bytes()
}

/// Labels and pixel boxes of a frame line's detections.
pub fn detections(frame: &serde_json::Value) -> Vec<(String, [f32; 4])> {
    frame["detections"]
        .as_array()
        .expect("detections array")
        .iter()
        .map(|d| {
            let b: Vec<f32> = d["box"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            (
                d["label"].as_str().unwrap().to_string(),
                [b[0], b[1], b[2], b[3]],
            )
        })
        .collect()
}

/// Asserts the tiny model saw the pattern: red at cell (1, 1), green at cell (0, 2).
pub fn assert_pattern_found(frame: &serde_json::Value, w: u32, h: u32) {
    let mut got = detections(frame);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got.len(), 2, "expected red and green in {frame}");
    assert_eq!(got[0].0, "green");
    assert_eq!(got[1].0, "red");
    crate::support::assert_box_near(&got[0].1, &crate::support::cell_box(0, 2, w, h), 1.0);
    crate::support::assert_box_near(&got[1].1, &crate::support::cell_box(1, 1, w, h), 1.0);
}
