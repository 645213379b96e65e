//! Ctrl-C and SIGTERM: the first sets a flag that the running work polls, so what was measured
//! or minted is still written; the second exits at once, after removing any half-written
//! `.partial` file, so nothing that looks like output is left behind.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

use crate::error::exit;

static STOP: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();
static PARTIALS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Installs the handler (once per process) and returns the flag it sets. Call it before
/// anything slow starts.
pub fn install() -> &'static AtomicBool {
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                remove_partials();
                let _ = std::io::stderr().write_all(b"\ninterrupted twice: exiting now\n");
                std::process::exit(exit::INTERRUPTED);
            }
        });
    });
    &STOP
}

/// Whether an interrupt has arrived.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Notes a file being written that a second interrupt must remove before exiting.
pub fn register_partial(path: &Path) {
    if let Ok(mut p) = PARTIALS.lock() {
        p.push(path.to_path_buf());
    }
}

/// Forgets a file registered with [`register_partial`] (it was committed or removed).
pub fn forget_partial(path: &Path) {
    if let Ok(mut p) = PARTIALS.lock() {
        p.retain(|x| x != path);
    }
}

fn remove_partials() {
    // The lock may be held by the interrupted thread: never wait for it in a signal handler.
    if let Ok(p) = PARTIALS.try_lock() {
        for path in p.iter() {
            let _ = std::fs::remove_file(path);
        }
    }
}
