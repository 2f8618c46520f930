//! The head's inverted index: for every label pair the sorted list of series refs that carry
//! it ("postings"), plus the list of all series, and the set algebra that turns a list of
//! matchers into the refs they select.
//!
//! Mirrors Prometheus `tsdb/index/postings.go` (`MemPostings`, `Intersect`, `Merge`,
//! `Without`) and `tsdb/querier.go` `PostingsForMatchers`, including its handling of
//! matchers that match the empty string: those also select series lacking the label, so
//! they are applied by subtracting the series whose value does *not* match.

use std::collections::HashSet;

use hashbrown::HashMap;

use super::symbols::SymbolTable;
use super::MixState;
use crate::model::{MatchOp, Matcher};

/// Postings keyed by symbol ids (label name id → value id → sorted refs).
#[derive(Default)]
pub struct MemPostings {
    m: HashMap<u32, HashMap<u32, Vec<u64>, MixState>, MixState>,
    all: Vec<u64>,
}

/// Inserts `r` into a sorted list; refs mostly arrive in increasing order, so this scans from
/// the end.
fn insert_sorted(list: &mut Vec<u64>, r: u64) {
    let mut i = list.len();
    while i > 0 && list[i - 1] > r {
        i -= 1;
    }
    if i > 0 && list[i - 1] == r {
        return;
    }
    // Grow by a quarter rather than doubling: every series sits in one list per label
    // pair, and doubling left about a third of those lists' memory unused.
    if list.len() == list.capacity() {
        list.reserve_exact((list.len() / 4).max(4));
    }
    list.insert(i, r);
}

impl MemPostings {
    pub fn new() -> Self {
        MemPostings::default()
    }

    /// Adds series `r` with its (name id, value id) pairs.
    pub fn add(&mut self, r: u64, labels: &[[u32; 2]]) {
        for &[n, v] in labels {
            insert_sorted(self.m.entry(n).or_default().entry(v).or_default(), r);
        }
        insert_sorted(&mut self.all, r);
    }

    /// Removes the `deleted` refs; `affected` lists the label pairs they carried.
    pub fn delete(&mut self, deleted: &HashSet<u64>, affected: &HashSet<[u32; 2]>) {
        for &[n, v] in affected {
            let Some(values) = self.m.get_mut(&n) else {
                continue;
            };
            if let Some(list) = values.get_mut(&v) {
                list.retain(|r| !deleted.contains(r));
                if list.is_empty() {
                    values.remove(&v);
                } else {
                    list.shrink_to_fit();
                }
            }
            if values.is_empty() {
                self.m.remove(&n);
            }
        }
        self.all.retain(|r| !deleted.contains(r));
    }

    /// Refs carrying the pair, empty when none.
    pub fn get(&self, name: u32, value: u32) -> &[u64] {
        self.m
            .get(&name)
            .and_then(|vs| vs.get(&value))
            .map_or(&[], Vec::as_slice)
    }

    /// All refs, sorted.
    pub fn all(&self) -> &[u64] {
        &self.all
    }

    /// Label name ids present.
    pub fn names(&self) -> impl Iterator<Item = u32> + '_ {
        self.m.keys().copied()
    }

    /// Value ids present for a name id.
    pub fn values(&self, name: u32) -> impl Iterator<Item = (u32, &[u64])> + '_ {
        self.m
            .get(&name)
            .into_iter()
            .flat_map(|vs| vs.iter().map(|(v, l)| (*v, l.as_slice())))
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        let mut b = self.all.capacity() * 8 + self.m.capacity() * 40;
        for vs in self.m.values() {
            b += vs.capacity() * 32;
            b += vs.values().map(|l| l.capacity() * 8).sum::<usize>();
        }
        b
    }
}

