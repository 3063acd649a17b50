//! The native `.pth` reader (`ssd_train::pth`) against files torch itself writes: every
//! dtype, views, parameters, a real module's state dict, checkpoints and DataParallel
//! prefixes, each in the zip and the legacy layout, compared bit for bit with the values
//! torch reports; hand-built old-style (2017) legacy files; and corrupt, truncated and
//! foreign inputs, which must give clear errors and never panic.

mod support;
use support::venv_python;

use proptest::prelude::*;
use ssd_train::pth::{PthError, StateDict, TensorData};
use std::collections::HashMap;
use std::process::Command;
use std::sync::OnceLock;

/// Writes the inputs (argv[1]: output directory) and `expected.json`: per case, the tensors
/// as `[name, shape, f32 bit patterns]` in state-dict order.
const GEN_PY: &str = r#"import collections, json, os, pickle, sys, zipfile
import numpy as np
import torch

out = sys.argv[1]
torch.manual_seed(0)
expected = {}


def bits(t):
    a = t.detach().to(torch.float32).contiguous().reshape(-1).numpy()
    return a.view(np.uint32).tolist()


def entries(sd):
    return [[k, list(v.shape), bits(v)] for k, v in sd.items() if isinstance(v, torch.Tensor)]


def save(case, obj, sd, **kw):
    expected[case] = entries(sd)
    torch.save(obj, os.path.join(out, case + ".zip.pth"), **kw)
    torch.save(obj, os.path.join(out, case + ".legacy.pth"), _use_new_zipfile_serialization=False, **kw)


def dtypes():
    sd = collections.OrderedDict()
    f = torch.randn(2, 3)
    f[0, 0] = float("inf")
    f[0, 1] = -0.0
    f[0, 2] = 1e-40  # subnormal
    sd["f32"] = f
    sd["f16"] = torch.tensor([1.5, -2.0, 65504.0, 6e-8, float("-inf")], dtype=torch.float16)
    sd["f64"] = torch.tensor([[0.1, -1e300], [1e-300, 3.141592653589793]], dtype=torch.float64)
    sd["bf16"] = torch.tensor([1.0, -3.5, 1e38], dtype=torch.bfloat16)
    sd["i64"] = torch.tensor([0, -5, 2**40 + 1, 123456789], dtype=torch.int64)
    sd["i32"] = torch.tensor([-7, 2**31 - 1], dtype=torch.int32)
    sd["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 127], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 255], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(2.5)
    sd["scalar_i64"] = torch.tensor(7)
    sd["empty"] = torch.zeros(0, 3)
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    sd["base"] = base
    sd["transposed"] = base.t()
    flat = torch.arange(20, dtype=torch.float32) * 0.25
    sd["share_a"] = flat[3:9].view(2, 3)
    sd["share_b"] = flat[10:14]
    sd["strided"] = flat[1::3]
    sd["expanded"] = torch.tensor([[1.0], [2.0], [3.0]]).expand(3, 4)
    sd["param"] = torch.nn.Parameter(torch.randn(4))
    sd["neg_view"] = torch.randn(3, dtype=torch.cfloat).conj().imag
    assert sd["neg_view"].is_neg() and not sd["transposed"].is_contiguous()
    return sd


sd = dtypes()
save("dtypes", sd, sd)
save("dtypes_p4", sd, sd, pickle_protocol=4)
# uint16 goes through _rebuild_tensor_v3 with an UntypedStorage.
u = {"u16": torch.tensor([[1, 65535], [300, 0]], dtype=torch.uint16)}
save("uint16", u, u)

net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
net.train()
net(torch.randn(2, 3, 8, 8))
msd = net.state_dict()
assert hasattr(msd, "_metadata")
save("module", msd, msd)
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
net(torch.randn(1, 3, 8, 8)).sum().backward()
opt.step()
msd = net.state_dict()
ckpt = {"epoch": 7, "best": 0.5, "state_dict": msd, "optimizer": opt.state_dict()}
save("checkpoint", ckpt, msd)
dp = torch.nn.DataParallel(net).state_dict()
assert all(k.startswith("module.") for k in dp)
save("dataparallel", dp, dp)
mixed = {"w": torch.ones(2), "epoch": 3, "name": "x", "sub": {"a": 1}, "lst": [1, 2]}
save("mixed", mixed, mixed)

# Byte order: the same tensors, with byteorder "big" and every storage swapped.
be = collections.OrderedDict(f=torch.tensor([1.5, -2.25, 3e-5]), h=torch.tensor([0.5, -6.0], dtype=torch.float16), l=torch.tensor([-2, 2**33]))
expected["bigendian"] = entries(be)
torch.save(be, os.path.join(out, "tmp.pth"))
src = zipfile.ZipFile(os.path.join(out, "tmp.pth"))
sizes = {"0": 4, "1": 2, "2": 8}
with zipfile.ZipFile(os.path.join(out, "bigendian.zip.pth"), "w", zipfile.ZIP_STORED) as z:
    for info in src.infolist():
        data = src.read(info.filename)
        if info.filename.endswith("/byteorder"):
            data = b"big"
        elif "/data/" in info.filename:
            n = sizes[info.filename.rsplit("/", 1)[1]]
            data = np.frombuffer(data, dtype=np.uint8).reshape(-1, n)[:, ::-1].tobytes()
        z.writestr(info.filename, data)


def rezip(name, edit):
    """Copies tmp.pth with edit(member_name, bytes) -> bytes or None (drop)."""
    with zipfile.ZipFile(os.path.join(out, name), "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            data = edit(info.filename, src.read(info.filename))
            if data is not None:
                z.writestr(info.filename, data)


rezip("no_data_pkl.pth", lambda n, d: None if n.endswith("data.pkl") else d)
rezip("short_storage.pth", lambda n, d: d[:-4] if n.endswith("/data/0") else d)
rezip("protocol0.pth", lambda n, d: pickle.dumps({"a": 1}, protocol=0) if n.endswith("data.pkl") else d)
rezip("bad_byteorder.pth", lambda n, d: b"middle" if n.endswith("/byteorder") else d)
with zipfile.ZipFile(os.path.join(out, "deflated.pth"), "w", zipfile.ZIP_DEFLATED) as z:
    for info in src.infolist():
        z.writestr(info.filename, src.read(info.filename))
torch.save(torch.ones(3), os.path.join(out, "single_tensor.pth"))
torch.save([torch.ones(3)], os.path.join(out, "list.pth"))
torch.save(torch.nn.Linear(2, 2), os.path.join(out, "whole_module.pth"))
torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), os.path.join(out, "torchscript.pth"))
with open(os.path.join(out, "plain.pickle"), "wb") as f:
    pickle.dump({"a": 1}, f, protocol=2)
