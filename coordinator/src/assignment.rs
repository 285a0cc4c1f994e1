//! Which worker reads which partitions: an even spread that keeps a partition where it is
//! whenever the spread allows, so a rebalance moves as little state as it can.

use std::collections::BTreeMap;

/// Spreads `partitions` over `workers` (no two loads differ by more than one), keeping each
/// partition with its `previous` holder where that holder is still a worker and within its
/// share. Every worker gets an entry, possibly empty.
pub fn spread(
    partitions: &[i32],
    workers: &[String],
    previous: &BTreeMap<i32, String>,
) -> BTreeMap<String, Vec<i32>> {
    let mut out: BTreeMap<String, Vec<i32>> =
        workers.iter().map(|w| (w.clone(), Vec::new())).collect();
    if workers.is_empty() {
        return out;
    }
    let share = partitions.len().div_ceil(workers.len());
    let mut homeless = Vec::new();
    for p in partitions {
        match previous.get(p).and_then(|w| out.get_mut(w)) {
            Some(mine) if mine.len() < share => mine.push(*p),
            _ => homeless.push(*p),
        }
    }
    for p in homeless {
        least_loaded(&mut out).push(p);
    }
    // Sticky shares may leave loads 2 apart: move from the fullest to the emptiest.
    loop {
        let (most, least) = loads(&out);
        if most.1 <= least.1 + 1 {
            break;
        }
        let moved = out.get_mut(&most.0).and_then(Vec::pop);
        if let (Some(p), Some(to)) = (moved, out.get_mut(&least.0)) {
            to.push(p);
        }
    }
    for ps in out.values_mut() {
        ps.sort_unstable();
    }
    out
}

fn least_loaded(out: &mut BTreeMap<String, Vec<i32>>) -> &mut Vec<i32> {
    let name = loads(out).1 .0;
    out.entry(name).or_default()
}

/// (fullest, emptiest) worker names with their loads; ties go to the first name.
fn loads(out: &BTreeMap<String, Vec<i32>>) -> ((String, usize), (String, usize)) {
    let mut most = (String::new(), 0);
    let mut least = (String::new(), usize::MAX);
    for (w, ps) in out {
        if ps.len() > most.1 || most.0.is_empty() {
            most = (w.clone(), ps.len());
        }
        if ps.len() < least.1 {
            least = (w.clone(), ps.len());
        }
    }
    (most, least)
}

/// The partitions to schedule: those `listed` now and those the restore point holds. A
/// partition missing from one listing (a broker's metadata mid-change) keeps its position
/// instead of coming back later with no holder, read again from its start offset. Sorted.
pub fn to_schedule(listed: &[i32], restored: &BTreeMap<i32, String>) -> Vec<i32> {
    let mut all: Vec<i32> = listed.iter().chain(restored.keys()).copied().collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// How one assignment becomes another, partition by partition: what each worker gives up and
/// what each takes on. A partition that keeps its worker is in neither.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Handover {
    /// Worker → the partitions it gives up.
    pub removals: BTreeMap<String, Vec<i32>>,
    /// Worker → the partitions it takes on.
    pub additions: BTreeMap<String, Vec<i32>>,
}

