//! Column names from a CSV header, normalised so that SQL can name them unquoted:
//! - ASCII letters are lowercased; letters, digits and `_` are kept, and every other run of
//!   characters becomes one `_` (trimmed at both ends);
//! - a name that would be empty is `column_N` (N counts from 1), one starting with a digit gets
//!   a leading `_`;
//! - a repeated name gets `_2`, `_3`, … in the order the columns come.
//!
//! The header as written is kept as the column's doc in the table, so the mapping can always
//! be reversed.

use std::collections::HashSet;

/// The table's column names for `headers`, in order.
pub fn normalize(headers: &[String]) -> Vec<String> {
    let mut taken = HashSet::new();
    headers
        .iter()
        .enumerate()
        .map(|(i, header)| {
            let base = normalize_one(header, i + 1);
            let mut name = base.clone();
            let mut n = 2;
            while !taken.insert(name.clone()) {
                name = format!("{base}_{n}");
                n += 1;
            }
            name
        })
        .collect()
}

fn normalize_one(header: &str, position: usize) -> String {
    let mut out = String::with_capacity(header.len());
    let mut gap = false;
    for c in header.trim().chars() {
        if c.is_alphanumeric() || c == '_' {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
    }
    if out.is_empty() {
        return format!("column_{position}");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(headers: &[&str]) -> Vec<String> {
        normalize(&headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn headers_become_unquoted_sql_names() {
        assert_eq!(
            names(&[
                "Unit Price ($)",
                " Country/Region ",
                "2019",
                "",
                "name",
                "Name"
            ]),
            [
                "unit_price",
                "country_region",
                "_2019",
                "column_4",
                "name",
                "name_2"
            ]
        );
        assert_eq!(names(&["Größe", "a--b"]), ["größe", "a_b"]);
    }
}
