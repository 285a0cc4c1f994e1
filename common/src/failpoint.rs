//! Crash injection for tests: `FLOE_CRASH_AT=<point>:<checkpoint id>` aborts the process at that
//! point of that checkpoint, exactly like a power cut would stop it.

use std::sync::OnceLock;

fn configured() -> &'static Option<(String, u64)> {
    static AT: OnceLock<Option<(String, u64)>> = OnceLock::new();
    AT.get_or_init(|| {
        let value = std::env::var("FLOE_CRASH_AT").ok()?;
        let (point, id) = value.rsplit_once(':')?;
        Some((point.to_owned(), id.parse().ok()?))
    })
}

/// Aborts the process if `FLOE_CRASH_AT` names this point and checkpoint.
pub fn hit(point: &str, checkpoint_id: u64) {
    if let Some((p, id)) = configured() {
        if p == point && *id == checkpoint_id {
            eprintln!("floe: failpoint {point}:{checkpoint_id} reached, aborting");
            std::process::abort();
        }
    }
}
