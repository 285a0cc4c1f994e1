//! Equality of short byte strings (object keys, group keys) without a call to `memcmp`: on
//! the per-record path most compared strings are under 16 bytes, where the call costs more
//! than the comparison.

/// Whether `a` and `b` hold the same bytes.
#[inline]
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        // The first and the last chunk overlap for 8 to 16 bytes: together they cover all.
        8..=16 => {
            a.first_chunk::<8>() == b.first_chunk::<8>()
                && a.last_chunk::<8>() == b.last_chunk::<8>()
        }
        4..=7 => {
            a.first_chunk::<4>() == b.first_chunk::<4>()
                && a.last_chunk::<4>() == b.last_chunk::<4>()
        }
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::bytes_eq;

    #[test]
    fn agrees_with_slice_equality_at_every_length_and_position_of_a_difference() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            assert!(bytes_eq(&a, &a.clone()), "length {n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x40;
                assert!(!bytes_eq(&a, &b), "length {n}, difference at {at}");
            }
            let longer: Vec<u8> = a.iter().copied().chain([0]).collect();
            assert!(!bytes_eq(&a, &longer), "length {n} against {}", n + 1);
        }
    }
}
