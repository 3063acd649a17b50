//! The synthetic scenes as a data set: generated on the fly (`SynthDataset`), or written to
//! disk in the Pascal VOC layout (`write_voc`) and as frame sequences with ground-truth
//! tracks and line crossings (`write_sequence`).

use super::voc::{write_annotation, VocAnnotation, VocObject};
use super::{check_index, DataError, Dataset, Sample};
use ssd_core::synth::{
    render_scene, GtObject, Sequence, SequenceConfig, SynthConfig, CLASS_NAMES, NUM_CLASSES,
};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Scenes (seed, 0..len) rendered on demand: no disk, same pixels as `write_voc` writes
/// (before JPEG compression).
pub struct SynthDataset {
    cfg: SynthConfig,
    seed: u64,
    len: usize,
    classes: Vec<String>,
}

impl SynthDataset {
    pub fn new(cfg: SynthConfig, seed: u64, len: usize) -> Self {
        SynthDataset {
            cfg,
            seed,
            len,
            classes: CLASS_NAMES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// A rendered image and its true pixel boxes as a sample (boxes normalised).
fn sample(image: image::RgbImage, gt: &[GtObject]) -> Sample {
    let (w, h) = (image.width() as f32, image.height() as f32);
    Sample {
        boxes: gt
            .iter()
            .map(|o| [o.bbox[0] / w, o.bbox[1] / h, o.bbox[2] / w, o.bbox[3] / h])
            .collect(),
        labels: gt.iter().map(|o| o.class_id).collect(),
        difficult: gt.iter().map(|o| o.difficult).collect(),
        image,
    }
}

pub fn class_names() -> Vec<String> {
    CLASS_NAMES.iter().map(|s| s.to_string()).collect()
}

impl Dataset for SynthDataset {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, i: usize) -> Result<Sample, DataError> {
        check_index(i, self.len)?;
        let (image, gt) = render_scene(&self.cfg, self.seed, i as u64);
        Ok(sample(image, &gt))
    }

    fn class_names(&self) -> &[String] {
        &self.classes
    }
}

/// Frames of synthetic sequences, the board's camera-free source: people and vehicles at
/// the sizes, speeds and overlaps a counting line sees, entering and leaving across the
/// frame's sides and cut by its lower edge, which the stills do not show. Sample `i` is
/// frame `(i % FRAMES_PER_SEQUENCE) * FRAME_SPACING` (plus a per-sequence offset) of
/// sequence `i / FRAMES_PER_SEQUENCE`, whose seed is mixed from `seed`, so the training
/// sequences never share a seed with the numbered held-out ones.
pub struct SequenceFrames {
    cfg: SequenceConfig,
    seed: u64,
    len: usize,
    classes: Vec<String>,
}

impl SequenceFrames {
    /// Frames taken from each sequence: a sequence's scene (background, occluders,
    /// lighting) is fixed, so more sequences with fewer frames each give more variety.
    pub const FRAMES_PER_SEQUENCE: usize = 10;
    /// Frames between two samples: 30 frames move a person 18-72 px.
    pub const FRAME_SPACING: u64 = 30;

    pub fn new(cfg: SequenceConfig, seed: u64, len: usize) -> Self {
        SequenceFrames {
            cfg,
            seed,
            len,
            classes: class_names(),
        }
    }

    /// The seed of training sequence `index`.
    pub fn sequence_seed(&self, index: usize) -> u64 {
        ssd_core::synth::rng::mix_seed(&[self.seed, 0x5E9F, index as u64])
    }
}

impl Dataset for SequenceFrames {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, i: usize) -> Result<Sample, DataError> {
        check_index(i, self.len)?;
        let per = Self::FRAMES_PER_SEQUENCE;
        let seed = self.sequence_seed(i / per);
        let offset = seed % Self::FRAME_SPACING;
        let mut seq = Sequence::new(self.cfg.clone(), seed);
        seq.skip(offset + (i % per) as u64 * Self::FRAME_SPACING);
        let mut image = image::RgbImage::new(self.cfg.scene.width, self.cfg.scene.height);
        let gt = seq.next_frame(&mut image);
        Ok(sample(image, gt))
    }

    fn class_names(&self) -> &[String] {
        &self.classes
    }

    fn sample_name(&self, i: usize) -> String {
        let per = Self::FRAMES_PER_SEQUENCE;
        format!("seq{}-{}", i / per, i % per)
    }
}

/// `ssd-train synth --format` (jpg or png; jpeg is accepted too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ImageFormat {
    #[value(name = "jpg", alias = "jpeg")]
    Jpeg,
    Png,
}

