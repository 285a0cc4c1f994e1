//! A JSON scanner that reads only the fields a job declares.
//!
//! Generic parsers build (or at least visit) every value; a job reads three to eight fields of a
//! record. This scanner walks the bytes once, matching object keys against a tree of the job's
//! paths, reading a matching leaf into its slot and jumping over everything else: a skipped
//! string is searched for its closing quote, a skipped object or array for its closing bracket.
//! Structure is still checked everywhere (brackets, commas, colons, literals, numbers, trailing
//! bytes, nesting depth, escapes), so a broken record is refused wherever the break is; only
//! the UTF-8 of skipped strings is not (invalid UTF-8 there is not the job's business).

mod scanner;
#[cfg(test)]
mod tests;

use crate::bytes_eq::bytes_eq;
use crate::value::Scalar;
#[cfg(test)]
use scanner::next_special;
use scanner::Scanner;

/// Why a record is not JSON, and the byte where that was found. Kept small and without text
/// so the scanner's results travel in registers; the text is made only for a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanError {
    pub what: &'static str,
    pub at: usize,
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

/// The job's paths as a tree: object key → a slot (leaf) or the keys beneath it.
#[derive(Default)]
pub struct PathTree {
    children: Vec<Entry>,
}

struct Entry {
    key: Box<[u8]>,
    /// How the key looks in a record, followed by its closing quote: the first eight bytes as
    /// a little-endian word with the mask of the bytes it covers, and the bytes after them. A key
    /// JSON can only spell escaped gets an empty mask and a head no word matches.
    head: u64,
    mask: u64,
    tail: Box<[u8]>,
    child: Child,
}

impl Entry {
    fn new(key: &str, child: Child) -> Self {
        let mut spelled = key.as_bytes().to_vec();
        spelled.push(b'"');
        let n = spelled.len().min(8);
        let mut head = [0u8; 8];
        head[..n].copy_from_slice(&spelled[..n]);
        let (head, mask) = if needs_escape(key.as_bytes()) {
            (1, 0)
        } else {
            (u64::from_le_bytes(head), u64::MAX >> (64 - 8 * n))
        };
        Self {
            key: key.as_bytes().into(),
            head,
            mask,
            tail: spelled[n..].into(),
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
    /// A field read whole into `slot` whose inner fields are read too (a JSON column holding
    /// the event time, say).
    Whole {
        slot: usize,
        inner: PathTree,
    },
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
            (Some(i), false) => {
                let child = &mut self.children[i].child;
                match child {
                    Child::Inner(node) | Child::Whole { inner: node, .. } => {
                        node.insert(rest, slot, full)?
                    }
                    Child::Leaf(whole) => {
                        let mut inner = PathTree::default();
                        inner.insert(rest, slot, full)?;
                        *child = Child::Whole {
                            slot: *whole,
                            inner,
                        };
                    }
                }
            }
            (Some(i), true) => {
                let child = &mut self.children[i].child;
                match child {
                    Child::Inner(node) => {
                        *child = Child::Whole {
                            slot,
                            inner: std::mem::take(node),
                        }
                    }
                    Child::Leaf(_) | Child::Whole { .. } => {
                        return Err(format!("`{full}` is read twice"))
                    }
                }
            }
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
    /// keys a job reads are found without scanning and unescaping them first, most often by one
    /// masked comparison of eight bytes.
    #[inline]
    fn find_unescaped(&self, rest: &[u8]) -> Option<(usize, &Child)> {
        let word = match rest.first_chunk::<8>() {
            Some(chunk) => u64::from_le_bytes(*chunk),
            None => {
                // Zeros never match: no key's spelling holds a zero byte.
                let mut padded = [0u8; 8];
                padded[..rest.len()].copy_from_slice(rest);
                u64::from_le_bytes(padded)
            }
        };
        self.children
            .iter()
            .find(|e| {
                word & e.mask == e.head
                    && (e.tail.is_empty()
                        || rest
                            .get(8..8 + e.tail.len())
                            .is_some_and(|t| bytes_eq(t, &e.tail)))
            })
            .map(|e| (e.key.len() + 1, &e.child))
    }

    /// Reads the record `bytes` into `slots` (one per path, all `Missing` on entry). Returns
    /// whether the record is an object; an error says what is wrong and where.
    pub fn scan<'b>(&self, bytes: &'b [u8], slots: &mut [Scalar<'b>]) -> Result<bool, ScanError> {
        Scanner::new(bytes).record(self, slots)
    }
}
