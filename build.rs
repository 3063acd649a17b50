//! Records what the binary was built for, so `ssd-edge --version` on a board answers "which
//! build is this?" (target triple and features) without guessing from the file name.

use std::env;

fn main() {
    // Cargo hands build scripts the target triple and the enabled features; nothing here
    // depends on sources, so the script runs again only when it changes itself.
    println!("cargo:rerun-if-changed=build.rs");
    let target = env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    let mut features: Vec<String> = env::vars()
        .filter_map(|(k, _)| {
            k.strip_prefix("CARGO_FEATURE_")
                .map(|f| f.to_lowercase().replace('_', "-"))
        })
        .filter(|f| f != "default")
        .collect();
    features.sort();
    let features = if features.is_empty() {
        "none".to_string()
    } else {
        features.join(",")
    };
    println!("cargo:rustc-env=SSD_EDGE_TARGET={target}");
    println!("cargo:rustc-env=SSD_EDGE_FEATURES={features}");
}
