//! `ssd-train synth`: write synthetic scenes as a Pascal VOC data set, or a frame sequence
//! with ground-truth tracks and line crossings.

use anyhow::{bail, Context};
use ssd_core::synth::{SequenceConfig, SynthConfig, CLASS_NAMES};
use ssd_train::data::synth_set::{write_sequence, write_voc, ImageFormat, Split};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output directory (a VOC root: JPEGImages/, Annotations/, ImageSets/Main/).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of images (or frames with --sequence).
    #[arg(long)]
    pub count: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Scene size WxH.
    #[arg(long, default_value = "300x300", value_parser = parse_size)]
    pub size: (u32, u32),
    /// Fractions for train and val, e.g. 0.8,0.1 (test gets the rest).
    #[arg(long, default_value = "0.8,0.1", value_parser = parse_split)]
    pub split: (f32, f32),
    /// Image format.
    #[arg(long, value_enum, ignore_case = true, default_value_t = ImageFormat::Jpeg)]
    pub format: ImageFormat,
    /// Write a moving-object sequence (frames/, tracks.csv, crossings.csv, counts.json).
    #[arg(long)]
    pub sequence: bool,
    /// Maximum objects per image.
    #[arg(long)]
    pub max_objects: Option<u32>,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("size {s:?} is not WxH"))?;
    let w: u32 = w
        .trim()
        .parse()
        .map_err(|_| format!("bad width in {s:?}"))?;
    let h: u32 = h
        .trim()
        .parse()
        .map_err(|_| format!("bad height in {s:?}"))?;
    if !(16..=8192).contains(&w) || !(16..=8192).contains(&h) {
        return Err(format!("size {s:?} out of range 16..8192"));
    }
    Ok((w, h))
}

fn parse_split(s: &str) -> Result<(f32, f32), String> {
    let (a, b) = s
        .split_once(',')
        .ok_or_else(|| format!("split {s:?} is not TRAIN,VAL"))?;
    let a: f32 = a
        .trim()
        .parse()
        .map_err(|_| format!("bad train fraction in {s:?}"))?;
    let b: f32 = b
        .trim()
        .parse()
        .map_err(|_| format!("bad val fraction in {s:?}"))?;
    if !(0.0..=1.0).contains(&a) || !(0.0..=1.0).contains(&b) || a + b > 1.0 + 1e-6 {
        return Err(format!(
            "split {s:?}: fractions in 0..1 adding up to at most 1"
        ));
    }
    Ok((a, b))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let format = args.format;
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let mut scene = SynthConfig::with_size(args.size.0, args.size.1);
    if let Some(m) = args.max_objects {
        scene.max_objects = m.max(scene.min_objects);
    }
    if args.sequence {
        let cfg = SequenceConfig {
            scene,
            ..SequenceConfig::default()
        };
        let rep = write_sequence(&args.out, cfg, args.count, args.seed, format)
            .with_context(|| format!("writing the sequence to {}", args.out.display()))?;
        println!(
            "wrote {} frames to {} (render {:.2} ms/frame)",
            rep.frames,
            args.out.display(),
            rep.render_seconds * 1e3 / rep.frames.max(1) as f64
        );
        for (k, name) in CLASS_NAMES.iter().enumerate() {
            println!(
                "  {name:<8} left->right {:>4}  right->left {:>4}",
                rep.counts[k][0], rep.counts[k][1]
            );
        }
    } else {
        let split = Split {
            train: args.split.0,
            val: args.split.1,
        };
        let rep = write_voc(&args.out, &scene, args.count, args.seed, split, format)
            .with_context(|| format!("writing the data set to {}", args.out.display()))?;
        println!(
            "wrote {} images, {} objects ({} difficult) to {} (train/val/test {}/{}/{}; render {:.2} ms/image)",
            rep.images,
            rep.objects,
            rep.difficult,
            args.out.display(),
            rep.splits[0],
            rep.splits[1],
            rep.splits[2],
            rep.render_seconds * 1e3 / rep.images.max(1) as f64
        );
        for (k, name) in CLASS_NAMES.iter().enumerate() {
            println!("  {name:<8} {:>6}", rep.per_class[k]);
        }
    }
    Ok(ExitCode::SUCCESS)
}