os.remove(os.path.join(out, "tmp.pth"))
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f)
"#;

type Expected = Vec<(String, Vec<usize>, Vec<u32>)>;

struct Generated {
    files: HashMap<String, Vec<u8>>,
    expected: HashMap<String, Expected>,
}

/// Runs the generator once per test binary and keeps everything in memory (the temporary
/// directory is gone before any test reads a file).
fn generated() -> &'static Generated {
    static GEN: OnceLock<Generated> = OnceLock::new();
    GEN.get_or_init(|| {
        let python = venv_python();
        assert!(
            python.exists(),
            "{} missing: run `make deps-venv` (the venv with torch)",
            python.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("gen.py");
        std::fs::write(&script, GEN_PY).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let run = Command::new(&python)
            .arg(&script)
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "generator failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let mut files = HashMap::new();
        for e in std::fs::read_dir(&out).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            files.insert(name, std::fs::read(&p).unwrap());
        }
        let json: HashMap<String, Expected> =
            serde_json::from_slice(&files["expected.json"]).unwrap();
        Generated {
            files,
            expected: json,
        }
    })
}

fn file(name: &str) -> &'static [u8] {
    generated()
        .files
        .get(name)
        .unwrap_or_else(|| panic!("generator wrote no {name}"))
}

fn load(name: &str) -> StateDict {
    StateDict::from_bytes(file(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn err(bytes: &[u8]) -> String {
    match StateDict::from_bytes(bytes) {
        Ok(sd) => panic!("expected an error, read {} tensors", sd.len()),
        Err(e) => e.to_string(),
    }
}

fn bits(t: &TensorData) -> Vec<u32> {
    t.data.iter().map(|v| v.to_bits()).collect()
}

/// Same names in the same order, same shapes, bit-identical values.
fn assert_matches(sd: &StateDict, case: &str, what: &str) {
    let want = &generated().expected[case];
    let names: Vec<&str> = sd.names().collect();
    let want_names: Vec<&str> = want.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, want_names, "{what}: names");
    for (name, shape, values) in want {
        let t = sd.get(name).unwrap();
        assert_eq!(&t.shape, shape, "{what}: {name} shape");
        assert_eq!(
            t.data.len(),
            shape.iter().product::<usize>(),
            "{what}: {name}"
        );
        assert_eq!(&bits(t), values, "{what}: {name} values");
    }
}

#[test]
fn every_dtype_and_view_matches_torch_bit_for_bit_in_both_layouts() {
    for case in ["dtypes", "dtypes_p4", "uint16", "module", "mixed"] {
        for layout in ["zip", "legacy"] {
            let name = format!("{case}.{layout}.pth");
            assert_matches(&load(&name), case, &name);
        }
    }
    // Spot checks that do not depend on the generator's arithmetic.
    let sd = load("dtypes.zip.pth");
    let t = sd.get("transposed").unwrap();
    assert_eq!(t.shape, [4, 3]);
    assert_eq!(&t.data[..4], &[0.0, 4.0, 8.0, 1.0]);
    assert_eq!(sd.get("scalar").unwrap().shape, Vec::<usize>::new());
    assert_eq!(sd.get("scalar").unwrap().data, [2.5]);
    assert_eq!(sd.get("share_b").unwrap().data, [2.5, 2.75, 3.0, 3.25]);
    assert_eq!(sd.get("i64").unwrap().data[2], (2u64.pow(40) + 1) as f32);
    assert_eq!(sd.get("bool").unwrap().data, [1.0, 0.0, 1.0]);
    assert_eq!(sd.get("empty").unwrap().shape, [0, 3]);
    assert!(sd.skipped().is_empty());
}

#[test]
fn a_modules_state_dict_keeps_order_and_converts_num_batches_tracked() {
    let sd = load("module.legacy.pth");
    let names: Vec<&str> = sd.names().collect();
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "1.weight",
            "1.bias",
            "1.running_mean",
            "1.running_var",
            "1.num_batches_tracked"
        ]
    );
    let nbt = sd.get("1.num_batches_tracked").unwrap();
    assert_eq!(
        (nbt.shape.as_slice(), nbt.data.as_slice()),
        (&[][..], &[1.0][..])
    );
    assert_eq!(sd.get("0.weight").unwrap().shape, [4, 3, 3, 3]);
}

