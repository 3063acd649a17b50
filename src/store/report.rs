//! Totals per time bucket in local time. Buckets are built as instants from local calendar
//! boundaries (jiff), so a DST day is 23 or 25 hours long and the repeated autumn hour is two
//! buckets. Data comes from `events` (to the minute) where they are kept, and from `hourly`
//! for pruned hours and hours whose details were dropped.

use super::{direction_from_str, kind_from_str, Store, StoreError, HOUR_MS};
use crate::count::{Direction, EventKind};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};
use std::collections::{BTreeMap, HashSet};

/// The names are clap's (`report --by`); the HTTP API's `?by=` parses the same names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Bucket {
    Minute,
    Hour,
    Day,
}

impl std::str::FromStr for Bucket {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <Bucket as clap::ValueEnum>::from_str(s, false)
            .map_err(|_| format!("unknown bucket {s:?} (minute, hour or day)"))
    }
}

impl Bucket {
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Minute => "minute",
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }
}

/// What a column counts: line crossings by direction, zone entries, exits, loitering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Measure {
    In,
    Out,
    /// A crossing stored without a direction (not written by ssd-edge itself).
    Crossings,
    Entries,
    Exits,
    Loitering,
}

impl Measure {
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::In => "in",
            Measure::Out => "out",
            Measure::Crossings => "crossings",
            Measure::Entries => "entries",
            Measure::Exits => "exits",
            Measure::Loitering => "loitering",
        }
    }

    fn of(kind: EventKind, direction: Option<Direction>) -> Measure {
        match (kind, direction) {
            (EventKind::Crossing, Some(Direction::In)) => Measure::In,
            (EventKind::Crossing, Some(Direction::Out)) => Measure::Out,
            (EventKind::Crossing, None) => Measure::Crossings,
            (EventKind::Entry, _) => Measure::Entries,
            (EventKind::Exit, _) => Measure::Exits,
            (EventKind::Loitering, _) => Measure::Loitering,
        }
    }
}

/// One column of the report: a line or zone and what is counted there (all classes summed
/// unless the query names one).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Column {
    pub place: String,
    pub measure: Measure,
}

