//! UTC time for the whole crate: the clock, the civil calendar, the two formats taskmux writes
//! (ISO 8601 with microseconds for events and state, the millisecond stamp on each log line),
//! and the one ISO 8601 parser that reads them back and reads what a person types.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, as a float.
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

/// Converts days since 1970-01-01 to a civil (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The number of days in a month of the proleptic Gregorian calendar.
fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// An ISO 8601 UTC time with microseconds and `+00:00`, as in events and `started_at`.
pub fn iso_time(secs: f64) -> String {
    let micros = (secs * 1e6).round() as i64;
    let s = micros.div_euclid(1_000_000);
    let us = micros.rem_euclid(1_000_000);
    let (y, mo, d) = civil_from_days(s.div_euclid(86_400));
    let sod = s.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{us:06}+00:00",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// The prefix the log writer puts on each line, `YYYY-MM-DDTHH:MM:SS.mmm ` (UTC, one space),
/// for an epoch time in seconds: [`iso_time`] cut to milliseconds, so the two always agree.
pub fn log_stamp(secs: f64) -> [u8; 24] {
    let iso = iso_time(secs); // YYYY-MM-DDTHH:MM:SS.uuuuuu+00:00
    let mut out = [b' '; 24];
    out[..23].copy_from_slice(&iso.as_bytes()[..23]);
    out
}

/// Parses an ISO 8601 time to epoch seconds: `YYYY-MM-DD[(T| )HH:MM[:SS[.frac]]][Z|±HH[[:]MM]]`,
/// surrounding whitespace ignored. No zone means UTC, a bare date is midnight UTC, `t` and `z`
/// may be lower case and `,` may stand for `.`. It reads event times
/// (`2026-01-01T14:00:00.123456+00:00`, [`iso_time`]) and the times people give to `--since`.
/// `None` when it is not such a time or a field is out of range (month 13, Feb 29 of 2023).
pub fn parse_iso(s: &str) -> Option<f64> {
    let b = s.trim().as_bytes();
    let (ts, end) = scan(b, Form::Iso)?;
    (end == b.len()).then_some(ts)
}

/// The timestamp at the start of a log line ([`log_stamp`]: `YYYY-MM-DDTHH:MM:SS[.frac]`, UTC,
/// upper-case `T`, seconds required) in epoch seconds, and where the line's text starts (after
/// the one space, or at the end). `None` when the line does not start with such a stamp.
pub fn parse_log_stamp(line: &[u8]) -> Option<(f64, usize)> {
    let (ts, end) = scan(line, Form::LogStamp)?;
    match line.get(end) {
        None => Some((ts, end)),
        Some(b' ') => Some((ts, end + 1)),
        Some(_) => None,
    }
}

/// Which times [`scan`] accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// Exactly what the log writer stamps: `YYYY-MM-DDTHH:MM:SS[.frac]`, no zone.
    LogStamp,
    /// What events hold and people type: see [`parse_iso`].
    Iso,
}

/// The one parser behind [`parse_iso`] and [`parse_log_stamp`]: reads a time from the start
/// of `b` and returns it with the offset just past it. Whatever follows is the caller's.
fn scan(b: &[u8], form: Form) -> Option<(f64, usize)> {
    let iso = form == Form::Iso;
    let mut i = 0;
    let y = digits(b, &mut i, 4)?;
    expect(b, &mut i, |c| c == b'-')?;
    let mo = digits(b, &mut i, 2)?;
    expect(b, &mut i, |c| c == b'-')?;
    let d = digits(b, &mut i, 2)?;
    if iso && i == b.len() {
        return Some((civil_secs(y, mo, d, 0, 0, 0)? as f64, i));
    }
    expect(b, &mut i, |c| c == b'T' || (iso && matches!(c, b't' | b' ')))?;
    let h = digits(b, &mut i, 2)?;
    expect(b, &mut i, |c| c == b':')?;
    let mi = digits(b, &mut i, 2)?;
    let mut sec = 0;
    let mut frac = 0.0;
    if !iso || b.get(i) == Some(&b':') {
        expect(b, &mut i, |c| c == b':')?;
        sec = digits(b, &mut i, 2)?;
        if b.get(i) == Some(&b'.') || (iso && b.get(i) == Some(&b',')) {
            i += 1;
            frac = fraction(b, &mut i)?;
        }
    }
    let mut secs = civil_secs(y, mo, d, h, mi, sec)?;
    if iso {
        secs -= zone(b, &mut i)?;
    }
    Some((secs as f64 + frac, i))
}

/// Steps over one byte at `*i` that passes `ok`.
fn expect(b: &[u8], i: &mut usize, ok: impl Fn(u8) -> bool) -> Option<()> {
    let c = *b.get(*i)?;
    ok(c).then(|| *i += 1)
}

/// Reads exactly `n` ASCII digits at `*i`.
fn digits(b: &[u8], i: &mut usize, n: usize) -> Option<u32> {
    let d = b.get(*i..*i + n)?;
    if !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    *i += n;
    Some(d.iter().fold(0, |acc, &c| acc * 10 + u32::from(c - b'0')))
}

