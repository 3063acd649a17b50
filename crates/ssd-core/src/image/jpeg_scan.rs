//! Whether a baseline JPEG's entropy-coded data holds every block its header declares: a walk
//! of the Huffman codes of each scan (no dequantization, no IDCT), stopping where the data or
//! a marker ends it. zune-jpeg decodes the last blocks of a cut scan from zero bits it
//! synthesizes past the end of the data (up to a whole MCU row: issue 32), so its own
//! "exhausted data" error cannot see a cut inside the last row; this walk reads only real
//! bits, so any cut that removes a byte carrying a code is found.
//!
//! Covered: sequential Huffman frames (SOF0, SOF1: what cameras and encoders write), any
//! sampling, interleaved or one-component scans, several scans, restart intervals, the
//! default MJPEG Huffman tables when the frame has no DHT. Progressive, lossless and
//! arithmetic-coded frames are [`Scan::NotChecked`] (the decoder's own check applies).

/// What the walk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Every block of every component is in the data.
    Complete,
    /// A coding this walk does not follow (the frame type's name).
    NotChecked(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// The data (or a marker) ends before the last block.
    Cut(String),
    /// The data cannot be a JPEG scan (a code no table has, a run past the block).
    Corrupt(String),
}

/// A Huffman table in the form of JPEG's F.2.2.3 DECODE procedure.
struct Huff {
    maxcode: [i32; 17],
    mincode: [i32; 17],
    valptr: [i32; 17],
    vals: Vec<u8>,
    /// The codes of up to LUT_BITS bits by their next LUT_BITS bits: (length, value); length
    /// 0 for longer codes, which take the DECODE procedure.
    lut: Box<[(u8, u8); 1 << LUT_BITS]>,
}

const LUT_BITS: u32 = 9;

impl Huff {
    fn new(bits: &[u8], vals: &[u8]) -> Result<Huff, ScanError> {
        let mut h = Huff {
            maxcode: [-1; 17],
            mincode: [0; 17],
            valptr: [0; 17],
            vals: vals.to_vec(),
            lut: Box::new([(0, 0); 1 << LUT_BITS]),
        };
        let (mut code, mut k) = (0i32, 0i32);
        for l in 1..=16 {
            let n = i32::from(bits[l - 1]);
            h.valptr[l] = k;
            h.mincode[l] = code;
            code += n;
            k += n;
            if n > 0 {
                h.maxcode[l] = code - 1;
            }
            if code > 1 << l {
                return Err(ScanError::Corrupt(
                    "a Huffman table with too many codes".into(),
                ));
            }
            code <<= 1;
        }
        if k as usize != vals.len() {
            return Err(ScanError::Corrupt(
                "a Huffman table of the wrong size".into(),
            ));
        }
        for l in 1..=LUT_BITS as usize {
            if h.maxcode[l] < 0 {
                continue;
            }
            for code in h.mincode[l]..=h.maxcode[l] {
                let v = h.vals[(h.valptr[l] + code - h.mincode[l]) as usize];
                let shift = LUT_BITS as usize - l;
                let first = (code as usize) << shift;
                for e in &mut h.lut[first..first + (1 << shift)] {
                    *e = (l as u8, v);
                }
            }
        }
        Ok(h)
    }
}

/// The entropy-coded bits of a scan: byte stuffing undone; a marker or the end of the data
/// ends them. Up to 64 bits are read ahead (never past a marker), the next bit at the top.
struct Bits<'a> {
    d: &'a [u8],
    pos: usize,
    acc: u64,
    n: u32,
}

