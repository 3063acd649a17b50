//! Lines and zones as the config file states them (`[[line]]`, `[[zone]]`), their validation,
//! and their resolution into pixels once the frame size is known.

use super::event::{name, Name};
use super::geometry::{doubled_area, self_intersection, Anchor, Point};
use super::line::LineGeom;
use super::zone::ZoneGeom;
use serde::Deserialize;

/// Coordinates of a line or zone: fractions of the frame (0..1, resolution independent) or
/// pixels of the frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Units {
    #[default]
    Fraction,
    Pixels,
}

/// Default half-width of the hysteresis band: 2 % of the frame's shorter side.
pub const DEFAULT_BAND: f32 = 0.02;

/// Default cap on a line's band as a fraction of the box's height (`band_height`), chosen on
/// the synthetic tuning sequences (seeds 201-208, `make eval-count`, docs/tracking.md), never on
/// footage the counts are reported on.
pub const DEFAULT_BAND_HEIGHT: f32 = 0.1;

/// Largest `band_height`: at 100 box heights the cap never binds (the band stays fixed).
pub const MAX_BAND_HEIGHT: f32 = 100.0;

/// `[[line]]`: a directed segment A->B; `in` is crossing from its left to its right.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    pub name: String,
    pub a: Point,
    pub b: Point,
    #[serde(default)]
    pub units: Units,
    /// Half-width of the hysteresis band, in `units` (a fraction of the shorter side).
    pub band: Option<f32>,
    /// Cap on the band as a fraction of the box's height [default: `DEFAULT_BAND_HEIGHT`];
    /// `MAX_BAND_HEIGHT` keeps the band fixed.
    pub band_height: Option<f32>,
    #[serde(default)]
    pub anchor: Anchor,
    /// Count crossings of the infinite line through A and B, not only of the segment.
    #[serde(default)]
    pub extend: bool,
    /// Labels to count [default: all of the model's].
    pub classes: Option<Vec<String>>,
}

/// `[[zone]]`: a polygon with occupancy, entries, exits and loitering.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub name: String,
    pub points: Vec<Point>,
    #[serde(default)]
    pub units: Units,
    pub band: Option<f32>,
    #[serde(default)]
    pub anchor: Anchor,
    pub classes: Option<Vec<String>>,
    /// Seconds in the zone after which a loitering event is emitted (once per visit).
    pub loiter_seconds: Option<f64>,
}

/// Lines and zones of one camera.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CountSpec {
    pub lines: Vec<LineConfig>,
    pub zones: Vec<ZoneConfig>,
}

/// A config problem, located by key (`line[0].a`), for the caller to prefix with the file.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SpecError {
    pub key: String,
    pub message: String,
}

fn err(key: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError {
        key: key.into(),
        message: message.into(),
    }
}

/// A resolved line: pixels, class filter, name.
#[derive(Clone, Debug, PartialEq)]
pub struct PlacedLine {
    pub name: Name,
    pub geom: LineGeom,
    /// Indexed by model class id.
    pub counts_class: Vec<bool>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlacedZone {
    pub name: Name,
    pub geom: ZoneGeom,
    pub counts_class: Vec<bool>,
}

impl CountSpec {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.zones.is_empty()
    }

    /// Checks everything that does not need the frame size. `labels` are the model's, by class
    /// id (0 is the background).
    pub fn validate(&self, labels: &[String]) -> Result<(), SpecError> {
        self.validate_shape()?;
        for (i, l) in self.lines.iter().enumerate() {
            check_classes(
                &format!("line[{i}] ({})", l.name),
                l.classes.as_deref(),
                labels,
            )?;
        }
        for (i, z) in self.zones.iter().enumerate() {
            check_classes(
                &format!("zone[{i}] ({})", z.name),
                z.classes.as_deref(),
                labels,
            )?;
        }
        Ok(())
    }

