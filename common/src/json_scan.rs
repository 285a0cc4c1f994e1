//! A JSON scanner that reads only the fields a job declares.
//!
//! Generic parsers build (or at least visit) every value; a job reads three to eight fields of a
//! record. This scanner walks the bytes once, matching object keys against a tree of the job's
//! paths, reading a matching leaf into its slot and jumping over everything else: a skipped
//! string is searched for its closing quote, a skipped object or array for its closing bracket.
//! Structure is still checked everywhere (brackets, commas, colons, literals, numbers, trailing
//! bytes, nesting depth, escapes), so a broken record is refused wherever the break is; only
//! the UTF-8 of skipped strings is not (invalid UTF-8 there is not the job's business).

use std::borrow::Cow;

use crate::bytes_eq::bytes_eq;
use crate::value::Scalar;

/// Deeper nesting than this is refused (serde_json's limit too), so a hostile record cannot
/// exhaust the stack.
const MAX_DEPTH: usize = 128;

/// The job's paths as a tree: object key → a slot (leaf) or the keys beneath it.
#[derive(Default)]
pub struct PathTree {
    children: Vec<Entry>,
}

struct Entry {
    key: Box<[u8]>,
    /// The key has a quote, backslash or control character: JSON can only spell it escaped.
    escaped_only: bool,
    child: Child,
}

impl Entry {
    fn new(key: &str, child: Child) -> Self {
        Self {
            key: key.as_bytes().into(),
            escaped_only: needs_escape(key.as_bytes()),
            child,
        }
    }
}

/// Whether a key can only be written escaped in JSON (so never matches a string's raw bytes).
fn needs_escape(key: &[u8]) -> bool {
    key.iter().any(|b| matches!(b, b'"' | b'\\' | 0..=0x1f))
}

enum Child {
    Leaf(usize),
    Inner(PathTree),
}

impl PathTree {
    /// Adds the path of `segments` reading into `slot`; `full` names it in errors.
    pub fn insert(&mut self, segments: &[String], slot: usize, full: &str) -> Result<(), String> {
        let (first, rest) = segments.split_first().ok_or("empty path")?;
        let pos = self.position(first.as_bytes());
        match (pos, rest.is_empty()) {
            (None, true) => self.children.push(Entry::new(first, Child::Leaf(slot))),
            (None, false) => {
                let mut node = PathTree::default();
                node.insert(rest, slot, full)?;
                self.children.push(Entry::new(first, Child::Inner(node)));
            }
            (Some(i), false) => match &mut self.children[i].child {
                Child::Inner(node) => node.insert(rest, slot, full)?,
                Child::Leaf(_) => {
                    return Err(format!(
                        "`{full}` goes inside a field another path uses whole"
                    ))
                }
            },
            (Some(_), true) => return Err(format!("`{full}` is also the parent of another path")),
        }
        Ok(())
    }

    fn position(&self, key: &[u8]) -> Option<usize> {
        self.children.iter().position(|e| bytes_eq(&e.key, key))
    }

    fn find(&self, key: &[u8]) -> Option<&Child> {
        self.position(key).map(|i| &self.children[i].child)
    }

    /// The child whose key the string starting at `rest` (just after its opening quote) spells
    /// byte for byte, with the length of the string up to and including its closing quote: most
    /// keys a job reads are found without scanning and unescaping them first.
    #[inline]
    fn find_unescaped(&self, rest: &[u8]) -> Option<(usize, &Child)> {
        self.children
            .iter()
            .filter(|e| !e.escaped_only)
            .find(|e| {
                let n = e.key.len();
                rest.get(n) == Some(&b'"') && bytes_eq(&rest[..n], &e.key)
            })
            .map(|e| (e.key.len() + 1, &e.child))
    }

    /// Reads the record `bytes` into `slots` (one per path, all `Missing` on entry). Returns
    /// whether the record is an object; an error says what is wrong and where.
    pub fn scan<'b>(&self, bytes: &'b [u8], slots: &mut [Scalar<'b>]) -> Result<bool, String> {
        let mut s = Scanner { bytes, at: 0 };
        s.skip_ws();
        let is_object = s.peek() == Some(b'{');
        if is_object {
            s.object(self, slots, 1)?;
        } else {
            s.skip_value(1)?;
        }
        s.skip_ws();
        if s.at < bytes.len() {
            return Err(s.error("trailing characters"));
        }
        Ok(is_object)
    }
}