impl Column {
    pub fn name(&self) -> String {
        format!("{} {}", self.place, self.measure.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct ReportQuery {
    /// Inclusive; `None`: from the first data.
    pub from: Option<Timestamp>,
    /// Exclusive; `None`: through the last data.
    pub to: Option<Timestamp>,
    pub by: Bucket,
    pub tz: TimeZone,
    /// Only this line or zone.
    pub place: Option<String>,
    /// Only this class label.
    pub label: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ReportRow {
    pub start: Zoned,
    pub end: Zoned,
    /// One count per [`Report::columns`] entry.
    pub counts: Vec<u64>,
}

#[derive(Clone, Debug)]
pub struct Report {
    pub by: Bucket,
    /// The zone's IANA name where known.
    pub tz_name: String,
    pub columns: Vec<Column>,
    pub rows: Vec<ReportRow>,
    /// Per column, over all rows.
    pub totals: Vec<u64>,
    /// Before this instant the data are whole UTC hours (events pruned): finer buckets there
    /// put each hour's count at the hour's start.
    pub hourly_before: Option<Timestamp>,
    /// Hours inside the range whose counts come from hourly totals because event details were
    /// dropped (memory bound while the disk was full).
    pub coarse_hours: usize,
    /// Events in the range stamped while the wall clock was not trusted.
    pub suspect_events: u64,
}

/// More rows than this is a mistake (minute buckets over months), not a report.
pub const MAX_BUCKETS: usize = 100_000;

/// Most cells (rows x columns) one report may hold: 2 Mi (16 MiB of counts), for `report`.
/// `/api/counts` uses a smaller bound of its own (docs/http.md).
pub const MAX_REPORT_CELLS: usize = 1 << 21;

/// Parses `--from`/`--to`: a date (`2026-03-29`: the start of that local day; as an upper
/// bound the day is included), a local date and time (`2026-03-29T02:30`, `2026-03-29 02:30`),
/// or an instant with an offset (`2026-03-29T01:30:00Z`).
pub fn parse_date_bound(s: &str, tz: &TimeZone, upper: bool) -> Result<Timestamp, String> {
    let s = s.trim();
    let bad = |e: jiff::Error| format!("{s:?}: {e}");
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(ts);
    }
    // jiff reads a date out of a date-time string too: only a bare date is a day.
    let bare_date = !s.contains(['T', 't', ' ']);
    if let Some(date) = bare_date
        .then(|| s.parse::<jiff::civil::Date>().ok())
        .flatten()
    {
        let date = if upper {
            date.tomorrow().map_err(bad)?
        } else {
            date
        };
        return Ok(date
            .to_zoned(tz.clone())
            .and_then(|z| z.start_of_day())
            .map_err(bad)?
            .timestamp());
    }
    match s.replacen(' ', "T", 1).parse::<jiff::civil::DateTime>() {
        Ok(dt) => Ok(dt.to_zoned(tz.clone()).map_err(bad)?.timestamp()),
        Err(_) => Err(format!(
            "{s:?} is not a date (YYYY-MM-DD), a local date and time (YYYY-MM-DDTHH:MM) or an \
             instant with an offset (YYYY-MM-DDTHH:MM:SSZ)"
        )),
    }
}

/// What one pass over the data calls per stored count: the minute or hour it starts, its
/// place, kind and direction, the count.
type Visit<'a> = dyn FnMut(i64, &str, &str, &str, u64) -> Result<(), StoreError> + 'a;

/// One grouped row of the events or the hourly table.
struct Group {
    ms: i64,
    place: String,
    kind: String,
    direction: String,
    count: i64,
    suspect: i64,
}

impl Store {
    pub fn report(&self, q: &ReportQuery) -> Result<Report, StoreError> {
        self.report_bounded(q, MAX_BUCKETS, MAX_REPORT_CELLS)
    }

    /// [`Store::report`] refusing, before the table is allocated, one of more than
    /// `max_rows` rows or `max_cells` rows x columns ([`StoreError::TooLarge`]).
    ///
    /// Memory is bounded by the answer, not by the data (issue 32): a first pass over the
    /// range finds the columns and the time span (nothing per stored row is kept), the bounds
    /// are checked, and a second pass adds each stored count into its cell.
    pub fn report_bounded(
        &self,
        q: &ReportQuery,
        max_rows: usize,
        max_cells: usize,
    ) -> Result<Report, StoreError> {
        let err = |e| StoreError::sqlite(&self.path, e);
        // One read snapshot (WAL) for both passes, while a run goes on committing.
        let snapshot = self.conn.unchecked_transaction().map_err(err)?;
        let pruned_before = self.pruned_before_ms()?.unwrap_or(i64::MIN);
        let coarse: HashSet<i64> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT hour_ms FROM coarse_hours")
                .map_err(err)?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)?
        };
        let lo = q.from.map_or(i64::MIN, |t| t.as_millisecond());
        let hi = q.to.map_or(i64::MAX, |t| t.as_millisecond());
        if lo >= hi {
            return Err(StoreError::Query("--from is not before --to".into()));
        }

        // Pass 1: the columns (distinct, a few per line and zone) and the span of the data.
        let mut column_set: BTreeMap<Column, ()> = BTreeMap::new();
        let mut span: Option<(i64, i64)> = None;
        let (suspect_events, coarse_in_range) = self.each_count(
            q,
            (lo, hi),
            pruned_before,
            &coarse,
            &mut |ms, place, kind, direction, _| {
                let c = self.column(place.to_string(), kind, direction)?;
                // Bounded: a report with more columns than cells is refused below anyway.
                if column_set.len() <= max_cells {
                    column_set.insert(c, ());
                }
                span = Some(span.map_or((ms, ms), |(a, b)| (a.min(ms), b.max(ms))));
                Ok(())
            },
        )?;
        let tz_name = q.tz.iana_name().unwrap_or("local").to_string();
        let columns: Vec<Column> = column_set.into_keys().collect();
        let hourly_before = (pruned_before > lo && pruned_before != i64::MIN)
            .then(|| Timestamp::from_millisecond(pruned_before).ok())
            .flatten();
        let mut report = Report {
            by: q.by,
            tz_name,
            totals: vec![0; columns.len()],
            columns,
            rows: Vec::new(),
            hourly_before,
            coarse_hours: coarse_in_range,
            suspect_events,
        };
        let start_ms = match (q.from, span) {
            (Some(t), _) => t.as_millisecond(),
            (None, Some((first, _))) => first,
            (None, None) => return Ok(report),
        };
        let end_ms = match (q.to, span) {
            (Some(t), _) => t.as_millisecond(),
            (None, Some((_, last))) => last + 1,
            (None, None) => start_ms + 1,
        };
        let bounds = boundaries(start_ms, end_ms, q.by, &q.tz)?;
        let starts: Vec<i64> = bounds
            .iter()
            .map(|z| z.timestamp().as_millisecond())
            .collect();
        // Rows x columns, not rows alone: many lines and zones multiply every row.
        let cells = (bounds.len() - 1).saturating_mul(report.columns.len().max(1));
        if cells > max_cells || bounds.len() - 1 > max_rows {
            return Err(StoreError::TooLarge(format!(
                "{} rows x {} columns is over the bound of {max_rows} rows and {max_cells} \
                 cells: narrow from/to, use a coarser bucket, or pick one line or class",
                bounds.len() - 1,
                report.columns.len()
            )));
        }
        let index: BTreeMap<&Column, usize> = report
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c, i))
            .collect();
        // Pass 2: each stored count into its cell.
        let mut counts = vec![vec![0u64; report.columns.len()]; bounds.len() - 1];
        let mut totals = vec![0u64; report.columns.len()];
        self.each_count(
            q,
            (lo, hi),
            pruned_before,
            &coarse,
            &mut |ms, place, kind, direction, count| {
                // Bucket i holds [starts[i], starts[i + 1]).
                let i = starts.partition_point(|&s| s <= ms);
                if i == 0 || i >= starts.len() {
                    return Ok(());
                }
                let c = self.column(place.to_string(), kind, direction)?;
                let col = index[&c];
                counts[i - 1][col] += count;
                totals[col] += count;
                Ok(())
            },
        )?;
        drop(index);
        drop(snapshot);
        report.totals = totals;
        report.rows = bounds
            .windows(2)
            .zip(counts)
            .map(|(w, counts)| ReportRow {
                start: w[0].clone(),
                end: w[1].clone(),
                counts,
            })
            .collect();
        Ok(report)
    }

    /// One pass over the stored counts in `[lo, hi)`: events by minute where their details
    /// are kept, hourly totals for pruned and coarse hours. Returns the suspect events and
    /// the coarse hours seen.
    fn each_count(
        &self,
        q: &ReportQuery,
        (lo, hi): (i64, i64),
        pruned_before: i64,
        coarse: &HashSet<i64>,
        visit: &mut Visit<'_>,
    ) -> Result<(u64, usize), StoreError> {
        let mut suspect_events = 0u64;
        let mut coarse_in_range = HashSet::new();
        // Minutes from the events table (not the hours coarsened or pruned), then the hours
        // that only the hourly table still has.
        self.for_each_group(
            "SELECT wall_ms - (wall_ms % 60000) AS m, place, kind, coalesce(direction, ''), \
             count(*), sum(clock_suspect) FROM events \
             WHERE wall_ms >= ?1 AND wall_ms < ?2 \
             AND (?3 IS NULL OR place = ?3) AND (?4 IS NULL OR label = ?4) \
             GROUP BY m, place, kind, direction",
            rusqlite::params![lo.max(pruned_before), hi, q.place, q.label],
            |g| {
                if coarse.contains(&super::hour_of(g.ms)) {
                    return Ok(());
                }
                suspect_events += g.suspect as u64;
                visit(g.ms, &g.place, &g.kind, &g.direction, g.count as u64)
            },
        )?;
        // An hour that starts before `lo` but overlaps it counts only if it starts inside.
        self.for_each_group(
            "SELECT hour_ms, place, kind, direction, sum(count), 0 FROM hourly \
             WHERE hour_ms >= ?1 AND hour_ms < ?2 \
             AND (?3 IS NULL OR place = ?3) AND (?4 IS NULL OR label = ?4) \
             GROUP BY hour_ms, place, kind, direction",
            rusqlite::params![lo, hi, q.place, q.label],
            |g| {
                let pruned = g.ms < pruned_before;
                if !(pruned || coarse.contains(&g.ms)) {
                    return Ok(());
                }
                if !pruned {
                    coarse_in_range.insert(g.ms);
                }
                visit(g.ms, &g.place, &g.kind, &g.direction, g.count as u64)
            },
        )?;
        Ok((suspect_events, coarse_in_range.len()))
    }

    /// Runs `sql` (columns: bucket ms, place, kind, direction, count, clock-suspect count)
    /// and hands each row to `f`.
    fn for_each_group(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        mut f: impl FnMut(Group) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let err = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self.conn.prepare_cached(sql).map_err(err)?;
        let rows = stmt
            .query_map(params, |r| {
                Ok(Group {
                    ms: r.get(0)?,
                    place: r.get(1)?,
                    kind: r.get(2)?,
                    direction: r.get(3)?,
                    count: r.get(4)?,
                    suspect: r.get(5)?,
                })
            })
            .map_err(err)?;
        for row in rows {
            f(row.map_err(err)?)?;
        }
        Ok(())
    }

    fn column(&self, place: String, kind: &str, direction: &str) -> Result<Column, StoreError> {
        let bad = |column: &str, value: &str| StoreError::Corrupt {
            path: self.path.clone(),
            detail: format!("unexpected value {value:?} in {column}"),
        };
        let kind = kind_from_str(kind).ok_or_else(|| bad("kind", kind))?;
        let direction = direction_from_str(direction).ok_or_else(|| bad("direction", direction))?;
        Ok(Column {
            place,
            measure: Measure::of(kind, direction),
        })
    }
}

