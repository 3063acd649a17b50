//! The counting set-up of the no-allocation tests: the synthetic street's middle line and a
//! zone over its left part. Included with `#[path]`.

use ssd_edge::count::{Anchor, CountSpec, LineConfig, Units, ZoneConfig};

pub fn street_spec() -> CountSpec {
    CountSpec {
        lines: vec![LineConfig {
            name: "middle".into(),
            a: [0.5, 1.0],
            b: [0.5, 0.0],
            units: Units::Fraction,
            band: None,
            band_height: None,
            anchor: Anchor::Center,
            extend: true,
            classes: None,
        }],
        zones: vec![ZoneConfig {
            name: "left".into(),
            points: vec![[0.0, 0.0], [0.4, 0.0], [0.4, 1.0], [0.0, 1.0]],
            units: Units::Fraction,
            band: None,
            anchor: Anchor::BottomCenter,
            classes: None,
            loiter_seconds: Some(2.0),
        }],
    }
}
