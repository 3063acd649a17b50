//! `ssd-edge detect`: run the model on image files, one JSON line per image on stdout.

use anyhow::{Context, Result};
use serde::Serialize;
use ssd_edge::frame::Frame;
use ssd_edge::image::annotate;
use ssd_edge::model::{default_model, Detector};
use ssd_edge::ssd::Detections;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// ONNX model [default: models/default.onnx, or the embedded model when built with
    /// feature embed-model].
    #[arg(long, value_name = "M.onnx")]
    pub model: Option<PathBuf>,
    /// Sidecar TOML describing a model without ssd-edge metadata (replaces the model's own).
    #[arg(long, value_name = "S.toml")]
    pub sidecar: Option<PathBuf>,
    /// Minimum score of reported detections [default: the model's detection_threshold].
    #[arg(long, value_name = "T", value_parser = parse_threshold)]
    pub threshold: Option<f32>,
    /// Write a copy of each image with the detections drawn into this directory.
    #[arg(long, value_name = "DIR")]
    pub annotate: Option<PathBuf>,
    /// Image files (PNG, JPEG, BMP, PNM).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
}

pub fn parse_threshold(s: &str) -> Result<f32, String> {
    let t: f32 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&t) {
        Ok(t)
    } else {
        Err(format!("{t} is outside [0, 1]"))
    }
}

/// Loads the model named by `--model`/`--sidecar`, or the default one.
pub fn load_detector(model: Option<&Path>, sidecar: Option<&Path>) -> Result<Detector> {
    Ok(match model {
        Some(path) => Detector::load(path, sidecar)?,
        None => default_model().load(sidecar)?,
    })
}

#[derive(Serialize)]
struct Line<'a> {
    source: &'a str,
    width: u32,
    height: u32,
    detections: Vec<JsonDetection<'a>>,
}

#[derive(Serialize)]
struct JsonDetection<'a> {
    class_id: u16,
    label: &'a str,
    score: f32,
    #[serde(rename = "box")]
    bbox: [f32; 4],
}

/// Pixels of the original image, clipped to it, to 0.01 px.
fn to_pixels(b: [f32; 4], w: u32, h: u32) -> [f32; 4] {
    let (w, h) = (w as f32, h as f32);
    let r = |v: f32| (v * 100.0).round() / 100.0;
    [
        r((b[0] * w).clamp(0.0, w)),
        r((b[1] * h).clamp(0.0, h)),
        r((b[2] * w).clamp(0.0, w)),
        r((b[3] * h).clamp(0.0, h)),
    ]
}

fn read_image(path: &Path) -> Result<image::RgbImage> {
    let reader = image::ImageReader::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if reader.format().is_none() {
        anyhow::bail!("{}: not an image (unrecognised format)", path.display());
    }
    let img = reader.decode().with_context(|| {
        format!(
            "{}: cannot decode image (corrupt or truncated?)",
            path.display()
        )
    })?;
    Ok(img.into_rgb8())
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut detector = load_detector(args.model.as_deref(), args.sidecar.as_deref())?;
    if let Some(t) = args.threshold {
        detector.set_score_threshold(t);
    }
    if let Some(dir) = &args.annotate {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create annotation directory {}", dir.display()))?;
    }
    let mut detections = Detections::new();
    let stdout = std::io::stdout();
    let mut failed = 0usize;
    for path in &args.images {
        match detect_one(
            &mut detector,
            path,
            args.annotate.as_deref(),
            &mut detections,
        ) {
            Ok(line) => {
                let mut out = stdout.lock();
                writeln!(out, "{line}")
                    .and_then(|_| out.flush())
                    .context("writing to stdout")?;
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {e:#}");
            }
        }
    }
    if failed > 0 {
        eprintln!("error: {failed} of {} images failed", args.images.len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn detect_one(
    detector: &mut Detector,
    path: &Path,
    annotate_dir: Option<&Path>,
    detections: &mut Detections,
) -> Result<String> {
    let mut img = read_image(path)?;
    let frame = Frame::rgb(&img, 0);
    detector
        .detect(&frame, detections)
        .with_context(|| format!("{}: detection failed", path.display()))?;
    let meta = detector.meta();
    let source = path.display().to_string();
    let line = Line {
        source: &source,
        width: img.width(),
        height: img.height(),
        detections: detections
            .iter()
            .map(|d| JsonDetection {
                class_id: d.class_id,
                label: meta
                    .labels
                    .get(d.class_id as usize)
                    .map_or("?", String::as_str),
                score: d.score,
                bbox: to_pixels(d.bbox, img.width(), img.height()),
            })
            .collect(),
    };
    let json = serde_json::to_string(&line).context("encoding JSON")?;
    if let Some(dir) = annotate_dir {
        annotate::draw_detections(&mut img, detections, &meta.labels);
        let name = path.file_name().context("image path has no file name")?;
        let out = dir.join(name);
        if same_file(&out, path) {
            anyhow::bail!(
                "{}: refusing to overwrite the input with its annotated copy; choose another --annotate directory",
                path.display()
            );
        }
        img.save(&out)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(json)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
