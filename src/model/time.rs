//! Time and duration notation: milliseconds since the epoch as `i64`, Prometheus duration
//! strings (`1h30m`, `5m`, `250ms`, `2w`, `1y`), and API timestamps (RFC 3339 or Unix
//! seconds with a fraction).
//!
//! Mirrors `model.ParseDuration`/`Duration.String` from prometheus/common and `parseTime`
//! from the web API.

use chrono::{DateTime, Utc};

/// Milliseconds in each Prometheus duration unit, largest first (the order a duration
/// string must use).
const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Why a duration or time string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("not a valid duration string: {0:?}")]
    InvalidDuration(String),
    #[error("duration out of range: {0:?}")]
    DurationOverflow(String),
    #[error("cannot parse {0:?} to a valid timestamp")]
    InvalidTimestamp(String),
}

/// Parses a Prometheus duration such as `1h30m` or `0` into milliseconds.
///
/// Units must appear at most once each, largest first; `0` alone is allowed.
pub fn parse_duration(s: &str) -> Result<i64, TimeError> {
    let bad = || TimeError::InvalidDuration(s.to_string());
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    let mut next_unit = 0; // index into UNITS that the next unit may use at the earliest
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(bad());
        }
        let n: i64 = s[start..i]
            .parse()
            .map_err(|_| TimeError::DurationOverflow(s.to_string()))?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[ustart..i];
        let idx = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .map(|p| p + next_unit)
            .ok_or_else(bad)?;
        next_unit = idx + 1;
        let ms = n
            .checked_mul(UNITS[idx].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| TimeError::DurationOverflow(s.to_string()))?;
        total = ms;
    }
    Ok(total)
}

/// Formats milliseconds the way Prometheus prints durations (`1h30m`, `5m`, `0s`, `1d`).
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = ms;
    if rest < 0 {
        out.push('-');
        rest = -rest;
    }
    for (unit, size) in UNITS {
        let n = rest / size;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
            rest -= n * size;
        }
    }
    out
}

/// Parses an API timestamp: Unix seconds with an optional fraction (`1435781451.781`) or
/// RFC 3339 (`2015-07-01T20:10:51.781Z`). Returns milliseconds.
pub fn parse_time(s: &str) -> Result<i64, TimeError> {
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() {
            return Err(TimeError::InvalidTimestamp(s.to_string()));
        }
        // Round rather than truncate so 1435781451.781 is exactly ...781 ms.
        let ms = (secs * 1000.0).round();
        if ms.abs() > 9.2e18 {
            return Err(TimeError::InvalidTimestamp(s.to_string()));
        }
        return Ok(ms as i64);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
        .map_err(|_| TimeError::InvalidTimestamp(s.to_string()))
}

/// Current wall-clock time in milliseconds.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Formats milliseconds as RFC 3339 with millisecond precision in UTC.
pub fn format_rfc3339(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("5m"), Ok(300_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(
            parse_duration("1y2w3d4h5m6s7ms").unwrap(),
            31_536_000_000 + 1_209_600_000 + 259_200_000 + 14_400_000 + 300_000 + 6_000 + 7
        );
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("1m1h").is_err());
        assert!(parse_duration("1m1m").is_err());
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("-1m").is_err());
        assert!(parse_duration("99999999999999999999y").is_err());
    }

    #[test]
    fn format_round_trips() {
        for s in ["5m", "1h30m", "1d", "0s", "1y1w", "1s500ms"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1435781451.781"), Ok(1_435_781_451_781));
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z"),
            Ok(1_435_781_451_781)
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51.781+02:00"),
            Ok(1_435_781_451_781)
        );
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("NaN").is_err());
        assert_eq!(
            format_rfc3339(1_435_781_451_781),
            "2015-07-01T20:10:51.781Z"
        );
    }
}
