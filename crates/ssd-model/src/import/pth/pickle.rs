//! A small pickle virtual machine for what `torch.save` writes.
//!
//! It understands the binary opcodes of protocols 2 to 5 that plain data needs (containers,
//! numbers, strings, globals, memo, persistent ids). Nothing is ever imported or called:
//! `REDUCE` on a global we know (`OrderedDict`, torch's tensor rebuild functions) builds the
//! equivalent value, any other call becomes an opaque [`Obj::Instance`] naming its class, so a
//! checkpoint's extra entries (optimizer state, argparse namespaces, numpy scalars) cost
//! nothing. Containers live in an arena and refer to each other by index: self-referencing or
//! deeply nested input cannot recurse on drop, and memo sharing is plain index copying.
//!
//! Limits: every opcode that creates a value spends from a fixed budget ([`MAX_VALUES`]), and
//! every length is checked against the bytes that remain before anything is allocated.

use super::tensor::DType;
use std::collections::HashMap;
use std::rc::Rc;

/// Values (stack pushes, memo entries, container items) one pickle may create. A state dict
/// needs about 15 per tensor; this allows a quarter of a million tensors and bounds memory to
/// a few hundred MiB whatever the input says.
pub(crate) const MAX_VALUES: usize = 4 << 20;

/// Depth of `_rebuild_from_type_v2` wrapping we follow (torch writes one level).
const MAX_CALL_DEPTH: usize = 4;

#[derive(Clone, Debug)]
pub(crate) enum Value {
    None,
    Bool(bool),
    /// Any integer up to 128 bits (torch's legacy magic number is 80 bits).
    Int(i128),
    /// An integer wider than 128 bits: kept only so that it can be skipped.
    HugeInt,
    /// Floats and bytes never matter for the tensors: only their presence is kept.
    Float,
    Str(Rc<str>),
    Bytes,
    Global(Rc<Global>),
    Obj(usize),
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Global {
    pub module: String,
    pub name: String,
}

impl Global {
    fn is(&self, module: &str, name: &str) -> bool {
        self.module == module && self.name == name
    }
}

impl std::fmt::Display for Global {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.module, self.name)
    }
}

/// One storage reference from a persistent id.
#[derive(Debug, Clone)]
pub(crate) struct StorageRef {
    /// The root storage's key: the zip member `data/<key>`, or the legacy key.
    pub key: String,
    pub dtype: DType,
    /// Elements of `dtype` in the root storage, as the persistent id states it.
    pub numel: u64,
    /// Legacy storage views: (offset, length) in elements into the root storage.
    pub view: Option<(u64, u64)>,
}

#[derive(Debug, Clone)]
pub(crate) struct TensorRef {
    /// Arena index of the [`Obj::Storage`].
    pub storage: usize,
    /// Element type of the tensor (the storage's, except `_rebuild_tensor_v3`).
    pub dtype: DType,
    pub offset: u64,
    pub size: Vec<u64>,
    pub stride: Vec<u64>,
    /// torch's lazy negation bit (`metadata={'neg': True}`): the stored values are negated.
    pub negate: bool,
}

#[derive(Debug)]
pub(crate) enum Obj {
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// Insertion order, duplicates kept (the later one wins when read).
    Dict(Vec<(Value, Value)>),
    Set(Vec<Value>),
    Storage(StorageRef),
    Tensor(TensorRef),
    /// The result of calling or instantiating a class we do not model.
    Instance(Rc<Global>),
}

/// A finished pickle: its root value and the arena the value's indices point into.
pub(crate) struct Pickle {
    pub root: Value,
    pub objs: Vec<Obj>,
    /// Byte offset just past the STOP opcode (legacy files put more data after it).
    pub end: usize,
}

impl Pickle {
    pub fn obj(&self, v: &Value) -> Option<&Obj> {
        match v {
            Value::Obj(i) => self.objs.get(*i),
            _ => None,
        }
    }

