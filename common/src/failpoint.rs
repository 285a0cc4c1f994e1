//! Crash injection for tests: armed with `<point>:<checkpoint id>` (the binary passes its
//! `FLOE_CRASH_AT`), a process aborts at that point of that checkpoint, exactly like a power cut
//! would stop it. `<point>:<id>+` aborts at the first checkpoint from `id` on whose output has
//! files for two or more tables, so that a crash between tables really splits a checkpoint.
//! Points outside checkpoints (table maintenance) count the times they are reached instead
//! ([`hit_counted`]).

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

static AIM: OnceLock<Aim> = OnceLock::new();

/// Arms the failpoint `aim` (`<point>:<id>` or `<point>:<id>+`) for the rest of the process; the
/// first call wins. An aim that does not parse is refused.
pub fn arm(aim: &str) -> Result<(), String> {
    let parsed =
        parse(aim).ok_or_else(|| format!("`{aim}`: expected <point>:<checkpoint id>[+]"))?;
    let _ = AIM.set(parsed);
    Ok(())
}

/// Aborts the process if the armed failpoint names this point and checkpoint; `tables` is how
/// many tables the checkpoint has files for.
pub fn hit(point: &str, checkpoint_id: u64, tables: usize) {
    if let Some(aim) = AIM.get() {
        if aim.fires(point, checkpoint_id, tables) {
            eprintln!(
                "floe: failpoint {point}:{checkpoint_id} reached with files for {tables} tables, aborting"
            );
            std::process::abort();
        }
    }
}

/// Points reached outside a checkpoint (table maintenance), counted per point: the aim
/// `<point>:<n>` fires the n-th time this process reaches it.
pub fn hit_counted(point: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    // Only the aimed point is counted, so one counter serves.
    static REACHED: AtomicU64 = AtomicU64::new(0);
    if AIM.get().is_none_or(|aim| aim.point != point) {
        return;
    }
    hit(point, REACHED.fetch_add(1, Ordering::Relaxed) + 1, 1);
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

    #[test]
    fn an_aim_that_does_not_parse_is_refused() {
        let err = arm("after-commit").expect_err("no checkpoint id");
        assert!(err.contains("<point>:<checkpoint id>"), "{err}");
    }
}
