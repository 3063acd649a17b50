//! The two container layouts `torch.save` writes, down to one pickle and its storages' bytes.
//!
//! - zip (torch >= 1.6): `<prefix>/data.pkl`, one stored member `<prefix>/data/<key>` per
//!   storage, `<prefix>/byteorder` ("little"/"big", absent before torch 1.10: little). The
//!   prefix is the first member's directory (torch names it after the file, or "archive").
//! - legacy (`_use_new_zipfile_serialization=False`, and every file before torch 1.6): five
//!   pickles back to back (magic number, protocol version 1001, sys_info, the object, the
//!   sorted list of storage keys), then per key an 8-byte element count and the raw elements.
//!
//! Storages are borrowed slices of the input: nothing is copied until the f32 conversion.
//! The zip's `version`, `.format_version` and `.storage_alignment` records are not checked:
//! the layout above is the same in all of them (torch 1.6 to 2.x).

use super::pickle::{self, Obj, Pickle, StorageRef, Value};
use super::PthError;
use std::collections::HashMap;
use std::io::Cursor;
use zip::{CompressionMethod, ZipArchive};

/// `torch.serialization.MAGIC_NUMBER`.
const LEGACY_MAGIC: i128 = 0x1950a86a20f9469cfc6c;
/// `torch.serialization.PROTOCOL_VERSION`.
const LEGACY_PROTOCOL: i128 = 1001;

pub(crate) struct Loaded<'a> {
    pub pickle: Pickle,
    /// Where the pickle came from, for messages: "archive/data.pkl" or "legacy pickle".
    pub what: String,
    pub big_endian: bool,
    storages: Storages<'a>,
}

enum Storages<'a> {
    Zip {
        archive: Box<ZipArchive<Cursor<&'a [u8]>>>,
        bytes: &'a [u8],
        prefix: String,
        cache: HashMap<String, &'a [u8]>,
    },
    Legacy(HashMap<String, &'a [u8]>),
}

pub(crate) fn open(bytes: &[u8]) -> Result<Loaded<'_>, PthError> {
    if bytes.is_empty() {
        return Err(PthError::Empty);
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return open_zip(bytes);
    }
    if bytes.first() == Some(&0x80) {
        return open_legacy(bytes);
    }
    if bytes.get(257..262) == Some(b"ustar") {
        return Err(PthError::Foreign(
            "a tar archive: torch.save's format before torch 0.1.10 is not supported".into(),
        ));
    }
    let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Err(PthError::Foreign(format!(
        "starts with bytes {}, neither a zip archive (PK) nor a pickle (0x80)",
        head.join(" ")
    )))
}

fn zip_err(e: zip::result::ZipError) -> PthError {
    match e {
        zip::result::ZipError::InvalidArchive(_) => {
            PthError::Zip(format!("{e} (the file is truncated or corrupt)"))
        }
        e => PthError::Zip(e.to_string()),
    }
}

