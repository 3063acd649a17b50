//! COCO JSON (instances file): images, annotations with `bbox` = [x, y, width, height] in
//! pixels, categories. Category ids map to contiguous 0-based labels: by the order of a
//! given class-name list, or by ascending category id.

use super::{
    boxes_per_class, clip_normalise, count_empty, drop_empty, load_entry, DataError, Dataset,
    DiskEntry, LoadStats, Sample,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CocoFile {
    #[serde(default)]
    pub images: Vec<CocoImage>,
    #[serde(default)]
    pub annotations: Vec<CocoAnnotation>,
    #[serde(default)]
    pub categories: Vec<CocoCategory>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CocoImage {
    pub id: u64,
    #[serde(default)]
    pub file_name: String,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CocoAnnotation {
    pub id: u64,
    pub image_id: u64,
    pub category_id: u64,
    pub bbox: [f64; 4],
    #[serde(default)]
    pub area: Option<f64>,
    #[serde(default)]
    pub iscrowd: u8,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CocoCategory {
    pub id: u64,
    pub name: String,
}

/// One detection in the COCO results format.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CocoResult {
    pub image_id: u64,
    pub category_id: u64,
    pub bbox: [f64; 4],
    pub score: f64,
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, DataError> {
    if !path.exists() {
        return Err(DataError::MissingPath {
            path: path.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| DataError::Annotation {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

type Entry = DiskEntry<u64>;

pub struct CocoDataset {
    classes: Vec<String>,
    /// category id of each label
    category_ids: Vec<u64>,
    entries: Vec<Entry>,
    stats: LoadStats,
}

impl CocoDataset {
    /// `class_names`: train on these categories (by name, in this order); `None`: all
    /// categories by ascending id. Crowd annotations are kept as `difficult`.
    pub fn open(
        json: &Path,
        image_dir: &Path,
        class_names: Option<&[String]>,
    ) -> Result<Self, DataError> {
        let file: CocoFile = read_json(json)?;
        if !image_dir.is_dir() {
            return Err(DataError::MissingPath {
                path: image_dir.to_path_buf(),
            });
        }
        let bad = |message: String| DataError::Annotation {
            path: json.to_path_buf(),
            message,
        };
        let mut cats = file.categories.clone();
        cats.sort_by_key(|c| c.id);
        let (classes, category_ids): (Vec<String>, Vec<u64>) = match class_names {
            None => cats.iter().map(|c| (c.name.clone(), c.id)).unzip(),
            Some(names) => {
                let mut ids = Vec::new();
                for (i, n) in names.iter().enumerate() {
                    if names[..i].contains(n) {
                        return Err(DataError::Config(format!("class {n:?} given twice")));
                    }
                    let c = cats.iter().find(|c| &c.name == n).ok_or_else(|| {
                        DataError::UnknownClass {
                            path: json.to_path_buf(),
                            name: n.clone(),
                            known: cats
                                .iter()
                                .map(|c| c.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        }
                    })?;
                    ids.push(c.id);
                }
                (names.to_vec(), ids)
            }
        };
        let label_of: HashMap<u64, usize> = category_ids
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, i))
            .collect();
        let known: HashMap<u64, ()> = cats.iter().map(|c| (c.id, ())).collect();
        let mut index: HashMap<u64, usize> = HashMap::new();
        let mut sizes = Vec::new();
        let mut entries = Vec::new();
        let mut stats = LoadStats::default();
        for img in &file.images {
            if index.insert(img.id, entries.len()).is_some() {
                return Err(bad(format!("image id {} appears twice", img.id)));
            }
            let path = image_dir.join(&img.file_name);
            let (w, h) = if img.width > 0 && img.height > 0 {
                (img.width, img.height)
            } else {
                image::image_dimensions(&path).map_err(|e| DataError::Image {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            };
            sizes.push((w, h));
            entries.push(Entry {
                id: img.id,
                image: path,
                boxes: vec![],
                labels: vec![],
                difficult: vec![],
            });
        }
        for a in &file.annotations {
            let &i = index.get(&a.image_id).ok_or_else(|| {
                bad(format!(
                    "annotation {} refers to unknown image id {}",
                    a.id, a.image_id
                ))
            })?;
            if !known.contains_key(&a.category_id) {
                return Err(bad(format!(
                    "annotation {} has unknown category id {}",
                    a.id, a.category_id
                )));
            }
            // categories outside the requested class list are not trained on
            let Some(&label) = label_of.get(&a.category_id) else {
                stats.other_class_boxes += 1;
                continue;
            };
            let [x, y, w, h] = a.bbox;
            let (iw, ih) = sizes[i];
            match clip_normalise([x, y, x + w, y + h], iw, ih) {
                Some((b, clipped)) => {
                    stats.clipped_boxes += clipped as usize;
                    stats.boxes += 1;
                    let e = &mut entries[i];
                    e.boxes.push(b);
                    e.labels.push(label);
                    e.difficult.push(a.iscrowd != 0);
                }
                None => stats.skipped_boxes += 1,
            }
        }
        stats.images = entries.len();
        stats.empty_annotations = entries.iter().filter(|e| e.boxes.is_empty()).count();
        Ok(CocoDataset {
            classes,
            category_ids,
            entries,
            stats,
        })
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

    /// Removes the images with no object of the chosen classes; returns how many. (torchvision's
    /// COCO detection recipe trains only on images with annotations.)
    pub fn skip_empty(&mut self) -> usize {
        drop_empty(&mut self.entries, &mut self.stats)
    }

    pub fn category_id(&self, label: usize) -> Option<u64> {
        self.category_ids.get(label).copied()
    }

    pub fn image_id(&self, i: usize) -> Option<u64> {
        self.entries.get(i).map(|e| e.id)
    }
}

impl Dataset for CocoDataset {
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
            .map(|e| e.id.to_string())
            .unwrap_or_default()
    }
}
