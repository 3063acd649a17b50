//! What the counting stage reports: events and the keys of running totals. Events are `Copy`
//! and carry their names inline, so a sink (the store, MQTT) needs no lookup table and the
//! frame loop hands them on without allocating.

use serde::{Deserialize, Serialize};

/// Line, zone and label names: short, inline, no allocation. Config names are limited to
/// this length; longer model labels are cut at a character boundary.
pub type Name = heapless::String<32>;

/// Cuts `s` to fit a [`Name`] at a character boundary.
pub fn name(s: &str) -> Name {
    let mut n = Name::new();
    for c in s.chars() {
        if n.push(c).is_err() {
            break;
        }
    }
    n
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A track crossed a line (with a direction).
    Crossing,
    /// A track entered a zone.
    Entry,
    /// A track left a zone (or was lost inside it); carries the dwell time.
    Exit,
    /// A track stayed in a zone longer than the zone's loitering threshold (once per visit).
    Loitering,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Crossing => "crossing",
            EventKind::Entry => "entry",
            EventKind::Exit => "exit",
            EventKind::Loitering => "loitering",
        }
    }
}

/// Direction of a line crossing: `In` is from the left of A->B to its right.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// When an event happened, by two clocks: the wall clock (what reports show) and a
/// monotonic one (what cannot jump). A board without an RTC may boot with a wrong wall clock;
/// events stamped while the wall clock is not trusted say so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTime {
    /// Unix time in milliseconds (UTC).
    pub wall_ms: i64,
    /// Milliseconds on a monotonic clock since the run started.
    pub mono_ms: u64,
    /// The wall clock jumped, or reads earlier than this binary's build date.
    pub clock_suspect: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    /// The line (crossings) or zone (the other kinds) from the config.
    pub place: Name,
    pub label: Name,
    pub class_id: u16,
    /// Crossings only.
    pub direction: Option<Direction>,
    pub track_id: u32,
    pub score: f32,
    pub frame: u64,
    pub time: EventTime,
    /// Exits and loitering: how long the track has been in the zone.
    pub dwell_ms: Option<u64>,
}

/// The key of a running total: one counter per place, kind, label and direction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TotalKey {
    pub place: Name,
    pub kind: EventKind,
    pub label: Name,
    pub direction: Option<Direction>,
}

impl Event {
    pub fn total_key(&self) -> TotalKey {
        TotalKey {
            place: self.place.clone(),
            kind: self.kind,
            label: self.label.clone(),
            direction: self.direction,
        }
    }
}

/// A name as one MQTT topic level: `/`, `+`, `#`, whitespace and control characters become
/// `_`. Here rather than in the MQTT sink so config validation (`CountSpec::validate_shape`)
/// can check that no two places share one, with or without the `mqtt` feature.
pub fn topic_level(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c, '/' | '+' | '#') || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// A Home Assistant object id (and unique_id part): `[a-zA-Z0-9_-]` only, others become `_`.
pub fn object_id(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
