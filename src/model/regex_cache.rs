//! Compiled, fully anchored RE2 regexes shared by every query: label matchers and
//! `label_replace` compile the same few patterns again and again (a dashboard refreshing
//! its panels, rules evaluating every interval), and compiling costs tens of microseconds
//! where matching a label value costs tens of nanoseconds.
//!
//! Prometheus compiles per query (Go's compiler is cheaper); a small process-wide cache
//! keyed by pattern text is our equivalent. Bounded: when full it starts over.
//!
//! Go's RE2 has no practical limit on a compiled program's size, so neither may we keep the
//! `regex` crate's defaults (10 MiB program, 2 MiB lazy-DFA cache): a Grafana "All" over a
//! few thousand hosts exceeds them. The limits below still bound what one pattern can cost.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;

use super::regex::RegexError;

/// Patterns kept at most; plenty for any dashboard or rule set.
const CAPACITY: usize = 1024;

/// Largest compiled program (NFA and the engines built from it) one pattern may take.
pub const SIZE_LIMIT: usize = 256 << 20;

/// Largest lazy-DFA state cache per search thread; past it the DFA starts over or gives
/// way to the slower NFA simulation, so this bounds memory, not what matches.
pub const DFA_SIZE_LIMIT: usize = 32 << 20;

/// Compiles `^(?s:pattern)$` through the RE2 front end ([`super::regex`]) with
/// [`SIZE_LIMIT`] and [`DFA_SIZE_LIMIT`], bypassing the cache (for one-off compiles of
/// patterns too large to be worth keeping).
pub fn compile_anchored(pattern: &str) -> Result<Regex, RegexError> {
    super::regex::compile_anchored(pattern)
}

fn cache() -> &'static Mutex<HashMap<String, Regex>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// `^(?s:pattern)$` compiled, from the cache when seen before. Invalid patterns are not
/// cached; their error is returned each time.
pub fn anchored(pattern: &str) -> Result<Regex, RegexError> {
    if let Some(re) = cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(pattern)
    {
        return Ok(re.clone());
    }
    let re = compile_anchored(pattern)?;
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

    #[test]
    fn large_non_literal_alternations_compile() {
        // 30,000 alternatives with a class each: over the regex crate's default 10 MiB.
        let pat: Vec<String> = (0..30_000).map(|i| format!("host-{i:05}:[0-9]+")).collect();
        let re = compile_anchored(&pat.join("|")).unwrap();
        assert!(re.is_match("host-29999:9100"));
        assert!(!re.is_match("host-30000:9100"));
    }
}
