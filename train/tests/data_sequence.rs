//! Sequence frames as training data, and joined data sets.

use image::RgbImage;
use ssd_core::synth::{Sequence, SequenceConfig};
use ssd_train::data::{Concat, DataError, Dataset, Sample, SequenceFrames, SynthDataset};
use std::sync::Arc;

/// Sample `i` is the frame the sequence itself renders at that index: same pixels, and the
/// boxes are its true boxes, normalised.
#[test]
fn a_sample_is_the_sequence_frame_it_names() {
    let cfg = SequenceConfig::default();
    let set = SequenceFrames::new(cfg.clone(), 5, 40);
    let per = SequenceFrames::FRAMES_PER_SEQUENCE;
    for i in [0, 3, per + 7, 3 * per + 9] {
        let got = set.get(i).unwrap();
        let seed = set.sequence_seed(i / per);
        let frame =
            seed % SequenceFrames::FRAME_SPACING + (i % per) as u64 * SequenceFrames::FRAME_SPACING;
        let mut seq = Sequence::new(cfg.clone(), seed);
        let mut img = RgbImage::new(300, 300);
        let mut gt = Vec::new();
        for _ in 0..=frame {
            gt = seq.next_frame(&mut img).to_vec();
        }
        assert_eq!(got.image.as_raw(), img.as_raw(), "sample {i}");
        assert_eq!(got.labels.len(), gt.len());
        for (b, o) in got.boxes.iter().zip(&gt) {
            for k in 0..4 {
                assert!(
                    (b[k] * 300.0 - o.bbox[k]).abs() < 1e-3,
                    "{b:?} vs {:?}",
                    o.bbox
                );
            }
        }
        assert_eq!(
            got.labels,
            gt.iter().map(|o| o.class_id).collect::<Vec<_>>()
        );
    }
}

/// Training sequences are seeded apart from the held-out ones, which the evaluations number
/// 201-208, 301-306 and 401; and they vary: different sequences, different scenes.
#[test]
fn training_sequences_are_not_held_out_ones_and_differ() {
    let set = SequenceFrames::new(SequenceConfig::default(), 3, 600);
    let seeds: Vec<u64> = (0..60).map(|s| set.sequence_seed(s)).collect();
    for s in &seeds {
        assert!(*s > 10_000, "training sequence seed {s}");
    }
    let distinct: std::collections::BTreeSet<_> = seeds.iter().collect();
    assert_eq!(distinct.len(), seeds.len());
    let per = SequenceFrames::FRAMES_PER_SEQUENCE;
    let a = set.get(0).unwrap();
    let b = set.get(per).unwrap();
    assert_ne!(a.image.as_raw(), b.image.as_raw());
    // objects in most frames, and boxes inside the frame
    let with_objects = (0..100)
        .filter(|&i| {
            let s = set.get(i).unwrap();
            for b in &s.boxes {
                assert!(
                    b[0] >= 0.0 && b[1] >= 0.0 && b[2] <= 1.0 && b[3] <= 1.0,
                    "{b:?}"
                );
                assert!(b[0] < b[2] && b[1] < b[3], "{b:?}");
            }
            !s.boxes.is_empty()
        })
        .count();
    assert!(
        with_objects >= 90,
        "{with_objects} of 100 frames have objects"
    );
    assert!(matches!(
        set.get(600),
        Err(DataError::OutOfRange {
            index: 600,
            len: 600
        })
    ));
}

struct Named(Vec<String>);

impl Dataset for Named {
    fn len(&self) -> usize {
        1
    }
    fn get(&self, _: usize) -> Result<Sample, DataError> {
        unreachable!("never read")
    }
    fn class_names(&self) -> &[String] {
        &self.0
    }
}

#[test]
fn joined_sets_read_in_order_and_must_share_classes() {
    let stills: Arc<dyn Dataset> = Arc::new(SynthDataset::new(Default::default(), 1, 3));
    let frames: Arc<dyn Dataset> = Arc::new(SequenceFrames::new(SequenceConfig::default(), 1, 2));
    let joined = Concat::new(vec![stills.clone(), frames.clone()]).unwrap();
    assert_eq!(joined.len(), 5);
    assert_eq!(joined.class_names(), stills.class_names());
    for i in 0..3 {
        assert_eq!(
            joined.get(i).unwrap().image.as_raw(),
            stills.get(i).unwrap().image.as_raw()
        );
    }
    for i in 0..2 {
        assert_eq!(
            joined.get(3 + i).unwrap().image.as_raw(),
            frames.get(i).unwrap().image.as_raw()
        );
        assert_eq!(joined.sample_name(3 + i), frames.sample_name(i));
    }
    assert!(matches!(
        joined.get(5),
        Err(DataError::OutOfRange { index: 5, len: 5 })
    ));
    let other: Arc<dyn Dataset> = Arc::new(Named(vec!["person".into(), "dog".into()]));
    let err = Concat::new(vec![stills, other])
        .err()
        .expect("classes differ");
    assert!(err.to_string().contains("person,car,bicycle"), "{err}");
    assert!(Concat::new(vec![]).is_err());
}
