//! SSD training augmentation as the paper and ssd.pytorch do it: photometric distortion,
//! zoom-out (expand onto a mean-filled canvas up to 4x, p = 0.5), the SSD random crop, and a
//! horizontal flip; then resize to SxS and normalise. A sample left as it is (no photometric
//! change, the whole image, no flip) goes through the board's own `Preprocessor` instead, so
//! validation and un-augmented training see exactly the board's tensor; augmented samples use
//! the board's `Normalization` and `bilinear` arithmetic.
//!
//! Expand and crop are planned on box coordinates only and applied as one affine resample
//! from the source image, so a 4x zoom-out never materialises a 16x larger canvas.
//! Every random choice comes from the caller's `Rng`: a seed fixes the result.

use super::{DataError, Sample};
use image::RgbImage;
use ssd_core::frame::Frame;
use ssd_core::image::preprocess::{bilinear, Normalization, Preprocessor};
use ssd_core::ssd::{iou, CornerBox};
use ssd_core::synth::Rng;

#[derive(Clone, Debug, PartialEq)]
pub struct AugmentConfig {
    pub photometric: bool,
    pub expand_prob: f32,
    pub max_expand: f32,
    pub crop: bool,
    pub flip_prob: f32,
}

impl AugmentConfig {
    /// The paper's recipe.
    pub fn ssd() -> Self {
        AugmentConfig {
            photometric: true,
            expand_prob: 0.5,
            max_expand: 4.0,
            crop: true,
            flip_prob: 0.5,
        }
    }

    /// No augmentation (evaluation): resize only.
    pub fn none() -> Self {
        AugmentConfig {
            photometric: false,
            expand_prob: 0.0,
            max_expand: 1.0,
            crop: false,
            flip_prob: 0.0,
        }
    }
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self::ssd()
    }
}

/// Where the output comes from: a rectangle in source pixel coordinates (it may extend past
/// the image after zoom-out; outside is mean fill), optionally mirrored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometry {
    pub region: [f32; 4],
    pub flip: bool,
}

/// Boxes, labels and difficult flags after augmentation (normalised to the output).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Targets {
    pub boxes: Vec<CornerBox>,
    pub labels: Vec<usize>,
    pub difficult: Vec<bool>,
}

/// Min-IoU choices of the SSD sampler: `None` keeps the whole image; `Some(t)` samples a
/// patch whose IoU with every box is at least t (NEG_INFINITY: any patch).
const CROP_CHOICES: [Option<f32>; 7] = [
    None,
    Some(0.1),
    Some(0.3),
    Some(0.5),
    Some(0.7),
    Some(0.9),
    Some(f32::NEG_INFINITY),
];
const TRIES_PER_CHOICE: usize = 50;
/// ssd.pytorch loops forever until a choice succeeds; we give up after this many choices and
/// keep the whole image (only reachable with pathological boxes).
const MAX_CHOICES: usize = 100;

/// The SSD random crop on a w x h canvas with pixel boxes: returns the patch, or `None` to
/// keep everything. Constraint checked against ALL boxes (ssd.pytorch's `and` bug not kept),
/// and at least one box centre must fall inside the patch.
pub fn sample_crop(boxes: &[[f32; 4]], w: f32, h: f32, rng: &mut Rng) -> Option<[f32; 4]> {
    for _ in 0..MAX_CHOICES {
        let min_iou = CROP_CHOICES[rng.below(CROP_CHOICES.len() as u64) as usize]?;
        if let Some(rect) = try_crop(boxes, w, h, min_iou, rng) {
            return Some(rect);
        }
    }
    None
}

/// Up to 50 tries for a patch (scale 0.3-1 per side, aspect 0.5-2) whose IoU with every box
/// is at least `min_iou` and which contains at least one box centre.
pub fn try_crop(
    boxes: &[[f32; 4]],
    w: f32,
    h: f32,
    min_iou: f32,
    rng: &mut Rng,
) -> Option<[f32; 4]> {
    for _ in 0..TRIES_PER_CHOICE {
        let cw = rng.range_f32(0.3 * w, w);
        let ch = rng.range_f32(0.3 * h, h);
        let aspect = ch / cw;
        if !(0.5..=2.0).contains(&aspect) {
            continue;
        }
        let left = rng.range_f32(0.0, w - cw);
        let top = rng.range_f32(0.0, h - ch);
        let rect = [left, top, left + cw, top + ch];
        if boxes.iter().any(|b| iou(b, &rect) < min_iou) {
            continue;
        }
        if !boxes.is_empty() && !boxes.iter().any(|b| centre_inside(b, &rect)) {
            continue;
        }
        return Some(rect);
    }
    None
}

