//! `--model auto`: of a model's variants (int8 and float), keep the one that is faster on this
//! board. Which one wins is a property of the CPU (SDOT on a Pi 5 or an Orin, none on a Pi 4,
//! AVX-512 VNNI or only AVX2 on x86), so it is measured at start-up, not guessed.
//!
//! Each variant runs one untimed warm-up frame, then up to [`TIMED_FRAMES`] timed ones; the
//! lowest median wins. A variant whose warm-up alone takes [`ABANDON_FACTOR`] times the best
//! median so far cannot win and is not timed further, so a slow variant costs one frame.

use super::{Detector, ModelError};
use ssd_core::frame::Frame;
use ssd_core::ssd::Detections;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The `--model` value that asks for the selection.
pub const AUTO: &str = "auto";

/// The variants the selection looks for in a models folder are a family's
/// ([`ModelFamily::files`](super::ModelFamily::files)), int8 first (the tie-breaker: it is the
/// smaller file and the one with headroom on ARM).
use super::ModelFamily;

pub const TIMED_FRAMES: usize = 3;
pub const ABANDON_FACTOR: u32 = 4;

/// What one variant measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    pub origin: String,
    /// The warm-up frame (includes first-run allocations).
    pub warmup: Duration,
    /// Median of the timed frames; None when abandoned after the warm-up.
    pub median: Option<Duration>,
}

/// True when `model` asks for the selection: `auto` (among `models/`'s variants) or
/// `DIR/auto` (among DIR's), so a config can name its own models folder.
pub fn is_auto(model: &Path) -> bool {
    model.file_name().is_some_and(|f| f == AUTO) && !model.is_file()
}

/// The folder whose variants `model` (an [`is_auto`] path) chooses among.
pub fn variants_dir(model: &Path) -> &Path {
    match model.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new(super::MODELS_DIR),
    }
}

/// The family's variants present in `dir`, when there are at least two to choose from.
pub fn variants_in(dir: &Path, family: ModelFamily) -> Option<Vec<PathBuf>> {
    let found: Vec<PathBuf> = family
        .files()
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.is_file())
        .collect();
    (found.len() >= 2).then_some(found)
}

/// Index of the fastest timing: the lowest median, the earlier one on a tie; None if every
/// variant was abandoned (which cannot happen for the first one timed).
pub fn fastest(timings: &[Timing]) -> Option<usize> {
    timings
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.median.map(|m| (i, m)))
        .min_by_key(|&(i, m)| (m, i))
        .map(|(i, _)| i)
}

/// Times every candidate with `time_frame` (one frame's forward, or an injected figure in
/// tests) and returns the fastest one with all timings.
pub fn select_with<D, E>(
    mut candidates: Vec<D>,
    origin: impl Fn(&D) -> String,
    mut time_frame: impl FnMut(&mut D) -> Result<Duration, E>,
) -> Result<(D, Vec<Timing>), E> {
    let mut timings = Vec::with_capacity(candidates.len());
    let mut best: Option<Duration> = None;
    for c in candidates.iter_mut() {
        let warmup = time_frame(c)?;
        let median = if best.is_some_and(|b| warmup > b * ABANDON_FACTOR) {
            None
        } else {
            let mut ts = Vec::with_capacity(TIMED_FRAMES);
            for _ in 0..TIMED_FRAMES {
                ts.push(time_frame(c)?);
            }
            ts.sort();
            let m = ts[ts.len() / 2];
            best = Some(best.map_or(m, |b| b.min(m)));
            Some(m)
        };
        timings.push(Timing {
            origin: origin(c),
            warmup,
            median,
        });
    }
    let winner = fastest(&timings).expect("the first candidate is always timed");
    let chosen = candidates
        .into_iter()
        .nth(winner)
        .expect("winner is an index into candidates");
    Ok((chosen, timings))
}

