//! Ctrl-C and SIGTERM: the first sets a flag that the running work polls, so what was measured
//! or minted is still written; the second exits at once.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::exit;

/// Sets `stop` on Ctrl-C; a second Ctrl-C exits at once.
pub fn install_interrupt(stop: Arc<AtomicBool>) {
    let _ = ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            let _ = std::io::stderr().write_all(b"\ninterrupted twice: exiting now\n");
            std::process::exit(exit::INTERRUPTED);
        }
    });
}
