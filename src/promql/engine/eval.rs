//! The tree walker: evaluates every node for all steps of the query at once.
//!
//! Mirrors upstream `promql/engine.go` (`evaluator.eval`, `vectorSelectorSingle`,
//! `matrixIterSlice`, the subquery case with its step alignment, `cleanupMetricLabels`).
//! Instant-vector results are [`Matrix`] values whose points sit exactly on the step
//! timestamps `start + k*interval`; scalars are one float per step. An instant query is a
//! range query with one step (interval 1ms, as upstream).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::time::Instant;

use crate::model::{is_stale_nan, Labels, Matcher, METRIC_NAME};
use crate::storage::Queryable;

use super::super::ast::{
    AtModifier, Duration, Expr, MatrixSelector, SubqueryExpr, UnaryOp, VectorSelector,
};
use super::binary::SigHasher;
use super::functions::extended::{extend_floats, interpolate};
use super::value::{FPoint, Matrix, Sample, Series, Value};
use super::{aggregations, binary, functions, Annotations, CancelToken, EvalError};

/// Largest absolute timestamp or duration (ms) the evaluator accepts, so that sums of a
/// few of them (time - offset - range - lookback) cannot overflow i64.
pub(crate) const TIME_LIMIT: i64 = 1 << 60;

/// A series and, per reference time, the timestamp of the sample picked there.
pub(crate) type PickedSeries = (Labels, Vec<Option<i64>>);

thread_local! {
    /// The per-step sample counts of one series' windows, reused across series.
    static SCRATCH_COUNTS: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// Series decoded per batch by [`Evaluator::select`].
const DECODE_BATCH: usize = 1024;

/// Fewest series worth a second decoding thread.
const PARALLEL_DECODE_MIN: usize = 256;

/// Series decoded first when reading in batches; the rest of the batch is sized from the
/// samples per series seen.
const STREAM_FIRST_SERIES: usize = 1;

/// How many series to decode next so that a batch holds about `budget` samples, given
/// `seen` = (samples, series) decoded so far and `held` samples already in the batch.
fn next_batch_series(seen: (usize, usize), held: usize, budget: usize) -> usize {
    match seen.0.checked_div(seen.1) {
        None => STREAM_FIRST_SERIES,
        Some(per_series) => {
            (budget.saturating_sub(held) / per_series.max(1)).clamp(1, DECODE_BATCH)
        }
    }
}

/// Least decoding work, in series × minutes of range, worth more threads: a thread costs
/// tens of µs to start and, on a busy machine, may wait milliseconds for a CPU, so an
/// instant query's short windows (hundreds of series × 5 m) stay on the query's thread.
const PARALLEL_DECODE_SERIES_MINUTES: i64 = 256 * 60;

/// Threads that decode `n` selected series over `span_ms`: one for small selections,
/// else one per CPU (at most 4).
fn decode_threads(n: usize, span_ms: i64) -> usize {
    let work = (n as i64).saturating_mul(span_ms / 60_000);
    if n < PARALLEL_DECODE_MIN || work < PARALLEL_DECODE_SERIES_MINUTES {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |p| p.get().min(4))
}

/// Reads every series of `batch` in `[mint, maxt]` into points (without staleness markers
/// unless `keep_stale`), on `threads` scoped threads, each taking a contiguous share, so
/// the output keeps the input order.
fn decode_batch(
    batch: Vec<crate::storage::Series>,
    mint: i64,
    maxt: i64,
    keep_stale: bool,
    threads: usize,
) -> Result<Vec<(Labels, Vec<FPoint>)>, crate::storage::QueryError> {
    // A series whose data fails to decode fails the query (its iterator's `err`), rather
    // than answering from a silently shortened series.
    fn decode(
        part: Vec<crate::storage::Series>,
        mint: i64,
        maxt: i64,
        keep_stale: bool,
    ) -> Result<Vec<(Labels, Vec<FPoint>)>, crate::storage::QueryError> {
        let mut buf = Vec::new();
        part.into_iter()
            .map(|mut s| {
                buf.clear();
                s.samples.read_range(mint, maxt, &mut buf);
                if let Some(e) = s.samples.err() {
                    return Err(e);
                }
                let pts: Vec<FPoint> = buf
                    .iter()
                    .filter(|smp| keep_stale || !is_stale_nan(smp.v))
                    .map(|smp| FPoint { t: smp.t, f: smp.v })
                    .collect();
                Ok((s.labels, pts))
            })
            .collect()
    }
    if threads <= 1 || batch.len() < 2 * threads {
        return decode(batch, mint, maxt, keep_stale);
    }
    let share = batch.len().div_ceil(threads);
    let mut parts: Vec<Vec<crate::storage::Series>> = Vec::with_capacity(threads);
    let mut rest = batch;
    while rest.len() > share {
        let tail = rest.split_off(share);
        parts.push(rest);
        rest = tail;
    }
    parts.push(rest);
    let first = parts.remove(0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|p| scope.spawn(move || decode(p, mint, maxt, keep_stale)))
            .collect();
        let mut out = decode(first, mint, maxt, keep_stale);
        for h in handles {
            // A panicking decoder is a bug; re-raise it on the query's thread.
            match h.join() {
                Ok(Ok(v)) => {
                    if let Ok(o) = &mut out {
                        o.extend(v);
                    }
                }
                // The first part that failed decides the error.
                Ok(Err(e)) => {
                    if out.is_ok() {
                        out = Err(e);
                    }
                }
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        out
    })
}

/// The steps a range argument's windows are cut at, detached from the evaluator.
#[derive(Clone, Copy)]
pub(crate) struct WindowGrid {
    pub start: i64,
    pub interval: i64,
    pub n: usize,
    /// Whether samples read count towards the query statistics (not inside subqueries).
    pub counted: bool,
}

impl WindowGrid {
    /// Calls `f(step, ts, first_index, window)` for every step with the points of `pts`
    /// in `(ref - range, ref]` (widened for `anchored`/`smoothed`); the window slides, so
    /// the series is walked once. When counted, `per_step` (of length `n`) receives each
    /// step's window size.
    pub fn walk(
        &self,
        ra: &RangeArg,
        pts: &[FPoint],
        per_step: &mut [u32],
        mut f: impl FnMut(usize, i64, usize, &[FPoint]),
    ) {
        let (mut lo, mut hi) = (0usize, 0usize);
        let before = if ra.anchored || ra.smoothed {
            ra.lookback
        } else {
            0
        };
        let after = if ra.smoothed { ra.lookback } else { 0 };
        for i in 0..self.n {
            let ts = self.start + i as i64 * self.interval;
            let base = ra.at.unwrap_or(ts) - ra.offset;
            let min = base - ra.range - before;
            let max = base + after;
            while hi < pts.len() && pts[hi].t <= max {
                hi += 1;
            }
            while lo < hi && pts[lo].t <= min {
                lo += 1;
            }
            if let Some(c) = per_step.get_mut(i) {
                *c = u32::try_from(hi - lo).unwrap_or(u32::MAX);
            }
            f(i, ts, lo, &pts[lo..hi]);
        }
    }
}

/// Evaluation result of one node.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    /// An instant vector for every step: series with points on step timestamps.
    Vector(Matrix),
    /// A range vector (only at the top of an instant query).
    Matrix(Matrix),
    /// A string literal.
    String(String),
}

