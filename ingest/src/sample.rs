//! The sample a load's dialect and types come from: the file's head (which also holds the
//! header), and, for a large file, slices spread evenly over the rest of it. A small file is
//! sampled whole, so its types fit every row.

use crate::dialect::{sniff, split_rows, Dialect, DialectChoice};
use crate::error::IngestError;
use crate::infer::NullValues;
use crate::input::CsvInput;

/// The UTF-8 byte order mark some tools write first.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Files up to this size are sampled whole.
const WHOLE_FILE_UP_TO: u64 = 4 << 20;
/// Bytes read at each sampled place of a larger file.
const SLICE_BYTES: u64 = 256 << 10;
/// Places sampled in a larger file, its head included.
const SLICES: u64 = 16;

/// What the sample says about a file.
#[derive(Debug)]
pub struct Sample {
    pub dialect: Dialect,
    /// The first row's fields, when it is a header.
    pub header: Option<Vec<String>>,
    /// Fields every row has.
    pub width: usize,
    /// Sampled rows of that width.
    pub rows: Vec<Vec<String>>,
    /// Every row of the file was sampled.
    pub whole_file: bool,
}

/// Samples `input` (of `size` bytes).
pub async fn take_sample(
    input: &CsvInput,
    size: u64,
    choice: DialectChoice,
    nulls: &NullValues,
) -> Result<Sample, IngestError> {
    let whole = size <= WHOLE_FILE_UP_TO;
    let head = input
        .read_range(0, if whole { size } else { SLICE_BYTES })
        .await?;
    let head = head.strip_prefix(BOM).unwrap_or(&head);
    let dialect = sniff(head, whole, choice, nulls);
    let mut rows = split_rows(head, dialect.delimiter, dialect.quote, whole, usize::MAX);
    let header = (dialect.header && !rows.is_empty()).then(|| rows.remove(0));
    let width = match &header {
        Some(h) => h.len(),
        None => most_common_width(&rows),
    };
    if width == 0 || (rows.is_empty() && header.is_none()) {
        return Err(IngestError::Empty(input.name()));
    }
    if !whole {
        for k in 1..SLICES {
            let start = size * k / SLICES;
            let end = (start + SLICE_BYTES).min(size);
            let slice = input.read_range(start, end).await?;
            // A slice starts inside a row: its rows begin after the first line break. A quoted
            // field with line breaks can make one row split wrongly; rows of another width
            // are dropped.
            let Some(cut) = slice.iter().position(|b| *b == b'\n') else {
                continue;
            };
            let found = split_rows(
                &slice[cut + 1..],
                dialect.delimiter,
                dialect.quote,
                end == size,
                usize::MAX,
            );
            rows.extend(found.into_iter().filter(|r| r.len() == width));
        }
    }
    Ok(Sample {
        dialect,
        header,
        width,
        rows,
        whole_file: whole,
    })
}

fn most_common_width(rows: &[Vec<String>]) -> usize {
    let mut counts = std::collections::HashMap::<usize, usize>::new();
    for row in rows {
        *counts.entry(row.len()).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(width, n)| (*n, *width))
        .map_or(0, |(width, _)| width)
}