impl Bits<'_> {
    fn new(d: &[u8], pos: usize) -> Bits<'_> {
        Bits {
            d,
            pos,
            acc: 0,
            n: 0,
        }
    }

    fn cut(&self) -> ScanError {
        ScanError::Cut(format!(
            "the image data ends at byte {} before the last block",
            self.pos
        ))
    }

    fn refill(&mut self) {
        while self.n <= 56 {
            let Some(&b) = self.d.get(self.pos) else {
                return;
            };
            if b == 0xFF {
                // FF 00 is a data byte FF; anything else is a marker: the scan ends there.
                if self.d.get(self.pos + 1) != Some(&0) {
                    return;
                }
                self.pos += 2;
            } else {
                self.pos += 1;
            }
            self.acc |= u64::from(b) << (56 - self.n);
            self.n += 8;
        }
    }

    fn consume(&mut self, k: u32) {
        self.acc = self.acc.checked_shl(k).unwrap_or(0);
        self.n -= k;
    }

    fn skip(&mut self, k: u32) -> Result<(), ScanError> {
        if self.n < k {
            self.refill();
            if self.n < k {
                return Err(self.cut());
            }
        }
        self.consume(k);
        Ok(())
    }

    fn decode(&mut self, h: &Huff) -> Result<u8, ScanError> {
        if self.n < 16 {
            self.refill();
        }
        if self.n >= LUT_BITS {
            let (l, v) = h.lut[(self.acc >> (64 - LUT_BITS)) as usize];
            if l > 0 {
                self.consume(u32::from(l));
                return Ok(v);
            }
        }
        // F.2.2.3 DECODE: the first length whose codes reach the next bits.
        for l in 1..=16u32 {
            if l > self.n {
                return Err(self.cut());
            }
            let code = (self.acc >> (64 - l)) as i32;
            if code <= h.maxcode[l as usize] {
                self.consume(l);
                let i = (h.valptr[l as usize] + code - h.mincode[l as usize]) as usize;
                return h.vals.get(i).copied().ok_or_else(|| {
                    ScanError::Corrupt(format!(
                        "a Huffman code past its table at byte {}",
                        self.pos
                    ))
                });
            }
        }
        Err(ScanError::Corrupt(format!(
            "no Huffman code matches the data at byte {}",
            self.pos
        )))
    }

    /// At a restart interval: the bits left are padding (read-ahead never passes the
    /// marker), then RSTn.
    fn restart(&mut self) -> Result<(), ScanError> {
        self.acc = 0;
        self.n = 0;
        while self.d.get(self.pos) == Some(&0xFF) && self.d.get(self.pos + 1) == Some(&0xFF) {
            self.pos += 1;
        }
        match (self.d.get(self.pos), self.d.get(self.pos + 1)) {
            (Some(0xFF), Some(0xD0..=0xD7)) => {
                self.pos += 2;
                Ok(())
            }
            (Some(0xFF), Some(0xD9)) | (None, _) | (Some(0xFF), None) => Err(self.cut()),
            _ => Err(ScanError::Corrupt(format!(
                "no restart marker at byte {} where the interval ends",
                self.pos
            ))),
        }
    }

    fn block(&mut self, dc: &Huff, ac: &Huff) -> Result<(), ScanError> {
        let s = self.decode(dc)?;
        if s > 16 {
            return Err(ScanError::Corrupt(format!("a DC size of {s} bits")));
        }
        self.skip(u32::from(s))?;
        let mut k = 1;
        while k < 64 {
            let rs = self.decode(ac)?;
            let (r, s) = (rs >> 4, rs & 15);
            if s == 0 {
                if r != 15 {
                    break; // end of block
                }
                k += 16;
                continue;
            }
            k += usize::from(r);
            if k > 63 {
                return Err(ScanError::Corrupt(format!(
                    "a run past the end of a block at byte {}",
                    self.pos
                )));
            }
            self.skip(u32::from(s))?;
            k += 1;
        }
        Ok(())
    }
}

/// A frame component: id, sampling factors.
#[derive(Clone, Copy)]
struct Comp {
    id: u8,
    h: u32,
    v: u32,
}

