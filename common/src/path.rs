//! Dotted field paths into a JSON record (`header.event_ts`).

/// A path of object keys from the record's root to a leaf.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FieldPath(Vec<String>);

impl FieldPath {
    /// Parses `a.b.c`; keys may not be empty.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<String> = text.trim().split('.').map(str::to_owned).collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || p.contains(char::is_whitespace))
        {
            return Err(format!("`{text}` is not a field path like header.event_ts"));
        }
        Ok(Self(parts))
    }

    /// A path of these names, which SQL may have quoted (`body."video id"`): any but empty.
    pub fn from_segments(names: Vec<String>) -> Result<Self, String> {
        if names.is_empty() || names.iter().any(String::is_empty) {
            return Err(format!("`{}` is not a field path", names.join(".")));
        }
        Ok(Self(names))
    }

    pub fn segments(&self) -> &[String] {
        &self.0
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            FieldPath::parse("header.event_ts").unwrap().segments(),
            ["header", "event_ts"]
        );
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse("").is_err());
        assert!(FieldPath::parse("a b").is_err());
    }
}