/// Union of sorted lists, sorted and duplicate-free.
pub fn merge(mut lists: Vec<&[u64]>) -> Vec<u64> {
    match lists.len() {
        0 => Vec::new(),
        1 => lists[0].to_vec(),
        _ => {
            lists.sort_by_key(|l| std::cmp::Reverse(l.len()));
            let mut out: Vec<u64> = Vec::with_capacity(lists.iter().map(|l| l.len()).sum());
            for l in lists {
                out.extend_from_slice(l);
            }
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

/// Intersection of sorted lists.
pub fn intersect(mut lists: Vec<Vec<u64>>) -> Vec<u64> {
    if lists.is_empty() {
        return Vec::new();
    }
    lists.sort_by_key(Vec::len);
    let mut it = lists.into_iter();
    let mut acc = it.next().unwrap_or_default();
    for other in it {
        let mut lo = 0;
        acc.retain(|r| match other[lo..].binary_search(r) {
            Ok(i) => {
                lo += i + 1;
                true
            }
            Err(i) => {
                lo += i;
                false
            }
        });
        if acc.is_empty() {
            break;
        }
    }
    acc
}

/// `a` minus `b`, both sorted.
pub fn without(a: Vec<u64>, b: &[u64]) -> Vec<u64> {
    if b.is_empty() {
        return a;
    }
    let mut j = 0;
    let mut a = a;
    a.retain(|r| {
        while j < b.len() && b[j] < *r {
            j += 1;
        }
        !(j < b.len() && b[j] == *r)
    });
    a
}

/// Refs of series whose value for `name` satisfies `pred` (series lacking the label are never
/// included).
fn postings_where(
    p: &MemPostings,
    syms: &SymbolTable,
    name: &str,
    pred: impl Fn(&str) -> bool,
) -> Vec<u64> {
    let Some(n) = syms.lookup(name) else {
        return Vec::new();
    };
    let lists: Vec<&[u64]> = p
        .values(n)
        .filter(|(v, _)| pred(syms.get(*v)))
        .map(|(_, l)| l)
        .collect();
    merge(lists)
}

/// Refs of series whose value matches `m` (direct lookups for `=` and literal alternations).
fn postings_for_matcher(p: &MemPostings, syms: &SymbolTable, m: &Matcher) -> Vec<u64> {
    let Some(n) = syms.lookup(&m.name) else {
        return Vec::new();
    };
    let exact: Option<Vec<&str>> = match m.op {
        MatchOp::Equal => Some(vec![m.value.as_str()]),
        MatchOp::RegexMatch => m
            .set_matches()
            .map(|s| s.iter().map(String::as_str).collect()),
        _ => None,
    };
    match exact {
        Some(values) => merge(
            values
                .into_iter()
                .filter_map(|v| syms.lookup(v))
                .map(|v| p.get(n, v))
                .collect(),
        ),
        None => postings_where(p, syms, &m.name, |v| m.matches(v)),
    }
}

/// The sorted refs of series matching all `ms`, with Prometheus' semantics: a matcher that
/// matches `""` also selects series without the label. With no matchers, all series.
pub fn postings_for_matchers(p: &MemPostings, syms: &SymbolTable, ms: &[Matcher]) -> Vec<u64> {
    if ms.is_empty() {
        return p.all().to_vec();
    }
    let must_be_set: HashSet<&str> = ms
        .iter()
        .filter(|m| !m.matches_empty())
        .map(|m| m.name.as_str())
        .collect();
    let is_not = |m: &Matcher| matches!(m.op, MatchOp::NotEqual | MatchOp::RegexNoMatch);
    let is_subtracting =
        |m: &Matcher| !must_be_set.contains(m.name.as_str()) || (is_not(m) && m.matches_empty());
    let has_subtracting = ms.iter().any(is_subtracting);
    let has_intersecting = ms.iter().any(|m| !is_subtracting(m));

    let mut its: Vec<Vec<u64>> = Vec::new();
    let mut not_its: Vec<Vec<u64>> = Vec::new();
    if has_subtracting && !has_intersecting {
        its.push(p.all().to_vec());
    }
    for m in ms {
        let matches_empty = m.matches_empty();
        if must_be_set.contains(m.name.as_str()) {
            if is_not(m) && matches_empty {
                // l!="foo": drop series whose value is "foo".
                not_its.push(postings_where(p, syms, &m.name, |v| !m.matches(v)));
            } else {
                // l="foo", l=~"a|b", l!="" : series with a matching (non-empty) value.
                let it = postings_for_matcher(p, syms, m);
                if it.is_empty() {
                    return Vec::new();
                }
                its.push(it);
            }
        } else {
            // l="" or l=~"|a": selects series lacking l as well, so drop those whose value
            // does not match.
            not_its.push(postings_where(p, syms, &m.name, |v| !m.matches(v)));
        }
    }
    let mut out = intersect(its);
    for n in &not_its {
        if out.is_empty() {
            break;
        }
        out = without(out, n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_algebra() {
        assert_eq!(
            merge(vec![&[1, 3, 5], &[2, 3, 6], &[]]),
            vec![1, 2, 3, 5, 6]
        );
        assert_eq!(
            intersect(vec![vec![1, 2, 3, 4, 9], vec![2, 4, 9, 10], vec![0, 2, 9]]),
            vec![2, 9]
        );
        assert_eq!(intersect(vec![vec![1, 2], vec![]]), Vec::<u64>::new());
        assert_eq!(without(vec![1, 2, 3, 4, 5], &[0, 2, 5, 7]), vec![1, 3, 4]);
        let mut l = vec![1, 5, 9];
        insert_sorted(&mut l, 7);
        insert_sorted(&mut l, 0);
        insert_sorted(&mut l, 10);
        insert_sorted(&mut l, 5);
        assert_eq!(l, vec![0, 1, 5, 7, 9, 10]);
    }

    #[test]
    fn lists_grow_by_quarters() {
        let mut p = MemPostings::new();
        for r in 1..=10_000u64 {
            p.add(r, &[[1, 2], [3, (r % 7) as u32]]);
            for list in [p.get(1, 2), p.all()] {
                assert_eq!(list.len() as u64, r);
            }
        }
        let cap = p.m[&1][&2].capacity();
        assert!(cap <= 10_000 + 10_000 / 4 + 4, "10000 refs held in {cap}");
        assert_eq!(p.get(3, 0).len(), 10_000 / 7);
    }

    #[test]
    fn add_and_delete() {
        let mut p = MemPostings::new();
        p.add(3, &[[0, 1], [2, 3]]);
        p.add(1, &[[0, 1]]);
        p.add(2, &[[0, 4]]);
        assert_eq!(p.get(0, 1), &[1, 3]);
        assert_eq!(p.all(), &[1, 2, 3]);
        let deleted: HashSet<u64> = [3].into_iter().collect();
        let affected: HashSet<[u32; 2]> = [[0, 1], [2, 3]].into_iter().collect();
        p.delete(&deleted, &affected);
        assert_eq!(p.get(0, 1), &[1]);
        assert!(p.get(2, 3).is_empty());
        assert_eq!(p.names().count(), 1);
        assert_eq!(p.all(), &[1, 2]);
    }
}
