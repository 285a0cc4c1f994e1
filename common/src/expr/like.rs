//! SQL `LIKE` patterns: `%` matches any run of characters, `_` any one character.

use serde::{Deserialize, Serialize};

/// A `LIKE` pattern, split once at its `%`s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LikePattern {
    text: String,
    /// The pattern's pieces between `%`s; the first is anchored at the start unless the
    /// pattern starts with `%`, the last at the end unless it ends with one.
    pieces: Vec<String>,
    /// Whether a piece holds `_`, which makes matching go by characters, not bytes.
    any_char: bool,
}

impl LikePattern {
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            pieces: text.split('%').map(str::to_owned).collect(),
            any_char: text.contains('_'),
        }
    }

    /// The pattern as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn matches(&self, value: &str) -> bool {
        if self.any_char {
            let chars: Vec<char> = value.chars().collect();
            let pieces: Vec<Vec<char>> = self.pieces.iter().map(|p| p.chars().collect()).collect();
            glob(&chars, &pieces, |a, b| b == '_' || a == b)
        } else {
            let pieces: Vec<&[u8]> = self.pieces.iter().map(|p| p.as_bytes()).collect();
            glob(value.as_bytes(), &pieces, |a, b| a == b)
        }
    }
}

/// Whether `value` matches `pieces` joined by "any run": the first piece at the start, the last
/// at the end, each middle one at its leftmost place after the one before (which is optimal
/// when the only run wildcard is between pieces).
fn glob<T: Copy, P: AsRef<[T]>>(value: &[T], pieces: &[P], eq: impl Fn(T, T) -> bool) -> bool {
    let at = |from: usize, piece: &[T]| -> bool {
        value.len() >= from + piece.len()
            && value[from..from + piece.len()]
                .iter()
                .zip(piece)
                .all(|(a, b)| eq(*a, *b))
    };
    let (first, rest) = match pieces.split_first() {
        Some(split) => split,
        None => return value.is_empty(),
    };
    let first = first.as_ref();
    if rest.is_empty() {
        return value.len() == first.len() && at(0, first);
    }
    if !at(0, first) {
        return false;
    }
    let Some((last, middle)) = rest.split_last() else {
        return true;
    };
    let last = last.as_ref();
    let mut from = first.len();
    for piece in middle {
        let piece = piece.as_ref();
        match (from..=value.len().saturating_sub(piece.len())).find(|i| at(*i, piece)) {
            Some(i) => from = i + piece.len(),
            None => return false,
        }
    }
    value.len() >= from + last.len() && at(value.len() - last.len(), last)
}

#[cfg(test)]
mod tests {
    use super::LikePattern;

    #[test]
    fn matches_as_sql_does() {
        let cases = [
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("a%", "abc", true),
            ("a%", "bac", false),
            ("%c", "abc", true),
            ("%b%", "abc", true),
            ("%b%", "acd", false),
            ("a%c%e", "abcde", true),
            ("a%c%e", "abcd", false),
            ("a%bc", "abc", true),
            ("ab%bc", "abc", false),
            ("_b_", "abc", true),
            ("_b_", "ab", false),
            ("é_", "éa", true),
            ("%", "", true),
            ("", "", true),
            ("", "a", false),
            ("%a%a%", "aa", true),
            ("%a%a%", "a", false),
        ];
        for (pattern, value, expected) in cases {
            assert_eq!(
                LikePattern::new(pattern).matches(value),
                expected,
                "{value} LIKE {pattern}"
            );
        }
    }
}
