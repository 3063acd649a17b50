//! Any frame -> the model's 1x3xHxW f32 input, in one pass.
//!
//! Resampling is bilinear with half-pixel centres (source x = (x + 0.5) * sw / dw - 0.5,
//! clamped at the borders), the convention of OpenCV's `INTER_LINEAR`, which ssd.pytorch's
//! training pipeline resizes with: a model sees at run time the same kind of pixels it was
//! trained on. It also costs four taps per *output* pixel whatever the camera resolution,
//! which matters on a Pi fed 1080p frames; an area filter would cost per input pixel. The
//! price is some aliasing on large downscales, as in the reference.
//!
//! Pixel format conversion happens in the same loop through `formats`' readers, and the
//! normalisation `(pixel * scale - mean) / std` is folded into one multiply-add per value.
//!
//! The trainer (`ssd-train`) feeds every sample without random augmentation (validation, and
//! training with `--no-augment`) through this same `Preprocessor`, and its augmented samples
//! through the same `Normalization` and `bilinear`: a network sees in training the tensor the
//! board will give it.

use super::formats::{self, FormatError, FormatScratch, PixelReader, ReaderVisitor};
use crate::frame::Frame;
use serde::{Deserialize, Serialize};

/// Channel order of the model's input tensor (channel 0 first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

/// The model input and its normalisation: `value = (pixel * scale - mean[c]) / std[c]` with
/// `pixel` in 0..=255 and `c` in the model's channel order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub width: u32,
    pub height: u32,
    pub channel_order: ChannelOrder,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub scale: f32,
    /// The resampling convention the model was trained with (schema 3; default half-pixel).
    #[serde(default, skip_serializing_if = "Resize::is_half_pixel")]
    pub resize: Resize,
}

/// Where an output pixel samples its source, as the training pipeline resized.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resize {
    /// `(x + 0.5) * in / out - 0.5`: OpenCV's `INTER_LINEAR`, PIL, torchvision.
    #[default]
    HalfPixel,
    /// `x * in / out`: TensorFlow 1's `ResizeBilinear` without `align_corners` or
    /// `half_pixel_centers`, which the TF Object Detection API's SSDs were trained with.
    Tf1,
}

impl Resize {
    pub fn is_half_pixel(&self) -> bool {
        *self == Resize::HalfPixel
    }
}

impl InputSpec {
    /// ssd.pytorch's published weights: RGB minus (123, 117, 104), no scaling.
    pub fn ssd_pytorch(size: u32) -> Self {
        Normalization::SSD_PYTORCH.at_size(size, size)
    }

    /// torchvision: RGB scaled to 0..1, ImageNet mean and std.
    pub fn imagenet_rgb(size: u32) -> Self {
        Normalization::IMAGENET.at_size(size, size)
    }

    /// Number of f32 values in the 1x3xHxW input tensor.
    pub fn tensor_len(&self) -> usize {
        3 * self.width as usize * self.height as usize
    }

    pub fn normalization(&self) -> Normalization {
        Normalization {
            channel_order: self.channel_order,
            mean: self.mean,
            std: self.std,
            scale: self.scale,
        }
    }
}

/// The size-free part of an [`InputSpec`]: `value = (pixel * scale - mean[c]) / std[c]`, `c` in
/// `channel_order`. The trainer normalises with this too (its augmented samples), so train and
/// board agree on channel order and presets by construction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    pub channel_order: ChannelOrder,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub scale: f32,
}

impl Normalization {
    /// Caffe's VGG convention: BGR, VGG means in 0..255 units, no std (the trainer's `ssd`
    /// normalisation).
    pub const CAFFE_BGR: Normalization = Normalization {
        channel_order: ChannelOrder::Bgr,
        mean: [104.0, 117.0, 123.0],
        std: [1.0, 1.0, 1.0],
        scale: 1.0,
    };

