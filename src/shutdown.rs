//! Graceful stop on SIGINT, SIGTERM and SIGHUP (Ctrl-C, `systemctl stop`, a closed terminal or
//! SSH session): the handler only raises a flag that the frame loop checks between frames and
//! during reconnect back-off, so a run ends with its summary written and its output flushed
//! (and a recording with its last frame complete). A second signal exits at once (status 130).
//! A first signal that comes after the frames have ended (during the MQTT `linger` wait, or
//! `serve_after_end`) ends that wait at once: see [`requested`].

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::flag;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};

/// The signals that ask for a graceful stop.
pub const SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();
static INSTALLED: Mutex<bool> = Mutex::new(false);

/// Installs the handlers (once per process) and returns the flag they raise.
pub fn install() -> std::io::Result<&'static AtomicBool> {
    let stop: &'static Arc<AtomicBool> = STOP.get_or_init(Default::default);
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if !*installed {
        for sig in SIGNALS {
            // Registered first, so it sees the flag as the previous signal left it: the first
            // signal only raises the flag, a second one exits.
            flag::register_conditional_shutdown(sig, 130, Arc::clone(stop))?;
            flag::register(sig, Arc::clone(stop))?;
        }
        *installed = true;
    }
    Ok(stop)
}

/// Whether a stop signal has come (false before [`install`]). The waits after the frames
/// (MQTT `linger`, `serve_after_end`) poll it, so the first SIGTERM of `systemctl stop` ends
/// them at once instead of being taken as the first of two.
pub fn requested() -> bool {
    STOP.get()
        .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
}