/// `bytes` as text; ASCII, the usual case of the short strings a job reads, is checked for
/// first because that is far cheaper than full UTF-8 validation of a short string.
#[inline]
fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    if bytes.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes)
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The first index from `i` holding a quote, a backslash or a control character (or the end),
/// eight bytes at a time: the bytes of strings are most of a record.
#[inline]
fn next_special(bytes: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = bytes.get(i..).and_then(|b| b.first_chunk::<8>()) {
        let x = u64::from_le_bytes(*chunk);
        // The lowest flagged byte is always a true match (a borrow only flags bytes above it).
        let is = |b: u8| {
            let y = x ^ (ONES * u64::from(b));
            y.wrapping_sub(ONES) & !y & HIGHS
        };
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        let hit = is(b'"') | is(b'\\') | control;
        if hit != 0 {
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && !matches!(bytes[i], b'"' | b'\\' | 0..=0x1f) {
        i += 1;
    }
    i
}

struct Scanner<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl<'b> Scanner<'b> {
    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.at)
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), String> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else if self.at >= self.bytes.len() {
            Err(self.error("unexpected end"))
        } else {
            Err(self.error(what))
        }
    }

    /// An object whose keys are looked up in `tree`; the scanner stands on its `{`.
    fn object(
        &mut self,
        tree: &PathTree,
        slots: &mut [Scalar<'b>],
        depth: usize,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        self.at += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.expect(b'"', "expected an object key")?;
            let child = match tree.find_unescaped(&self.bytes[self.at..]) {
                Some((len, child)) => {
                    self.at += len;
                    Some(child)
                }
                // A key without escapes is its raw bytes, which matched no child above.
                None => match self.string_body()? {
                    Cow::Borrowed(_) => None,
                    Cow::Owned(k) => tree.find(&k),
                },
            };
            self.expect(b':', "expected `:`")?;
            self.skip_ws();
            match child {
                Some(Child::Leaf(slot)) => slots[*slot] = self.scalar(depth)?,
                Some(Child::Inner(inner)) if self.peek() == Some(b'{') => {
                    self.object(inner, slots, depth + 1)?
                }
                _ => self.skip_value(depth)?,
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                None => return Err(self.error("unexpected end")),
                Some(_) => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    /// A leaf the job reads.
    fn scalar(&mut self, depth: usize) -> Result<Scalar<'b>, String> {
        match self.peek() {
            Some(b'"') => {
                self.at += 1;
                let start = self.at;
                let raw = self.string_body()?;
                let text = match raw {
                    Cow::Borrowed(b) => Cow::Borrowed(utf8(b).map_err(|_| self.utf8_error(start))?),
                    Cow::Owned(b) => {
                        Cow::Owned(String::from_utf8(b).map_err(|_| self.utf8_error(start))?)
                    }
                };
                Ok(Scalar::Str(text))
            }
            Some(b'{' | b'[') => {
                let start = self.at;
                self.skip_value(depth)?;
                Ok(Scalar::Nested(&self.bytes[start..self.at]))
            }
            Some(b't') => self.literal(b"true", Scalar::Bool(true)),
            Some(b'f') => self.literal(b"false", Scalar::Bool(false)),
            Some(b'n') => self.literal(b"null", Scalar::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            None => Err(self.error("unexpected end")),
            Some(_) => Err(self.error("expected a value")),
        }
    }

    fn utf8_error(&self, start: usize) -> String {
        format!("invalid UTF-8 in a string at byte {start}")
    }

    fn literal(&mut self, word: &[u8], value: Scalar<'b>) -> Result<Scalar<'b>, String> {
        self.skip_literal(word).map(|()| value)
    }

    fn skip_literal(&mut self, word: &[u8]) -> Result<(), String> {
        if self.bytes[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.error("expected a value"))
        }
    }

    /// A number by JSON's grammar: an integer that fits an i64 stays one; anything else is an
    /// f64 (correctly rounded).
    fn number(&mut self) -> Result<Scalar<'b>, String> {
        let start = self.at;
        let digits = |s: &mut Self| {
            let from = s.at;
            while let Some(b'0'..=b'9') = s.peek() {
                s.at += 1;
            }
            s.at - from
        };
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let int_start = self.at;
        // The integer part is read as it is scanned: up to 18 digits always fit an i64, so the
        // common case needs no second pass.
        let (mut v, mut at) = (0i64, int_start);
        while let Some(d @ b'0'..=b'9') = self.bytes.get(at).copied() {
            v = v.wrapping_mul(10).wrapping_add(i64::from(d - b'0'));
            at += 1;
        }
        let n = at - int_start;
        self.at = at;
        if n == 0 || (n > 1 && self.bytes[int_start] == b'0') {
            return Err(self.error("invalid number"));
        }
        if n <= 18 && !matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Ok(Scalar::I64(if negative { -v } else { v }));
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            integer = false;
            if digits(self) == 0 {
                return Err(self.error("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            integer = false;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("invalid number"));
            }
        }
        // The bytes are ASCII digits, signs, dots and exponents: valid UTF-8.
        let text = std::str::from_utf8(&self.bytes[start..self.at])
            .map_err(|_| self.error("invalid number"))?;
        if integer {
            if let Ok(v) = text.parse::<i64>() {
                return Ok(Scalar::I64(v));
            }
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Scalar::F64(v)),
            Ok(_) => Err(self.error("number out of range")),
            Err(_) => Err(self.error("invalid number")),
        }
    }

    /// The rest of a string after its opening quote, unescaped; borrowed when it has no escape.
    /// Raw control characters are refused, as JSON says.
    fn string_body(&mut self) -> Result<Cow<'b, [u8]>, String> {
        let start = self.at;
        let bytes = self.bytes;
        let i = next_special(bytes, start);
        self.at = i;
        match bytes.get(i) {
            Some(b'"') => {
                self.at = i + 1;
                Ok(Cow::Borrowed(&bytes[start..i]))
            }
            Some(b'\\') => {
                let mut owned = bytes[start..i].to_vec();
                self.unescape_rest(&mut owned)?;
                Ok(Cow::Owned(owned))
            }
            Some(_) => Err(self.error("control character in a string")),
            None => Err(self.error("unterminated string")),
        }
    }

    /// Continues a string with escapes into `out`, from the first backslash to the closing quote.
    fn unescape_rest(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            self.at += 1;
            match b {
                b'"' => return Ok(()),
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.error("unterminated string"));
                    };
                    self.at += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let c = self.unicode_escape()?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(self.error("invalid escape")),
                    }
                }
                0..=0x1f => return Err(self.error("control character in a string")),
                _ => out.push(b),
            }
        }
    }

    /// The character of a `\uXXXX` escape (the scanner stands after the `u`), joining a
    /// surrogate pair.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !self.bytes[self.at..].starts_with(b"\\u") {
                return Err(self.error("lone leading surrogate"));
            }
            self.at += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.error("invalid surrogate pair"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid unicode escape"))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.error("unterminated string"))?;
        let mut v = 0u32;
        for d in digits {
            let h = (*d as char)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid unicode escape"))?;
            v = v * 16 + h;
        }
        self.at += 4;
        Ok(v)
    }

    /// Jumps over one value the job does not read, checking its structure.
    fn skip_value(&mut self, depth: usize) -> Result<(), String> {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => {
                self.at += 1;
                self.skip_string()
            }
            Some(open @ (b'{' | b'[')) => self.skip_container(open, depth + 1),
            Some(b't') => self.skip_literal(b"true"),
            Some(b'f') => self.skip_literal(b"false"),
            Some(b'n') => self.skip_literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            None => Err(self.error("unexpected end")),
            Some(_) => Err(self.error("expected a value")),
        }
    }

    /// The rest of a skipped string: its end is looked for, and its escapes and control
    /// characters checked; its bytes need not be UTF-8.
    fn skip_string(&mut self) -> Result<(), String> {
        let bytes = self.bytes;
        let mut i = self.at;
        loop {
            i = next_special(bytes, i);
            match bytes.get(i) {
                Some(b'"') => {
                    self.at = i + 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.at = i + 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                        Some(b'u') => {
                            self.at += 1;
                            self.hex4()?;
                            i = self.at;
                        }
                        None => return Err(self.error("unterminated string")),
                        Some(_) => return Err(self.error("invalid escape")),
                    }
                }
                Some(_) => {
                    self.at = i;
                    return Err(self.error("control character in a string"));
                }
                None => {
                    self.at = bytes.len();
                    return Err(self.error("unterminated string"));
                }
            }
        }
    }

    fn skip_container(&mut self, open: u8, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        let close = if open == b'{' { b'}' } else { b']' };
        self.at += 1;
        self.skip_ws();
        if self.peek() == Some(close) {
            self.at += 1;
            return Ok(());
        }
        loop {
            if open == b'{' {
                self.expect(b'"', "expected an object key")?;
                self.skip_string()?;
                self.expect(b':', "expected `:`")?;
            }
            self.skip_value(depth)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(c) if c == close => {
                    self.at += 1;
                    return Ok(());
                }
                None => return Err(self.error("unexpected end")),
                Some(_) => return Err(self.error("expected `,` or a closing bracket")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(paths: &[&str]) -> PathTree {
        let mut t = PathTree::default();
        for (slot, p) in paths.iter().enumerate() {
            let segments: Vec<String> = p.split('.').map(str::to_owned).collect();
            t.insert(&segments, slot, p).unwrap();
        }
        t
    }

    fn scan<'b>(t: &PathTree, json: &'b str, n: usize) -> Result<(bool, Vec<Scalar<'b>>), String> {
        let mut slots = vec![Scalar::Missing; n];
        t.scan(json.as_bytes(), &mut slots).map(|o| (o, slots))
    }

    #[test]
    fn reads_declared_leaves_and_skips_the_rest() {
        let t = tree(&["a.b", "a.c", "d", "e"]);
        let json = r#" { "x": {"a": {"b": 1}}, "a": {"z": [1, {"q": "}"}, "\"]"], "b": -12,
            "c": "s\u00e9\n\ud83d\ude00"}, "d": [1, 2], "e": 1.5e3, "f": null } "#;
        let (object, slots) = scan(&t, json, 4).unwrap();
        assert!(object);
        assert_eq!(slots[0], Scalar::I64(-12));
        assert_eq!(slots[1], Scalar::Str("sé\n😀".into()));
        assert_eq!(slots[2], Scalar::Nested(b"[1, 2]"));
        assert_eq!(slots[3], Scalar::F64(1500.0));
        let (_, slots) = scan(&t, r#"{"a": 5, "d": true, "e": null}"#, 4).unwrap();
        assert_eq!(slots[..2], [Scalar::Missing, Scalar::Missing]);
        assert_eq!(slots[2..], [Scalar::Bool(true), Scalar::Null]);
    }

    #[test]
    fn a_key_is_matched_by_its_value_however_it_is_spelled() {
        let t = tree(&["ab.c", "q\"t"]);
        for json in [
            r#"{"ab":{"c":1}}"#,
            r#"{"a\u0062":{"\u0063":1}}"#,
            r#"{"a":0,"abc":{"c":2},"ab":{"cc":3,"c":1}}"#,
        ] {
            let (_, slots) = scan(&t, json, 2).unwrap();
            assert_eq!(slots[0], Scalar::I64(1), "{json}");
        }
        let (_, slots) = scan(&t, r#"{"ab\"":{"c":1}}"#, 2).unwrap();
        assert_eq!(slots[0], Scalar::Missing);
        let (_, slots) = scan(&t, r#"{"q\"t":5}"#, 2).unwrap();
        assert_eq!(slots[1], Scalar::I64(5));
        assert!(
            scan(&t, "{\"ab\n\":1}", 2).is_err(),
            "a raw control character in a key"
        );
    }

    #[test]
    fn numbers_follow_json_and_keep_integers_exact() {
        let t = tree(&["n"]);
        let read = |v: &str| {
            let json = format!(r#"{{"n":{v}}}"#);
            scan(&t, &json, 1).map(|(_, s)| format!("{:?}", s[0]))
        };
        assert_eq!(
            read("9223372036854775807"),
            Ok(format!("{:?}", Scalar::I64(i64::MAX)))
        );
        assert_eq!(
            read("-9223372036854775808"),
            Ok(format!("{:?}", Scalar::I64(i64::MIN)))
        );
        assert_eq!(
            read("9223372036854775808"),
            Ok(format!("{:?}", Scalar::F64(9.223372036854776e18)))
        );
        assert_eq!(read("0"), Ok(format!("{:?}", Scalar::I64(0))));
        assert_eq!(read("-0.5E-1"), Ok(format!("{:?}", Scalar::F64(-0.05))));
        for bad in ["01", "-", "1.", ".5", "1e", "+1", "0x1", "NaN"] {
            assert!(read(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn broken_records_are_refused_wherever_the_break_is() {
        let t = tree(&["a"]);
        for bad in [
            "",
            "{",
            r#"{"a":1"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"b":[1,2}"#,
            r#"{"b":{"c":tru}}"#,
            r#"{"b":"unterminated}"#,
            r#"{"a":1} x"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{a:1}"#,
        ] {
            assert!(scan(&t, bad, 1).is_err(), "{bad:?} accepted");
        }
        let deep = format!(r#"{{"b":{}{}}}"#, "[".repeat(200), "]".repeat(200));
        assert!(scan(&t, &deep, 1).unwrap_err().contains("recursion"));
        let (object, _) = scan(&t, " [1, {\"a\": 2}] ", 1).unwrap();
        assert!(!object);
    }

    #[test]
    fn only_strings_the_job_reads_must_be_utf8() {
        let t = tree(&["a"]);
        let mut slots = vec![Scalar::Missing];
        let skipped = b"{\"b\":\"\xff\",\"a\":\"ok\"}";
        assert!(t.scan(skipped, &mut slots).is_ok());
        assert_eq!(slots[0], Scalar::Str("ok".into()));
        let read = b"{\"a\":\"\xff\"}";
        let mut slots = vec![Scalar::Missing];
        assert!(t.scan(read, &mut slots).unwrap_err().contains("UTF-8"));
        let mut slots = vec![Scalar::Missing];
        assert!(t.scan(b"{\"a\":\"x\ty\"}", &mut slots).is_err());
    }

    #[test]
    fn the_special_byte_is_found_at_every_position() {
        for len in 0..20 {
            for special in [b'"', b'\\', 0x01, 0x1f] {
                let mut bytes = vec![b'a'; len];
                bytes.extend_from_slice(&[special, b'"', 0x00]);
                assert_eq!(next_special(&bytes, 0), len, "{len} {special}");
                assert_eq!(next_special(&bytes, len), len);
            }
            // bytes just above the limits, and high bytes, are not special
            let plain: Vec<u8> = (0..len)
                .map(|i| [0x20, 0x21, 0x5b, 0x5d, 0xff][i % 5])
                .collect();
            assert_eq!(next_special(&plain, 0), len);
        }
    }

    #[test]
    fn the_last_duplicate_key_wins_and_escaped_keys_match() {
        let t = tree(&["ab"]);
        let (_, slots) = scan(&t, r#"{"ab":1,"a\u0062":2}"#, 1).unwrap();
        assert_eq!(slots[0], Scalar::I64(2));
    }

    /// Every one-byte deletion or replacement of a record is accepted exactly when serde_json
    /// accepts it (strings kept valid UTF-8 without control characters, which serde_json checks
    /// even in values the scanner skips).
    #[test]
    fn accepts_exactly_what_serde_json_accepts_for_every_one_byte_change() {
        let t = tree(&[
            "header.event_ts",
            "header.event_type",
            "body.video_id",
            "body.watch_ms",
        ]);
        let record = r#"{"header":{"event_id":"e-1","event_type":"like","event_ts":1767225600123,"v":1.5e-3},"body":{"video_id":"v_\"1","watch_ms":-5400,"x":[true,false,null,{"y":[]}]}}"#;
        let mut variants: Vec<Vec<u8>> = Vec::new();
        for i in 0..record.len() {
            let mut deleted = record.as_bytes().to_vec();
            deleted.remove(i);
            variants.push(deleted);
            for c in *b"\"{}[],:0-.e \\atn1" {
                let mut replaced = record.as_bytes().to_vec();
                replaced[i] = c;
                variants.push(replaced);
            }
        }
        for v in variants {
            let by_serde = serde_json::from_slice::<serde_json::Value>(&v).is_ok();
            let mut slots = vec![Scalar::Missing; 4];
            let by_scan = t.scan(&v, &mut slots).is_ok();
            assert_eq!(by_scan, by_serde, "{}", String::from_utf8_lossy(&v));
        }
    }

    #[test]
    fn conflicting_paths_are_refused() {
        let mut t = tree(&["a.b"]);
        assert!(t
            .insert(&["a".into()], 1, "a")
            .unwrap_err()
            .contains("parent"));
        let mut t = tree(&["a"]);
        assert!(t
            .insert(&["a".into(), "b".into()], 1, "a.b")
            .unwrap_err()
            .contains("inside"));
    }
}
