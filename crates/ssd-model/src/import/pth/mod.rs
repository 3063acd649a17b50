//! A native reader for PyTorch `.pth` state dicts written by `torch.save`, for `ssd-edge
//! import` (and the trainer's pretrained backbones): no Python, no libtorch, nothing in the
//! file is executed, so it runs on the board.
//!
//! Both layouts torch writes are read (`archive.rs`): the zip archive (torch >= 1.6) and the
//! legacy pickle stream (older files such as ssd.pytorch's 2017 weights, or
//! `_use_new_zipfile_serialization=False`). The pickle is interpreted by a small VM
//! (`pickle.rs`) that models dicts and torch's tensor rebuild calls only.
//!
//! Which dict is the state dict: the top object must be a dict (or `OrderedDict`). If it has
//! no tensor values but a dict under `state_dict`, `model_state_dict`, `model` or `net`
//! (tried in that order, at most three levels down), that dict is used instead, so training
//! checkpoints such as `{'epoch': 3, 'state_dict': {...}, 'optimizer': {...}}` load directly.
//!
//! What becomes an entry: every string key whose value is a tensor or `nn.Parameter`, whatever
//! its dtype (float16/bfloat16/float64 and integer or bool tensors such as BatchNorm's int64
//! `num_batches_tracked` are converted to f32). Other values (ints, strings, nested dicts,
//! objects) are skipped and listed by [`StateDict::skipped`]; integers above 2^24 round to
//! the nearest f32. A repeated key keeps its first position and its last value (as a Python
//! dict). Errors: a non-string key in the chosen dict, a tensor there stored in a form we do
//! not convert (quantized, sparse), and a storage type we do not know anywhere in the file
//! (complex, quantized storages).
//!
//! Bounds: files over [`MAX_FILE_BYTES`] and non-regular files are refused; every storage
//! must hold the bytes its persistent id declares and every tensor's size/stride/offset must
//! stay inside its storage; converted tensors may total at most two f32 values per input
//! byte plus 1 Mi (which only broadcast views, `expand`, could exceed) and never more than
//! [`MAX_ELEMENTS`]. The pickle itself may create at most a few million values.

mod archive;
mod pickle;
mod tensor;

use pickle::{Obj, Pickle, Value};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest file [`StateDict::read`] accepts (SSD300 weights are about 100 MB).
pub const MAX_FILE_BYTES: u64 = 2 << 30;

/// Most f32 values one read may produce (4 GiB); see the module docs for the other bound.
pub const MAX_ELEMENTS: u64 = 1 << 30;

/// Keys under which a checkpoint nests its state dict, in the order they are tried.
pub const NESTED_KEYS: [&str; 4] = ["state_dict", "model_state_dict", "model", "net"];

/// One tensor, converted to f32, row-major and contiguous.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorData {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl TensorData {
    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PthError {
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("{}: {len} bytes, more than the {max}-byte limit for a .pth file", path.display())]
    TooLarge { path: PathBuf, len: u64, max: u64 },
    /// Any of the errors below, with the file it came from.
    #[error("{}: {error}", path.display())]
    InFile { path: PathBuf, error: Box<PthError> },
    #[error("empty input: a torch.save file is a zip archive or a legacy pickle stream")]
    Empty,
    #[error("not a torch.save file: {0}")]
    Foreign(String),
    #[error("zip archive: {0}")]
    Zip(String),
    #[error("zip archive has no member {0}")]
    MissingMember(String),
    #[error("{what}: byte {offset}: {detail}")]
    Pickle {
        what: String,
        offset: usize,
        detail: String,
    },
    #[error("storage {key:?}: {detail}")]
    Storage { key: String, detail: String },
    #[error("tensor {name:?}: {detail}")]
    Tensor { name: String, detail: String },
    /// The pickle is valid but is not a dict of tensors.
    #[error("{0}")]
    Layout(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("key {key:?} appears twice once the prefix {prefix:?} is removed")]
    DuplicateKey { key: String, prefix: String },
    #[error("the state dict has no key {0:?}")]
    MissingKey(String),
    #[error("tensor {name:?} has shape {got:?}, expected {expected:?}")]
    WrongShape {
        name: String,
        got: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error("{} unused key(s) in the state dict: {}", .0.len(), .0.join(", "))]
    UnusedKeys(Vec<String>),
}

