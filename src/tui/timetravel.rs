//! Time travel: the `:at` command's argument, the `[`/`]` step, and the header's marker.
//!
//! `:at` sets the moment every view shows ([`super::view::TimeRange::end_ms`]); `None`
//! follows the wall clock. The moment is fixed once set (`:at 2h ago` resolves against
//! the clock when the command runs, and stays there as time passes), so stepping and
//! re-reading are reproducible.

use chrono::{DateTime, Utc};

/// Why an `:at` argument was not understood, worded for the status line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AtError {
    #[error(":at needs a time: now, 2h ago, 2026-12-07T10:00:00Z or unix seconds")]
    Empty,
    #[error(":at {input:?}: {why}")]
    Invalid { input: String, why: String },
    #[error(":at {input:?} is {ahead} in the future; time travel goes back only")]
    Future { input: String, ahead: String },
}

/// Where `:at` goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtTarget {
    /// Back to the present (follow the clock).
    Now,
    /// A fixed moment, ms since the epoch.
    At(i64),
}

/// Parses an `:at` argument against the clock `now_ms`: `now`; a Prometheus duration
/// followed by `ago` (`2h ago`, `1h30m ago`) or written `-2h`/`now-2h`; an RFC 3339 time
/// (`2026-12-07T10:00:00Z`, `2026-12-07 10:00:00+01:00`); or unix seconds (`1765100000`,
/// with an optional fraction). A moment after `now_ms` is refused.
pub fn parse_at(input: &str, now_ms: i64) -> Result<AtTarget, AtError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(AtError::Empty);
    }
    let invalid = |why: String| AtError::Invalid {
        input: s.to_string(),
        why,
    };
    if s.eq_ignore_ascii_case("now") {
        return Ok(AtTarget::Now);
    }
    // A relative moment: `2h ago`, `2h`-less forms `-2h` and `now-2h`.
    let relative = if let Some(d) = s.strip_suffix("ago") {
        Some(d.trim())
    } else if let Some(d) = s.strip_prefix("now-") {
        Some(d.trim())
    } else {
        s.strip_prefix('-')
    };
    let t = if let Some(d) = relative {
        if d.is_empty() {
            return Err(invalid("how long ago? e.g. 2h ago".into()));
        }
        let ms = crate::model::time::parse_duration(d).map_err(|_| {
            invalid(format!(
                "{d:?} is not a duration (units ms s m h d w y, largest first: 1h30m)"
            ))
        })?;
        now_ms.saturating_sub(ms)
    } else if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = s
            .parse()
            .map_err(|_| invalid("not a number of unix seconds".into()))?;
        // Unix seconds; a 13-digit number is a likely millisecond mix-up.
        if secs >= 1e11 {
            return Err(invalid(
                "too large for unix seconds (milliseconds? drop the last three digits)".into(),
            ));
        }
        (secs * 1000.0).round() as i64
    } else {
        // RFC 3339, also with a space between date and time.
        let text = s.replacen(' ', "T", 1);
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.timestamp_millis())
            .map_err(|e| {
                invalid(format!(
                    "not a time ({e}); use now, 2h ago, 2026-12-07T10:00:00Z or unix seconds"
                ))
            })?
    };
    if t > now_ms {
        return Err(AtError::Future {
            input: s.to_string(),
            ahead: crate::model::time::format_duration((t - now_ms) / 1000 * 1000),
        });
    }
    Ok(AtTarget::At(t))
}

/// How far `[` and `]` move: a tenth of the range width, rounded to whole seconds and at
/// least one second (1h → 6m, 6h → 36m, 1d → 2h24m).
pub fn step_ms(width_ms: i64) -> i64 {
    ((width_ms / 10) / 1000 * 1000).max(1000)
}

/// The moment after a step from `end` (`None`: the present) by `step` ms, backwards
/// (`forward == false`) or forwards; a step that reaches the present returns to it.
pub fn step(end: Option<i64>, step: i64, forward: bool, now_ms: i64) -> Option<i64> {
    let at = end.unwrap_or(now_ms);
    let next = if forward { at + step } else { at - step };
    (next < now_ms).then_some(next)
}

/// A moment in UTC to the second, as the header shows it: `2026-01-02 01:04:05Z`.
pub fn format_moment(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        None => ms.to_string(),
    }
}

/// How long before `now_ms` the moment is, coarsely: `2h ago`, `1d3h ago`, `45s ago`
/// (the two largest units).
pub fn format_ago(ms: i64, now_ms: i64) -> String {
    let d = now_ms.saturating_sub(ms).max(0) / 1000 * 1000;
    if d == 0 {
        return "now".into();
    }
    let full = crate::model::time::format_duration(d);
    // Keep the two largest units: `1d3h12m5s` → `1d3h` (whole seconds: no `ms` unit).
    let mut out = String::new();
    let mut units = 0;
    for c in full.chars() {
        out.push(c);
        if c.is_ascii_alphabetic() {
            units += 1;
            if units == 2 {
                break;
            }
        }
    }
    format!("{out} ago")
}