    /// A short description of a value's type for error messages.
    pub fn type_name(&self, v: &Value) -> String {
        match v {
            Value::None => "None".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) | Value::HugeInt => "int".into(),
            Value::Float => "float".into(),
            Value::Str(_) => "str".into(),
            Value::Bytes => "bytes".into(),
            Value::Global(g) => format!("class {g}"),
            Value::Obj(_) => match self.obj(v) {
                Some(Obj::Tuple(_)) => "tuple".into(),
                Some(Obj::List(_)) => "list".into(),
                Some(Obj::Dict(_)) => "dict".into(),
                Some(Obj::Set(_)) => "set".into(),
                Some(Obj::Storage(_)) => "storage".into(),
                Some(Obj::Tensor(_)) => "tensor".into(),
                Some(Obj::Instance(g)) => format!("object of class {g}"),
                None => "dangling reference".into(),
            },
        }
    }
}

/// Runs one pickle that starts at `bytes[start]`. Errors are `(offset, message)`, the offset
/// being absolute in `bytes`.
pub(crate) fn load(bytes: &[u8], start: usize) -> Result<Pickle, (usize, String)> {
    let mut vm = Vm {
        bytes,
        pos: start,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        objs: Vec::new(),
        spent: 0,
    };
    let mut op_at = start;
    vm.run(&mut op_at).map_err(|e| (op_at, e))
}

struct Vm<'a> {
    bytes: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
    objs: Vec<Obj>,
    spent: usize,
}

type R<T> = Result<T, String>;

