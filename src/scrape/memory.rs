//! An in-memory [`Appendable`] that records committed samples: the storage the scrape
//! tests (unit and end-to-end) run against, and a stand-in wherever a sink without a TSDB
//! is wanted.
//!
//! Its appenders behave like the TSDB head's in the ways the scrape engine depends on:
//! nothing is visible before `commit`, `rollback` discards the batch, a sample older than
//! the series' last committed (or batched) sample is `OutOfOrder`, and one at the same
//! timestamp with different value bits is `DuplicateSampleForTimestamp` (identical bits are
//! accepted and ignored).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::model::{Labels, Sample};
use crate::storage::{AppendError, Appendable, Appender};

#[derive(Debug, Default)]
struct Store {
    series: HashMap<Labels, Vec<Sample>>,
    commits: u64,
    rollbacks: u64,
}

/// See the module docs. Clones share the same store.
#[derive(Debug, Clone, Default)]
pub struct MemoryAppendable {
    store: Arc<Mutex<Store>>,
}

impl MemoryAppendable {
    /// An empty store.
    pub fn new() -> Self {
        MemoryAppendable::default()
    }

    /// Committed samples of the series with exactly these labels.
    pub fn samples(&self, labels: &Labels) -> Vec<Sample> {
        self.store
            .lock()
            .series
            .get(labels)
            .cloned()
            .unwrap_or_default()
    }

    /// Every series with its committed samples, sorted by labels.
    pub fn all(&self) -> Vec<(Labels, Vec<Sample>)> {
        let mut v: Vec<_> = self
            .store
            .lock()
            .series
            .iter()
            .map(|(l, s)| (l.clone(), s.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Series whose labels include every `(name, value)` pair given.
    pub fn find(&self, pairs: &[(&str, &str)]) -> Vec<(Labels, Vec<Sample>)> {
        self.all()
            .into_iter()
            .filter(|(l, _)| pairs.iter().all(|(n, v)| l.get(n) == Some(*v)))
            .collect()
    }

    /// Successful commits so far.
    pub fn commits(&self) -> u64 {
        self.store.lock().commits
    }

    /// Rollbacks so far.
    pub fn rollbacks(&self) -> u64 {
        self.store.lock().rollbacks
    }
}

struct MemoryAppender {
    store: Arc<Mutex<Store>>,
    batch: Vec<(Labels, Sample)>,
    last_in_batch: HashMap<Labels, Sample>,
}

impl Appendable for MemoryAppendable {
    fn appender(&self) -> Box<dyn Appender + Send> {
        Box::new(MemoryAppender {
            store: Arc::clone(&self.store),
            batch: Vec::new(),
            last_in_batch: HashMap::new(),
        })
    }
}

impl Appender for MemoryAppender {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        let last = match self.last_in_batch.get(labels) {
            Some(s) => Some(*s),
            None => self
                .store
                .lock()
                .series
                .get(labels)
                .and_then(|s| s.last().copied()),
        };
        if let Some(last) = last {
            if t < last.t {
                return Err(AppendError::OutOfOrder { t, last: last.t });
            }
            if t == last.t {
                if v.to_bits() == last.v.to_bits() {
                    return Ok(());
                }
                return Err(AppendError::DuplicateSampleForTimestamp { t });
            }
        }
        let s = Sample::new(t, v);
        self.last_in_batch.insert(labels.clone(), s);
        self.batch.push((labels.clone(), s));
        Ok(())
    }

    fn commit(&mut self) -> Result<(), AppendError> {
        let mut st = self.store.lock();
        for (l, s) in self.batch.drain(..) {
            let series = st.series.entry(l).or_default();
            // Another appender may have committed newer samples meanwhile.
            if series.last().is_none_or(|last| last.t < s.t) {
                series.push(s);
            }
        }
        st.commits += 1;
        self.last_in_batch.clear();
        Ok(())
    }

    fn rollback(&mut self) {
        self.batch.clear();
        self.last_in_batch.clear();
        self.store.lock().rollbacks += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_rollback_and_ordering() {
        let m = MemoryAppendable::new();
        let l = Labels::from_pairs(&[("__name__", "a")]);
        let mut app = m.appender();
        app.append(&l, 10, 1.0).unwrap();
        assert!(m.samples(&l).is_empty(), "invisible before commit");
        app.commit().unwrap();
        assert_eq!(m.samples(&l), vec![Sample::new(10, 1.0)]);
        let mut app = m.appender();
        assert!(matches!(
            app.append(&l, 5, 1.0),
            Err(AppendError::OutOfOrder { .. })
        ));
        assert!(app.append(&l, 10, 1.0).is_ok());
        assert!(matches!(
            app.append(&l, 10, 2.0),
            Err(AppendError::DuplicateSampleForTimestamp { .. })
        ));
        app.append(&l, 20, 2.0).unwrap();
        app.rollback();
        assert_eq!(m.samples(&l).len(), 1);
        assert_eq!((m.commits(), m.rollbacks()), (1, 1));
    }
}
