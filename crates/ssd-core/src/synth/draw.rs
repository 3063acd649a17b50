//! Span-based rasteriser for the procedural scenes. Every primitive is cut into horizontal
//! spans, and every span passes through `Painter::span`, which also keeps an owner mask: that
//! is how a scene knows, exactly and for free, each object's tight box and how much of it is
//! still visible after later shapes were drawn over it.

pub type Rgb = [u8; 3];

/// Owner id for shapes that belong to no object (background, clutter in front).
pub const NO_OWNER: u8 = 0;
/// Largest object owner id; ids are 1..=MAX_OWNER.
pub const MAX_OWNER: usize = 254;

#[derive(Clone, Copy, Debug)]
pub enum Paint {
    Solid(Rgb),
    /// Stripes of `period` pixels alternating a/b; vertical stripes vary along x.
    Stripes {
        a: Rgb,
        b: Rgb,
        period: u16,
        vertical: bool,
    },
    Checker {
        a: Rgb,
        b: Rgb,
        cell: u16,
    },
}

/// Scratch owned by a long-lived renderer; `Painter` borrows it per frame.
#[derive(Default)]
pub struct Scratch {
    pub mask: Vec<u8>,
    /// Pixels currently visible, per owner id.
    pub visible: Vec<u32>,
    /// Pixels an owner covered when it was drawn (before anything later painted over it).
    pub drawn: Vec<u32>,
    /// Tight pixel bounds x0, y0, x1 (exclusive), y1 (exclusive) per owner.
    pub bounds: Vec<[i32; 4]>,
}

impl Scratch {
    pub fn reset(&mut self, w: u32, h: u32) {
        let n = (w * h) as usize;
        self.mask.clear();
        self.mask.resize(n, NO_OWNER);
        self.visible.clear();
        self.visible.resize(MAX_OWNER + 1, 0);
        self.drawn.clear();
        self.drawn.resize(MAX_OWNER + 1, 0);
        self.bounds.clear();
        self.bounds
            .resize(MAX_OWNER + 1, [i32::MAX, i32::MAX, i32::MIN, i32::MIN]);
    }
}

pub struct Painter<'a> {
    px: &'a mut [u8],
    w: i32,
    h: i32,
    s: &'a mut Scratch,
    owner: u8,
}

impl<'a> Painter<'a> {
    pub fn new(px: &'a mut [u8], w: u32, h: u32, s: &'a mut Scratch) -> Self {
        debug_assert_eq!(px.len(), (w * h * 3) as usize);
        debug_assert_eq!(s.mask.len(), (w * h) as usize);
        Painter {
            px,
            w: w as i32,
            h: h as i32,
            s,
            owner: NO_OWNER,
        }
    }

    pub fn width(&self) -> i32 {
        self.w
    }

    pub fn height(&self) -> i32 {
        self.h
    }

    /// Shapes drawn from now on belong to `owner` (NO_OWNER for clutter).
    pub fn set_owner(&mut self, owner: u8) {
        self.owner = owner;
    }

    /// Pixels owner `id` covered when drawn, and how many remain visible now.
    pub fn coverage(&self, id: u8) -> (u32, u32) {
        (self.s.drawn[id as usize], self.s.visible[id as usize])
    }

    pub fn bounds(&self, id: u8) -> Option<[i32; 4]> {
        let b = self.s.bounds[id as usize];
        (b[0] < b[2] && b[1] < b[3]).then_some(b)
    }

    /// Paint pixels x0..=x1 of row y.
    fn span(&mut self, y: i32, x0: i32, x1: i32, paint: Paint) {
        if y < 0 || y >= self.h {
            return;
        }
        let x0 = x0.max(0);
        let x1 = x1.min(self.w - 1);
        if x0 > x1 {
            return;
        }
        let row = (y * self.w) as usize;
        let mut i = (row + x0 as usize) * 3;
        match paint {
            Paint::Solid(c) => {
                for _ in x0..=x1 {
                    self.px[i..i + 3].copy_from_slice(&c);
                    i += 3;
                }
            }
            Paint::Stripes {
                a,
                b,
                period,
                vertical,
            } => {
                let p = period.max(1) as i32;
                for x in x0..=x1 {
                    let k = if vertical { x } else { y };
                    let c = if (k / p) % 2 == 0 { a } else { b };
                    self.px[i..i + 3].copy_from_slice(&c);
                    i += 3;
                }
            }
            Paint::Checker { a, b, cell } => {
                let p = cell.max(1) as i32;
                for x in x0..=x1 {
                    let c = if ((x / p) + (y / p)) % 2 == 0 { a } else { b };
                    self.px[i..i + 3].copy_from_slice(&c);
                    i += 3;
                }
            }
        }
        let owner = self.owner;
        let s = &mut *self.s;
        for m in &mut s.mask[row + x0 as usize..=row + x1 as usize] {
            let prev = *m;
            if prev != owner {
                if prev != NO_OWNER {
                    s.visible[prev as usize] -= 1;
                }
                if owner != NO_OWNER {
                    s.visible[owner as usize] += 1;
                    s.drawn[owner as usize] += 1;
                }
                *m = owner;
            }
        }
        if owner != NO_OWNER {
            let b = &mut s.bounds[owner as usize];
            b[0] = b[0].min(x0);
            b[1] = b[1].min(y);
            b[2] = b[2].max(x1 + 1);
            b[3] = b[3].max(y + 1);
        }
    }

