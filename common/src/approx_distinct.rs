//! `APPROX_COUNT_DISTINCT(x)`: a HyperLogLog sketch, kept as window rows.
//!
//! A value's hash picks one of [`REGISTERS`] registers with its top [`PRECISION`] bits, and
//! ranks it by the rest: one more than their leading zeros. A window's rows are kept per group
//! key *and register* (the register is the key's last part, where [`crate::distinct`] keeps the
//! value), the sketch column holding the register's highest rank as a max. So the sketch
//! merges across slices, partitions and workers as any rows do, replays change nothing, and a
//! key holds at most [`REGISTERS`] rows however many values it sees. When the window is
//! written, a key's registers give the estimate (Flajolet et al., with linear counting while
//! registers are empty): a standard error of 1.04 / √2048 ≈ 2.3 %, Trino's default.
//!
//! The hash is the first half of MurmurHash3 x64-128, seed 0, of the value's key text
//! ([`crate::group_key`]): Iceberg's hash family, which any reader can compute again.

use std::io::Cursor;

/// Bits of the hash that pick the register.
pub const PRECISION: u32 = 11;
/// Registers per (window, key).
pub const REGISTERS: usize = 1 << PRECISION;

/// The register `text` falls in, and its rank there (1 ..= 64 − [`PRECISION`] + 1).
pub fn register_and_rank(text: &[u8]) -> (u32, i64) {
    // Reading from a slice cannot fail.
    let hash = murmur3::murmur3_x64_128(&mut Cursor::new(text), 0).unwrap_or_default() as u64;
    let register = (hash >> (64 - PRECISION)) as u32;
    let rest = hash << PRECISION;
    let rank = rest.leading_zeros().min(64 - PRECISION) + 1;
    (register, i64::from(rank))
}

/// A key's registers, gathered from its rows; empty registers count as rank 0.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sketch {
    /// Σ 2^−rank over the registers seen with a rank.
    inverse_sum: f64,
    /// How many registers were seen with a rank.
    filled: u32,
}

impl Sketch {
    /// Adds one register's rank; each register is added once.
    pub fn add(&mut self, rank: i64) {
        if rank <= 0 {
            return;
        }
        self.inverse_sum += (-(rank as f64)).exp2();
        self.filled += 1;
    }

    /// The estimated number of distinct values.
    pub fn estimate(&self) -> i64 {
        let m = REGISTERS as f64;
        let empty = REGISTERS as u32 - self.filled.min(REGISTERS as u32);
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / (self.inverse_sum + f64::from(empty));
        let estimate = if raw <= 2.5 * m && empty > 0 {
            m * (m / f64::from(empty)).ln()
        } else {
            raw
        };
        estimate.round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate_of(values: impl Iterator<Item = String>) -> i64 {
        let mut registers = vec![0i64; REGISTERS];
        for v in values {
            let (register, rank) = register_and_rank(v.as_bytes());
            let r = &mut registers[register as usize];
            *r = (*r).max(rank);
        }
        let mut sketch = Sketch::default();
        registers.iter().for_each(|&r| sketch.add(r));
        sketch.estimate()
    }

    #[test]
    fn the_hash_is_murmur3_x64_128s_first_half() {
        // mmh3.hash128(b"hello", 0, True, False) & (2**64 - 1), as pyiceberg's mmh3 gives it.
        let hash = 0xcbd8_a7b3_41bd_9b02_u64;
        let (register, rank) = register_and_rank(b"hello");
        assert_eq!(register, (hash >> 53) as u32);
        assert_eq!(rank, i64::from((hash << 11).leading_zeros()) + 1);
    }

    #[test]
    fn no_values_is_zero_and_few_values_are_counted_nearly_exactly() {
        assert_eq!(Sketch::default().estimate(), 0);
        assert_eq!(estimate_of((0..1).map(|i| format!("user-{i}"))), 1);
        assert_eq!(estimate_of((0..10).map(|i| format!("user-{i}"))), 10);
        for n in [100, 1_000] {
            // Three standard errors of linear counting (Whang et al.).
            let m = REGISTERS as f64;
            let t = n as f64 / m;
            let bound = 3.0 * (m * (t.exp() - t - 1.0)).sqrt();
            let got = estimate_of((0..n).map(|i| format!("user-{i}")));
            assert!(
                ((got - n) as f64).abs() <= bound,
                "{n} values estimated as {got}"
            );
        }
    }

    #[test]
    fn many_values_are_within_three_standard_errors() {
        let standard_error = 1.04 / (REGISTERS as f64).sqrt();
        for n in [10_000, 100_000, 1_000_000] {
            let got = estimate_of((0..n).map(|i| format!("{i}")));
            let error = (got - n).abs() as f64 / n as f64;
            assert!(
                error < 3.0 * standard_error,
                "{n} values estimated as {got}"
            );
        }
    }

    #[test]
    fn duplicates_change_nothing() {
        let once = estimate_of((0..5_000).map(|i| format!("v{i}")));
        let thrice = estimate_of((0..15_000).map(|i| format!("v{}", i % 5_000)));
        assert_eq!(once, thrice);
    }
}
