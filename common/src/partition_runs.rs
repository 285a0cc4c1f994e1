//! A decoded batch's records grouped by partition: the window operator looks up a partition's
//! state and watermark once per batch, however the reader interleaved the partitions.
//!
//! Kafka gives no order between partitions, so taking a batch's partitions one after another
//! (each in its own order) is one of the orders the records could have arrived in.

/// A batch's record numbers grouped by partition, each partition's in batch order, partitions
/// in the order they first appear. Its buffers are kept from batch to batch.
#[derive(Debug, Clone, Default)]
pub struct PartitionRuns {
    /// Record numbers, one partition's after another.
    order: Vec<u32>,
    /// Per partition: the partition and where its records end in `order`.
    groups: Vec<(i32, usize)>,
    /// Stretches of consecutive records of one partition: (group, first record, end).
    stretches: Vec<(usize, usize, usize)>,
}

impl PartitionRuns {
    /// Groups the records whose partitions are `partitions` (one per record, in batch order).
    pub fn group(&mut self, partitions: &[i32]) {
        let Self {
            order,
            groups,
            stretches,
        } = self;
        order.clear();
        groups.clear();
        stretches.clear();
        let mut at = 0;
        while at < partitions.len() {
            let partition = partitions[at];
            let end = partitions[at..]
                .iter()
                .position(|p| *p != partition)
                .map_or(partitions.len(), |k| at + k);
            let group = match groups.iter().position(|(p, _)| *p == partition) {
                Some(g) => g,
                None => {
                    groups.push((partition, 0));
                    groups.len() - 1
                }
            };
            groups[group].1 += end - at;
            stretches.push((group, at, end));
            at = end;
        }
        // Counts to ends, then each stretch copied to its group's place.
        let mut next = Vec::with_capacity(groups.len());
        let mut end = 0;
        for (_, count) in groups.iter_mut() {
            next.push(end);
            end += *count;
            *count = end;
        }
        order.resize(partitions.len(), 0);
        for (group, first, last) in stretches.iter() {
            let to = next[*group];
            for (slot, record) in order[to..to + (last - first)].iter_mut().zip(*first..*last) {
                *slot = record as u32;
            }
            next[*group] += last - first;
        }
    }

    /// Each partition with its record numbers, in the order [`group`](Self::group) found them.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &[u32])> {
        let mut start = 0;
        self.groups.iter().map(move |(partition, end)| {
            let records = &self.order[start..*end];
            start = *end;
            (*partition, records)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grouped(partitions: &[i32]) -> Vec<(i32, Vec<u32>)> {
        let mut runs = PartitionRuns::default();
        runs.group(partitions);
        runs.iter().map(|(p, r)| (p, r.to_vec())).collect()
    }

    #[test]
    fn interleaved_partitions_are_grouped_each_in_batch_order() {
        assert_eq!(
            grouped(&[3, 1, 1, 3, 2, 1, 3]),
            [(3, vec![0, 3, 6]), (1, vec![1, 2, 5]), (2, vec![4])]
        );
    }

    #[test]
    fn a_batch_already_in_runs_keeps_its_order() {
        assert_eq!(
            grouped(&[0, 0, 0, 5, 5]),
            [(0, vec![0, 1, 2]), (5, vec![3, 4])]
        );
        assert_eq!(grouped(&[]), []);
    }

    #[test]
    fn buffers_from_a_larger_batch_do_not_leak_into_the_next() {
        let mut runs = PartitionRuns::default();
        runs.group(&[1, 2, 1, 2, 1, 2]);
        runs.group(&[2, 2]);
        let groups: Vec<(i32, Vec<u32>)> = runs.iter().map(|(p, r)| (p, r.to_vec())).collect();
        assert_eq!(groups, [(2, vec![0, 1])]);
    }
}
