//! Draw detections on an image: class-coloured boxes with a label strip, in a tiny built-in
//! 3x5 pixel font (upper-case letters, digits, a few signs) so no font file is needed.

use crate::ssd::Detection;
use image::{Rgb, RgbImage};

/// Distinct, saturated colours; class k uses `PALETTE[k % len]`.
const PALETTE: [[u8; 3]; 10] = [
    [230, 25, 75],
    [60, 180, 75],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
    [210, 245, 60],
    [250, 190, 212],
    [255, 225, 25],
];

pub fn class_color(class_id: usize) -> Rgb<u8> {
    Rgb(PALETTE[class_id % PALETTE.len()])
}

/// 3x5 glyphs, one row per byte, bit 2 = left column.
fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_uppercase() {
        'A' => [0b010, 0b101, 0b111, 0b101, 0b101],
        'B' => [0b110, 0b101, 0b110, 0b101, 0b110],
        'C' => [0b011, 0b100, 0b100, 0b100, 0b011],
        'D' => [0b110, 0b101, 0b101, 0b101, 0b110],
        'E' => [0b111, 0b100, 0b110, 0b100, 0b111],
        'F' => [0b111, 0b100, 0b110, 0b100, 0b100],
        'G' => [0b011, 0b100, 0b101, 0b101, 0b011],
        'H' => [0b101, 0b101, 0b111, 0b101, 0b101],
        'I' => [0b111, 0b010, 0b010, 0b010, 0b111],
        'J' => [0b001, 0b001, 0b001, 0b101, 0b010],
        'K' => [0b101, 0b101, 0b110, 0b101, 0b101],
        'L' => [0b100, 0b100, 0b100, 0b100, 0b111],
        'M' => [0b101, 0b111, 0b111, 0b101, 0b101],
        'N' => [0b110, 0b101, 0b101, 0b101, 0b101],
        'O' => [0b010, 0b101, 0b101, 0b101, 0b010],
        'P' => [0b110, 0b101, 0b110, 0b100, 0b100],
        'Q' => [0b010, 0b101, 0b101, 0b110, 0b011],
        'R' => [0b110, 0b101, 0b110, 0b101, 0b101],
        'S' => [0b011, 0b100, 0b010, 0b001, 0b110],
        'T' => [0b111, 0b010, 0b010, 0b010, 0b010],
        'U' => [0b101, 0b101, 0b101, 0b101, 0b111],
        'V' => [0b101, 0b101, 0b101, 0b101, 0b010],
        'W' => [0b101, 0b101, 0b111, 0b111, 0b101],
        'X' => [0b101, 0b101, 0b010, 0b101, 0b101],
        'Y' => [0b101, 0b101, 0b010, 0b010, 0b010],
        'Z' => [0b111, 0b001, 0b010, 0b100, 0b111],
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b110, 0b001, 0b010, 0b100, 0b111],
        '3' => [0b110, 0b001, 0b010, 0b001, 0b110],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b110, 0b001, 0b110],
        '6' => [0b011, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b110],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '_' => [0b000, 0b000, 0b000, 0b000, 0b111],
        ':' => [0b000, 0b010, 0b000, 0b010, 0b000],
        ' ' => [0; 5],
        _ => [0b110, 0b001, 0b010, 0b000, 0b010],
    }
}

/// Glyph cell size at scale 1: 3 columns plus 1 of spacing, 5 rows.
const CELL_W: u32 = 4;
const CELL_H: u32 = 5;

/// Width in pixels of `text` drawn at `scale`.
pub fn text_width(text: &str, scale: u32) -> u32 {
    (text.chars().count() as u32 * CELL_W).saturating_sub(1) * scale
}

fn put(img: &mut RgbImage, x: i64, y: i64, color: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, color);
    }
}

/// Filled rectangle, clipped to the image; corners inclusive.
pub fn fill_rect(img: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, color: Rgb<u8>) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    for y in y0.max(0)..=y1.min(h - 1) {
        for x in x0.max(0)..=x1.min(w - 1) {
            img.put_pixel(x as u32, y as u32, color);
        }
    }
}