    /// What ssd.pytorch's published weights take: it subtracts (104, 117, 123) from OpenCV's
    /// BGR pixels and then swaps the channels to RGB (`VOCDetection.pull_item`), so the
    /// network sees RGB minus (123, 117, 104).
    pub const SSD_PYTORCH: Normalization = Normalization {
        channel_order: ChannelOrder::Rgb,
        mean: [123.0, 117.0, 104.0],
        std: [1.0, 1.0, 1.0],
        scale: 1.0,
    };

    /// torchvision / ImageNet: RGB scaled to 0..1, ImageNet mean and std.
    pub const IMAGENET: Normalization = Normalization {
        channel_order: ChannelOrder::Rgb,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
        scale: 1.0 / 255.0,
    };

    pub fn at_size(&self, width: u32, height: u32) -> InputSpec {
        InputSpec {
            width,
            height,
            channel_order: self.channel_order,
            mean: self.mean,
            std: self.std,
            scale: self.scale,
            resize: Default::default(),
        }
    }

    /// Per source channel (R, G, B): the model channel it feeds, and `value = pixel * gain +
    /// offset`, the normalisation folded into one multiply-add.
    pub fn source_channels(&self) -> SourceChannels {
        let model_channel = match self.channel_order {
            ChannelOrder::Rgb => [0, 1, 2],
            ChannelOrder::Bgr => [2, 1, 0],
        };
        let mut gain = [0.0; 3];
        let mut offset = [0.0; 3];
        for c in 0..3 {
            // mean/std are given in the model's channel order.
            let m = model_channel[c];
            gain[c] = self.scale / self.std[m];
            offset[c] = -self.mean[m] / self.std[m];
        }
        SourceChannels {
            model_channel,
            gain,
            offset,
        }
    }

    /// The mean as an RGB pixel in 0..255: the colour that normalises to zero (the trainer's
    /// zoom-out fill).
    pub fn mean_rgb(&self) -> [f32; 3] {
        let sc = self.source_channels();
        sc.model_channel.map(|mc| self.mean[mc] / self.scale)
    }
}

/// See [`Normalization::source_channels`]; indexed by source channel R, G, B.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SourceChannels {
    pub model_channel: [usize; 3],
    pub gain: [f32; 3],
    pub offset: [f32; 3],
}

/// One output coordinate's two source neighbours and the weight of the second.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Tap {
    i0: u32,
    i1: u32,
    f: f32,
}

fn fill_taps(taps: &mut [Tap], src: u32, mode: Resize) {
    let dst = taps.len();
    let ratio = src as f32 / dst as f32;
    let last = src - 1;
    for (d, tap) in taps.iter_mut().enumerate() {
        let s = match mode {
            Resize::HalfPixel => ((d as f32 + 0.5) * ratio - 0.5).max(0.0),
            // TF computes `d * scale` in f32 with the same scale.
            Resize::Tf1 => d as f32 * ratio,
        };
        let i0 = (s.floor() as u32).min(last);
        let i1 = (i0 + 1).min(last);
        *tap = Tap {
            i0,
            i1,
            f: if i0 == last { 0.0 } else { s - i0 as f32 },
        };
    }
}

/// Converts frames into the model input. Built once per model; `run` allocates nothing
/// (except MJPEG decoding space on its first frame of a new size, in `formats`).
#[derive(Debug)]
pub struct Preprocessor {
    width: u32,
    height: u32,
    channels: SourceChannels,
    taps_x: Vec<Tap>,
    taps_y: Vec<Tap>,
    /// Source size the taps were computed for.
    src_size: (u32, u32),
    resize: Resize,
    scratch: FormatScratch,
}

impl Preprocessor {
    pub fn new(spec: &InputSpec) -> Self {
        Preprocessor {
            width: spec.width,
            height: spec.height,
            channels: spec.normalization().source_channels(),
            taps_x: vec![Tap::default(); spec.width as usize],
            taps_y: vec![Tap::default(); spec.height as usize],
            src_size: (0, 0),
            resize: spec.resize,
            scratch: FormatScratch::default(),
        }
    }

