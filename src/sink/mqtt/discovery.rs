//! Home Assistant MQTT discovery: one retained config per sensor under
//! `<discovery_prefix>/sensor/<node>/<object>/config`, all on one device per board, so the
//! counters appear in Home Assistant with no YAML. Totals are `total_increasing` (Home
//! Assistant's long-term statistics then survive a counter reset), occupancy `measurement`.

use super::topics::{object_id, total_name, Topics};
use crate::count::TotalKey;
use serde_json::{json, Value};

pub struct Discovery {
    prefix: String,
    /// `ssd-edge_<device>`: the device identifier and the node id of every config topic.
    node: String,
    device: Value,
    availability: String,
}

impl Discovery {
    pub fn new(prefix: &str, device: &str, topics: &Topics, model: &str) -> Self {
        let node = object_id(&format!("ssd-edge_{device}"));
        Discovery {
            prefix: prefix.to_string(),
            device: json!({
                "identifiers": [node.clone()],
                "name": device,
                "manufacturer": "ssd-edge",
                // The model file's name, not where it lives on this board.
                "model": std::path::Path::new(model)
                    .file_name()
                    .map_or(model.into(), |n| n.to_string_lossy()),
                "sw_version": env!("CARGO_PKG_VERSION"),
            }),
            node,
            availability: topics.availability(),
        }
    }

    fn config(&self, object: &str, mut fields: Value) -> (String, Vec<u8>) {
        let object = object_id(object);
        let m = fields.as_object_mut().expect("an object");
        m.insert("unique_id".into(), format!("{}_{object}", self.node).into());
        m.insert(
            "availability_topic".into(),
            self.availability.clone().into(),
        );
        m.insert("device".into(), self.device.clone());
        (
            format!("{}/sensor/{}/{object}/config", self.prefix, self.node),
            serde_json::to_vec(&fields).expect("JSON of plain values"),
        )
    }

    pub fn total(&self, topics: &Topics, k: &TotalKey) -> (String, Vec<u8>) {
        let mut object = format!("total_{}_{}_{}", k.place, k.kind.as_str(), k.label);
        if let Some(d) = k.direction {
            object = format!("{object}_{}", d.as_str());
        }
        self.config(
            &object,
            json!({
                "name": total_name(k),
                "state_topic": topics.total(k),
                "state_class": "total_increasing",
                "icon": "mdi:counter",
            }),
        )
    }

    pub fn occupancy(&self, topics: &Topics, zone: &str, label: &str) -> (String, Vec<u8>) {
        self.config(
            &format!("occupancy_{zone}_{label}"),
            json!({
                "name": format!("{zone} {label} occupancy"),
                "state_topic": topics.occupancy(zone, label),
                "state_class": "measurement",
                "icon": "mdi:account-group",
            }),
        )
    }

    /// The health sensors, read from the stats message with a template.
    pub fn stats(&self, topics: &Topics) -> Vec<(String, Vec<u8>)> {
        let stats = topics.stats();
        let sensor = |key: &str, name: &str, extra: Value| {
            let mut f = json!({
                "name": name,
                "state_topic": stats,
                "value_template": format!("{{{{ value_json.{key} }}}}"),
                "entity_category": "diagnostic",
            });
            for (k, v) in extra.as_object().expect("an object") {
                f[k] = v.clone();
            }
            self.config(key, f)
        };
        vec![
            sensor(
                "fps",
                "Frame rate",
                json!({"unit_of_measurement": "fps", "state_class": "measurement"}),
            ),
            sensor(
                "inference_ms",
                "Inference time",
                json!({"unit_of_measurement": "ms", "state_class": "measurement",
                       "device_class": "duration"}),
            ),
            sensor(
                "dropped_frames",
                "Dropped frames",
                json!({"state_class": "total_increasing"}),
            ),
            sensor("camera", "Camera", json!({"icon": "mdi:cctv"})),
        ]
    }
}
