//! Every camera pixel format converted into the model input through the runtime's
//! preprocessor, compared with the same picture given as RGB (the reference conversion).

#[path = "support/camera_fake.rs"]
mod camera;
mod support;

use camera::*;
use ssd_edge::frame::{Frame, PixelFormat};
use ssd_edge::image::mjpeg::{MjpegDecoder, MjpegError};
use ssd_edge::image::preprocess::{ChannelOrder, InputSpec, Preprocessor};

fn spec() -> InputSpec {
    InputSpec {
        width: 300,
        height: 300,
        channel_order: ChannelOrder::Rgb,
        mean: [0.0; 3],
        std: [1.0; 3],
        scale: 1.0,
        resize: Default::default(),
    }
}

fn format_of(fourcc: &str) -> PixelFormat {
    ssd_edge::source::from_fourcc(fourcc.as_bytes().try_into().unwrap()).unwrap()
}

fn tensor(p: &mut Preprocessor, data: &[u8], format: PixelFormat, w: u32, h: u32) -> Vec<f32> {
    let mut out = vec![0.0; p.output_len()];
    let frame = Frame {
        data,
        format,
        width: w,
        height: h,
        timestamp_us: 0,
    };
    p.run(&frame, &mut out)
        .unwrap_or_else(|e| panic!("{format:?}: {e}"));
    out
}

/// (mean, max) absolute difference in 0..255 pixel units.
fn diff(a: &[f32], b: &[f32]) -> (f32, f32) {
    let d: Vec<f32> = a.iter().zip(b).map(|(x, y)| (x - y).abs()).collect();
    (
        d.iter().sum::<f32>() / d.len() as f32,
        d.iter().cloned().fold(0.0, f32::max),
    )
}

#[test]
fn each_format_matches_the_rgb_reference() {
    let (w, h) = (640, 480);
    let img = gradient(w, h);
    let mut p = Preprocessor::new(&spec());
    let reference = tensor(&mut p, img.as_raw(), PixelFormat::Rgb24, w, h);
    // GREY's reference is the RGB path fed the grey picture.
    let grey_rgb: Vec<u8> = img.pixels().flat_map(|px| [luma(px.0); 3]).collect();
    let grey_reference = tensor(&mut p, &grey_rgb, PixelFormat::Rgb24, w, h);

    // Bounds: YUV rounding (+-1 in Y, UV) is amplified ~1.6x by the matrix; chroma
    // subsampling blurs the hard edges of the test pattern; JPEG at quality 92 is lossy.
    let bounds = [
        ("RGB3", 0.0, 0.0),
        ("BGR3", 0.0, 0.0),
        ("GREY", 0.0, 0.0),
        ("YUYV", 1.0, 8.0),
        ("NV12", 1.0, 8.0),
        ("MJPG", 1.5, 12.0),
    ];
    for (fourcc, mean_bound, max_bound) in bounds {
        let data = encode(&img, fourcc);
        let got = tensor(&mut p, &data, format_of(fourcc), w, h);
        let want = if fourcc == "GREY" {
            &grey_reference
        } else {
            &reference
        };
        let (mean, max) = diff(&got, want);
        println!("{fourcc}: mean abs diff {mean:.3}, max {max:.1} (of 255)");
        assert!(
            mean <= mean_bound && max <= max_bound,
            "{fourcc}: mean {mean}, max {max}"
        );
    }
}

#[test]
fn yuv_readers_agree_with_a_float_reference_on_flat_colours() {
    // On flat areas (no subsampling effect) only rounding remains.
    let colours = [
        [0, 0, 0],
        [255, 255, 255],
        [230, 20, 20],
        [20, 220, 30],
        [30, 40, 200],
        [128, 128, 128],
    ];
    for c in colours {
        let img = image::RgbImage::from_pixel(4, 2, image::Rgb(c));
        for fourcc in ["YUYV", "NV12"] {
            let data = encode(&img, fourcc);
            let mut p = Preprocessor::new(&InputSpec {
                width: 4,
                height: 2,
                ..spec()
            });
            let got = tensor(&mut p, &data, format_of(fourcc), 4, 2);
            for (ch, &v) in c.iter().enumerate() {
                let px = got[ch * 8];
                assert!(
                    (px - v as f32).abs() <= 3.0,
                    "{fourcc} {c:?} channel {ch}: {px}"
                );
            }
        }
    }
}

#[test]
fn bad_frames_are_errors_not_panics() {
    let mut p = Preprocessor::new(&spec());
    let mut out = vec![0.0; p.output_len()];
    let short = [0u8; 100];
    for format in [PixelFormat::Yuyv, PixelFormat::Nv12, PixelFormat::Grey] {
        let frame = Frame {
            data: &short,
            format,
            width: 64,
            height: 48,
            timestamp_us: 0,
        };
        let e = p.run(&frame, &mut out).unwrap_err();
        assert!(e.to_string().contains("needs"), "{format:?}: {e}");
    }
    let jpeg = encode(&gradient(64, 48), "MJPG");
    for cut in [jpeg.len() / 2, 10, 3] {
        let frame = Frame {
            data: &jpeg[..cut],
            format: PixelFormat::Mjpg,
            width: 64,
            height: 48,
            timestamp_us: 0,
        };
        let e = p.run(&frame, &mut out).unwrap_err();
        assert!(e.to_string().contains("corrupt MJPEG"), "cut {cut}: {e}");
    }
    // A valid JPEG of another size than the stream announced.
    let frame = Frame {
        data: &jpeg,
        format: PixelFormat::Mjpg,
        width: 640,
        height: 480,
        timestamp_us: 0,
    };
    assert!(p
        .run(&frame, &mut out)
        .unwrap_err()
        .to_string()
        .contains("64x48"));
}

#[test]
fn mjpeg_decoder_reuses_its_buffer_and_ignores_padding() {
    let img = gradient(64, 48);
    let mut jpeg = encode(&img, "MJPG");
    jpeg.extend_from_slice(&[0; 32]); // UVC cameras pad frames with zeros
    let mut d = MjpegDecoder::new(64, 48).unwrap();
    for _ in 0..2 {
        let frame = Frame {
            data: &jpeg,
            format: PixelFormat::Mjpg,
            width: 64,
            height: 48,
            timestamp_us: 7,
        };
        let rgb = d.decode(frame).unwrap();
        assert_eq!(
            (rgb.format, rgb.width, rgb.height, rgb.timestamp_us),
            (PixelFormat::Rgb24, 64, 48, 7)
        );
        let err: f32 = rgb
            .data
            .iter()
            .zip(img.as_raw())
            .map(|(a, b)| (*a as f32 - *b as f32).abs())
            .sum::<f32>()
            / rgb.data.len() as f32;
        assert!(err < 3.0, "{err}");
    }
    let big = encode(&gradient(128, 96), "MJPG");
    let frame = Frame {
        data: &big,
        format: PixelFormat::Mjpg,
        width: 0,
        height: 0,
        timestamp_us: 0,
    };
    assert!(matches!(d.decode(frame), Err(MjpegError::TooLarge { .. })));
}
