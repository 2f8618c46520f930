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

const NS_PER_MS: i64 = 1_000_000;

/// Longest duration upstream can represent: `math.MaxInt64` nanoseconds.
pub const MAX_DURATION_NS: i64 = i64::MAX;

/// Why a duration or time string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("not a valid duration string: {0:?}")]
    InvalidDuration(String),
    /// Longer than Go's `time.Duration` holds (about 292 years of nanoseconds); the text
    /// is upstream's, without the duration (`model.ParseDuration`).
    #[error("duration out of range")]
    DurationOverflow(String),
    #[error("cannot parse {0:?} to a valid timestamp")]
    InvalidTimestamp(String),
}

/// Parses a Prometheus duration such as `1h30m` or `0` into milliseconds.
///
/// Units must appear at most once each, largest first; `0` alone is allowed. Like
/// upstream, whose durations are nanoseconds in an `int64`, anything longer than
/// [`MAX_DURATION_NS`] (292 years and a bit) is out of range.
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
    let mut total_ns: i64 = 0;
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
        total_ns = n
            .checked_mul(UNITS[idx].1 * NS_PER_MS)
            .and_then(|v| total_ns.checked_add(v))
            .ok_or_else(|| TimeError::DurationOverflow(s.to_string()))?;
    }
    Ok(total_ns / NS_PER_MS)
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
///
/// Any float is accepted, as upstream's `parseTime` accepts it, and converted the way the
/// query engine converts it (`time.Unix(s, ns)` then `UnixNano() / 1e6`): the fraction is
/// rounded to milliseconds, and a time past the years 1678..2262 that `UnixNano` covers
/// wraps around as it does in Go (`time=1e18` evaluates at -6930898827.444). The result is
/// thus always within ±2^63 ns, so later arithmetic on it cannot overflow.
pub fn parse_time(s: &str) -> Result<i64, TimeError> {
    if let Ok(t) = s.parse::<f64>() {
        let whole = t.trunc();
        let frac = ((t - whole) * 1000.0).round() / 1000.0;
        return Ok(go_unix_nano_ms(
            go_f64_to_i64(whole),
            go_f64_to_i64(frac * 1e9),
        ));
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| go_unix_nano_ms(t.timestamp(), i64::from(t.timestamp_subsec_nanos())))
        .map_err(|_| TimeError::InvalidTimestamp(s.to_string()))
}

/// Go's `int64(f)` on amd64: NaN and values out of range become `math.MinInt64`.
fn go_f64_to_i64(f: f64) -> i64 {
    if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        f as i64
    } else {
        i64::MIN
    }
}

/// `time.Unix(sec, nsec).UnixNano() / 1e6` with Go's wrapping integer arithmetic.
fn go_unix_nano_ms(mut sec: i64, mut nsec: i64) -> i64 {
    const NS: i64 = 1_000_000_000;
    if !(0..NS).contains(&nsec) {
        let n = nsec / NS;
        sec = sec.wrapping_add(n);
        nsec -= n * NS;
        if nsec < 0 {
            nsec += NS;
            sec = sec.wrapping_sub(1);
        }
    }
    sec.wrapping_mul(NS).wrapping_add(nsec) / NS_PER_MS
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
    fn huge_times_wrap_like_upstream() {
        // Values Debian's Prometheus 2.42 returns for `time()` at these `time=` values.
        for (t, want) in [
            ("1e18", -6_930_898_827_444),
            ("-1e18", 6_930_898_827_444),
            ("1e17", -2_537_764_290_115),
            ("1e10", -8_446_744_073_709),
            ("2e18", 4_584_946_418_820),
            ("9.3e15", 188_263_034_714),
            ("1e19", 0),
            ("9223372036854775807", 0),
            ("NaN", -9_223_372_036_854),
            ("Inf", -9_223_372_036_854),
        ] {
            assert_eq!(parse_time(t), Ok(want), "time={t}");
        }
    }

    #[test]
    fn durations_are_bounded_like_go_time_duration() {
        // 292y is the most whole years an int64 of nanoseconds holds.
        assert_eq!(parse_duration("292y"), Ok(292 * 31_536_000_000));
        for s in [
            "293y",
            "1000y",
            "1000000y",
            "15251w",
            "292y1000w",
            "9223372037s",
        ] {
            let e = parse_duration(s).unwrap_err();
            assert_eq!(e.to_string(), "duration out of range", "{s}");
        }
        assert_eq!(parse_duration("9223372036s"), Ok(9_223_372_036_000));
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
        assert_eq!(parse_time("-1.5"), Ok(-1500));
        assert_eq!(parse_time("1.0004"), Ok(1000));
        assert_eq!(
            format_rfc3339(1_435_781_451_781),
            "2015-07-01T20:10:51.781Z"
        );
    }
}
