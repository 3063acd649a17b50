//! Frame sequences: objects walk/drive across a static scene with stable track ids, and a
//! vertical counting line records ground-truth crossings per class and direction. The board
//! uses this as its camera-free source and as the oracle for counting tests.

use super::draw::{Painter, Scratch};
use super::rng::Rng;
use super::shapes::{self, Style};
use super::{
    collect_gt, draw_background, draw_objects, draw_occluders, ensure_size, GtObject, Lighting,
    Placed, SynthConfig, NUM_CLASSES,
};
use image::RgbImage;

#[derive(Clone, Debug, PartialEq)]
pub struct SequenceConfig {
    pub scene: SynthConfig,
    /// Objects on screen at most.
    pub max_objects: usize,
    /// Chance per frame that a new object enters (when below `max_objects`).
    pub spawn_chance: f32,
    /// Object size range (longer side) at a 300 px scene, scaled like `SynthConfig`.
    pub min_size: f32,
    pub max_size: f32,
    /// Speed range in pixels per frame at a 300 px scene.
    pub min_speed: f32,
    pub max_speed: f32,
    /// Counting line position as a fraction of the width (vertical line).
    pub line_x: f32,
}

impl Default for SequenceConfig {
    fn default() -> Self {
        SequenceConfig {
            scene: SynthConfig {
                occluders: 1,
                clutter: 10,
                ..SynthConfig::default()
            },
            max_objects: 5,
            spawn_chance: 0.06,
            min_size: 30.0,
            max_size: 120.0,
            min_speed: 1.0,
            max_speed: 4.0,
            line_x: 0.5,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    LeftToRight,
    RightToLeft,
}

impl Direction {
    pub fn index(self) -> usize {
        match self {
            Direction::LeftToRight => 0,
            Direction::RightToLeft => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::LeftToRight => "left_to_right",
            Direction::RightToLeft => "right_to_left",
        }
    }
}

/// An object's box centre crossed the counting line between the previous frame and `frame`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Crossing {
    pub frame: u64,
    pub track_id: u32,
    pub class_id: usize,
    pub direction: Direction,
}

#[derive(Clone, Copy, Debug)]
struct Track {
    id: u32,
    class_id: usize,
    x: f32,
    y: f32,
    w: f32,
    h: f32,
    vx: f32,
    vy: f32,
    style: Style,
    phase: f32,
    phase_speed: f32,
}

impl Track {
    fn cx(&self) -> f32 {
        self.x + self.w * 0.5
    }
}

pub struct Sequence {
    cfg: SequenceConfig,
    seed: u64,
    rng: Rng,
    frame: u64,
    next_id: u32,
    background: RgbImage,
    scratch: Scratch,
    tracks: Vec<Track>,
    placed: Vec<Placed>,
    gt: Vec<GtObject>,
    crossings: Vec<Crossing>,
    counts: [[u32; 2]; NUM_CLASSES],
}

impl Sequence {
    pub fn new(cfg: SequenceConfig, seed: u64) -> Self {
        let (w, h) = (cfg.scene.width, cfg.scene.height);
        let mut background = RgbImage::new(w, h);
        let mut scratch = Scratch::default();
        scratch.reset(w, h);
        {
            let mut p = Painter::new(background.as_mut(), w, h, &mut scratch);
            let mut brng = Rng::from_parts(&[seed, 0xB6]);
            draw_background(&mut p, &cfg.scene, &mut brng);
        }
        let mut seq = Sequence {
            rng: Rng::from_parts(&[seed, 0x5E0]),
            seed,
            frame: 0,
            next_id: 1,
            background,
            scratch,
            tracks: Vec::with_capacity(cfg.max_objects + 1),
            placed: Vec::with_capacity(cfg.max_objects + 1),
            gt: Vec::with_capacity(cfg.max_objects + 1),
            crossings: Vec::with_capacity(cfg.max_objects + 1),
            counts: [[0; 2]; NUM_CLASSES],
            cfg,
        };
        // start with a populated scene, objects anywhere along their path
        let start = seq.rng.range_i32(1, seq.cfg.max_objects.max(1) as i32);
        for _ in 0..start {
            seq.spawn(true);
        }
        seq
    }

    pub fn config(&self) -> &SequenceConfig {
        &self.cfg
    }

    /// Counting line x in pixels.
    pub fn line_x(&self) -> f32 {
        self.cfg.line_x * self.cfg.scene.width as f32
    }

    /// Index of the frame the next `next_frame` call renders.
    pub fn frame_index(&self) -> u64 {
        self.frame
    }

    /// Crossings up to the last rendered frame: [class][direction index].
    pub fn counts(&self) -> &[[u32; 2]; NUM_CLASSES] {
        &self.counts
    }

    /// Crossings that happened between the previous frame and the last rendered one.
    pub fn crossings(&self) -> &[Crossing] {
        &self.crossings
    }

    /// Ground truth of the last rendered frame.
    pub fn objects(&self) -> &[GtObject] {
        &self.gt
    }

