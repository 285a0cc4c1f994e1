//! The lists `--schema` and `--partition-by` are written as: items split at commas outside
//! parentheses (`a decimal(10, 2), b string`, `bucket(16, id), day(ts)`).

/// `text` split at commas outside parentheses, each item trimmed, empty items dropped.
pub fn split_top_level(text: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0usize, 0, Vec::new());
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items
        .into_iter()
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect()
}