#[test]
fn checkpoints_nest_the_state_dict_and_dataparallel_prefixes_strip() {
    for layout in ["zip", "legacy"] {
        let name = format!("checkpoint.{layout}.pth");
        assert_matches(&load(&name), "checkpoint", &name);

        let name = format!("dataparallel.{layout}.pth");
        let dp = load(&name);
        assert!(dp.names().all(|n| n.starts_with("module.")), "{name}");
        assert_matches(&dp, "dataparallel", &name);
        let stripped = dp.strip_prefix("module.").unwrap();
        // The same network and weights as the checkpoint.
        assert_matches(&stripped, "checkpoint", &name);
    }
}

#[test]
fn non_tensor_values_are_skipped_and_listed() {
    for layout in ["zip", "legacy"] {
        let sd = load(&format!("mixed.{layout}.pth"));
        assert_eq!(sd.names().collect::<Vec<_>>(), ["w"]);
        assert_eq!(sd.skipped(), ["epoch", "name", "sub", "lst"]);
    }
}

#[test]
fn big_endian_zip_archives_are_swapped() {
    assert_matches(&load("bigendian.zip.pth"), "bigendian", "bigendian");
    assert!(err(file("bad_byteorder.pth")).contains("byteorder"));
}

#[test]
fn take_and_shape_checks_name_the_key() {
    let mut sd = load("module.zip.pth");
    assert_eq!(sd.len(), 7);
    let w = sd.take_shaped("0.weight", &[4, 3, 3, 3]).unwrap();
    assert_eq!(w.numel(), 108);
    assert!(sd.get("0.weight").is_none());
    assert!(sd.take("0.weight").is_none());
    let e = sd.take_shaped("0.bias", &[5]).unwrap_err().to_string();
    assert!(
        e.contains("0.bias") && e.contains("[4]") && e.contains("[5]"),
        "{e}"
    );
    let e = sd.take_shaped("2.weight", &[1]).unwrap_err().to_string();
    assert!(e.contains("no key \"2.weight\""), "{e}");
    for n in [
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
    ] {
        sd.take(n).unwrap();
    }
    assert_eq!(sd.len(), 1);
    let e = sd.ensure_all_taken().unwrap_err().to_string();
    assert!(e.contains("1.num_batches_tracked"), "{e}");
    sd.take("1.num_batches_tracked").unwrap();
    assert!(sd.is_empty());
    sd.ensure_all_taken().unwrap();
}

