//! Draw detections on an image: class-coloured boxes with a label strip in the built-in pixel
//! font (`font`), so no font file is needed.

use super::font::{draw_text, put, text_width, CELL_H};
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

/// The pixel font's scale for an image: doubled from 400 px on the short side.
pub fn text_scale(img: &RgbImage) -> u32 {
    if img.width().min(img.height()) >= 400 {
        2
    } else {
        1
    }
}

/// The height of a label strip at `scale`: one text row and a `scale` margin around it.
pub fn strip_height(scale: u32) -> i64 {
    (CELL_H * scale + 2 * scale) as i64
}

/// `text` on a filled strip of `color` with its top-left corner at (x, y), the ink black or
/// white for contrast; clipped to the image.
pub fn label_strip(img: &mut RgbImage, x: i64, y: i64, text: &str, color: Rgb<u8>, scale: u32) {
    let strip_w = (text_width(text, scale) + 2 * scale) as i64;
    fill_rect(
        img,
        x,
        y,
        x + strip_w - 1,
        y + strip_height(scale) - 1,
        color,
    );
    let luma = 0.299 * color[0] as f32 + 0.587 * color[1] as f32 + 0.114 * color[2] as f32;
    let ink = if luma > 140.0 {
        Rgb([0, 0, 0])
    } else {
        Rgb([255, 255, 255])
    };
    draw_text(img, x + scale as i64, y + scale as i64, text, ink, scale);
}

/// A box's label strip at its left edge `x0`: above its top edge `y0` when there is room,
/// else just inside it.
pub fn box_label(img: &mut RgbImage, x0: i64, y0: i64, text: &str, color: Rgb<u8>, scale: u32) {
    let h = strip_height(scale);
    let y = if y0 >= h { y0 - h } else { y0 };
    label_strip(img, x0, y, text, color, scale);
}

/// Draws each detection (normalised box) with its label and score.
pub fn draw_detections(img: &mut RgbImage, detections: &[Detection], labels: &[String]) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let scale = text_scale(img);
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
        box_label(img, bx0, by0, &text, color, scale);
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
    fn box_past_the_corner_is_clipped_to_the_image() {
        // Normalised box from (-0.5, 0.5) to (0.5, 1.5) on 40x40: clamped to pixels x 0..=19,
        // y 20..=39, outline 2 pixels thick, label strip 7 rows high just above it.
        let black = Rgb([0, 0, 0]);
        let mut img = RgbImage::from_pixel(40, 40, black);
        let det = Detection {
            class_id: 2,
            score: 1.0,
            bbox: [-0.5, 0.5, 0.5, 1.5],
        };
        draw_detections(&mut img, &[det], &[]);
        let color = class_color(2);
        // A dark colour: white ink, so every strip pixel is the colour or ink.
        for (x, y, p) in img.enumerate_pixels() {
            let on_box = x <= 19 && y >= 20;
            let outline = on_box && (x <= 1 || x >= 18 || y <= 21 || y >= 38);
            let strip = (13..=19).contains(&y) && x < text_width("? 1.00", 1) + 2;
            if outline {
                assert_eq!(*p, color, "outline pixel ({x}, {y})");
            } else if strip {
                assert!(
                    *p == color || *p == Rgb([255, 255, 255]),
                    "strip ({x}, {y}) {p:?}"
                );
            } else {
                assert_eq!(*p, black, "pixel ({x}, {y}) outside the drawing");
            }
        }
    }

    #[test]
    fn clipped_text_is_the_window_of_the_unclipped_text() {
        // Drawn at (-20, 8) on 10x10, the text must equal the same text drawn at (80, 108) on
        // a canvas large enough to hold it, looked at through the window (100.., 100..).
        let ink = Rgb([1, 2, 3]);
        let mut small = RgbImage::new(10, 10);
        draw_text(&mut small, -20, 8, "PERSON 0.99", ink, 3);
        let mut big = RgbImage::new(300, 200);
        draw_text(&mut big, 80, 108, "PERSON 0.99", ink, 3);
        let mut inked = 0;
        for (x, y, p) in small.enumerate_pixels() {
            assert_eq!(*p, *big.get_pixel(x + 100, y + 100), "({x}, {y})");
            inked += (*p == ink) as usize;
        }
        assert!(inked > 0, "the visible part of the text was not drawn");
        assert!(big.pixels().filter(|p| **p == ink).count() > inked);
    }
}
