//! The byte walk behind [`PathTree::scan`]: one pass, reading the job's leaves and checking
//! the structure of everything it jumps over.

use std::borrow::Cow;

use super::{Child, PathTree, ScanError};
use crate::value::Scalar;

/// Deeper nesting than this is refused (serde_json's limit too), so a hostile record cannot
/// exhaust the stack.
const MAX_DEPTH: usize = 128;

/// Stands for "no byte" past the end of a record: a zero byte is never valid outside a string
/// (and is refused inside one), so comparing it with any expected byte fails like the end does.
const END: u8 = 0;

pub(super) struct Scanner<'b> {
    bytes: &'b [u8],
    at: usize,
}

type Scanned<T> = Result<T, ScanError>;

impl<'b> Scanner<'b> {
    pub(super) fn new(bytes: &'b [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    /// A whole record: whether it is an object (read through `tree`) or another JSON value.
    pub(super) fn record(mut self, tree: &PathTree, slots: &mut [Scalar<'b>]) -> Scanned<bool> {
        let is_object = self.token() == b'{';
        if is_object {
            self.object(tree, slots, 1)?;
        } else {
            self.skip_value(1)?;
        }
        self.token();
        if self.at < self.bytes.len() {
            return Err(self.error("trailing characters"));
        }
        Ok(is_object)
    }

    /// `what` went wrong here, or the record ended where more was needed.
    #[cold]
    fn error(&self, what: &'static str) -> ScanError {
        let what = if self.at >= self.bytes.len() {
            "unexpected end"
        } else {
            what
        };
        ScanError { what, at: self.at }
    }

    #[inline(always)]
    fn byte(&self) -> u8 {
        match self.bytes.get(self.at) {
            Some(b) => *b,
            None => END,
        }
    }

    /// The next byte that is not whitespace, where the scanner then stands.
    #[inline(always)]
    fn token(&mut self) -> u8 {
        let b = self.byte();
        // Every JSON whitespace byte is at most a space: one comparison clears compact JSON.
        if b > b' ' {
            b
        } else {
            self.skip_whitespace(b)
        }
    }

    /// [`token`](Self::token) where the scanner stands on `b`, a space or below.
    fn skip_whitespace(&mut self, mut b: u8) -> u8 {
        while matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            self.at += 1;
            b = self.byte();
        }
        b
    }

    /// Steps over `byte` after any whitespace.
    #[inline(always)]
    fn expect(&mut self, byte: u8, what: &'static str) -> Scanned<()> {
        if self.token() == byte {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    /// An object whose keys are looked up in `tree`; the scanner stands on its `{`.
    fn object(&mut self, tree: &PathTree, slots: &mut [Scalar<'b>], depth: usize) -> Scanned<()> {
        if depth > MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        self.at += 1;
        if self.token() == b'}' {
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
            let first = self.token();
            match child {
                Some(Child::Leaf(slot)) => slots[*slot] = self.scalar(first, depth)?,
                Some(Child::Inner(inner)) if first == b'{' => {
                    self.object(inner, slots, depth + 1)?
                }
                Some(Child::Whole { slot, inner }) if first == b'{' => {
                    let start = self.at;
                    self.object(inner, slots, depth + 1)?;
                    slots[*slot] = Scalar::Nested(&self.bytes[start..self.at]);
                }
                Some(Child::Whole { slot, .. }) => slots[*slot] = self.scalar(first, depth)?,
                _ => self.skip_value(depth)?,
            }
            match self.token() {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    /// A leaf the job reads, starting with `first`, where the scanner stands.
    #[inline(always)]
    fn scalar(&mut self, first: u8, depth: usize) -> Scanned<Scalar<'b>> {
        match first {
            b'"' => {
                self.at += 1;
                let start = self.at;
                let text = match self.string_body()? {
                    Cow::Borrowed(b) => Cow::Borrowed(utf8(b).ok_or_else(|| utf8_error(start))?),
                    Cow::Owned(b) => {
                        Cow::Owned(String::from_utf8(b).map_err(|_| utf8_error(start))?)
                    }
                };
                Ok(Scalar::Str(text))
            }
            b'{' | b'[' => {
                let start = self.at;
                self.skip_value(depth)?;
                Ok(Scalar::Nested(&self.bytes[start..self.at]))
            }
            b't' => self.literal(b"true").map(|()| Scalar::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Scalar::Bool(false)),
            b'n' => self.literal(b"null").map(|()| Scalar::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(self.error("expected a value")),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Scanned<()> {
        if self.bytes[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.error("expected a value"))
        }
    }

    /// A number by JSON's grammar: an integer that fits an i64 stays one; anything else is an
    /// f64 (correctly rounded).
    #[inline(always)]
    fn number(&mut self) -> Scanned<Scalar<'b>> {
        let start = self.at;
        let negative = self.byte() == b'-';
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
        let after = self.byte();
        if n <= 18 && !matches!(after, b'.' | b'e' | b'E') {
            return Ok(Scalar::I64(if negative { -v } else { v }));
        }
        let mut integer = true;
        if after == b'.' {
            self.at += 1;
            integer = false;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        if let b'e' | b'E' = self.byte() {
            self.at += 1;
            integer = false;
            if let b'+' | b'-' = self.byte() {
                self.at += 1;
            }
            if self.digits() == 0 {
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

    /// Steps over ASCII digits and returns how many there were.
    fn digits(&mut self) -> usize {
        let from = self.at;
        while self.byte().is_ascii_digit() {
            self.at += 1;
        }
        self.at - from
    }

    /// The rest of a string after its opening quote, unescaped; borrowed when it has no escape.
    /// Raw control characters are refused, as JSON says.
    #[inline(always)]
    fn string_body(&mut self) -> Scanned<Cow<'b, [u8]>> {
        let start = self.at;
        let bytes = self.bytes;
        let i = next_special(bytes, start);
        self.at = i;
        match self.byte() {
            b'"' => {
                self.at = i + 1;
                Ok(Cow::Borrowed(&bytes[start..i]))
            }
            b'\\' => {
                let mut owned = bytes[start..i].to_vec();
                self.unescape_rest(&mut owned)?;
                Ok(Cow::Owned(owned))
            }
            _ => Err(self.error_in_string()),
        }
    }

    /// At a control character, or at the end inside a string.
    #[cold]
    fn error_in_string(&self) -> ScanError {
        if self.at < self.bytes.len() {
            self.error("control character in a string")
        } else {
            ScanError {
                what: "unterminated string",
                at: self.at,
            }
        }
    }

    /// Continues a string with escapes into `out`, from the first backslash to the closing quote.
    fn unescape_rest(&mut self, out: &mut Vec<u8>) -> Scanned<()> {
        loop {
            let b = self.byte();
            if self.at >= self.bytes.len() {
                return Err(self.error_in_string());
            }
            self.at += 1;
            match b {
                b'"' => return Ok(()),
                b'\\' => {
                    let e = self.byte();
                    if self.at >= self.bytes.len() {
                        return Err(self.error_in_string());
                    }
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
                0..=0x1f => {
                    self.at -= 1;
                    return Err(self.error_in_string());
                }
                _ => out.push(b),
            }
        }
    }

    /// The character of a `\uXXXX` escape (the scanner stands after the `u`), joining a
    /// surrogate pair.
    fn unicode_escape(&mut self) -> Scanned<char> {
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

    fn hex4(&mut self) -> Scanned<u32> {
        let Some(digits) = self.bytes.get(self.at..self.at + 4) else {
            return Err(ScanError {
                what: "unterminated string",
                at: self.at,
            });
        };
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
    fn skip_value(&mut self, depth: usize) -> Scanned<()> {
        match self.token() {
            b'"' => {
                self.at += 1;
                self.skip_string()
            }
            open @ (b'{' | b'[') => self.skip_container(open, depth + 1),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            _ => Err(self.error("expected a value")),
        }
    }

    /// The rest of a skipped string: its end is looked for, and its escapes and control
    /// characters checked; its bytes need not be UTF-8.
    #[inline(always)]
    fn skip_string(&mut self) -> Scanned<()> {
        let bytes = self.bytes;
        loop {
            self.at = next_special(bytes, self.at);
            match self.byte() {
                b'"' => {
                    self.at += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.at += 1;
                    match self.byte() {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
                        b'u' => {
                            self.at += 1;
                            self.hex4()?;
                        }
                        _ if self.at >= bytes.len() => return Err(self.error_in_string()),
                        _ => return Err(self.error("invalid escape")),
                    }
                }
                _ => return Err(self.error_in_string()),
            }
        }
    }

    fn skip_container(&mut self, open: u8, depth: usize) -> Scanned<()> {
        if depth > MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        let close = if open == b'{' { b'}' } else { b']' };
        self.at += 1;
        if self.token() == close {
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
            match self.token() {
                b',' => self.at += 1,
                c if c == close => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected `,` or a closing bracket")),
            }
        }
    }
}

#[cold]
fn utf8_error(start: usize) -> ScanError {
    ScanError {
        what: "invalid UTF-8 in a string",
        at: start,
    }
}

/// `bytes` as text; ASCII, the usual case of the short strings a job reads, is checked for
/// first because that is far cheaper than full UTF-8 validation of a short string.
#[inline]
fn utf8(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The first index from `i` holding a quote, a backslash or a control character (or the end),
/// eight bytes at a time: the bytes of strings are most of a record.
#[inline]
pub(super) fn next_special(bytes: &[u8], mut i: usize) -> usize {
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
