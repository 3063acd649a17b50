//! Pascal VOC (VOCdevkit layout): `ROOT/Annotations/ID.xml`, `ROOT/JPEGImages/ID.jpg`,
//! `ROOT/ImageSets/Main/SPLIT.txt`. Annotations are parsed up front, so a bad file stops the
//! run at start-up with its name, not half way through an epoch.
//!
//! VOC boxes are 1-based inclusive pixels; a box xmin..xmax covers pixels xmin-1 .. xmax-1
//! 0-based, i.e. the continuous interval [xmin - 1, xmax], which is what we normalise.

use super::{
    boxes_per_class, clip_normalise, count_empty, drop_empty, load_entry, DataError, Dataset,
    DiskEntry, LoadStats, Sample,
};
use ssd_core::ssd::CornerBox;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

type Entry = DiskEntry<String>;

pub struct VocDataset {
    classes: Vec<String>,
    entries: Vec<Entry>,
    stats: LoadStats,
    missing_images: Vec<PathBuf>,
    /// Objects of other classes are dropped rather than an error (`open_subset`).
    subset: bool,
}

/// One object as written in / read from an annotation file (pixel VOC coordinates).
#[derive(Clone, Debug, PartialEq)]
pub struct VocObject {
    pub name: String,
    pub difficult: bool,
    /// xmin, ymin, xmax, ymax: 1-based inclusive, as in the XML.
    pub bndbox: [f64; 4],
}

#[derive(Clone, Debug, PartialEq)]
pub struct VocAnnotation {
    pub filename: String,
    pub width: u32,
    pub height: u32,
    pub objects: Vec<VocObject>,
}

impl VocDataset {
    /// Open split `split` (e.g. "trainval", "test") of one VOC root (e.g. VOCdevkit/VOC2007).
    pub fn open(root: &Path, split: &str, class_names: &[String]) -> Result<Self, DataError> {
        Self::open_many(&[(root.to_path_buf(), split.to_string())], class_names)
    }

    /// Several roots/splits as one set (e.g. VOC2007 trainval + VOC2012 trainval).
    pub fn open_many(
        parts: &[(PathBuf, String)],
        class_names: &[String],
    ) -> Result<Self, DataError> {
        Self::open_with(parts, class_names, false)
    }

    /// A class subset of the given roots/splits (e.g. person, car, bicycle of VOC's 20):
    /// objects of other classes are dropped (counted in `stats().other_class_boxes`), labels
    /// follow the order of `class_names`. Images left without objects stay in the set as
    /// negatives unless `skip_empty` removes them.
    pub fn open_subset(
        parts: &[(PathBuf, String)],
        class_names: &[String],
    ) -> Result<Self, DataError> {
        Self::open_with(parts, class_names, true)
    }

    fn open_with(
        parts: &[(PathBuf, String)],
        class_names: &[String],
        subset: bool,
    ) -> Result<Self, DataError> {
        if class_names.is_empty() {
            return Err(DataError::Config("no class names given".into()));
        }
        if let Some(d) = class_names
            .iter()
            .enumerate()
            .find(|(i, c)| class_names[..*i].contains(c))
        {
            return Err(DataError::Config(format!("class {:?} given twice", d.1)));
        }
        let mut ds = VocDataset {
            classes: class_names.to_vec(),
            entries: Vec::new(),
            stats: LoadStats::default(),
            missing_images: Vec::new(),
            subset,
        };
        for (root, split) in parts {
            ds.add_root(root, split)?;
        }
        Ok(ds)
    }

