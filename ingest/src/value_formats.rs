//! The text forms a CSV value may take, and how each is read: what type inference tries on a
//! sample and what decoding applies to every row. Pure functions of one value.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// A date's written form. Month-first dates (`03/04/2024`) are not guessed: they read the
/// same as day-first ones, and a wrong guess would load wrong dates without a reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFormat {
    /// `2024-03-31`
    Iso,
    /// `2024/03/31`
    YearSlashed,
    /// `31.03.2024`
    DayDotted,
}

impl DateFormat {
    /// Every form, in the order inference prefers them.
    pub const ALL: [DateFormat; 3] = [Self::Iso, Self::YearSlashed, Self::DayDotted];

    /// The form as a strftime pattern (how it is shown and documented).
    pub fn pattern(self) -> &'static str {
        match self {
            Self::Iso => "%Y-%m-%d",
            Self::YearSlashed => "%Y/%m/%d",
            Self::DayDotted => "%d.%m.%Y",
        }
    }

    /// `text` as a date of this form (months and days may have one digit).
    pub fn parse(self, text: &str) -> Option<NaiveDate> {
        let (sep, year_first) = match self {
            Self::Iso => ('-', true),
            Self::YearSlashed => ('/', true),
            Self::DayDotted => ('.', false),
        };
        let mut parts = text.split(sep);
        let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let (y, m, d) = if year_first { (a, b, c) } else { (c, b, a) };
        let short = |p: &str| (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
        if y.len() != 4 || !y.bytes().all(|b| b.is_ascii_digit()) || !short(m) || !short(d) {
            return None;
        }
        NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }

    /// The form `text` is a date of, trying each in turn.
    pub fn detect(text: &str) -> Option<(DateFormat, NaiveDate)> {
        Self::ALL
            .into_iter()
            .find_map(|f| f.parse(text).map(|d| (f, d)))
    }
}

/// A timestamp read from text: its date's form, the local time written, and the UTC offset in
/// seconds when the text gave one (`Z`, `UTC`, `+01:00`, `+0100`, `+01`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadTimestamp {
    pub date: DateFormat,
    pub local: NaiveDateTime,
    pub offset_secs: Option<i32>,
}

impl ReadTimestamp {
    /// Microseconds since the epoch, UTC (the local time itself when no offset was given).
    pub fn micros(&self) -> i64 {
        self.local.and_utc().timestamp_micros()
            - i64::from(self.offset_secs.unwrap_or(0)) * 1_000_000
    }
}

/// `text` as a date, a `T` or a space, a time (`HH:MM`, `HH:MM:SS`, fractions up to
/// nanoseconds) and an optional zone.
pub fn parse_timestamp(text: &str) -> Option<ReadTimestamp> {
    let split = text.find(['T', ' '])?;
    let (date, rest) = (&text[..split], text[split + 1..].trim());
    let (date, day) = DateFormat::detect(date)?;
    let (time, offset_secs) = split_zone(rest)?;
    let time = NaiveTime::parse_from_str(time, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M"))
        .ok()?;
    Some(ReadTimestamp {
        date,
        local: day.and_time(time),
        offset_secs,
    })
}

/// The time part and its zone's offset, if it names one.
fn split_zone(rest: &str) -> Option<(&str, Option<i32>)> {
    if let Some(time) = rest.strip_suffix(['Z', 'z']) {
        return Some((time, Some(0)));
    }
    if let Some(time) = rest.strip_suffix("UTC") {
        return Some((time.trim_end(), Some(0)));
    }
    // A sign after `HH:MM` starts the offset.
    let Some(at) = rest.rfind(['+', '-']).filter(|at| *at >= 5) else {
        return Some((rest, None));
    };
    let (time, zone) = (rest[..at].trim_end(), &rest[at..]);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = if digits.len() == 4 {
        digits[2..].parse().ok()?
    } else {
        0
    };
    if hours > 18 || minutes > 59 {
        return None;
    }
    Some((time, Some(sign * (hours * 3600 + minutes * 60))))
}

/// `true` or `false`, in any case.
pub fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// The digits before and after the point of a plain decimal number (`-12.50`, `.5`, `7`):
/// what decides the decimal type that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecimalShape {
    pub int_digits: u8,
    pub scale: u8,
}

/// The sign stripped, the integer part and the fraction (`None` without a point).
fn number_parts(text: &str) -> Option<(&str, Option<&str>)> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !frac.is_none_or(digits) {
        return None;
    }
    if int.is_empty() && frac.is_none_or(str::is_empty) {
        return None;
    }
    // A code such as `0870` or a zip code keeps its leading zeros: it is no number.
    if int.len() > 1 && int.starts_with('0') {
        return None;
    }
    Some((int, frac))
}

/// The shape of `text` if it is a plain decimal number (no exponent, no leading zeros).
pub fn decimal_shape(text: &str) -> Option<DecimalShape> {
    let (int, frac) = number_parts(text)?;
    let frac = frac.unwrap_or("");
    Some(DecimalShape {
        int_digits: u8::try_from(int.trim_start_matches('0').len()).ok()?,
        scale: u8::try_from(frac.len()).ok()?,
    })
}

