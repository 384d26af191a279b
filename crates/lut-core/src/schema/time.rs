//! Timestamp formats of Panther log schemas (`timeFormat` / `timeFormats`):
//! parsing a format name or strftime pattern, parsing table values with a
//! list of formats into nanoseconds since the Unix epoch, and rendering those
//! nanoseconds in the form Panther puts in events. Values without a zone
//! are UTC; `%Z` accepts only UTC spellings, since chrono cannot resolve
//! zone names.

use std::fmt;
use std::fmt::Write as _;

use chrono::format::{self, Fixed, Item, Numeric, Parsed, StrftimeItems};
use chrono::{DateTime, NaiveDate, Timelike};

const NANOS_PER_SEC: i64 = 1_000_000_000;
/// Values quoted in errors are cut here so one huge cell cannot bloat a report.
const MAX_QUOTED_CHARS: usize = 80;
/// 2001-02-03T04:05:06.007008009Z: every field differs, so a pattern that
/// drops or confuses one fails to read back its own output.
const SAMPLE_NANOS: i64 = 981_173_106_007_008_009;
/// chrono cannot map zone names to offsets, so `%Z` only accepts UTC spellings.
const UTC_NAMES: [&str; 4] = ["UTC", "GMT", "UT", "Z"];

/// One entry of a schema's `timeFormat` / `timeFormats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    Rfc3339,
    Unix,
    UnixMs,
    UnixUs,
    UnixNs,
    Strftime(String),
}

/// Why a schema's time format is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeFormatError {
    #[error("time format is empty")]
    Empty,
    #[error(
        "time format {0:?} is none of rfc3339, unix, unix_ms, unix_us, unix_ns \
         and has no strftime directive"
    )]
    NotAFormat(String),
    #[error("strftime pattern {pattern:?} has an unknown or unsupported directive {directive:?}")]
    UnknownDirective { pattern: String, directive: String },
    #[error("strftime pattern {0:?} has no date (it needs a year: %Y, %y, %G, %F, %s, ...)")]
    NoDate(String),
    #[error("strftime pattern {pattern:?} cannot read back its own output: {reason}")]
    Unreadable { pattern: String, reason: String },
}

/// Why a table value is not a timestamp in any of its field's formats.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeParseError {
    #[error("{0:?} cannot be parsed: no time format given")]
    NoFormats(String),
    #[error("{value:?} does not match {}", describe(.formats))]
    NoMatch { value: String, formats: Vec<String> },
    #[error(
        "{value:?} as {format} is outside the supported time range \
         (1677-09-21 to 2262-04-11 UTC)"
    )]
    OutOfRange { value: String, format: String },
}

fn describe(formats: &[String]) -> String {
    match formats {
        [one] => one.clone(),
        many => format!("any of {}", many.join(", ")),
    }
}

fn quoted(value: &str) -> String {
    match value.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => format!("{}...", &value[..cut]),
        None => value.to_owned(),
    }
}

impl TimeFormat {
    /// Parses a schema's `timeFormat` string: the five names (exact, lower
    /// case) or else a strftime pattern, checked up front so that a bad
    /// schema fails when loaded rather than on every row.
    pub fn parse(s: &str) -> Result<TimeFormat, TimeFormatError> {
        Ok(match s {
            "" => return Err(TimeFormatError::Empty),
            "rfc3339" => TimeFormat::Rfc3339,
            "unix" => TimeFormat::Unix,
            "unix_ms" => TimeFormat::UnixMs,
            "unix_us" => TimeFormat::UnixUs,
            "unix_ns" => TimeFormat::UnixNs,
            pattern => {
                check_pattern(pattern)?;
                TimeFormat::Strftime(pattern.to_owned())
            }
        })
    }

    /// The name as written in a schema: "rfc3339", ..., or the pattern.
    pub fn name(&self) -> &str {
        match self {
            TimeFormat::Rfc3339 => "rfc3339",
            TimeFormat::Unix => "unix",
            TimeFormat::UnixMs => "unix_ms",
            TimeFormat::UnixUs => "unix_us",
            TimeFormat::UnixNs => "unix_ns",
            TimeFormat::Strftime(pattern) => pattern,
        }
    }

