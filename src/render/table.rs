//! The report as an aligned table or as CSV.

use crate::store::{Bucket, Report};
use std::io::{self, Write};

/// An aligned table with a total row; notes about coarse data and clock trouble follow it.
pub fn write_table(w: &mut dyn Write, report: &Report) -> io::Result<()> {
    writeln!(
        w,
        "counts by {} in {}{}",
        report.by.as_str(),
        report.tz_name,
        if report.rows.is_empty() {
            ": no data in range"
        } else {
            ""
        }
    )?;
    if report.rows.is_empty() {
        return Ok(());
    }
    let mut header = vec!["start".to_string()];
    header.extend(report.columns.iter().map(|c| c.name()));
    let show_hours = report.by == Bucket::Day;
    if show_hours {
        header.insert(1, "hours".into());
    }
    let mut lines: Vec<Vec<String>> = vec![header];
    for row in &report.rows {
        let mut line = vec![report.label(row)];
        if show_hours {
            line.push(format!("{}", Report::row_hours(row)));
        }
        line.extend(row.counts.iter().map(u64::to_string));
        lines.push(line);
    }
    let mut total = vec!["total".to_string()];
    if show_hours {
        total.push(String::new());
    }
    total.extend(report.totals.iter().map(u64::to_string));
    lines.push(total);
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for line in &lines {
        let mut out = String::new();
        for (i, cell) in line.iter().enumerate() {
            if i == 0 {
                out.push_str(&format!("{cell:<w$}", w = widths[0]));
            } else {
                out.push_str(&format!("  {cell:>w$}", w = widths[i]));
            }
        }
        writeln!(w, "{}", out.trim_end())?;
    }
    notes(w, report)
}

/// One row per bucket: start and end as RFC 3339 instants with the local offset, then one
/// column per line/zone measure (named as in the table header).
pub fn write_csv(w: &mut dyn Write, report: &Report) -> io::Result<()> {
    let mut header = vec!["start".to_string(), "end".to_string()];
    header.extend(report.columns.iter().map(|c| csv_field(&c.name())));
    writeln!(w, "{}", header.join(","))?;
    for row in &report.rows {
        let mut line = vec![
            row.start.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            row.end.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        ];
        line.extend(row.counts.iter().map(u64::to_string));
        writeln!(w, "{}", line.join(","))?;
    }
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn notes(w: &mut dyn Write, report: &Report) -> io::Result<()> {
    if let Some(t) = report.hourly_before {
        writeln!(
            w,
            "note: events before {t} were pruned; counts there are whole UTC hours"
        )?;
    }
    if report.coarse_hours > 0 {
        writeln!(
            w,
            "note: {} hour(s) counted without event details (the disk was full); counts there \
             are whole UTC hours",
            report.coarse_hours
        )?;
    }
    if report.suspect_events > 0 {
        writeln!(
            w,
            "note: {} event(s) were stamped while the wall clock was not trusted; their times \
             may be wrong",
            report.suspect_events
        )?;
    }
    Ok(())
}
