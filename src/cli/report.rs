//! `ssd-edge report`: counts per minute, hour or day from the event store, in local time, as
//! a table, CSV or a PNG chart. Opens the database read-only, so it can run next to a
//! `ssd-edge run` that is writing it.

use anyhow::{Context, Result};
use jiff::tz::TimeZone;
use ssd_edge::render;
use ssd_edge::store::{self, parse_date_bound, Bucket, ReportQuery, Store};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The database `ssd-edge run` writes ([store] path).
    #[arg(long, value_name = "F", default_value = store::config::DEFAULT_PATH)]
    pub db: PathBuf,
    /// First day (YYYY-MM-DD, local), local time (YYYY-MM-DDTHH:MM) or instant (...Z).
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Last day, included (YYYY-MM-DD); a time or instant is excluded.
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Bucket size.
    #[arg(long, value_enum, default_value_t = Bucket::Hour)]
    pub by: Bucket,
    /// IANA time zone, e.g. Europe/Berlin [default: the system's, else UTC].
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Only this line or zone.
    #[arg(long, value_name = "L")]
    pub line: Option<String>,
    /// Only this class label.
    #[arg(long, value_name = "C")]
    pub class: Option<String>,
    /// Print CSV instead of a table.
    #[arg(long)]
    pub csv: bool,
    /// Also write a PNG bar chart.
    #[arg(long, value_name = "counts.png")]
    pub plot: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let by = args.by;
    let tz = match &args.tz {
        Some(name) => TimeZone::get(name).with_context(|| format!("--tz {name:?}"))?,
        None => TimeZone::try_system().unwrap_or_else(|e| {
            log::warn!("no system time zone ({e}); reporting in UTC (set --tz)");
            TimeZone::UTC
        }),
    };
    let bound = |flag: &str, v: &Option<String>, upper| -> Result<_> {
        v.as_deref()
            .map(|s| parse_date_bound(s, &tz, upper))
            .transpose()
            .map_err(|e| anyhow::anyhow!("{flag}: {e}"))
    };
    let query = ReportQuery {
        from: bound("--from", &args.from, false)?,
        to: bound("--to", &args.to, true)?,
        by,
        tz: tz.clone(),
        place: args.line.clone(),
        label: args.class.clone(),
    };
    let db = Store::open_read_only(&args.db)?;
    let report = db.report(&query)?;
    let mut out = std::io::stdout().lock();
    let written = if args.csv {
        render::write_csv(&mut out, &report)
    } else {
        render::write_table(&mut out, &report)
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e).context("writing the report"),
    }
    if let Some(path) = &args.plot {
        render::render_png(&report, path)?;
        log::info!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
