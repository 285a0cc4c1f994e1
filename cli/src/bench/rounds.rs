//! Figures from repeated rounds: one machine's seconds for the same work vary by more than the
//! differences a bench is meant to show, so a figure is a median over rounds taken in turn,
//! where every kind of run sees the machine alike.

/// The run with the median of `seconds`.
pub(super) fn median_by<T>(runs: &[T], seconds: impl Fn(&T) -> f64) -> &T {
    let mut order: Vec<&T> = runs.iter().collect();
    order.sort_by(|a, b| seconds(a).total_cmp(&seconds(b)));
    order[order.len() / 2]
}

/// Each round's run as a ratio to the reference run of the same round, `reference / seconds`
/// (a machine whose speed drifts between rounds moves both alike), sorted, with their median.
pub(super) fn paired_ratios(
    reference: &[f64],
    seconds: impl Iterator<Item = f64>,
) -> (f64, Vec<f64>) {
    let mut ratios: Vec<f64> = reference.iter().zip(seconds).map(|(p, c)| p / c).collect();
    ratios.sort_by(f64::total_cmp);
    (ratios.get(ratios.len() / 2).copied().unwrap_or(0.0), ratios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_round_is_divided_into_the_reference_of_its_own_round() {
        // Round 2 ran on a machine twice as slow: both its runs took twice as long.
        let (median, ratios) = paired_ratios(&[1.2, 2.4, 1.3], [1.0, 2.0, 0.9].into_iter());
        assert_eq!(ratios.len(), 3);
        assert!((ratios[0] - 1.2).abs() < 1e-9 && (ratios[1] - 1.2).abs() < 1e-9);
        assert!((ratios[2] - 1.3 / 0.9).abs() < 1e-9);
        assert!((median - 1.2).abs() < 1e-9);
        assert_eq!(paired_ratios(&[], std::iter::empty()).0, 0.0);
    }

    #[test]
    fn the_median_run_is_picked_whatever_the_order() {
        let runs = [(7, 3.0), (8, 1.0), (9, 2.0)];
        assert_eq!(median_by(&runs, |r| r.1).0, 9);
    }
}