/// For views that show only the present (TSDB status, configuration): while
/// time-travelling, draws a one-line notice saying so at the top of `area` and returns the
/// rest; otherwise returns `area` untouched.
pub fn present_only_notice(
    f: &mut ratatui::Frame<'_>,
    area: ratatui::layout::Rect,
    ctx: &super::view::ViewCtx<'_>,
) -> ratatui::layout::Rect {
    use ratatui::layout::{Constraint, Layout};
    use ratatui::text::{Line, Span};
    let Some(t) = ctx.range.end_ms else {
        return area;
    };
    let [notice, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    f.render_widget(
        ratatui::widgets::Paragraph::new(Line::from(vec![
            Span::styled(" this view shows the present", ctx.palette.warn),
            Span::styled(
                format!(
                    ", not {} (time travel covers overview, targets and the console)",
                    format_moment(t)
                ),
                ctx.palette.dim,
            ),
        ])),
        notice,
    );
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-01-02T03:04:05Z
    const NOW: i64 = 1_767_323_045_000;

    #[test]
    fn relative_moments() {
        assert_eq!(parse_at("2h ago", NOW), Ok(AtTarget::At(NOW - 7_200_000)));
        assert_eq!(
            parse_at(" 1h30m  ago ", NOW),
            Ok(AtTarget::At(NOW - 5_400_000))
        );
        assert_eq!(parse_at("-5m", NOW), Ok(AtTarget::At(NOW - 300_000)));
        assert_eq!(parse_at("now-1d", NOW), Ok(AtTarget::At(NOW - 86_400_000)));
        assert_eq!(parse_at("1m ago", NOW), Ok(AtTarget::At(NOW - 60_000)));
    }

    #[test]
    fn absolute_moments() {
        assert_eq!(
            parse_at("2026-01-01T10:00:00Z", NOW),
            Ok(AtTarget::At(1_767_261_600_000))
        );
        assert_eq!(
            parse_at("2026-01-01 11:00:00+01:00", NOW),
            Ok(AtTarget::At(1_767_261_600_000))
        );
        assert_eq!(
            parse_at("1765100000", NOW),
            Ok(AtTarget::At(1_765_100_000_000))
        );
        assert_eq!(
            parse_at("1765100000.5", NOW),
            Ok(AtTarget::At(1_765_100_000_500))
        );
    }

    #[test]
    fn now_returns_to_the_present() {
        assert_eq!(parse_at("now", NOW), Ok(AtTarget::Now));
        assert_eq!(parse_at("NOW", NOW), Ok(AtTarget::Now));
    }

    #[test]
    fn garbage_is_refused_with_the_reason() {
        assert_eq!(parse_at("  ", NOW), Err(AtError::Empty));
        let e = parse_at("yesterday", NOW).unwrap_err().to_string();
        assert!(
            e.contains("\"yesterday\"") && e.contains("not a time"),
            "{e}"
        );
        let e = parse_at("2x ago", NOW).unwrap_err().to_string();
        assert!(e.contains("\"2x\" is not a duration"), "{e}");
        let e = parse_at("ago", NOW).unwrap_err().to_string();
        assert!(e.contains("how long ago"), "{e}");
        let e = parse_at("1767323045000", NOW).unwrap_err().to_string();
        assert!(e.contains("milliseconds?"), "{e}");
        let e = parse_at("2027-01-01T00:00:00Z", NOW).unwrap_err();
        assert!(matches!(e, AtError::Future { .. }), "{e}");
        assert!(e.to_string().contains("in the future"), "{e}");
        let e = parse_at("1.2.3", NOW).unwrap_err().to_string();
        assert!(e.contains("unix seconds"), "{e}");
    }

    #[test]
    fn steps_scale_with_the_range_and_stop_at_the_present() {
        assert_eq!(step_ms(3_600_000), 360_000);
        assert_eq!(step_ms(86_400_000), 8_640_000);
        assert_eq!(step_ms(5_000), 1_000);
        assert_eq!(step(None, 60_000, false, NOW), Some(NOW - 60_000));
        assert_eq!(step(Some(NOW - 60_000), 60_000, true, NOW), None);
        assert_eq!(
            step(Some(NOW - 180_000), 60_000, true, NOW),
            Some(NOW - 120_000)
        );
    }

    #[test]
    fn moments_and_ages_are_printed_for_the_header() {
        assert_eq!(format_moment(NOW), "2026-01-02 03:04:05Z");
        assert_eq!(format_ago(NOW - 7_200_000, NOW), "2h ago");
        assert_eq!(format_ago(NOW - 97_380_000, NOW), "1d3h ago");
        assert_eq!(format_ago(NOW - 45_000, NOW), "45s ago");
        assert_eq!(format_ago(NOW - 3_780_500, NOW), "1h3m ago");
        assert_eq!(format_ago(NOW, NOW), "now");
    }
}