/// The tensors of a state dict, in the order the file lists them.
#[derive(Debug, Clone, Default)]
pub struct StateDict {
    /// `None` once taken; `index` maps a name to its slot.
    entries: Vec<Option<(String, TensorData)>>,
    index: HashMap<String, usize>,
    len: usize,
    skipped: Vec<String>,
}

impl StateDict {
    /// Reads a `.pth` file (at most [`MAX_FILE_BYTES`], regular files only: a device or a
    /// FIFO is refused before any read). Errors name the file.
    pub fn read(path: &Path) -> Result<StateDict, PthError> {
        let io = |error| PthError::Io {
            path: path.to_path_buf(),
            error,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if !meta.is_file() {
            return Err(PthError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        let too_large = |len| PthError::TooLarge {
            path: path.to_path_buf(),
            len,
            max: MAX_FILE_BYTES,
        };
        if meta.len() > MAX_FILE_BYTES {
            return Err(too_large(meta.len()));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        std::fs::File::open(path)
            .map_err(io)?
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large(bytes.len() as u64));
        }
        Self::from_bytes(&bytes).map_err(|e| PthError::InFile {
            path: path.to_path_buf(),
            error: Box::new(e),
        })
    }

    /// Parses a whole `.pth` file held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<StateDict, PthError> {
        let mut loaded = archive::open(bytes)?;
        let budget = (2 * bytes.len() as u64 + (1 << 20)).min(MAX_ELEMENTS);
        build(&mut loaded, budget)
    }

    pub fn get(&self, name: &str) -> Option<&TensorData> {
        let i = *self.index.get(name)?;
        self.entries.get(i)?.as_ref().map(|(_, t)| t)
    }

    /// Tensor names in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(n, _)| n)
    }

    /// `(name, tensor)` in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TensorData)> {
        self.entries.iter().flatten().map(|(n, t)| (n.as_str(), t))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keys of the chosen dict whose values were not tensors (e.g. an `epoch` int).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Removes and returns a tensor.
    pub fn take(&mut self, name: &str) -> Option<TensorData> {
        let i = self.index.remove(name)?;
        let (_, t) = self.entries.get_mut(i)?.take()?;
        self.len -= 1;
        Some(t)
    }

    /// [`take`](Self::take), with a missing key or another shape as an error naming both.
    pub fn take_shaped(&mut self, name: &str, shape: &[usize]) -> Result<TensorData, PthError> {
        match self.get(name) {
            None => Err(PthError::MissingKey(name.to_string())),
            Some(t) if t.shape != shape => Err(PthError::WrongShape {
                name: name.to_string(),
                got: t.shape.clone(),
                expected: shape.to_vec(),
            }),
            Some(_) => self
                .take(name)
                .ok_or_else(|| PthError::MissingKey(name.to_string())),
        }
    }

    /// An error listing the keys nobody took, if any.
    pub fn ensure_all_taken(&self) -> Result<(), PthError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(PthError::UnusedKeys(
                self.names().map(String::from).collect(),
            ))
        }
    }

    /// The same tensors with `prefix` removed from the names that start with it (others are
    /// kept as they are), e.g. `"module."` from a `DataParallel` save. Two names that become
    /// equal are an error.
    pub fn strip_prefix(self, prefix: &str) -> Result<StateDict, PthError> {
        let mut out = StateDict {
            skipped: self.skipped,
            ..StateDict::default()
        };
        for (name, t) in self.entries.into_iter().flatten() {
            let name = match name.strip_prefix(prefix) {
                Some(rest) => rest.to_string(),
                None => name,
            };
            if out.index.contains_key(&name) {
                return Err(PthError::DuplicateKey {
                    key: name,
                    prefix: prefix.to_string(),
                });
            }
            out.insert(name, t);
        }
        Ok(out)
    }

    /// Python dict semantics: a repeated key keeps its first position and takes the new value.
    fn insert(&mut self, name: String, t: TensorData) {
        match self.index.get(&name) {
            Some(&i) => self.entries[i] = Some((name, t)),
            None => {
                self.index.insert(name.clone(), self.entries.len());
                self.entries.push(Some((name, t)));
                self.len += 1;
            }
        }
    }
}

fn is_tensor(p: &Pickle, v: &Value) -> bool {
    matches!(p.obj(v), Some(Obj::Tensor(_)))
}

/// A dict's items, in pickle order.
type Items = [(Value, Value)];

