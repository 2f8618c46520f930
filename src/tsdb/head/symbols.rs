//! The head's symbol table: every label name and value string is stored once and referred to
//! by a `u32` id, so a series' label set costs 8 bytes a pair plus its share of the strings.
//!
//! Mirrors the role of Prometheus' string interning in `model/labels` (stringlabels) and the
//! head's symbol handling: ids are reference counted so that strings of garbage-collected
//! series are freed and their ids reused.

use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

/// Interned strings with reference counts.
#[derive(Default)]
pub struct SymbolTable {
    strings: Vec<Option<Box<str>>>,
    refs: Vec<u32>,
    free: Vec<u32>,
    table: HashTable<u32>,
    bytes: usize,
}

fn hash(s: &str) -> u64 {
    xxh3_64(s.as_bytes())
}

impl SymbolTable {
    pub fn new() -> Self {
        SymbolTable::default()
    }

    /// The id of `s` if it is interned.
    pub fn lookup(&self, s: &str) -> Option<u32> {
        let strings = &self.strings;
        self.table
            .find(hash(s), |&id| {
                strings[id as usize]
                    .as_deref()
                    .is_some_and(|have| have == s)
            })
            .copied()
    }

    /// Interns `s` and takes one reference on it.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(id) = self.lookup(s) {
            self.refs[id as usize] = self.refs[id as usize].saturating_add(1);
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.strings[id as usize] = Some(s.into());
                self.refs[id as usize] = 1;
                id
            }
            None => {
                let id = self.strings.len() as u32;
                self.strings.push(Some(s.into()));
                self.refs.push(1);
                id
            }
        };
        self.bytes += s.len();
        let strings = &self.strings;
        self.table.insert_unique(hash(s), id, |&other| {
            hash(strings[other as usize].as_deref().unwrap_or(""))
        });
        id
    }

    /// Drops one reference on `id`; the string is freed when none remain.
    pub fn release(&mut self, id: u32) {
        let Some(r) = self.refs.get_mut(id as usize) else {
            return;
        };
        if *r == 0 {
            return;
        }
        *r -= 1;
        if *r > 0 {
            return;
        }
        let Some(s) = self.strings[id as usize].take() else {
            return;
        };
        self.bytes -= s.len();
        if let Ok(entry) = self.table.find_entry(hash(&s), |&other| other == id) {
            entry.remove();
        }
        self.free.push(id);
    }

    /// The string for `id` (empty for an unknown id, which no caller produces).
    pub fn get(&self, id: u32) -> &str {
        self.strings
            .get(id as usize)
            .and_then(|s| s.as_deref())
            .unwrap_or("")
    }

    /// Number of live symbols.
    pub fn len(&self) -> usize {
        self.strings.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.bytes
            + self.strings.capacity() * std::mem::size_of::<Option<Box<str>>>()
            + self.refs.capacity() * 4
            + self.free.capacity() * 4
            + self.table.capacity() * 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intern_lookup_release_reuse() {
        let mut s = SymbolTable::new();
        let a = s.intern("job");
        let b = s.intern("node");
        assert_ne!(a, b);
        assert_eq!(s.intern("job"), a);
        assert_eq!(s.get(a), "job");
        assert_eq!(s.lookup("node"), Some(b));
        assert_eq!(s.len(), 2);
        s.release(a);
        assert_eq!(s.lookup("job"), Some(a), "still one reference");
        s.release(a);
        assert_eq!(s.lookup("job"), None);
        assert_eq!(s.len(), 1);
        let c = s.intern("other");
        assert_eq!(c, a, "freed id is reused");
        assert_eq!(s.get(c), "other");
        assert_eq!(s.lookup("node"), Some(b));
        // Releasing an unknown or already free id is harmless.
        s.release(999);
        s.release(b);
        s.release(b);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn many_symbols() {
        let mut s = SymbolTable::new();
        let ids: Vec<u32> = (0..10_000).map(|i| s.intern(&format!("v{i}"))).collect();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(s.get(*id), format!("v{i}"));
            assert_eq!(s.lookup(&format!("v{i}")), Some(*id));
        }
        for id in &ids[..5000] {
            s.release(*id);
        }
        assert_eq!(s.len(), 5000);
        assert_eq!(s.lookup("v10"), None);
        assert_eq!(s.lookup("v9999"), Some(ids[9999]));
    }
}