/// Bucket boundaries from the bucket holding `start_ms` up to the first boundary at or after
/// `end_ms`: local midnights for days (23 or 25 hours apart across DST), hour and minute
/// starts otherwise.
fn boundaries(
    start_ms: i64,
    end_ms: i64,
    by: Bucket,
    tz: &TimeZone,
) -> Result<Vec<Zoned>, StoreError> {
    let q = |e: jiff::Error| StoreError::Query(format!("time zone arithmetic: {e}"));
    let start = Timestamp::from_millisecond(start_ms)
        .map_err(q)?
        .to_zoned(tz.clone());
    // `with()` keeps the original offset when the truncated local time is ambiguous, so the
    // repeated autumn hour stays two buckets.
    let mut cur = match by {
        Bucket::Day => start.start_of_day().map_err(q)?,
        Bucket::Hour => start
            .with()
            .minute(0)
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .map_err(q)?,
        Bucket::Minute => start
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .map_err(q)?,
    };
    let mut out = vec![cur.clone()];
    while cur.timestamp().as_millisecond() < end_ms {
        cur = match by {
            Bucket::Day => cur
                .date()
                .tomorrow()
                .and_then(|d| d.to_zoned(tz.clone()))
                .and_then(|z| z.start_of_day())
                .map_err(q)?,
            Bucket::Hour => cur.checked_add(1.hour()).map_err(q)?,
            Bucket::Minute => cur.checked_add(1.minute()).map_err(q)?,
        };
        out.push(cur.clone());
        if out.len() > MAX_BUCKETS + 1 {
            return Err(StoreError::Query(format!(
                "more than {MAX_BUCKETS} {} buckets: narrow --from/--to or use a coarser --by",
                by.as_str()
            )));
        }
    }
    Ok(out)
}

impl Report {
    /// The label of a row's start in the report's zone.
    pub fn label(&self, row: &ReportRow) -> String {
        match self.by {
            Bucket::Day => row.start.strftime("%Y-%m-%d").to_string(),
            _ => row.start.strftime("%Y-%m-%d %H:%M %Z").to_string(),
        }
    }

    /// Hours a row spans (23 or 25 for the days DST changes).
    pub fn row_hours(row: &ReportRow) -> f64 {
        (row.end.timestamp().as_millisecond() - row.start.timestamp().as_millisecond()) as f64
            / HOUR_MS as f64
    }
}