fn open_zip(bytes: &[u8]) -> Result<Loaded<'_>, PthError> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(zip_err)?;
    if archive.is_empty() {
        return Err(PthError::Zip("the archive has no members".into()));
    }
    let first = archive.by_index(0).map_err(zip_err)?.name().to_string();
    let prefix = match first.split_once('/') {
        Some((p, _)) => p.to_string(),
        None => {
            return Err(PthError::MissingMember(format!(
                "<archive>/data.pkl (the first member, {first:?}, is not in a directory)"
            )))
        }
    };
    if archive.file_names().any(|n| {
        n == format!("{prefix}/constants.pkl") || n.starts_with(&format!("{prefix}/code/"))
    }) {
        return Err(PthError::Unsupported(
            "a TorchScript archive (torch.jit.save), not a torch.save state dict".into(),
        ));
    }
    let pkl_name = format!("{prefix}/data.pkl");
    let pkl = match stored_member(&mut archive, bytes, &pkl_name) {
        Ok(p) => p,
        Err(PthError::MissingMember(_)) => {
            let mut names: Vec<&str> = archive.file_names().collect();
            names.sort_unstable();
            names.truncate(6);
            return Err(PthError::MissingMember(format!(
                "{pkl_name} (members include {}): not a torch.save file",
                names.join(", ")
            )));
        }
        Err(e) => return Err(e),
    };
    let big_endian = match stored_member(&mut archive, bytes, &format!("{prefix}/byteorder")) {
        Ok(b"little") => false,
        Ok(b"big") => true,
        Ok(other) => {
            return Err(PthError::Zip(format!(
                "{prefix}/byteorder holds {:?}, expected \"little\" or \"big\"",
                String::from_utf8_lossy(&other[..other.len().min(16)])
            )))
        }
        Err(PthError::MissingMember(_)) => false,
        Err(e) => return Err(e),
    };
    let pickle = pickle::load(pkl, 0).map_err(|(offset, detail)| PthError::Pickle {
        what: pkl_name.clone(),
        offset,
        detail,
    })?;
    Ok(Loaded {
        pickle,
        what: pkl_name,
        big_endian,
        storages: Storages::Zip {
            archive: Box::new(archive),
            bytes,
            prefix,
            cache: HashMap::new(),
        },
    })
}

/// A stored (uncompressed) member as a slice of the input, its CRC checked.
fn stored_member<'a>(
    archive: &mut ZipArchive<Cursor<&'a [u8]>>,
    bytes: &'a [u8],
    name: &str,
) -> Result<&'a [u8], PthError> {
    let f = match archive.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(PthError::MissingMember(name.to_string()))
        }
        Err(e) => return Err(PthError::Zip(format!("{name}: {e}"))),
    };
    if f.compression() != CompressionMethod::Stored || f.compressed_size() != f.size() {
        return Err(PthError::Zip(format!(
            "{name} is compressed ({}); torch.save writes stored members",
            f.compression()
        )));
    }
    let slice = usize::try_from(f.data_start())
        .ok()
        .zip(usize::try_from(f.size()).ok())
        .and_then(|(start, len)| bytes.get(start..start.checked_add(len)?))
        .ok_or_else(|| {
            PthError::Zip(format!(
                "{name}: {} bytes at offset {} run past the end of the file ({} bytes)",
                f.size(),
                f.data_start(),
                bytes.len()
            ))
        })?;
    if crc32fast::hash(slice) != f.crc32() {
        return Err(PthError::Zip(format!(
            "{name}: CRC-32 mismatch (the file is corrupt)"
        )));
    }
    Ok(slice)
}