impl ImageFormat {
    fn ext(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
        }
    }
}

/// Fractions of train / val (test gets the rest).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Split {
    pub train: f32,
    pub val: f32,
}

impl Default for Split {
    fn default() -> Self {
        Split {
            train: 0.8,
            val: 0.1,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn create_dir(p: &Path) -> Result<(), DataError> {
    std::fs::create_dir_all(p).map_err(io_err(p))
}

fn save_image(img: &image::RgbImage, path: &Path, format: ImageFormat) -> Result<(), DataError> {
    let file = std::fs::File::create(path).map_err(io_err(path))?;
    let mut w = std::io::BufWriter::new(file);
    let res = match format {
        ImageFormat::Jpeg => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut w, 92).encode_image(img)
        }
        ImageFormat::Png => image::codecs::png::PngEncoder::new(&mut w).write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        ),
    };
    res.map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    w.flush().map_err(io_err(path))
}

use image::ImageEncoder as _;

/// Summary of a written set.
#[derive(Clone, Debug, Default)]
pub struct WriteReport {
    pub images: usize,
    pub objects: usize,
    pub difficult: usize,
    pub per_class: [usize; NUM_CLASSES],
    pub render_seconds: f64,
    pub splits: [usize; 3],
}

/// Write `count` scenes (seed, 0..count) as a VOC root: JPEGImages, Annotations,
/// ImageSets/Main/{train,val,test,trainval}.txt. Ids are zero-padded indices.
pub fn write_voc(
    out: &Path,
    cfg: &SynthConfig,
    count: usize,
    seed: u64,
    split: Split,
    format: ImageFormat,
) -> Result<WriteReport, DataError> {
    if !(0.0..=1.0).contains(&split.train)
        || !(0.0..=1.0).contains(&split.val)
        || split.train + split.val > 1.0
    {
        return Err(DataError::Config(format!(
            "bad split {split:?}: fractions must add up to at most 1"
        )));
    }
    for d in ["JPEGImages", "Annotations", "ImageSets/Main"] {
        create_dir(&out.join(d))?;
    }
    let mut rep = WriteReport::default();
    let n_train = (count as f32 * split.train).round() as usize;
    let n_val = ((count as f32 * split.val).round() as usize).min(count - n_train);
    let mut lists: [Vec<String>; 3] = Default::default();
    let mut renderer = ssd_core::synth::Renderer::new();
    let mut img = image::RgbImage::new(cfg.width, cfg.height);
    let mut gt = Vec::new();
    for i in 0..count {
        let id = format!("{i:06}");
        let t = std::time::Instant::now();
        renderer.render_into(cfg, seed, i as u64, &mut img, &mut gt);
        rep.render_seconds += t.elapsed().as_secs_f64();
        let file = format!("{id}.{}", format.ext());
        save_image(&img, &out.join("JPEGImages").join(&file), format)?;
        let ann = VocAnnotation {
            filename: file,
            width: cfg.width,
            height: cfg.height,
            objects: gt
                .iter()
                .map(|o| VocObject {
                    name: CLASS_NAMES[o.class_id].to_string(),
                    difficult: o.difficult,
                    // pixel extent [x0, x1) -> VOC 1-based inclusive
                    bndbox: [
                        o.bbox[0] as f64 + 1.0,
                        o.bbox[1] as f64 + 1.0,
                        o.bbox[2] as f64,
                        o.bbox[3] as f64,
                    ],
                })
                .collect(),
        };
        let xml = out.join("Annotations").join(format!("{id}.xml"));
        std::fs::write(&xml, write_annotation(&ann)).map_err(io_err(&xml))?;
        for o in &gt {
            rep.objects += 1;
            rep.difficult += o.difficult as usize;
            rep.per_class[o.class_id] += 1;
        }
        let s = if i < n_train {
            0
        } else if i < n_train + n_val {
            1
        } else {
            2
        };
        lists[s].push(id);
        rep.images += 1;
    }
    let main = out.join("ImageSets").join("Main");
    for (k, name) in ["train", "val", "test"].iter().enumerate() {
        write_list(&main.join(format!("{name}.txt")), &lists[k])?;
        rep.splits[k] = lists[k].len();
    }
    let trainval: Vec<String> = lists[0].iter().chain(lists[1].iter()).cloned().collect();
    write_list(&main.join("trainval.txt"), &trainval)?;
    let labels = out.join("labels.txt");
    std::fs::write(&labels, CLASS_NAMES.join("\n") + "\n").map_err(io_err(&labels))?;
    Ok(rep)
}

