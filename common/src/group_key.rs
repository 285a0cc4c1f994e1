//! How a (possibly composite) group key is held in one string, and read back into its columns.
//!
//! Parts are joined by [`SEPARATOR`]; a part holding the separator or [`ESCAPE`] has that
//! character preceded by [`ESCAPE`], so any two distinct lists of strings encode differently and
//! split back into the same parts, whatever characters they hold.
//!
//! Values become text before they are keyed: strings as they are, integers and floats in their
//! shortest decimal form, booleans as `true`/`false`. Group columns are strings, so the number
//! `5`, the float `5.0` and the string `"5"` are one key, `"5"`, and give one row.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::value::Scalar;

/// Separates the parts of a composite key.
pub const SEPARATOR: char = '\u{1f}';
/// Makes the next character part of the value.
pub const ESCAPE: char = '\u{1b}';

fn needs_escape(part: &str) -> bool {
    part.bytes()
        .any(|b| b == SEPARATOR as u8 || b == ESCAPE as u8)
}

/// Appends one part to `key` (the separator first, unless it is the first part).
#[inline]
pub fn push_part(key: &mut String, first: bool, part: &str) {
    if !first {
        key.push(SEPARATOR);
    }
    if !needs_escape(part) {
        key.push_str(part);
        return;
    }
    for c in part.chars() {
        if c == SEPARATOR || c == ESCAPE {
            key.push(ESCAPE);
        }
        key.push(c);
    }
}

/// Appends a decoded value as one part; false (and `key` unchanged) when the value cannot be a
/// key (missing, null, object or array).
#[inline]
pub fn push_scalar(key: &mut String, first: bool, value: &Scalar<'_>) -> bool {
    let start = key.len();
    let ok = match value {
        Scalar::Str(s) => {
            push_part(key, first, s);
            true
        }
        Scalar::I64(v) => {
            push_part(key, first, "");
            write!(key, "{v}").is_ok()
        }
        Scalar::F64(v) => {
            push_part(key, first, "");
            write!(key, "{v}").is_ok()
        }
        Scalar::Bool(v) => {
            push_part(key, first, if *v { "true" } else { "false" });
            true
        }
        Scalar::Missing | Scalar::Null | Scalar::Nested(_) => false,
    };
    if !ok {
        key.truncate(start);
    }
    ok
}

/// The key itself when it is one part held as it is (no separator, nothing escaped): the
/// usual single group column, read back without splitting.
pub fn single_part(key: &str) -> Option<&str> {
    (!needs_escape(key)).then_some(key)
}

/// The parts of a key made by [`push_part`], in order.
pub fn parts(key: &str) -> Vec<Cow<'_, str>> {
    if let Some(key) = single_part(key) {
        return vec![Cow::Borrowed(key)];
    }
    if !key.contains(ESCAPE) {
        return key.split(SEPARATOR).map(Cow::Borrowed).collect();
    }
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            ESCAPE => current.extend(chars.next()),
            SEPARATOR => out.push(Cow::Owned(std::mem::take(&mut current))),
            c => current.push(c),
        }
    }
    out.push(Cow::Owned(current));
    out
}

/// The key without its last part: the parts before it, as they were pushed (empty for a key
/// of one part).
pub fn without_last_part(key: &str) -> &str {
    let mut last = None;
    let mut escaped = false;
    for (i, b) in key.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b if b == ESCAPE as u8 => escaped = true,
            b if b == SEPARATOR as u8 => last = Some(i),
            _ => {}
        }
    }
    last.map_or("", |i| &key[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(parts: &[&str]) -> String {
        let mut key = String::new();
        for (i, p) in parts.iter().enumerate() {
            push_part(&mut key, i == 0, p);
        }
        key
    }

    #[test]
    fn parts_round_trip_whatever_they_hold() {
        let sep = SEPARATOR.to_string();
        let esc = ESCAPE.to_string();
        let cases: Vec<Vec<String>> = vec![
            vec!["a".into()],
            vec!["a".into(), "b".into()],
            vec![format!("a{sep}b")],
            vec!["a".into(), format!("{sep}b")],
            vec![format!("a{esc}"), "b".into()],
            vec![format!("{esc}{sep}{esc}"), String::new(), format!("x{esc}")],
            vec![String::new(), String::new()],
        ];
        for parts in &cases {
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            let key = key_of(&refs);
            let back: Vec<String> = super::parts(&key)
                .into_iter()
                .map(Cow::into_owned)
                .collect();
            assert_eq!(&back, parts, "key {key:?}");
            let before_last = key_of(&refs[..refs.len() - 1]);
            assert_eq!(without_last_part(&key), before_last, "key {key:?}");
        }
    }

    #[test]
    fn distinct_part_lists_never_share_a_key() {
        let sep = SEPARATOR.to_string();
        let esc = ESCAPE.to_string();
        let alphabet = ["", "a", sep.as_str(), esc.as_str()];
        let mut seen = std::collections::HashMap::new();
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    for parts in [
                        vec![format!("{a}{b}{c}")],
                        vec![format!("{a}{b}"), c.into()],
                    ] {
                        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
                        if let Some(other) = seen.insert(key_of(&refs), parts.clone()) {
                            assert_eq!(other, parts, "two part lists share a key");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn numbers_and_strings_follow_the_documented_rule() {
        let text = |v: Scalar<'_>| {
            let mut k = String::new();
            assert!(push_scalar(&mut k, true, &v));
            k
        };
        assert_eq!(text(Scalar::I64(5)), "5");
        assert_eq!(text(Scalar::F64(5.0)), "5");
        assert_eq!(text(Scalar::Str("5".into())), "5");
        assert_eq!(text(Scalar::F64(5.25)), "5.25");
        assert_eq!(text(Scalar::Bool(true)), "true");
        let mut k = "x".to_owned();
        assert!(!push_scalar(&mut k, false, &Scalar::Null));
        assert_eq!(
            k, "x",
            "a value that cannot be a key leaves the key as it was"
        );
    }
}
