//! Synthetic street scenes with exact ground truth: the trainer's built-in data set and the
//! board's camera-free source. Everything is a pure function of (seed, index), so a data set
//! is reproducible from its command line and counting tests know the true answer.
//!
//! Three classes are drawn procedurally (person = head, body, arms, legs; car = body, cabin,
//! windows, wheels; bicycle = two wheels and a frame) with random colours, at sizes from about
//! 10 to 250 px in a 300x300 scene (scaled with the scene size), over gradients, textured
//! patches and distractor shapes (rings and bars that look like parts of objects), with
//! occlusion between objects and clutter in front, and a global lighting change per image.
//!
//! Boxes are the painted extent of each object (recorded by the rasteriser, so exact),
//! in pixels, x0,y0 inclusive and x1,y1 exclusive. An object that clutter or nearer objects
//! hide for the most part keeps its full box and is flagged `difficult`.

mod draw;
pub mod rng;
mod sequence;
mod shapes;

pub use rng::Rng;
pub use sequence::{Crossing, Direction, Sequence, SequenceConfig};
pub use shapes::aspect_range;

use draw::{Paint, Painter, Scratch, NO_OWNER};
use image::RgbImage;
use shapes::{random_rgb, Style};

/// Class names, 0-based (the model's class index is this + 1; 0 is background there).
pub const CLASS_NAMES: [&str; 3] = ["person", "car", "bicycle"];
pub const NUM_CLASSES: usize = CLASS_NAMES.len();

#[derive(Clone, Debug, PartialEq)]
pub struct SynthConfig {
    pub width: u32,
    pub height: u32,
    pub min_objects: u32,
    pub max_objects: u32,
    /// Object size range (longer side) in pixels for a 300 px scene; scaled by min(w, h)/300.
    pub min_size: f32,
    pub max_size: f32,
    /// Distractor shapes behind the objects, at most.
    pub clutter: u32,
    /// Occluders drawn in front of the objects, at most.
    pub occluders: u32,
    /// Random brightness / contrast / colour cast / illumination gradient per image.
    pub lighting: bool,
    /// Amplitude of per-pixel sensor noise (0 = none).
    pub noise: u8,
    /// Objects with less than this visible fraction are flagged difficult.
    pub difficult_below: f32,
    /// Objects with less than this visible fraction are left out of the ground truth.
    pub drop_below: f32,
    /// Chance per object of being placed across the frame's edge (up to 60 % of its width
    /// and height outside), as people entering or leaving a camera's view are seen. 0 draws
    /// nothing extra, so the scenes of every seed stay as they were.
    pub edge_cut: f32,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            width: 300,
            height: 300,
            min_objects: 1,
            max_objects: 6,
            min_size: 10.0,
            max_size: 250.0,
            clutter: 14,
            occluders: 2,
            lighting: true,
            noise: 6,
            difficult_below: 0.35,
            drop_below: 0.03,
            edge_cut: 0.0,
        }
    }
}

impl SynthConfig {
    pub fn with_size(width: u32, height: u32) -> Self {
        SynthConfig {
            width,
            height,
            ..Default::default()
        }
    }

