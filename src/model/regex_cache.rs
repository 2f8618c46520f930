//! Compiled, fully anchored RE2 regexes shared by every query: label matchers and
//! `label_replace` compile the same few patterns again and again (a dashboard refreshing
//! its panels, rules evaluating every interval), and compiling costs tens of microseconds
//! where matching a label value costs tens of nanoseconds.
//!
//! Prometheus compiles per query (Go's compiler is cheaper); a small process-wide cache
//! keyed by pattern text is our equivalent. Bounded: when full it starts over.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;

/// Patterns kept at most; plenty for any dashboard or rule set, a few MiB at worst.
const CAPACITY: usize = 1024;

fn cache() -> &'static Mutex<HashMap<String, Regex>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// `^(?s:pattern)$` compiled, from the cache when seen before. Invalid patterns are not
/// cached; their error is returned each time.
pub fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    if let Some(re) = cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(pattern)
    {
        return Ok(re.clone());
    }
    let re = Regex::new(&format!("^(?s:{pattern})$"))?;
    let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
    if c.len() >= CAPACITY {
        c.clear();
    }
    c.insert(pattern.to_string(), re.clone());
    Ok(re)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_and_reuses() {
        let a = anchored("fo+").unwrap();
        assert!(a.is_match("foo"));
        assert!(!a.is_match("xfoo"));
        assert!(anchored("a.b").unwrap().is_match("a\nb"));
        let b = anchored("fo+").unwrap();
        assert_eq!(a.as_str(), b.as_str());
        assert!(anchored("(").is_err());
        assert!(anchored("(").is_err());
    }

    #[test]
    fn stays_bounded() {
        for i in 0..CAPACITY + 10 {
            anchored(&format!("p{i}")).unwrap();
        }
        assert!(cache().lock().unwrap().len() <= CAPACITY);
    }
}