fn centre_inside(b: &[f32; 4], r: &[f32; 4]) -> bool {
    let cx = 0.5 * (b[0] + b[2]);
    let cy = 0.5 * (b[1] + b[3]);
    cx > r[0] && cx < r[2] && cy > r[1] && cy < r[3]
}

/// Plan expand + crop + flip for an image of w x h with normalised boxes.
pub fn plan(
    cfg: &AugmentConfig,
    w: u32,
    h: u32,
    boxes: &[CornerBox],
    labels: &[usize],
    difficult: &[bool],
    rng: &mut Rng,
) -> (Geometry, Targets) {
    let (w, h) = (w as f32, h as f32);
    // canvas: the image, possibly placed on a larger mean-filled canvas
    let (mut cw, mut ch, mut ox, mut oy) = (w, h, 0.0f32, 0.0f32);
    if cfg.max_expand > 1.0 && rng.chance(cfg.expand_prob) {
        let ratio = rng.range_f32(1.0, cfg.max_expand);
        cw = w * ratio;
        ch = h * ratio;
        ox = rng.range_f32(0.0, cw - w);
        oy = rng.range_f32(0.0, ch - h);
    }
    let canvas_boxes: Vec<[f32; 4]> = boxes
        .iter()
        .map(|b| [b[0] * w + ox, b[1] * h + oy, b[2] * w + ox, b[3] * h + oy])
        .collect();
    let crop = if cfg.crop {
        sample_crop(&canvas_boxes, cw, ch, rng)
    } else {
        None
    };
    let rect = crop.unwrap_or([0.0, 0.0, cw, ch]);
    let (rw, rh) = (rect[2] - rect[0], rect[3] - rect[1]);
    let flip = rng.chance(cfg.flip_prob);
    let mut t = Targets::default();
    for (k, b) in canvas_boxes.iter().enumerate() {
        if crop.is_some() && !centre_inside(b, &rect) {
            continue;
        }
        let x0 = ((b[0].max(rect[0]) - rect[0]) / rw).clamp(0.0, 1.0);
        let y0 = ((b[1].max(rect[1]) - rect[1]) / rh).clamp(0.0, 1.0);
        let x1 = ((b[2].min(rect[2]) - rect[0]) / rw).clamp(0.0, 1.0);
        let y1 = ((b[3].min(rect[3]) - rect[1]) / rh).clamp(0.0, 1.0);
        if x1 <= x0 || y1 <= y0 {
            continue;
        }
        let nb = if flip {
            [1.0 - x1, y0, 1.0 - x0, y1]
        } else {
            [x0, y0, x1, y1]
        };
        t.boxes.push(nb);
        t.labels.push(labels[k]);
        t.difficult.push(difficult.get(k).copied().unwrap_or(false));
    }
    let region = [rect[0] - ox, rect[1] - oy, rect[2] - ox, rect[3] - oy];
    (Geometry { region, flip }, t)
}