#[test]
fn read_refuses_missing_paths_directories_and_devices_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.pth");
    std::fs::write(&p, file("module.zip.pth")).unwrap();
    assert_eq!(StateDict::read(&p).unwrap().len(), 7);
    let e = StateDict::read(&dir.path().join("nope.pth"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.pth"), "{e}");
    let e = StateDict::read(dir.path()).unwrap_err().to_string();
    assert!(e.contains("not a regular file"), "{e}");
    if std::path::Path::new("/dev/zero").exists() {
        let e = StateDict::read("/dev/zero".as_ref()).unwrap_err();
        assert!(matches!(e, PthError::NotAFile { .. }), "{e}");
    }
    let bad = dir.path().join("bad.pth");
    std::fs::write(&bad, &file("module.zip.pth")[..500]).unwrap();
    let e = StateDict::read(&bad).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}: ", bad.display())), "{e}");
}

#[test]
fn foreign_and_broken_files_give_clear_errors() {
    let cases: [(&str, &[&str]); 10] = [
        ("no_data_pkl.pth", &["data.pkl", "not a torch.save file"]),
        (
            "short_storage.pth",
            &["storage \"0\"", "fewer than", "tensor \"f\""],
        ),
        ("protocol0.pth", &["unsupported pickle opcode", "data.pkl"]),
        ("deflated.pth", &["compressed"]),
        ("single_tensor.pth", &["single tensor"]),
        ("list.pth", &["list, not a dict"]),
        (
            "whole_module.pth",
            &["torch.nn.modules.linear.Linear", "state_dict()"],
        ),
        ("torchscript.pth", &["TorchScript"]),
        ("plain.pickle", &["magic number"]),
        ("expected.json", &["not a torch.save file", "7b"]),
    ];
    for (name, needles) in cases {
        let e = err(file(name));
        for n in needles {
            assert!(e.contains(n), "{name}: {e:?} lacks {n:?}");
        }
    }
    assert!(err(b"").contains("empty"));
}

#[test]
fn truncated_files_are_errors_at_every_cut() {
    for name in [
        "dtypes.zip.pth",
        "dtypes.legacy.pth",
        "checkpoint.legacy.pth",
    ] {
        let bytes = file(name);
        for cut in (1..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
            let e = match StateDict::from_bytes(&bytes[..cut]) {
                Ok(_) => panic!("{name} cut at {cut} read fine"),
                Err(e) => e.to_string(),
            };
            let expected: &[&str] = if name.contains("zip") {
                &["zip archive"]
            } else {
                &["truncated", "past the end", "without a STOP"]
            };
            assert!(
                expected.iter().any(|x| e.contains(x)),
                "{name} cut at {cut}: {e}"
            );
        }
    }
}

#[test]
fn random_bytes_are_errors() {
    let mut x = 0x9e3779b97f4a7c15u64;
    for len in [1usize, 2, 7, 64, 1000, 5000] {
        for lead in [None, Some(&b"PK\x03\x04"[..]), Some(&b"\x80\x02"[..])] {
            let mut b: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            if let Some(l) = lead {
                let n = l.len().min(len);
                b[..n].copy_from_slice(&l[..n]);
            }
            StateDict::from_bytes(&b).unwrap_err();
        }
    }
}

/// Every byte of a small file flipped in turn: any answer but a panic (or a wrong-sized
/// tensor) is fine. Flips inside zip members are caught by the CRC.
#[test]
fn single_byte_flips_never_panic() {
    for name in ["module.zip.pth", "module.legacy.pth", "dtypes.legacy.pth"] {
        let orig = file(name);
        let mut errors = 0;
        for i in 0..orig.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut b = orig.to_vec();
                b[i] ^= mask;
                match StateDict::from_bytes(&b) {
                    Ok(sd) => check_consistent(&sd),
                    Err(e) => {
                        assert!(!e.to_string().is_empty());
                        errors += 1;
                    }
                }
            }
        }
        assert!(errors > orig.len(), "{name}: only {errors} errors");
    }
}

