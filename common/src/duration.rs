//! Human durations in config files and flags (`500ms`, `10s`, `1m`, `2h`, `1d`, `1h 30m`),
//! parsed by humantime.

use std::time::Duration;

/// Parses a duration such as `10s` or `1h 30m`; a number needs a unit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    humantime::parse_duration(text).map_err(|e| match e {
        humantime::DurationError::UnknownUnit { unit, .. } if unit.is_empty() => {
            format!("`{text}` has no unit (use ms, s, m, h or d)")
        }
        humantime::DurationError::UnknownUnit { unit, .. } => {
            format!("unknown unit `{unit}` in `{text}` (use ms, s, m, h or d)")
        }
        other => format!("`{text}`: {other}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("1min").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration(" 2h ").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
    }

    #[test]
    fn rejects_bad_text() {
        assert!(parse_duration("10").unwrap_err().contains("no unit"));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("10 parsecs")
            .unwrap_err()
            .contains("unknown unit `parsecs`"));
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