    /// Decimal digits between the format's unit and nanoseconds.
    fn unix_scale(&self) -> Option<i64> {
        match self {
            TimeFormat::Unix => Some(9),
            TimeFormat::UnixMs => Some(6),
            TimeFormat::UnixUs => Some(3),
            TimeFormat::UnixNs => Some(0),
            TimeFormat::Rfc3339 | TimeFormat::Strftime(_) => None,
        }
    }
}

/// Parses a textual value with the formats in order; returns nanoseconds
/// since the Unix epoch.
pub fn parse_text(value: &str, formats: &[TimeFormat]) -> Result<i64, TimeParseError> {
    first_match(value, formats, |format| match format {
        TimeFormat::Rfc3339 => parse_rfc3339(value),
        TimeFormat::Strftime(pattern) => parse_strftime(value, pattern),
        unix => parse_unix(value, unix, false),
    })
}

/// Parses a JSON number token with the formats in order; only the unix
/// formats accept numbers.
pub fn parse_number(raw: &str, formats: &[TimeFormat]) -> Result<i64, TimeParseError> {
    first_match(raw, formats, |format| parse_unix(raw, format, true))
}

/// Appends the Panther form "YYYY-MM-DD HH:MM:SS.fffffffff" (UTC) of `nanos`.
pub fn write_panther(nanos: i64, out: &mut String) {
    let at = DateTime::from_timestamp_nanos(nanos).naive_utc();
    let (date, time) = (at.date(), at.time());
    // Every i64 lands in years 1677..=2262, always 4 digits; writing to a
    // String cannot fail.
    let _ = write!(
        out,
        "{date} {:02}:{:02}:{:02}.{:09}",
        time.hour(),
        time.minute(),
        time.second(),
        time.nanosecond()
    );
}

/// Why one format rejected a value. Out of range wins the error report;
/// the details only explain patterns that cannot read their own output.
enum Miss {
    Syntax,
    Chrono(format::ParseError),
    ZoneName,
    OutOfRange,
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Miss::Syntax => f.write_str("unexpected input"),
            Miss::Chrono(err) => err.fmt(f),
            Miss::ZoneName => f.write_str("zone name is not UTC or GMT"),
            Miss::OutOfRange => f.write_str("out of range"),
        }
    }
}

fn first_match(
    value: &str,
    formats: &[TimeFormat],
    mut try_one: impl FnMut(&TimeFormat) -> Result<i64, Miss>,
) -> Result<i64, TimeParseError> {
    let mut out_of_range = None;
    for format in formats {
        match try_one(format) {
            Ok(nanos) => return Ok(nanos),
            // A value that is well-formed but too far out says more than
            // "no match", so it wins the report over the other formats.
            Err(Miss::OutOfRange) => out_of_range = out_of_range.or(Some(format)),
            Err(_) => {}
        }
    }
    Err(match (out_of_range, formats.is_empty()) {
        (_, true) => TimeParseError::NoFormats(quoted(value)),
        (Some(format), _) => TimeParseError::OutOfRange {
            value: quoted(value),
            format: format.name().to_owned(),
        },
        (None, _) => TimeParseError::NoMatch {
            value: quoted(value),
            formats: formats.iter().map(|f| f.name().to_owned()).collect(),
        },
    })
}