fn open_legacy(bytes: &[u8]) -> Result<Loaded<'_>, PthError> {
    let run = |start: usize, what: &str| {
        pickle::load(bytes, start).map_err(|(offset, detail)| PthError::Pickle {
            what: format!("legacy {what} pickle"),
            offset,
            detail,
        })
    };
    let magic = run(0, "magic-number")?;
    if !matches!(magic.root, Value::Int(LEGACY_MAGIC)) {
        return Err(PthError::Foreign(format!(
            "a pickle whose first object is a {}, not torch's magic number",
            magic.type_name(&magic.root)
        )));
    }
    let proto = run(magic.end, "protocol-version")?;
    match proto.root {
        Value::Int(LEGACY_PROTOCOL) => {}
        Value::Int(v) => {
            return Err(PthError::Unsupported(format!(
                "legacy torch.save protocol version {v} (only {LEGACY_PROTOCOL} exists)"
            )))
        }
        _ => {
            return Err(PthError::Foreign(
                "legacy protocol version is not an int".into(),
            ))
        }
    }
    let sys = run(proto.end, "sys_info")?;
    let big_endian = match sys.obj(&sys.root) {
        Some(Obj::Dict(kv)) => kv.iter().any(|(k, v)| {
            matches!(k, Value::Str(k) if &**k == "little_endian") && matches!(v, Value::Bool(false))
        }),
        _ => return Err(PthError::Foreign("legacy sys_info is not a dict".into())),
    };
    let main = run(sys.end, "main")?;
    let keys = run(main.end, "storage-key list")?;
    let key_list: Vec<String> = match keys.obj(&keys.root) {
        Some(Obj::List(l)) => l
            .iter()
            .map(|k| match k {
                Value::Str(s) => Ok(s.to_string()),
                Value::Int(i) => Ok(i.to_string()),
                _ => Err(PthError::Foreign(
                    "legacy storage key is not a string".into(),
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(PthError::Foreign(
                "legacy storage-key list is not a list".into(),
            ))
        }
    };
    // The element size of each key comes from the persistent ids in the main pickle.
    let mut item: HashMap<&str, usize> = HashMap::new();
    for o in &main.objs {
        if let Obj::Storage(s) = o {
            item.entry(s.key.as_str()).or_insert(s.dtype.size());
        }
    }
    let mut slices = HashMap::new();
    let mut pos = keys.end;
    for key in &key_list {
        let size = *item.get(key.as_str()).ok_or_else(|| PthError::Storage {
            key: key.clone(),
            detail: "listed after the pickle but never referenced in it".into(),
        })?;
        let short = |what: &str| PthError::Storage {
            key: key.clone(),
            detail: format!("the file is truncated in its {what} (at byte {pos})"),
        };
        let mut count = [0u8; 8];
        count.copy_from_slice(
            bytes
                .get(pos..pos + 8)
                .ok_or_else(|| short("element count"))?,
        );
        let count = if big_endian {
            u64::from_be_bytes(count)
        } else {
            u64::from_le_bytes(count)
        };
        let start = pos + 8;
        let end = count
            .checked_mul(size as u64)
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| start.checked_add(n))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| PthError::Storage {
                key: key.clone(),
                detail: format!(
                    "claims {count} elements of {size} bytes at byte {start}, past the end of the file ({} bytes)",
                    bytes.len()
                ),
            })?;
        slices.insert(key.clone(), &bytes[start..end]);
        pos = end;
    }
    Ok(Loaded {
        pickle: main,
        what: "legacy main pickle".into(),
        big_endian,
        storages: Storages::Legacy(slices),
    })
}

impl<'a> Loaded<'a> {
    /// The bytes of a storage as a tensor sees it: the root storage, at least as long as
    /// the persistent id says, narrowed to a legacy view if there is one.
    pub fn storage(&mut self, s: &StorageRef) -> Result<&'a [u8], PthError> {
        let err = |detail: String| PthError::Storage {
            key: s.key.clone(),
            detail,
        };
        let root = match &mut self.storages {
            Storages::Zip {
                archive,
                bytes,
                prefix,
                cache,
            } => match cache.get(&s.key) {
                Some(b) => *b,
                None => {
                    let name = format!("{prefix}/data/{}", s.key);
                    let b = stored_member(archive, bytes, &name)?;
                    cache.insert(s.key.clone(), b);
                    b
                }
            },
            Storages::Legacy(map) => *map
                .get(&s.key)
                .ok_or_else(|| err("not in the file's list of storages".into()))?,
        };
        let item = s.dtype.size() as u64;
        let need = s.numel.saturating_mul(item);
        if (root.len() as u64) < need {
            return Err(err(format!(
                "holds {} bytes, fewer than the {} elements of {} bytes ({need} bytes) the pickle declares",
                root.len(),
                s.numel,
                item
            )));
        }
        match s.view {
            None => Ok(root),
            Some((off, len)) => off
                .checked_add(len)
                .filter(|&end| end <= s.numel)
                .map(|end| &root[(off * item) as usize..(end * item) as usize])
                .ok_or_else(|| {
                    err(format!(
                        "view of {len} elements at {off} exceeds the storage's {} elements",
                        s.numel
                    ))
                }),
        }
    }
}
