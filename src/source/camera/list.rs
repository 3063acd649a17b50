//! Listing devices and what they offer (`ssd-edge cameras`), without streaming.

use super::classify;
use crate::source::{from_fourcc, SourceError};
use std::path::{Path, PathBuf};
use v4l::capability::Flags as CapFlags;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::video::Capture;
use v4l::Device;

/// Everything `ssd-edge cameras` shows about one device.
#[derive(Debug, serde::Serialize)]
pub struct DeviceInfo {
    pub path: PathBuf,
    pub driver: String,
    pub card: String,
    pub bus: String,
    pub capture: bool,
    pub formats: Vec<FormatInfo>,
}

#[derive(Debug, serde::Serialize)]
pub struct FormatInfo {
    pub fourcc: String,
    pub description: String,
    pub supported: bool,
    pub sizes: Vec<SizeInfo>,
}

#[derive(Debug, serde::Serialize)]
pub struct SizeInfo {
    /// `640x480`, or `160x120-1920x1080/8x8` for a stepwise range.
    pub size: String,
    /// Frame rates, e.g. `30`, `15`, or `1-30` for a continuous range.
    pub fps: Vec<String>,
}

/// Queries a device without streaming from it.
pub fn device_info(path: &Path) -> Result<DeviceInfo, SourceError> {
    let err = |what, e| classify(path, what, e);
    let dev = Device::with_path(path).map_err(|e| err("opening", e))?;
    let caps = dev
        .query_caps()
        .map_err(|e| err("querying capabilities", e))?;
    let capture = caps.capabilities.contains(CapFlags::VIDEO_CAPTURE);
    let mut formats = Vec::new();
    if capture {
        for desc in dev.enum_formats().map_err(|e| err("listing formats", e))? {
            let mut sizes = Vec::new();
            for fs in dev.enum_framesizes(desc.fourcc).unwrap_or_default() {
                let (size, probe) = match &fs.size {
                    FrameSizeEnum::Discrete(d) => {
                        (format!("{}x{}", d.width, d.height), (d.width, d.height))
                    }
                    FrameSizeEnum::Stepwise(s) => (
                        format!(
                            "{}x{}-{}x{}/{}x{}",
                            s.min_width,
                            s.min_height,
                            s.max_width,
                            s.max_height,
                            s.step_width,
                            s.step_height
                        ),
                        (s.max_width, s.max_height),
                    ),
                };
                let fps = dev
                    .enum_frameintervals(desc.fourcc, probe.0, probe.1)
                    .unwrap_or_default()
                    .iter()
                    .map(|iv| match &iv.interval {
                        FrameIntervalEnum::Discrete(f) => rate(f),
                        FrameIntervalEnum::Stepwise(s) => {
                            format!("{}-{}", rate(&s.max), rate(&s.min))
                        }
                    })
                    .collect();
                sizes.push(SizeInfo { size, fps });
            }
            formats.push(FormatInfo {
                fourcc: desc.fourcc.to_string(),
                description: desc.description.clone(),
                supported: from_fourcc(desc.fourcc.repr).is_some(),
                sizes,
            });
        }
    }
    Ok(DeviceInfo {
        path: path.into(),
        driver: caps.driver,
        card: caps.card,
        bus: caps.bus,
        capture,
        formats,
    })
}

fn rate(f: &v4l::Fraction) -> String {
    if f.numerator == 0 {
        return "?".into();
    }
    let fps = f.denominator as f64 / f.numerator as f64;
    if (fps - fps.round()).abs() < 1e-6 {
        format!("{}", fps.round())
    } else {
        format!("{fps:.2}")
    }
}

/// `/dev/video*` in numeric order.
pub fn list_device_paths() -> Vec<PathBuf> {
    let mut paths: Vec<(u32, PathBuf)> = std::fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix("video")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    paths.sort();
    paths.into_iter().map(|(_, p)| p).collect()
}
