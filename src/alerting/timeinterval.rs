//! Time intervals (`time_intervals:` and the older `mute_time_intervals:` of
//! alertmanager.yml, Alertmanager's `timeinterval` package): times of day, weekdays, days
//! of the month (negative counts from the month's end), months and years, each a list of
//! inclusive ranges (times: start inclusive, end exclusive), evaluated in `location`.
//!
//! Named zones are read from the system's IANA database (/usr/share/zoneinfo, TZif v1
//! data: transitions up to 2038; after the last one its offset holds).

use std::path::Path;

use chrono::{DateTime, Datelike, FixedOffset, TimeZone, Timelike, Utc};

/// One `time_intervals[].time_intervals[]` entry. Empty lists match everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimeInterval {
    /// Minutes of the day, `[start, end)`.
    pub times: Vec<(u32, u32)>,
    /// 0 = Sunday, inclusive ranges.
    pub weekdays: Vec<(u32, u32)>,
    /// Day of month, inclusive; negative counts back from the last day (-1).
    pub days_of_month: Vec<(i32, i32)>,
    /// 1 = January, inclusive.
    pub months: Vec<(u32, u32)>,
    pub years: Vec<(i32, i32)>,
    pub location: Location,
}

/// Where an interval's clock is read.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Location {
    #[default]
    Utc,
    /// A named zone: UTC offsets (seconds) in force from each transition (Unix seconds).
    Zone {
        name: String,
        transitions: Vec<(i64, i32)>,
        initial: i32,
    },
}

impl Location {
    /// Loads `name` (`UTC`, `Local`, or an IANA name such as `Europe/Berlin`).
    pub fn load(name: &str) -> Result<Location, String> {
        if name == "UTC" || name.is_empty() {
            return Ok(Location::Utc);
        }
        let file = if name == "Local" {
            std::path::PathBuf::from("/etc/localtime")
        } else {
            if name.contains("..") || name.starts_with('/') {
                return Err(format!("unknown time zone {name}"));
            }
            Path::new("/usr/share/zoneinfo").join(name)
        };
        let data = std::fs::read(&file).map_err(|_| format!("unknown time zone {name}"))?;
        let (transitions, initial) =
            parse_tzif(&data).ok_or_else(|| format!("unknown time zone {name}"))?;
        Ok(Location::Zone {
            name: name.to_string(),
            transitions,
            initial,
        })
    }

    fn offset_at(&self, unix: i64) -> i32 {
        match self {
            Location::Utc => 0,
            Location::Zone {
                transitions,
                initial,
                ..
            } => match transitions.partition_point(|(t, _)| *t <= unix) {
                0 => *initial,
                i => transitions[i - 1].1,
            },
        }
    }

    /// `t` as wall-clock time in this location.
    pub fn local(&self, t: DateTime<Utc>) -> DateTime<FixedOffset> {
        let off = FixedOffset::east_opt(self.offset_at(t.timestamp()))
            .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset is valid"));
        off.from_utc_datetime(&t.naive_utc())
    }
}

/// Reads the 32-bit section of a TZif file: transition times and the UTC offset of the
/// type each starts.
fn parse_tzif(d: &[u8]) -> Option<(Vec<(i64, i32)>, i32)> {
    if d.len() < 44 || &d[..4] != b"TZif" {
        return None;
    }
    let be32 =
        |o: usize| -> Option<i32> { Some(i32::from_be_bytes(d.get(o..o + 4)?.try_into().ok()?)) };
    let timecnt = be32(32)? as usize;
    let typecnt = be32(36)? as usize;
    let mut o = 44;
    let times: Vec<i64> = (0..timecnt)
        .map(|i| be32(o + 4 * i).map(i64::from))
        .collect::<Option<_>>()?;
    o += 4 * timecnt;
    let idx: Vec<usize> = d.get(o..o + timecnt)?.iter().map(|&b| b as usize).collect();
    o += timecnt;
    let offsets: Vec<i32> = (0..typecnt)
        .map(|i| be32(o + 6 * i))
        .collect::<Option<_>>()?;
    let transitions = times
        .into_iter()
        .zip(idx)
        .map(|(t, i)| offsets.get(i).map(|off| (t, *off)))
        .collect::<Option<Vec<_>>>()?;
    Some((transitions, *offsets.first()?))
}

impl TimeInterval {
    /// Whether `t` falls in this interval.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let l = self.location.local(t);
        if !self.times.is_empty() {
            let m = l.hour() * 60 + l.minute();
            if !self.times.iter().any(|(s, e)| m >= *s && m < *e) {
                return false;
            }
        }
        if !self.weekdays.is_empty() {
            let wd = l.weekday().num_days_from_sunday();
            if !self.weekdays.iter().any(|(s, e)| wd >= *s && wd <= *e) {
                return false;
            }
        }
        if !self.days_of_month.is_empty() {
            let days = days_in_month(l.year(), l.month()) as i32;
            let day = l.day() as i32;
            let ok = self.days_of_month.iter().any(|(s, e)| {
                let s = if *s < 0 { days + s + 1 } else { *s };
                let e = if *e < 0 { days + e + 1 } else { *e };
                day >= s && day <= e
            });
            if !ok {
                return false;
            }
        }
        if !self.months.is_empty() {
            let m = l.month();
            if !self.months.iter().any(|(s, e)| m >= *s && m <= *e) {
                return false;
            }
        }
        if !self.years.is_empty() {
            let y = l.year();
            if !self.years.iter().any(|(s, e)| y >= *s && y <= *e) {
                return false;
            }
        }
        true
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    chrono::NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day())
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn split_range(s: &str) -> (&str, &str) {
    match s.split_once(':') {
        Some((a, b)) => (a, b),
        None => (s, s),
    }
}

