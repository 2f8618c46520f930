//! Aggregation operators: sum, avg, count, min, max, group, stddev, stdvar, quantile,
//! count_values, topk, bottomk, limitk and limit_ratio, with `by`/`without`.
//!
//! Mirrors upstream `promql/engine.go` (`rangeEvalAgg`, `aggregation`, `aggregationK`,
//! `aggregationCountValues`) including the Kahan-compensated sum, the incremental mean that
//! `avg` switches to when a sum would overflow, Welford's variance, and the hash-based
//! sampling of `limit_ratio` (`HashRatioSampler`). Grouping labels are computed once per
//! input series; each step then only buckets `(series, value)` pairs.

use std::collections::HashMap;

use crate::model::{Label, Labels, LabelsBuilder, METRIC_NAME};

use super::super::ast::{AggregateExpr, AggregateOp};
use super::eval::{Evaluator, MatrixBuilder, Val};
use super::quantile::{kahan_sum_inc, quantile};
use super::value::{FPoint, Matrix, Series};
use super::EvalError;
use crate::model::quote::{go_quote, go_quote_bytes};

/// The grouping label set of one series.
fn group_labels(metric: &Labels, grouping: &[String], without: bool) -> Labels {
    let mut b: LabelsBuilder = metric.builder();
    if without {
        b.del(METRIC_NAME);
        for g in grouping {
            b.del(g);
        }
    } else {
        b.keep(grouping);
    }
    b.into_labels()
}

/// Go's `labels.Labels.Hash()` (xxhash64 over `name 0xff value 0xff`), used by
/// `limit_ratio` so that the same series are sampled as upstream.
fn go_labels_hash(l: &Labels) -> u64 {
    let mut buf = Vec::with_capacity(64);
    for lb in l {
        buf.extend_from_slice(lb.name.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(lb.value.as_bytes());
        buf.push(0xff);
    }
    xxhash_rust::xxh64::xxh64(&buf, 0)
}

/// Checks and converts the `k` parameter of topk/bottomk/limitk.
fn k_param(v: f64) -> Result<i64, EvalError> {
    if v.is_nan() {
        return Err(EvalError::Execution("Parameter value is NaN".into()));
    }
    if v >= 9.223372036854776e18 || v <= -9.223372036854776e18 {
        return Err(EvalError::Execution(format!(
            "Scalar value {} overflows int64",
            crate::model::value::format_go_float(v)
        )));
    }
    Ok(v as i64)
}

/// Sums with Neumaier compensation; the compensation is added at the end.
fn sum(vals: &[f64]) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for &v in vals {
        (s, c) = kahan_sum_inc(v, s, c);
    }
    s + c
}

/// The arithmetic mean as upstream's `avg`: Kahan sum, switching to an incremental mean
/// once the sum would overflow.
pub(crate) fn avg(vals: &[f64]) -> f64 {
    avg_of(vals.iter().copied())
}

/// [`avg`] of the values an iterator yields, without collecting them first.
pub(crate) fn avg_of(vals: impl IntoIterator<Item = f64>) -> f64 {
    let mut acc = AvgAcc::default();
    for f in vals {
        acc.push(f);
    }
    acc.finish()
}

/// A running aggregate of one group at one step, fed values in series order, giving the
/// same result (bit for bit) as the slice function of its operator.
trait Acc: Clone + Default {
    fn push(&mut self, f: f64);
    /// The result; only called after at least one `push`.
    fn finish(&self) -> f64;
    /// Whether any value was pushed.
    fn present(&self) -> bool;
}

/// [`sum`]: Kahan sum with Neumaier compensation.
#[derive(Clone, Default)]
struct SumAcc {
    sum: f64,
    c: f64,
    n: bool,
}

impl Acc for SumAcc {
    fn push(&mut self, f: f64) {
        (self.sum, self.c) = kahan_sum_inc(f, self.sum, self.c);
        self.n = true;
    }
    fn finish(&self) -> f64 {
        self.sum + self.c
    }
    fn present(&self) -> bool {
        self.n
    }
}

/// [`avg`]: Kahan sum, switching to an incremental mean once the sum would overflow.
#[derive(Clone, Default)]
struct AvgAcc {
    count: f64,
    sum: f64,
    c: f64,
    mean: f64,
    incremental: bool,
}