fn write_list(path: &Path, ids: &[String]) -> Result<(), DataError> {
    let mut s = ids.join("\n");
    if !s.is_empty() {
        s.push('\n');
    }
    std::fs::write(path, s).map_err(io_err(path))
}

#[derive(Clone, Debug, Default)]
pub struct SequenceReport {
    pub frames: usize,
    pub counts: [[u32; 2]; NUM_CLASSES],
    pub render_seconds: f64,
    pub files: Vec<PathBuf>,
}

/// Write `frames` frames of sequence `seed`: `frames/NNNNNN.png`, `tracks.csv`
/// (frame,track_id,class,x0,y0,x1,y1,difficult per visible object), `crossings.csv`
/// (frame,track_id,class,direction) and `counts.json` (line position and totals).
pub fn write_sequence(
    out: &Path,
    cfg: SequenceConfig,
    frames: usize,
    seed: u64,
    format: ImageFormat,
) -> Result<SequenceReport, DataError> {
    let dir = out.join("frames");
    create_dir(&dir)?;
    let mut seq = Sequence::new(cfg.clone(), seed);
    let mut img = image::RgbImage::new(cfg.scene.width, cfg.scene.height);
    let mut tracks = String::from("frame,track_id,class,x0,y0,x1,y1,difficult\n");
    let mut crossings = String::from("frame,track_id,class,direction\n");
    let mut rep = SequenceReport::default();
    for f in 0..frames {
        let t = std::time::Instant::now();
        let gt = seq.next_frame(&mut img);
        rep.render_seconds += t.elapsed().as_secs_f64();
        for o in gt {
            tracks.push_str(&format!(
                "{f},{},{},{},{},{},{},{}\n",
                o.track_id,
                CLASS_NAMES[o.class_id],
                o.bbox[0],
                o.bbox[1],
                o.bbox[2],
                o.bbox[3],
                o.difficult as u8
            ));
        }
        for c in seq.crossings() {
            crossings.push_str(&format!(
                "{},{},{},{}\n",
                c.frame,
                c.track_id,
                CLASS_NAMES[c.class_id],
                c.direction.as_str()
            ));
        }
        save_image(&img, &dir.join(format!("{f:06}.{}", format.ext())), format)?;
        rep.frames += 1;
    }
    rep.counts = *seq.counts();
    let counts = serde_json::json!({
        "seed": seed,
        "frames": frames,
        "width": cfg.scene.width,
        "height": cfg.scene.height,
        "line": {"orientation": "vertical", "x": seq.line_x()},
        "classes": CLASS_NAMES,
        "counts": CLASS_NAMES.iter().enumerate().map(|(k, name)| {
            (name.to_string(), serde_json::json!({
                "left_to_right": rep.counts[k][0],
                "right_to_left": rep.counts[k][1],
            }))
        }).collect::<serde_json::Map<_, _>>(),
    });
    for (name, text) in [
        ("tracks.csv", tracks),
        ("crossings.csv", crossings),
        (
            "counts.json",
            serde_json::to_string_pretty(&counts).unwrap_or_default() + "\n",
        ),
    ] {
        let p = out.join(name);
        std::fs::write(&p, text).map_err(io_err(&p))?;
        rep.files.push(p);
    }
    Ok(rep)
}
