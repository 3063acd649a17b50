//! Reports as people read them: a text table, CSV, a PNG bar chart. The store answers the
//! query (`store::Report`); drawing and formatting live here, so the store only stores.

mod chart;
mod table;

pub use chart::{render_chart, render_png};
pub use table::{write_csv, write_table};