impl Acc for AvgAcc {
    fn push(&mut self, f: f64) {
        if self.count == 0.0 {
            (self.sum, self.c, self.mean, self.count) = (f, 0.0, 0.0, 1.0);
            return;
        }
        self.count += 1.0;
        let count = self.count;
        if !self.incremental {
            let (ns, nc) = kahan_sum_inc(f, self.sum, self.c);
            if !ns.is_infinite() {
                self.sum = ns;
                self.c = nc;
                return;
            }
            self.incremental = true;
            self.mean = self.sum / (count - 1.0);
            self.c /= count - 1.0;
        }
        if self.mean.is_infinite() {
            if f.is_infinite() && (self.mean > 0.0) == (f > 0.0) {
                return;
            }
            if !f.is_infinite() && !f.is_nan() {
                return;
            }
        }
        let q = (count - 1.0) / count;
        (self.mean, self.c) = kahan_sum_inc(f / count, q * self.mean, q * self.c);
    }
    fn finish(&self) -> f64 {
        if self.count == 0.0 {
            f64::NAN
        } else if self.incremental {
            self.mean + self.c
        } else {
            self.sum / self.count + self.c / self.count
        }
    }
    fn present(&self) -> bool {
        self.count > 0.0
    }
}

/// count.
#[derive(Clone, Default)]
struct CountAcc(f64);

impl Acc for CountAcc {
    fn push(&mut self, _: f64) {
        self.0 += 1.0;
    }
    fn finish(&self) -> f64 {
        self.0
    }
    fn present(&self) -> bool {
        self.0 > 0.0
    }
}

/// group: 1 wherever the group has a member.
#[derive(Clone, Default)]
struct GroupAcc(bool);

impl Acc for GroupAcc {
    fn push(&mut self, _: f64) {
        self.0 = true;
    }
    fn finish(&self) -> f64 {
        1.0
    }
    fn present(&self) -> bool {
        self.0
    }
}

/// min (`MAX` false) or max (`MAX` true): a NaN is replaced by any later value.
#[derive(Clone, Default)]
struct MinMaxAcc<const MAX: bool> {
    r: f64,
    n: bool,
}

impl<const MAX: bool> Acc for MinMaxAcc<MAX> {
    fn push(&mut self, f: f64) {
        if !self.n {
            (self.r, self.n) = (f, true);
        } else if (if MAX { self.r < f } else { self.r > f }) || self.r.is_nan() {
            self.r = f;
        }
    }
    fn finish(&self) -> f64 {
        self.r
    }
    fn present(&self) -> bool {
        self.n
    }
}

/// [`variance`] (`SQRT` false: stdvar) or its square root (`SQRT` true: stddev), with
/// Welford's online algorithm.
#[derive(Clone, Default)]
struct VarAcc<const SQRT: bool> {
    value: f64,
    mean: f64,
    count: f64,
}

impl<const SQRT: bool> Acc for VarAcc<SQRT> {
    fn push(&mut self, f: f64) {
        if self.count == 0.0 {
            self.value = if f.is_nan() || f.is_infinite() {
                f64::NAN
            } else {
                0.0
            };
            (self.mean, self.count) = (f, 1.0);
            return;
        }
        self.count += 1.0;
        let delta = f - self.mean;
        self.mean += delta / self.count;
        self.value += delta * (f - self.mean);
    }
    fn finish(&self) -> f64 {
        let v = self.value / self.count;
        if SQRT {
            v.sqrt()
        } else {
            v
        }
    }
    fn present(&self) -> bool {
        self.count > 0.0
    }
}

/// Population variance with Welford's online algorithm (upstream `stdvar`).
pub(crate) fn variance(vals: &[f64]) -> f64 {
    if vals.is_empty() {
        return f64::NAN;
    }
    let mut acc = VarAcc::<false>::default();
    for &f in vals {
        acc.push(f);
    }
    acc.finish()
}

