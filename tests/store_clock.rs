//! Issue 32: retention with a wrong clock. Runs whose clock is years ahead or behind, with
//! injected clocks (`Store::check_clock`, `Store::prune_at`): no event recorded with a right
//! clock is pruned before it is `retention_days` old in true time, a clock that went
//! backwards across runs is seen, and future-dated events do not keep pruning new ones.
//! The same within one run: a wall clock that jumps in the middle of it (seen by the writer
//! against its monotonic clock) starts a new timeline at the first event after the jump.
#![cfg(feature = "store")]

mod store_support;

use proptest::prelude::*;
use ssd_edge::count::Direction;
use ssd_edge::store::{ClockWatch, RunInfo, Store, StoreConfig, Writer, WriterMsg};
use std::path::Path;
use store_support::*;

const DAY: i64 = 86_400_000;
const YEAR: i64 = 365 * DAY;
const RETENTION: u32 = 30;

fn cfg(path: &Path) -> StoreConfig {
    StoreConfig {
        retention_days: RETENTION,
        ..store_config(path, 1.0)
    }
}

/// One run: opened, clock checked at `now`, `events` written (frame numbers, wall times)
/// each followed by a prune at its time, closed. Returns whether the clock check objected.
fn run(path: &Path, now: i64, events: &[(u64, i64)]) -> bool {
    let mut s = Store::open(path, &cfg(path)).unwrap();
    let jumped = s.check_clock(now, RETENTION).unwrap().is_some();
    let run = s.begin_run(&RunInfo::default()).unwrap();
    for &(frame, wall) in events {
        s.write_events(
            run,
            &[crossing("door", "person", Direction::In, wall, frame)],
        )
        .unwrap();
        s.prune_at(RETENTION, wall).unwrap();
    }
    jumped
}

fn frames(path: &Path) -> Vec<u64> {
    let s = Store::open_read_only(path).unwrap();
    let mut st = s
        .connection()
        .prepare("SELECT frame FROM events ORDER BY frame")
        .unwrap();
    let v = st
        .query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|f| f.unwrap() as u64)
        .collect();
    v
}

#[test]
fn a_clock_years_ahead_then_corrected_costs_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let t0 = ms("2026-01-01T12:00:00Z");
    // Run 1, right clock: 60 days, one event a day (frames 0..60). Days 0..29 pruned.
    let days: Vec<(u64, i64)> = (0..60).map(|d| (d as u64, t0 + d * DAY)).collect();
    assert!(!run(&db, t0, &days));
    let kept = frames(&db);
    assert!(
        kept.first().is_some_and(|&f| (29..=30).contains(&f)),
        "{kept:?}"
    );
    // Run 2 boots five years ahead: seen; run 1 ages by run 2's one day of running (day 29
    // goes), not by five years.
    let ahead = t0 + 60 * DAY + 5 * YEAR;
    assert!(run(&db, ahead, &[(100, ahead), (101, ahead + DAY)]));
    let want: Vec<u64> = (30..60).chain([100, 101]).collect();
    assert_eq!(frames(&db), want, "the clock ahead pruned");
    // Run 3, the same wrong clock: a continuation, nothing more is old in running time.
    assert!(!run(&db, ahead + 2 * DAY, &[(102, ahead + 2 * DAY)]));
    let want: Vec<u64> = (30..60).chain([100, 101, 102]).collect();
    assert_eq!(frames(&db), want);
    // Run 4, clock right again: seen as going backwards; the future-dated events do not drag
    // the cut over new ones, and run 1 lost only what 30 days of running time made old.
    let back = t0 + 61 * DAY;
    assert!(run(&db, back, &[(200, back), (201, back + DAY)]));
    let now = frames(&db);
    for f in [200, 201, 100, 101, 102] {
        assert!(now.contains(&f), "frame {f} pruned: {now:?}");
    }
    let first = *now.first().unwrap();
    assert!((31..=33).contains(&first), "{now:?}");
    // Run 5: a clock behind the last event: seen, nothing pruned for it.
    let behind = back - 2 * YEAR;
    let before = frames(&db).len();
    assert!(run(&db, behind, &[(300, behind)]));
    assert_eq!(frames(&db).len(), before + 1);
    let mut s = Store::open(&db, &cfg(&db)).unwrap();
    let why = s
        .check_clock(behind - 2 * 3_600_000, RETENTION)
        .unwrap()
        .unwrap();
    assert!(why.contains("it went backwards"), "{why}");
    let why = s
        .check_clock(behind + 31 * DAY, RETENTION)
        .unwrap()
        .unwrap();
    assert!(
        why.contains("more than the retention of 30 days ahead"),
        "{why}"
    );
    assert!(s.check_clock(behind + DAY, RETENTION).unwrap().is_none());
}

