//! A small tmpfs for the full-disk tests (tests/store_diskfull.rs, tests/count_diskfull.rs):
//! mounted in a fresh folder, unmounted and removed on drop. Mounting needs root; without it
//! a test fails unless SSD_EDGE_SKIP_MOUNT=1 says the run skips it knowingly.

use std::path::PathBuf;
use std::process::Command;

pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap().keep();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(Tmpfs(dir));
        }
        let _ = std::fs::remove_dir(&dir);
        // Not root: a failure unless the run says it knowingly skips these checks (as
        // SSD_EDGE_SKIP_REAL does for the real-model tests), so a pass always means tested.
        assert!(
            std::env::var("SSD_EDGE_SKIP_MOUNT").as_deref() == Ok("1"),
            "cannot mount a tmpfs (needs root): run as root, or set SSD_EDGE_SKIP_MOUNT=1 to \
             skip the full-disk checks knowingly"
        );
        eprintln!("SKIPPED: cannot mount a tmpfs and SSD_EDGE_SKIP_MOUNT=1");
        None
    }

    pub fn remount(&self, opt: &str) {
        let s = Command::new("mount")
            .args(["-o", &format!("remount,{opt}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(s.success(), "remount {opt}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}