    /// Pixels whose centre lies in [x0, x1) x [y0, y1).
    pub fn rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, paint: Paint) {
        let (ya, yb) = pixel_range(y0, y1);
        let (xa, xb) = pixel_range(x0, x1);
        for y in ya.max(0)..=yb.min(self.h - 1) {
            self.span(y, xa, xb, paint);
        }
    }

    pub fn ellipse(&mut self, cx: f32, cy: f32, rx: f32, ry: f32, paint: Paint) {
        if rx <= 0.0 || ry <= 0.0 {
            return;
        }
        let (ya, yb) = pixel_range(cy - ry, cy + ry);
        for y in ya.max(0)..=yb.min(self.h - 1) {
            let dy = (y as f32 + 0.5 - cy) / ry;
            let q = 1.0 - dy * dy;
            if q < 0.0 {
                continue;
            }
            let hw = rx * q.sqrt();
            let (xa, xb) = pixel_range(cx - hw, cx + hw);
            self.span(y, xa, xb, paint);
        }
    }

    /// Annulus between radius `r_in` and `r_out` (a wheel).
    pub fn ring(&mut self, cx: f32, cy: f32, r_out: f32, r_in: f32, paint: Paint) {
        if r_in <= 0.5 {
            self.ellipse(cx, cy, r_out, r_out, paint);
            return;
        }
        let (ya, yb) = pixel_range(cy - r_out, cy + r_out);
        for y in ya.max(0)..=yb.min(self.h - 1) {
            let dy = y as f32 + 0.5 - cy;
            let qo = r_out * r_out - dy * dy;
            if qo < 0.0 {
                continue;
            }
            let ho = qo.sqrt();
            let qi = r_in * r_in - dy * dy;
            if qi <= 0.0 {
                let (xa, xb) = pixel_range(cx - ho, cx + ho);
                self.span(y, xa, xb, paint);
            } else {
                let hi = qi.sqrt();
                let (xa, xb) = pixel_range(cx - ho, cx - hi);
                self.span(y, xa, xb, paint);
                let (xa, xb) = pixel_range(cx + hi, cx + ho);
                self.span(y, xa, xb, paint);
            }
        }
    }

    /// Convex polygon (vertices in either winding).
    pub fn convex(&mut self, pts: &[[f32; 2]], paint: Paint) {
        if pts.len() < 3 {
            return;
        }
        let mut ymin = f32::MAX;
        let mut ymax = f32::MIN;
        let (mut sx, mut sy) = (0.0, 0.0);
        for p in pts {
            ymin = ymin.min(p[1]);
            ymax = ymax.max(p[1]);
            sx += p[0];
            sy += p[1];
        }
        let n = pts.len() as f32;
        let centre = [sx / n, sy / n];
        let (ya, yb) = pixel_range(ymin, ymax);
        for y in ya.max(0)..=yb.min(self.h - 1) {
            let yc = y as f32 + 0.5;
            let mut lo = f32::MIN;
            let mut hi = f32::MAX;
            for k in 0..pts.len() {
                let a = pts[k];
                let b = pts[(k + 1) % pts.len()];
                // Half-plane through a-b containing the centroid: nx*x + ny*y + c >= 0.
                let mut nx = -(b[1] - a[1]);
                let mut ny = b[0] - a[0];
                let mut c = -(nx * a[0] + ny * a[1]);
                if nx * centre[0] + ny * centre[1] + c < 0.0 {
                    nx = -nx;
                    ny = -ny;
                    c = -c;
                }
                clip_linear(nx, ny * yc + c, &mut lo, &mut hi);
            }
            if lo <= hi {
                let (xa, xb) = pixel_range(lo, hi);
                self.span(y, xa, xb, paint);
            }
        }
    }

    /// Segment with round caps, `thick` pixels wide.
    pub fn line(&mut self, a: [f32; 2], b: [f32; 2], thick: f32, paint: Paint) {
        let r = (thick * 0.5).max(0.5);
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len = (dx * dx + dy * dy).sqrt();
        if len < 1e-3 {
            self.ellipse(a[0], a[1], r, r, paint);
            return;
        }
        let (ux, uy) = (dx / len, dy / len);
        let (ya, yb) = pixel_range(a[1].min(b[1]) - r, a[1].max(b[1]) + r);
        for y in ya.max(0)..=yb.min(self.h - 1) {
            let yc = y as f32 + 0.5;
            let mut lo = f32::MAX;
            let mut hi = f32::MIN;
            // Band: |n . (p - a)| <= r and 0 <= u . (p - a) <= len, each linear in x.
            let (mut blo, mut bhi) = (f32::MIN, f32::MAX);
            let ry = yc - a[1];
            let (nx, ny) = (-uy, ux);
            clip_linear(nx, ny * ry + r + nx * -a[0], &mut blo, &mut bhi);
            clip_linear(-nx, -(ny * ry) + r + nx * a[0], &mut blo, &mut bhi);
            clip_linear(ux, uy * ry - ux * a[0], &mut blo, &mut bhi);
            clip_linear(-ux, -(uy * ry) + len + ux * a[0], &mut blo, &mut bhi);
            if blo <= bhi {
                lo = lo.min(blo);
                hi = hi.max(bhi);
            }
            for e in [a, b] {
                let d = yc - e[1];
                let q = r * r - d * d;
                if q >= 0.0 {
                    let h = q.sqrt();
                    lo = lo.min(e[0] - h);
                    hi = hi.max(e[0] + h);
                }
            }
            if lo <= hi {
                let (xa, xb) = pixel_range(lo, hi);
                self.span(y, xa, xb, paint);
            }
        }
    }
}