/// Walks `jpeg` (from SOI; its EOI may be there or not) and says whether every scan holds
/// all its blocks and every component was scanned.
pub fn check_complete(jpeg: &[u8]) -> Result<Scan, ScanError> {
    let corrupt = |m: &str| ScanError::Corrupt(m.to_string());
    let cut = |at: usize| ScanError::Cut(format!("the JPEG ends at byte {at} inside a segment"));
    if jpeg.len() < 2 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
        return Err(corrupt("no JPEG start marker"));
    }
    let mut dc: [Option<Huff>; 4] = Default::default();
    let mut ac: [Option<Huff>; 4] = Default::default();
    let mut frame: Option<(u32, u32, Vec<Comp>)> = None;
    let mut restart = 0u32;
    let mut scanned: Vec<u8> = Vec::new();
    let mut pos = 2;
    loop {
        // The next marker; bytes before it (a quirk of some cameras) are skipped.
        while pos < jpeg.len() && jpeg[pos] != 0xFF {
            pos += 1;
        }
        while pos + 1 < jpeg.len() && jpeg[pos + 1] == 0xFF {
            pos += 1;
        }
        if pos + 1 >= jpeg.len() {
            break;
        }
        let m = jpeg[pos + 1];
        pos += 2;
        match m {
            0xD9 => break,
            0x00 | 0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let len = match jpeg.get(pos..pos + 2) {
            Some(b) => usize::from(u16::from_be_bytes([b[0], b[1]])),
            None => return Err(cut(jpeg.len())),
        };
        if len < 2 {
            return Err(corrupt("a segment length under 2"));
        }
        let seg = jpeg
            .get(pos + 2..pos + len)
            .ok_or_else(|| cut(jpeg.len()))?;
        pos += len;
        match m {
            0xC0 | 0xC1 => {
                if seg.len() < 6 {
                    return Err(corrupt("a short frame header"));
                }
                let y = u32::from(u16::from_be_bytes([seg[1], seg[2]]));
                let x = u32::from(u16::from_be_bytes([seg[3], seg[4]]));
                let n = usize::from(seg[5]);
                let c = seg
                    .get(6..6 + 3 * n)
                    .ok_or_else(|| corrupt("a short frame header"))?;
                let comps: Vec<Comp> = c
                    .chunks(3)
                    .map(|c| Comp {
                        id: c[0],
                        h: u32::from(c[1] >> 4),
                        v: u32::from(c[1] & 15),
                    })
                    .collect();
                if x == 0
                    || y == 0
                    || n == 0
                    || comps
                        .iter()
                        .any(|c| !(1..=4).contains(&c.h) || !(1..=4).contains(&c.v))
                {
                    return Err(corrupt("a frame header without size or sampling"));
                }
                frame = Some((x, y, comps));
            }
            0xC2 => return Ok(Scan::NotChecked("progressive")),
            0xC3 | 0xC5..=0xC7 => return Ok(Scan::NotChecked("lossless or hierarchical")),
            0xC9..=0xCB | 0xCD..=0xCF => return Ok(Scan::NotChecked("arithmetic-coded")),
            0xC4 => {
                let mut t = seg;
                while !t.is_empty() {
                    let (class, id) = (t[0] >> 4, usize::from(t[0] & 15));
                    let bits = t
                        .get(1..17)
                        .ok_or_else(|| corrupt("a short Huffman table"))?;
                    let n: usize = bits.iter().map(|&b| usize::from(b)).sum();
                    let vals = t
                        .get(17..17 + n)
                        .ok_or_else(|| corrupt("a short Huffman table"))?;
                    if id > 3 || class > 1 {
                        return Err(corrupt("a Huffman table id over 3"));
                    }
                    let h = Huff::new(bits, vals)?;
                    if class == 0 {
                        dc[id] = Some(h);
                    } else {
                        ac[id] = Some(h);
                    }
                    t = &t[17 + n..];
                }
            }
            0xDD => {
                let b = seg
                    .get(..2)
                    .ok_or_else(|| corrupt("a short restart interval"))?;
                restart = u32::from(u16::from_be_bytes([b[0], b[1]]));
            }
            0xDA => {
                let Some((x, y, comps)) = &frame else {
                    return Err(corrupt("a scan before the frame header"));
                };
                let ns = usize::from(*seg.first().ok_or_else(|| corrupt("a short scan header"))?);
                let sc = seg
                    .get(1..1 + 2 * ns)
                    .ok_or_else(|| corrupt("a short scan header"))?;
                let mut parts = Vec::with_capacity(ns);
                for c in sc.chunks(2) {
                    let comp = *comps
                        .iter()
                        .find(|f| f.id == c[0])
                        .ok_or_else(|| corrupt("a scan of a component the frame lacks"))?;
                    let (td, ta) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
                    let (d, a) = (table(&dc, td, 0)?, table(&ac, ta, 2)?);
                    parts.push((comp, d, a));
                    scanned.push(comp.id);
                }
                let mut bits = Bits::new(jpeg, pos);
                walk(&mut bits, (*x, *y), comps, &parts, restart)?;
                pos = bits.pos;
            }
            _ => {}
        }
    }
    match frame {
        None => Err(corrupt("no frame header")),
        Some((_, _, comps)) if comps.iter().any(|c| !scanned.contains(&c.id)) => Err(
            ScanError::Cut("the JPEG ends before every colour component was coded".into()),
        ),
        Some(_) => Ok(Scan::Complete),
    }
}