/// Clock offsets a run may have: right, a little off, years ahead, years behind.
fn offset() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => Just(0i64),
        1 => -1_200_000i64..1_200_000,
        1 => Just(5 * YEAR),
        1 => Just(-3 * YEAR),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any sequence of runs with any of those clocks: an event recorded with a right clock
    /// (offset 0) is kept until it is RETENTION days old in true time, less what the runs
    /// 20 minutes off can add (up to 40 minutes per timeline, at most 6 timelines).
    #[test]
    fn right_clock_events_live_their_retention(
        runs in proptest::collection::vec((offset(), 0i64..50, 1usize..6), 1..7),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("p.db");
        let mut truth = ms("2026-01-01T00:00:00Z");
        let mut frame = 0u64;
        // (frame, true time) of events recorded with a right clock.
        let mut right: Vec<(u64, i64)> = Vec::new();
        for (off, gap_days, n) in runs {
            truth += gap_days * DAY;
            let mut s = Store::open(&db, &cfg(&db)).unwrap();
            s.check_clock(truth + off, RETENTION).unwrap();
            let run = s.begin_run(&RunInfo::default()).unwrap();
            for _ in 0..n {
                truth += DAY / 3;
                frame += 1;
                s.write_events(run, &[crossing("d", "p", Direction::In, truth + off, frame)])
                    .unwrap();
                if off == 0 {
                    right.push((frame, truth));
                }
                s.prune_at(RETENTION, truth + off).unwrap();
                let kept: Vec<u64> = {
                    let mut st = s.connection().prepare("SELECT frame FROM events").unwrap();
                    let v = st.query_map([], |r| r.get::<_, i64>(0)).unwrap()
                        .map(|f| f.unwrap() as u64).collect();
                    v
                };
                for &(f, t) in &right {
                    if truth - t < i64::from(RETENTION) * DAY - 6 * 3_600_000 {
                        prop_assert!(kept.contains(&f), "frame {} ({} days old) pruned", f, (truth - t) / DAY);
                    }
                }
            }
        }
    }
}

/// The `clock_jump` boundaries: a new timeline starts after each of these event ids.
fn jumps(path: &Path) -> Vec<i64> {
    let s = Store::open_read_only(path).unwrap();
    let mut st = s
        .connection()
        .prepare("SELECT value FROM meta WHERE key LIKE 'clock_jump:%' ORDER BY value")
        .unwrap();
    let v = st
        .query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    v
}

fn pruned_before(path: &Path) -> Option<i64> {
    Store::open_read_only(path)
        .unwrap()
        .pruned_before_ms()
        .unwrap()
}

