//! Just enough FlexBuffers to read `TFLite_Detection_PostProcess` custom options: a root
//! map of scalars (ints, uints, floats, bools). Bounds-checked like the flatbuffer reader.

use super::convert::PostProcessOptions;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Scalar {
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    /// A value of another FlexBuffer type (its type number).
    Other(u8),
}

impl Scalar {
    fn as_f64(self) -> Option<f64> {
        match self {
            Scalar::Int(v) => Some(v as f64),
            Scalar::UInt(v) => Some(v as f64),
            Scalar::Float(v) => Some(v),
            Scalar::Bool(b) => Some(b as u8 as f64),
            Scalar::Other(_) => None,
        }
    }
    fn as_i64(self) -> Option<i64> {
        match self {
            Scalar::Int(v) => Some(v),
            Scalar::UInt(v) => i64::try_from(v).ok(),
            Scalar::Bool(b) => Some(b as i64),
            Scalar::Float(_) | Scalar::Other(_) => None,
        }
    }
}

const T_INT: u8 = 1;
const T_UINT: u8 = 2;
const T_FLOAT: u8 = 3;
const T_INDIRECT_INT: u8 = 6;
const T_INDIRECT_UINT: u8 = 7;
const T_INDIRECT_FLOAT: u8 = 8;
const T_MAP: u8 = 9;
const T_BOOL: u8 = 26;

struct R<'a>(&'a [u8]);

impl R<'_> {
    fn get(&self, at: usize, n: usize) -> Result<&[u8], String> {
        at.checked_add(n)
            .and_then(|e| self.0.get(at..e))
            .ok_or_else(|| {
                format!(
                    "read of {n} bytes at {at} past the end of {} bytes",
                    self.0.len()
                )
            })
    }
    fn uint(&self, at: usize, width: usize) -> Result<u64, String> {
        let b = self.get(at, width)?;
        Ok(match width {
            1 => b[0] as u64,
            2 => u16::from_le_bytes([b[0], b[1]]) as u64,
            4 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64,
            8 => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            w => return Err(format!("invalid byte width {w}")),
        })
    }
    fn int(&self, at: usize, width: usize) -> Result<i64, String> {
        let u = self.uint(at, width)?;
        let shift = 64 - 8 * width as u32;
        Ok(((u << shift) as i64) >> shift)
    }
    fn float(&self, at: usize, width: usize) -> Result<f64, String> {
        let u = self.uint(at, width)?;
        match width {
            4 => Ok(f32::from_bits(u as u32) as f64),
            8 => Ok(f64::from_bits(u)),
            w => Err(format!("float of width {w}")),
        }
    }
    /// Follows the offset stored at `at` (it points backwards).
    fn back(&self, at: usize, width: usize) -> Result<usize, String> {
        let off = self.uint(at, width)?;
        usize::try_from(off)
            .ok()
            .and_then(|o| at.checked_sub(o))
            .ok_or_else(|| format!("offset {off} at {at} points before the buffer"))
    }
    fn scalar(&self, at: usize, parent_width: usize, packed: u8) -> Result<Scalar, String> {
        let (ty, width) = (packed >> 2, 1usize << (packed & 3));
        Ok(match ty {
            T_INT => Scalar::Int(self.int(at, parent_width)?),
            T_UINT => Scalar::UInt(self.uint(at, parent_width)?),
            T_FLOAT => Scalar::Float(self.float(at, parent_width)?),
            T_BOOL => Scalar::Bool(self.uint(at, parent_width)? != 0),
            T_INDIRECT_INT => Scalar::Int(self.int(self.back(at, parent_width)?, width)?),
            T_INDIRECT_UINT => Scalar::UInt(self.uint(self.back(at, parent_width)?, width)?),
            T_INDIRECT_FLOAT => Scalar::Float(self.float(self.back(at, parent_width)?, width)?),
            other => Scalar::Other(other),
        })
    }
    fn cstr(&self, at: usize) -> Result<String, String> {
        let rest = self.0.get(at..).ok_or("key past the end")?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or("unterminated key")?;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }
}

