//! A minimal, bounds-checked FlatBuffers reader: just enough to walk the TFLite schema.
//!
//! Every read goes through `get`, which returns an error instead of panicking, so a truncated
//! or foreign file (or an adversarial one with offsets pointing anywhere) is an error. Offsets
//! are followed only where the schema says a table, vector or string lives, so there is no
//! recursion driven by the data itself.

use super::TfliteError;

pub(crate) type Result<T> = std::result::Result<T, TfliteError>;

fn bad(what: impl Into<String>) -> TfliteError {
    TfliteError::Malformed(what.into())
}

/// The whole file; positions are absolute byte offsets into it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Buf<'a> {
    pub bytes: &'a [u8],
}

impl<'a> Buf<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Buf { bytes }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// `n` bytes at `at`, or an error naming the position.
    pub fn get(&self, at: usize, n: usize) -> Result<&'a [u8]> {
        at.checked_add(n)
            .and_then(|end| self.bytes.get(at..end))
            .ok_or_else(|| {
                bad(format!(
                    "read of {n} bytes at offset {at} runs past the end of the {}-byte file",
                    self.bytes.len()
                ))
            })
    }

    fn array<const N: usize>(&self, at: usize) -> Result<[u8; N]> {
        let s = self.get(at, N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u8(&self, at: usize) -> Result<u8> {
        Ok(self.get(at, 1)?[0])
    }
    pub fn u16(&self, at: usize) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(at)?))
    }
    pub fn u32(&self, at: usize) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(at)?))
    }
    pub fn i32(&self, at: usize) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array(at)?))
    }
    pub fn u64(&self, at: usize) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(at)?))
    }
    pub fn f32(&self, at: usize) -> Result<f32> {
        Ok(f32::from_le_bytes(self.array(at)?))
    }

    /// Follows the unsigned (forward) offset stored at `at`.
    pub fn deref(&self, at: usize) -> Result<usize> {
        let off = self.u32(at)? as usize;
        let target = at
            .checked_add(off)
            .ok_or_else(|| bad(format!("offset at {at} overflows")))?;
        if target >= self.len() {
            return Err(bad(format!(
                "offset at {at} points to {target}, past the end of the {}-byte file",
                self.len()
            )));
        }
        Ok(target)
    }

    /// The root table (the first 4 bytes are its offset).
    pub fn root(&self) -> Result<Table<'a>> {
        let pos = self.deref(0)?;
        Table::at(*self, pos)
    }
}

/// A table: its position and its vtable.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Table<'a> {
    buf: Buf<'a>,
    pos: usize,
    vtable: usize,
    vtable_len: usize,
    table_len: usize,
}

impl<'a> Table<'a> {
    pub fn at(buf: Buf<'a>, pos: usize) -> Result<Self> {
        // The table starts with a signed offset back (or forward) to its vtable.
        let soff = buf.i32(pos)? as i64;
        let vtable = pos as i64 - soff;
        if vtable < 0 || vtable as usize >= buf.len() {
            return Err(bad(format!(
                "table at {pos} has its vtable outside the file"
            )));
        }
        let vtable = vtable as usize;
        let vtable_len = buf.u16(vtable)? as usize;
        let table_len = buf.u16(vtable + 2)? as usize;
        if vtable_len < 4 || !vtable_len.is_multiple_of(2) {
            return Err(bad(format!(
                "table at {pos}: vtable length {vtable_len} is invalid"
            )));
        }
        buf.get(vtable, vtable_len)?;
        if table_len < 4 {
            return Err(bad(format!(
                "table at {pos}: inline size {table_len} is invalid"
            )));
        }
        buf.get(pos, table_len)?;
        Ok(Table {
            buf,
            pos,
            vtable,
            vtable_len,
            table_len,
        })
    }

    /// Absolute position of field `slot` (0-based field id), `None` when absent.
    fn field(&self, slot: usize, size: usize) -> Result<Option<usize>> {
        let voff = 4 + 2 * slot;
        if voff + 2 > self.vtable_len {
            return Ok(None);
        }
        let off = self.buf.u16(self.vtable + voff)? as usize;
        if off == 0 {
            return Ok(None);
        }
        if off + size > self.table_len {
            return Err(bad(format!(
                "table at {}: field {slot} lies outside the table's {} bytes",
                self.pos, self.table_len
            )));
        }
        Ok(Some(self.pos + off))
    }