    /// Length of the output buffer `run` fills: 3 * H * W.
    pub fn output_len(&self) -> usize {
        3 * self.width as usize * self.height as usize
    }

    /// Model input size (width, height).
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Resizes, converts and normalises `frame` into `out` (CHW, model channel order).
    pub fn run(&mut self, frame: &Frame<'_>, out: &mut [f32]) -> Result<(), FormatError> {
        assert_eq!(out.len(), self.output_len(), "output buffer must be 3*H*W");
        if frame.width == 0 || frame.height == 0 {
            return Err(FormatError::Empty {
                width: frame.width,
                height: frame.height,
            });
        }
        if self.src_size != (frame.width, frame.height) {
            fill_taps(&mut self.taps_x, frame.width, self.resize);
            fill_taps(&mut self.taps_y, frame.height, self.resize);
            self.src_size = (frame.width, frame.height);
        }
        let job = Resample {
            taps_x: &self.taps_x,
            taps_y: &self.taps_y,
            ch: self.channels,
            out,
        };
        formats::dispatch(frame, &mut self.scratch, job)
    }
}

/// Bilinear blend of the four neighbours `[top-left, top-right, bottom-left, bottom-right]`
/// at fractions `fx`, `fy`: the one arithmetic order train and board both use, so the same
/// pixels give bit-equal values.
#[inline]
pub fn bilinear([a, b, c, d]: [f32; 4], fx: f32, fy: f32) -> f32 {
    let top = a + (b - a) * fx;
    let bottom = c + (d - c) * fx;
    top + (bottom - top) * fy
}

struct Resample<'a> {
    taps_x: &'a [Tap],
    taps_y: &'a [Tap],
    ch: SourceChannels,
    out: &'a mut [f32],
}

