//! The JSON shapes `detect` and `run` print, in one place so they cannot drift apart.

use crate::ssd::Detection;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DetectionJson<'a> {
    pub class_id: u16,
    pub label: &'a str,
    pub score: f32,
    /// Pixels of the image, clipped to it, to 0.01 px.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

impl<'a> DetectionJson<'a> {
    /// `labels` by class id, as [`label_table`] builds them.
    pub fn new(d: &Detection, labels: &'a [String], width: u32, height: u32) -> Self {
        DetectionJson {
            class_id: d.class_id,
            label: labels.get(d.class_id as usize).map_or("", String::as_str),
            score: round(d.score, 1e4),
            bbox: to_pixels(d.bbox, width, height),
        }
    }
}

/// A label for every class id the model has; ids without one are named `class_N` (the same
/// name `ssd-edge info` shows), never `null` or `?`.
pub fn label_table(labels: &[String], num_classes: usize) -> Vec<String> {
    (0..num_classes.max(labels.len()))
        .map(|k| {
            labels
                .get(k)
                .cloned()
                .unwrap_or_else(|| format!("class_{k}"))
        })
        .collect()
}

fn round(v: f32, scale: f32) -> f32 {
    (v * scale).round() / scale
}

/// Normalised box to pixels of a `width` x `height` image, clipped, to 0.01 px.
pub fn to_pixels(b: [f32; 4], width: u32, height: u32) -> [f32; 4] {
    let (w, h) = (width as f32, height as f32);
    [
        round((b[0] * w).clamp(0.0, w), 100.0),
        round((b[1] * h).clamp(0.0, h), 100.0),
        round((b[2] * w).clamp(0.0, w), 100.0),
        round((b[3] * h).clamp(0.0, h), 100.0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_labels_are_named_by_class_id() {
        let t = label_table(&["background".into(), "person".into()], 4);
        assert_eq!(t, ["background", "person", "class_2", "class_3"]);
        let d = Detection {
            class_id: 3,
            score: 0.876543,
            bbox: [0.1, 0.2, 1.2, 0.5],
        };
        let j = DetectionJson::new(&d, &t, 200, 100);
        assert_eq!(
            serde_json::to_string(&j).unwrap(),
            r#"{"class_id":3,"label":"class_3","score":0.8765,"box":[20.0,20.0,200.0,50.0]}"#
        );
    }
}
