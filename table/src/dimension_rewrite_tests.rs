//! Row keys; the rewrite itself is tested through the committer (`committer_cdc_tests.rs`).

use std::sync::Arc;

use arrow_array::{Int64Array, StringArray};

use super::*;

#[test]
fn row_keys_are_equal_exactly_when_the_values_are() {
    let strings: ArrayRef = Arc::new(StringArray::from(vec![
        Some("ab"),
        Some("a"),
        None,
        Some("ab"),
    ]));
    let longs: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(1), Some(1), Some(1)]));
    let key = |r| row_key(&[strings.clone(), longs.clone()], r);
    assert_eq!(key(0), key(3));
    assert_ne!(key(0), key(1));
    assert_ne!(key(1), key(2), "null is not a value");
    // "a" + "b1" must not read as "ab" + "1": lengths are part of the key.
    let a: ArrayRef = Arc::new(StringArray::from(vec!["a", "ab"]));
    let b: ArrayRef = Arc::new(StringArray::from(vec!["b1", "1"]));
    assert_ne!(row_key(&[a.clone(), b.clone()], 0), row_key(&[a, b], 1));
}