/// The real writer thread, fed as the frame loop feeds it. Run 1: ten events at the right
/// time, then ten after the wall clock jumped five years ahead in the middle of the run;
/// pruning with the clock ahead costs none of the first ten. Run 2 starts with the clock
/// still ahead and has it stepped back in the middle: that jump is recorded too.
#[test]
fn a_jump_in_the_middle_of_a_run_starts_a_timeline_at_its_first_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let run = |phases: [(std::ops::Range<u64>, i64); 2]| {
        let store = Store::open(&db, &cfg(&db)).unwrap();
        let writer = Writer::spawn(store, RunInfo::default()).unwrap();
        for (frames, off) in phases {
            for f in frames {
                let e = crossing("door", "person", Direction::In, now() + off, f);
                writer.sender().send(WriterMsg::Event(e)).unwrap();
            }
            // The monotonic clock moves on between the phases as the wall clock would.
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        writer.finish().unwrap();
    };
    run([(0..10, 0), (10..20, 5 * YEAR)]);
    // Ids are frame + 1: a timeline starts after event 10.
    assert_eq!(jumps(&db), vec![10]);
    let mut s = Store::open(&db, &cfg(&db)).unwrap();
    let pruned = s.prune_at(RETENTION, now() + 5 * YEAR + DAY).unwrap();
    assert_eq!(
        pruned.deleted, 0,
        "the clock ahead pruned the events before the jump"
    );
    drop(s);
    assert_eq!(frames(&db), (0..20).collect::<Vec<u64>>());

    run([(20..30, 5 * YEAR), (30..40, 0)]);
    // 20: the open saw the right clock behind the last event (across runs); 30: the writer
    // saw the clock stepped back in the middle of run 2.
    assert_eq!(jumps(&db), vec![10, 20, 30]);
    let mut s = Store::open(&db, &cfg(&db)).unwrap();
    assert_eq!(s.prune_at(RETENTION, now() + DAY).unwrap().deleted, 0);
    drop(s);
    assert_eq!(frames(&db), (0..40).collect::<Vec<u64>>());
    assert_eq!(pruned_before(&db), None, "nothing pruned, no cut");
}

/// What the wall clock reads against true time from some event on.
fn clock_offset() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => Just(0i64),
        // NTP steps under the tolerance: not a jump
        1 => -3_000_000i64..3_000_000,
        1 => Just(5 * YEAR),
        1 => Just(-3 * YEAR),
        // any jump size up to 20 years either way
        2 => -20 * YEAR..20 * YEAR,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// One run whose wall clock jumps any number of times by any amount, the writer's check
    /// (`ClockWatch` against the run's monotonic time, which is true time here) deciding the
    /// timelines, a prune after every event by the wall clock. An event recorded with the
    /// right clock is kept until it is RETENTION days old in true time (less an hour per
    /// timeline: steps under the tolerance are not jumps), and every jump of more than twice
    /// the tolerance between two events is recorded between them, backwards ones included.
    #[test]
    fn jumps_in_the_middle_of_a_run_cost_no_event(
        segments in proptest::collection::vec((clock_offset(), 1usize..12), 1..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let t0 = ms("2026-01-01T00:00:00Z");
        let mut s = Store::open(&db, &cfg(&db)).unwrap();
        let run = s.begin_run(&RunInfo::default()).unwrap();
        let mut watch = ClockWatch::default();
        let (mut truth, mut frame, mut prev_off) = (t0, 0u64, None::<i64>);
        let mut right: Vec<(u64, i64)> = Vec::new();
        for (off, n) in segments.iter().copied() {
            for _ in 0..n {
                truth += DAY / 3;
                frame += 1;
                let wall = truth + off;
                let e = crossing("d", "p", Direction::In, wall, frame);
                let jumped = watch.observe(wall, truth - t0).is_some();
                let split: &[usize] = if jumped { &[0] } else { &[] };
                s.write_events_with_jumps(run, &[e], split).unwrap();
                if let Some(p) = prev_off {
                    let recorded = jumps(&db).contains(&(frame as i64 - 1));
                    if (off - p).abs() > 2 * ssd_edge::store::CLOCK_BACK_TOLERANCE_MS {
                        prop_assert!(recorded, "a jump of {} h before frame {} not recorded", (off - p) / 3_600_000, frame);
                    }
                }
                prev_off = Some(off);
                if off == 0 {
                    right.push((frame, truth));
                }
                s.prune_at(RETENTION, wall).unwrap();
                let kept: Vec<u64> = {
                    let mut st = s.connection().prepare("SELECT frame FROM events").unwrap();
                    let v = st.query_map([], |r| r.get::<_, i64>(0)).unwrap()
                        .map(|f| f.unwrap() as u64).collect();
                    v
                };
                let slack = (segments.len() as i64 + 1) * 3_600_000;
                for &(f, t) in &right {
                    if truth - t < i64::from(RETENTION) * DAY - slack {
                        prop_assert!(kept.contains(&f), "frame {} ({} days old) pruned; segments {:?}", f, (truth - t) / DAY, segments);
                    }
                }
            }
        }
    }
}