    /// Names, derived names, geometry and ranges: everything that needs neither the model's
    /// labels nor the frame size, so `edge.toml` is checked before the model is loaded.
    pub fn validate_shape<'s>(&'s self) -> Result<(), SpecError> {
        let mut names: Vec<&str> = Vec::new();
        // Each derived name (topic level, HA object id / unique_id) with the place it came
        // from: two places must not share one, or they publish to one topic / one sensor.
        let mut derived: Vec<(String, &str)> = Vec::new();
        let mut check_name = |key: &str, n: &'s str| -> Result<(), SpecError> {
            if n.is_empty() {
                return Err(err(format!("{key}.name"), "must not be empty"));
            }
            if n.len() > Name::new().capacity() {
                return Err(err(
                    format!("{key}.name"),
                    format!("`{n}` is longer than {} bytes", Name::new().capacity()),
                ));
            }
            if names.contains(&n) {
                return Err(err(
                    format!("{key}.name"),
                    format!("`{n}` is used twice (line and zone names must be unique)"),
                ));
            }
            if let Some((d, other)) = derived_names(n)
                .into_iter()
                .find_map(|d| derived.iter().find(|(e, _)| *e == d).cloned())
            {
                return Err(err(
                    format!("{key}.name"),
                    format!(
                        "`{n}` and `{other}` both become `{d}` as an MQTT topic level or Home \
                         Assistant id: rename one (letters, digits, - and _ stay as they are)"
                    ),
                ));
            }
            for d in derived_names(n) {
                derived.push((d, n));
            }
            names.push(n);
            Ok(())
        };
        for (i, l) in self.lines.iter().enumerate() {
            let key = format!("line[{i}]");
            check_name(&key, &l.name)?;
            let key = format!("line[{i}] ({})", l.name);
            check_point(&key, "a", l.a, l.units)?;
            check_point(&key, "b", l.b, l.units)?;
            if l.a == l.b {
                return Err(err(
                    format!("{key}.b"),
                    "zero-length line: a and b are the same point",
                ));
            }
            check_band(&key, l.band, l.units)?;
            if let Some(k) = l.band_height {
                if !(k.is_finite() && (0.0..=MAX_BAND_HEIGHT).contains(&k)) {
                    return Err(err(
                        format!("{key}.band_height"),
                        format!("{k} is outside [0, {MAX_BAND_HEIGHT}] (box heights)"),
                    ));
                }
            }
            check_length(&key, l.a, l.b, l.units)?;
        }
        for (i, z) in self.zones.iter().enumerate() {
            let key = format!("zone[{i}]");
            check_name(&key, &z.name)?;
            let key = format!("zone[{i}] ({})", z.name);
            if z.points.len() < 3 {
                return Err(err(
                    format!("{key}.points"),
                    format!("a zone needs at least 3 points, got {}", z.points.len()),
                ));
            }
            for (j, p) in z.points.iter().enumerate() {
                check_point(&key, &format!("points[{j}]"), *p, z.units)?;
            }
            if let Some((e1, e2)) = self_intersection(&z.points) {
                return Err(err(
                    format!("{key}.points"),
                    format!("self-intersecting polygon: edge {e1} crosses edge {e2}"),
                ));
            }
            if doubled_area(&z.points).abs() < 1e-6 {
                return Err(err(
                    format!("{key}.points"),
                    "degenerate polygon (no area: the points are on one line)",
                ));
            }
            check_band(&key, z.band, z.units)?;
            if let Some(s) = z.loiter_seconds {
                if !(s.is_finite() && s > 0.0 && s < 1e7) {
                    return Err(err(
                        format!("{key}.loiter_seconds"),
                        format!("{s}: must be a positive number of seconds"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Lines and zones in pixels of a `width` x `height` frame. Validates first; pixel
    /// coordinates outside the frame are errors here.
    pub fn resolve(
        &self,
        width: u32,
        height: u32,
        labels: &[String],
    ) -> Result<(Vec<PlacedLine>, Vec<PlacedZone>), SpecError> {
        self.validate(labels)?;
        let (w, h) = (width as f32, height as f32);
        let short = w.min(h);
        let px = |key: &str, field: &str, p: Point, units: Units| -> Result<Point, SpecError> {
            match units {
                Units::Fraction => Ok([p[0] * w, p[1] * h]),
                Units::Pixels => {
                    if p[0] < 0.0 || p[1] < 0.0 || p[0] > w || p[1] > h {
                        Err(err(
                            format!("{key}.{field}"),
                            format!("[{}, {}] is outside the {width}x{height} frame", p[0], p[1]),
                        ))
                    } else {
                        Ok(p)
                    }
                }
            }
        };
        let band = |b: Option<f32>, units: Units| match (b, units) {
            (None, _) => DEFAULT_BAND * short,
            (Some(b), Units::Fraction) => b * short,
            (Some(b), Units::Pixels) => b,
        };
        let mut lines = Vec::with_capacity(self.lines.len());
        for (i, l) in self.lines.iter().enumerate() {
            let key = format!("line[{i}] ({})", l.name);
            lines.push(PlacedLine {
                name: name(&l.name),
                geom: LineGeom {
                    a: px(&key, "a", l.a, l.units)?,
                    b: px(&key, "b", l.b, l.units)?,
                    band: band(l.band, l.units),
                    band_height: l.band_height.unwrap_or(DEFAULT_BAND_HEIGHT),
                    anchor: l.anchor,
                    extend: l.extend,
                },
                counts_class: class_mask(l.classes.as_deref(), labels),
            });
        }
        let mut zones = Vec::with_capacity(self.zones.len());
        for (i, z) in self.zones.iter().enumerate() {
            let key = format!("zone[{i}] ({})", z.name);
            let mut points = Vec::with_capacity(z.points.len());
            for (j, p) in z.points.iter().enumerate() {
                points.push(px(&key, &format!("points[{j}]"), *p, z.units)?);
            }
            zones.push(PlacedZone {
                name: name(&z.name),
                geom: ZoneGeom {
                    points,
                    band: band(z.band, z.units),
                    anchor: z.anchor,
                    loiter_ms: z.loiter_seconds.map(|s| (s * 1000.0).round() as u64),
                },
                counts_class: class_mask(z.classes.as_deref(), labels),
            });
        }
        Ok((lines, zones))
    }
}

fn check_point(key: &str, field: &str, p: Point, units: Units) -> Result<(), SpecError> {
    if !(p[0].is_finite() && p[1].is_finite()) {
        return Err(err(
            format!("{key}.{field}"),
            "coordinates must be finite numbers",
        ));
    }
    match units {
        Units::Fraction if !(0.0..=1.0).contains(&p[0]) || !(0.0..=1.0).contains(&p[1]) => {
            Err(err(
                format!("{key}.{field}"),
                format!(
                    "[{}, {}] is outside the frame: fractions run from 0 to 1 \
                     (for pixel coordinates set units = \"pixels\")",
                    p[0], p[1]
                ),
            ))
        }
        Units::Pixels if p[0] < 0.0 || p[1] < 0.0 => Err(err(
            format!("{key}.{field}"),
            format!("[{}, {}] is outside the frame", p[0], p[1]),
        )),
        _ => Ok(()),
    }
}

/// The names a place name becomes outside: the MQTT topic level and the Home Assistant
/// object id (unique_id, discovery topic), the latter compared without case since Home
/// Assistant lowercases entity ids. /metrics label values are escaped one-to-one, so they
/// cannot collide when the names differ.
pub fn derived_names(name: &str) -> Vec<String> {
    let level = crate::count::event::topic_level(name);
    let object = crate::count::event::object_id(name).to_ascii_lowercase();
    if level == object {
        vec![level]
    } else {
        vec![level, object]
    }
}

/// Largest hysteresis band: half the shorter side as a fraction, 10,000 px in pixels (above
/// any frame `MAX_FRAME_PIXELS` allows). A wider band never lets a track leave it: no counts.
pub const MAX_BAND_FRACTION: f32 = 0.5;
pub const MAX_BAND_PIXELS: f32 = 10_000.0;

/// Shortest counting line: 0.001 of the frame (a third of a pixel at 300 px) or 1 pixel. A
/// shorter one cannot be crossed in any frame that counting sees.
pub const MIN_LINE_FRACTION: f32 = 0.001;
pub const MIN_LINE_PIXELS: f32 = 1.0;

fn check_band(key: &str, band: Option<f32>, units: Units) -> Result<(), SpecError> {
    let max = match units {
        Units::Fraction => MAX_BAND_FRACTION,
        Units::Pixels => MAX_BAND_PIXELS,
    };
    match band {
        Some(b) if !(b.is_finite() && (0.0..=max).contains(&b)) => Err(err(
            format!("{key}.band"),
            format!("{b} is outside [0, {max}] ({})", units_word(units)),
        )),
        _ => Ok(()),
    }
}

fn check_length(key: &str, a: Point, b: Point, units: Units) -> Result<(), SpecError> {
    let min = match units {
        Units::Fraction => MIN_LINE_FRACTION,
        Units::Pixels => MIN_LINE_PIXELS,
    };
    let len = f64::from(a[0] - b[0]).hypot(f64::from(a[1] - b[1]));
    if len < f64::from(min) {
        return Err(err(
            format!("{key}.b"),
            format!(
                "the line is {len:.3e} long; it must be at least {min} ({}) to be crossed",
                units_word(units)
            ),
        ));
    }
    Ok(())
}

fn units_word(units: Units) -> &'static str {
    match units {
        Units::Fraction => "a fraction of the frame",
        Units::Pixels => "pixels",
    }
}

fn check_classes(
    key: &str,
    classes: Option<&[String]>,
    labels: &[String],
) -> Result<(), SpecError> {
    let Some(classes) = classes else {
        return Ok(());
    };
    if classes.is_empty() {
        return Err(err(
            format!("{key}.classes"),
            "empty list (leave the key out to count every class)",
        ));
    }
    for (i, c) in classes.iter().enumerate() {
        if !labels.iter().skip(1).any(|l| l == c) {
            return Err(err(
                format!("{key}.classes"),
                format!(
                    "unknown class `{c}` (the model's labels: {})",
                    labels.get(1..).unwrap_or_default().join(", ")
                ),
            ));
        }
        if classes[..i].contains(c) {
            return Err(err(
                format!("{key}.classes"),
                format!("`{c}` is listed twice"),
            ));
        }
    }
    Ok(())
}

fn class_mask(classes: Option<&[String]>, labels: &[String]) -> Vec<bool> {
    (0..labels.len())
        .map(|k| k > 0 && classes.is_none_or(|cs| cs.iter().any(|c| *c == labels[k])))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        ["background", "person", "car", "bicycle"]
            .map(String::from)
            .to_vec()
    }

    fn line(a: Point, b: Point) -> LineConfig {
        LineConfig {
            name: "door".into(),
            a,
            b,
            units: Units::Fraction,
            band: None,
            band_height: None,
            anchor: Anchor::default(),
            extend: false,
            classes: None,
        }
    }

    fn zone(points: Vec<Point>) -> ZoneConfig {
        ZoneConfig {
            name: "yard".into(),
            points,
            units: Units::Fraction,
            band: None,
            anchor: Anchor::default(),
            classes: None,
            loiter_seconds: None,
        }
    }

    fn spec_err(spec: CountSpec) -> SpecError {
        spec.validate(&labels()).unwrap_err()
    }

    fn named(n: &str) -> LineConfig {
        LineConfig {
            name: n.into(),
            ..line([0.0, 0.5], [1.0, 0.5])
        }
    }

    #[test]
    fn names_colliding_after_derivation_are_refused_naming_both() {
        for (a, b, derived) in [
            ("a/b", "a_b", "a_b"),
            ("a b", "a+b", "a_b"),
            ("Tür", "Tör", "t_r"),
            ("Door", "door", "door"),
            ("x#", "x\t", "x_"),
        ] {
            let e = spec_err(CountSpec {
                lines: vec![named(a)],
                zones: vec![ZoneConfig {
                    name: b.into(),
                    ..zone(vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
                }],
            });
            assert_eq!(e.key, "zone[0].name", "{e}");
            assert!(
                e.message
                    .contains(&format!("`{b}` and `{a}` both become `{derived}`")),
                "{e}"
            );
        }
        let ok = CountSpec {
            lines: vec![named("door-1"), named("door_1"), named("Tür")],
            zones: vec![],
        };
        ok.validate(&labels()).unwrap();
    }

    proptest::proptest! {
        /// Any two names: accepted together only if every derived name differs.
        #[test]
        fn accepted_names_have_distinct_derived_names(
            a in "[a-zA-Z0-9_ /+#äöüÄ.-]{1,6}",
            b in "[a-zA-Z0-9_ /+#äöüÄ.-]{1,6}",
        ) {
            let spec = CountSpec { lines: vec![named(&a), named(&b)], zones: vec![] };
            let lv = |n: &str| crate::count::event::topic_level(n);
            let oid = |n: &str| crate::count::event::object_id(n).to_ascii_lowercase();
            match spec.validate(&labels()) {
                Ok(()) => {
                    proptest::prop_assert_ne!(lv(&a), lv(&b));
                    proptest::prop_assert_ne!(oid(&a), oid(&b));
                    proptest::prop_assert_ne!(oid(&a), lv(&b));
                    proptest::prop_assert_ne!(lv(&a), oid(&b));
                }
                Err(e) => {
                    proptest::prop_assert_eq!(e.key.as_str(), "line[1].name");
                    proptest::prop_assert!(
                        a == b || lv(&a) == lv(&b) || oid(&a) == oid(&b)
                            || oid(&a) == lv(&b) || lv(&a) == oid(&b),
                        "{} refused: {}", b, e
                    );
                    let quoted = format!("`{b}`");
                    proptest::prop_assert!(e.message.contains(&quoted), "{}", e);
                }
            }
        }

        /// Bands and line lengths: accepted exactly inside the stated range; the error says it.
        #[test]
        fn bands_and_lengths_are_range_checked(
            band in proptest::prop_oneof![
                proptest::num::f32::ANY,
                0.0f32..1.0,
                0.0f32..20_000.0,
            ],
            len in proptest::prop_oneof![0.0f32..0.01, 1e-45f32..1e-3, 0.0f32..1.0],
            pixels: bool,
        ) {
            let units = if pixels { Units::Pixels } else { Units::Fraction };
            let scale = if pixels { 1000.0 } else { 1.0 };
            let mut l = line([0.0, 0.5 * scale], [len * scale, 0.5 * scale]);
            l.units = units;
            l.band = Some(band);
            let (max_band, min_len) = if pixels {
                (MAX_BAND_PIXELS, MIN_LINE_PIXELS)
            } else {
                (MAX_BAND_FRACTION, MIN_LINE_FRACTION)
            };
            let band_ok = band.is_finite() && (0.0..=max_band).contains(&band);
            let len_ok = f64::from(len * scale) >= f64::from(min_len);
            let r = CountSpec { lines: vec![l], zones: vec![] }.validate(&labels());
            match r {
                Ok(()) => proptest::prop_assert!(band_ok && len_ok),
                Err(e) if e.key.ends_with(".band") => {
                    proptest::prop_assert!(!band_ok);
                    proptest::prop_assert!(e.message.contains(&format!("outside [0, {max_band}]")), "{}", e);
                }
                Err(e) => {
                    proptest::prop_assert!(!len_ok, "{}", e);
                    proptest::prop_assert!(
                        e.message.contains("zero-length")
                            || e.message.contains(&format!("at least {min_len}")),
                        "{}", e
                    );
                }
            }
        }
    }

    #[test]
    fn bad_lines_are_named() {
        let e = spec_err(CountSpec {
            lines: vec![line([0.5, 0.5], [0.5, 0.5])],
            zones: vec![],
        });
        assert_eq!(e.key, "line[0] (door).b");
        assert!(e.message.contains("zero-length"), "{e}");
        let e = spec_err(CountSpec {
            lines: vec![line([0.5, 1.5], [0.5, 0.0])],
            zones: vec![],
        });
        assert!(e.message.contains("outside the frame"), "{e}");
        let mut l = line([0.0, 0.0], [1.0, 1.0]);
        l.classes = Some(vec!["dog".into()]);
        let e = spec_err(CountSpec {
            lines: vec![l],
            zones: vec![],
        });
        assert!(e.message.contains("unknown class `dog`"), "{e}");
        assert!(e.message.contains("person, car, bicycle"), "{e}");
    }

    #[test]
    fn bad_zones_are_named() {
        let e = spec_err(CountSpec {
            lines: vec![],
            zones: vec![zone(vec![[0.0, 0.0], [1.0, 1.0]])],
        });
        assert!(e.message.contains("at least 3"), "{e}");
        let e = spec_err(CountSpec {
            lines: vec![],
            zones: vec![zone(vec![[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]])],
        });
        assert!(e.message.contains("degenerate"), "{e}");
        let e = spec_err(CountSpec {
            lines: vec![],
            zones: vec![zone(vec![[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])],
        });
        assert!(e.message.contains("self-intersecting"), "{e}");
    }

    #[test]
    fn names_are_unique_across_lines_and_zones() {
        let mut z = zone(vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]);
        z.name = "door".into();
        let e = spec_err(CountSpec {
            lines: vec![line([0.0, 0.0], [1.0, 1.0])],
            zones: vec![z],
        });
        assert_eq!(e.key, "zone[0].name");
        assert!(e.message.contains("used twice"), "{e}");
    }

    #[test]
    fn resolves_fractions_and_checks_pixels_against_the_frame() {
        let mut px = line([10.0, 10.0], [400.0, 10.0]);
        px.units = Units::Pixels;
        px.name = "px".into();
        let spec = CountSpec {
            lines: vec![line([0.5, 1.0], [0.5, 0.0]), px],
            zones: vec![],
        };
        let e = spec.resolve(300, 200, &labels()).unwrap_err();
        assert!(e.message.contains("outside the 300x200 frame"), "{e}");
        let (lines, _) = spec.resolve(640, 480, &labels()).unwrap();
        assert_eq!(lines[0].geom.a, [320.0, 480.0]);
        assert_eq!(lines[0].geom.band, DEFAULT_BAND * 480.0);
        assert_eq!(lines[0].geom.band_height, DEFAULT_BAND_HEIGHT);
        assert_eq!(lines[0].counts_class, vec![false, true, true, true]);
    }

    #[test]
    fn band_height_is_range_checked_and_resolved() {
        for bad in [-0.1, f32::NAN, f32::INFINITY, MAX_BAND_HEIGHT + 1.0] {
            let mut l = line([0.5, 1.0], [0.5, 0.0]);
            l.band_height = Some(bad);
            let e = spec_err(CountSpec {
                lines: vec![l],
                zones: vec![],
            });
            assert_eq!(e.key, "line[0] (door).band_height", "{bad}");
            assert!(e.message.contains("outside [0, 100]"), "{e}");
        }
        let mut l = line([0.5, 1.0], [0.5, 0.0]);
        l.band_height = Some(0.25);
        let spec = CountSpec {
            lines: vec![l],
            zones: vec![],
        };
        let (lines, _) = spec.resolve(640, 480, &labels()).unwrap();
        assert_eq!(lines[0].geom.band_height, 0.25);
    }
}
