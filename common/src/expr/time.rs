//! Time functions' constant arguments: `DATE_FORMAT`'s pattern (Flink's, after Java's
//! `SimpleDateFormat`) and `EXTRACT`'s part. Timestamps are epoch milliseconds, shown in UTC.

use std::fmt::{self, Display, Write as _};

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// A part of a timestamp a pattern shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Piece {
    Text(String),
    Year4,
    Year2,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Millis,
}

/// A `DATE_FORMAT` pattern such as `yyyy-MM-dd HH:mm:ss`: letters `yyyy`, `yy`, `MM`, `dd`,
/// `HH`, `mm`, `ss` and `SSS`; other letters are refused, text in single quotes is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatePattern {
    text: String,
    pieces: Vec<Piece>,
}

impl DatePattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                if chars.get(i + 1) == Some(&'\'') {
                    literal.push('\'');
                    i += 2;
                    continue;
                }
                i += 1;
                loop {
                    match (chars.get(i), chars.get(i + 1)) {
                        (None, _) => {
                            return Err(format!("DATE_FORMAT pattern `{text}`: unclosed quote"))
                        }
                        (Some('\''), Some('\'')) => {
                            literal.push('\'');
                            i += 2;
                        }
                        (Some('\''), _) => break,
                        (Some(c), _) => {
                            literal.push(*c);
                            i += 1;
                        }
                    }
                }
                i += 1;
                continue;
            }
            if !c.is_ascii_alphabetic() {
                literal.push(c);
                i += 1;
                continue;
            }
            let run = chars[i..].iter().take_while(|d| **d == c).count();
            let piece = match (c, run) {
                ('y', 4) => Piece::Year4,
                ('y', 2) => Piece::Year2,
                ('M', 2) => Piece::Month,
                ('d', 2) => Piece::Day,
                ('H', 2) => Piece::Hour,
                ('m', 2) => Piece::Minute,
                ('s', 2) => Piece::Second,
                ('S', 3) => Piece::Millis,
                _ => {
                    return Err(format!(
                        "DATE_FORMAT pattern `{text}`: `{}` is not supported (yyyy, yy, MM, dd, \
                         HH, mm, ss and SSS are; quote text: 'T')",
                        chars[i..i + run].iter().collect::<String>()
                    ))
                }
            };
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(piece);
            i += run;
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Self {
            text: text.to_owned(),
            pieces,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// `ms` (epoch milliseconds) shown in UTC; `None` past chrono's range.
    pub fn format(&self, ms: i64) -> Option<String> {
        let t = DateTime::<Utc>::from_timestamp_millis(ms)?;
        let mut out = String::with_capacity(self.text.len() + 4);
        for piece in &self.pieces {
            let _ = match piece {
                Piece::Text(s) => out.write_str(s),
                Piece::Year4 => write!(out, "{:04}", t.year()),
                Piece::Year2 => write!(out, "{:02}", t.year().rem_euclid(100)),
                Piece::Month => write!(out, "{:02}", t.month()),
                Piece::Day => write!(out, "{:02}", t.day()),
                Piece::Hour => write!(out, "{:02}", t.hour()),
                Piece::Minute => write!(out, "{:02}", t.minute()),
                Piece::Second => write!(out, "{:02}", t.second()),
                Piece::Millis => write!(out, "{:03}", ms.rem_euclid(1000)),
            };
        }
        Some(out)
    }
}

/// What `EXTRACT` reads from a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimePart {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    /// Day of the week, 1 (Sunday) to 7, as Flink counts.
    DayOfWeek,
    DayOfYear,
}

impl TimePart {
    /// The part of `ms` (epoch milliseconds), in UTC.
    pub fn of(self, ms: i64) -> Option<i64> {
        let t = DateTime::<Utc>::from_timestamp_millis(ms)?;
        Some(match self {
            TimePart::Year => i64::from(t.year()),
            TimePart::Month => i64::from(t.month()),
            TimePart::Day => i64::from(t.day()),
            TimePart::Hour => i64::from(t.hour()),
            TimePart::Minute => i64::from(t.minute()),
            TimePart::Second => i64::from(t.second()),
            TimePart::DayOfWeek => i64::from(t.weekday().number_from_sunday()),
            TimePart::DayOfYear => i64::from(t.ordinal()),
        })
    }
}

impl Display for TimePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimePart::Year => "YEAR",
            TimePart::Month => "MONTH",
            TimePart::Day => "DAY",
            TimePart::Hour => "HOUR",
            TimePart::Minute => "MINUTE",
            TimePart::Second => "SECOND",
            TimePart::DayOfWeek => "DOW",
            TimePart::DayOfYear => "DOY",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_utc() {
        // 2026-01-02 03:04:05.006 UTC
        let ms = 1_767_323_045_006;
        let p = DatePattern::parse("yyyy-MM-dd'T'HH:mm:ss.SSS").expect("pattern");
        assert_eq!(p.format(ms).as_deref(), Some("2026-01-02T03:04:05.006"));
        let p = DatePattern::parse("yy/MM 'o''clock' HH").expect("pattern");
        assert_eq!(p.format(ms).as_deref(), Some("26/01 o'clock 03"));
        assert!(DatePattern::parse("yyyy-MM-dd EEE").is_err());
        assert!(DatePattern::parse("HH 'x").is_err());
        assert_eq!(TimePart::Hour.of(ms), Some(3));
        assert_eq!(TimePart::DayOfWeek.of(ms), Some(6), "a Friday");
        assert_eq!(TimePart::DayOfYear.of(ms), Some(2));
    }
}