/// ssd.pytorch's PhotometricDistort on an RGB f32 (0..255) buffer, in place.
pub fn photometric(px: &mut [f32], rng: &mut Rng) {
    if rng.chance(0.5) {
        let delta = rng.range_f32(-32.0, 32.0);
        px.iter_mut().for_each(|v| *v += delta);
    }
    let contrast_first = rng.chance(0.5);
    let contrast = |px: &mut [f32], rng: &mut Rng| {
        if rng.chance(0.5) {
            let alpha = rng.range_f32(0.5, 1.5);
            px.iter_mut().for_each(|v| *v *= alpha);
        }
    };
    if contrast_first {
        contrast(px, rng);
    }
    let sat = rng.chance(0.5).then(|| rng.range_f32(0.5, 1.5));
    let hue = rng.chance(0.5).then(|| rng.range_f32(-18.0, 18.0));
    if sat.is_some() || hue.is_some() {
        for p in px.chunks_exact_mut(3) {
            let (mut h, mut s, v) = rgb_to_hsv(p[0], p[1], p[2]);
            if let Some(f) = sat {
                s = (s * f).clamp(0.0, 1.0);
            }
            if let Some(d) = hue {
                h = (h + d).rem_euclid(360.0);
            }
            let (r, g, b) = hsv_to_rgb(h, s, v);
            p[0] = r;
            p[1] = g;
            p[2] = b;
        }
    }
    if !contrast_first {
        contrast(px, rng);
    }
    if rng.chance(0.5) {
        const PERMS: [[usize; 3]; 6] = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ];
        let perm = PERMS[rng.below(6) as usize];
        for p in px.chunks_exact_mut(3) {
            let q = [p[0], p[1], p[2]];
            p[0] = q[perm[0]];
            p[1] = q[perm[1]];
            p[2] = q[perm[2]];
        }
    }
    px.iter_mut().for_each(|v| *v = v.clamp(0.0, 255.0));
}

/// H in degrees [0, 360), S in [0, 1], V in the input's range (as OpenCV does for floats).
fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let v = r.max(g).max(b);
    let m = r.min(g).min(b);
    let d = v - m;
    let s = if v > 0.0 { d / v } else { 0.0 };
    let h = if d <= 0.0 {
        0.0
    } else if v == r {
        60.0 * (g - b) / d
    } else if v == g {
        120.0 + 60.0 * (b - r) / d
    } else {
        240.0 + 60.0 * (r - g) / d
    };
    (h.rem_euclid(360.0), s, v)
}