/// Exact decimal arithmetic, so "1717200000.123456789" as unix seconds is
/// exactly ...123456789 ns; digits below a nanosecond are truncated.
fn parse_unix(value: &str, format: &TimeFormat, allow_exp: bool) -> Result<i64, Miss> {
    let scale = format.unix_scale().ok_or(Miss::Syntax)?;
    let (mantissa, exp) = match value.find(['e', 'E']) {
        Some(at) if allow_exp => (&value[..at], parse_exponent(&value[at + 1..])?),
        _ => (value, 0),
    };
    let (negative, unsigned) = match mantissa.strip_prefix('-') {
        Some(unsigned) => (true, unsigned),
        None => (false, mantissa),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    // unix_ns takes integers only, unless in exponent form (which JSON
    // encoders produce for large numbers).
    let has_exp = mantissa.len() < value.len();
    let fraction_ok = !unsigned.contains('.') || (!frac.is_empty() && (scale > 0 || has_exp));
    let all_digits = int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit());
    if int.is_empty() || !fraction_ok || !all_digits {
        return Err(Miss::Syntax);
    }
    // The integral nanosecond count is the digits left of this position.
    let mut point = int.len() as i64 + exp + scale;
    let leading_zeros = int
        .bytes()
        .chain(frac.bytes())
        .take_while(|&d| d == b'0')
        .count();
    point -= leading_zeros as i64;
    let mut digits = int
        .bytes()
        .chain(frac.bytes())
        .skip(leading_zeros)
        .peekable();
    if digits.peek().is_none() {
        return Ok(0);
    }
    if point > 20 {
        return Err(Miss::OutOfRange);
    }
    let mut magnitude: i128 = 0;
    for _ in 0..point.max(0) {
        magnitude = magnitude * 10 + i128::from(digits.next().map_or(0, |d| d - b'0'));
    }
    let sign = if negative { -1 } else { 1 };
    i64::try_from(sign * magnitude).map_err(|_| Miss::OutOfRange)
}

/// An exponent clamped to +-1e6: beyond that the value is out of range or 0.
fn parse_exponent(exp: &str) -> Result<i64, Miss> {
    let (sign, digits) = match exp.as_bytes() {
        [b'-', digits @ ..] => (-1, digits),
        [b'+', digits @ ..] | digits => (1, digits),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(Miss::Syntax);
    }
    let fold = |acc: i64, d: &u8| (acc * 10 + i64::from(d - b'0')).min(1_000_000);
    Ok(sign * digits.iter().fold(0, fold))
}

/// Value of a non-empty run of at most 9 ASCII digits.
fn digits(bytes: &[u8]) -> Option<u32> {
    let all = !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit);
    let value = || {
        bytes
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    all.then(value)
}

/// RFC 3339 read the lenient way real data needs: 'T', 't' or ' ' between
/// date and time, optional zone (UTC when absent), 1-9 fraction digits.
fn parse_rfc3339(value: &str) -> Result<i64, Miss> {
    let (secs, frac) = rfc3339_fields(value.as_bytes()).ok_or(Miss::Syntax)?;
    // Widened: i64::MIN ns is a whole second minus a fraction, so the
    // intermediate seconds product alone would overflow.
    let nanos = i128::from(secs) * i128::from(NANOS_PER_SEC) + i128::from(frac);
    i64::try_from(nanos).map_err(|_| Miss::OutOfRange)
}

