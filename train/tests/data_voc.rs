//! VOC and COCO readers: round trip through the synthetic writer, and every kind of bad
//! input -> a clear error naming the file, or a counted skip.

use ssd_core::synth::{render_scene, SynthConfig};
use ssd_train::data::synth_set::{class_names, write_voc, ImageFormat, Split};
use ssd_train::data::{CocoDataset, DataError, Dataset, VocDataset};
use std::path::Path;

fn write_set(dir: &Path, n: usize) {
    write_voc(
        dir,
        &SynthConfig::default(),
        n,
        21,
        Split {
            train: 0.5,
            val: 0.25,
        },
        ImageFormat::Png,
    )
    .unwrap();
}

#[test]
fn synthetic_voc_round_trips_exactly() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), 8);
    let names = class_names();
    let all: usize = ["train", "val", "test"]
        .iter()
        .map(|s| VocDataset::open(dir.path(), s, &names).unwrap().len())
        .sum();
    assert_eq!(all, 8);
    let ds = VocDataset::open(dir.path(), "trainval", &names).unwrap();
    assert_eq!(ds.len(), 6);
    assert_eq!(ds.stats().skipped_boxes, 0);
    for i in 0..ds.len() {
        let s = ds.get(i).unwrap();
        let (img, gt) = render_scene(&SynthConfig::default(), 21, i as u64);
        assert_eq!(s.image.as_raw(), img.as_raw(), "png is lossless");
        assert_eq!(s.boxes.len(), gt.len());
        for (k, o) in gt.iter().enumerate() {
            let want = o.bbox.map(|v| v / 300.0);
            for c in 0..4 {
                assert!(
                    (s.boxes[k][c] - want[c]).abs() < 1e-6,
                    "{:?} vs {:?}",
                    s.boxes[k],
                    want
                );
            }
            assert_eq!(s.labels[k], o.class_id);
            assert_eq!(s.difficult[k], o.difficult);
        }
    }
}

fn voc_root(dir: &Path) -> std::path::PathBuf {
    for d in ["Annotations", "JPEGImages", "ImageSets/Main"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    dir.to_path_buf()
}

fn put_image(dir: &Path, id: &str, w: u32, h: u32) {
    image::RgbImage::new(w, h)
        .save(dir.join("JPEGImages").join(format!("{id}.png")))
        .unwrap();
}

fn ann(objects: &str, w: u32, h: u32) -> String {
    format!("<annotation><size><width>{w}</width><height>{h}</height></size>{objects}</annotation>")
}

fn obj(name: &str, b: [f64; 4], difficult: u8) -> String {
    format!(
        "<object><name>{name}</name><difficult>{difficult}</difficult><bndbox><xmin>{}</xmin><ymin>{}</ymin><xmax>{}</xmax><ymax>{}</ymax></bndbox></object>",
        b[0], b[1], b[2], b[3]
    )
}

#[test]
fn clipping_skipping_empty_and_missing_images_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let root = voc_root(dir.path());
    let names = class_names();
    // a: one normal, one out of the image (clipped), one degenerate (skipped)
    put_image(&root, "a", 100, 50);
    let objs = obj("person", [11.0, 11.0, 30.0, 40.0], 1)
        + &obj("car", [-20.0, 5.0, 150.0, 60.0], 0)
        + &obj("car", [40.0, 10.0, 39.0, 20.0], 0);
    std::fs::write(root.join("Annotations/a.xml"), ann(&objs, 100, 50)).unwrap();
    // b: empty file; size comes from the image
    put_image(&root, "b", 64, 64);
    std::fs::write(root.join("Annotations/b.xml"), "").unwrap();
    // c: listed but no image
    std::fs::write(root.join("Annotations/c.xml"), ann("", 10, 10)).unwrap();
    std::fs::write(root.join("ImageSets/Main/x.txt"), "a\nb\nc\n").unwrap();
    let ds = VocDataset::open(&root, "x", &names).unwrap();
    assert_eq!(ds.len(), 2);
    let st = ds.stats();
    assert_eq!(
        (
            st.boxes,
            st.clipped_boxes,
            st.skipped_boxes,
            st.empty_annotations
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(ds.missing_images().len(), 1);
    let s = ds.get(0).unwrap();
    assert_eq!(s.boxes[0], [0.1, 0.2, 0.3, 0.8]);
    assert_eq!(s.boxes[1], [0.0, 0.08, 1.0, 1.0]);
    assert_eq!(s.difficult, vec![true, false]);
    assert!(ds.get(1).unwrap().boxes.is_empty());
}

#[test]
fn bad_inputs_are_clear_errors() {
    let names = class_names();
    let err = VocDataset::open(Path::new("/no/such/voc"), "train", &names)
        .err()
        .unwrap();
    assert!(matches!(err, DataError::MissingPath { .. }), "{err}");
    assert!(err.to_string().contains("/no/such/voc"));

    let dir = tempfile::tempdir().unwrap();
    let root = voc_root(dir.path());
    put_image(&root, "a", 20, 20);
    std::fs::write(root.join("ImageSets/Main/s.txt"), "a\n").unwrap();
    std::fs::write(
        root.join("Annotations/a.xml"),
        ann(&obj("zebra", [1.0, 1.0, 5.0, 5.0], 0), 20, 20),
    )
    .unwrap();
    let err = VocDataset::open(&root, "s", &names)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("a.xml") && err.contains("zebra"), "{err}");

    std::fs::write(root.join("Annotations/a.xml"), "<annotation><object>").unwrap();
    let err = VocDataset::open(&root, "s", &names)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("a.xml") && err.contains("malformed"), "{err}");

    std::fs::write(
        root.join("Annotations/a.xml"),
        ann(
            &obj("car", [1.0, 1.0, 5.0, 5.0], 0).replace("<xmax>5</xmax>", "<xmax>five</xmax>"),
            20,
            20,
        ),
    )
    .unwrap();
    let err = VocDataset::open(&root, "s", &names)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("a.xml") && err.contains("five"), "{err}");

    // a corrupt image is found when read: an error naming it, no panic
    std::fs::write(
        root.join("Annotations/a.xml"),
        ann(&obj("car", [1.0, 1.0, 5.0, 5.0], 0), 20, 20),
    )
    .unwrap();
    std::fs::write(root.join("JPEGImages/a.png"), b"\x89PNG\r\n\x1a\ngarbage").unwrap();
    let ds = VocDataset::open(&root, "s", &names).unwrap();
    let err = ds.get(0).err().unwrap().to_string();
    assert!(err.contains("a.png"), "{err}");

    let err = VocDataset::open(&root, "missing-split", &names)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("missing-split.txt"), "{err}");
}

