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
    /// Per record: its partition's place in `groups`.
    group_of: Vec<u32>,
}

impl PartitionRuns {
    /// Groups the records whose partitions are `partitions` (one per record, in batch order).
    pub fn group(&mut self, partitions: &[i32]) {
        let Self {
            order,
            groups,
            group_of,
        } = self;
        groups.clear();
        group_of.clear();
        // Counts per partition; consecutive records mostly share theirs.
        let mut last: Option<(i32, usize)> = None;
        for p in partitions {
            let g = match last {
                Some((q, g)) if q == *p => g,
                _ => match groups.iter().position(|(q, _)| q == p) {
                    Some(g) => g,
                    None => {
                        groups.push((*p, 0));
                        groups.len() - 1
                    }
                },
            };
            last = Some((*p, g));
            groups[g].1 += 1;
            group_of.push(g as u32);
        }
        // Counts become where each group starts, then (after the records are placed) ends.
        let mut start = 0;
        for (_, count) in groups.iter_mut() {
            let n = *count;
            *count = start;
            start += n;
        }
        order.clear();
        order.resize(partitions.len(), 0);
        for (record, g) in group_of.iter().enumerate() {
            let next = &mut groups[*g as usize].1;
            order[*next] = record as u32;
            *next += 1;
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