/// Evaluates an aggregation for all steps: checks the parameter, groups the input series
/// once, then hands the per-step work to the operator family's function.
pub(crate) fn eval_aggregate(ev: &mut Evaluator<'_>, a: &AggregateExpr) -> Result<Val, EvalError> {
    if let Some(m) = eval_streamed(ev, a) {
        return Ok(Val::Vector(m?));
    }
    let param = eval_param(ev, a)?;
    let input = ev.eval_vector(&a.expr)?;
    let grouping = Grouping::new(&input, a);
    let out = match (a.op, param) {
        (AggregateOp::Topk | AggregateOp::Bottomk, Param::Scalar(k)) => {
            eval_top_bottom(ev, a.op == AggregateOp::Topk, &k, &input, &grouping)?
        }
        (AggregateOp::Limitk, Param::Scalar(k)) => eval_limitk(ev, &k, &input, &grouping)?,
        (AggregateOp::LimitRatio, Param::Scalar(r)) => eval_limit_ratio(ev, &r, &input, &grouping)?,
        (AggregateOp::CountValues, Param::Label(label)) => {
            let drop_label = a.without && a.grouping.contains(&label);
            eval_count_values(ev, &label, drop_label, &input, &grouping)?
        }
        (op, param) => eval_reduce(ev, op, param.scalars(), &input, &grouping)?,
    };
    Ok(Val::Vector(out))
}

/// An aggregation's evaluated parameter.
enum Param {
    /// No parameter (sum, avg, ...).
    None,
    /// One value per step (topk's k, quantile's φ, limit_ratio's ratio).
    Scalar(Vec<f64>),
    /// count_values' label name.
    Label(String),
}

impl Param {
    fn scalars(&self) -> Option<&[f64]> {
        match self {
            Param::Scalar(v) => Some(v),
            _ => None,
        }
    }
}

/// Evaluates and checks the parameter: the checks that fail whatever the input is.
fn eval_param(ev: &mut Evaluator<'_>, a: &AggregateExpr) -> Result<Param, EvalError> {
    let Some(p) = &a.param else {
        return Ok(Param::None);
    };
    if a.op == AggregateOp::CountValues {
        if let Some(bytes) = p.invalid_utf8_string() {
            return Err(EvalError::Execution(format!(
                "invalid label name {}",
                go_quote_bytes(bytes)
            )));
        }
        let label = ev.eval_string(p)?;
        if label.is_empty() {
            return Err(EvalError::Execution(format!(
                "invalid label name {}",
                go_quote(&label)
            )));
        }
        return Ok(Param::Label(label));
    }
    let ps = ev.eval_scalar(p)?;
    for &p in &ps {
        match a.op {
            AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk => {
                k_param(p)?;
            }
            AggregateOp::LimitRatio if p.is_nan() => {
                return Err(EvalError::Execution("Ratio value is NaN".into()));
            }
            _ => {}
        }
    }
    Ok(Param::Scalar(ps))
}

/// The group of every input series and every group's label set, computed once per query.
#[derive(Default)]
struct Grouping {
    /// Group id of each input series.
    group_of: Vec<usize>,
    /// Label set of each group.
    labels: Vec<Labels>,
    /// Whether a group's output drops `__name__` (any member flagged it).
    drop_name: Vec<bool>,
    /// Group ids by the hash of their grouping labels.
    index: HashMap<u64, Vec<usize>>,
}

impl Grouping {
    fn new(input: &Matrix, a: &AggregateExpr) -> Self {
        let mut g = Grouping {
            group_of: Vec::with_capacity(input.len()),
            ..Grouping::default()
        };
        g.add(input, a);
        g
    }

    /// Assigns the series of `input` (following those added before) to groups. Groups
    /// are found by a hash of the grouping labels read in place; a group's label set is
    /// built once, when its first member is seen.
    fn add(&mut self, input: &Matrix, a: &AggregateExpr) {
        let in_group = |l: &&Label| {
            if a.without {
                l.name != METRIC_NAME && !a.grouping.contains(&l.name)
            } else {
                a.grouping.contains(&l.name)
            }
        };
        for s in input {
            // Grouping sees names that are only flagged for removal (upstream's delayed
            // name removal); the group drops the name if any member does.
            let h = if a.without {
                s.metric.hash_without_labels(&a.grouping)
            } else {
                s.metric.hash_for_labels(&a.grouping)
            };
            let ids = self.index.entry(h).or_default();
            let labels = &self.labels;
            let found = ids
                .iter()
                .copied()
                .find(|&id| labels[id].iter().eq(s.metric.iter().filter(in_group)));
            let id = match found {
                Some(id) => id,
                None => {
                    let id = self.labels.len();
                    ids.push(id);
                    self.labels
                        .push(group_labels(&s.metric, &a.grouping, a.without));
                    self.drop_name.push(false);
                    id
                }
            };
            self.drop_name[id] |= s.drop_name;
            self.group_of.push(id);
        }
    }
}

