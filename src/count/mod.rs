//! Counting: line crossings and zone occupancy from tracks, as [`Event`]s and running totals.

pub mod event;

pub use event::{Direction, Event, EventKind, EventTime, Name, TotalKey};