/// `HH:MM` to minutes of the day; `24:00` is allowed (as an end).
pub fn parse_time_of_day(s: &str) -> Result<u32, String> {
    let bad = || format!("couldn't parse timestamp {s}, invalid format");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if (h == 24 && m == 0) || (h < 24 && m < 60) {
        Ok(h * 60 + m)
    } else {
        Err(bad())
    }
}

/// `monday:friday` or `sunday`.
pub fn parse_weekday_range(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = split_range(s);
    let day = |x: &str| {
        WEEKDAYS
            .iter()
            .position(|d| *d == x.to_lowercase())
            .map(|p| p as u32)
            .ok_or_else(|| format!("{x} is not a valid weekday"))
    };
    let (a, b) = (day(a)?, day(b)?);
    if a > b {
        return Err(format!("start day cannot be before end day: {s}"));
    }
    Ok((a, b))
}

/// `1:5`, `-3:-1` or `15`.
pub fn parse_day_of_month_range(s: &str) -> Result<(i32, i32), String> {
    let (a, b) = split_range(s);
    let num = |x: &str| -> Result<i32, String> {
        let v: i32 = x
            .parse()
            .map_err(|_| format!("invalid days of month: {s}"))?;
        if v == 0 || !(-31..=31).contains(&v) {
            return Err(format!("{v} is not a valid day of the month: out of range"));
        }
        Ok(v)
    };
    let (a, b) = (num(a)?, num(b)?);
    if (a > 0 && b > 0 || a < 0 && b < 0) && a > b {
        return Err(format!(
            "end day must be greater than or equal to start day: {s}"
        ));
    }
    if a < 0 && b > 0 {
        return Err(format!(
            "end day must be negative if start day is negative: {s}"
        ));
    }
    Ok((a, b))
}

/// `january:march`, `1:3` or `may`.
pub fn parse_month_range(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = split_range(s);
    let month = |x: &str| -> Result<u32, String> {
        if let Ok(n) = x.parse::<u32>() {
            if (1..=12).contains(&n) {
                return Ok(n);
            }
            return Err(format!("{x} is not a valid month"));
        }
        MONTHS
            .iter()
            .position(|m| *m == x.to_lowercase())
            .map(|p| p as u32 + 1)
            .ok_or_else(|| format!("{x} is not a valid month"))
    };
    let (a, b) = (month(a)?, month(b)?);
    if a > b {
        return Err(format!("end month {b} is before start month {a}"));
    }
    Ok((a, b))
}

/// `2020:2022` or `2024`.
pub fn parse_year_range(s: &str) -> Result<(i32, i32), String> {
    let (a, b) = split_range(s);
    let y = |x: &str| x.parse::<i32>().map_err(|_| format!("invalid year: {x}"));
    let (a, b) = (y(a)?, y(b)?);
    if a > b {
        return Err(format!("end year {b} is before start year {a}"));
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn business_hours_in_utc() {
        let ti = TimeInterval {
            times: vec![(
                parse_time_of_day("09:00").unwrap(),
                parse_time_of_day("17:00").unwrap(),
            )],
            weekdays: vec![parse_weekday_range("monday:friday").unwrap()],
            ..Default::default()
        };
        assert!(ti.contains(at("2024-01-03T09:00:00Z"))); // Wednesday
        assert!(!ti.contains(at("2024-01-03T17:00:00Z")));
        assert!(!ti.contains(at("2024-01-06T10:00:00Z"))); // Saturday
    }

    #[test]
    fn negative_days_count_from_the_month_end() {
        let ti = TimeInterval {
            days_of_month: vec![parse_day_of_month_range("-1").unwrap()],
            months: vec![parse_month_range("february").unwrap()],
            years: vec![parse_year_range("2024").unwrap()],
            ..Default::default()
        };
        assert!(ti.contains(at("2024-02-29T12:00:00Z")));
        assert!(!ti.contains(at("2024-02-28T12:00:00Z")));
        assert!(!ti.contains(at("2025-02-28T12:00:00Z")));
    }

    #[test]
    fn named_zones_shift_the_clock() {
        let Ok(loc) = Location::load("Europe/Berlin") else {
            eprintln!("skipping: no /usr/share/zoneinfo");
            return;
        };
        let ti = TimeInterval {
            times: vec![(9 * 60, 10 * 60)],
            location: loc,
            ..Default::default()
        };
        // 08:30 UTC is 09:30 CET in winter, 10:30 CEST in summer.
        assert!(ti.contains(at("2024-01-10T08:30:00Z")));
        assert!(!ti.contains(at("2024-07-10T08:30:00Z")));
        assert!(Location::load("Nowhere/City").is_err());
    }

    #[test]
    fn bad_ranges_are_refused() {
        assert!(parse_time_of_day("25:00").is_err());
        assert!(parse_time_of_day("9:00").is_err());
        assert!(parse_weekday_range("friday:monday").is_err());
        assert!(parse_day_of_month_range("0").is_err());
        assert!(parse_month_range("smarch").is_err());
        assert_eq!(parse_month_range("3:5").unwrap(), (3, 5));
    }
}
