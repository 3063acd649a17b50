//! Image -> model input for calibration and the accuracy check.
//!
//! Must match the board's preprocessing (`ssd_edge::image::preprocess`): bilinear resize to
//! the model's input size, `(pixel * scale - mean[c]) / std[c]` in the model's channel order,
//! NCHW. Calibrating on differently preprocessed data would calibrate the wrong ranges.

use super::InputSpec;
use tract_onnx::prelude::*;

pub fn to_tensor(img: &image::RgbImage, input: &InputSpec) -> Tensor {
    let (w, h) = (input.width, input.height);
    let resized;
    let img = if img.dimensions() == (w, h) {
        img
    } else {
        resized = image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle);
        &resized
    };
    let plane = (w * h) as usize;
    let mut data = vec![0f32; 3 * plane];
    let order: [usize; 3] = if input.bgr { [2, 1, 0] } else { [0, 1, 2] };
    for (i, px) in img.pixels().enumerate() {
        for (c, &src) in order.iter().enumerate() {
            data[c * plane + i] = (px.0[src] as f32 * input.scale - input.mean[c]) / input.std[c];
        }
    }
    Tensor::from_shape(&[1, 3, h as usize, w as usize], &data).expect("shape matches data")
}