/// The raw points of a range selector or subquery plus what is needed to cut them into
/// per-step windows `(ref - range, ref]`, `ref = (at or step time) - offset`.
pub(crate) struct RangeArg {
    /// Series with all points that any window may need; staleness markers removed.
    pub series: Matrix,
    /// Window length in ms.
    pub range: i64,
    /// Offset in ms.
    pub offset: i64,
    /// Fixed evaluation time from `@`.
    pub at: Option<i64>,
    /// The selector, when the argument is a plain range selector.
    pub selector: Option<VectorSelector>,
    /// The `anchored` modifier: windows also hold the samples one lookback before.
    pub anchored: bool,
    /// The `smoothed` modifier: windows also hold one lookback before and after.
    pub smoothed: bool,
    /// The lookback delta the windows were widened by.
    pub lookback: i64,
}

/// Everything [`Evaluator::new`] needs.
pub(crate) struct EvalParams<'a> {
    pub queryable: &'a dyn Queryable,
    pub start: i64,
    pub end: i64,
    pub interval: i64,
    pub query_step: i64,
    pub lookback: i64,
    pub default_eval_interval: i64,
    pub max_samples: usize,
    pub deadline: Option<Instant>,
    pub cancel: CancelToken,
    pub type_and_unit_labels: bool,
    /// See `EngineOptions::range_batch_samples`.
    pub range_batch_samples: usize,
}

/// The state of one query evaluation.
pub(crate) struct Evaluator<'a> {
    q: &'a dyn Queryable,
    /// Current (sub)query start, end and step.
    pub start: i64,
    pub end: i64,
    pub interval: i64,
    /// The top-level query's start, end and step (for `@ start()`, `step()`, ...).
    pub query_start: i64,
    pub query_end: i64,
    pub query_step: i64,
    pub lookback: i64,
    default_eval_interval: i64,
    max_samples: usize,
    samples: usize,
    deadline: Option<Instant>,
    cancel: CancelToken,
    checks: u32,
    type_and_unit_labels: bool,
    /// Annotations collected so far.
    pub annos: Annotations,
    /// Samples read from storage per top-level step (upstream `totalQueryableSamples`);
    /// a cell because windows are walked through `&self`.
    queryable_per_step: RefCell<Vec<i64>>,
    /// Subqueries being evaluated: their inner samples are not counted, as upstream
    /// counts the subquery's output windows instead.
    subquery_depth: u32,
    /// Most samples held at once (upstream `peakSamples`).
    peak_samples: usize,
    /// The range selector being read in batches, if any (see
    /// [`Evaluator::in_series_batches`]), and the samples a batch holds.
    batches: Option<SelectorBatches>,
    batch_samples: usize,
}

/// A range function's selector read a batch of series at a time.
struct SelectorBatches {
    /// The selector's address: only that node is read in batches (another selector
    /// evaluated meanwhile is read whole).
    target: usize,
    /// The selected series not yet decoded; `None` before the first batch.
    pending: Option<std::iter::Peekable<std::vec::IntoIter<crate::storage::Series>>>,
    /// Decoding threads for the whole selection.
    threads: usize,
    /// Samples of the batch being evaluated, released when it is done.
    held: usize,
    /// Samples per series seen so far (total samples, series), to size the next batch.
    seen: (usize, usize),
}
/// Builds a matrix from points pushed in step order, one series per label set.
pub(crate) struct MatrixBuilder {
    /// Slot by label-set hash (xxh3, cheaper than SipHash over the strings).
    index: HashMap<u64, usize, BuildHasherDefault<SigHasher>>,
    /// Slots of label sets whose hash collided with a different label set.
    collisions: HashMap<Labels, usize>,
    /// The series built so far, in order of first appearance.
    pub series: Matrix,
}

