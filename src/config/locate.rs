//! Finds the line and column of a node in a YAML document, given its path
//! (`scrape_configs[1].scrape_timeout`), so that semantic validation errors found after
//! parsing can point into the file just like syntax errors do.
//!
//! It re-reads the document with serde_yaml, walking only along the path, and makes the
//! target node fail to deserialise: serde_yaml stamps that error with the node's position.
//! Only run on the error and warning paths, never when a valid file loads.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step of a path into the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path into the document, printed the way serde_yaml prints paths
/// (`scrape_configs[0].relabel_configs[2]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct YamlPath(pub Vec<Seg>);

impl YamlPath {
    /// The document root.
    pub fn root() -> Self {
        YamlPath(Vec::new())
    }

    /// This path extended by a key.
    pub fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        YamlPath(v)
    }

    /// This path extended by an index.
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        YamlPath(v)
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(".");
        }
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// Position of the node at `path`: for a path ending in a key, the key itself; for one
/// ending in an index, the start of that item. When the path does not exist (a default
/// was used), the nearest existing ancestor.
pub fn locate(text: &str, path: &YamlPath) -> Option<Pos> {
    for len in (0..=path.0.len()).rev() {
        let prefix = &path.0[..len];
        if prefix.is_empty() {
            return Some(Pos { line: 1, column: 1 });
        }
        if let Some(p) = walk_to(text, prefix, false) {
            return Some(p);
        }
    }
    None
}

/// Position of the value at `path` (for a path ending in a key, the value after it, where
/// Go's yaml.v3 places a node: the first character of a scalar, quote or block indicator
/// included), or `None` when the path does not exist. No ancestor fallback.
pub fn locate_value(text: &str, path: &YamlPath) -> Option<Pos> {
    if path.0.is_empty() {
        return Some(Pos { line: 1, column: 1 });
    }
    walk_to(text, &path.0, true)
}

fn walk_to(text: &str, path: &[Seg], value: bool) -> Option<Pos> {
    let de = serde_yaml::Deserializer::from_str(text);
    let loc = (Walk { path, value }).deserialize(de).err()?.location()?;
    Some(Pos {
        line: loc.line(),
        column: loc.column(),
    })
}

/// Descends along `path`; fails (on purpose) at the target node: at the last key itself,
/// or with `value`, at the node that key maps to.
struct Walk<'p> {
    path: &'p [Seg],
    value: bool,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.path.split_first() {
            None => d.deserialize_any(Here),
            Some((seg, rest)) => d.deserialize_any(Step {
                seg,
                rest,
                value: self.value,
            }),
        }
    }
}

/// Fails on whatever node it is asked to read.
struct Here;

impl Visitor<'_> for Here {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("nothing (locating a node)")
    }
}

/// One step of the walk: finds the key or index in the current node.
struct Step<'p> {
    seg: &'p Seg,
    rest: &'p [Seg],
    value: bool,
}

/// Returns Ok (not found) for any node that is not the collection the step needs.
macro_rules! not_found_for_scalars {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_none<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
    };
}

impl<'de> Visitor<'de> for Step<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }
    not_found_for_scalars!();

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Seg::Key(want) = self.seg else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let last = self.rest.is_empty() && !self.value;
        while let Some(hit) = map.next_key_seed(KeyProbe { want, last })? {
            if hit {
                map.next_value_seed(Walk {
                    path: self.rest,
                    value: self.value,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Seg::Index(want) = *self.seg else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut i = 0;
        loop {
            if i == want {
                if seq
                    .next_element_seed(Walk {
                        path: self.rest,
                        value: self.value,
                    })?
                    .is_none()
                {
                    return Ok(());
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
}

/// Reads a key: true if it is the wanted one; fails at the key when it is the target.
struct KeyProbe<'p> {
    want: &'p str,
    last: bool,
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl Visitor<'_> for KeyProbe<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<bool, E> {
        if s != self.want {
            return Ok(false);
        }
        if self.last {
            return Err(E::custom("located"));
        }
        Ok(true)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.visit_str(if v { "true" } else { "false" })
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [x]\n  - job_name: b\n    scrape_timeout: 1m\n";

    fn at(path: YamlPath) -> (usize, usize) {
        let p = locate(DOC, &path).unwrap();
        (p.line, p.column)
    }

    #[test]
    fn finds_keys_and_items() {
        let sc = YamlPath::root().key("scrape_configs");
        assert_eq!(
            at(YamlPath::root().key("global").key("scrape_interval")),
            (2, 3)
        );
        assert_eq!(at(sc.index(1).key("scrape_timeout")), (8, 5));
        assert_eq!(at(sc.index(1).key("job_name")), (7, 5));
        assert_eq!(at(sc.index(0)), (4, 5));
        assert_eq!(
            at(sc.index(0).key("static_configs").index(0).key("targets")),
            (6, 9)
        );
        assert_eq!(
            sc.index(1).key("scrape_timeout").to_string(),
            "scrape_configs[1].scrape_timeout"
        );
    }

    #[test]
    fn finds_values_where_go_yaml_puts_them() {
        let doc = "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: 'test +'\n      - alert: y\n        expr: |\n          up\n        for:\n          5m\n";
        let r = YamlPath::root().key("groups").index(0).key("rules");
        let at = |p: YamlPath| locate_value(doc, &p).map(|p| (p.line, p.column));
        assert_eq!(at(r.index(0).key("record")), Some((4, 17)));
        assert_eq!(at(r.index(0).key("expr")), Some((5, 15)));
        assert_eq!(at(r.index(1).key("expr")), Some((7, 15)));
        assert_eq!(at(r.index(1).key("for")), Some((10, 11)));
        assert_eq!(at(YamlPath::root().key("groups").index(0)), Some((2, 5)));
        assert_eq!(at(r.index(1).key("record")), None);
        assert_eq!(at(r.index(5)), None);
    }

    #[test]
    fn falls_back_to_nearest_ancestor() {
        let sc = YamlPath::root().key("scrape_configs");
        assert_eq!(at(sc.index(0).key("scrape_timeout")), (4, 5));
        assert_eq!(at(sc.index(7)), (3, 1));
        assert_eq!(at(YamlPath::root().key("nope")), (1, 1));
    }
}