/// The members of each group present at one step, rebuilt step by step in reused
/// buffers.
struct StepGroups {
    /// `(series index, value)` of each group's members at this step, in series order.
    members: Vec<Vec<(usize, f64)>>,
    /// Groups with members at this step, ordered by their first member.
    touched: Vec<usize>,
}

impl StepGroups {
    fn new(groups: usize) -> Self {
        StepGroups {
            members: vec![Vec::new(); groups],
            touched: Vec::new(),
        }
    }

    /// Buckets one step's samples by group.
    fn fill(&mut self, samples: &[(usize, f64)], group_of: &[usize]) {
        for g in self.touched.drain(..) {
            self.members[g].clear();
        }
        for &(j, f) in samples {
            let g = group_of[j];
            if self.members[g].is_empty() {
                self.touched.push(g);
            }
            self.members[g].push((j, f));
        }
        let members = &self.members;
        self.touched.sort_unstable_by_key(|&g| members[g][0].0);
    }
}

/// Output slots of input series (for the operators that keep series: topk, limitk, ...),
/// created on first use so the output is in order of first appearance.
struct SeriesSlots {
    slots: Vec<Option<usize>>,
}

impl SeriesSlots {
    fn new(n: usize) -> Self {
        SeriesSlots {
            slots: vec![None; n],
        }
    }

    fn push(
        &mut self,
        builder: &mut MatrixBuilder,
        input: &Matrix,
        j: usize,
        ts: i64,
        f: f64,
    ) -> Result<(), EvalError> {
        let slot = match self.slots[j] {
            Some(s) => s,
            None => {
                let s = builder.slot(&input[j].metric, input[j].drop_name);
                self.slots[j] = Some(s);
                s
            }
        };
        builder.push(slot, ts, f)
    }
}

/// topk (`top`) or bottomk: per group and step the k largest (smallest) values, NaN last,
/// ties in input order, output in rank order.
fn eval_top_bottom(
    ev: &mut Evaluator<'_>,
    top: bool,
    ks: &[f64],
    input: &Matrix,
    grouping: &Grouping,
) -> Result<Matrix, EvalError> {
    let mut builder = MatrixBuilder::new();
    let mut slots = SeriesSlots::new(input.len());
    let mut step = StepGroups::new(grouping.labels.len());
    let mut sorted: Vec<(usize, f64)> = Vec::new();
    let cmp = |x: &(usize, f64), y: &(usize, f64)| {
        use std::cmp::Ordering;
        let o = match (x.1.is_nan(), y.1.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => {
                let o = x.1.partial_cmp(&y.1).unwrap_or(Ordering::Equal);
                if top {
                    o.reverse()
                } else {
                    o
                }
            }
        };
        // Ties keep input order, so results are deterministic.
        o.then(x.0.cmp(&y.0))
    };
    ev.for_each_step(input, |_, i, ts, samples| {
        step.fill(samples, &grouping.group_of);
        if step.touched.is_empty() {
            return Ok(());
        }
        let k = k_param(ks.get(i).copied().unwrap_or(f64::NAN))?;
        if k < 1 {
            return Ok(());
        }
        for &g in &step.touched {
            sorted.clear();
            sorted.extend_from_slice(&step.members[g]);
            let k = (k as usize).min(sorted.len());
            if k < sorted.len() {
                sorted.select_nth_unstable_by(k - 1, cmp);
                sorted.truncate(k);
            }
            sorted.sort_unstable_by(cmp);
            for &(j, f) in &sorted {
                slots.push(&mut builder, input, j, ts, f)?;
            }
        }
        Ok(())
    })?;
    Ok(builder.finish())
}

