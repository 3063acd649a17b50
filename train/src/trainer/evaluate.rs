//! mAP of the network being trained: each validation image resized and normalised as the
//! loader does (no augmentation), forward in inference mode, decoded with the board's
//! decoder (`ssd_core::ssd::Decoder`), scored by `crate::eval`.

use ssd_core::ssd::{ConfKind, Decoder, Detections, NmsConfig};
use ssd_core::synth::Rng;

use super::{TrainError, Trainer};
use crate::data::augment::prepare;
use crate::data::Dataset;
use crate::eval::{evaluate_detector, EvalReport, ScoredBox};
use ssd_core::image::preprocess::Normalization;

pub fn evaluate(
    trainer: &Trainer,
    data: &dyn Dataset,
    norm: &Normalization,
) -> Result<EvalReport, TrainError> {
    let spec = &trainer.spec;
    if data.class_names().len() + 1 != spec.num_classes {
        return Err(TrainError::Eval(format!(
            "validation set has {} classes, the network {} (with background)",
            data.class_names().len(),
            spec.num_classes
        )));
    }
    let s = spec.input_size;
    let mut decoder = Decoder::new(
        spec.priors.generate(),
        spec.num_classes,
        spec.variances,
        NmsConfig::default(),
    )
    // The decode conventions the network trains with (torchvision's clip and size clamp for
    // the tv-* configurations), as the export's metadata gives the board.
    .with_box_decode(spec.decode);
    let mut buf = vec![0f32; 3 * s * s];
    let mut dets = Detections::new();
    let mut rng = Rng::new(0);
    evaluate_detector(data, |_, sample| {
        prepare(sample, None, norm, s, &mut rng, &mut buf).map_err(|e| e.to_string())?;
        let (loc, conf) = trainer.predict(&buf, 1).map_err(|e| e.to_string())?;
        decoder
            .decode(&loc, &conf, ConfKind::Logits, &mut dets)
            .map_err(|e| e.to_string())?;
        Ok(dets
            .iter()
            .map(|d| ScoredBox {
                class_id: d.class_id as usize - 1,
                score: d.score,
                bbox: d.bbox,
            })
            .collect())
    })
    .map_err(|e| TrainError::Eval(e.to_string()))
}