    fn add_root(&mut self, root: &Path, split: &str) -> Result<(), DataError> {
        if !root.is_dir() {
            return Err(DataError::MissingPath {
                path: root.to_path_buf(),
            });
        }
        let list = root
            .join("ImageSets")
            .join("Main")
            .join(format!("{split}.txt"));
        let text = std::fs::read_to_string(&list).map_err(|source| DataError::Io {
            path: list.clone(),
            source,
        })?;
        for line in text.lines() {
            // lines may be "ID" or per-class lists "ID  1"; the id is the first field
            let Some(id) = line.split_whitespace().next() else {
                continue;
            };
            let xml = root.join("Annotations").join(format!("{id}.xml"));
            let Some(image) = find_image(root, id) else {
                log::warn!(
                    "{}: no image for id {id} in JPEGImages, skipped",
                    list.display()
                );
                self.missing_images
                    .push(root.join("JPEGImages").join(format!("{id}.jpg")));
                continue;
            };
            let ann = read_annotation(&xml, Some(&image))?;
            let mut e = Entry {
                id: id.to_string(),
                image,
                boxes: vec![],
                labels: vec![],
                difficult: vec![],
            };
            if ann.objects.is_empty() {
                self.stats.empty_annotations += 1;
            }
            for o in &ann.objects {
                let Some(label) = self.classes.iter().position(|c| c == &o.name) else {
                    if self.subset {
                        self.stats.other_class_boxes += 1;
                        continue;
                    }
                    return Err(DataError::UnknownClass {
                        path: xml.clone(),
                        name: o.name.clone(),
                        known: self.classes.join(", "),
                    });
                };
                let b = o.bndbox;
                match clip_normalise([b[0] - 1.0, b[1] - 1.0, b[2], b[3]], ann.width, ann.height) {
                    Some((nb, clipped)) => {
                        self.stats.clipped_boxes += clipped as usize;
                        self.stats.boxes += 1;
                        e.boxes.push(nb);
                        e.labels.push(label);
                        e.difficult.push(o.difficult);
                    }
                    None => {
                        log::warn!(
                            "{}: degenerate box {:?} for {:?} skipped",
                            xml.display(),
                            b,
                            o.name
                        );
                        self.stats.skipped_boxes += 1;
                    }
                }
            }
            self.stats.images += 1;
            self.entries.push(e);
        }
        Ok(())
    }

    pub fn stats(&self) -> &LoadStats {
        &self.stats
    }

    /// Boxes of each class (label order).
    pub fn boxes_per_class(&self) -> Vec<usize> {
        boxes_per_class(&self.entries, self.classes.len())
    }

    /// Images with no object (of the chosen classes) in the set now.
    pub fn empty_images(&self) -> usize {
        count_empty(&self.entries)
    }

    /// Removes the images with no object (e.g. none of a subset's classes); returns how many.
    pub fn skip_empty(&mut self) -> usize {
        drop_empty(&mut self.entries, &mut self.stats)
    }

    /// Ids listed in the split whose image file was not found (skipped).
    pub fn missing_images(&self) -> &[PathBuf] {
        &self.missing_images
    }

    /// Ground truth of sample i without decoding the image (for evaluation).
    pub fn annotations(&self, i: usize) -> (&[CornerBox], &[usize], &[bool]) {
        let e = &self.entries[i];
        (&e.boxes, &e.labels, &e.difficult)
    }
}

fn find_image(root: &Path, id: &str) -> Option<PathBuf> {
    ["jpg", "png", "jpeg", "JPG", "PNG"]
        .iter()
        .map(|ext| root.join("JPEGImages").join(format!("{id}.{ext}")))
        .find(|p| p.is_file())
}

impl Dataset for VocDataset {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn get(&self, i: usize) -> Result<Sample, DataError> {
        load_entry(&self.entries, i)
    }

    fn class_names(&self) -> &[String] {
        &self.classes
    }

    fn sample_name(&self, i: usize) -> String {
        self.entries
            .get(i)
            .map(|e| e.id.clone())
            .unwrap_or_default()
    }
}