/// limitk: per group and step the first k members in input order.
fn eval_limitk(
    ev: &mut Evaluator<'_>,
    ks: &[f64],
    input: &Matrix,
    grouping: &Grouping,
) -> Result<Matrix, EvalError> {
    let mut builder = MatrixBuilder::new();
    let mut slots = SeriesSlots::new(input.len());
    let mut step = StepGroups::new(grouping.labels.len());
    ev.for_each_step(input, |_, i, ts, samples| {
        step.fill(samples, &grouping.group_of);
        if step.touched.is_empty() {
            return Ok(());
        }
        let k = k_param(ks.get(i).copied().unwrap_or(f64::NAN))?;
        if k < 1 {
            return Ok(());
        }
        for &g in &step.touched {
            for &(j, f) in step.members[g].iter().take(k as usize) {
                slots.push(&mut builder, input, j, ts, f)?;
            }
        }
        Ok(())
    })?;
    Ok(builder.finish())
}

/// limit_ratio: a deterministic sample of the series by their label hash (upstream's
/// `HashRatioSampler`); a negative ratio takes the complement.
fn eval_limit_ratio(
    ev: &mut Evaluator<'_>,
    ratios: &[f64],
    input: &Matrix,
    grouping: &Grouping,
) -> Result<Matrix, EvalError> {
    let mut builder = MatrixBuilder::new();
    let mut slots = SeriesSlots::new(input.len());
    let mut step = StepGroups::new(grouping.labels.len());
    let mut offsets: Vec<Option<f64>> = vec![None; input.len()];
    let mut warned = false;
    ev.for_each_step(input, |ev, i, ts, samples| {
        step.fill(samples, &grouping.group_of);
        if step.touched.is_empty() {
            return Ok(());
        }
        let mut r = ratios.get(i).copied().unwrap_or(f64::NAN);
        if !(-1.0..=1.0).contains(&r) {
            let capped = r.clamp(-1.0, 1.0);
            if !warned {
                ev.annos.warn(format!(
                    "ratio value should be between -1 and 1, got {}, capping to {}",
                    crate::model::value::format_go_float(r),
                    crate::model::value::format_go_float(capped)
                ));
                warned = true;
            }
            r = capped;
        }
        for &g in &step.touched {
            for &(j, f) in &step.members[g] {
                let off = *offsets[j].get_or_insert_with(|| {
                    go_labels_hash(&input[j].metric) as f64 / u64::MAX as f64
                });
                if (r >= 0.0 && off < r) || (r < 0.0 && off >= 1.0 + r) {
                    slots.push(&mut builder, input, j, ts, f)?;
                }
            }
        }
        Ok(())
    })?;
    Ok(builder.finish())
}

/// count_values: per step, the number of series per (group, value) pair. Upstream sets
/// the value label on each series first and groups after (`by` adds the label to the
/// grouping), so when the label is also a grouping label, groups whose series share a
/// value merge into one output series, and `without (label)` (`drop_label`) drops it.
fn eval_count_values(
    ev: &mut Evaluator<'_>,
    label: &str,
    drop_label: bool,
    input: &Matrix,
    grouping: &Grouping,
) -> Result<Matrix, EvalError> {
    let mut builder = MatrixBuilder::new();
    let mut step = StepGroups::new(grouping.labels.len());
    let mut slots: HashMap<Labels, usize> = HashMap::new();
    // The output series of the current step, in order of first appearance.
    let mut counts: Vec<(Labels, f64)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    ev.for_each_step(input, |_, _, ts, samples| {
        step.fill(samples, &grouping.group_of);
        index.clear();
        for &g in &step.touched {
            for &(_, f) in &step.members[g] {
                let l = if drop_label {
                    grouping.labels[g].clone()
                } else {
                    let mut b = grouping.labels[g].builder();
                    b.set(label, &crate::model::value::format_go_f(f));
                    b.labels()
                };
                match index.get(&l) {
                    Some(&k) => counts[k].1 += 1.0,
                    None => {
                        index.insert(l.clone(), counts.len());
                        counts.push((l, 1.0));
                    }
                }
            }
        }
        for (l, c) in counts.drain(..) {
            let slot = match slots.get(&l) {
                Some(&s) => s,
                None => {
                    let s = builder.slot(&l, false);
                    slots.insert(l, s);
                    s
                }
            };
            builder.push(slot, ts, c)?;
        }
        Ok(())
    })?;
    Ok(builder.finish())
}