    fn spawn(&mut self, anywhere: bool) {
        let cfg = &self.cfg;
        let rng = &mut self.rng;
        let s = cfg.scene.width.min(cfg.scene.height) as f32 / 300.0;
        let (w, h) = (cfg.scene.width as f32, cfg.scene.height as f32);
        let class_id = rng.below(NUM_CLASSES as u64) as usize;
        let (lo, hi) = (cfg.min_size * s, cfg.max_size.max(cfg.min_size) * s);
        let size = lo * (hi / lo).powf(rng.f32());
        let (a0, a1) = shapes::aspect_range(class_id);
        let aspect = rng.range_f32(a0, a1);
        let (mut bw, mut bh) = if aspect < 1.0 {
            (size * aspect, size)
        } else {
            (size, size / aspect)
        };
        let fit = (w / bw).min(h / bh).min(1.0);
        bw *= fit;
        bh *= fit;
        let right = rng.chance(0.5);
        let speed =
            rng.range_f32(cfg.min_speed, cfg.max_speed) * s * if class_id == 0 { 0.6 } else { 1.0 };
        let vx = if right { speed } else { -speed };
        let vy = rng.range_f32(-0.15, 0.15) * speed;
        let x = if anywhere {
            rng.range_f32(-bw * 0.5, w - bw * 0.5)
        } else if right {
            -bw + 1.0
        } else {
            w - 1.0
        };
        let y = rng.range_f32(0.0, (h - bh).max(0.0));
        let mut style = Style::random(class_id, rng);
        style.facing_left = !right;
        let t = Track {
            id: self.next_id,
            class_id,
            x,
            y,
            w: bw,
            h: bh,
            vx,
            vy,
            style,
            phase: rng.f32(),
            phase_speed: speed / bh.max(1.0) * 0.8,
        };
        self.next_id += 1;
        self.tracks.push(t);
    }

    fn step(&mut self) {
        let line = self.line_x();
        let (w, h) = (self.cfg.scene.width as f32, self.cfg.scene.height as f32);
        self.crossings.clear();
        for t in &mut self.tracks {
            let before = t.cx();
            t.x += t.vx;
            t.y = (t.y + t.vy).clamp(-t.h * 0.2, h - t.h * 0.8);
            t.phase = (t.phase + t.phase_speed).fract();
            let after = t.cx();
            let dir = if before < line && after >= line {
                Some(super::Direction::LeftToRight)
            } else if before >= line && after < line {
                Some(super::Direction::RightToLeft)
            } else {
                None
            };
            if let Some(direction) = dir {
                self.counts[t.class_id][direction.index()] += 1;
                self.crossings.push(Crossing {
                    frame: self.frame,
                    track_id: t.id,
                    class_id: t.class_id,
                    direction,
                });
            }
        }
        self.tracks.retain(|t| t.x + t.w > 0.0 && t.x < w);
        if self.tracks.len() < self.cfg.max_objects && self.rng.chance(self.cfg.spawn_chance) {
            self.spawn(false);
        }
        if self.tracks.is_empty() {
            self.spawn(false);
        }
    }

    /// Move `frames` frames on without drawing them: the objects, counts and crossings end
    /// where `frames` calls of `next_frame` would leave them (training samples frames deep
    /// into a sequence without paying for the ones in between).
    pub fn skip(&mut self, frames: u64) {
        for _ in 0..frames {
            self.step_to_current_frame();
            self.frame += 1;
        }
    }

    /// Moves the objects to frame `self.frame`: frame 0 is the starting state.
    fn step_to_current_frame(&mut self) {
        if self.frame > 0 {
            self.step();
        }
    }

    /// Advance one frame and render it into `img` (reallocated only if its size differs).
    pub fn next_frame(&mut self, img: &mut RgbImage) -> &[GtObject] {
        self.step_to_current_frame();
        let cfg = &self.cfg.scene;
        ensure_size(img, cfg.width, cfg.height);
        img.as_mut().copy_from_slice(self.background.as_raw());
        self.placed.clear();
        for t in &self.tracks {
            self.placed.push(Placed {
                class_id: t.class_id,
                bbox: [t.x, t.y, t.x + t.w, t.y + t.h],
                track_id: t.id,
                style: t.style,
                phase: t.phase,
            });
        }
        self.placed.sort_unstable_by(|a, b| {
            a.bbox[3]
                .total_cmp(&b.bbox[3])
                .then(a.track_id.cmp(&b.track_id))
        });
        self.scratch.reset(cfg.width, cfg.height);
        {
            let mut p = Painter::new(img.as_mut(), cfg.width, cfg.height, &mut self.scratch);
            draw_objects(&mut p, &self.placed);
            // the same occluders every frame: they are part of the static scene
            let mut orng = Rng::from_parts(&[self.seed, 0x0CC]);
            draw_occluders(&mut p, cfg, &mut orng);
            collect_gt(&p, cfg, &self.placed, &mut self.gt);
        }
        let lighting = if cfg.lighting {
            let mut lrng = Rng::from_parts(&[self.seed, 0x116]);
            let base = lrng.range_f32(-30.0, 30.0);
            let contrast = lrng.range_f32(0.75, 1.25);
            let cast = [
                lrng.range_f32(0.85, 1.15),
                lrng.range_f32(0.85, 1.15),
                lrng.range_f32(0.85, 1.15),
            ];
            // slow drift, as clouds or a camera's auto exposure would cause
            let drift = 15.0 * (self.frame as f32 / 90.0).sin();
            Lighting::new(base + drift, contrast, cast, [1.0, 1.0], false)
        } else {
            Lighting::identity()
        };
        let noise_seed = super::rng::mix_seed(&[self.seed, self.frame]);
        lighting.apply(img.as_mut(), cfg.width, cfg.height, cfg.noise, noise_seed);
        self.frame += 1;
        &self.gt
    }
}
