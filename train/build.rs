//! Make `ssd-train` and its tests find libtorch at run time without LD_LIBRARY_PATH.
//!
//! torch-sys's own rpath arguments do not reach a dependent crate's binaries, so this crate
//! emits one for torch/lib, found the same way torch-sys finds libtorch: `LIBTORCH`, else the
//! `torch` package of the active Python (`VIRTUAL_ENV`'s, else `python3`).

use std::path::PathBuf;
use std::process::Command;

fn python() -> PathBuf {
    match std::env::var("VIRTUAL_ENV") {
        Ok(venv) => PathBuf::from(venv).join("bin").join("python"),
        Err(_) => PathBuf::from("python3"),
    }
}

fn torch_lib_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("LIBTORCH") {
        let lib = PathBuf::from(dir).join("lib");
        if lib.is_dir() {
            return Some(lib);
        }
    }
    let out = Command::new(python())
        .args([
            "-c",
            "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let lib = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    lib.is_dir().then_some(lib)
}

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=VIRTUAL_ENV");
    println!("cargo:rerun-if-changed=build.rs");
    // The Python that has torch: tests use it (with onnx, onnxruntime) to check exports.
    println!("cargo:rustc-env=SSD_TRAIN_PYTHON={}", python().display());
    match torch_lib_dir() {
        Some(lib) => {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
            // torch-sys keeps libtorch_cuda as a DT_NEEDED entry through a symbol reference in
            // its wrapper; --no-as-needed for the CUDA libraries makes it explicit so a GPU host
            // always loads the CUDA backend (tch::Cuda::is_available() is false otherwise).
            if lib.join("libtorch_cuda.so").exists() {
                println!("cargo:rustc-link-search=native={}", lib.display());
                println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
            }
        }
        None => println!(
            "cargo:warning=torch/lib not found (set LIBTORCH or activate the venv); \
             set LD_LIBRARY_PATH at run time"
        ),
    }
}
