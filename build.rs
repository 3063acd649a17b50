//! Records what the binary was built for, so `ssd-edge --version` on a board answers "which
//! build is this?" (target triple and features) without guessing from the file name.

use std::env;

fn main() {
    // Cargo hands build scripts the target triple and the enabled features; nothing here
    // depends on sources, so the script runs again only when it changes itself.
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
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
    println!("cargo:rustc-env=SSD_EDGE_BUILD_EPOCH={}", build_epoch());
    println!("cargo:rustc-env=SSD_EDGE_FEATURES={features}");
}

/// A date the binary is certainly not older than, for the board's clock check: the
/// reproducible-build convention SOURCE_DATE_EPOCH when set, else the commit's date, else now.
fn build_epoch() -> u64 {
    if let Some(t) = env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        return t;
    }
    let git = std::process::Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok());
    git.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    })
}
