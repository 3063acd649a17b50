//! Counting with the detector taken out: the synthetic sequence's true boxes, spoiled the way a
//! detector spoils them (pixel jitter, 20 % of boxes missing at random, a box flickering on
//! the line), through the real tracker and counter. The counts must equal the sequence's own
//! crossing counts exactly, on sequences of at least 200 crossings.

use ssd_edge::count::{
    Anchor, CountSpec, Counter, Direction, EventKind, EventTime, LineConfig, TotalKey, Units,
};
use ssd_edge::synth::{Rng, Sequence, SequenceConfig, CLASS_NAMES, NUM_CLASSES};
use ssd_edge::track::{TrackInput, Tracker, TrackerConfig};

fn labels() -> Vec<String> {
    std::iter::once("background")
        .chain(CLASS_NAMES)
        .map(String::from)
        .collect()
}

/// The sequence's line (vertical at `line_x`, box centres): A at the bottom, B at the top, so
/// `in` is left to right.
fn spec(line_x: f32, width: f32) -> CountSpec {
    let x = line_x / width;
    CountSpec {
        lines: vec![LineConfig {
            name: "truth".into(),
            a: [x, 1.0],
            b: [x, 0.0],
            units: Units::Fraction,
            band: None,
            band_height: None,
            anchor: Anchor::Center,
            extend: true,
            classes: None,
        }],
        zones: vec![],
    }
}

struct Spoil {
    jitter: f32,
    drop: f32,
    /// Add a person who walks to the line, stands on it with the box dithering across it
    /// (and often missing), then walks on: one true crossing per visit.
    flicker: bool,
}

/// Visits of the flickering person: one starts every `FLICKER_EVERY` frames.
const FLICKER_EVERY: u64 = 700;
const FLICKER_WALK: u64 = 40;
const FLICKER_STAND: u64 = 150;

/// The flickering person's box in frame `f` (None: not there or not detected), and the
/// direction of its visit. Seen beyond the band for 40 frames on each side, so it really
/// crosses once.
fn flicker_box(f: u64, line_x: f32, height: f32, rng: &mut Rng) -> Option<([f32; 4], usize)> {
    let visit = f / FLICKER_EVERY;
    let k = f % FLICKER_EVERY;
    if k >= 2 * FLICKER_WALK + FLICKER_STAND {
        return None;
    }
    let mut v = Rng::from_parts(&[visit, 0xF11C]);
    let right = v.chance(0.5);
    let y0 = v.range_f32(0.0, height - 70.0);
    let step = if right { 2.0 } else { -2.0 };
    let cx = if k < FLICKER_WALK {
        line_x - step * (FLICKER_WALK - k) as f32
    } else if k < FLICKER_WALK + FLICKER_STAND {
        if rng.chance(0.3) {
            return None;
        }
        line_x + rng.range_f32(-6.0, 6.0)
    } else {
        line_x + step * (k + 1 - FLICKER_WALK - FLICKER_STAND) as f32
    };
    Some(([cx - 13.0, y0, cx + 13.0, y0 + 70.0], usize::from(!right)))
}

/// Runs a sequence until it has made `crossings` true crossings; returns (true, counted) per
/// class and direction.
type PerClass<T> = [[T; 2]; NUM_CLASSES];

