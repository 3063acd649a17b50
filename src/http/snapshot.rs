//! `/snapshot.jpg`: the frame the pipeline handed over, with zones, lines, track boxes and
//! ids drawn on it, as a JPEG. Runs on a blocking worker, never on the frame thread.

use super::state::Info;
use crate::count::geometry::Point;
use crate::count::Units;
use crate::image::annotate::{
    box_label, class_color, draw_detections, draw_rect, label_strip as label, strip_height,
    text_scale,
};
use crate::image::font::put;
use crate::snapshot::SnapshotFrame;
use image::{Rgb, RgbImage};

const LINE_COLOR: Rgb<u8> = Rgb([255, 214, 10]);
const ZONE_COLOR: Rgb<u8> = Rgb([0, 200, 220]);
pub const QUALITY: u8 = 80;

/// A copy of the slot's frame, so the slot is free again at once.
pub struct Taken {
    pub img: RgbImage,
    pub detections: Vec<crate::ssd::Detection>,
    pub tracks: Vec<crate::track::TrackedObject>,
    pub index: u64,
    pub wall_ms: i64,
}

/// None while the slot is between its two halves (see [`SnapshotFrame::complete`]).
pub fn take(f: &SnapshotFrame) -> Option<Taken> {
    if !f.complete {
        return None;
    }
    let img = RgbImage::from_raw(f.width, f.height, f.rgb.clone())?;
    Some(Taken {
        img,
        detections: f.detections.clone(),
        tracks: f.tracks.clone(),
        index: f.index,
        wall_ms: f.wall_ms,
    })
}

/// Draws the overlay and encodes the JPEG.
pub fn render(mut t: Taken, info: &Info) -> Result<Vec<u8>, String> {
    let (w, h) = (t.img.width() as f32, t.img.height() as f32);
    let scale = text_scale(&t.img);
    let to_px = |p: Point, units: Units| match units {
        Units::Fraction => (p[0] * w, p[1] * h),
        Units::Pixels => (p[0], p[1]),
    };
    for z in &info.zones {
        let pts: Vec<(f32, f32)> = z.points.iter().map(|p| to_px(*p, z.units)).collect();
        for i in 0..pts.len() {
            line(
                &mut t.img,
                pts[i],
                pts[(i + 1) % pts.len()],
                ZONE_COLOR,
                scale,
            );
        }
        if let Some(&(x, y)) = pts.first() {
            label(
                &mut t.img,
                x as i64 + 2,
                y as i64 + 2,
                &z.name,
                ZONE_COLOR,
                scale,
            );
        }
    }
    for l in &info.lines {
        let (a, b) = (to_px(l.a, l.units), to_px(l.b, l.units));
        line(&mut t.img, a, b, LINE_COLOR, scale + 1);
        // The name at b, the end the arrow points to.
        let (x, y) = (b.0.clamp(0.0, w - 1.0), b.1.clamp(0.0, h - 1.0));
        label(
            &mut t.img,
            x as i64 + 3,
            y as i64 + 2,
            &l.name,
            LINE_COLOR,
            scale,
        );
    }
    if t.tracks.is_empty() {
        draw_detections(&mut t.img, &t.detections, &info.labels);
    }
    for tr in &t.tracks {
        let color = class_color(tr.class_id as usize);
        let [x0, y0, x1, y1] = tr.bbox.map(|v| v.round() as i64);
        draw_rect(
            &mut t.img,
            x0,
            y0,
            x1.max(x0 + 1) - 1,
            y1.max(y0 + 1) - 1,
            color,
            scale as i64 + 1,
        );
        let class = info
            .labels
            .get(tr.class_id as usize)
            .map_or("?", String::as_str);
        let text = format!("{} {class}", tr.id);
        box_label(&mut t.img, x0, y0, &text, color, scale);
    }
    let stamp = format!("FRAME {}", t.index);
    let y = t.img.height() as i64 - 2 - strip_height(scale);
    label(&mut t.img, 2, y, &stamp, Rgb([40, 40, 40]), scale);
    let mut out = Vec::with_capacity(64 * 1024);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, QUALITY)
        .encode(
            t.img.as_raw(),
            t.img.width(),
            t.img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| format!("JPEG encoding: {e}"))?;
    Ok(out)
}

/// A `thickness`-pixel segment (DDA; clipped per pixel).
fn line(img: &mut RgbImage, a: (f32, f32), b: (f32, f32), color: Rgb<u8>, thickness: u32) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let steps = dx.abs().max(dy.abs()).ceil().clamp(1.0, 20_000.0) as usize;
    let t = thickness as i64;
    for i in 0..=steps {
        let f = i as f32 / steps as f32;
        let (x, y) = ((a.0 + dx * f).round() as i64, (a.1 + dy * f).round() as i64);
        for oy in 0..t {
            for ox in 0..t {
                put(img, x + ox - t / 2, y + oy - t / 2, color);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_draws_its_end_points_and_clips() {
        let mut img = RgbImage::new(10, 10);
        line(&mut img, (1.0, 1.0), (8.0, 5.0), LINE_COLOR, 1);
        assert_eq!(*img.get_pixel(1, 1), LINE_COLOR);
        assert_eq!(*img.get_pixel(8, 5), LINE_COLOR);
        line(&mut img, (-50.0, 3.0), (50.0, 3.0), ZONE_COLOR, 1);
        assert_eq!(*img.get_pixel(9, 3), ZONE_COLOR);
    }
}
