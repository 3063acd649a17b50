//! `ssd-edge cameras`: V4L2 devices with driver, card, formats, frame sizes and rates.

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Devices to describe [default: every /dev/video*].
    #[arg(value_name = "DEVICE")]
    pub devices: Vec<PathBuf>,
    /// One JSON object per device instead of text.
    #[arg(long)]
    pub json: bool,
}

#[cfg(feature = "camera")]
pub fn run(args: Args) -> Result<ExitCode> {
    use ssd_edge::source::camera;
    let explicit = !args.devices.is_empty();
    let devices = if explicit {
        args.devices
    } else {
        camera::list_device_paths()
    };
    if devices.is_empty() {
        eprintln!("no video devices (/dev/video*) found");
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    let mut out = super::output::stdout();
    for path in devices {
        match camera::device_info(&path) {
            Ok(info) if args.json => out.line(serde_json::to_string(&info)?)?,
            Ok(info) => out.text(render_text(&info))?,
            Err(e) => {
                // Listing all devices: one unusable node (busy, metadata-only) is not fatal.
                eprintln!("{e}");
                failed |= explicit;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(feature = "camera")]
fn render_text(info: &ssd_edge::source::camera::DeviceInfo) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{}: {} (driver {}, bus {})",
        info.path.display(),
        info.card,
        info.driver,
        info.bus
    );
    if !info.capture {
        let _ = writeln!(o, "  not a video capture node");
    }
    for f in &info.formats {
        let note = if f.supported {
            ""
        } else {
            " (not supported by ssd-edge)"
        };
        let _ = writeln!(o, "  {} {}{}", f.fourcc, f.description, note);
        for s in &f.sizes {
            let _ = writeln!(o, "    {} @ {} fps", s.size, s.fps.join(", "));
        }
    }
    o
}

#[cfg(not(feature = "camera"))]
pub fn run(_args: Args) -> Result<ExitCode> {
    anyhow::bail!("this build has no camera support (feature 'camera')")
}