/// Parse one annotation file. An empty file is read as "no objects"; the image size then
/// comes from `image` (its header), as it does when `<size>` is missing or zero.
pub fn read_annotation(xml: &Path, image: Option<&Path>) -> Result<VocAnnotation, DataError> {
    let text = std::fs::read_to_string(xml).map_err(|source| DataError::Io {
        path: xml.to_path_buf(),
        source,
    })?;
    let bad = |message: String| DataError::Annotation {
        path: xml.to_path_buf(),
        message,
    };
    let mut ann = VocAnnotation {
        filename: String::new(),
        width: 0,
        height: 0,
        objects: vec![],
    };
    if !text.trim().is_empty() {
        let doc = roxmltree::Document::parse(&text).map_err(|e| bad(e.to_string()))?;
        let top = doc.root_element();
        if top.tag_name().name() != "annotation" {
            return Err(bad(format!(
                "root element is <{}>, expected <annotation>",
                top.tag_name().name()
            )));
        }
        ann.filename = child_text(top, "filename").unwrap_or_default().to_string();
        if let Some(size) = child(top, "size") {
            ann.width = parse_num::<u32>(size, "width").map_err(&bad)?.unwrap_or(0);
            ann.height = parse_num::<u32>(size, "height").map_err(&bad)?.unwrap_or(0);
        }
        for obj in top.children().filter(|n| n.has_tag_name("object")) {
            let name =
                child_text(obj, "name").ok_or_else(|| bad("<object> without <name>".into()))?;
            let difficult = parse_num::<f64>(obj, "difficult")
                .map_err(&bad)?
                .unwrap_or(0.0)
                != 0.0;
            let bb = child(obj, "bndbox")
                .ok_or_else(|| bad(format!("object {name:?} without <bndbox>")))?;
            let mut b = [0.0f64; 4];
            for (k, tag) in ["xmin", "ymin", "xmax", "ymax"].iter().enumerate() {
                b[k] = parse_num::<f64>(bb, tag)
                    .map_err(&bad)?
                    .ok_or_else(|| bad(format!("object {name:?}: <bndbox> without <{tag}>")))?;
            }
            ann.objects.push(VocObject {
                name: name.trim().to_string(),
                difficult,
                bndbox: b,
            });
        }
    }
    if ann.width == 0 || ann.height == 0 {
        let img = image.ok_or_else(|| bad("no <size> and no image to take it from".into()))?;
        let (w, h) = image::image_dimensions(img).map_err(|e| DataError::Image {
            path: img.to_path_buf(),
            message: e.to_string(),
        })?;
        ann.width = w;
        ann.height = h;
    }
    Ok(ann)
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(tag))
}

fn child_text<'a>(n: roxmltree::Node<'a, '_>, tag: &str) -> Option<&'a str> {
    child(n, tag).and_then(|c| c.text())
}

fn parse_num<T: std::str::FromStr>(n: roxmltree::Node, tag: &str) -> Result<Option<T>, String> {
    match child_text(n, tag) {
        None => Ok(None),
        Some(t) => t
            .trim()
            .parse::<T>()
            .map(Some)
            .map_err(|_| format!("<{tag}> is {:?}, not a number", t.trim())),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Serialise an annotation in the VOC format (what the devkit and most tools read).
pub fn write_annotation(ann: &VocAnnotation) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "<annotation>");
    let _ = writeln!(s, "  <folder>VOC</folder>");
    let _ = writeln!(s, "  <filename>{}</filename>", escape(&ann.filename));
    let _ = writeln!(
        s,
        "  <source><database>ssd-edge synthetic</database></source>"
    );
    let _ = writeln!(
        s,
        "  <size><width>{}</width><height>{}</height><depth>3</depth></size>",
        ann.width, ann.height
    );
    let _ = writeln!(s, "  <segmented>0</segmented>");
    for o in &ann.objects {
        let b = o.bndbox;
        let _ = writeln!(s, "  <object>");
        let _ = writeln!(s, "    <name>{}</name>", escape(&o.name));
        let _ = writeln!(s, "    <pose>Unspecified</pose>");
        let _ = writeln!(s, "    <truncated>0</truncated>");
        let _ = writeln!(s, "    <difficult>{}</difficult>", o.difficult as u8);
        let _ = writeln!(
            s,
            "    <bndbox><xmin>{}</xmin><ymin>{}</ymin><xmax>{}</xmax><ymax>{}</ymax></bndbox>",
            b[0], b[1], b[2], b[3]
        );
        let _ = writeln!(s, "  </object>");
    }
    let _ = writeln!(s, "</annotation>");
    s
}
