//! Value types of the configuration file: Prometheus durations (`30s`, `1h30m`), byte
//! sizes as Go's `units.Base2Bytes` reads them (`10MB`, `512KiB`, `KB` meaning 1024),
//! secrets that never print, and label sets whose names are checked while parsing.
//!
//! Each type reports a bad value from inside the YAML scalar's own deserialisation, so the
//! error carries the line and column of that value.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

use crate::model::labels::Labels;
use crate::model::relabel::{visit_scalars_as_str, LabelName};
use crate::model::time::{format_duration, parse_duration};

/// A Prometheus duration in milliseconds. Zero means "unset" in the places where
/// upstream inherits a value (scrape interval and timeout, evaluation interval).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub i64);

impl Duration {
    /// From seconds.
    pub const fn from_secs(s: i64) -> Self {
        Duration(s * 1000)
    }

    /// From milliseconds.
    pub const fn from_millis(ms: i64) -> Self {
        Duration(ms)
    }

    /// Milliseconds.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// True for the zero ("unset") duration.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// As a `std::time::Duration` (negative values clamp to zero).
    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(u64::try_from(self.0).unwrap_or(0))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s or 1h30m")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
                parse_duration(s).map(Duration).map_err(E::custom)
            }
            visit_scalars_as_str!();
        }
        d.deserialize_str(V)
    }
}

/// A size in bytes, written like Go's `units.Base2Bytes`: a sequence of
/// `<number><unit>` (`1.5GB`, `1GB512MB`), units `B`, `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`,
/// `TB`/`TiB`, `PB`/`PiB`, `EB`/`EiB`, all powers of 1024; `0` alone is zero. Zero means
/// "no limit" / "inherit".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// Parses a size the way `units.ParseBase2Bytes` does.
    pub fn parse(s: &str) -> Result<ByteSize, String> {
        let invalid = || format!("units: invalid {s}");
        if s == "0" {
            return Ok(ByteSize(0));
        }
        if s.is_empty() {
            return Err(invalid());
        }
        let mut rest = s;
        let mut total = 0f64;
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let (num, after) = rest.split_at(num_end);
            let mut parts = num.splitn(2, '.');
            let int = parts.next().unwrap_or("");
            let frac = parts.next();
            if int.is_empty() && frac.is_none_or(str::is_empty) {
                return Err(invalid());
            }
            if frac.is_some_and(|f| f.contains('.')) {
                return Err(invalid());
            }
            let value: f64 = format!(
                "{}.{}",
                if int.is_empty() { "0" } else { int },
                frac.unwrap_or("0")
            )
            .parse()
            .map_err(|_| invalid())?;
            let unit_end = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (unit, next) = after.split_at(unit_end);
            let scale =
                unit_scale(unit).ok_or_else(|| format!("units: unknown unit {unit} in {s}"))?;
            total += value * scale;
            rest = next;
        }
        if !(0.0..=u64::MAX as f64).contains(&total) {
            return Err("units: overflow parsing unit".to_string());
        }
        Ok(ByteSize(total as u64))
    }
}

/// Multiplier for a `units.Base2Bytes` unit; both `KiB` and the older `KB` mean 1024.
fn unit_scale(unit: &str) -> Option<f64> {
    let prefixes = ["K", "M", "G", "T", "P", "E"];
    if unit == "B" {
        return Some(1.0);
    }
    let (p, suffix) = unit.split_at(unit.len().min(1));
    if suffix != "B" && suffix != "iB" {
        return None;
    }
    let i = prefixes.iter().position(|x| *x == p)?;
    Some(1024f64.powi(i as i32 + 1))
}

impl fmt::Display for ByteSize {
    /// Largest exact binary unit, e.g. `10MiB`, `1536B`... printed with upstream's `KB`
    /// style (`10MB`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = ["EB", "PB", "TB", "GB", "MB", "KB"];
        if self.0 == 0 {
            return f.write_str("0B");
        }
        for (i, u) in units.iter().enumerate() {
            let scale = 1u64 << (10 * (6 - i));
            if self.0.is_multiple_of(scale) {
                return write!(f, "{}{u}", self.0 / scale);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as 10MB")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ByteSize, E> {
                ByteSize::parse(s).map_err(E::custom)
            }
            visit_scalars_as_str!();
        }
        d.deserialize_str(V)
    }
}

/// A credential (password, token, key) read from the configuration; `Debug` and
/// `Display` print `<secret>` so it never lands in a log.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    /// The secret value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        StrValue::deserialize(d).map(|v| Secret(v.0))
    }
}

