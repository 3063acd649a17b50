//! The three object classes as procedural drawings that fill their box edge to edge, so the
//! box the painter records is the box a detector should find.

use super::draw::{Paint, Painter, Rgb};
use super::rng::Rng;

/// How one object looks; drawn from a seed so a tracked object keeps its look across frames.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub main: Rgb,
    pub second: Rgb,
    pub third: Rgb,
    pub facing_left: bool,
    pub variant: f32,
}

fn vivid(rng: &mut Rng) -> Rgb {
    // Random hue at good saturation, so objects stand out from most (not all) clutter.
    let h = rng.f32() * 6.0;
    let s = rng.range_f32(0.45, 1.0);
    let v = rng.range_f32(0.35, 1.0);
    hsv(h, s, v)
}

pub fn hsv(h6: f32, s: f32, v: f32) -> Rgb {
    let i = h6.floor();
    let f = h6 - i;
    let p = v * (1.0 - s);
    let q = v * (1.0 - s * f);
    let t = v * (1.0 - s * (1.0 - f));
    let (r, g, b) = match (i as i32).rem_euclid(6) {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [(r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8]
}

pub fn random_rgb(rng: &mut Rng) -> Rgb {
    [
        rng.below(256) as u8,
        rng.below(256) as u8,
        rng.below(256) as u8,
    ]
}

impl Style {
    pub fn random(class_id: usize, rng: &mut Rng) -> Style {
        let facing_left = rng.chance(0.5);
        let variant = rng.f32();
        match class_id {
            0 => {
                const SKIN: [Rgb; 5] = [
                    [255, 219, 172],
                    [241, 194, 125],
                    [198, 134, 66],
                    [141, 85, 36],
                    [92, 56, 30],
                ];
                let skin = SKIN[rng.below(SKIN.len() as u64) as usize];
                let shirt = vivid(rng);
                let v = rng.range_f32(0.1, 0.5);
                let trousers = hsv(rng.f32() * 6.0, rng.range_f32(0.2, 0.7), v);
                Style {
                    main: shirt,
                    second: trousers,
                    third: skin,
                    facing_left,
                    variant,
                }
            }
            1 => {
                let body = vivid(rng);
                let g = rng.range_f32(120.0, 200.0);
                let window = [(g * 0.8) as u8, (g * 0.9) as u8, g as u8];
                let tyre = [20, 20, 24];
                Style {
                    main: body,
                    second: window,
                    third: tyre,
                    facing_left,
                    variant,
                }
            }
            _ => {
                let frame = vivid(rng);
                let t = rng.range_f32(10.0, 60.0) as u8;
                let tyre = [t, t, t];
                let seat = [30, 30, 30];
                Style {
                    main: frame,
                    second: tyre,
                    third: seat,
                    facing_left,
                    variant,
                }
            }
        }
    }
}

/// Width / height range of each class's box.
pub fn aspect_range(class_id: usize) -> (f32, f32) {
    match class_id {
        0 => (0.32, 0.48),
        1 => (1.5, 2.4),
        _ => (1.35, 1.8),
    }
}

/// Draw class `class_id` filling box (x0, y0, x1, y1) in pixels.
pub fn draw_object(p: &mut Painter, class_id: usize, b: [f32; 4], st: &Style, phase: f32) {
    match class_id {
        0 => person(p, b, st, phase),
        1 => car(p, b, st),
        _ => bicycle(p, b, st),
    }
}

fn person(p: &mut Painter, b: [f32; 4], st: &Style, phase: f32) {
    let [x0, y0, x1, y1] = b;
    let (w, h) = (x1 - x0, y1 - y0);
    let cx = (x0 + x1) * 0.5;
    let r = (0.09 * h).min(0.3 * w).max(0.5);
    let shoulder = y0 + 2.0 * r + 0.01 * h;
    let hip = y0 + 0.58 * h;
    // legs swing with the walking phase (sequence mode); stays inside the box
    let swing = 0.05 * w * (phase * std::f32::consts::TAU).sin();
    p.rect(
        x0 + 0.17 * w + swing,
        hip - 0.02 * h,
        cx - 0.03 * w + swing,
        y1,
        Paint::Solid(st.second),
    );
    p.rect(
        cx + 0.03 * w - swing,
        hip - 0.02 * h,
        x1 - 0.17 * w - swing,
        y1,
        Paint::Solid(st.second),
    );
    p.rect(
        x0 + 0.15 * w,
        shoulder,
        x1 - 0.15 * w,
        hip,
        Paint::Solid(st.main),
    );
    let arm_end = y0 + (0.5 + 0.06 * st.variant) * h;
    p.rect(
        x0,
        shoulder + 0.01 * h,
        x0 + 0.14 * w,
        arm_end,
        Paint::Solid(st.main),
    );
    p.rect(
        x1 - 0.14 * w,
        shoulder + 0.01 * h,
        x1,
        arm_end,
        Paint::Solid(st.main),
    );
    p.rect(
        x0,
        arm_end,
        x0 + 0.14 * w,
        arm_end + 0.05 * h,
        Paint::Solid(st.third),
    );
    p.rect(
        x1 - 0.14 * w,
        arm_end,
        x1,
        arm_end + 0.05 * h,
        Paint::Solid(st.third),
    );
    p.ellipse(cx, y0 + r, r, r, Paint::Solid(st.third));
    if h > 40.0 {
        // hair
        let hair = [st.second[0] / 2, st.second[1] / 2, st.second[2] / 2];
        p.ellipse(cx, y0 + 0.45 * r, r * 0.9, r * 0.45, Paint::Solid(hair));
    }
}

fn car(p: &mut Painter, b: [f32; 4], st: &Style) {
    let [x0, y0, x1, y1] = b;
    let (w, h) = (x1 - x0, y1 - y0);
    // mirror x positions for cars facing left
    let mx = |f: f32| {
        if st.facing_left {
            x1 - f * w
        } else {
            x0 + f * w
        }
    };
    let wheel_r = 0.2 * h;
    let body_top = y0 + 0.4 * h;
    let body_bot = y1 - 0.14 * h;
    p.rect(x0, body_top, x1, body_bot, Paint::Solid(st.main));
    let (ca, cb) = (0.18 + 0.06 * st.variant, 0.75 - 0.05 * st.variant);
    let cabin = [
        [mx(ca), body_top + 0.5],
        [mx(ca + 0.1), y0],
        [mx(cb - 0.12), y0],
        [mx(cb), body_top + 0.5],
    ];
    p.convex(&cabin, Paint::Solid(st.main));
    let win_top = y0 + 0.08 * h;
    let win_bot = body_top - 0.03 * h;
    let split = 0.5 * (ca + cb);
    let win1 = [
        [mx(ca + 0.05), win_bot],
        [mx(ca + 0.12), win_top],
        [mx(split - 0.02), win_top],
        [mx(split - 0.02), win_bot],
    ];
    let win2 = [
        [mx(split + 0.02), win_bot],
        [mx(split + 0.02), win_top],
        [mx(cb - 0.14), win_top],
        [mx(cb - 0.06), win_bot],
    ];
    p.convex(&win1, Paint::Solid(st.second));
    p.convex(&win2, Paint::Solid(st.second));
    // head light at the front, tail light at the back
    let lh = 0.1 * h;
    let (fa, fb) = (mx(0.96), mx(1.0));
    p.rect(
        fa.min(fb),
        body_top + lh,
        fa.max(fb),
        body_top + 2.0 * lh,
        Paint::Solid([250, 240, 180]),
    );
    let (ta, tb) = (mx(0.0), mx(0.03));
    p.rect(
        ta.min(tb),
        body_top + lh,
        ta.max(tb),
        body_top + 2.0 * lh,
        Paint::Solid([200, 20, 20]),
    );
    for f in [0.2f32, 0.8] {
        let cx = mx(f);
        let cy = y1 - wheel_r;
        p.ellipse(cx, cy, wheel_r, wheel_r, Paint::Solid(st.third));
        p.ellipse(
            cx,
            cy,
            wheel_r * 0.45,
            wheel_r * 0.45,
            Paint::Solid([150, 150, 155]),
        );
    }
}

fn bicycle(p: &mut Painter, b: [f32; 4], st: &Style) {
    let [x0, y0, x1, y1] = b;
    let (w, h) = (x1 - x0, y1 - y0);
    let mx = |f: f32| {
        if st.facing_left {
            x1 - f * w
        } else {
            x0 + f * w
        }
    };
    let r = (0.27 * w).min(0.36 * h);
    let t = (0.045 * h).max(1.0);
    let tyre = (0.08 * h).max(1.0);
    let rear = [if st.facing_left { x1 - r } else { x0 + r }, y1 - r];
    let front = [if st.facing_left { x0 + r } else { x1 - r }, y1 - r];
    p.ring(rear[0], rear[1], r, r - tyre, Paint::Solid(st.second));
    p.ring(front[0], front[1], r, r - tyre, Paint::Solid(st.second));
    let crank = [mx(0.47), y1 - r];
    let seat = [mx(0.38), y0 + 0.22 * h];
    let head = [mx(0.7), y0 + 0.25 * h];
    let bar = [mx(0.68), y0 + t * 0.5];
    let c = Paint::Solid(st.main);
    p.line(rear, crank, t, c);
    p.line(rear, seat, t, c);
    p.line(seat, crank, t, c);
    p.line(seat, head, t, c);
    p.line(crank, head, t, c);
    p.line(head, front, t, c);
    p.line(head, bar, t, c);
    let bar_end = [mx(0.6 + 0.06 * st.variant), y0 + t * 0.5];
    p.line(bar, bar_end, t, Paint::Solid(st.third));
    let saddle_h = (0.06 * h).max(1.0);
    let (sa, sb) = (mx(0.32), mx(0.45));
    p.rect(
        sa.min(sb),
        seat[1] - saddle_h,
        sa.max(sb),
        seat[1],
        Paint::Solid(st.third),
    );
}