impl MatrixBuilder {
    pub fn new() -> Self {
        MatrixBuilder {
            index: HashMap::default(),
            collisions: HashMap::new(),
            series: Vec::new(),
        }
    }

    /// The slot of the series with `metric`, creating it.
    pub fn slot(&mut self, metric: &Labels, drop_name: bool) -> usize {
        let h = metric.stable_hash();
        let found = match self.index.get(&h) {
            Some(&i) if self.series[i].metric == *metric => Some(i),
            Some(_) => self.collisions.get(metric).copied(),
            None => None,
        };
        if let Some(i) = found {
            if drop_name {
                self.series[i].drop_name = true;
            }
            return i;
        }
        let i = self.series.len();
        match self.index.entry(h) {
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collisions.insert(metric.clone(), i);
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(i);
            }
        }
        self.series.push(Series {
            metric: metric.clone(),
            floats: Vec::new(),
            drop_name,
        });
        i
    }

    /// Appends a point; two points at one timestamp mean the vector had a duplicate.
    pub fn push(&mut self, slot: usize, t: i64, f: f64) -> Result<(), EvalError> {
        let s = &mut self.series[slot];
        if s.floats.last().is_some_and(|p| p.t == t) {
            return Err(dup_labelset());
        }
        s.floats.push(FPoint { t, f });
        Ok(())
    }

    pub fn finish(self) -> Matrix {
        self.series
    }
}

/// Upstream's error for two series with one label set at one time.
pub(crate) fn dup_labelset() -> EvalError {
    EvalError::Execution("vector cannot contain metrics with the same labelset".into())
}

/// Go's `math.Max`: NaN wins, +0 beats -0.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { b } else { a };
    }
    if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: NaN wins, -0 beats +0.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { a } else { b };
    }
    if a < b {
        a
    } else {
        b
    }
}

