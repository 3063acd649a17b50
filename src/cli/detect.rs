//! `ssd-edge detect`: run the model on image files, one JSON line per image on stdout.

use super::default_model::default_model;
use super::output;
use anyhow::{bail, Context, Result};
use image::{ImageFormat, RgbImage};
use serde::Serialize;
use ssd_edge::frame::Frame;
use ssd_edge::image::{annotate, still};
use ssd_edge::model::meta::parse_threshold;
use ssd_edge::model::{auto, Detector, ModelFamily};
use ssd_edge::source::{self, SourceOptions, SourceSpec};
use ssd_edge::ssd::Detections;
use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// ONNX model, or `auto`: the faster of models/coco-ssdlite-mnv2.onnx (int8) and its
    /// -float twin on this machine [default: the real COCO model
    /// models/coco-ssdlite-mnv2.onnx, or the embedded one when built with feature embed-model].
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

/// Loads the model named by `--model`/`--sidecar`, or the family's default one. `auto` (or
/// `DIR/auto`) keeps the faster of the folder's int8 and float variants of the family on this
/// machine.
pub fn load_detector(
    model: Option<&Path>,
    sidecar: Option<&Path>,
    family: ModelFamily,
) -> Result<Detector> {
    Ok(match model {
        Some(path) if auto::is_auto(path) => load_auto(path, sidecar, family)?,
        Some(path) => Detector::load(path, sidecar)?,
        None => default_model(family).load(sidecar)?,
    })
}

fn load_auto(path: &Path, sidecar: Option<&Path>, family: ModelFamily) -> Result<Detector> {
    let dir = auto::variants_dir(path);
    let Some(variants) = auto::variants_in(dir, family) else {
        bail!(
            "--model {}: needs {} in {} to choose between",
            path.display(),
            family.files().join(" and "),
            dir.display()
        );
    };
    // A synthetic street scene: the same pixels for every variant, no camera needed yet.
    let mut scene = source::open(&SourceSpec::Synth(1), &SourceOptions::default())?;
    let frame = scene
        .next_frame(Duration::from_secs(5))?
        .context("the synthetic scene gave no frame")?;
    Ok(auto::select(&variants, sidecar, &frame)?)
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

pub fn run(args: Args) -> Result<ExitCode> {
    let mut detector = load_detector(
        args.model.as_deref(),
        args.sidecar.as_deref(),
        ModelFamily::Real,
    )?;
    detector.apply_threshold(args.threshold)?;
    let copies = match &args.annotate {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create annotation directory {}", dir.display()))?;
            annotated_names(&args.images)
                .into_iter()
                .map(|(name, format)| Some((dir.join(name), format)))
                .collect()
        }
        None => vec![None; args.images.len()],
    };
    let mut detections = Detections::new();
    let mut out = output::stdout();
    let (mut failed, mut unannotated) = (0usize, 0usize);
    for (path, copy) in args.images.iter().zip(copies) {
        let (line, mut img) = match detect_one(&mut detector, path, &mut detections) {
            Ok(done) => done,
            Err(e) => {
                failed += 1;
                eprintln!("error: {e:#}");
                continue;
            }
        };
        // The result is out before the annotated copy is tried: it never depends on it.
        out.line(line)?;
        if let Some((copy, format)) = copy {
            annotate::draw_detections(&mut img, &detections, &detector.meta().labels);
            if let Err(e) = write_copy(&img, path, &copy, format) {
                unannotated += 1;
                eprintln!("warning: {e:#}");
            }
        }
    }
    let n = args.images.len();
    if failed > 0 {
        eprintln!("error: {failed} of {n} images failed");
    }
    if unannotated > 0 {
        eprintln!("error: {unannotated} of {n} annotated copies could not be written");
    }
    Ok(if failed + unannotated > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn detect_one(
    detector: &mut Detector,
    path: &Path,
    detections: &mut Detections,
) -> Result<(String, RgbImage)> {
    let img = still::read_rgb(path)?.image;
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
    Ok((json, img))
}

/// The annotated copy's file name and format for each input, in order: the input's name when
/// its extension names a format we write, else the name plus `.png`; a name already taken
/// by an earlier input (same name, other directory) gets `-2`, `-3`... before the extension.
fn annotated_names(images: &[PathBuf]) -> Vec<(OsString, ImageFormat)> {
    let wanted: Vec<(OsString, ImageFormat)> = images
        .iter()
        .map(|p| {
            let name = p
                .file_name()
                .map_or_else(|| OsString::from("image"), OsString::from);
            match ImageFormat::from_path(&name) {
                Ok(f) if f.writing_enabled() => (name, f),
                _ => {
                    let mut png = name;
                    png.push(".png");
                    (png, ImageFormat::Png)
                }
            }
        })
        .collect();
    let reserved: HashSet<OsString> = wanted.iter().map(|(n, _)| n.clone()).collect();
    let mut used = HashSet::new();
    wanted
        .into_iter()
        .map(|(name, format)| {
            if used.insert(name.clone()) {
                return (name, format);
            }
            let p = Path::new(&name);
            let stem = p.file_stem().unwrap_or_default().to_string_lossy();
            let ext = p
                .extension()
                .map(|e| format!(".{}", e.to_string_lossy()))
                .unwrap_or_default();
            let unique = (2u64..)
                .map(|k| OsString::from(format!("{stem}-{k}{ext}")))
                .find(|n| !reserved.contains(n) && !used.contains(n))
                .expect("an unused name exists");
            used.insert(unique.clone());
            (unique, format)
        })
        .collect()
}

/// Encodes in memory first, so a failed encode leaves no empty file behind.
fn write_copy(img: &RgbImage, input: &Path, copy: &Path, format: ImageFormat) -> Result<()> {
    if same_file(copy, input) {
        anyhow::bail!(
            "{}: refusing to overwrite the input with its annotated copy; choose another --annotate directory",
            input.display()
        );
    }
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, format)
        .with_context(|| format!("cannot encode {} as {format:?}", copy.display()))?;
    std::fs::write(copy, bytes.into_inner())
        .with_context(|| format!("cannot write {}", copy.display()))
}

/// Whether two paths name the same file (same device and inode: hard links and symlinks
/// included); false when either does not exist.
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotated_names_are_unique_and_writable() {
        let paths: Vec<PathBuf> = [
            "a/x.png", "b/x.png", "x-2.png", "c/photo", "d/x.png", "e.JPG",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let names: Vec<(String, ImageFormat)> = annotated_names(&paths)
            .into_iter()
            .map(|(n, f)| (n.to_string_lossy().into_owned(), f))
            .collect();
        let png = ImageFormat::Png;
        assert_eq!(
            names,
            [
                ("x.png".to_string(), png),
                ("x-3.png".into(), png),
                ("x-2.png".into(), png),
                ("photo.png".into(), png),
                ("x-4.png".into(), png),
                ("e.JPG".into(), ImageFormat::Jpeg),
            ]
        );
    }
}