    fn scale(&self) -> f32 {
        self.width.min(self.height) as f32 / 300.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GtObject {
    /// Index into `CLASS_NAMES`.
    pub class_id: usize,
    /// Pixels: x0, y0, x1, y1 (x1, y1 exclusive).
    pub bbox: [f32; 4],
    /// Stable across frames in sequence mode; the object's index in a still scene.
    pub track_id: u32,
    pub difficult: bool,
}

// Here rather than in `ssd::voc_match`: the scenes depend on the SSD math, never the reverse.
impl From<&GtObject> for crate::ssd::GtBox {
    fn from(g: &GtObject) -> Self {
        crate::ssd::GtBox {
            class_id: g.class_id,
            bbox: g.bbox,
            difficult: g.difficult,
        }
    }
}

/// Reusable renderer: holds the scratch buffers, so rendering into a reused image allocates
/// nothing once warm.
#[derive(Default)]
pub struct Renderer {
    scratch: Scratch,
    placed: Vec<Placed>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Placed {
    pub class_id: usize,
    pub bbox: [f32; 4],
    pub track_id: u32,
    pub style: Style,
    pub phase: f32,
}

impl Renderer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Render scene `index` of the family `seed` into `img` (resized if its size differs
    /// from the config) and its ground truth into `out` (cleared first).
    pub fn render_into(
        &mut self,
        cfg: &SynthConfig,
        seed: u64,
        index: u64,
        img: &mut RgbImage,
        out: &mut Vec<GtObject>,
    ) {
        ensure_size(img, cfg.width, cfg.height);
        let mut rng = Rng::from_parts(&[seed, index, 0x5CE9E]);
        self.placed.clear();
        let (w, h) = (cfg.width as f32, cfg.height as f32);
        let n = rng.range_i32(
            cfg.min_objects as i32,
            cfg.max_objects.max(cfg.min_objects) as i32,
        );
        for k in 0..n as u32 {
            let class_id = rng.below(NUM_CLASSES as u64) as usize;
            let (bw, bh) = object_size(cfg, class_id, &mut rng);
            let out = if cfg.edge_cut > 0.0 && rng.f32() < cfg.edge_cut {
                0.6
            } else {
                0.0
            };
            // a few tries to avoid stacking an object squarely on another
            let mut bbox = [0.0; 4];
            for _ in 0..10 {
                let x0 = rng.range_f32(-out * bw, (w - bw + out * bw).max(0.0));
                let y0 = rng.range_f32(-out * bh, (h - bh + out * bh).max(0.0));
                bbox = [x0, y0, x0 + bw, y0 + bh];
                if self
                    .placed
                    .iter()
                    .all(|p| crate::ssd::iou(&p.bbox, &bbox) < 0.5)
                {
                    break;
                }
            }
            let style = Style::random(class_id, &mut rng);
            self.placed.push(Placed {
                class_id,
                bbox,
                track_id: k,
                style,
                phase: rng.f32(),
            });
        }
        // nearer (lower in the picture) objects are drawn last and occlude farther ones
        self.placed.sort_unstable_by(|a, b| {
            a.bbox[3]
                .total_cmp(&b.bbox[3])
                .then(a.track_id.cmp(&b.track_id))
        });

        self.scratch.reset(cfg.width, cfg.height);
        let (iw, ih) = img.dimensions();
        let mut p = Painter::new(img.as_mut(), iw, ih, &mut self.scratch);
        draw_background(&mut p, cfg, &mut rng);
        draw_objects(&mut p, &self.placed);
        draw_occluders(&mut p, cfg, &mut rng);
        collect_gt(&p, cfg, &self.placed, out);
        let lighting = Lighting::random(cfg, &mut rng);
        lighting.apply(img.as_mut(), iw, ih, cfg.noise, rng.next_u64());
    }
}

/// One still scene; see `Renderer::render_into` to reuse buffers.
pub fn render_scene(cfg: &SynthConfig, seed: u64, index: u64) -> (RgbImage, Vec<GtObject>) {
    let mut img = RgbImage::new(cfg.width, cfg.height);
    let mut gt = Vec::new();
    Renderer::new().render_into(cfg, seed, index, &mut img, &mut gt);
    (img, gt)
}

fn ensure_size(img: &mut RgbImage, w: u32, h: u32) {
    if img.dimensions() != (w, h) {
        *img = RgbImage::new(w, h);
    }
}

fn object_size(cfg: &SynthConfig, class_id: usize, rng: &mut Rng) -> (f32, f32) {
    let s = cfg.scale();
    let (lo, hi) = (cfg.min_size * s, cfg.max_size.max(cfg.min_size) * s);
    // log-uniform: as many small as large objects per octave
    let size = lo * (hi / lo).powf(rng.f32());
    let (a0, a1) = shapes::aspect_range(class_id);
    let aspect = rng.range_f32(a0, a1);
    let (mut bw, mut bh) = if aspect < 1.0 {
        (size * aspect, size)
    } else {
        (size, size / aspect)
    };
    let fit = (cfg.width as f32 / bw).min(cfg.height as f32 / bh).min(1.0);
    bw *= fit;
    bh *= fit;
    (bw.max(2.0), bh.max(2.0))
}

pub(crate) fn draw_background(p: &mut Painter, cfg: &SynthConfig, rng: &mut Rng) {
    let (w, h) = (p.width() as f32, p.height() as f32);
    p.set_owner(NO_OWNER);
    let top = random_rgb(rng);
    let mid = random_rgb(rng);
    let bottom = random_rgb(rng);
    let horizon = rng.range_f32(0.25, 0.75) * h;
    // vertical gradient top->horizon->bottom in bands of 2 rows (cheap, still smooth)
    let mut y = 0.0;
    while y < h {
        let (a, b, t) = if y < horizon {
            (top, mid, y / horizon)
        } else {
            (mid, bottom, (y - horizon) / (h - horizon).max(1.0))
        };
        let c = lerp_rgb(a, b, t);
        p.rect(0.0, y, w, y + 2.0, Paint::Solid(c));
        y += 2.0;
    }
    let s = cfg.scale();
    let patches = rng.range_i32(1, 5);
    for _ in 0..patches {
        let pw = rng.range_f32(20.0, 160.0) * s;
        let ph = rng.range_f32(20.0, 160.0) * s;
        let x0 = rng.range_f32(-pw * 0.3, w - pw * 0.7);
        let y0 = rng.range_f32(-ph * 0.3, h - ph * 0.7);
        let (a, b) = (random_rgb(rng), random_rgb(rng));
        let paint = match rng.below(3) {
            0 => Paint::Stripes {
                a,
                b,
                period: rng.range_i32(2, 12) as u16,
                vertical: rng.chance(0.5),
            },
            1 => Paint::Checker {
                a,
                b,
                cell: rng.range_i32(3, 16) as u16,
            },
            _ => Paint::Solid(a),
        };
        p.rect(x0, y0, x0 + pw, y0 + ph, paint);
    }
    let n = rng.range_i32(cfg.clutter as i32 / 2, cfg.clutter as i32);
    for _ in 0..n {
        distractor(p, s, rng);
    }
}

fn distractor(p: &mut Painter, s: f32, rng: &mut Rng) {
    let (w, h) = (p.width() as f32, p.height() as f32);
    let size = 5.0 * s * (16.0f32).powf(rng.f32());
    let cx = rng.range_f32(0.0, w);
    let cy = rng.range_f32(0.0, h);
    let c = Paint::Solid(random_rgb(rng));
    match rng.below(5) {
        0 => p.ellipse(cx, cy, size * 0.5, size * rng.range_f32(0.2, 0.6), c),
        1 => {
            let bw = size * rng.range_f32(0.3, 1.0);
            let bh = size * rng.range_f32(0.3, 1.0);
            p.rect(
                cx - bw * 0.5,
                cy - bh * 0.5,
                cx + bw * 0.5,
                cy + bh * 0.5,
                c,
            )
        }
        2 => {
            let pts = [
                [cx + rng.range_f32(-size, size) * 0.5, cy - size * 0.5],
                [cx - size * 0.5, cy + size * 0.5],
                [cx + size * 0.5, cy + size * rng.range_f32(0.0, 0.5)],
            ];
            p.convex(&pts, c)
        }
        // rings and bars: parts that look like wheels and frames, i.e. hard negatives
        3 => p.ring(cx, cy, size * 0.5, size * rng.range_f32(0.3, 0.45), c),
        _ => {
            let a = rng.f32() * std::f32::consts::PI;
            let (dx, dy) = (a.cos() * size * 0.5, a.sin() * size * 0.5);
            let t = rng.range_f32(1.0, 4.0) * s;
            p.line([cx - dx, cy - dy], [cx + dx, cy + dy], t, c)
        }
    }
}

pub(crate) fn draw_objects(p: &mut Painter, placed: &[Placed]) {
    for (k, o) in placed.iter().enumerate() {
        p.set_owner((k % draw::MAX_OWNER) as u8 + 1);
        shapes::draw_object(p, o.class_id, o.bbox, &o.style, o.phase);
    }
    p.set_owner(NO_OWNER);
}

pub(crate) fn draw_occluders(p: &mut Painter, cfg: &SynthConfig, rng: &mut Rng) {
    let (w, h) = (p.width() as f32, p.height() as f32);
    let s = cfg.scale();
    p.set_owner(NO_OWNER);
    let n = rng.below(cfg.occluders as u64 + 1);
    for _ in 0..n {
        let c = Paint::Solid(random_rgb(rng));
        if rng.chance(0.5) {
            // a pole
            let x = rng.range_f32(0.0, w);
            let t = rng.range_f32(3.0, 12.0) * s;
            let top = rng.range_f32(-h, h * 0.5);
            p.rect(x, top, x + t, h, c);
        } else {
            // a bush
            let r = rng.range_f32(8.0, 45.0) * s;
            let cx = rng.range_f32(0.0, w);
            let cy = rng.range_f32(h * 0.3, h + r * 0.5);
            p.ellipse(cx, cy, r * 1.4, r, c);
        }
    }
}

pub(crate) fn collect_gt(
    p: &Painter,
    cfg: &SynthConfig,
    placed: &[Placed],
    out: &mut Vec<GtObject>,
) {
    out.clear();
    for (k, o) in placed.iter().enumerate() {
        let id = (k % draw::MAX_OWNER) as u8 + 1;
        let Some(b) = p.bounds(id) else { continue };
        let (drawn, visible) = p.coverage(id);
        // objects partly outside the frame count that part as hidden too
        let full = (o.bbox[2] - o.bbox[0]) * (o.bbox[3] - o.bbox[1]);
        let inside = ((b[2] - b[0]) * (b[3] - b[1])) as f32;
        let truncation = (inside / full.max(1.0)).min(1.0);
        let frac = visible as f32 / drawn.max(1) as f32 * truncation;
        if frac < cfg.drop_below || visible == 0 {
            continue;
        }
        out.push(GtObject {
            class_id: o.class_id,
            bbox: [b[0] as f32, b[1] as f32, b[2] as f32, b[3] as f32],
            track_id: o.track_id,
            difficult: frac < cfg.difficult_below,
        });
    }
}

fn lerp_rgb(a: [u8; 3], b: [u8; 3], t: f32) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    let mut c = [0u8; 3];
    for i in 0..3 {
        c[i] = (a[i] as f32 + (b[i] as f32 - a[i] as f32) * t) as u8;
    }
    c
}

/// Global lighting: per-channel lookup tables (brightness, contrast, colour cast) and a linear
/// illumination ramp across the image, in fixed point so a frame costs one pass.
#[derive(Clone, Debug)]
pub(crate) struct Lighting {
    lut: [[u8; 256]; 3],
    ramp: [f32; 2], // gain at one edge and the other
    ramp_vertical: bool,
}

impl Lighting {
    pub(crate) fn identity() -> Self {
        let mut lut = [[0u8; 256]; 3];
        for c in &mut lut {
            for (i, v) in c.iter_mut().enumerate() {
                *v = i as u8;
            }
        }
        Lighting {
            lut,
            ramp: [1.0, 1.0],
            ramp_vertical: false,
        }
    }

    pub(crate) fn random(cfg: &SynthConfig, rng: &mut Rng) -> Self {
        if !cfg.lighting {
            return Self::identity();
        }
        let brightness = rng.range_f32(-50.0, 50.0);
        let contrast = rng.range_f32(0.6, 1.4);
        let cast = [
            rng.range_f32(0.8, 1.2),
            rng.range_f32(0.8, 1.2),
            rng.range_f32(0.8, 1.2),
        ];
        let g = rng.range_f32(0.0, 0.35);
        let ramp = if rng.chance(0.5) {
            [1.0 - g, 1.0 + g * 0.5]
        } else {
            [1.0 + g * 0.5, 1.0 - g]
        };
        Self::new(brightness, contrast, cast, ramp, rng.chance(0.5))
    }

    pub(crate) fn new(
        brightness: f32,
        contrast: f32,
        cast: [f32; 3],
        ramp: [f32; 2],
        vertical: bool,
    ) -> Self {
        let mut lut = [[0u8; 256]; 3];
        for (c, table) in lut.iter_mut().enumerate() {
            for (i, v) in table.iter_mut().enumerate() {
                let x = ((i as f32 - 128.0) * contrast + 128.0 + brightness) * cast[c];
                *v = x.clamp(0.0, 255.0) as u8;
            }
        }
        Lighting {
            lut,
            ramp,
            ramp_vertical: vertical,
        }
    }

    pub(crate) fn apply(&self, px: &mut [u8], w: u32, h: u32, noise: u8, seed: u64) {
        let (w, h) = (w as usize, h as usize);
        let along = if self.ramp_vertical { h } else { w };
        let gain = |i: usize| -> u32 {
            let t = i as f32 / along.max(2).saturating_sub(1) as f32;
            ((self.ramp[0] + (self.ramp[1] - self.ramp[0]) * t) * 256.0) as u32
        };
        let mut state = (seed as u32) | 1;
        let amp = noise as u32;
        for y in 0..h {
            let gy = if self.ramp_vertical { gain(y) } else { 0 };
            let row = &mut px[y * w * 3..(y + 1) * w * 3];
            for (x, p) in row.chunks_exact_mut(3).enumerate() {
                let g = if self.ramp_vertical { gy } else { gain(x) };
                let n = if amp > 0 {
                    // xorshift32: cheap per-pixel noise, one draw for the three channels
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    (state % (2 * amp + 1)) as i32 - amp as i32
                } else {
                    0
                };
                for (v, lut) in p.iter_mut().zip(&self.lut) {
                    let l = (lut[*v as usize] as u32 * g) >> 8;
                    *v = (l as i32 + n).clamp(0, 255) as u8;
                }
            }
        }
    }
}
