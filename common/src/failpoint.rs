//! Crash injection for tests: `FLOE_CRASH_AT=<point>:<checkpoint id>` aborts the process at that
//! point of that checkpoint, exactly like a power cut would stop it.
//! `FLOE_CRASH_AT=<point>:<id>+` aborts at the first checkpoint from `id` on whose output has
//! files for two or more tables, so that a crash between tables really splits a checkpoint.

use std::sync::OnceLock;

/// Which checkpoints a configured failpoint fires at.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Aim {
    point: String,
    from: u64,
    /// Only checkpoints with files for two or more tables, from `from` on.
    multi_table: bool,
}

fn parse(value: &str) -> Option<Aim> {
    let (point, id) = value.rsplit_once(':')?;
    let (id, multi_table) = match id.strip_suffix('+') {
        Some(id) => (id, true),
        None => (id, false),
    };
    Some(Aim {
        point: point.to_owned(),
        from: id.parse().ok()?,
        multi_table,
    })
}

impl Aim {
    fn fires(&self, point: &str, checkpoint_id: u64, tables: usize) -> bool {
        self.point == point
            && if self.multi_table {
                checkpoint_id >= self.from && tables >= 2
            } else {
                checkpoint_id == self.from
            }
    }
}

fn configured() -> &'static Option<Aim> {
    static AT: OnceLock<Option<Aim>> = OnceLock::new();
    AT.get_or_init(|| parse(&std::env::var("FLOE_CRASH_AT").ok()?))
}

/// Aborts the process if `FLOE_CRASH_AT` names this point and checkpoint; `tables` is how many
/// tables the checkpoint has files for.
pub fn hit(point: &str, checkpoint_id: u64, tables: usize) {
    if let Some(aim) = configured() {
        if aim.fires(point, checkpoint_id, tables) {
            eprintln!(
                "floe: failpoint {point}:{checkpoint_id} reached with files for {tables} tables, aborting"
            );
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_multi_table_aims() {
        let exact = parse("after-commit:7").unwrap();
        assert!(exact.fires("after-commit", 7, 0));
        assert!(!exact.fires("after-commit", 8, 3));
        assert!(!exact.fires("after-manifest", 7, 3));
        let multi = parse("after-commit:7+").unwrap();
        assert!(!multi.fires("after-commit", 7, 1));
        assert!(!multi.fires("after-commit", 6, 3));
        assert!(multi.fires("after-commit", 9, 2));
        assert_eq!(parse("after-commit"), None);
        assert_eq!(parse("after-commit:x"), None);
    }
}