#[test]
fn coco_reader_maps_categories_and_converts_boxes() {
    let dir = tempfile::tempdir().unwrap();
    image::RgbImage::new(200, 100)
        .save(dir.path().join("i.png"))
        .unwrap();
    let json = serde_json::json!({
        "images": [{"id": 5, "file_name": "i.png", "width": 200, "height": 100}],
        "annotations": [
            {"id": 1, "image_id": 5, "category_id": 18, "bbox": [20, 10, 40, 30], "area": 1200, "iscrowd": 0},
            {"id": 2, "image_id": 5, "category_id": 3, "bbox": [190, 90, 50, 50], "area": 2500, "iscrowd": 1},
            {"id": 3, "image_id": 5, "category_id": 3, "bbox": [10, 10, 0, 5], "area": 0, "iscrowd": 0}
        ],
        "categories": [{"id": 18, "name": "dog"}, {"id": 3, "name": "car"}]
    });
    let jp = dir.path().join("gt.json");
    std::fs::write(&jp, json.to_string()).unwrap();
    let ds = CocoDataset::open(&jp, dir.path(), None).unwrap();
    assert_eq!(ds.class_names(), &["car".to_string(), "dog".to_string()]);
    let s = ds.get(0).unwrap();
    assert_eq!(s.labels, vec![1, 0]);
    assert_eq!(s.boxes[0], [0.1, 0.1, 0.3, 0.4]);
    assert_eq!(s.boxes[1], [0.95, 0.9, 1.0, 1.0]);
    assert_eq!(s.difficult, vec![false, true]);
    assert_eq!((ds.stats().clipped_boxes, ds.stats().skipped_boxes), (1, 1));
    let only_dog = CocoDataset::open(&jp, dir.path(), Some(&["dog".to_string()])).unwrap();
    assert_eq!(only_dog.get(0).unwrap().labels, vec![0]);
    let err = CocoDataset::open(&jp, dir.path(), Some(&["cat".to_string()]))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("gt.json") && err.contains("cat"), "{err}");
    std::fs::write(&jp, "{ not json").unwrap();
    let err = CocoDataset::open(&jp, dir.path(), None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("gt.json"), "{err}");
}
