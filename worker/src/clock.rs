//! Processing time for idleness decisions: milliseconds since the process started.

use std::sync::OnceLock;
use std::time::Instant;

/// Monotonic milliseconds; only differences matter.
pub fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}