/// Every MCU of one scan (A.2: interleaved scans in MCUs of H x V blocks per component, a
/// one-component scan block by block over that component's own size).
fn walk(
    bits: &mut Bits,
    (x, y): (u32, u32),
    comps: &[Comp],
    parts: &[(Comp, &Huff, &Huff)],
    restart: u32,
) -> Result<(), ScanError> {
    let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
    let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
    let (mcus, per_mcu): (u64, Vec<u32>) = if parts.len() == 1 {
        let c = parts[0].0;
        let bw = (x * c.h).div_ceil(hmax).div_ceil(8);
        let bh = (y * c.v).div_ceil(vmax).div_ceil(8);
        (u64::from(bw) * u64::from(bh), vec![1])
    } else {
        let mx = x.div_ceil(8 * hmax);
        let my = y.div_ceil(8 * vmax);
        (
            u64::from(mx) * u64::from(my),
            parts.iter().map(|(c, _, _)| c.h * c.v).collect(),
        )
    };
    for i in 0..mcus {
        if restart > 0 && i > 0 && i % u64::from(restart) == 0 {
            bits.restart()?;
        }
        for ((_, dc, ac), &n) in parts.iter().zip(&per_mcu) {
            for _ in 0..n {
                bits.block(dc, ac)?;
            }
        }
    }
    Ok(())
}

/// The table `i` of `tables`; Motion JPEG frames omit the DHT segment and use the standard
/// tables (`first` picks DC 0-1 or AC 2-3 of [`defaults`]).
fn table(tables: &[Option<Huff>; 4], i: usize, first: usize) -> Result<&Huff, ScanError> {
    match tables.get(i) {
        Some(Some(h)) => Ok(h),
        Some(None) if i < 2 => Ok(&defaults()[first + i]),
        _ => Err(ScanError::Corrupt(
            "a scan naming a Huffman table never defined".into(),
        )),
    }
}

/// DC luma, DC chroma, AC luma, AC chroma (built once).
fn defaults() -> &'static [Huff; 4] {
    static D: std::sync::OnceLock<[Huff; 4]> = std::sync::OnceLock::new();
    D.get_or_init(|| {
        let t = |b: &[u8], v: &[u8]| Huff::new(b, v).expect("the standard table");
        [
            t(&DC_LUMA_BITS, &DC_LUMA_VALS),
            t(&DC_CHROMA_BITS, &DC_CHROMA_VALS),
            t(&AC_LUMA_BITS, &AC_LUMA_VALS),
            t(&AC_CHROMA_BITS, &AC_CHROMA_VALS),
        ]
    })
}

// The standard Huffman tables of ITU T.81 Annex K.3 (K.3-K.6), which Motion JPEG frames
// without a DHT segment use.
const DC_LUMA_BITS: [u8; 16] = [
    0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];
const DC_LUMA_VALS: [u8; 12] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B,
];
const DC_CHROMA_BITS: [u8; 16] = [
    0x00, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
];
const DC_CHROMA_VALS: [u8; 12] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B,
];
const AC_LUMA_BITS: [u8; 16] = [
    0x00, 0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04, 0x04, 0x00, 0x00, 0x01, 0x7D,
];
const AC_LUMA_VALS: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
    0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5,
    0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2,
    0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];
const AC_CHROMA_BITS: [u8; 16] = [
    0x00, 0x02, 0x01, 0x02, 0x04, 0x04, 0x03, 0x04, 0x07, 0x05, 0x04, 0x04, 0x00, 0x01, 0x02, 0x77,
];
const AC_CHROMA_VALS: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0,
    0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26,
    0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5,
    0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3,
    0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA,
    0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_tables_are_complete_prefix_codes() {
        for h in defaults() {
            assert!(!h.vals.is_empty());
        }
        // 16 codes of length 1 cannot exist.
        let mut bits = [0u8; 16];
        bits[0] = 3;
        assert!(matches!(
            Huff::new(&bits, &[0, 1, 2]),
            Err(ScanError::Corrupt(_))
        ));
    }

    #[test]
    fn headers_alone_and_garbage_are_errors_not_panics() {
        assert!(check_complete(&[0xFF, 0xD8]).is_err());
        assert!(check_complete(&[0, 1, 2]).is_err());
        // A frame header whose scan never comes.
        let sof = [
            0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8, 0, 16, 0, 16, 1, 1, 0x11, 0, 0xFF, 0xD9,
        ];
        assert!(matches!(check_complete(&sof), Err(ScanError::Cut(_))));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Any bytes after a valid start never panic or hang.
        #[test]
        fn any_bytes_are_walked_without_panic(tail in proptest::collection::vec(0u8..=255, 0..400)) {
            let mut j = vec![0xFF, 0xD8];
            j.extend_from_slice(&tail);
            let _ = check_complete(&j);
        }
    }
}
