//! Element types and the strided gather from raw storage bytes into contiguous f32.

use super::pickle::TensorRef;

/// The element types a state dict's tensors use. Every one converts to f32: floats by
/// rounding (f64) or exactly (f16, bf16), integers and bools by value (exact below 2^24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DType {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
    U16,
    U32,
    U64,
}

impl DType {
    pub(crate) fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    /// `torch.FloatStorage` and friends (the class names torch still pickles), and
    /// `torch.UntypedStorage` (bytes).
    pub(crate) fn from_storage_class(name: &str) -> Option<DType> {
        Some(match name {
            "FloatStorage" => DType::F32,
            "DoubleStorage" => DType::F64,
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ShortStorage" => DType::I16,
            "CharStorage" => DType::I8,
            "ByteStorage" | "UntypedStorage" => DType::U8,
            "BoolStorage" => DType::Bool,
            _ => return None,
        })
    }

    /// `torch.float32` and friends, as `_rebuild_tensor_v3` names its dtype.
    pub(crate) fn from_torch_dtype(name: &str) -> Option<DType> {
        Some(match name {
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            "float16" | "half" => DType::F16,
            "bfloat16" => DType::BF16,
            "int64" | "long" => DType::I64,
            "int32" | "int" => DType::I32,
            "int16" | "short" => DType::I16,
            "int8" => DType::I8,
            "uint8" => DType::U8,
            "bool" => DType::Bool,
            "uint16" => DType::U16,
            "uint32" => DType::U32,
            "uint64" => DType::U64,
            _ => return None,
        })
    }

    /// One element from its bytes in the file's byte order.
    fn to_f32(self, raw: &[u8], big_endian: bool) -> f32 {
        let mut b = [0u8; 8];
        let n = self.size().min(raw.len());
        b[..n].copy_from_slice(&raw[..n]);
        if big_endian {
            b[..n].reverse();
        }
        let u16v = u16::from_le_bytes([b[0], b[1]]);
        let u32v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let u64v = u64::from_le_bytes(b);
        match self {
            DType::F32 => f32::from_bits(u32v),
            DType::F64 => f64::from_bits(u64v) as f32,
            DType::F16 => half::f16::from_bits(u16v).to_f32(),
            DType::BF16 => half::bf16::from_bits(u16v).to_f32(),
            DType::I64 => u64v as i64 as f32,
            DType::I32 => u32v as i32 as f32,
            DType::I16 => u16v as i16 as f32,
            DType::I8 => b[0] as i8 as f32,
            DType::U8 => f32::from(b[0]),
            DType::Bool => f32::from(u8::from(b[0] != 0)),
            DType::U16 => f32::from(u16v),
            DType::U32 => u32v as f32,
            DType::U64 => u64v as f32,
        }
    }
}

/// Number of elements of a shape, or None on overflow.
pub(crate) fn numel(size: &[u64]) -> Option<u64> {
    size.iter().try_fold(1u64, |n, &d| n.checked_mul(d))
}

/// Copies a (possibly strided) tensor out of its storage bytes. `storage` is the storage as
/// the tensor sees it (a legacy view already applied); every element the tensor reaches must
/// lie inside it, which is checked before anything is allocated.
pub(crate) fn gather(
    t: &TensorRef,
    storage: &[u8],
    big_endian: bool,
) -> Result<(Vec<usize>, Vec<f32>), String> {
    let item = t.dtype.size() as u64;
    let n = numel(&t.size).ok_or("the number of elements overflows")?;
    let shape = t
        .size
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| "a dimension does not fit in memory".to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    if n == 0 {
        return Ok((shape, Vec::new()));
    }
    // Last element index reached: offset + sum (size - 1) * stride.
    let last = t
        .size
        .iter()
        .zip(&t.stride)
        .try_fold(t.offset, |acc, (&d, &s)| {
            acc.checked_add((d - 1).checked_mul(s)?)
        })
        .ok_or("size and stride overflow")?;
    let have = storage.len() as u64 / item;
    if last >= have {
        return Err(format!(
            "reaches element {last} (offset {}, size {:?}, stride {:?}) of a storage of {have} {:?} elements",
            t.offset, t.size, t.stride, t.dtype
        ));
    }
    let n = usize::try_from(n).map_err(|_| "too many elements".to_string())?;
    let item = item as usize;
    let sign = if t.negate { -1.0 } else { 1.0 };
    let conv = |i: u64| -> f32 {
        let at = i as usize * item;
        sign * t.dtype.to_f32(&storage[at..at + item], big_endian)
    };
    let mut out = Vec::with_capacity(n);
    if is_contiguous(&t.size, &t.stride) {
        out.extend((t.offset..t.offset + n as u64).map(conv));
        return Ok((shape, out));
    }
    // Odometer over the multi-index, innermost dimension fastest (row-major output).
    let mut idx = vec![0u64; t.size.len()];
    let mut at = t.offset;
    for _ in 0..n {
        out.push(conv(at));
        for d in (0..idx.len()).rev() {
            // Wrapping: an intermediate position may pass u64 (a huge stride on a size-1
            // dimension); the modular sum is still exact once the carry is undone.
            idx[d] += 1;
            at = at.wrapping_add(t.stride[d]);
            if idx[d] < t.size[d] {
                break;
            }
            at = at.wrapping_sub(t.stride[d].wrapping_mul(t.size[d]));
            idx[d] = 0;
        }
    }
    Ok((shape, out))
}

/// Row-major contiguous, ignoring the strides of size-1 dimensions (torch does too).
fn is_contiguous(size: &[u64], stride: &[u64]) -> bool {
    let mut expect = 1u64;
    for (&d, &s) in size.iter().zip(stride).rev() {
        if d != 1 && s != expect {
            return false;
        }
        expect = expect.saturating_mul(d);
    }
    true
}