/// A string that YAML may have typed as a number or boolean (`port: 9090`), read as text
/// the way Go's YAML decoder fills a string.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StrValue(pub String);

impl<'de> Deserialize<'de> for StrValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StrValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<StrValue, E> {
                Ok(StrValue(s.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<StrValue, E> {
                Ok(StrValue(String::new()))
            }
            visit_scalars_as_str!();
        }
        d.deserialize_str(V)
    }
}

/// A label set from the configuration (`labels:`, `external_labels:`): names checked as
/// legacy label names while parsing, kept in name order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSet(pub BTreeMap<String, String>);

impl LabelSet {
    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// As a model label set (empty values dropped, as everywhere in Prometheus).
    pub fn to_labels(&self) -> Labels {
        Labels::from_pairs(&self.0.iter().collect::<Vec<_>>())
    }

    /// Value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl<'de> Deserialize<'de> for LabelSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: Option<BTreeMap<LabelName, StrValue>> = Option::deserialize(d)?;
        Ok(LabelSet(
            raw.unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.0, v.0))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_like_base2bytes() {
        assert_eq!(ByteSize::parse("0"), Ok(ByteSize(0)));
        assert_eq!(ByteSize::parse("10MB"), Ok(ByteSize(10 << 20)));
        assert_eq!(ByteSize::parse("10MiB"), Ok(ByteSize(10 << 20)));
        assert_eq!(ByteSize::parse("1KB"), Ok(ByteSize(1024)));
        assert_eq!(ByteSize::parse("100B"), Ok(ByteSize(100)));
        assert_eq!(ByteSize::parse("1.5KB"), Ok(ByteSize(1536)));
        assert_eq!(
            ByteSize::parse("1GB512MB"),
            Ok(ByteSize((1 << 30) + (512 << 20)))
        );
        assert_eq!(ByteSize::parse("2EB"), Ok(ByteSize(2 << 60)));
        assert_eq!(ByteSize::parse(".5KB"), Ok(ByteSize(512)));
        assert_eq!(
            ByteSize::parse("1000"),
            Err("units: unknown unit  in 1000".to_string())
        );
        assert_eq!(
            ByteSize::parse("10mb"),
            Err("units: unknown unit mb in 10mb".to_string())
        );
        assert_eq!(ByteSize::parse("MB"), Err("units: invalid MB".to_string()));
        assert_eq!(ByteSize::parse(""), Err("units: invalid ".to_string()));
        assert!(ByteSize::parse("-1KB").is_err());
        assert!(ByteSize::parse("1.2.3KB").is_err());
        assert!(ByteSize::parse("99999999EB").is_err());
        assert_eq!(ByteSize(10 << 20).to_string(), "10MB");
        assert_eq!(ByteSize(1500).to_string(), "1500B");
    }

    #[test]
    fn durations_from_yaml() {
        let d: Duration = serde_yaml::from_str("1m30s").unwrap();
        assert_eq!(d, Duration::from_secs(90));
        assert_eq!(d.to_string(), "1m30s");
        let d: Duration = serde_yaml::from_str("0").unwrap();
        assert!(d.is_zero());
        let e = serde_yaml::from_str::<Duration>("15").unwrap_err();
        assert!(
            e.to_string()
                .contains("not a valid duration string: \"15\""),
            "{e}"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s: Secret = serde_yaml::from_str("hunter2").unwrap();
        assert_eq!(format!("{s:?} {s}"), "<secret> <secret>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn label_sets_check_names_and_accept_scalars() {
        let l: LabelSet = serde_yaml::from_str("{b: 1, a: true, c: x}").unwrap();
        assert_eq!(l.get("a"), Some("true"));
        assert_eq!(l.to_labels().to_string(), r#"{a="true", b="1", c="x"}"#);
        let e = serde_yaml::from_str::<LabelSet>("{a: 1, 0bad: x}").unwrap_err();
        assert!(
            e.to_string().contains("\"0bad\" is not a valid label name"),
            "{e}"
        );
        assert_eq!(e.location().map(|l| (l.line(), l.column())), Some((1, 8)));
    }
}

/// Serialized as written in configuration files (`15s`, `10MB`), so a rendered config
/// loads back to the same values; secrets as `<secret>`, as Prometheus shows them.
macro_rules! serialize_as_display {
    ($($t:ty),*) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_as_display!(Duration, ByteSize, Secret);

impl serde::Serialize for StrValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl serde::Serialize for LabelSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}