fn hsv_to_rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let h6 = h / 60.0;
    let i = h6.floor();
    let f = h6 - i;
    let p = v * (1.0 - s);
    let q = v * (1.0 - s * f);
    let t = v * (1.0 - s * (1.0 - f));
    match (i as i32).rem_euclid(6) {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

/// Bilinear resample of `region` of the source (RGB f32, sw x sh) into an ow x oh grid;
/// `emit(x, y, rgb)` receives each output pixel. Samples outside the source read `fill`.
#[allow(clippy::too_many_arguments)]
fn resample(
    src: &[f32],
    sw: usize,
    sh: usize,
    g: &Geometry,
    ow: usize,
    oh: usize,
    fill: [f32; 3],
    mut emit: impl FnMut(usize, usize, [f32; 3]),
) {
    let [x0, y0, x1, y1] = g.region;
    let sx = (x1 - x0) / ow as f32;
    let sy = (y1 - y0) / oh as f32;
    let (swi, shi) = (sw as i64 - 1, sh as i64 - 1);
    // Inside the image (half-pixel border included) neighbours clamp to the edge, as the
    // runtime's preprocessing and OpenCV do; outside it (zoom-out canvas) is pure fill.
    let at = |x: i64, y: i64, c: usize| -> f32 {
        src[(y.clamp(0, shi) as usize * sw + x.clamp(0, swi) as usize) * 3 + c]
    };
    let (xmax, ymax) = (sw as f32 - 0.5, sh as f32 - 0.5);
    for oy in 0..oh {
        let fy = y0 + (oy as f32 + 0.5) * sy - 0.5;
        let yi = fy.floor();
        let ty = fy - yi;
        let yi = yi as i64;
        let row_out = !(-0.5..=ymax).contains(&fy);
        for ox in 0..ow {
            let sx_out = if g.flip { ow - 1 - ox } else { ox };
            let fx = x0 + (sx_out as f32 + 0.5) * sx - 0.5;
            if row_out || !(-0.5..=xmax).contains(&fx) {
                emit(ox, oy, fill);
                continue;
            }
            let xi = fx.floor();
            let tx = fx - xi;
            let xi = xi as i64;
            let mut rgb = [0.0f32; 3];
            for (c, out) in rgb.iter_mut().enumerate() {
                let quad = [
                    at(xi, yi, c),
                    at(xi + 1, yi, c),
                    at(xi, yi + 1, c),
                    at(xi + 1, yi + 1, c),
                ];
                *out = bilinear(quad, tx, ty);
            }
            emit(ox, oy, rgb);
        }
    }
}

fn to_f32(img: &RgbImage) -> Vec<f32> {
    img.as_raw().iter().map(|&v| v as f32).collect()
}

fn check_sample(s: &Sample) -> Result<(), DataError> {
    if s.boxes.len() != s.labels.len() {
        return Err(DataError::Config(format!(
            "{} boxes but {} labels",
            s.boxes.len(),
            s.labels.len()
        )));
    }
    if s.image.width() == 0 || s.image.height() == 0 {
        return Err(DataError::Config("empty image".into()));
    }
    Ok(())
}

/// Augment (or just resize when `cfg` is None) a sample into a normalised CHW tensor of
/// size x size in `out` (len 3*size*size); returns the boxes that remain.
pub fn prepare(
    sample: &Sample,
    cfg: Option<&AugmentConfig>,
    norm: &Normalization,
    size: usize,
    rng: &mut Rng,
    out: &mut [f32],
) -> Result<Targets, DataError> {
    check_sample(sample)?;
    if out.len() != 3 * size * size {
        return Err(DataError::Config(format!(
            "output buffer {} != 3*{size}*{size}",
            out.len()
        )));
    }
    let (w, h) = sample.image.dimensions();
    let none = AugmentConfig::none();
    let cfg = cfg.unwrap_or(&none);
    let mut src = cfg.photometric.then(|| to_f32(&sample.image));
    if let Some(px) = src.as_mut() {
        photometric(px, rng);
    }
    let (geom, targets) = plan(
        cfg,
        w,
        h,
        &sample.boxes,
        &sample.labels,
        &sample.difficult,
        rng,
    );
    let whole = Geometry {
        region: [0.0, 0.0, w as f32, h as f32],
        flip: false,
    };
    if src.is_none() && geom == whole {
        // Unchanged pixels, whole image: the board's preprocessing, bit for bit.
        let s = size as u32;
        Preprocessor::new(&norm.at_size(s, s))
            .run(&Frame::rgb(&sample.image, 0), out)
            .map_err(|e| DataError::Config(format!("preprocessing: {e}")))?;
        return Ok(targets);
    }
    let src = src.unwrap_or_else(|| to_f32(&sample.image));
    let plane = size * size;
    let ch = norm.source_channels();
    resample(
        &src,
        w as usize,
        h as usize,
        &geom,
        size,
        size,
        norm.mean_rgb(),
        |x, y, rgb| {
            let i = y * size + x;
            for c in 0..3 {
                out[ch.model_channel[c] * plane + i] = rgb[c] * ch.gain[c] + ch.offset[c];
            }
        },
    );
    Ok(targets)
}

/// Augment a sample and return it as an image at the crop's own resolution (inspection,
/// tests); zoom-out fills with `fill`.
pub fn augment(
    sample: &Sample,
    cfg: &AugmentConfig,
    fill: [u8; 3],
    rng: &mut Rng,
) -> Result<Sample, DataError> {
    check_sample(sample)?;
    let (w, h) = sample.image.dimensions();
    let mut src = to_f32(&sample.image);
    if cfg.photometric {
        photometric(&mut src, rng);
    }
    let (geom, t) = plan(
        cfg,
        w,
        h,
        &sample.boxes,
        &sample.labels,
        &sample.difficult,
        rng,
    );
    let ow = (geom.region[2] - geom.region[0]).round().max(1.0) as usize;
    let oh = (geom.region[3] - geom.region[1]).round().max(1.0) as usize;
    let mut img = RgbImage::new(ow as u32, oh as u32);
    let fillf = fill.map(|v| v as f32);
    resample(
        &src,
        w as usize,
        h as usize,
        &geom,
        ow,
        oh,
        fillf,
        |x, y, rgb| {
            img.put_pixel(
                x as u32,
                y as u32,
                image::Rgb(rgb.map(|v| v.round().clamp(0.0, 255.0) as u8)),
            );
        },
    );
    Ok(Sample {
        image: img,
        boxes: t.boxes,
        labels: t.labels,
        difficult: t.difficult,
    })
}