/// Loads every model in `paths` and keeps the fastest on `frame`, logging each figure.
pub fn select(
    paths: &[PathBuf],
    sidecar: Option<&Path>,
    frame: &Frame<'_>,
) -> Result<Detector, ModelError> {
    let mut detectors = Vec::with_capacity(paths.len());
    for p in paths {
        detectors.push(Detector::load(p, sidecar)?);
    }
    let mut out = Detections::new();
    let (chosen, timings) = select_with(
        detectors,
        |d| d.origin().to_string(),
        |d| {
            let t = Instant::now();
            d.detect(frame, &mut out)?;
            Ok::<_, ModelError>(t.elapsed())
        },
    )?;
    for t in &timings {
        match t.median {
            Some(m) => log::info!(
                "--model auto: {}: {:.1} ms per frame (median of {TIMED_FRAMES})",
                t.origin,
                m.as_secs_f64() * 1e3
            ),
            None => log::info!(
                "--model auto: {}: {:.1} ms on its first frame, too slow to win",
                t.origin,
                t.warmup.as_secs_f64() * 1e3
            ),
        }
    }
    log::info!("--model auto: using {}", chosen.origin());
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A candidate whose frames take the given times, in order, repeating the last.
    struct Fake {
        name: &'static str,
        frames: Vec<u64>,
        calls: usize,
    }

    fn fake(name: &'static str, frames: &[u64]) -> Fake {
        Fake {
            name,
            frames: frames.to_vec(),
            calls: 0,
        }
    }

    fn run(cands: Vec<Fake>) -> (String, Vec<Timing>, Vec<usize>) {
        let mut calls = vec![0; cands.len()];
        let names: Vec<_> = cands.iter().map(|c| c.name).collect();
        let (chosen, timings) = select_with(
            cands,
            |c| c.name.to_string(),
            |c| {
                let ms = c.frames[c.calls.min(c.frames.len() - 1)];
                c.calls += 1;
                calls[names.iter().position(|n| *n == c.name).unwrap()] += 1;
                Ok::<_, ()>(Duration::from_millis(ms))
            },
        )
        .unwrap();
        (chosen.name.to_string(), timings, calls)
    }

    #[test]
    fn keeps_the_faster_variant() {
        let (c, t, _) = run(vec![
            fake("int8", &[30, 12, 11, 13]),
            fake("float", &[20, 9, 8, 10]),
        ]);
        assert_eq!(c, "float");
        assert_eq!(t[0].median, Some(Duration::from_millis(12)));
        assert_eq!(t[1].median, Some(Duration::from_millis(9)));
        let (c, _, _) = run(vec![
            fake("int8", &[30, 5, 6, 5]),
            fake("float", &[20, 9, 8, 10]),
        ]);
        assert_eq!(c, "int8");
    }

    #[test]
    fn the_median_not_one_lucky_frame_decides() {
        // float has one 1 ms frame but a 10 ms median; int8 is steady at 7 ms.
        let (c, _, _) = run(vec![
            fake("int8", &[9, 7, 7, 7]),
            fake("float", &[9, 1, 10, 10]),
        ]);
        assert_eq!(c, "int8");
    }

    #[test]
    fn a_tie_keeps_the_first_variant() {
        let (c, _, _) = run(vec![
            fake("int8", &[9, 8, 8, 8]),
            fake("float", &[9, 8, 8, 8]),
        ]);
        assert_eq!(c, "int8");
    }

    #[test]
    fn a_hopeless_variant_costs_one_frame() {
        // As on an AVX2-only x86: int8 first run 700 ms against float's 24 ms median.
        let (c, t, calls) = run(vec![
            fake("float", &[40, 24, 25, 24]),
            fake("int8", &[700, 675]),
        ]);
        assert_eq!(c, "float");
        assert_eq!(t[1].median, None);
        assert_eq!(t[1].warmup, Duration::from_millis(700));
        assert_eq!(calls, vec![1 + TIMED_FRAMES, 1]);
    }

    #[test]
    fn a_slow_first_run_alone_does_not_disqualify() {
        // 3x the best median on the warm-up is within the factor: timed, and it wins.
        let (c, t, calls) = run(vec![
            fake("float", &[30, 10, 10, 10]),
            fake("int8", &[30, 6, 6, 6]),
        ]);
        assert_eq!(c, "int8");
        assert!(t[1].median.is_some());
        assert_eq!(calls, vec![1 + TIMED_FRAMES, 1 + TIMED_FRAMES]);
    }

    #[test]
    fn errors_stop_the_selection() {
        let r = select_with(
            vec![1, 2],
            |c| c.to_string(),
            |c| {
                if *c == 2 {
                    Err("broken")
                } else {
                    Ok(Duration::from_millis(1))
                }
            },
        );
        assert_eq!(r.err(), Some("broken"));
    }

    #[test]
    fn finds_variants_only_when_there_is_a_choice() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(variants_in(dir.path(), ModelFamily::Synthetic), None);
        std::fs::write(dir.path().join("default.onnx"), b"x").unwrap();
        assert_eq!(variants_in(dir.path(), ModelFamily::Synthetic), None);
        std::fs::write(dir.path().join("default-float.onnx"), b"x").unwrap();
        let v = variants_in(dir.path(), ModelFamily::Synthetic).unwrap();
        assert_eq!(v[0].file_name().unwrap(), "default.onnx");
        assert_eq!(v[1].file_name().unwrap(), "default-float.onnx");
        assert!(is_auto(Path::new("auto")));
        assert_eq!(variants_dir(Path::new("auto")), Path::new("models"));
        assert!(is_auto(&dir.path().join("auto")));
        assert_eq!(variants_dir(&dir.path().join("auto")), dir.path());
        std::fs::write(dir.path().join("auto"), b"x").unwrap();
        assert!(
            !is_auto(&dir.path().join("auto")),
            "a real file named auto is a model"
        );
    }
}