impl Vm<'_> {
    fn run(&mut self, op_at: &mut usize) -> R<Pickle> {
        loop {
            *op_at = self.pos;
            let op = self
                .u8()
                .map_err(|_| "pickle ends without a STOP opcode".to_string())?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(format!("pickle protocol {proto} is newer than 5"));
                    }
                }
                0x95 => {
                    self.take(8)?; // FRAME: a length hint only
                }
                b'.' => {
                    let root = self.pop()?;
                    return Ok(Pickle {
                        root,
                        objs: std::mem::take(&mut self.objs),
                        end: self.pos,
                    });
                }
                b'(' => {
                    self.spend(1)?;
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?.clone();
                    self.push(top)?;
                }
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = i32::from_le_bytes(self.array()?);
                    self.push(Value::Int(v.into()))?
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v.into()))?
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.array()?);
                    self.push(Value::Int(v.into()))?
                }
                0x8a => {
                    let n = usize::from(self.u8()?);
                    let v = long(self.take(n)?);
                    self.push(v)?
                }
                0x8b => {
                    let n = self.len4(true)?;
                    let v = long(self.take(n)?);
                    self.push(v)?
                }
                b'G' => {
                    self.take(8)?;
                    self.push(Value::Float)?
                }
                b'X' => {
                    let n = self.len4(false)?;
                    self.push_str(n)?
                }
                0x8c => {
                    let n = usize::from(self.u8()?);
                    self.push_str(n)?
                }
                0x8d => {
                    let n = self.len8()?;
                    self.push_str(n)?
                }
                // Python 2 `str` (BINSTRING, SHORT_BINSTRING): old checkpoints' keys.
                b'T' => {
                    let n = self.len4(true)?;
                    self.push_py2_str(n)?
                }
                b'U' => {
                    let n = usize::from(self.u8()?);
                    self.push_py2_str(n)?
                }
                b'B' => {
                    let n = self.len4(false)?;
                    self.push_bytes(n)?
                }
                b'C' => {
                    let n = usize::from(self.u8()?);
                    self.push_bytes(n)?
                }
                0x8e | 0x96 => {
                    let n = self.len8()?;
                    self.push_bytes(n)?
                }
                b')' => self.push_obj(Obj::Tuple(Vec::new()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_obj(Obj::Tuple(items))?
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let items = self.pop_n(n)?;
                    self.push_obj(Obj::Tuple(items))?
                }
                b']' => self.push_obj(Obj::List(Vec::new()))?,
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_obj(Obj::List(items))?
                }
                b'a' => {
                    let item = self.pop()?;
                    self.extend(vec![item])?
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.extend(items)?
                }
                b'}' => self.push_obj(Obj::Dict(Vec::new()))?,
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items)?;
                    self.push_obj(Obj::Dict(pairs))?
                }
                b's' => {
                    let items = self.pop_n(2)?;
                    self.set_items(pairs(items)?)?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(pairs(items)?)?
                }
                0x8f => self.push_obj(Obj::Set(Vec::new()))?,
                0x90 => {
                    let items = self.pop_mark()?;
                    self.extend(items)?
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push_obj(Obj::Set(items))?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global(Rc::new(Global { module, name })))?
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => {
                            self.push(Value::Global(Rc::new(Global {
                                module: m.to_string(),
                                name: n.to_string(),
                            })))?
                        }
                        _ => return Err("STACK_GLOBAL needs two strings".into()),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = self.reduce(&func, &args, 0)?;
                    self.push(v)?
                }
                0x81 => {
                    let _args = self.pop()?;
                    let cls = self.pop()?;
                    let v = self.instantiate(&cls)?;
                    self.push(v)?
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let _args = self.pop()?;
                    let cls = self.pop()?;
                    let v = self.instantiate(&cls)?;
                    self.push(v)?
                }
                b'b' => {
                    // BUILD sets attributes (`_metadata` on a state dict, an object's
                    // __dict__); none of them matter for the tensors.
                    let _state = self.pop()?;
                    if !matches!(self.top()?, Value::Obj(_)) {
                        return Err("BUILD on a value that is not an object".into());
                    }
                }
                b'q' => {
                    let i = self.u8()?;
                    self.put(i.into())?
                }
                b'r' => {
                    let i = u32::from_le_bytes(self.array()?);
                    self.put(i.into())?
                }
                0x94 => {
                    let i = self.memo.len() as u64;
                    self.put(i)?
                }
                b'h' => {
                    let i = self.u8()?;
                    self.get(i.into())?
                }
                b'j' => {
                    let i = u32::from_le_bytes(self.array()?);
                    self.get(i.into())?
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent(&pid)?;
                    self.push(v)?
                }
                other => return Err(unsupported(other)),
            }
        }
    }

    fn spend(&mut self, n: usize) -> R<()> {
        self.spent += n;
        if self.spent > MAX_VALUES {
            return Err(format!(
                "pickle creates more than {MAX_VALUES} values: not a state dict"
            ));
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> R<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "pickle is truncated: needs {n} more bytes, {} left",
                    self.bytes.len().saturating_sub(self.pos)
                )
            })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> R<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// A 4-byte length; `signed` opcodes refuse a negative one.
    fn len4(&mut self, signed: bool) -> R<usize> {
        let raw: [u8; 4] = self.array()?;
        if signed && i32::from_le_bytes(raw) < 0 {
            return Err("negative length".into());
        }
        Ok(u32::from_le_bytes(raw) as usize)
    }

    fn len8(&mut self) -> R<usize> {
        let n = u64::from_le_bytes(self.array()?);
        usize::try_from(n).map_err(|_| format!("length {n} does not fit in memory"))
    }

    fn line(&mut self) -> R<String> {
        let rest = &self.bytes[self.pos.min(self.bytes.len())..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("pickle is truncated inside a GLOBAL name (no newline)")?;
        let s = std::str::from_utf8(&rest[..n])
            .map_err(|_| "GLOBAL name is not UTF-8".to_string())?
            .to_string();
        self.pos += n + 1;
        Ok(s)
    }

    fn push(&mut self, v: Value) -> R<()> {
        self.spend(1)?;
        self.stack.push(v);
        Ok(())
    }

    fn push_obj(&mut self, o: Obj) -> R<()> {
        let v = self.new_obj(o)?;
        self.push(v)
    }

    fn new_obj(&mut self, o: Obj) -> R<Value> {
        self.spend(1)?;
        self.objs.push(o);
        Ok(Value::Obj(self.objs.len() - 1))
    }

    fn push_str(&mut self, n: usize) -> R<()> {
        let raw = self.take(n)?;
        let s = std::str::from_utf8(raw).map_err(|_| "string is not UTF-8".to_string())?;
        let v = Value::Str(Rc::from(s));
        self.push(v)
    }

    /// A Python 2 `str` is bytes: text when it decodes (keys, class names), else raw bytes
    /// (e.g. a numpy array's buffer elsewhere in a checkpoint), which are skipped.
    fn push_py2_str(&mut self, n: usize) -> R<()> {
        let raw = self.take(n)?;
        let v = match std::str::from_utf8(raw) {
            Ok(s) => Value::Str(Rc::from(s)),
            Err(_) => Value::Bytes,
        };
        self.push(v)
    }

    fn push_bytes(&mut self, n: usize) -> R<()> {
        self.take(n)?;
        self.push(Value::Bytes)
    }

    fn pop(&mut self) -> R<Value> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("stack underflow at a MARK".into());
        }
        self.stack.pop().ok_or_else(|| "stack underflow".into())
    }

    fn top(&self) -> R<&Value> {
        self.stack.last().ok_or_else(|| "stack underflow".into())
    }

    fn pop_n(&mut self, n: usize) -> R<Vec<Value>> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() < floor + n {
            return Err("stack underflow".into());
        }
        Ok(self.stack.split_off(self.stack.len() - n))
    }

    fn pop_mark(&mut self) -> R<Vec<Value>> {
        let m = self.marks.pop().ok_or("no MARK on the stack")?;
        Ok(self.stack.split_off(m.min(self.stack.len())))
    }

    fn put(&mut self, i: u64) -> R<()> {
        let v = self.top()?.clone();
        self.spend(1)?;
        self.memo.insert(i, v);
        Ok(())
    }

    fn get(&mut self, i: u64) -> R<()> {
        let v = self
            .memo
            .get(&i)
            .cloned()
            .ok_or_else(|| format!("memo entry {i} was never stored"))?;
        self.push(v)
    }

    /// The object the top of the stack refers to, for in-place updates.
    fn top_obj(&mut self) -> R<&mut Obj> {
        match self.stack.last() {
            Some(Value::Obj(i)) => self.objs.get_mut(*i).ok_or_else(|| "bad reference".into()),
            Some(_) => Err("container opcode on a value that is not a container".into()),
            None => Err("stack underflow".into()),
        }
    }

    fn extend(&mut self, items: Vec<Value>) -> R<()> {
        match self.top_obj()? {
            Obj::List(l) | Obj::Set(l) => l.extend(items),
            // A list subclass we do not model: its items are not needed.
            Obj::Instance(_) => {}
            _ => return Err("APPEND/ADDITEMS to something that is not a list or set".into()),
        }
        Ok(())
    }

    fn set_items(&mut self, kv: Vec<(Value, Value)>) -> R<()> {
        match self.top_obj()? {
            Obj::Dict(d) => d.extend(kv),
            Obj::Instance(_) => {}
            _ => return Err("SETITEM on something that is not a dict".into()),
        }
        Ok(())
    }

    fn instantiate(&mut self, cls: &Value) -> R<Value> {
        match cls {
            Value::Global(g) if is_dict_class(g) => self.new_obj(Obj::Dict(Vec::new())),
            Value::Global(g) => self.new_obj(Obj::Instance(g.clone())),
            _ => Err("NEWOBJ on a value that is not a class".into()),
        }
    }

    fn tuple(&self, v: &Value) -> Option<&[Value]> {
        match v {
            Value::Obj(i) => match self.objs.get(*i) {
                Some(Obj::Tuple(t)) | Some(Obj::List(t)) => Some(t),
                _ => None,
            },
            _ => None,
        }
    }

    /// REDUCE: `func(*args)` for the few callables we model.
    fn reduce(&mut self, func: &Value, args: &Value, depth: usize) -> R<Value> {
        let Value::Global(g) = func else {
            return Err("REDUCE on a value that is not a global".into());
        };
        let args: Vec<Value> = self
            .tuple(args)
            .ok_or_else(|| format!("{g}: arguments are not a tuple"))?
            .to_vec();
        // Copies are charged too: a memoised call repeated many times must not multiply work.
        self.spend(args.len())?;
        let module = g.module.as_str();
        let torch_tensor = module == "torch._tensor" || module == "torch.tensor";
        match (module, g.name.as_str()) {
            _ if g.is("collections", "OrderedDict") => {
                // Python 2 pickled an OrderedDict as OrderedDict([[k, v], ...]).
                let mut kv = Vec::new();
                if let Some(items) = args.first() {
                    let items = self.tuple(items).ok_or("OrderedDict(items): not a list")?;
                    for pair in items {
                        match self.tuple(pair) {
                            Some([k, v]) => kv.push((k.clone(), v.clone())),
                            _ => return Err("OrderedDict(items): an item is not a pair".into()),
                        }
                    }
                }
                self.spend(kv.len())?;
                self.new_obj(Obj::Dict(kv))
            }
            _ if is_dict_class(g) => self.new_obj(Obj::Dict(Vec::new())),
            ("torch._utils", "_rebuild_tensor") => self.rebuild_tensor(g, &args, 4, None),
            ("torch._utils", "_rebuild_tensor_v2") => self.rebuild_tensor(g, &args, 6, None),
            ("torch._utils", "_rebuild_tensor_v3") => {
                let dtype = match args.get(6) {
                    Some(Value::Global(d)) if d.module == "torch" => {
                        DType::from_torch_dtype(&d.name)
                            .ok_or_else(|| format!("{g}: unsupported dtype torch.{}", d.name))?
                    }
                    _ => return Err(format!("{g}: argument 7 is not a torch dtype")),
                };
                self.rebuild_tensor(g, &args, 7, Some(dtype))
            }
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
                match args.first() {
                    Some(t @ Value::Obj(i))
                        if matches!(self.objs.get(*i), Some(Obj::Tensor(_))) =>
                    {
                        Ok(t.clone())
                    }
                    _ => self.new_obj(Obj::Instance(g.clone())),
                }
            }
            (_, "_rebuild_from_type_v2") if torch_tensor && depth < MAX_CALL_DEPTH => {
                match args.as_slice() {
                    [f, _new_type, inner, _state] => self.reduce(f, inner, depth + 1),
                    _ => Err(format!("{g}: expected 4 arguments, got {}", args.len())),
                }
            }
            ("torch", "Size") => match args.first() {
                Some(v) if self.tuple(v).is_some() => Ok(v.clone()),
                _ => Err("torch.Size: argument is not a tuple".into()),
            },
            _ => self.new_obj(Obj::Instance(g.clone())),
        }
    }

    /// `_rebuild_tensor(storage, offset, size, stride)`, `_v2` adds `requires_grad,
    /// backward_hooks[, metadata]`, `_v3` adds `dtype` before the metadata.
    fn rebuild_tensor(
        &mut self,
        g: &Global,
        args: &[Value],
        required: usize,
        dtype: Option<DType>,
    ) -> R<Value> {
        let has_metadata = required > 4;
        if args.len() < required || args.len() > required + usize::from(has_metadata) {
            return Err(format!(
                "{g}: expected {required} arguments, got {}",
                args.len()
            ));
        }
        let storage = match &args[0] {
            Value::Obj(i) => match self.objs.get(*i) {
                Some(Obj::Storage(s)) => Some((*i, s.dtype)),
                _ => None,
            },
            _ => None,
        };
        let Some((storage, storage_dtype)) = storage else {
            return Err(format!(
                "{g}: argument 1 is not a storage (a persistent id)"
            ));
        };
        let offset =
            uint(&args[1]).ok_or_else(|| format!("{g}: storage offset is not an int >= 0"))?;
        let ints = |v: &Value, what: &str| -> R<Vec<u64>> {
            self.tuple(v)
                .ok_or_else(|| format!("{g}: {what} is not a tuple"))?
                .iter()
                .map(|x| {
                    uint(x)
                        .ok_or_else(|| format!("{g}: {what} holds a value that is not an int >= 0"))
                })
                .collect()
        };
        let size = ints(&args[2], "size")?;
        let stride = ints(&args[3], "stride")?;
        self.spend(size.len() + stride.len())?;
        if size.len() != stride.len() {
            return Err(format!(
                "{g}: size has {} dimensions, stride {}",
                size.len(),
                stride.len()
            ));
        }
        let mut negate = false;
        if has_metadata {
            if let Some(Value::Obj(i)) = args.get(required) {
                if let Some(Obj::Dict(kv)) = self.objs.get(*i) {
                    for (k, v) in kv {
                        let on = matches!(v, Value::Bool(true));
                        match k {
                            Value::Str(k) if &**k == "neg" => negate = on,
                            Value::Str(k) if &**k == "conj" && on => {
                                return Err(format!(
                                    "{g}: conjugated (complex) tensors are not supported"
                                ));
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        self.new_obj(Obj::Tensor(TensorRef {
            storage,
            dtype: dtype.unwrap_or(storage_dtype),
            offset,
            size,
            stride,
            negate,
        }))
    }

    /// BINPERSID: `('storage', storage_type, key, location, numel[, view_metadata])`.
    fn persistent(&mut self, pid: &Value) -> R<Value> {
        let items = self
            .tuple(pid)
            .ok_or("persistent id is not a tuple")?
            .to_vec();
        self.spend(items.len())?;
        match items.first() {
            Some(Value::Str(s)) if &**s == "storage" => {}
            // Legacy saves of whole modules: ('module', class, source file, source).
            Some(Value::Str(s)) if &**s == "module" => {
                return items
                    .get(1)
                    .cloned()
                    .ok_or_else(|| "module persistent id without a class".into());
            }
            _ => return Err("persistent id is not a ('storage', ...) tuple".into()),
        }
        if items.len() != 5 && items.len() != 6 {
            return Err(format!(
                "storage persistent id has {} fields, expected 5 or 6",
                items.len()
            ));
        }
        let dtype = match &items[1] {
            Value::Global(g) if g.module.starts_with("torch") => DType::from_storage_class(&g.name)
                .ok_or_else(|| format!("unsupported storage type {g}"))?,
            _ => return Err("storage type in a persistent id is not a torch storage class".into()),
        };
        let key = match &items[2] {
            Value::Str(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            _ => return Err("storage key is not a string".into()),
        };
        let numel = uint(&items[4]).ok_or("storage size is not an int >= 0")?;
        let view = match items.get(5) {
            None | Some(Value::None) => None,
            Some(v) => match self.tuple(v) {
                Some([_view_key, off, len]) => Some((
                    uint(off).ok_or("storage view offset is not an int >= 0")?,
                    uint(len).ok_or("storage view size is not an int >= 0")?,
                )),
                _ => return Err("storage view metadata is not (key, offset, size)".into()),
            },
        };
        self.new_obj(Obj::Storage(StorageRef {
            key,
            dtype,
            numel,
            view,
        }))
    }
}

fn is_dict_class(g: &Global) -> bool {
    g.is("collections", "OrderedDict")
        || g.is("collections", "defaultdict")
        || g.is("builtins", "dict")
        || g.is("__builtin__", "dict")
}

fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

fn pairs(items: Vec<Value>) -> R<Vec<(Value, Value)>> {
    if !items.len().is_multiple_of(2) {
        return Err("odd number of items for a dict".into());
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

/// LONG1/LONG4: little-endian two's complement.
fn long(raw: &[u8]) -> Value {
    if raw.len() > 16 {
        return Value::HugeInt;
    }
    let fill = if raw.last().is_some_and(|&b| b & 0x80 != 0) {
        0xff
    } else {
        0
    };
    let mut a = [fill; 16];
    a[..raw.len()].copy_from_slice(raw);
    Value::Int(i128::from_le_bytes(a))
}

fn unsupported(op: u8) -> String {
    let name = match op {
        b'I' => "INT",
        b'L' => "LONG",
        b'F' => "FLOAT",
        b'S' => "STRING",
        b'V' => "UNICODE",
        b'p' => "PUT",
        b'g' => "GET",
        b'P' => "PERSID",
        b'i' => "INST",
        b'o' => "OBJ",
        0x82..=0x84 => "EXT",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "unknown",
    };
    let shown = if op.is_ascii_graphic() {
        format!(" {:?}", op as char)
    } else {
        String::new()
    };
    format!(
        "unsupported pickle opcode 0x{op:02x}{shown} ({name}); torch.save writes binary protocol 2"
    )
}