    pub fn u8(&self, slot: usize, default: u8) -> Result<u8> {
        match self.field(slot, 1)? {
            Some(p) => self.buf.u8(p),
            None => Ok(default),
        }
    }
    pub fn i8(&self, slot: usize, default: i8) -> Result<i8> {
        Ok(self.u8(slot, default as u8)? as i8)
    }
    pub fn bool(&self, slot: usize) -> Result<bool> {
        Ok(self.u8(slot, 0)? != 0)
    }
    pub fn i32(&self, slot: usize, default: i32) -> Result<i32> {
        match self.field(slot, 4)? {
            Some(p) => self.buf.i32(p),
            None => Ok(default),
        }
    }
    pub fn u32(&self, slot: usize, default: u32) -> Result<u32> {
        match self.field(slot, 4)? {
            Some(p) => self.buf.u32(p),
            None => Ok(default),
        }
    }
    pub fn u64(&self, slot: usize, default: u64) -> Result<u64> {
        match self.field(slot, 8)? {
            Some(p) => self.buf.u64(p),
            None => Ok(default),
        }
    }
    pub fn f32(&self, slot: usize, default: f32) -> Result<f32> {
        match self.field(slot, 4)? {
            Some(p) => self.buf.f32(p),
            None => Ok(default),
        }
    }

    pub fn table(&self, slot: usize) -> Result<Option<Table<'a>>> {
        match self.field(slot, 4)? {
            Some(p) => Ok(Some(Table::at(self.buf, self.buf.deref(p)?)?)),
            None => Ok(None),
        }
    }

    /// A vector of `elem_size`-byte scalars or offsets.
    pub fn vector(&self, slot: usize, elem_size: usize) -> Result<Option<Vector<'a>>> {
        match self.field(slot, 4)? {
            Some(p) => Ok(Some(Vector::at(self.buf, self.buf.deref(p)?, elem_size)?)),
            None => Ok(None),
        }
    }

    pub fn bytes(&self, slot: usize) -> Result<&'a [u8]> {
        Ok(match self.vector(slot, 1)? {
            Some(v) => v.data(),
            None => &[],
        })
    }

    pub fn i32s(&self, slot: usize) -> Result<Vec<i32>> {
        let Some(v) = self.vector(slot, 4)? else {
            return Ok(Vec::new());
        };
        (0..v.len()).map(|i| self.buf.i32(v.elem(i))).collect()
    }

    pub fn f32s(&self, slot: usize) -> Result<Vec<f32>> {
        let Some(v) = self.vector(slot, 4)? else {
            return Ok(Vec::new());
        };
        (0..v.len()).map(|i| self.buf.f32(v.elem(i))).collect()
    }

    pub fn i64s(&self, slot: usize) -> Result<Vec<i64>> {
        let Some(v) = self.vector(slot, 8)? else {
            return Ok(Vec::new());
        };
        (0..v.len())
            .map(|i| Ok(self.buf.u64(v.elem(i))? as i64))
            .collect()
    }

    /// Tables of a vector of tables.
    pub fn tables(&self, slot: usize) -> Result<Vec<Table<'a>>> {
        let Some(v) = self.vector(slot, 4)? else {
            return Ok(Vec::new());
        };
        (0..v.len())
            .map(|i| Table::at(self.buf, self.buf.deref(v.elem(i))?))
            .collect()
    }

    /// A string field (names are for messages: invalid UTF-8 is replaced, not refused).
    pub fn string(&self, slot: usize) -> Result<Option<String>> {
        Ok(self
            .vector(slot, 1)?
            .map(|v| String::from_utf8_lossy(v.data()).into_owned()))
    }
}

/// A vector: its element count and where its elements start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Vector<'a> {
    data: &'a [u8],
    start: usize,
    len: usize,
    elem_size: usize,
}

impl<'a> Vector<'a> {
    fn at(buf: Buf<'a>, pos: usize, elem_size: usize) -> Result<Self> {
        let len = buf.u32(pos)? as usize;
        let start = pos + 4;
        let n = len
            .checked_mul(elem_size)
            .ok_or_else(|| bad(format!("vector at {pos}: length {len} overflows")))?;
        let data = buf.get(start, n).map_err(|_| {
            bad(format!(
                "vector at {pos}: {len} elements of {elem_size} bytes run past the end of the {}-byte file",
                buf.len()
            ))
        })?;
        Ok(Vector {
            data,
            start,
            len,
            elem_size,
        })
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
    /// Absolute position of element `i` (`i < len`, checked at construction).
    pub fn elem(&self, i: usize) -> usize {
        self.start + i * self.elem_size
    }
}
