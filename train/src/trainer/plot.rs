//! `plot.png`: training loss (left panel, red) and validation mAP (right panel, blue) per
//! epoch, drawn with the `image` crate. No system fonts: axis limits are written in the
//! board's built-in pixel font (`ssd_core::image::font`).

use std::path::Path;

use image::{Rgb, RgbImage};
use ssd_core::image::font::{draw_text, put};

use super::metrics::EpochMetrics;
use super::TrainError;

const W: u32 = 800;
const H: u32 = 360;
const MARGIN: i64 = 36;
const BG: Rgb<u8> = Rgb([255, 255, 255]);
const AXIS: Rgb<u8> = Rgb([40, 40, 40]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);
const LOSS: Rgb<u8> = Rgb([200, 30, 30]);
const MAP: Rgb<u8> = Rgb([30, 60, 200]);

fn line(img: &mut RgbImage, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: Rgb<u8>) {
    let n = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
    for i in 0..=n {
        let x = x0 + (x1 - x0) * i / n;
        let y = y0 + (y1 - y0) * i / n;
        for (dx, dy) in [(0, 0), (1, 0), (0, 1)] {
            put(img, x + dx, y + dy, c);
        }
    }
}

/// Axis labels in the board's pixel font at scale 2.
fn text(img: &mut RgbImage, x: i64, y: i64, s: &str, c: Rgb<u8>) {
    draw_text(img, x, y, s, c, 2);
}

/// One panel: axes, 4 grid lines, the series (x = epoch) and its y limit written top-left.
fn panel(img: &mut RgbImage, x0: i64, width: i64, series: &[(f64, f64)], y_max: f64, c: Rgb<u8>) {
    let (top, bottom) = (MARGIN / 2 + 6, H as i64 - MARGIN);
    let (left, right) = (x0 + MARGIN + 8, x0 + width - 12);
    for k in 1..=4 {
        let y = bottom - (bottom - top) * k / 4;
        line(img, (left, y), (right, y), GRID);
    }
    line(img, (left, top), (left, bottom), AXIS);
    line(img, (left, bottom), (right, bottom), AXIS);
    text(img, x0 + 4, top - 2, &format!("{y_max:.2}"), c);
    text(img, x0 + 4, bottom - 8, "0", AXIS);
    let x_max = series.iter().map(|p| p.0).fold(1.0f64, f64::max);
    text(img, right - 16, bottom + 8, &format!("{x_max:.0}"), AXIS);
    let to_px = |(x, y): (f64, f64)| {
        let px = left + ((x / x_max) * (right - left) as f64) as i64;
        let py = bottom - ((y / y_max).clamp(0.0, 1.0) * (bottom - top) as f64) as i64;
        (px, py)
    };
    for w in series.windows(2) {
        line(img, to_px(w[0]), to_px(w[1]), c);
    }
    for &p in series {
        let (px, py) = to_px(p);
        for dx in -2..=2 {
            for dy in -2..=2 {
                put(img, px + dx, py + dy, c);
            }
        }
    }
}

pub fn render(history: &[EpochMetrics]) -> RgbImage {
    let mut img = RgbImage::from_pixel(W, H, BG);
    let loss: Vec<(f64, f64)> = history
        .iter()
        .filter(|m| m.loss.is_finite())
        .map(|m| (m.epoch as f64, m.loss))
        .collect();
    let map: Vec<(f64, f64)> = history
        .iter()
        .filter_map(|m| m.map.map(|v| (m.epoch as f64, v)))
        .collect();
    let loss_max = loss.iter().map(|p| p.1).fold(1e-6f64, f64::max);
    let half = W as i64 / 2;
    panel(&mut img, 0, half, &loss, loss_max * 1.05, LOSS);
    panel(&mut img, half, half, &map, 1.0, MAP);
    img
}

pub fn write(path: &Path, history: &[EpochMetrics]) -> Result<(), TrainError> {
    render(history)
        .save(path)
        .map_err(|e| TrainError::io(path, std::io::Error::other(e)))
}