/// Reads a run of at least one digit after a decimal point, as a fraction (digits past the
/// ninth are read and ignored).
fn fraction(b: &[u8], i: &mut usize) -> Option<f64> {
    let start = *i;
    let mut num: u64 = 0;
    let mut scale: f64 = 1.0;
    while let Some(c) = b.get(*i).filter(|c| c.is_ascii_digit()) {
        if *i - start < 9 {
            num = num * 10 + u64::from(c - b'0');
            scale *= 10.0;
        }
        *i += 1;
    }
    (*i > start).then(|| num as f64 / scale)
}

/// A zone designator at `*i` as seconds east of UTC: nothing or `Z` is 0; else `±HH`,
/// `±HH:MM`, `±HHMM` (or `±HH:` for `±HH:00`), hours to 23 and minutes to 59.
fn zone(b: &[u8], i: &mut usize) -> Option<i64> {
    let east = match b.get(*i) {
        None => return Some(0),
        Some(b'Z' | b'z') => {
            *i += 1;
            return Some(0);
        }
        Some(b'+') => true,
        Some(b'-') => false,
        Some(_) => return None,
    };
    *i += 1;
    let h = digits(b, i, 2)?;
    if b.get(*i) == Some(&b':') {
        *i += 1;
    }
    let m = if *i < b.len() { digits(b, i, 2)? } else { 0 };
    if h > 23 || m > 59 {
        return None;
    }
    let off = i64::from(h * 3600 + m * 60);
    Some(if east { off } else { -off })
}

/// A civil date and time (UTC) to epoch seconds, checking ranges (a leap second 60 passes).
fn civil_secs(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    let y = i64::from(y);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + s))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-01T14:00:00 UTC.
    const T0: f64 = 1_704_117_600.0;

    #[test]
    fn iso_time_known_values() {
        assert_eq!(iso_time(0.0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(iso_time(1_704_117_600.123), "2024-01-01T14:00:00.123000+00:00");
        assert_eq!(days_from_civil(2024, 1, 1), 19_723);
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }

    #[test]
    fn log_stamp_is_iso_time_to_the_millisecond() {
        assert_eq!(&log_stamp(T0 + 0.123), b"2024-01-01T14:00:00.123 ");
        assert_eq!(&log_stamp(0.0), b"1970-01-01T00:00:00.000 ");
        assert_eq!(parse_log_stamp(&log_stamp(T0 + 0.5)), Some((T0 + 0.5, 24)));
    }

    #[test]
    fn parse_iso_accepts_every_form() {
        for (s, want) in [
            ("2024-01-01", T0 - 14.0 * 3600.0),
            ("2024-01-01T14:00", T0),
            ("2024-01-01t14:00", T0),
            ("2024-01-01 14:00:00", T0),
            (" 2024-01-01T14:00:00Z \n", T0),
            ("2024-01-01T14:00:00z", T0),
            ("2024-01-01T14:00:00.5", T0 + 0.5),
            ("2024-01-01T14:00:00,5", T0 + 0.5),
            ("2024-01-01T14:00:00.250000+00:00", T0 + 0.25),
            ("2024-01-01T14:00:00.1234567891234", T0 + 0.123_456_789),
            ("2024-01-01T15:00:00+01", T0),
            ("2024-01-01T15:00:00+01:", T0),
            ("2024-01-01T15:00:00+01:00", T0),
            ("2024-01-01T15:30:00+0130", T0),
            ("2024-01-01T13:30-00:30", T0),
            ("2024-01-01T14:00:60", T0 + 60.0),
        ] {
            assert_eq!(parse_iso(s), Some(want), "{s:?}");
        }
        for bad in [
            "",
            "2024-01-01T",
            "2024-01-01T14:00:00.",
            "2024-01-01T14:00:00+24:00",
            "2024-01-01T14:00:00+01:60",
            "2024-01-01T14:00:00+012",
            "2024-01-01T14:00:00 x",
            "2024-01-01T14:00:61",
            "2024-01-01T14:60",
            "2024-04-31",
            "2024-00-01",
            "2024-01-00",
        ] {
            assert_eq!(parse_iso(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parse_log_stamp_takes_only_the_stamp() {
        assert_eq!(parse_log_stamp(b"2024-01-01T14:00:00.123 hi"), Some((T0 + 0.123, 24)));
        assert_eq!(parse_log_stamp(b"2024-01-01T14:00:00 hi"), Some((T0, 20)));
        assert_eq!(parse_log_stamp(b"2024-01-01T14:00:00"), Some((T0, 19)));
        for bad in [
            &b"2024-01-01"[..],
            b"2024-01-01T14:00 hi",
            b"2024-01-01t14:00:00.000 hi",
            b"2024-01-01T14:00:00Z hi",
            b"2024-01-01T14:00:00,123 hi",
            b"2024-01-01T14:00:00.123+00:00 hi",
            b" 2024-01-01T14:00:00.123 hi",
        ] {
            assert_eq!(parse_log_stamp(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