/// `text` as an integer (no point, no leading zeros) that fits 64 bits.
pub fn parse_long(text: &str) -> Option<i64> {
    match number_parts(text)? {
        (_, None) => text.parse().ok(),
        _ => None,
    }
}

/// `text` as the unscaled value of a `decimal(precision, scale)`; `None` if it has more digits
/// after the point (other than trailing zeros) or before it than the type holds.
pub fn parse_decimal(text: &str, precision: u8, scale: u8) -> Option<i128> {
    let (int, frac) = number_parts(text)?;
    let frac = frac.unwrap_or("").trim_end_matches('0');
    let int_digits = int.trim_start_matches('0').len();
    if frac.len() > usize::from(scale) || int_digits + usize::from(scale) > usize::from(precision) {
        return None;
    }
    let mut value: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        value = value * 10 + i128::from(b - b'0');
    }
    value *= 10i128.pow(u32::from(scale) - frac.len() as u32);
    Some(if text.starts_with('-') { -value } else { value })
}

/// `text` as a floating-point number: decimal or with an exponent (`1.5e-3`), no leading
/// zeros, and not `inf`/`NaN` words.
pub fn parse_double(text: &str) -> Option<f64> {
    let mantissa = match text.find(['e', 'E']) {
        Some(at) => {
            let exp = &text[at + 1..];
            let exp = exp.strip_prefix(['-', '+']).unwrap_or(exp);
            if exp.is_empty() || !exp.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            &text[..at]
        }
        None => text,
    };
    number_parts(mantissa)?;
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_in_the_three_forms_and_checked_for_real_days() {
        let day = NaiveDate::from_ymd_opt(2024, 3, 31).expect("a day");
        assert_eq!(
            DateFormat::detect("2024-03-31"),
            Some((DateFormat::Iso, day))
        );
        assert_eq!(
            DateFormat::detect("2024/3/31"),
            Some((DateFormat::YearSlashed, day))
        );
        assert_eq!(
            DateFormat::detect("31.03.2024"),
            Some((DateFormat::DayDotted, day))
        );
        assert_eq!(DateFormat::detect("2024-02-30"), None);
        assert_eq!(DateFormat::detect("03/31/2024"), None);
        assert_eq!(DateFormat::detect("20240331"), None);
    }

    #[test]
    fn timestamps_keep_their_zone_and_convert_to_utc_micros() {
        let t = parse_timestamp("2024-03-31T12:30:00Z").expect("zoned");
        assert_eq!(t.offset_secs, Some(0));
        assert_eq!(t.micros(), 1_711_888_200_000_000);
        let t = parse_timestamp("2024-03-31 14:30:00+02:00").expect("offset");
        assert_eq!(t.micros(), 1_711_888_200_000_000);
        let t = parse_timestamp("2024-03-31 14:30:00.25 +0200").expect("compact offset");
        assert_eq!(t.micros(), 1_711_888_200_250_000);
        let t = parse_timestamp("31.03.2024 12:30").expect("dotted, no seconds");
        assert_eq!((t.date, t.offset_secs), (DateFormat::DayDotted, None));
        assert_eq!(t.micros(), 1_711_888_200_000_000);
        assert!(parse_timestamp("2024-03-31").is_none());
        assert!(parse_timestamp("2024-03-31 25:00").is_none());
        assert!(parse_timestamp("2024-03-31 12:00+2x").is_none());
    }

    #[test]
    fn codes_with_leading_zeros_are_no_numbers() {
        for code in ["0870", "007", "-01", "00.5"] {
            assert_eq!(parse_long(code), None, "{code}");
            assert_eq!(decimal_shape(code), None, "{code}");
            assert_eq!(parse_double(code), None, "{code}");
        }
        assert_eq!(parse_long("0"), Some(0));
        assert_eq!(parse_long("-17"), Some(-17));
        assert_eq!(parse_long("99999999999999999999"), None);
    }

    #[test]
    fn decimals_keep_every_digit_or_are_refused() {
        assert_eq!(
            decimal_shape("-12.50"),
            Some(DecimalShape {
                int_digits: 2,
                scale: 2
            })
        );
        assert_eq!(
            decimal_shape("0.5"),
            Some(DecimalShape {
                int_digits: 0,
                scale: 1
            })
        );
        assert_eq!(parse_decimal("-12.5", 4, 2), Some(-1250));
        assert_eq!(parse_decimal(".5", 1, 1), Some(5));
        assert_eq!(parse_decimal("0.5", 1, 1), Some(5));
        assert_eq!(parse_decimal("1.230", 3, 2), Some(123));
        assert_eq!(parse_decimal("1.234", 3, 2), None);
        assert_eq!(parse_decimal("123.4", 3, 2), None);
        assert_eq!(parse_decimal("1e3", 3, 2), None);
        assert_eq!(parse_double("1.5e-3"), Some(0.0015));
        assert_eq!(parse_double("NaN"), None);
        assert_eq!(parse_double("inf"), None);
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("yes"), None);
    }
}
