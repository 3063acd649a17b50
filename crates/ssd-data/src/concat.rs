//! Several data sets of the same classes read as one: samples of the first, then the next.

use super::{DataError, Dataset, Sample};
use std::sync::Arc;

pub struct Concat {
    parts: Vec<Arc<dyn Dataset>>,
}

impl Concat {
    /// Fails unless every part names the same classes in the same order: the labels are
    /// indices into those names.
    pub fn new(parts: Vec<Arc<dyn Dataset>>) -> Result<Self, DataError> {
        let Some(first) = parts.first() else {
            return Err(DataError::Config("no data sets to join".into()));
        };
        for p in &parts[1..] {
            if p.class_names() != first.class_names() {
                return Err(DataError::Config(format!(
                    "data sets with different classes cannot be joined: {} and {}",
                    first.class_names().join(","),
                    p.class_names().join(",")
                )));
            }
        }
        Ok(Concat { parts })
    }

    fn locate(&self, mut i: usize) -> Option<(&dyn Dataset, usize)> {
        for p in &self.parts {
            if i < p.len() {
                return Some((p.as_ref(), i));
            }
            i -= p.len();
        }
        None
    }
}

impl Dataset for Concat {
    fn len(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum()
    }

    fn get(&self, i: usize) -> Result<Sample, DataError> {
        let (part, j) = self.locate(i).ok_or(DataError::OutOfRange {
            index: i,
            len: self.len(),
        })?;
        part.get(j)
    }

    fn class_names(&self) -> &[String] {
        self.parts[0].class_names()
    }

    fn sample_name(&self, i: usize) -> String {
        match self.locate(i) {
            Some((part, j)) => part.sample_name(j),
            None => i.to_string(),
        }
    }
}