/// Most groups × steps accumulated in one dense grid by [`reduce_dense`] (a few tens of
/// MB at most); larger aggregations go step by step.
const DENSE_CELLS: usize = 1 << 20;

/// A reduction without a parameter, series by series: every point is added to its
/// group's accumulator at its step in one pass over the input (no per-step transpose of
/// the input, no per-step member lists). Values reach each accumulator in series order,
/// as in the step-by-step path, so results are identical; output series come in the
/// step-by-step path's order too: by the first step a group has a member at, then by that
/// member's input position.
fn reduce_dense<A: Acc>(
    ev: &mut Evaluator<'_>,
    input: &Matrix,
    grouping: &Grouping,
) -> Result<Matrix, EvalError> {
    let mut cells = DenseCells::<A>::new(ev.n_steps());
    cells.add(ev, input, grouping, 0)?;
    Ok(cells.finish(ev, grouping))
}

/// The group x step accumulators of [`reduce_dense`], fed one part of the input at a time.
struct DenseCells<A> {
    n: usize,
    cells: Vec<A>,
    /// Per group: (first step with a member, that member's input index).
    first: Vec<(usize, usize)>,
}

impl<A: Acc> DenseCells<A> {
    fn new(n: usize) -> Self {
        DenseCells {
            n,
            cells: Vec::new(),
            first: Vec::new(),
        }
    }

