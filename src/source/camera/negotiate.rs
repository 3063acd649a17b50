//! Choosing a capture mode: the user's format if the device has it, the size closest to the
//! wanted one, a rate at least the wanted one, then the cheapest format to read.

use super::classify;
use crate::frame::PixelFormat;
use crate::source::{fourcc, from_fourcc, SourceError, SourceOptions};
use std::path::Path;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{Device, Format, FourCC};

/// Cheapest to read first: packed RGB is a copy, YUYV/NV12 a little arithmetic, MJPEG a JPEG
/// decode per frame; GREY last because the models are trained on colour.
const PREFERENCE: [PixelFormat; 6] = [
    PixelFormat::Rgb24,
    PixelFormat::Bgr24,
    PixelFormat::Yuyv,
    PixelFormat::Nv12,
    PixelFormat::Mjpg,
    PixelFormat::Grey,
];
const DEFAULT_SIZE: (u32, u32) = (640, 480);
const DEFAULT_FPS: u32 = 15;

/// What was negotiated with the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub fps: Option<u32>,
}

/// Sort key of a candidate mode, smallest best: (not the asked format, not the asked size,
/// area difference, slower than asked, preference rank).
type RankKey = (u8, u8, u64, u8, usize);

/// Picks format, size and rate: the user's format if the device has it, then a size as close
/// as possible to the wanted one, then a rate at least the wanted one, then `PREFERENCE`.
pub(super) fn negotiate(
    dev: &Device,
    path: &Path,
    opts: &SourceOptions,
) -> Result<Negotiated, SourceError> {
    let err = |what, e| classify(path, what, e);
    let offered = dev.enum_formats().map_err(|e| err("listing formats", e))?;
    let readable: Vec<PixelFormat> = offered
        .iter()
        .filter_map(|d| from_fourcc(d.fourcc.repr))
        .collect();
    if readable.is_empty() {
        let names: Vec<String> = offered.iter().map(|d| d.fourcc.to_string()).collect();
        return Err(SourceError::UnsupportedFormat {
            path: path.into(),
            offered: if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            },
        });
    }
    if let Some(asked) = opts.format {
        if !readable.contains(&asked) {
            log::warn!(
                "{}: does not offer {}, choosing among {}",
                path.display(),
                String::from_utf8_lossy(&fourcc(asked)),
                readable
                    .iter()
                    .map(|f| String::from_utf8_lossy(&fourcc(*f)).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let want = opts.size.unwrap_or(DEFAULT_SIZE);
    let want_fps = opts.fps.unwrap_or(DEFAULT_FPS);
    let mut best: Option<(RankKey, Negotiated)> = None;
    for &format in &readable {
        let code = FourCC::new(&fourcc(format));
        let sizes = dev.enum_framesizes(code).unwrap_or_default();
        let (w, h) = closest_size(&sizes, want);
        let max_fps = dev.enum_frameintervals(code, w, h).ok().and_then(|ivs| {
            ivs.iter()
                .filter_map(|iv| fastest(&iv.interval))
                .reduce(f64::max)
        });
        let key = (
            (opts.format != Some(format)) as u8,
            ((w, h) != want) as u8,
            (w as i64 * h as i64 - want.0 as i64 * want.1 as i64).unsigned_abs(),
            max_fps.is_some_and(|f| f + 0.01 < want_fps as f64) as u8,
            PREFERENCE.iter().position(|p| *p == format).unwrap_or(99),
        );
        let mode = Negotiated {
            format,
            width: w,
            height: h,
            fps: Some(want_fps),
        };
        if best.as_ref().is_none_or(|(k, _)| key < *k) {
            best = Some((key, mode));
        }
    }
    let (_, mut mode) = best.expect("readable is not empty");

    let code = FourCC::new(&fourcc(mode.format));
    let set = dev
        .set_format(&Format::new(mode.width, mode.height, code))
        .map_err(|e| err("setting the format", e))?;
    if set.fourcc != code {
        return Err(SourceError::UnsupportedFormat {
            path: path.into(),
            offered: format!("driver replaced {code} with {}", set.fourcc),
        });
    }
    let tight = match mode.format {
        PixelFormat::Rgb24 | PixelFormat::Bgr24 => set.width * 3,
        PixelFormat::Yuyv => set.width * 2,
        PixelFormat::Grey | PixelFormat::Nv12 => set.width,
        PixelFormat::Mjpg => set.stride,
    };
    if set.stride != 0 && set.stride != tight {
        return Err(SourceError::UnsupportedFormat {
            path: path.into(),
            offered: format!("{code} with padded rows ({} bytes per row)", set.stride),
        });
    }
    mode.width = set.width;
    mode.height = set.height;
    mode.fps = match dev.set_params(&Parameters::with_fps(want_fps)) {
        Ok(p) if p.interval.numerator > 0 => {
            Some((p.interval.denominator as f64 / p.interval.numerator as f64).round() as u32)
        }
        Ok(_) => None,
        Err(e) => {
            log::warn!("{}: cannot set {want_fps} fps: {e}", path.display());
            None
        }
    };
    Ok(mode)
}

fn closest_size(sizes: &[v4l::FrameSize], want: (u32, u32)) -> (u32, u32) {
    let area = |w: u32, h: u32| (w as i64 * h as i64 - want.0 as i64 * want.1 as i64).abs();
    let mut best: Option<(u32, u32)> = None;
    let mut consider = |w: u32, h: u32| {
        if best.is_none_or(|(bw, bh)| area(w, h) < area(bw, bh)) {
            best = Some((w, h));
        }
    };
    for s in sizes {
        match &s.size {
            FrameSizeEnum::Discrete(d) => consider(d.width, d.height),
            FrameSizeEnum::Stepwise(s) => {
                let snap = |v: u32, lo: u32, hi: u32, step: u32| {
                    let v = v.clamp(lo, hi);
                    lo + (v - lo) / step.max(1) * step.max(1)
                };
                consider(
                    snap(want.0, s.min_width, s.max_width, s.step_width),
                    snap(want.1, s.min_height, s.max_height, s.step_height),
                );
            }
        }
    }
    best.unwrap_or(want)
}

/// Highest frame rate an interval description allows.
fn fastest(iv: &FrameIntervalEnum) -> Option<f64> {
    let f = match iv {
        FrameIntervalEnum::Discrete(f) => f,
        FrameIntervalEnum::Stepwise(s) => &s.min,
    };
    (f.numerator > 0).then(|| f.denominator as f64 / f.numerator as f64)
}