/// The (key, value) pairs of a root map of scalars.
pub(crate) fn root_map(bytes: &[u8]) -> Result<Vec<(String, Scalar)>, String> {
    let r = R(bytes);
    let n = bytes.len();
    if n < 3 {
        return Err(format!("{n} bytes is too short for a FlexBuffer"));
    }
    let root_width = bytes[n - 1] as usize;
    let packed = bytes[n - 2];
    if !matches!(root_width, 1 | 2 | 4 | 8) || n < 2 + root_width {
        return Err(format!("invalid root byte width {root_width}"));
    }
    if packed >> 2 != T_MAP {
        return Err(format!(
            "the root is FlexBuffer type {}, not a map",
            packed >> 2
        ));
    }
    let root_at = n - 2 - root_width;
    let bw = 1usize << (packed & 3);
    let map = r.back(root_at, root_width)?;
    let size = r.uint(
        map.checked_sub(bw).ok_or("map header before the buffer")?,
        bw,
    )? as usize;
    let keys_at = map
        .checked_sub(3 * bw)
        .ok_or("map header before the buffer")?;
    let keys = r.back(keys_at, bw)?;
    let kbw = r.uint(map - 2 * bw, bw)? as usize;
    if !matches!(kbw, 1 | 2 | 4 | 8) {
        return Err(format!("invalid key width {kbw}"));
    }
    let nkeys = r.uint(
        keys.checked_sub(kbw)
            .ok_or("keys header before the buffer")?,
        kbw,
    )?;
    if nkeys != size as u64 {
        return Err(format!("{nkeys} keys for {size} values"));
    }
    // Both vectors must lie in the buffer before anything is allocated for them.
    r.get(map, size.checked_mul(bw + 1).ok_or("map size overflows")?)?;
    r.get(keys, size.checked_mul(kbw).ok_or("key count overflows")?)?;
    let mut out = Vec::with_capacity(size);
    for i in 0..size {
        let key = r.cstr(r.back(keys + i * kbw, kbw)?)?;
        let packed = r.get(map + size * bw + i, 1)?[0];
        out.push((key, r.scalar(map + i * bw, bw, packed)?));
    }
    Ok(out)
}

pub(crate) fn post_process_options(bytes: &[u8]) -> Result<PostProcessOptions, String> {
    let m = root_map(bytes)?;
    let get = |k: &str| m.iter().find(|(key, _)| key == k).map(|(_, v)| *v);
    let f = |k: &str| -> Result<f32, String> {
        get(k)
            .ok_or_else(|| format!("key `{k}` is missing"))?
            .as_f64()
            .map(|v| v as f32)
            .ok_or_else(|| format!("key `{k}` is not a number"))
    };
    let i = |k: &str, default: Option<i64>| -> Result<i64, String> {
        match get(k) {
            Some(v) => v
                .as_i64()
                .ok_or_else(|| format!("key `{k}` is not an integer")),
            None => default.ok_or_else(|| format!("key `{k}` is missing")),
        }
    };
    Ok(PostProcessOptions {
        y_scale: f("y_scale")?,
        x_scale: f("x_scale")?,
        h_scale: f("h_scale")?,
        w_scale: f("w_scale")?,
        nms_iou_threshold: f("nms_iou_threshold")?,
        nms_score_threshold: f("nms_score_threshold")?,
        max_detections: i("max_detections", None)?,
        max_classes_per_detection: i("max_classes_per_detection", Some(1))?,
        // TFLite's kernel default when the key is absent.
        detections_per_class: i("detections_per_class", Some(100))?,
        num_classes: i("num_classes", None)?,
        use_regular_nms: i("use_regular_nms", Some(0))? != 0,
    })
}