/// Seconds since the epoch and the nanosecond fraction, if well-formed.
fn rfc3339_fields(value: &[u8]) -> Option<(i64, i64)> {
    let (head, mut rest) = value.split_at_checked(19)?;
    let layout_ok = head[4] == b'-' && head[7] == b'-' && b"Tt ".contains(&head[10]);
    if !layout_ok || head[13] != b':' || head[16] != b':' {
        return None;
    }
    let field = |at: usize| digits(&head[at..at + 2]);
    let (month, day, hour, minute, second) =
        (field(5)?, field(8)?, field(11)?, field(14)?, field(17)?);
    let mut frac = 0;
    if let [b'.', after @ ..] = rest {
        let count = after.iter().take_while(|b| b.is_ascii_digit()).count();
        if !(1..=9).contains(&count) {
            return None;
        }
        frac = i64::from(digits(&after[..count])?) * 10i64.pow(9 - count as u32);
        rest = &after[count..];
    }
    // ±HH:MM per RFC 3339; ±HHMM is common enough to take too.
    let offset = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h0, h1, b':', m0, m1] | [sign @ (b'+' | b'-'), h0, h1, m0, m1] => {
            let (hours, minutes) = (digits(&[*h0, *h1])?, digits(&[*m0, *m1])?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let sign = if *sign == b'-' { -1 } else { 1 };
            sign * i64::from(hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    // 60 is a leap second; it counts as the first second of the next minute.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let year = i32::try_from(digits(&head[..4])?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let start_of_minute = date.and_hms_opt(hour, minute, 0)?.and_utc().timestamp();
    Some((start_of_minute + i64::from(second) - offset, frac))
}

fn parse_strftime(value: &str, pattern: &str) -> Result<i64, Miss> {
    let mut parsed = Parsed::new();
    let mut items = StrftimeItems::new(pattern);
    let mut rest = value;
    // chrono skips any word for %Z, which would silently read "PST" as UTC,
    // so each %Z splits the pattern and the name is checked here instead.
    loop {
        let mut at_zone_name = false;
        let segment = items.by_ref().take_while(|item| {
            at_zone_name = matches!(item, Item::Fixed(Fixed::TimezoneName));
            !at_zone_name
        });
        rest = format::parse_and_remainder(&mut parsed, rest, segment).map_err(Miss::Chrono)?;
        if !at_zone_name {
            break;
        }
        let len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let name = &rest[..len];
        if !UTC_NAMES.iter().any(|utc| name.eq_ignore_ascii_case(utc)) {
            return Err(Miss::ZoneName);
        }
        rest = &rest[len..];
    }
    if !rest.is_empty() {
        return Err(Miss::Syntax);
    }
    if parsed.timestamp().is_none() {
        // Date-only patterns mean midnight; an hour alone means :00.
        if parsed.hour_div_12().is_none() && parsed.hour_mod_12().is_none() {
            parsed.set_hour(0).map_err(Miss::Chrono)?;
        }
        if parsed.minute().is_none() {
            parsed.set_minute(0).map_err(Miss::Chrono)?;
        }
    }
    if parsed.offset().is_none() {
        parsed.set_offset(0).map_err(Miss::Chrono)?;
    }
    let at = parsed.to_datetime().map_err(Miss::Chrono)?;
    at.timestamp_nanos_opt().ok_or(Miss::OutOfRange)
}

/// Each `%` directive of a pattern with its modifiers, e.g. "%-d", "%.3f".
fn directives(pattern: &str) -> impl Iterator<Item = &str> {
    pattern
        .match_indices('%')
        .scan(0, move |done, (start, _)| {
            if start < *done {
                return Some(None); // the second '%' of "%%"
            }
            let after = &pattern[start + 1..];
            let modifiers = after
                .find(|c: char| !"-_0123456789.:#".contains(c))
                .unwrap_or(after.len());
            let spec_len = after[modifiers..].chars().next().map_or(0, char::len_utf8);
            *done = start + 1 + modifiers + spec_len;
            Some(Some(&pattern[start..*done]))
        })
        .flatten()
}

fn check_pattern(pattern: &str) -> Result<(), TimeFormatError> {
    if !pattern.contains('%') {
        return Err(TimeFormatError::NotAFormat(pattern.to_owned()));
    }
    let is_error = |item: Item<'_>| matches!(item, Item::Error);
    let bad = directives(pattern)
        .find(|d| StrftimeItems::new(d).any(is_error))
        .or_else(|| StrftimeItems::new(pattern).any(is_error).then_some(pattern));
    if let Some(directive) = bad {
        return Err(TimeFormatError::UnknownDirective {
            pattern: pattern.to_owned(),
            directive: directive.to_owned(),
        });
    }
    let gives_year = |item: Item<'_>| {
        matches!(
            item,
            Item::Numeric(
                Numeric::Year
                    | Numeric::YearMod100
                    | Numeric::IsoYear
                    | Numeric::IsoYearMod100
                    | Numeric::Timestamp,
                _
            ) | Item::Fixed(Fixed::RFC2822 | Fixed::RFC3339)
        )
    };
    if !StrftimeItems::new(pattern).any(gives_year) {
        return Err(TimeFormatError::NoDate(pattern.to_owned()));
    }
    // Catches patterns chrono accepts but cannot resolve to one instant,
    // e.g. "%Y-%m" or "%Y-%m-%d %I:%M" without %p. Parse-only directives
    // (chrono cannot format "%#z") skip the check.
    let sample = DateTime::from_timestamp_nanos(SAMPLE_NANOS);
    let mut text = String::new();
    let formatted = sample.format_with_items(StrftimeItems::new(pattern));
    if write!(text, "{formatted}").is_ok() {
        if let Err(miss) = parse_strftime(&text, pattern) {
            return Err(TimeFormatError::Unreadable {
                pattern: pattern.to_owned(),
                reason: format!("{text:?}: {miss}"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "format | value | instant", one case a line. The instant is strict
    /// RFC 3339 read by chrono's own parser, an independent oracle; when
    /// left out, the value itself is. Split on " | " exactly, so spaces at
    /// the edges of a value are part of it.
    const ACCEPTED: &[&str] = &[
        "rfc3339 | 2024-06-01T12:30:45Z",
        "rfc3339 | 2024-06-01T12:30:45.5Z",
        "rfc3339 | 2024-06-01T12:30:45.123456789Z",
        "rfc3339 | 2024-06-01T12:30:45.25-08:00",
        "rfc3339 | 1969-07-20T20:17:40+05:30",
        "rfc3339 | 2024-06-01T14:00:00+0200 | 2024-06-01T12:00:00Z",
        "rfc3339 | 2024-06-01t12:00:00z | 2024-06-01T12:00:00Z",
        "rfc3339 | 2024-06-01 12:00:00Z | 2024-06-01T12:00:00Z",
        "rfc3339 | 2024-06-01 12:00:00 | 2024-06-01T12:00:00Z",
        "rfc3339 | 2024-06-01T12:00:00 | 2024-06-01T12:00:00Z",
        "rfc3339 | 2024-06-01 12:00:00.1 | 2024-06-01T12:00:00.1Z",
        "rfc3339 | 2024-06-01 12:00:00.123456789 | 2024-06-01T12:00:00.123456789Z",
        "rfc3339 | 2016-12-31T23:59:60Z | 2017-01-01T00:00:00Z",
        "unix | 1717200000 | 2024-06-01T00:00:00Z",
        "unix | 1717200000.5 | 2024-06-01T00:00:00.5Z",
        "unix | 1717200000.123456789 | 2024-06-01T00:00:00.123456789Z",
        "unix | 1717200000.1234567899 | 2024-06-01T00:00:00.123456789Z",
        "unix | -1.5 | 1969-12-31T23:59:58.5Z",
        "unix | -86400 | 1969-12-31T00:00:00Z",
        "unix | 0 | 1970-01-01T00:00:00Z",
        "unix_ms | 1717200000123.4567 | 2024-06-01T00:00:00.1234567Z",
        "unix_ms | -1000 | 1969-12-31T23:59:59Z",
        "unix_us | 1717200000123456 | 2024-06-01T00:00:00.123456Z",
        "unix_us | 1717200000123456.7891 | 2024-06-01T00:00:00.123456789Z",
        "unix_ns | 1717200000123456789 | 2024-06-01T00:00:00.123456789Z",
        "unix_ns | -9223372036854775808 | 1677-09-21T00:12:43.145224192Z",
        "%Y-%m-%d %H:%M:%S | 2024-06-01 12:00:00 | 2024-06-01T12:00:00Z",
        "%Y-%m-%d | 2024-06-01 | 2024-06-01T00:00:00Z",
        "%d/%b/%Y:%H:%M:%S %z | 01/Jun/2024:14:00:00 +0200 | 2024-06-01T12:00:00Z",
        "%d/%b/%Y:%H:%M:%S %z | 01/jun/2024:07:00:00 -0500 | 2024-06-01T12:00:00Z",
        "%B %-d %Y %H:%M | June 1 2024 12:00 | 2024-06-01T12:00:00Z",
        "%F %T %:z | 2024-06-01 12:00:00 +02:00 | 2024-06-01T10:00:00Z",
        "%Y-%m-%dT%H:%M:%S%.fZ | 2024-06-01T12:00:00.25Z",
        "%s | 1717243200 | 2024-06-01T12:00:00Z",
        "%D %r | 06/01/24 12:00:00 PM | 2024-06-01T12:00:00Z",
        "%a %b %e %T %Z %Y | Sat Jun  1 12:00:00 UTC 2024 | 2024-06-01T12:00:00Z",
        "%F %T %Z | 2024-06-01 12:00:00 gmt | 2024-06-01T12:00:00Z",
        "%F %T | 1969-12-31 23:59:59 | 1969-12-31T23:59:59Z",
    ];

    /// "format | value" that must fail with a plain "does not match".
    const REJECTED: &[&str] = &[
        "rfc3339 | 2024-02-30T00:00:00Z",
        "rfc3339 | 2024-13-01T00:00:00Z",
        "rfc3339 | 2024-1-1T00:00:00Z",
        "rfc3339 | 2024-06-01",
        "rfc3339 | 2024-06-01T24:00:00Z",
        "rfc3339 | 2024-06-01T23:59:61Z",
        "rfc3339 | 2024-06-01T12:00:00Zjunk",
        "rfc3339 | 2024-06-01T12:00:00 ",
        "rfc3339 |  2024-06-01T12:00:00",
        "rfc3339 | 2024-06-01  12:00:00",
        "rfc3339 | 2024-06-01T12:00:00.",
        "rfc3339 | 2024-06-01T12:00:00.1234567891",
        "rfc3339 | 2024-06-01T12:00:00+5:00",
        "rfc3339 | 2024-06-01T12:00:00+24:00",
        "rfc3339 | 2024-06-01T12:00:00+02:",
        "rfc3339 | 2024-06-01T12:00:00UTC",
        "rfc3339 | ",
        "unix_ns | 1717200000123456789.5",
        "unix_ns | 5.0",
        "%Y-%m-%d %H:%M:%S | 2024-06-01 12:00:00 ",
        "%Y-%m-%d %H:%M:%S | 2024-06-01",
        "%Y-%m-%d %H:%M:%S | 2024-06-01T12:00:00",
        "%Y-%m-%d | 2024-06-31",
        "%F %T %Z | 2024-06-01 12:00:00 PST",
        "%F %T %Z | 2024-06-01 12:00:00",
        "%d/%b/%Y:%H:%M:%S %z | 01/Jux/2024:12:00:00 +0000",
    ];

    /// "format | value" that is well-formed but beyond the i64 range.
    const OUT_OF_RANGE: &[&str] = &[
        "rfc3339 | 2300-01-01T00:00:00Z",
        "rfc3339 | 1677-09-21 00:12:43.145224191",
        "unix | 9223372037",
        "unix | 99999999999999999999999999999999999999999999",
        "unix_ms | -9223372036855",
        "unix_ns | 9223372036854775808",
        "%Y-%m-%d | 2300-01-01",
    ];

    /// "format | JSON number | instant" for `parse_number`.
    const NUMBERS: &[&str] = &[
        "unix | 1717200000 | 2024-06-01T00:00:00Z",
        "unix | 1.7172e9 | 2024-06-01T00:00:00Z",
        "unix | 1.7172E+9 | 2024-06-01T00:00:00Z",
        "unix | 17172000005e-1 | 2024-06-01T00:00:00.5Z",
        "unix | -1.5 | 1969-12-31T23:59:58.5Z",
        "unix_ms | 1717200000123 | 2024-06-01T00:00:00.123Z",
        "unix_ms | 1.717200000123e12 | 2024-06-01T00:00:00.123Z",
        "unix_us | 1717200000123456 | 2024-06-01T00:00:00.123456Z",
        "unix_ns | 1717200000123456789 | 2024-06-01T00:00:00.123456789Z",
        "unix_ns | 1.5e3 | 1970-01-01T00:00:00.0000015Z",
        "unix_ns | 15e-1 | 1970-01-01T00:00:00.000000001Z",
    ];

    /// "nanoseconds | Panther form"; each must also parse back.
    const PANTHER: &[&str] = &[
        "0 | 1970-01-01 00:00:00.000000000",
        "7 | 1970-01-01 00:00:00.000000007",
        "1717200000123456789 | 2024-06-01 00:00:00.123456789",
        "-1 | 1969-12-31 23:59:59.999999999",
        "-31536000000000000 | 1969-01-01 00:00:00.000000000",
        "-14182940000000001 | 1969-07-20 20:17:39.999999999",
        "-9223372036854775808 | 1677-09-21 00:12:43.145224192",
        "9223372036854775807 | 2262-04-11 23:47:16.854775807",
    ];

    fn fmt(s: &str) -> TimeFormat {
        TimeFormat::parse(s).unwrap()
    }

    fn text(value: &str, format: &str) -> Result<i64, TimeParseError> {
        parse_text(value, &[fmt(format)])
    }

    fn panther(nanos: i64) -> String {
        let mut out = String::new();
        write_panther(nanos, &mut out);
        out
    }

    const JUNE_1: i64 = 1_717_200_000 * NANOS_PER_SEC;

    #[test]
    fn accepted_values() {
        for case in ACCEPTED {
            let parts: Vec<_> = case.split(" | ").collect();
            let (format, value) = (parts[0], parts[1]);
            let oracle = DateTime::parse_from_rfc3339(parts.get(2).unwrap_or(&value)).unwrap();
            let expected = oracle.timestamp_nanos_opt();
            assert_eq!(text(value, format).ok(), expected, "{case}");
        }
        assert_eq!(
            text("1717200000.123456789", "unix"),
            Ok(JUNE_1 + 123_456_789)
        );
    }

    #[test]
    fn rejected_values() {
        let unix = [
            "", "-", "1.", ".5", "+1", " 1", "1 ", "1e9", "0x10", "1,5", "١",
        ];
        let unix = unix.map(|value| format!("unix | {value}"));
        let cases = REJECTED
            .iter()
            .copied()
            .chain(unix.iter().map(String::as_str));
        for case in cases {
            let (format, value) = case.split_once(" | ").unwrap();
            let message = text(value, format).map_err(|e| e.to_string());
            assert_eq!(message, Err(format!("{value:?} does not match {format}")));
        }
        for case in OUT_OF_RANGE {
            let (format, value) = case.split_once(" | ").unwrap();
            let message = text(value, format).unwrap_err().to_string();
            let expected = format!("{value:?} as {format} is outside the supported time range");
            assert!(message.starts_with(&expected), "{message}");
        }
        let edge = text("9223372036", "unix");
        assert_eq!(edge, Ok(9_223_372_036 * NANOS_PER_SEC));
    }

    #[test]
    fn format_names() {
        for name in [
            "rfc3339", "unix", "unix_ms", "unix_us", "unix_ns", "%Y-%m-%d",
        ] {
            assert_eq!(fmt(name).name(), name);
        }
        assert_eq!(fmt("unix_ms"), TimeFormat::UnixMs);
        assert_eq!(fmt("%F %T"), TimeFormat::Strftime("%F %T".into()));
        assert!(TimeFormat::parse("100%% %Y-%m-%d").is_ok());
        assert!(TimeFormat::parse("%Y-%m-%d %#z").is_ok());
    }

    #[test]
    fn bad_formats() {
        use TimeFormatError as E;
        let unknown = |pattern: &str, directive: &str| {
            let (pattern, directive) = (pattern.into(), directive.into());
            Err(E::UnknownDirective { pattern, directive })
        };
        assert_eq!(TimeFormat::parse(""), Err(E::Empty));
        assert_eq!(
            TimeFormat::parse("RFC3339"),
            Err(E::NotAFormat("RFC3339".into()))
        );
        let err = TimeFormat::parse("%Y-%m-%d %Q");
        assert_eq!(err, unknown("%Y-%m-%d %Q", "%Q"));
        assert!(err.unwrap_err().to_string().ends_with("directive \"%Q\""));
        assert_eq!(TimeFormat::parse("%Y %-"), unknown("%Y %-", "%-"));
        assert_eq!(TimeFormat::parse("%Y %Ez"), unknown("%Y %Ez", "%E"));
        assert_eq!(
            TimeFormat::parse("%H:%M:%S"),
            Err(E::NoDate("%H:%M:%S".into()))
        );
        for incomplete in ["%Y-%m", "%Y-%m-%d %I:%M", "%Y %H:%M"] {
            let err = TimeFormat::parse(incomplete);
            assert!(
                matches!(err, Err(E::Unreadable { .. })),
                "{incomplete}: {err:?}"
            );
        }
        let found: Vec<_> = directives("%%d %-d %.3f %::z é%é x%").collect();
        assert_eq!(found, ["%%", "%-d", "%.3f", "%::z", "%é", "%"]);
    }

    #[test]
    fn json_numbers() {
        for case in NUMBERS {
            let parts: Vec<_> = case.split(" | ").collect();
            let oracle = DateTime::parse_from_rfc3339(parts[2]).unwrap();
            let parsed = parse_number(parts[1], &[fmt(parts[0])]);
            assert_eq!(parsed.ok(), oracle.timestamp_nanos_opt(), "{case}");
        }
        let number = |raw: &str| parse_number(raw, &[TimeFormat::Unix]);
        assert_eq!(number("1717200000.123456789"), Ok(JUNE_1 + 123_456_789));
        assert_eq!(number("0e99999999999"), Ok(0));
        assert!(matches!(
            number("1e99999"),
            Err(TimeParseError::OutOfRange { .. })
        ));
        for bad in ["1e", "1e+", "--1", "1.e5", "NaN", "\"1\"", "1 "] {
            assert!(number(bad).is_err(), "{bad}");
        }
        let err = parse_number("1717200000", &[TimeFormat::Rfc3339, fmt("%s")]).unwrap_err();
        let message = err.to_string();
        assert_eq!(message, "\"1717200000\" does not match any of rfc3339, %s");
    }

    #[test]
    fn formats_are_tried_in_order() {
        let formats = [fmt("rfc3339"), fmt("unix_ms"), fmt("unix")];
        assert_eq!(parse_text("2024-06-01T00:00:00Z", &formats), Ok(JUNE_1));
        // Both unix formats accept it; the first listed wins.
        assert_eq!(parse_text("1717200000", &formats), Ok(JUNE_1 / 1000));
        let err = parse_text("yesterday", &formats).unwrap_err().to_string();
        assert_eq!(
            err,
            "\"yesterday\" does not match any of rfc3339, unix_ms, unix"
        );
        assert_eq!(
            parse_text("x", &[]),
            Err(TimeParseError::NoFormats("x".into()))
        );
        // Out of range for one format, no match for the other: range wins.
        let err = parse_text("9999999999", &[fmt("rfc3339"), fmt("unix")]).unwrap_err();
        let (value, format) = ("9999999999".into(), "unix".into());
        assert_eq!(err, TimeParseError::OutOfRange { value, format });
        let message = text(&"x".repeat(10_000), "unix").unwrap_err().to_string();
        assert!(message.len() < 200 && message.contains("..."), "{message}");
    }

    #[test]
    fn panther_form_and_round_trips() {
        let pattern = [fmt("%Y-%m-%d %H:%M:%S%.9f")];
        for case in PANTHER {
            let (nanos, rendered) = case.split_once(" | ").unwrap();
            let nanos: i64 = nanos.parse().unwrap();
            assert_eq!(panther(nanos), rendered);
            assert_eq!(
                parse_text(rendered, &[TimeFormat::Rfc3339]),
                Ok(nanos),
                "{case}"
            );
            assert_eq!(parse_text(rendered, &pattern), Ok(nanos), "{case}");
        }
        let mut out = String::from("ts=");
        write_panther(JUNE_1, &mut out);
        assert_eq!(out, "ts=2024-06-01 00:00:00.000000000");
    }
}
