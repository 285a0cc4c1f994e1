//! A CSV file's dialect, read from its first bytes: the delimiter and quote that split its rows
//! into the most consistent number of fields, and whether its first row is a header.

use crate::csv_type::CsvType;
use crate::infer::{infer_types, NullValues};

/// How a file's rows are split into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub delimiter: u8,
    pub quote: u8,
    pub header: bool,
}

/// What the user fixed; the rest is detected.
#[derive(Debug, Clone, Copy, Default)]
pub struct DialectChoice {
    pub delimiter: Option<u8>,
    pub quote: Option<u8>,
    pub header: Option<bool>,
}

const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];
const QUOTES: [u8; 2] = [b'"', b'\''];
/// Rows the dialect is judged on.
const SNIFF_ROWS: usize = 200;

/// The fields of the first rows of `head` split with `delimiter` and `quote` (lossy UTF-8).
/// When `head` is not the whole file, its last row may be cut short and is dropped.
pub fn split_rows(
    head: &[u8],
    delimiter: u8,
    quote: u8,
    whole_file: bool,
    limit: usize,
) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quote(quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(head);
    let mut rows = Vec::new();
    let mut record = csv::ByteRecord::new();
    while rows.len() < limit {
        match reader.read_byte_record(&mut record) {
            Ok(true) => rows.push(
                record
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect(),
            ),
            Ok(false) | Err(_) => break,
        }
    }
    if !whole_file && rows.len() > 1 && rows.len() < limit {
        rows.pop();
    }
    rows
}

/// How consistently `rows` split: the share of rows with the most common field count, then
/// that count.
fn consistency(rows: &[Vec<String>]) -> (usize, usize) {
    let mut counts = std::collections::HashMap::<usize, usize>::new();
    for row in rows {
        *counts.entry(row.len()).or_default() += 1;
    }
    let (fields, rows_with) = counts
        .into_iter()
        .max_by_key(|(fields, n)| (*n, *fields))
        .unwrap_or((0, 0));
    // Per mille, so that a few odd rows do not outweigh a wider split.
    let share = if rows.is_empty() {
        0
    } else {
        rows_with * 1000 / rows.len()
    };
    (share / 50, fields)
}

/// Detects what `choice` leaves open from `head`, the file's first bytes.
pub fn sniff(head: &[u8], whole_file: bool, choice: DialectChoice, nulls: &NullValues) -> Dialect {
    let delimiters: Vec<u8> = choice.delimiter.map_or(DELIMITERS.to_vec(), |d| vec![d]);
    let quotes: Vec<u8> = choice.quote.map_or(QUOTES.to_vec(), |q| vec![q]);
    let mut best: Option<((usize, usize, usize), u8, u8)> = None;
    for (qi, &quote) in quotes.iter().enumerate() {
        for (di, &delimiter) in delimiters.iter().enumerate() {
            let rows = split_rows(head, delimiter, quote, whole_file, SNIFF_ROWS);
            let (share, fields) = consistency(&rows);
            // More consistent first, then wider, then the earlier candidate (`"` and `,`).
            let score = (share, fields.min(2), usize::MAX - qi * 10 - di);
            let score = if fields > 1 { score } else { (0, 0, score.2) };
            if best.is_none_or(|(b, _, _)| score > b) {
                best = Some((score, delimiter, quote));
            }
        }
    }
    let (_, delimiter, quote) = best.unwrap_or(((0, 0, 0), b',', b'"'));
    let header = choice.header.unwrap_or_else(|| {
        let rows = split_rows(head, delimiter, quote, whole_file, SNIFF_ROWS);
        has_header(&rows, nulls)
    });
    Dialect {
        delimiter,
        quote,
        header,
    }
}

/// Whether the first row names the columns: some value of it does not read as the type the
/// rows below give its column; or, when every column is text, its values are all present and
/// distinct (as most files' headers are).
fn has_header(rows: &[Vec<String>], nulls: &NullValues) -> bool {
    let Some((first, rest)) = rows.split_first() else {
        return true;
    };
    let types = infer_types(first.len(), rest.iter().map(Vec::as_slice), nulls);
    let mut all_text = true;
    for (value, ty) in first.iter().zip(&types) {
        if *ty == CsvType::String {
            continue;
        }
        all_text = false;
        let alone = infer_types(1, [std::slice::from_ref(value)], nulls)[0];
        if !nulls.is_null(value) && !alone.fits_in(*ty) {
            return true;
        }
    }
    if !all_text && rest.iter().any(|r| r.len() == first.len()) {
        return false;
    }
    let distinct: std::collections::HashSet<&String> = first.iter().collect();
    first.iter().all(|v| !nulls.is_null(v)) && distinct.len() == first.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(text: &str) -> Dialect {
        sniff(
            text.as_bytes(),
            true,
            DialectChoice::default(),
            &NullValues::default(),
        )
    }

    #[test]
    fn the_delimiter_that_splits_consistently_wins() {
        assert_eq!(detect("a,b,c\n1,2,3\n4,5,6\n").delimiter, b',');
        assert_eq!(detect("a;b;c\n1,5;2;3\n4;5;6\n").delimiter, b';');
        assert_eq!(detect("a\tb\n\"x, y\"\t2\n").delimiter, b'\t');
        assert_eq!(detect("name|note\nann|\"a|b\"\n").delimiter, b'|');
        let quoted = detect("id,text\n1,\"a, b\"\n2,\"c\"\"d\"\n");
        assert_eq!((quoted.delimiter, quoted.quote), (b',', b'"'));
    }

    #[test]
    fn a_header_is_told_from_data() {
        assert!(detect("id,price\n1,2.5\n2,3.5\n").header);
        assert!(!detect("1,2.5\n2,3.5\n").header);
        assert!(detect("name,city\nann,oslo\nbob,rome\n").header);
        assert!(!detect("x,1\ny,2\n").header);
    }

    #[test]
    fn the_user_choice_is_kept() {
        let fixed = sniff(
            b"a;b\n1;2\n",
            true,
            DialectChoice {
                delimiter: Some(b','),
                quote: None,
                header: Some(false),
            },
            &NullValues::default(),
        );
        assert_eq!((fixed.delimiter, fixed.header), (b',', false));
    }
}
