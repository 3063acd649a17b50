//! What the truncation check (`image::jpeg_scan`, a Huffman walk of the scan without IDCT) adds
//! to a frame's decode: the walk alone and `mjpeg::decode_rgb` with it, on a 1280x720 JPEG of
//! noise (the most entropy-coded bytes a frame of that size carries, so the walk's worst case).
//! `make bench` runs it.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ssd_core::image::jpeg_scan::{check_complete, Scan};
use ssd_core::image::mjpeg::decode_rgb;

fn noise_jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let v = (x * 7 + y * 13 + 3).wrapping_mul(2654435761) >> 24;
        image::Rgb([v as u8, (x * 5) as u8, (y * 3 + 3) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

fn jpeg_scan(c: &mut Criterion) {
    let j = noise_jpeg(1280, 720);
    eprintln!("1280x720 noise JPEG: {} bytes", j.len());
    assert_eq!(check_complete(&j), Ok(Scan::Complete));
    c.bench_function("jpeg_scan walk 1280x720", |b| {
        b.iter(|| check_complete(black_box(&j)))
    });
    let mut out = Vec::new();
    c.bench_function("mjpeg decode_rgb 1280x720 (walk included)", |b| {
        b.iter(|| decode_rgb(black_box(&j), (1280, 720), (1280, 720), &mut out).unwrap())
    });
}

criterion_group!(benches, jpeg_scan);
criterion_main!(benches);