    /// Adds `input`, whose first series is series `base` of the whole input (its group
    /// is `grouping.group_of[base]`).
    fn add(
        &mut self,
        ev: &mut Evaluator<'_>,
        input: &Matrix,
        grouping: &Grouping,
        base: usize,
    ) -> Result<(), EvalError> {
        let (n, groups) = (self.n, grouping.labels.len());
        if self.first.len() < groups {
            self.cells.resize(groups * n, A::default());
            self.first.resize(groups, (usize::MAX, usize::MAX));
        }
        for (k, s) in input.iter().enumerate() {
            ev.check()?;
            let j = base + k;
            let g = grouping.group_of[j];
            let row = &mut self.cells[g * n..(g + 1) * n];
            for p in &s.floats {
                let i = ev.step_of(p.t);
                if let Some(cell) = row.get_mut(i) {
                    cell.push(p.f);
                    if i < self.first[g].0 {
                        self.first[g] = (i, j);
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(self, ev: &Evaluator<'_>, grouping: &Grouping) -> Matrix {
        let n = self.n;
        let first = &self.first;
        let mut order: Vec<usize> = (0..first.len()).filter(|&g| first[g].0 < n).collect();
        order.sort_unstable_by_key(|&g| first[g]);
        let mut out = Vec::with_capacity(order.len());
        for g in order {
            let row = &self.cells[g * n..(g + 1) * n];
            let floats = row
                .iter()
                .enumerate()
                .filter(|(_, c)| c.present())
                .map(|(i, c)| FPoint {
                    t: ev.ts(i),
                    f: c.finish(),
                })
                .collect();
            out.push(Series {
                metric: grouping.labels[g].clone(),
                floats,
                drop_name: grouping.drop_name[g],
            });
        }
        out
    }
}

/// sum, avg, count, group, min, max, stdvar and stddev of a range function computed series
/// by series (`rate(x[5m])`, ...): its input is evaluated a batch of series at a time and
/// each batch is added to the accumulators and dropped, so neither the raw samples nor
/// the function's output are ever held whole. Identical to evaluating the input and then
/// [`reduce_dense`] (same accumulation order, same output order). `None` when `a` is not
/// of that shape.
fn eval_streamed(ev: &mut Evaluator<'_>, a: &AggregateExpr) -> Option<Result<Matrix, EvalError>> {
    if a.param.is_some() {
        return None;
    }
    let super::super::ast::Expr::Call(c) = a.expr.unparen() else {
        return None;
    };
    let ms = super::functions::per_series_range_arg(c)?;
    fn run<A: Acc>(
        ev: &mut Evaluator<'_>,
        a: &AggregateExpr,
        c: &super::super::ast::Call,
        ms: &super::super::ast::MatrixSelector,
    ) -> Result<Matrix, EvalError> {
        let mut grouping = Grouping::default();
        let mut cells = DenseCells::<A>::new(ev.n_steps());
        ev.for_each_series_batch(
            ms,
            |ev| super::functions::eval_call_unbatched(ev, c),
            |ev, m| {
                let base = grouping.group_of.len();
                grouping.add(&m, a);
                cells.add(ev, &m, &grouping, base)
            },
        )?;
        Ok(cells.finish(ev, &grouping))
    }
    Some(match a.op {
        AggregateOp::Sum => run::<SumAcc>(ev, a, c, ms),
        AggregateOp::Avg => run::<AvgAcc>(ev, a, c, ms),
        AggregateOp::Count => run::<CountAcc>(ev, a, c, ms),
        AggregateOp::Group => run::<GroupAcc>(ev, a, c, ms),
        AggregateOp::Min => run::<MinMaxAcc<false>>(ev, a, c, ms),
        AggregateOp::Max => run::<MinMaxAcc<true>>(ev, a, c, ms),
        AggregateOp::Stdvar => run::<VarAcc<false>>(ev, a, c, ms),
        AggregateOp::Stddev => run::<VarAcc<true>>(ev, a, c, ms),
        _ => return None,
    })
}

/// The operators that reduce a group to one value per step: sum, avg, count, group,
/// min, max, stdvar, stddev and quantile (`param`: φ per step).
fn eval_reduce(
    ev: &mut Evaluator<'_>,
    op: AggregateOp,
    param: Option<&[f64]>,
    input: &Matrix,
    grouping: &Grouping,
) -> Result<Matrix, EvalError> {
    if grouping.labels.len().saturating_mul(ev.n_steps()) <= DENSE_CELLS {
        match op {
            AggregateOp::Sum => return reduce_dense::<SumAcc>(ev, input, grouping),
            AggregateOp::Avg => return reduce_dense::<AvgAcc>(ev, input, grouping),
            AggregateOp::Count => return reduce_dense::<CountAcc>(ev, input, grouping),
            AggregateOp::Group => return reduce_dense::<GroupAcc>(ev, input, grouping),
            AggregateOp::Min => return reduce_dense::<MinMaxAcc<false>>(ev, input, grouping),
            AggregateOp::Max => return reduce_dense::<MinMaxAcc<true>>(ev, input, grouping),
            AggregateOp::Stdvar => return reduce_dense::<VarAcc<false>>(ev, input, grouping),
            AggregateOp::Stddev => return reduce_dense::<VarAcc<true>>(ev, input, grouping),
            _ => {}
        }
    }
    let mut builder = MatrixBuilder::new();
    let mut slots: Vec<Option<usize>> = vec![None; grouping.labels.len()];
    let mut step = StepGroups::new(grouping.labels.len());
    let mut vals: Vec<f64> = Vec::new();
    ev.for_each_step(input, |ev, i, ts, samples| {
        step.fill(samples, &grouping.group_of);
        let p = param.and_then(|p| p.get(i).copied());
        for &g in &step.touched {
            vals.clear();
            vals.extend(step.members[g].iter().map(|&(_, f)| f));
            let v = match op {
                AggregateOp::Sum => sum(&vals),
                AggregateOp::Avg => avg(&vals),
                AggregateOp::Count => vals.len() as f64,
                AggregateOp::Group => 1.0,
                AggregateOp::Min => {
                    let mut r = vals[0];
                    for &f in &vals[1..] {
                        if r > f || r.is_nan() {
                            r = f;
                        }
                    }
                    r
                }
                AggregateOp::Max => {
                    let mut r = vals[0];
                    for &f in &vals[1..] {
                        if r < f || r.is_nan() {
                            r = f;
                        }
                    }
                    r
                }
                AggregateOp::Stdvar => variance(&vals),
                AggregateOp::Stddev => variance(&vals).sqrt(),
                AggregateOp::Quantile => {
                    let q = p.unwrap_or(f64::NAN);
                    if q.is_nan() || !(0.0..=1.0).contains(&q) {
                        ev.annos.warn(format!(
                            "quantile value should be between 0 and 1, got {}",
                            crate::model::value::format_go_float(q)
                        ));
                    }
                    quantile(q, &mut vals)
                }
                _ => f64::NAN,
            };
            let slot = match slots[g] {
                Some(s) => s,
                None => {
                    let s = builder.slot(&grouping.labels[g], grouping.drop_name[g]);
                    slots[g] = Some(s);
                    s
                }
            };
            builder.push(slot, ts, v)?;
        }
        Ok(())
    })?;
    Ok(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avg_switches_to_incremental_mean_on_overflow() {
        let big = 1.7976931348623157e308;
        assert_eq!(avg(&[big, big]), big);
        assert_eq!(avg(&[1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(avg(&[f64::INFINITY, 1.0]), f64::INFINITY);
        assert!(avg(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
    }

    #[test]
    fn variance_with_nan_and_inf() {
        assert_eq!(variance(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]), 4.0);
        assert!(variance(&[1.0, f64::NAN]).is_nan());
        assert!(variance(&[f64::INFINITY, 1.0]).is_nan());
        assert_eq!(variance(&[3.0]), 0.0);
    }

    #[test]
    fn count_values_formats_like_go() {
        assert_eq!(
            crate::model::value::format_go_f(1e21),
            "1000000000000000000000"
        );
        assert_eq!(crate::model::value::format_go_f(0.1), "0.1");
        assert_eq!(crate::model::value::format_go_f(f64::INFINITY), "+Inf");
        assert_eq!(crate::model::value::format_go_f(2.0), "2");
    }

    #[test]
    fn go_hash_is_xxhash64() {
        // xxhash64 of the empty input with seed 0.
        assert_eq!(go_labels_hash(&Labels::empty()), 0xef46db3751d8e999);
    }

    /// Feeds `vals` to a fresh accumulator, as the dense grid does.
    fn fed<A: Acc>(vals: &[f64]) -> f64 {
        let mut a = A::default();
        for &v in vals {
            a.push(v);
        }
        assert!(a.present());
        a.finish()
    }

    #[test]
    fn accumulators_match_the_slice_functions_bit_for_bit() {
        let big = 1.7976931348623157e308;
        let cases: Vec<Vec<f64>> = vec![
            vec![1.0],
            vec![0.1, 0.2, 0.3, 1e16, -1e16],
            vec![big, big, 1.0],
            vec![f64::NAN, 3.0, 1.0],
            vec![2.0, f64::NAN, -1.0],
            vec![f64::INFINITY, 1.0, f64::NEG_INFINITY],
            vec![-0.0, 0.0],
            (0..200)
                .map(|i| ((i * 37) % 101) as f64 / 7.0 - 5.0)
                .collect(),
        ];
        let min = |v: &[f64]| {
            let mut r = v[0];
            for &f in &v[1..] {
                if r > f || r.is_nan() {
                    r = f;
                }
            }
            r
        };
        let max = |v: &[f64]| {
            let mut r = v[0];
            for &f in &v[1..] {
                if r < f || r.is_nan() {
                    r = f;
                }
            }
            r
        };
        for v in &cases {
            let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
            assert!(same(fed::<SumAcc>(v), sum(v)), "sum {v:?}");
            assert!(same(fed::<AvgAcc>(v), avg(v)), "avg {v:?}");
            assert!(same(fed::<CountAcc>(v), v.len() as f64), "count {v:?}");
            assert!(same(fed::<GroupAcc>(v), 1.0), "group {v:?}");
            assert!(same(fed::<MinMaxAcc<false>>(v), min(v)), "min {v:?}");
            assert!(same(fed::<MinMaxAcc<true>>(v), max(v)), "max {v:?}");
            assert!(same(fed::<VarAcc<false>>(v), variance(v)), "stdvar {v:?}");
            assert!(
                same(fed::<VarAcc<true>>(v), variance(v).sqrt()),
                "stddev {v:?}"
            );
        }
        assert!(!AvgAcc::default().present());
        assert!(avg(&[]).is_nan());
        assert!(variance(&[]).is_nan());
    }

    #[test]
    fn k_param_errors() {
        assert!(k_param(f64::NAN).is_err());
        assert!(k_param(1e30).is_err());
        assert_eq!(k_param(2.7).ok(), Some(2));
    }
}