/// Intersect [lo, hi] with {x : k*x + c >= 0}.
fn clip_linear(k: f32, c: f32, lo: &mut f32, hi: &mut f32) {
    if k.abs() < 1e-9 {
        if c < 0.0 {
            *lo = f32::MAX;
            *hi = f32::MIN;
        }
    } else if k > 0.0 {
        *lo = lo.max(-c / k);
    } else {
        *hi = hi.min(-c / k);
    }
}

/// Pixels whose centre lies in [a, b]: first and last index (may be empty: first > last).
fn pixel_range(a: f32, b: f32) -> (i32, i32) {
    let first = (a - 0.5).ceil();
    let last = (b - 0.5).floor();
    (first.clamp(-1e6, 1e6) as i32, last.clamp(-1e6, 1e6) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rect_bounds_and_occlusion_are_exact() {
        let (w, h) = (40u32, 30u32);
        let mut px = vec![0u8; (w * h * 3) as usize];
        let mut s = Scratch::default();
        s.reset(w, h);
        let mut p = Painter::new(&mut px, w, h, &mut s);
        p.set_owner(1);
        p.rect(5.0, 5.0, 15.0, 15.0, Paint::Solid([255, 0, 0]));
        assert_eq!(p.bounds(1), Some([5, 5, 15, 15]));
        assert_eq!(p.coverage(1), (100, 100));
        p.set_owner(2);
        p.rect(10.0, 5.0, 20.0, 15.0, Paint::Solid([0, 255, 0]));
        assert_eq!(p.coverage(1), (100, 50));
        p.set_owner(NO_OWNER);
        p.ellipse(100.0, 100.0, 3.0, 3.0, Paint::Solid([1, 1, 1]));
        p.line([0.0, 0.0], [39.0, 29.0], 3.0, Paint::Solid([9, 9, 9]));
        p.ring(20.0, 15.0, 8.0, 5.0, Paint::Solid([3, 3, 3]));
        p.convex(
            &[[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]],
            Paint::Solid([4, 4, 4]),
        );
        let (d, v) = p.coverage(1);
        assert!(v < 50 && d == 100);
    }

    #[test]
    fn line_covers_its_segment() {
        let (w, h) = (50u32, 50u32);
        let mut px = vec![0u8; (w * h * 3) as usize];
        let mut s = Scratch::default();
        s.reset(w, h);
        let mut p = Painter::new(&mut px, w, h, &mut s);
        p.set_owner(3);
        p.line(
            [10.0, 10.0],
            [40.0, 30.0],
            4.0,
            Paint::Solid([200, 200, 200]),
        );
        let b = p.bounds(3).unwrap();
        assert!((b[0] - 8).abs() <= 1 && (b[2] - 42).abs() <= 1, "{b:?}");
        assert!((b[1] - 8).abs() <= 1 && (b[3] - 32).abs() <= 1, "{b:?}");
        // the midpoint is painted
        let i = (20 * 50 + 25) * 3;
        assert_eq!(px[i], 200);
    }
}
