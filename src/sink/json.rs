//! The JSON shapes `detect`, `run` and `track` print, in one place so they cannot drift apart.

use crate::ssd::Detection;
use crate::track::TrackedObject;
use serde::{Serialize, Serializer};

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
    /// `labels` by class id, one per class (`ModelMeta::labels`).
    pub fn new(d: &Detection, labels: &'a [String], width: u32, height: u32) -> Self {
        DetectionJson {
            class_id: d.class_id,
            label: labels.get(d.class_id as usize).map_or("", String::as_str),
            score: round(d.score, 1e4),
            bbox: to_pixels(d.bbox, width, height),
        }
    }
}

/// A class's label in a JSON line: the known one, else `class_N` as `ModelMeta::label` names it;
/// never `null` or an empty string. Written without allocating.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Label<'a> {
    pub class_id: u16,
    pub known: Option<&'a str>,
}

impl Serialize for Label<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.known {
            Some(label) => s.serialize_str(label),
            None => s.collect_str(&format_args!("class_{}", self.class_id)),
        }
    }
}

/// One confirmed track, as `run --track` and `ssd-edge track` print it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TrackJson<'a> {
    pub id: u32,
    pub class_id: u16,
    pub label: Label<'a>,
    pub score: f32,
    /// Pixels, to 0.01 px.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    pub lost_frames: u32,
}

impl<'a> TrackJson<'a> {
    pub fn new(t: &TrackedObject, label: Option<&'a str>) -> Self {
        TrackJson {
            id: t.id,
            class_id: t.class_id,
            label: Label {
                class_id: t.class_id,
                known: label,
            },
            score: round(t.score, 1e4),
            bbox: t.bbox.map(|v| round(v, 100.0)),
            lost_frames: t.lost_frames,
        }
    }
}

/// A frame's tracks as a JSON array of [`TrackJson`], `label` giving each class id's label.
pub struct TracksJson<'a> {
    pub tracks: &'a [TrackedObject],
    pub label: &'a dyn Fn(u16) -> Option<&'a str>,
}

impl Serialize for TracksJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.tracks
                .iter()
                .map(|t| TrackJson::new(t, (self.label)(t.class_id))),
        )
    }
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
    fn a_detection_is_written_with_its_label_score_and_pixel_box() {
        let t: Vec<String> = ["background", "person", "class_2", "class_3"]
            .map(String::from)
            .into();
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

    #[test]
    fn tracks_without_a_label_are_named_by_class_id() {
        let t = TrackedObject {
            id: 7,
            class_id: 2,
            score: 0.123456,
            bbox: [1.004, 2.0, 3.5, 4.0],
            filtered: [1.0, 2.0, 3.5, 4.0],
            hits: 3,
            lost_frames: 1,
        };
        fn json<'a>(t: &'a [TrackedObject], label: &'a dyn Fn(u16) -> Option<&'a str>) -> String {
            serde_json::to_string(&TracksJson { tracks: t, label }).unwrap()
        }
        let t = [t];
        assert_eq!(
            json(&t, &|_| None),
            r#"[{"id":7,"class_id":2,"label":"class_2","score":0.1235,"box":[1.0,2.0,3.5,4.0],"lost_frames":1}]"#
        );
        assert_eq!(
            json(&t, &|_| Some("car \"x\"")),
            r#"[{"id":7,"class_id":2,"label":"car \"x\"","score":0.1235,"box":[1.0,2.0,3.5,4.0],"lost_frames":1}]"#
        );
    }
}