impl ReaderVisitor for Resample<'_> {
    type Output = ();

    fn visit<R: PixelReader>(self, r: &R) {
        let w = self.taps_x.len();
        let plane = w * self.taps_y.len();
        // Taps were computed for this frame's size, so every index is in range.
        debug_assert!(self.taps_x.iter().all(|t| t.i1 < r.width()));
        debug_assert!(self.taps_y.iter().all(|t| t.i1 < r.height()));
        let (p0, rest) = self.out.split_at_mut(plane);
        let (p1, p2) = rest.split_at_mut(plane);
        let planes = [p0, p1, p2];
        for (oy, ty) in self.taps_y.iter().enumerate() {
            let row = oy * w;
            for (ox, tx) in self.taps_x.iter().enumerate() {
                let a = r.rgb(tx.i0 as usize, ty.i0 as usize);
                let b = r.rgb(tx.i1 as usize, ty.i0 as usize);
                let c = r.rgb(tx.i0 as usize, ty.i1 as usize);
                let d = r.rgb(tx.i1 as usize, ty.i1 as usize);
                for k in 0..3 {
                    let v = bilinear(
                        [a[k] as f32, b[k] as f32, c[k] as f32, d[k] as f32],
                        tx.f,
                        ty.f,
                    );
                    planes[self.ch.model_channel[k]][row + ox] =
                        v * self.ch.gain[k] + self.ch.offset[k];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::PixelFormat;

    fn spec(w: u32, h: u32, order: ChannelOrder) -> InputSpec {
        InputSpec {
            width: w,
            height: h,
            channel_order: order,
            mean: [0.0; 3],
            std: [1.0; 3],
            scale: 1.0,
            resize: Default::default(),
        }
    }

    fn frame(data: &[u8], format: PixelFormat, w: u32, h: u32) -> Frame<'_> {
        Frame {
            data,
            format,
            width: w,
            height: h,
            timestamp_us: 0,
        }
    }

    #[test]
    fn same_size_is_an_exact_copy_in_chw() {
        let data: Vec<u8> = (0..2 * 2 * 3).map(|v| v as u8 * 10).collect();
        let mut p = Preprocessor::new(&spec(2, 2, ChannelOrder::Rgb));
        let mut out = vec![0.0; p.output_len()];
        p.run(&frame(&data, PixelFormat::Rgb24, 2, 2), &mut out)
            .unwrap();
        // R plane, then G, then B.
        assert_eq!(
            out,
            vec![0., 30., 60., 90., 10., 40., 70., 100., 20., 50., 80., 110.]
        );
    }

    #[test]
    fn bgr_model_and_bgr_frame_round_trip() {
        let rgb = [200u8, 100, 50];
        let bgr = [50u8, 100, 200];
        let mut p = Preprocessor::new(&spec(1, 1, ChannelOrder::Bgr));
        let mut a = vec![0.0; 3];
        let mut b = vec![0.0; 3];
        p.run(&frame(&rgb, PixelFormat::Rgb24, 1, 1), &mut a)
            .unwrap();
        p.run(&frame(&bgr, PixelFormat::Bgr24, 1, 1), &mut b)
            .unwrap();
        assert_eq!(a, vec![50.0, 100.0, 200.0]);
        assert_eq!(a, b);
    }

    #[test]
    fn normalisation_uses_model_channel_order() {
        let s = InputSpec {
            mean: [104.0, 117.0, 123.0],
            std: [1.0, 2.0, 4.0],
            scale: 1.0,
            resize: Default::default(),
            ..spec(1, 1, ChannelOrder::Bgr)
        };
        let mut p = Preprocessor::new(&s);
        let mut out = vec![0.0; 3];
        p.run(&frame(&[200, 100, 50], PixelFormat::Rgb24, 1, 1), &mut out)
            .unwrap();
        assert_eq!(
            out,
            vec![50.0 - 104.0, (100.0 - 117.0) / 2.0, (200.0 - 123.0) / 4.0]
        );
    }

    #[test]
    fn downscale_by_two_averages_pixel_pairs() {
        // 4x1 grey ramp 0, 100, 200, 255 -> 2x1: half-pixel centres land between pairs.
        let data: Vec<u8> = [0u8, 100, 200, 255]
            .iter()
            .flat_map(|&v| [v, v, v])
            .collect();
        let mut p = Preprocessor::new(&spec(2, 1, ChannelOrder::Rgb));
        let mut out = vec![0.0; p.output_len()];
        p.run(&frame(&data, PixelFormat::Rgb24, 4, 1), &mut out)
            .unwrap();
        assert_eq!(&out[0..2], &[50.0, 227.5]);
    }

    #[test]
    fn upscale_keeps_values_within_neighbours_and_edges_clamped() {
        let data = [0u8, 0, 0, 255, 255, 255];
        let mut p = Preprocessor::new(&spec(8, 3, ChannelOrder::Rgb));
        let mut out = vec![0.0; p.output_len()];
        p.run(&frame(&data, PixelFormat::Rgb24, 2, 1), &mut out)
            .unwrap();
        let row = &out[0..8];
        assert_eq!(row[0], 0.0);
        assert_eq!(row[7], 255.0);
        assert!(row.windows(2).all(|w| w[0] <= w[1]), "{row:?}");
    }

    #[test]
    fn changing_frame_size_recomputes_taps() {
        let mut p = Preprocessor::new(&spec(2, 2, ChannelOrder::Rgb));
        let mut out = vec![0.0; p.output_len()];
        p.run(
            &frame(&[9u8; 4 * 4 * 3], PixelFormat::Rgb24, 4, 4),
            &mut out,
        )
        .unwrap();
        p.run(
            &frame(&[7u8; 3 * 5 * 3], PixelFormat::Rgb24, 3, 5),
            &mut out,
        )
        .unwrap();
        assert!(out.iter().all(|&v| v == 7.0));
    }

    #[test]
    fn short_frame_is_an_error_not_a_panic() {
        let mut p = Preprocessor::new(&spec(2, 2, ChannelOrder::Rgb));
        let mut out = vec![0.0; p.output_len()];
        assert!(p
            .run(&frame(&[0u8; 10], PixelFormat::Rgb24, 4, 4), &mut out)
            .is_err());
    }
}