/// Rectangle outline `thickness` pixels wide, drawn inward from the given corners.
pub fn draw_rect(
    img: &mut RgbImage,
    x0: i64,
    y0: i64,
    x1: i64,
    y1: i64,
    color: Rgb<u8>,
    thickness: i64,
) {
    for t in 0..thickness {
        let (a, b, c, d) = (x0 + t, y0 + t, x1 - t, y1 - t);
        if a > c || b > d {
            break;
        }
        for x in a..=c {
            put(img, x, b, color);
            put(img, x, d, color);
        }
        for y in b..=d {
            put(img, a, y, color);
            put(img, c, y, color);
        }
    }
}

/// Draws `text` with its top-left corner at (x, y).
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, color: Rgb<u8>, scale: u32) {
    let s = scale as i64;
    for (i, ch) in text.chars().enumerate() {
        let gx = x + i as i64 * CELL_W as i64 * s;
        for (row, bits) in glyph(ch).iter().enumerate() {
            for col in 0..3 {
                if bits & (0b100 >> col) != 0 {
                    let px = gx + col as i64 * s;
                    let py = y + row as i64 * s;
                    fill_rect(img, px, py, px + s - 1, py + s - 1, color);
                }
            }
        }
    }
}

/// Draws each detection (normalised box) with its label and score.
pub fn draw_detections(img: &mut RgbImage, detections: &[Detection], labels: &[String]) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let scale = if img.width().min(img.height()) >= 400 {
        2
    } else {
        1
    };
    let thickness = scale as i64 + 1;
    for det in detections {
        let class = det.class_id as usize;
        let color = class_color(class);
        let [x0, y0, x1, y1] = det.bbox;
        let px = |v: f32, size: f32| (v.clamp(0.0, 1.0) * size).round() as i64;
        let (bx0, by0) = (px(x0, w), px(y0, h));
        let (bx1, by1) = (px(x1, w).max(bx0 + 1) - 1, px(y1, h).max(by0 + 1) - 1);
        draw_rect(img, bx0, by0, bx1, by1, color, thickness);

        let label = labels.get(class).map(String::as_str).unwrap_or("?");
        let text = format!("{label} {:.2}", det.score);
        let strip_h = (CELL_H * scale + 2 * scale) as i64;
        let strip_w = (text_width(&text, scale) + 2 * scale) as i64;
        // Above the box when there is room, else just inside its top edge.
        let sy = if by0 >= strip_h { by0 - strip_h } else { by0 };
        fill_rect(img, bx0, sy, bx0 + strip_w - 1, sy + strip_h - 1, color);
        let luma = 0.299 * color[0] as f32 + 0.587 * color[1] as f32 + 0.114 * color[2] as f32;
        let ink = if luma > 140.0 {
            Rgb([0, 0, 0])
        } else {
            Rgb([255, 255, 255])
        };
        draw_text(
            img,
            bx0 + scale as i64,
            sy + scale as i64,
            &text,
            ink,
            scale,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_and_strip_change_pixels_only_near_the_box() {
        let mut img = RgbImage::from_pixel(100, 100, Rgb([0, 0, 0]));
        let det = Detection {
            class_id: 1,
            score: 0.9,
            bbox: [0.4, 0.4, 0.6, 0.6],
        };
        draw_detections(&mut img, &[det], &["background".into(), "red".into()]);
        assert_eq!(*img.get_pixel(40, 50), class_color(1));
        assert_eq!(
            *img.get_pixel(50, 50),
            Rgb([0, 0, 0]),
            "inside stays untouched"
        );
        assert_eq!(*img.get_pixel(5, 95), Rgb([0, 0, 0]));
        // The label strip sits above the box.
        assert_ne!(*img.get_pixel(41, 36), Rgb([0, 0, 0]));
    }

    #[test]
    fn drawing_out_of_bounds_is_clipped() {
        let mut img = RgbImage::new(10, 10);
        let det = Detection {
            class_id: 3,
            score: 1.0,
            bbox: [-0.5, -0.5, 1.5, 1.5],
        };
        draw_detections(&mut img, &[det], &[]);
        draw_text(&mut img, -20, 8, "PERSON 0.99", Rgb([1, 2, 3]), 3);
    }
}