/// The dict that holds the tensors (see the module docs), with the keys that led to it.
fn choose(p: &Pickle) -> Result<(&Items, Vec<&'static str>), PthError> {
    let mut cur = &p.root;
    let mut path = Vec::new();
    loop {
        let kv = match p.obj(cur) {
            Some(Obj::Dict(kv)) => kv,
            Some(Obj::Tensor(_)) if path.is_empty() => {
                return Err(PthError::Layout(
                    "the file holds a single tensor, not a dict of tensors".into(),
                ))
            }
            Some(Obj::Instance(g)) if path.is_empty() => {
                return Err(PthError::Layout(format!(
                    "the file holds an object of class {g}, not a dict of tensors \
                     (torch.save(model) pickles the module itself: save model.state_dict())"
                )))
            }
            _ => {
                return Err(PthError::Layout(format!(
                    "the top-level object is a {}, not a dict of tensors",
                    p.type_name(cur)
                )))
            }
        };
        if path.len() == 3 || kv.iter().any(|(_, v)| is_tensor(p, v)) {
            return Ok((kv, path));
        }
        let nested = NESTED_KEYS.iter().find_map(|&name| {
            kv.iter().rev().find_map(|(k, v)| {
                let is_dict = matches!(p.obj(v), Some(Obj::Dict(_)));
                matches!(k, Value::Str(k) if &**k == name && is_dict).then_some((name, v))
            })
        });
        match nested {
            Some((name, v)) => {
                path.push(name);
                cur = v;
            }
            None => return Ok((kv, path)),
        }
    }
}

fn build(loaded: &mut archive::Loaded<'_>, budget: u64) -> Result<StateDict, PthError> {
    // The pickle is moved out so that storages can be fetched (mutably) while it is read.
    let p = std::mem::replace(
        &mut loaded.pickle,
        Pickle {
            root: Value::None,
            objs: Vec::new(),
            end: 0,
        },
    );
    let (kv, path) = choose(&p)?;
    let where_ = if path.is_empty() {
        format!("the top-level dict of {}", loaded.what)
    } else {
        format!("{} in {}", path.join("."), loaded.what)
    };
    let mut out = StateDict::default();
    let mut dict_valued = Vec::new();
    let mut total = 0u64;
    for (k, v) in kv {
        let name = match k {
            Value::Str(s) => s.to_string(),
            other => {
                return Err(PthError::Layout(format!(
                    "{where_} has a key of type {}; a state dict's keys are strings",
                    p.type_name(other)
                )))
            }
        };
        let t = match p.obj(v) {
            Some(Obj::Tensor(t)) => t,
            Some(Obj::Instance(g)) if g.module.starts_with("torch") && g.name.starts_with("_rebuild") => {
                return Err(PthError::Tensor {
                    name,
                    detail: format!("stored with {g} (quantized, sparse or other special tensors are not supported)"),
                })
            }
            Some(Obj::Dict(_)) => {
                dict_valued.push(name.clone());
                out.skipped.push(name);
                continue;
            }
            _ => {
                out.skipped.push(name);
                continue;
            }
        };
        let tensor_err = |detail: String| PthError::Tensor {
            name: name.clone(),
            detail,
        };
        total = total.saturating_add(tensor::numel(&t.size).unwrap_or(u64::MAX));
        if total > budget {
            return Err(tensor_err(format!(
                "the tensors so far hold {total} elements, more than {budget} for a file of this size"
            )));
        }
        let storage = match p.objs.get(t.storage) {
            Some(Obj::Storage(s)) => s,
            _ => return Err(tensor_err("its storage reference is broken".into())),
        };
        let bytes = loaded
            .storage(storage)
            .map_err(|e| tensor_err(e.to_string()))?;
        let (shape, data) =
            tensor::gather(t, bytes, loaded.big_endian).map_err(|d| tensor_err(d.to_string()))?;
        out.insert(name, TensorData { shape, data });
    }
    if out.is_empty() && !dict_valued.is_empty() {
        return Err(PthError::Layout(format!(
            "{where_} holds no tensors; it has dicts under {}, none of them named {}",
            dict_valued.join(", "),
            NESTED_KEYS.join("/")
        )));
    }
    // Skipped keys that were overwritten later by a tensor are not skipped.
    let StateDict { index, skipped, .. } = &mut out;
    skipped.retain(|n| !index.contains_key(n));
    Ok(out)
}
