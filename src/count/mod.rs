//! Counting: line crossings and zone visits from tracks, as [`Event`]s and running totals.
//!
//! `spec` is what the config says (`[[line]]`, `[[zone]]`), `geometry`/`line`/`zone` the
//! rules, `counter` the stage that the frame loop calls once per frame.

mod counter;
pub mod event;
pub mod geometry;
mod line;
pub mod spec;
mod zone;

pub use counter::{Counter, Occupancy};
pub use event::{Direction, Event, EventKind, EventTime, Name, TotalKey};
pub use geometry::Anchor;
pub use line::{LineGeom, LineState};
pub use spec::{CountSpec, LineConfig, SpecError, Units, ZoneConfig};
pub use zone::{ZoneChange, ZoneGeom, ZoneState};
