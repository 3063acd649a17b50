//! The report as a PNG bar chart: one group of bars per bucket, one colour per column. Drawn
//! with the project's built-in bitmap font, so the static binary needs no font files.

use crate::image::annotate::{class_color, fill_rect};
use crate::image::font::{draw_text, text_width};
use crate::store::{Bucket, Report, StoreError};
use image::{Rgb, RgbImage};
use std::path::Path;

const BG: Rgb<u8> = Rgb([255, 255, 255]);
const INK: Rgb<u8> = Rgb([30, 30, 30]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);
const TEXT: u32 = 2;
const CHAR_H: i64 = 5 * TEXT as i64;

/// Renders `report` as a chart image.
pub fn render_chart(report: &Report) -> Result<RgbImage, StoreError> {
    if report.rows.is_empty() || report.columns.is_empty() {
        return Err(StoreError::Query(
            "nothing to plot: no data in range".into(),
        ));
    }
    let n_rows = report.rows.len() as u32;
    let n_cols = report.columns.len() as u32;
    let max = report
        .rows
        .iter()
        .flat_map(|r| r.counts.iter().copied())
        .max()
        .unwrap_or(0);
    let step = nice_step(max);
    let top_value = max.div_ceil(step).max(1) * step;

    let left = text_width(&top_value.to_string(), TEXT) as i64 + 20;
    let legend_h = 2 * CHAR_H + 20;
    let top = legend_h + 10;
    let bottom = 3 * CHAR_H + 10;
    let plot_w = (n_rows * (n_cols * 6 + 4)).clamp(600, 3000) as i64;
    let plot_h = 360i64;
    let width = (left + plot_w + 20) as u32;
    let height = (top + plot_h + bottom) as u32;
    let mut img = RgbImage::from_pixel(width, height, BG);

    // The bitmap font has letters, digits and a few signs: no slash or parentheses.
    let title = format!(
        "COUNTS BY {} - {}",
        report.by.as_str(),
        report.tz_name.replace('/', " ")
    );
    draw_text(&mut img, left, 8, &title, INK, TEXT);
    let mut x = left;
    for (i, c) in report.columns.iter().enumerate() {
        let name = c.name();
        fill_rect(
            &mut img,
            x,
            14 + CHAR_H,
            x + CHAR_H,
            14 + 2 * CHAR_H,
            class_color(i),
        );
        draw_text(&mut img, x + CHAR_H + 6, 14 + CHAR_H, &name, INK, TEXT);
        x += CHAR_H + 6 + text_width(&name, TEXT) as i64 + 20;
    }

    let y_of = |v: u64| top + plot_h - (v as f64 / top_value as f64 * plot_h as f64) as i64;
    let mut v = 0;
    while v <= top_value {
        let y = y_of(v);
        fill_rect(&mut img, left, y, left + plot_w, y, GRID);
        let label = v.to_string();
        let lx = left - 8 - text_width(&label, TEXT) as i64;
        draw_text(&mut img, lx, y - CHAR_H / 2, &label, INK, TEXT);
        v += step;
    }

    let group_w = plot_w as f64 / n_rows as f64;
    let bar_w = ((group_w * 0.8) / n_cols as f64).max(1.0);
    for (r, row) in report.rows.iter().enumerate() {
        let gx = left as f64 + r as f64 * group_w + group_w * 0.1;
        for (c, &count) in row.counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let x0 = (gx + c as f64 * bar_w) as i64;
            let x1 = ((gx + (c + 1) as f64 * bar_w) as i64 - 1).max(x0);
            fill_rect(
                &mut img,
                x0,
                y_of(count),
                x1,
                top + plot_h - 1,
                class_color(c),
            );
        }
    }
    fill_rect(&mut img, left, top, left, top + plot_h, INK);
    fill_rect(
        &mut img,
        left,
        top + plot_h,
        left + plot_w,
        top + plot_h,
        INK,
    );

    // As many bucket labels as fit without overlapping.
    let fmt = match report.by {
        Bucket::Day => "%m-%d",
        Bucket::Hour => "%d %H:%M",
        Bucket::Minute => "%H:%M",
    };
    let label_w = text_width(&report.rows[0].start.strftime(fmt).to_string(), TEXT) as f64 + 16.0;
    let every = (label_w / group_w).ceil().max(1.0) as usize;
    for (r, row) in report.rows.iter().enumerate().step_by(every) {
        let x = left as f64 + r as f64 * group_w;
        let text = row.start.strftime(fmt).to_string();
        if x as i64 + text_width(&text, TEXT) as i64 >= width as i64 {
            break;
        }
        fill_rect(
            &mut img,
            x as i64,
            top + plot_h,
            x as i64,
            top + plot_h + 4,
            INK,
        );
        draw_text(&mut img, x as i64, top + plot_h + 8, &text, INK, TEXT);
    }
    Ok(img)
}

/// Renders `report` and writes it to `path` as PNG.
pub fn render_png(report: &Report, path: &Path) -> Result<(), StoreError> {
    let img = render_chart(report)?;
    img.save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| StoreError::Io {
            path: path.to_path_buf(),
            error: std::io::Error::other(e),
        })
}

/// A gridline step of 1, 2 or 5 times a power of ten giving about five lines.
fn nice_step(max: u64) -> u64 {
    let raw = (max as f64 / 5.0).max(1.0);
    let pow = 10f64.powf(raw.log10().floor());
    let m = raw / pow;
    let nice = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    (nice * pow) as u64
}

#[cfg(test)]
mod tests {
    use super::nice_step;

    #[test]
    fn grid_steps_are_round() {
        assert_eq!(nice_step(0), 1);
        assert_eq!(nice_step(7), 2);
        assert_eq!(nice_step(23), 5);
        assert_eq!(nice_step(480), 100);
        assert_eq!(nice_step(1234), 500);
    }
}