fn count(seed: u64, crossings: u32, spoil: Spoil) -> (PerClass<u32>, PerClass<u64>) {
    let mut cfg = SequenceConfig::default();
    // The boxes come from what is drawn; the per-pixel lighting and noise only cost time.
    cfg.scene.lighting = false;
    cfg.scene.noise = 0;
    let (w, h) = (cfg.scene.width, cfg.scene.height);
    let mut seq = Sequence::new(cfg, seed);
    let mut img = image::RgbImage::new(w, h);
    let mut rng = Rng::from_parts(&[seed, 0x5B01]);
    let labels = labels();
    let tcfg = TrackerConfig::default();
    let mut tracker = Tracker::new(&tcfg);
    let mut counter = Counter::new(spec(seq.line_x(), w as f32), &labels, tcfg.capacity).unwrap();
    let mut inputs = Vec::with_capacity(64);
    let mut frame = 0u64;
    let mut flicker_counts = [0u32; 2];
    let line_x = seq.line_x();
    loop {
        let gt = seq.next_frame(&mut img);
        inputs.clear();
        let k = frame % FLICKER_EVERY;
        let flicker_near = spoil.flicker && k < 2 * FLICKER_WALK + FLICKER_STAND;
        if spoil.flicker {
            if k == 2 * FLICKER_WALK + FLICKER_STAND - 1 {
                // the visit ends beyond the band: its crossing is complete
                let (_, d) = flicker_box(frame, line_x, h as f32, &mut rng).unwrap();
                flicker_counts[d] += 1;
            }
            if let Some((b, _)) = flicker_box(frame, line_x, h as f32, &mut rng) {
                if !rng.chance(spoil.drop) {
                    inputs.push(TrackInput {
                        class_id: 1,
                        score: rng.range_f32(0.55, 0.95),
                        bbox: b,
                    });
                }
            }
        }
        for g in gt {
            if rng.chance(spoil.drop) {
                continue;
            }
            let score = rng.range_f32(0.55, 0.95);
            let mut j = || rng.range_f32(-spoil.jitter, spoil.jitter);
            let b = g.bbox;
            inputs.push(TrackInput {
                class_id: g.class_id as u16 + 1,
                score,
                bbox: [b[0] + j(), b[1] + j(), b[2] + j(), b[3] + j()],
            });
        }
        let out = tracker.update(&inputs);
        let time = EventTime {
            wall_ms: 1_800_000_000_000 + frame as i64 * 66,
            mono_ms: frame * 66,
            clock_suspect: false,
        };
        counter
            .update((w, h), out.tracks, out.removed, frame, time)
            .unwrap();
        frame += 1;
        // End where the truth and the counter agree on what happened: no object near the
        // line, where the truth has counted a crossing that the band has not confirmed yet.
        let total: u32 = seq.counts().iter().flatten().sum();
        let near = seq
            .objects()
            .iter()
            .any(|g| (0.5 * (g.bbox[0] + g.bbox[2]) - seq.line_x()).abs() < 20.0);
        if total >= crossings && !near && !flicker_near {
            break;
        }
    }
    let mut counted = [[0u64; 2]; NUM_CLASSES];
    for (k, n) in counter.totals() {
        if k.kind != EventKind::Crossing {
            continue;
        }
        let class = CLASS_NAMES
            .iter()
            .position(|c| *c == k.label.as_str())
            .unwrap();
        let d = match k.direction {
            Some(Direction::In) => 0,
            _ => 1,
        };
        counted[class][d] += n;
    }
    let mut truth = *seq.counts();
    truth[0][0] += flicker_counts[0];
    truth[0][1] += flicker_counts[1];
    (truth, counted)
}

fn assert_exact(truth: PerClass<u32>, counted: PerClass<u64>) {
    let t: Vec<u64> = truth.iter().flatten().map(|&v| v as u64).collect();
    let c: Vec<u64> = counted.iter().flatten().copied().collect();
    assert_eq!(
        c, t,
        "counted vs true crossings, [class][in (left->right), out]"
    );
}

#[test]
fn exact_counts_on_clean_true_boxes() {
    let (truth, counted) = count(
        11,
        200,
        Spoil {
            jitter: 0.0,
            drop: 0.0,
            flicker: false,
        },
    );
    assert_exact(truth, counted);
}

/// 3 px jitter, 20 % of boxes missing and a person flickering on the line: still exact, per
/// class and direction, on two sequences of at least 200 crossings each.
#[test]
fn exact_counts_with_jitter_dropouts_and_flicker() {
    for seed in [12, 13] {
        let (truth, counted) = count(
            seed,
            200,
            Spoil {
                jitter: 3.0,
                drop: 0.2,
                flicker: true,
            },
        );
        eprintln!("seed {seed}: true {truth:?} counted {counted:?}");
        assert_exact(truth, counted);
    }
}

#[test]
fn a_box_flickering_on_the_line_counts_once() {
    let labels = labels();
    let tcfg = TrackerConfig::default();
    let mut tracker = Tracker::new(&tcfg);
    let mut counter = Counter::new(spec(150.0, 300.0), &labels, tcfg.capacity).unwrap();
    let mut rng = Rng::new(5);
    let mut ins = 0;
    // walks up to the line, dithers across it for 200 frames (jitter 4 px, some frames
    // missing), then walks on
    let xs = (0..40)
        .map(|i| 60.0 + i as f32 * 2.0)
        .chain((0..200).map(|_| 150.0))
        .chain((0..40).map(|i| 150.0 + i as f32 * 2.0));
    for (f, x) in xs.enumerate() {
        let x = x + rng.range_f32(-4.0, 4.0);
        let dets = if rng.chance(0.15) {
            vec![]
        } else {
            vec![TrackInput {
                class_id: 1,
                score: 0.8,
                bbox: [x - 15.0, 100.0, x + 15.0, 190.0],
            }]
        };
        let out = tracker.update(&dets);
        let t = EventTime {
            wall_ms: 0,
            mono_ms: f as u64,
            clock_suspect: false,
        };
        ins += counter
            .update((300, 300), out.tracks, out.removed, f as u64, t)
            .unwrap()
            .len();
    }
    assert_eq!(ins, 1);
    let k = TotalKey {
        place: ssd_edge::count::event::name("truth"),
        kind: EventKind::Crossing,
        label: ssd_edge::count::event::name("person"),
        direction: Some(Direction::In),
    };
    assert_eq!(counter.totals().iter().find(|(t, _)| *t == k).unwrap().1, 1);
}
