//! Image -> model input for calibration and the accuracy check, through the board's own
//! preprocessing (`ssd_core::image::Preprocessor`: bilinear resize with half-pixel centres,
//! `(pixel * scale - mean[c]) / std[c]` in the model's channel order, NCHW). Calibrating on
//! differently preprocessed pixels would calibrate the wrong ranges.

use super::InputSpec;
use ssd_core::frame::Frame;
use ssd_core::image::preprocess::Preprocessor;
use tract_onnx::prelude::*;

pub fn to_tensor(img: &image::RgbImage, input: &InputSpec) -> Result<Tensor, String> {
    let mut pre = Preprocessor::new(input);
    let mut data = vec![0f32; pre.output_len()];
    let frame = Frame::rgb(img, 0);
    pre.run(&frame, &mut data).map_err(|e| e.to_string())?;
    Tensor::from_shape(&[1, 3, input.height as usize, input.width as usize], &data)
        .map_err(|e| e.to_string())
}