impl Handover {
    /// From `current` (worker → partitions) to `next`. Workers with nothing to give up or take
    /// on have no entry.
    pub fn between(
        current: &BTreeMap<String, Vec<i32>>,
        next: &BTreeMap<String, Vec<i32>>,
    ) -> Self {
        let missing = |from: &BTreeMap<String, Vec<i32>>, to: &BTreeMap<String, Vec<i32>>| {
            from.iter()
                .map(|(w, ps)| {
                    let kept = to.get(w);
                    let gone: Vec<i32> = (ps.iter())
                        .filter(|p| kept.is_none_or(|k| !k.contains(p)))
                        .copied()
                        .collect();
                    (w.clone(), gone)
                })
                .filter(|(_, ps)| !ps.is_empty())
                .collect()
        };
        Self {
            removals: missing(current, next),
            additions: missing(next, current),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.removals.is_empty() && self.additions.is_empty()
    }
}

/// Partition → worker, the inverse of [`spread`]'s result.
pub fn holders(assignment: &BTreeMap<String, Vec<i32>>) -> BTreeMap<i32, String> {
    assignment
        .iter()
        .flat_map(|(w, ps)| ps.iter().map(move |p| (*p, w.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("w{i}")).collect()
    }

    fn check_even(a: &BTreeMap<String, Vec<i32>>, partitions: &[i32]) {
        let mut all: Vec<i32> = a.values().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, partitions, "every partition exactly once");
        let sizes: Vec<usize> = a.values().map(Vec::len).collect();
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(max - min <= 1, "{a:?}");
    }

    #[test]
    fn a_handover_names_only_the_partitions_that_change_worker() {
        let parts: Vec<i32> = (0..12).collect();
        let three = spread(&parts, &names(3), &BTreeMap::new());
        let four = spread(&parts, &names(4), &holders(&three));
        let h = Handover::between(&three, &four);
        assert_eq!(h.additions.keys().collect::<Vec<_>>(), ["w3"]);
        assert_eq!(h.additions["w3"].len(), 3);
        let removed: Vec<i32> = h.removals.values().flatten().copied().collect();
        assert_eq!(removed.len(), 3, "{h:?}");
        for p in &removed {
            assert!(h.additions["w3"].contains(p));
        }
        assert!(Handover::between(&four, &four).is_empty());
        // The topic grew: the new partitions are only added.
        let more: Vec<i32> = (0..16).collect();
        let grown = spread(&more, &names(4), &holders(&four));
        let h = Handover::between(&four, &grown);
        assert!(h.removals.is_empty(), "{h:?}");
        let mut added: Vec<i32> = h.additions.values().flatten().copied().collect();
        added.sort_unstable();
        assert_eq!(added, [12, 13, 14, 15]);
    }

    #[test]
    fn spreads_evenly_and_moves_little_when_a_worker_joins_or_leaves() {
        let parts: Vec<i32> = (0..12).collect();
        let three = spread(&parts, &names(3), &BTreeMap::new());
        check_even(&three, &parts);
        let four = spread(&parts, &names(4), &holders(&three));
        check_even(&four, &parts);
        let moved = holders(&four)
            .iter()
            .filter(|(p, w)| holders(&three).get(p) != Some(w))
            .count();
        assert_eq!(moved, 3, "only the new worker's share moves");
        let two = spread(&parts, &names(2), &holders(&three));
        check_even(&two, &parts);
        let kept = holders(&two)
            .iter()
            .filter(|(p, w)| holders(&three).get(p) == Some(w))
            .count();
        assert_eq!(kept, 8, "the remaining workers keep theirs");
    }

    #[test]
    fn a_restored_partition_missing_from_the_listing_is_still_scheduled() {
        let restored: BTreeMap<i32, String> = [
            (0, "a".to_owned()),
            (1, "a".to_owned()),
            (2, "b".to_owned()),
        ]
        .into();
        assert_eq!(to_schedule(&[0, 2], &restored), [0, 1, 2]);
        assert_eq!(to_schedule(&[0, 1, 2, 3], &restored), [0, 1, 2, 3]);
        assert_eq!(to_schedule(&[3, 1], &BTreeMap::new()), [1, 3]);
    }

    #[test]
    fn uneven_counts_and_more_workers_than_partitions() {
        for (n_parts, n_workers) in [(12, 5), (3, 5), (7, 2), (1, 1), (0, 3)] {
            let parts: Vec<i32> = (0..n_parts).collect();
            let first = spread(&parts, &names(n_workers), &BTreeMap::new());
            check_even(&first, &parts);
            let again = spread(&parts, &names(n_workers + 1), &holders(&first));
            check_even(&again, &parts);
        }
        assert!(spread(&[1, 2], &[], &BTreeMap::new()).is_empty());
    }
}
