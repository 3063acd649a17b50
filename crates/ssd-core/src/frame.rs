//! A borrowed video frame: the unit every `source` produces and `image` consumes.

/// Pixel layouts the sources can deliver. The names (`--format`, the config's `format`) are
/// clap's, case-insensitive, with the V4L2 fourccs and common spellings as aliases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum PixelFormat {
    #[value(alias = "rgb3", alias = "rgb")]
    Rgb24,
    #[value(alias = "bgr3", alias = "bgr")]
    Bgr24,
    #[value(alias = "gray", alias = "y8")]
    Grey,
    /// Packed 4:2:2, Y0 U Y1 V.
    #[value(alias = "yuy2")]
    Yuyv,
    /// Planar Y then interleaved UV at half resolution.
    Nv12,
    /// A JPEG image per frame (UVC cameras' compressed mode).
    #[value(alias = "mjpeg")]
    Mjpg,
}

/// One frame's bytes, borrowed from the source's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub data: &'a [u8],
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// Capture time in microseconds since the source started.
    pub timestamp_us: u64,
}

impl<'a> Frame<'a> {
    /// A decoded RGB image as a frame (still images, synthetic scenes, evaluation data).
    pub fn rgb(img: &'a image::RgbImage, timestamp_us: u64) -> Self {
        Frame {
            data: img.as_raw(),
            format: PixelFormat::Rgb24,
            width: img.width(),
            height: img.height(),
            timestamp_us,
        }
    }
}