/// Merges series with equal labels whose points do not overlap; errors when they do.
pub(crate) fn merge_same_labels(m: Matrix) -> Result<Matrix, EvalError> {
    // By label-set hash, checking equality on a hit: no label set is cloned.
    let mut index: HashMap<u64, Vec<usize>, BuildHasherDefault<SigHasher>> =
        HashMap::with_capacity_and_hasher(m.len(), Default::default());
    let mut out: Matrix = Vec::with_capacity(m.len());
    for s in m {
        let slots = index.entry(s.metric.stable_hash()).or_default();
        match slots.iter().copied().find(|&i| out[i].metric == s.metric) {
            Some(i) => {
                let o = &mut out[i];
                let mut all: Vec<FPoint> = Vec::with_capacity(o.floats.len() + s.floats.len());
                all.extend_from_slice(&o.floats);
                all.extend_from_slice(&s.floats);
                all.sort_by_key(|p| p.t);
                if all.windows(2).any(|w| w[0].t == w[1].t) {
                    return Err(dup_labelset());
                }
                o.floats = all;
            }
            None => {
                slots.push(out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}

impl<'a> Evaluator<'a> {
    pub fn new(p: EvalParams<'a>) -> Self {
        Evaluator {
            q: p.queryable,
            start: p.start,
            end: p.end,
            interval: p.interval,
            query_start: p.start,
            query_end: p.end,
            query_step: p.query_step,
            lookback: p.lookback,
            default_eval_interval: p.default_eval_interval,
            max_samples: p.max_samples,
            samples: 0,
            deadline: p.deadline,
            cancel: p.cancel,
            checks: 0,
            type_and_unit_labels: p.type_and_unit_labels,
            annos: Annotations::default(),
            queryable_per_step: RefCell::new(Vec::new()),
            subquery_depth: 0,
            peak_samples: 0,
            batches: None,
            batch_samples: p.range_batch_samples,
        }
    }

    /// Evaluates `f` (a function of the range selector `ms`, computed series by series)
    /// over `ms`'s series a batch at a time and concatenates the vectors it returns, so
    /// only one batch of raw samples is in memory at once (as upstream, which holds one
    /// series' samples while a range function runs).
    pub fn in_series_batches(
        &mut self,
        ms: &MatrixSelector,
        f: impl FnMut(&mut Self) -> Result<Val, EvalError>,
    ) -> Result<Val, EvalError> {
        let mut out: Matrix = Vec::new();
        self.for_each_series_batch(ms, f, |_, m| {
            if out.is_empty() {
                out = m;
            } else {
                out.extend(m);
            }
            Ok(())
        })?;
        Ok(Val::Vector(out))
    }

    /// Evaluates `f` over `ms`'s series a batch at a time (see
    /// [`Evaluator::in_series_batches`]) and hands each batch's vector to `each`, in
    /// series order. Each batch's samples count towards the sample limit while it is
    /// evaluated and are released after it.
    pub fn for_each_series_batch(
        &mut self,
        ms: &MatrixSelector,
        mut f: impl FnMut(&mut Self) -> Result<Val, EvalError>,
        mut each: impl FnMut(&mut Self, Matrix) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        let outer = self.batches.replace(SelectorBatches {
            target: std::ptr::from_ref(ms) as usize,
            pending: None,
            threads: 1,
            held: 0,
            seen: (0, 0),
        });
        let result = loop {
            let v = f(self);
            let b = self.batches.as_mut().expect("set above");
            self.samples = self.samples.saturating_sub(std::mem::take(&mut b.held));
            let done = b.pending.as_mut().is_none_or(|p| p.peek().is_none());
            let m = match v {
                Ok(Val::Vector(m)) => m,
                Ok(_) => break Err(EvalError::Execution("expected instant vector".into())),
                Err(e) => break Err(e),
            };
            if let Err(e) = each(self, m) {
                break Err(e);
            }
            if done {
                break Ok(());
            }
        };
        self.batches = outer;
        result
    }

    /// The next batch of the selector being read in batches: decodes series until about
    /// `batch_samples` samples are held (at least one series). With the default (4Mi),
    /// an hour of 10k series at 15 s is one batch and a week of them about a hundred.
    fn select_batch(
        &mut self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<(Labels, Vec<FPoint>)>, EvalError> {
        let first = self.batches.as_ref().is_some_and(|b| b.pending.is_none());
        if first {
            let querier = self.q.querier(mint, maxt)?;
            let series = querier.select(matchers)?;
            let threads = decode_threads(series.len(), maxt.saturating_sub(mint));
            let b = self.batches.as_mut().expect("reading in batches");
            b.threads = threads;
            b.pending = Some(series.into_iter().peekable());
        }
        let mut out = Vec::new();
        let budget = self.batch_samples;
        loop {
            self.check()?;
            let b = self.batches.as_mut().expect("reading in batches");
            let want = next_batch_series(b.seen, b.held, budget);
            let pending = b.pending.as_mut().expect("selected above");
            let part: Vec<crate::storage::Series> = pending.by_ref().take(want).collect();
            if part.is_empty() {
                break;
            }
            let threads = b.threads;
            let decoded = decode_batch(part, mint, maxt, false, threads)?;
            let n: usize = decoded.iter().map(|(_, p)| p.len()).sum();
            let b = self.batches.as_mut().expect("reading in batches");
            b.held += n;
            b.seen = (b.seen.0 + n, b.seen.1 + decoded.len());
            let full = b.held >= budget;
            self.add_samples(n)?;
            out.extend(decoded);
            if full {
                break;
            }
        }
        Ok(out)
    }

    /// The sample statistics of the evaluation so far, per top-level step from
    /// `query_start` at `query_step`.
    pub fn sample_stats(&self) -> (Vec<i64>, usize) {
        (self.queryable_per_step.borrow().clone(), self.peak_samples)
    }

    /// Counts `n` samples read from storage at step `i` of the current grid, unless
    /// inside a subquery.
    fn count_queryable(&self, i: usize, n: usize) {
        if self.subquery_depth > 0 || n == 0 {
            return;
        }
        let mut v = self.queryable_per_step.borrow_mut();
        if v.len() <= i {
            v.resize(i + 1, 0);
        }
        v[i] += n as i64;
    }

    pub fn into_annotations(self) -> Annotations {
        self.annos
    }

    /// Number of steps of the current (sub)query.
    pub fn n_steps(&self) -> usize {
        if self.end < self.start {
            return 0;
        }
        ((self.end - self.start) / self.interval + 1) as usize
    }

    /// Timestamp of step `i`.
    pub fn ts(&self, i: usize) -> i64 {
        self.start + i as i64 * self.interval
    }

    /// Step index of a point produced by this evaluator.
    pub fn step_of(&self, t: i64) -> usize {
        ((t - self.start) / self.interval) as usize
    }

    /// Checks cancellation and the deadline.
    pub fn check(&mut self) -> Result<(), EvalError> {
        if self.cancel.is_cancelled() {
            return Err(EvalError::Canceled("query execution"));
        }
        // Reading the clock costs more than the flag: every 64th call, and the first.
        if self.checks.is_multiple_of(64) && self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(EvalError::Timeout("query execution"));
        }
        self.checks = self.checks.wrapping_add(1);
        Ok(())
    }

    /// Accounts for `n` more samples in memory.
    pub fn add_samples(&mut self, n: usize) -> Result<(), EvalError> {
        self.samples = self.samples.saturating_add(n);
        self.peak_samples = self.peak_samples.max(self.samples);
        if self.samples > self.max_samples {
            return Err(EvalError::TooManySamples("query execution"));
        }
        Ok(())
    }

    /// Resolves a duration (range, offset, subquery step) against the query.
    pub fn duration(&self, d: &Duration) -> Result<i64, EvalError> {
        let ms = d
            .resolve(self.query_step, self.query_end - self.query_start)
            .map_err(|e| EvalError::Execution(e.to_string()))?;
        if !(-TIME_LIMIT..=TIME_LIMIT).contains(&ms) {
            return Err(EvalError::Execution(format!(
                "duration {ms}ms is out of the supported range"
            )));
        }
        Ok(ms)
    }

    /// A range or subquery step, which must resolve to more than zero (upstream's check
    /// of duration expressions; literals are checked by the parser).
    fn positive_duration(&self, d: &Duration) -> Result<i64, EvalError> {
        let ms = self.duration(d)?;
        if ms <= 0 {
            return Err(EvalError::Execution(
                "duration must be greater than 0".to_string(),
            ));
        }
        Ok(ms)
    }

    fn opt_duration(&self, d: &Option<Duration>) -> Result<i64, EvalError> {
        match d {
            Some(d) => self.duration(d),
            None => Ok(0),
        }
    }

    /// The fixed time an `@` modifier pins to (clamped to the supported time range).
    pub fn at_time(&self, at: &Option<AtModifier>) -> Option<i64> {
        at.map(|a| match a {
            AtModifier::Timestamp(t) => t.clamp(-TIME_LIMIT, TIME_LIMIT),
            AtModifier::Start => self.query_start,
            AtModifier::End => self.query_end,
        })
    }

    /// Evaluates the top-level expression and shapes the result like upstream.
    pub fn run(&mut self, e: &Expr, instant: bool) -> Result<Value, EvalError> {
        let v = self.eval(e)?;
        let t0 = self.start;
        Ok(match v {
            Val::Scalar(vals) => {
                if instant {
                    Value::Scalar {
                        t: t0,
                        v: vals.first().copied().unwrap_or(f64::NAN),
                    }
                } else {
                    let floats = vals
                        .iter()
                        .enumerate()
                        .map(|(i, &f)| FPoint { t: self.ts(i), f })
                        .collect();
                    Value::Matrix(vec![Series {
                        metric: Labels::empty(),
                        floats,
                        drop_name: false,
                    }])
                }
            }
            Val::String(s) => Value::String { t: t0, s },
            Val::Vector(m) => {
                let m = cleanup_names(m, self.type_and_unit_labels)?;
                if instant {
                    Value::Vector(
                        m.into_iter()
                            .filter_map(|s| {
                                s.floats.first().map(|p| Sample {
                                    metric: s.metric,
                                    t: p.t,
                                    f: p.f,
                                    drop_name: false,
                                })
                            })
                            .collect(),
                    )
                } else {
                    let mut m: Matrix = m.into_iter().filter(|s| !s.floats.is_empty()).collect();
                    m.sort_by(|a, b| a.metric.cmp(&b.metric));
                    Value::Matrix(m)
                }
            }
            Val::Matrix(m) => {
                let mut m = cleanup_names(m, self.type_and_unit_labels)?;
                m.sort_by(|a, b| a.metric.cmp(&b.metric));
                Value::Matrix(m)
            }
        })
    }

    /// Evaluates a node for all steps.
    pub fn eval(&mut self, e: &Expr) -> Result<Val, EvalError> {
        // Recursion per tree level; deep trees continue on a heap stack segment.
        crate::promql::with_stack(|| self.eval_node(e))
    }

    fn eval_node(&mut self, e: &Expr) -> Result<Val, EvalError> {
        self.check()?;
        let n = self.n_steps();
        match e {
            Expr::NumberLiteral(l) => Ok(Val::Scalar(vec![l.val; n])),
            Expr::StringLiteral(s) => Ok(Val::String(s.value.clone())),
            Expr::Paren(inner) => self.eval(inner),
            Expr::Unary(u) => {
                let v = self.eval(&u.expr)?;
                if u.op == UnaryOp::Pos {
                    return Ok(v);
                }
                Ok(match v {
                    Val::Scalar(mut vals) => {
                        vals.iter_mut().for_each(|x| *x = -*x);
                        Val::Scalar(vals)
                    }
                    Val::Vector(mut m) => {
                        for s in &mut m {
                            s.drop_name = true;
                            s.floats.iter_mut().for_each(|p| p.f = -p.f);
                        }
                        Val::Vector(m)
                    }
                    other => other,
                })
            }
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.eval_vector_selector(vs, false)?)),
            Expr::MatrixSelector(ms) => {
                let ra = self.eval_matrix_selector(ms)?;
                Ok(Val::Matrix(self.top_level_windows(ra)?))
            }
            Expr::Subquery(sq) => {
                let ra = self.eval_subquery(sq)?;
                Ok(Val::Matrix(self.top_level_windows(ra)?))
            }
            Expr::Aggregate(a) => aggregations::eval_aggregate(self, a),
            Expr::Binary(b) => binary::eval_binary(self, b),
            Expr::Call(c) => functions::eval_call(self, c),
        }
    }

    /// Evaluates an expression that must be a scalar.
    pub fn eval_scalar(&mut self, e: &Expr) -> Result<Vec<f64>, EvalError> {
        match self.eval(e)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(EvalError::Execution(format!(
                "expected scalar, got {}",
                e.value_type()
            ))),
        }
    }

    /// Evaluates an expression that must be an instant vector.
    pub fn eval_vector(&mut self, e: &Expr) -> Result<Matrix, EvalError> {
        match self.eval(e)? {
            Val::Vector(m) => Ok(m),
            _ => Err(EvalError::Execution(format!(
                "expected instant vector, got {}",
                e.value_type()
            ))),
        }
    }

    /// Evaluates an expression that must be a string.
    pub fn eval_string(&mut self, e: &Expr) -> Result<String, EvalError> {
        match self.eval(e)? {
            Val::String(s) => Ok(s),
            _ => Err(EvalError::Execution(format!(
                "expected string, got {}",
                e.value_type()
            ))),
        }
    }

    /// Evaluates a range-vector argument (range selector or subquery).
    pub fn eval_range_arg(&mut self, e: &Expr) -> Result<RangeArg, EvalError> {
        match e.unparen() {
            Expr::MatrixSelector(ms) => self.eval_matrix_selector(ms),
            Expr::Subquery(sq) => self.eval_subquery(sq),
            other => Err(EvalError::Execution(format!(
                "expected range vector, got {}",
                other.value_type()
            ))),
        }
    }

    /// The per-step window of the top-level instant query.
    fn top_level_windows(&mut self, ra: RangeArg) -> Result<Matrix, EvalError> {
        let mut out = Vec::with_capacity(ra.series.len());
        for s in &ra.series {
            let mut floats = Vec::new();
            let extended = ra.anchored || ra.smoothed;
            self.for_each_window(&ra, s, |_, ts, w| {
                if extended {
                    let end = ra.at.unwrap_or(ts) - ra.offset;
                    floats = extend_floats(w, end - ra.range, end, ra.smoothed);
                } else {
                    floats.extend_from_slice(w);
                }
            });
            if !floats.is_empty() {
                out.push(Series {
                    metric: s.metric.clone(),
                    floats,
                    drop_name: s.drop_name,
                });
            }
        }
        Ok(out)
    }

    /// Calls `f(step, ts, window)` for every step with the points in `(ref - range, ref]`;
    /// the window slides, so each series is walked once.
    pub fn for_each_window(
        &self,
        ra: &RangeArg,
        s: &Series,
        mut f: impl FnMut(usize, i64, &[FPoint]),
    ) {
        self.for_each_window_at(ra, s, |i, ts, _, w| f(i, ts, w));
    }

    /// Like [`Evaluator::for_each_window`], also passing the index in `s.floats` of each
    /// window's first point.
    pub fn for_each_window_at(
        &self,
        ra: &RangeArg,
        s: &Series,
        f: impl FnMut(usize, i64, usize, &[FPoint]),
    ) {
        let grid = self.window_grid();
        let mut per_step = SCRATCH_COUNTS.with_borrow_mut(std::mem::take);
        per_step.clear();
        if grid.counted {
            per_step.resize(grid.n, 0);
        }
        grid.walk(ra, &s.floats, &mut per_step, f);
        self.add_queryable(&per_step);
        SCRATCH_COUNTS.with_borrow_mut(|b| *b = per_step);
    }

    /// The current step grid, for walking windows away from the evaluator (on other
    /// threads).
    pub fn window_grid(&self) -> WindowGrid {
        WindowGrid {
            start: self.start,
            interval: self.interval,
            n: self.n_steps(),
            counted: self.subquery_depth == 0,
        }
    }

    /// Adds per-step sample counts (from [`WindowGrid::walk`]) to the statistics.
    pub fn add_queryable(&self, per_step: &[u32]) {
        if per_step.is_empty() {
            return;
        }
        let mut v = self.queryable_per_step.borrow_mut();
        if v.len() < per_step.len() {
            v.resize(per_step.len(), 0);
        }
        for (acc, &c) in v.iter_mut().zip(per_step) {
            *acc += i64::from(c);
        }
    }

    /// Reads the series of `matchers` with samples in `[mint, maxt]`. With `count`, the
    /// samples read count towards `--query.max-samples` (range selectors, whose windows are
    /// held in memory, as upstream); instant selectors count only the points they output.
    fn select(
        &mut self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        keep_stale: bool,
        count: bool,
    ) -> Result<Vec<(Labels, Vec<FPoint>)>, EvalError> {
        let querier = self.q.querier(mint, maxt)?;
        let series = querier.select(matchers)?;
        let mut out = Vec::with_capacity(series.len());
        let threads = decode_threads(series.len(), maxt.saturating_sub(mint));
        let mut series = series.into_iter();
        loop {
            self.check()?;
            // Decoded in batches, so cancellation and the sample limit are checked between
            // batches; each batch is split over the decode threads.
            let batch: Vec<crate::storage::Series> = series.by_ref().take(DECODE_BATCH).collect();
            if batch.is_empty() {
                break;
            }
            let decoded = decode_batch(batch, mint, maxt, keep_stale, threads)?;
            for (labels, pts) in decoded {
                if count {
                    self.add_samples(pts.len())?;
                }
                out.push((labels, pts));
            }
        }
        Ok(out)
    }

    /// Reads the series of `matchers` with samples in `[mint, maxt]` (staleness markers
    /// kept) and hands each to `f` in order, decoding about `batch_samples` samples at a
    /// time: a caller that keeps less than it is given (an instant selector keeps a point
    /// per step) never holds the whole selection's samples.
    fn select_each(
        &mut self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        mut f: impl FnMut(&mut Self, Labels, Vec<FPoint>) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        let querier = self.q.querier(mint, maxt)?;
        let series = querier.select(matchers)?;
        let threads = decode_threads(series.len(), maxt.saturating_sub(mint));
        let mut series = series.into_iter();
        let mut seen = (0, 0);
        loop {
            self.check()?;
            let want = next_batch_series(seen, 0, self.batch_samples);
            let batch: Vec<crate::storage::Series> = series.by_ref().take(want).collect();
            if batch.is_empty() {
                return Ok(());
            }
            for (labels, pts) in decode_batch(batch, mint, maxt, true, threads)? {
                seen = (seen.0 + pts.len(), seen.1 + 1);
                f(self, labels, pts)?;
            }
        }
    }

    /// Evaluates an instant selector with lookback and staleness. With `timestamps`, the
    /// value of each point is the sample's own timestamp in seconds (for `timestamp()`).
    pub fn eval_vector_selector(
        &mut self,
        vs: &VectorSelector,
        timestamps: bool,
    ) -> Result<Matrix, EvalError> {
        let offset = self.opt_duration(&vs.offset)?;
        let at = self.at_time(&vs.at);
        let n = self.n_steps();
        if n == 0 {
            return Ok(Vec::new());
        }
        let (min_ref, max_ref) = match at {
            Some(a) => (a - offset, a - offset),
            None => (self.start - offset, self.end - offset),
        };
        let after = if vs.smoothed { self.lookback } else { 0 };
        let mut out = Vec::new();
        let lookback = self.lookback;
        self.select_each(
            &vs.matchers,
            min_ref.saturating_sub(lookback),
            max_ref.saturating_add(after),
            |ev, metric, pts| {
                ev.check()?;
                let mut floats = Vec::with_capacity(n.min(pts.len().max(1) * 4));
                let mut j = 0usize;
                for i in 0..n {
                    let ts = ev.ts(i);
                    let base = at.unwrap_or(ts) - offset;
                    while j < pts.len() && pts[j].t <= base {
                        j += 1;
                    }
                    if j > 0 {
                        let p = pts[j - 1];
                        if p.t > base - lookback && !is_stale_nan(p.f) {
                            let mut f = if timestamps { p.t as f64 / 1000.0 } else { p.f };
                            // `smoothed`: interpolate towards the next sample within lookback.
                            if vs.smoothed && !timestamps && p.t < base {
                                if let Some(n) = pts.get(j) {
                                    if n.t <= base + lookback && !is_stale_nan(n.f) {
                                        f = interpolate(p, *n, base, false);
                                    }
                                }
                            }
                            floats.push(FPoint { t: ts, f });
                            ev.count_queryable(i, 1);
                        }
                    }
                }
                if !floats.is_empty() {
                    ev.add_samples(floats.len())?;
                    out.push(Series {
                        metric,
                        floats,
                        drop_name: false,
                    });
                }
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// For every series matching `matchers`, the timestamp of the sample an instant
    /// selector would pick (lookback, staleness) at each reference time in `refs`.
    pub fn select_at_times(
        &mut self,
        matchers: &[Matcher],
        refs: &[i64],
    ) -> Result<Vec<PickedSeries>, EvalError> {
        let (Some(&min), Some(&max)) = (refs.iter().min(), refs.iter().max()) else {
            return Ok(Vec::new());
        };
        let raw = self.select(
            matchers,
            min.saturating_sub(self.lookback),
            max,
            true,
            false,
        )?;
        let mut out = Vec::with_capacity(raw.len());
        for (metric, pts) in raw {
            let picks: Vec<Option<i64>> = refs
                .iter()
                .map(|&r| {
                    let j = pts.partition_point(|p| p.t <= r);
                    (j > 0)
                        .then(|| pts[j - 1])
                        .filter(|p| p.t > r - self.lookback && !is_stale_nan(p.f))
                        .map(|p| p.t)
                })
                .collect();
            if picks.iter().any(Option::is_some) {
                out.push((metric, picks));
            }
        }
        Ok(out)
    }

    /// Reads a range selector's samples for all windows of the query.
    pub fn eval_matrix_selector(&mut self, ms: &MatrixSelector) -> Result<RangeArg, EvalError> {
        let vs = &ms.vector_selector;
        let offset = self.opt_duration(&vs.offset)?;
        let range = self.positive_duration(&ms.range)?;
        let at = self.at_time(&vs.at);
        let (min_ref, max_ref) = match at {
            Some(a) => (a - offset, a - offset),
            None => (self.start - offset, self.end - offset),
        };
        let before = if vs.anchored || vs.smoothed {
            self.lookback
        } else {
            0
        };
        let after = if vs.smoothed { self.lookback } else { 0 };
        let (mint, maxt) = (
            min_ref.saturating_sub(range + before),
            max_ref.saturating_add(after),
        );
        let batched = self
            .batches
            .as_ref()
            .is_some_and(|b| b.target == std::ptr::from_ref(ms) as usize);
        let raw = if batched {
            self.select_batch(&vs.matchers, mint, maxt)?
        } else {
            self.select(&vs.matchers, mint, maxt, false, true)?
        };
        Ok(RangeArg {
            series: raw
                .into_iter()
                .map(|(metric, floats)| Series {
                    metric,
                    floats,
                    drop_name: false,
                })
                .collect(),
            range,
            offset,
            at,
            selector: Some(vs.clone()),
            anchored: vs.anchored,
            smoothed: vs.smoothed,
            lookback: self.lookback,
        })
    }

    /// Evaluates a subquery's inner expression at its own, absolutely aligned steps.
    pub fn eval_subquery(&mut self, sq: &SubqueryExpr) -> Result<RangeArg, EvalError> {
        let offset = self.opt_duration(&sq.offset)?;
        let range = self.positive_duration(&sq.range)?;
        let step = match &sq.step {
            Some(d) => self.positive_duration(d)?,
            None => self.default_eval_interval,
        };
        if step <= 0 {
            return Err(EvalError::Execution(format!(
                "subquery step must be positive, got {step}ms"
            )));
        }
        let at = self.at_time(&sq.at);
        let (ostart, oend) = match at {
            Some(a) => (a, a),
            None => (self.start, self.end),
        };
        let lower = ostart - offset - range;
        let mut new_start = step * (lower / step);
        if new_start <= lower {
            new_start += step;
        }
        let new_end = oend - offset;
        if new_end >= new_start && (new_end - new_start) / step >= self.max_samples as i64 {
            return Err(EvalError::TooManySamples("query execution"));
        }
        let saved = (self.start, self.end, self.interval);
        self.start = new_start;
        self.end = new_end;
        self.interval = step;
        self.subquery_depth += 1;
        let res = if new_start > new_end {
            Ok(Val::Vector(Vec::new()))
        } else {
            self.eval(&sq.expr)
        };
        self.subquery_depth -= 1;
        let n = self.n_steps();
        let series = match res {
            Ok(Val::Vector(m)) => Ok(m),
            Ok(Val::Scalar(vals)) => Ok(vec![Series {
                metric: Labels::empty(),
                floats: (0..n.min(vals.len()))
                    .map(|i| FPoint {
                        t: self.ts(i),
                        f: vals[i],
                    })
                    .collect(),
                drop_name: false,
            }]),
            Ok(_) => Err(EvalError::Execution(
                "subquery is only allowed on instant vector or scalar".into(),
            )),
            Err(e) => Err(e),
        };
        (self.start, self.end, self.interval) = saved;
        Ok(RangeArg {
            series: series?,
            range,
            offset,
            at,
            selector: None,
            anchored: false,
            smoothed: false,
            lookback: self.lookback,
        })
    }

    /// Iterates the per-step instant vectors of `m`: calls `f(step, ts, samples)` with
    /// `(series index, value)` pairs of the series that have a point at that step.
    pub fn for_each_step(
        &mut self,
        m: &Matrix,
        mut f: impl FnMut(&mut Self, usize, i64, &[(usize, f64)]) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        let idx = self.by_step(m);
        for i in 0..self.n_steps() {
            self.check()?;
            let ts = self.ts(i);
            f(self, i, ts, idx.at(i))?;
        }
        Ok(())
    }

    /// Transposes an instant-vector result into per-step `(series, value)` lists, in
    /// series order, with one pass over the points (so later per-step work reads
    /// contiguous memory instead of touching every series at every step).
    pub fn by_step(&self, m: &Matrix) -> StepIndex {
        let n = self.n_steps();
        let mut offsets = vec![0usize; n + 1];
        for s in m {
            for p in &s.floats {
                let i = self.step_of(p.t);
                if i < n {
                    offsets[i + 1] += 1;
                }
            }
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut entries = vec![(0usize, 0.0f64); offsets[n]];
        for (j, s) in m.iter().enumerate() {
            for p in &s.floats {
                let i = self.step_of(p.t);
                if i < n {
                    entries[fill[i]] = (j, p.f);
                    fill[i] += 1;
                }
            }
        }
        StepIndex { offsets, entries }
    }
}

/// Per-step `(series index, value)` lists of a matrix (see [`Evaluator::by_step`]).
pub(crate) struct StepIndex {
    offsets: Vec<usize>,
    entries: Vec<(usize, f64)>,
}

impl StepIndex {
    /// The samples present at step `i`, in series order.
    pub fn at(&self, i: usize) -> &[(usize, f64)] {
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.entries[a..b],
            _ => &[],
        }
    }
}

/// Removes `__name__` from flagged series and rejects resulting duplicates (upstream
/// `cleanupMetricLabels`); with `type_and_unit`, `__type__` and `__unit__` go too.
pub(crate) fn cleanup_names(m: Matrix, type_and_unit: bool) -> Result<Matrix, EvalError> {
    let mut any = false;
    let m: Matrix = m
        .into_iter()
        .map(|mut s| {
            if s.drop_name {
                if s.metric.remove(METRIC_NAME) {
                    any = true;
                }
                if type_and_unit
                    && (s.metric.get("__type__").is_some() || s.metric.get("__unit__").is_some())
                {
                    let mut b = s.metric.builder();
                    b.del("__type__");
                    b.del("__unit__");
                    s.metric = b.labels();
                    any = true;
                }
                s.drop_name = false;
            }
            s
        })
        .collect();
    if any {
        merge_same_labels(m)
    } else {
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(pairs: &[(&str, &str)], pts: &[(i64, f64)], drop_name: bool) -> Series {
        Series {
            metric: Labels::from_pairs(pairs),
            floats: pts.iter().map(|&(t, f)| FPoint { t, f }).collect(),
            drop_name,
        }
    }

    #[test]
    fn go_min_max_propagate_nan_and_order_zeros() {
        assert!(go_max(f64::NAN, 1.0).is_nan());
        assert!(go_min(1.0, f64::NAN).is_nan());
        assert!(go_max(-0.0, 0.0).is_sign_positive());
        assert!(go_min(0.0, -0.0).is_sign_negative());
        assert_eq!(go_max(1.0, 2.0), 2.0);
        assert_eq!(go_min(1.0, 2.0), 1.0);
    }

    #[test]
    fn builder_rejects_two_points_at_one_time() {
        let mut b = MatrixBuilder::new();
        let l = Labels::from_pairs(&[("a", "1")]);
        let s = b.slot(&l, false);
        assert_eq!(b.slot(&l, true), s);
        assert!(b.push(s, 10, 1.0).is_ok());
        assert!(b.push(s, 10, 2.0).is_err());
        let m = b.finish();
        assert!(m[0].drop_name);
    }

    #[test]
    fn name_cleanup_merges_disjoint_and_rejects_overlapping() {
        let a = series(&[("__name__", "a"), ("j", "1")], &[(0, 1.0)], true);
        let b = series(&[("__name__", "b"), ("j", "1")], &[(10, 2.0)], true);
        let merged = cleanup_names(vec![a.clone(), b], false).unwrap_or_default();
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].floats.len(), 2);
        let c = series(&[("__name__", "c"), ("j", "1")], &[(0, 3.0)], true);
        let err = cleanup_names(vec![a, c], false).map(|_| ()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "vector cannot contain metrics with the same labelset"
        );
        let t = series(
            &[("__name__", "x"), ("__type__", "counter")],
            &[(0, 1.0)],
            true,
        );
        let out = cleanup_names(vec![t], true).unwrap_or_default();
        assert!(out[0].metric.is_empty());
    }
}