fn check_consistent(sd: &StateDict) {
    for (_, t) in sd.iter() {
        assert_eq!(t.data.len(), t.shape.iter().product::<usize>());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn mutated_files_never_panic(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let name = ["dtypes.zip.pth", "dtypes.legacy.pth", "checkpoint.zip.pth", "checkpoint.legacy.pth"][which];
        let mut b = file(name).to_vec();
        for (at, v) in edits {
            let i = at.index(b.len());
            b[i] = v;
        }
        if truncate {
            b.truncate(cut.index(b.len()));
        }
        if let Ok(sd) = StateDict::from_bytes(&b) {
            check_consistent(&sd);
        }
    }
}

/// Hand-written legacy files in the style of 2017 (torch 0.3, Python 2) saves, as
/// ssd.pytorch's published weights are: `OrderedDict([[k, v], ...])`, byte-string keys,
/// `torch._utils._rebuild_tensor`, CUDA storage classes, storage views.
#[derive(Default)]
struct Legacy {
    /// Per root storage: key, element count written before its bytes, bytes.
    blobs: Vec<(String, u64, Vec<u8>)>,
}

/// The pickled bytes of one value, spliced in where it is used.
type Pickled = Vec<u8>;

/// Python 2 `str` (SHORT_BINSTRING).
fn s(s: &str) -> Pickled {
    let mut v = vec![b'U', s.len() as u8];
    v.extend(s.as_bytes());
    v
}

fn int(i: i64) -> Pickled {
    let mut v = vec![0x8a, 8];
    v.extend(i.to_le_bytes());
    v
}

fn tuple(items: &[Pickled]) -> Pickled {
    let mut v = vec![b'('];
    items.iter().for_each(|i| v.extend(i));
    v.push(b't');
    v
}

fn ints(xs: &[i64]) -> Pickled {
    tuple(&xs.iter().map(|&x| int(x)).collect::<Vec<_>>())
}

fn global(module: &str, name: &str) -> Pickled {
    format!("c{module}\n{name}\n").into_bytes()
}

fn call(module: &str, name: &str, args: &[Pickled]) -> Pickled {
    let mut v = global(module, name);
    v.extend(tuple(args));
    v.push(b'R');
    v
}

/// Python 2's `OrderedDict([[k, v], ...])`.
fn odict(entries: &[(Pickled, Pickled)]) -> Pickled {
    let mut v = global("collections", "OrderedDict");
    v.extend(b"](");
    for (k, val) in entries {
        v.extend(b"](");
        v.extend(k);
        v.extend(val);
        v.push(b'e');
    }
    v.extend(b"e\x85R");
    v
}

/// torch 0.3's `_rebuild_tensor(storage, offset, size, stride)`.
fn tensor(storage: &Pickled, offset: i64, size: &[i64], stride: &[i64]) -> Pickled {
    call(
        "torch._utils",
        "_rebuild_tensor",
        &[storage.clone(), int(offset), ints(size), ints(stride)],
    )
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

impl Legacy {
    /// The persistent id of a storage (a view of one when `view` is given) and, the first
    /// time a key is seen, its data.
    fn storage(
        &mut self,
        class: (&str, &str),
        key: &str,
        numel: i64,
        raw: Vec<u8>,
        view: Option<(&str, i64, i64)>,
    ) -> Pickled {
        if !self.blobs.iter().any(|(k, _, _)| k == key) {
            self.blobs.push((key.to_string(), numel as u64, raw));
        }
        let view = match view {
            None => b"N".to_vec(),
            Some((k, off, len)) => tuple(&[s(k), int(off), int(len)]),
        };
        let mut v = tuple(&[
            s("storage"),
            global(class.0, class.1),
            s(key),
            s("cuda:0"),
            int(numel),
            view,
        ]);
        v.push(b'Q');
        v
    }

    /// Magic number, protocol version, sys_info, the object, the keys, the storages.
    fn finish(&self, root: Pickled) -> Vec<u8> {
        let mut f = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec();
        f.extend(b"\x80\x02M\xe9\x03.");
        f.extend(b"\x80\x02}(");
        f.extend(s("little_endian"));
        f.extend(b"\x88u.\x80\x02");
        f.extend(root);
        f.extend(b".\x80\x02](");
        self.blobs.iter().for_each(|(k, _, _)| f.extend(s(k)));
        f.extend(b"e.");
        for (_, count, raw) in &self.blobs {
            f.extend(count.to_le_bytes());
            f.extend(raw);
        }
        f
    }
}

const CUDA_FLOAT: (&str, &str) = ("torch.cuda", "FloatStorage");

#[test]
fn old_style_legacy_files_read() {
    let mut b = Legacy::default();
    let root: Vec<f32> = (0..10).map(|i| i as f32 * 0.5).collect();
    let view = b.storage(CUDA_FLOAT, "1", 10, f32s(&root), Some(("1v", 2, 6)));
    let whole = b.storage(CUDA_FLOAT, "1", 10, f32s(&root), None);
    let doubles: Vec<u8> = [1.25f64, -2.5, 1e10]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let d = b.storage(("torch", "DoubleStorage"), "2", 3, doubles, None);
    let file = b.finish(odict(&[
        (s("a"), tensor(&view, 1, &[2, 2], &[1, 2])),
        (s("b"), tensor(&d, 0, &[3], &[1])),
        (s("c"), tensor(&whole, 9, &[], &[])),
    ]));
    let sd = StateDict::from_bytes(&file).unwrap();
    assert_eq!(sd.names().collect::<Vec<_>>(), ["a", "b", "c"]);
    // The view starts at element 2: a = view[1, 3; 2, 4] = root[3, 5; 4, 6].
    assert_eq!(sd.get("a").unwrap().data, [1.5, 2.5, 2.0, 3.0]);
    assert_eq!(sd.get("a").unwrap().shape, [2, 2]);
    assert_eq!(sd.get("b").unwrap().data, [1.25, -2.5, 1e10]);
    assert_eq!(sd.get("c").unwrap().data, [4.5]);
}

#[test]
fn storages_and_tensors_out_of_bounds_are_errors() {
    let four = || f32s(&[1.0, 2.0, 3.0, 4.0]);
    let one = |t: fn(&Pickled) -> Pickled, numel: i64, count: Option<u64>| {
        let mut b = Legacy::default();
        let st = b.storage(CUDA_FLOAT, "7", numel, four(), None);
        if let Some(c) = count {
            b.blobs[0].1 = c;
        }
        err(&b.finish(odict(&[(s("w"), t(&st))])))
    };
    let e = one(|st| tensor(st, 2, &[3], &[1]), 4, None);
    assert!(
        e.contains("tensor \"w\"") && e.contains("reaches element 4"),
        "{e}"
    );
    let e = one(|st| tensor(st, 1, &[2, 2], &[2, 1]), 4, None);
    assert!(e.contains("reaches element 4"), "{e}");
    let e = one(|st| tensor(st, 0, &[3, 3], &[i64::MAX, i64::MAX]), 4, None);
    assert!(e.contains("overflow"), "{e}");
    let e = one(|st| tensor(st, 0, &[-1], &[1]), 4, None);
    assert!(e.contains("not an int >= 0"), "{e}");
    // The pickle says 8 elements, the file holds 4.
    let e = one(|st| tensor(st, 0, &[4], &[1]), 8, Some(4));
    assert!(
        e.contains("storage \"7\"") && e.contains("fewer than"),
        "{e}"
    );
    // The element count before the bytes claims more than the file holds.
    let e = one(|st| tensor(st, 0, &[4], &[1]), 4, Some(1 << 40));
    assert!(
        e.contains("storage \"7\"") && e.contains("past the end"),
        "{e}"
    );
    // A broadcast view may repeat elements, but not without bound.
    let e = one(|st| tensor(st, 0, &[1 << 20, 1 << 12], &[0, 0]), 4, None);
    assert!(e.contains("more than"), "{e}");
    let mut b = Legacy::default();
    let st = b.storage(("torch", "ComplexFloatStorage"), "7", 2, four(), None);
    let e = err(&b.finish(odict(&[(s("w"), tensor(&st, 0, &[2], &[1]))])));
    assert!(
        e.contains("unsupported storage type torch.ComplexFloatStorage"),
        "{e}"
    );
}

#[test]
fn layouts_that_are_not_a_state_dict_are_errors() {
    let mut b = Legacy::default();
    let st = b.storage(CUDA_FLOAT, "7", 1, f32s(&[1.0]), None);
    let t = tensor(&st, 0, &[1], &[1]);
    let e = err(&b.finish(odict(&[(int(3), t.clone())])));
    assert!(e.contains("key of type int"), "{e}");
    let e = err(&b.finish(odict(&[(s("weights"), odict(&[(s("w"), t.clone())]))])));
    assert!(e.contains("no tensors") && e.contains("weights"), "{e}");
    // Nested three ways, the first known key wins.
    let sd = StateDict::from_bytes(&b.finish(odict(&[
        (s("epoch"), int(1)),
        (
            s("model"),
            odict(&[(s("state_dict"), odict(&[(s("w"), t.clone())]))]),
        ),
    ])))
    .unwrap();
    assert_eq!(sd.names().collect::<Vec<_>>(), ["w"]);
    // A repeated key keeps its first place and its last value, as a Python dict does.
    let mut b = Legacy::default();
    let st = b.storage(CUDA_FLOAT, "7", 2, f32s(&[1.0, 2.0]), None);
    let sd = StateDict::from_bytes(&b.finish(odict(&[
        (s("x"), tensor(&st, 0, &[1], &[1])),
        (s("y"), tensor(&st, 0, &[1], &[1])),
        (s("x"), tensor(&st, 1, &[1], &[1])),
    ])))
    .unwrap();
    assert_eq!(sd.names().collect::<Vec<_>>(), ["x", "y"]);
    assert_eq!(sd.get("x").unwrap().data, [2.0]);
}

#[test]
fn strip_prefix_refuses_collisions() {
    let mut b = Legacy::default();
    let st = b.storage(CUDA_FLOAT, "7", 1, f32s(&[1.0]), None);
    let t = tensor(&st, 0, &[1], &[1]);
    let sd = StateDict::from_bytes(&b.finish(odict(&[
        (s("module.a"), t.clone()),
        (s("b"), t.clone()),
        (s("a"), t),
    ])))
    .unwrap();
    let e = sd.clone().strip_prefix("module.").unwrap_err().to_string();
    assert!(e.contains("\"a\" appears twice"), "{e}");
    let sd = sd.strip_prefix("mod").unwrap();
    assert_eq!(sd.names().collect::<Vec<_>>(), ["ule.a", "b", "a"]);
}

#[test]
fn unsupported_opcodes_and_bad_pickles_name_the_problem() {
    let mut b = Legacy::default();
    let st = b.storage(CUDA_FLOAT, "7", 1, f32s(&[1.0]), None);
    let t = tensor(&st, 0, &[1], &[1]);
    let good = b.finish(odict(&[(s("w"), t.clone())]));
    StateDict::from_bytes(&good).unwrap();
    // INST (protocol 0 object creation) inside the main pickle.
    let mut inst = b"i__main__\nNet\n".to_vec();
    inst.splice(0..0, *b"(");
    let e = err(&b.finish(odict(&[(s("w"), inst)])));
    assert!(
        e.contains("unsupported pickle opcode 0x69 'i' (INST)"),
        "{e}"
    );
    assert!(e.contains("legacy main pickle: byte "), "{e}");
    let e = err(&b.finish(b"h\x05".to_vec()));
    assert!(e.contains("memo entry 5"), "{e}");
    let e = err(&b.finish(b"Xzzzz".to_vec()));
    assert!(e.contains("truncated"), "{e}");
    let e = err(&b.finish(b"s".to_vec()));
    assert!(e.contains("underflow"), "{e}");
    // A memoised 2000-item tuple passed to a memoised call 3000 times: 6 M copied values
    // from 20 kB of pickle, over the VM's budget.
    let mut p = b"(".to_vec();
    p.extend(b"K\x01".repeat(2000));
    p.extend(b"tq\x000c__main__\nf\nq\x010");
    p.extend(b"h\x01h\x00R0".repeat(3000));
    p.push(b'}');
    let e = err(&b.finish(p));
    assert!(e.contains("values: not a state dict"), "{e}");
}
