//! The PromQL abstract syntax tree: the nodes the parser builds, the evaluator walks and the
//! printer turns back into text.
//!
//! Mirrors upstream `promql/parser/ast.go` (node kinds, `ValueType`, `VectorMatching`,
//! `DurationExpr`) with Rust enums instead of interfaces. Invariants the parser guarantees for
//! every tree it returns:
//! - a [`VectorSelector`] written with a metric name (`foo{...}`) has `name: Some("foo")` and
//!   a trailing `__name__="foo"` equality matcher, as upstream's `assembleVectorSelector` adds;
//! - `offset`/`@` modifiers of a range selector live on its inner [`VectorSelector`];
//! - [`BinaryExpr::matching`] is `Some` exactly when both operands are instant vectors, and set
//!   operators (`and`, `or`, `unless`) then always carry [`VectorMatchCardinality::ManyToMany`];
//! - a plain duration literal (`5m`, `300`) is kept as [`Duration::Literal`] in milliseconds,
//!   only real arithmetic (`[5m+1m]`, `offset step()`) becomes a [`DurationExpr`].

use std::fmt;

use crate::model::Matcher;

use super::functions::Function;

/// The type a PromQL expression evaluates to (upstream `ValueType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// A single float without labels.
    Scalar,
    /// A set of series with one sample each at the evaluation time.
    Vector,
    /// A set of series with a range of samples each.
    Matrix,
    /// A string literal.
    String,
}

impl ValueType {
    /// The name upstream uses in type errors (`DocumentedType`): "scalar", "instant vector",
    /// "range vector", "string".
    pub fn documented(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.documented())
    }
}

/// Compares floats so that a tree equals itself after a print/parse round trip: bit-equal, or
/// both NaN (the printer writes every NaN as `NaN`).
fn same_float(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// A PromQL expression.
///
/// Cloning, comparing and dropping recurse once per tree level through
/// [`super::with_stack`], so trees as deep as the parser accepts are safe on any thread.
#[derive(Debug)]
pub enum Expr {
    /// `1`, `-2.5e3`, `0x1f`, `Inf`, or a duration used as a number (`5m` = 300).
    NumberLiteral(NumberLiteral),
    /// `"foo"`, `'foo'` or `` `foo` ``, unescaped.
    StringLiteral(StringLiteral),
    /// `foo{job="api"} offset 5m @ 100`.
    VectorSelector(VectorSelector),
    /// `foo[5m]`.
    MatrixSelector(MatrixSelector),
    /// `expr[30m:1m]`.
    Subquery(SubqueryExpr),
    /// `sum by (job) (x)`, `topk(3, x)`.
    Aggregate(AggregateExpr),
    /// `a + on(job) group_left b`.
    Binary(BinaryExpr),
    /// `-x`, `+x` (a sign directly before a number literal is folded into the literal).
    Unary(UnaryExpr),
    /// `(expr)`.
    Paren(Box<Expr>),
    /// `rate(x[5m])`.
    Call(Call),
}

/// A number literal. `duration` records that it was written as a duration (`5m`), which only
/// changes how it is printed.
#[derive(Clone, Copy, Debug)]
pub struct NumberLiteral {
    /// The value; durations are converted to seconds.
    pub val: f64,
    /// Written as a duration such as `1m30s`.
    pub duration: bool,
}

impl PartialEq for NumberLiteral {
    fn eq(&self, other: &Self) -> bool {
        same_float(self.val, other.val) && self.duration == other.duration
    }
}

/// A string literal, unescaped. PromQL strings are Go's byte strings: `\xHH` and octal escapes
/// may spell bytes that are not UTF-8 (`"a\xc5z"`). Such a literal parses, as upstream's does;
/// `value` then holds it with each invalid sequence replaced by U+FFFD and `invalid_utf8` keeps
/// the exact bytes, so that a use needing a valid label name fails as upstream's does and the
/// printer writes the same bytes back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StringLiteral {
    /// The text (lossy when the bytes are not UTF-8).
    pub value: String,
    /// The literal's bytes, only when they are not valid UTF-8.
    pub invalid_utf8: Option<Box<[u8]>>,
}

impl StringLiteral {
    /// A literal from its unescaped bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        match String::from_utf8(bytes) {
            Ok(value) => StringLiteral {
                value,
                invalid_utf8: None,
            },
            Err(e) => StringLiteral {
                value: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                invalid_utf8: Some(e.into_bytes().into_boxed_slice()),
            },
        }
    }

    /// The literal's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.invalid_utf8
            .as_deref()
            .unwrap_or(self.value.as_bytes())
    }
}

impl From<&str> for StringLiteral {
    fn from(s: &str) -> Self {
        StringLiteral {
            value: s.to_string(),
            invalid_utf8: None,
        }
    }
}

/// The `@` modifier of a selector or subquery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtModifier {
    /// `@ 1609746000` (stored in milliseconds, rounded like upstream `FromFloatSeconds`).
    Timestamp(i64),
    /// `@ start()`: the start of the query range.
    Start,
    /// `@ end()`: the end of the query range.
    End,
}

/// A range, subquery step or offset: a literal, or an expression computed at evaluation time
/// from the query's step and range.
#[derive(Clone, Debug, PartialEq)]
pub enum Duration {
    /// A fixed number of milliseconds (`5m`, `300`, `-1h` for an offset).
    Literal(i64),
    /// A duration expression such as `5m+30s`, `step()*2` or `min_of(range(), 1h)`.
    Expr(Box<DurationExpr>),
}

impl Duration {
    /// Resolves the duration to milliseconds given the query step and range (both in ms).
    pub fn resolve(&self, step_ms: i64, range_ms: i64) -> Result<i64, DurationEvalError> {
        match self {
            Duration::Literal(ms) => Ok(*ms),
            Duration::Expr(e) => e.eval_ms(step_ms, range_ms),
        }
    }
}

/// Arithmetic operators allowed inside duration expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurationOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl DurationOp {
    /// The operator as written in PromQL.
    pub fn as_str(self) -> &'static str {
        match self {
            DurationOp::Add => "+",
            DurationOp::Sub => "-",
            DurationOp::Mul => "*",
            DurationOp::Div => "/",
            DurationOp::Mod => "%",
            DurationOp::Pow => "^",
        }
    }
}

/// A duration expression (upstream `DurationExpr`, PromQL's experimental duration
/// arithmetic). Values are in seconds: a plain number means seconds, `5m` means 300.
#[derive(Clone, Debug, PartialEq)]
pub enum DurationExpr {
    /// A plain number of seconds (`1800`, `1.5`).
    Number(NumberLiteral),
    /// A duration literal in milliseconds (`5m`).
    Literal(i64),
    /// `step()`: the query resolution step (0 for instant queries).
    Step,
    /// `range()`: the query's end minus start (0 for instant queries).
    Range,
    /// `min_of(a, b)`.
    MinOf(Box<DurationExpr>, Box<DurationExpr>),
    /// `max_of(a, b)`.
    MaxOf(Box<DurationExpr>, Box<DurationExpr>),
    /// `-d` or `+d`.
    Unary(UnaryOp, Box<DurationExpr>),
    /// `a op b`.
    Binary(DurationOp, Box<DurationExpr>, Box<DurationExpr>),
    /// `(d)`.
    Paren(Box<DurationExpr>),
}

/// Why a duration expression could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationEvalError {
    #[error("division by zero in duration expression {expr}")]
    DivisionByZero { expr: String },
    #[error("modulo by zero in duration expression {expr}")]
    ModuloByZero { expr: String },
    #[error("duration expression {expr} is out of range: {value}")]
    OutOfRange { expr: String, value: f64 },
}

impl DurationExpr {
    /// Computes the expression in seconds given the query step and range in milliseconds.
    pub fn eval_seconds(&self, step_ms: i64, range_ms: i64) -> Result<f64, DurationEvalError> {
        Ok(match self {
            DurationExpr::Number(n) => n.val,
            DurationExpr::Literal(ms) => *ms as f64 / 1000.0,
            DurationExpr::Step => step_ms as f64 / 1000.0,
            DurationExpr::Range => range_ms as f64 / 1000.0,
            DurationExpr::MinOf(a, b) => {
                let (a, b) = (
                    a.eval_seconds(step_ms, range_ms)?,
                    b.eval_seconds(step_ms, range_ms)?,
                );
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else {
                    a.min(b)
                }
            }
            DurationExpr::MaxOf(a, b) => {
                let (a, b) = (
                    a.eval_seconds(step_ms, range_ms)?,
                    b.eval_seconds(step_ms, range_ms)?,
                );
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else {
                    a.max(b)
                }
            }
            DurationExpr::Unary(op, e) => {
                let v = e.eval_seconds(step_ms, range_ms)?;
                match op {
                    UnaryOp::Neg => -v,
                    UnaryOp::Pos => v,
                }
            }
            DurationExpr::Paren(e) => e.eval_seconds(step_ms, range_ms)?,
            DurationExpr::Binary(op, l, r) => {
                let l = l.eval_seconds(step_ms, range_ms)?;
                let r = r.eval_seconds(step_ms, range_ms)?;
                match op {
                    DurationOp::Add => l + r,
                    DurationOp::Sub => l - r,
                    DurationOp::Mul => l * r,
                    DurationOp::Div => {
                        if r == 0.0 {
                            return Err(DurationEvalError::DivisionByZero {
                                expr: self.to_string(),
                            });
                        }
                        l / r
                    }
                    DurationOp::Mod => {
                        if r == 0.0 {
                            return Err(DurationEvalError::ModuloByZero {
                                expr: self.to_string(),
                            });
                        }
                        // Go's math.Mod: result has the sign of the dividend, like Rust's %.
                        l % r
                    }
                    DurationOp::Pow => l.powf(r),
                }
            }
        })
    }

    /// Computes the expression in whole milliseconds (truncating, like upstream's
    /// `time.Duration(seconds*1000) * time.Millisecond`).
    fn eval_ms(&self, step_ms: i64, range_ms: i64) -> Result<i64, DurationEvalError> {
        let secs = self.eval_seconds(step_ms, range_ms)?;
        seconds_to_ms(secs).ok_or_else(|| DurationEvalError::OutOfRange {
            expr: self.to_string(),
            value: secs,
        })
    }

    /// True when the expression reads `step()` or `range()`, i.e. its value depends on the
    /// query rather than being a constant.
    pub fn depends_on_query(&self) -> bool {
        match self {
            DurationExpr::Number(_) | DurationExpr::Literal(_) => false,
            DurationExpr::Step | DurationExpr::Range => true,
            DurationExpr::MinOf(a, b) | DurationExpr::MaxOf(a, b) => {
                a.depends_on_query() || b.depends_on_query()
            }
            DurationExpr::Binary(_, a, b) => a.depends_on_query() || b.depends_on_query(),
            DurationExpr::Unary(_, e) | DurationExpr::Paren(e) => e.depends_on_query(),
        }
    }
}

/// Converts seconds to whole milliseconds, truncating toward zero; `None` when not finite or
/// outside the i64 range.
pub(crate) fn seconds_to_ms(secs: f64) -> Option<i64> {
    let ms = (secs * 1000.0).trunc();
    if !ms.is_finite() || ms >= i64::MAX as f64 || ms <= i64::MIN as f64 {
        return None;
    }
    Some(ms as i64)
}

/// An instant vector selector: `name{matchers} @ at offset offset`.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorSelector {
    /// The metric name when written before the braces (`foo{...}`), `None` for `{...}`.
    pub name: Option<String>,
    /// All matchers, including the `__name__` equality matcher for `name` (last).
    pub matchers: Vec<Matcher>,
    /// The `offset` modifier as written (negative for `offset -5m`).
    pub offset: Option<Duration>,
    /// The `@` modifier.
    pub at: Option<AtModifier>,
    /// The experimental `anchored` range modifier.
    pub anchored: bool,
    /// The experimental `smoothed` range modifier.
    pub smoothed: bool,
}

/// A range vector selector: `selector[range]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixSelector {
    /// The selector; carries the `offset`/`@`/`anchored`/`smoothed` modifiers.
    pub vector_selector: VectorSelector,
    /// How far back the range reaches.
    pub range: Duration,
}

/// A subquery: `expr[range:step] @ at offset offset`.
#[derive(Clone, Debug, PartialEq)]
pub struct SubqueryExpr {
    /// The inner instant-vector expression.
    pub expr: Box<Expr>,
    /// How far back the subquery reaches.
    pub range: Duration,
    /// The resolution; `None` for `[range:]` (use the global evaluation interval).
    pub step: Option<Duration>,
    /// The `offset` modifier.
    pub offset: Option<Duration>,
    /// The `@` modifier.
    pub at: Option<AtModifier>,
}

/// Aggregation operators (upstream `aggregators` token group).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    CountValues,
    Quantile,
    Limitk,
    LimitRatio,
}

impl AggregateOp {
    /// Every aggregation operator.
    pub const ALL: [AggregateOp; 14] = [
        AggregateOp::Sum,
        AggregateOp::Avg,
        AggregateOp::Count,
        AggregateOp::Min,
        AggregateOp::Max,
        AggregateOp::Group,
        AggregateOp::Stddev,
        AggregateOp::Stdvar,
        AggregateOp::Topk,
        AggregateOp::Bottomk,
        AggregateOp::CountValues,
        AggregateOp::Quantile,
        AggregateOp::Limitk,
        AggregateOp::LimitRatio,
    ];

    /// The keyword, lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Count => "count",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Topk => "topk",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Quantile => "quantile",
            AggregateOp::Limitk => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
        }
    }

    /// Looks an operator up by keyword, case-insensitively.
    pub fn from_keyword(s: &str) -> Option<AggregateOp> {
        AggregateOp::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(s))
    }

    /// True for operators taking a parameter before the vector (`topk(3, x)`).
    pub fn takes_param(self) -> bool {
        matches!(
            self,
            AggregateOp::Topk
                | AggregateOp::Bottomk
                | AggregateOp::CountValues
                | AggregateOp::Quantile
                | AggregateOp::Limitk
                | AggregateOp::LimitRatio
        )
    }

    /// True for the experimental aggregations (`limitk`, `limit_ratio`).
    pub fn is_experimental(self) -> bool {
        matches!(self, AggregateOp::Limitk | AggregateOp::LimitRatio)
    }
}

impl fmt::Display for AggregateOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An aggregation: `op [by|without (labels)] ([param,] expr)`.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateExpr {
    /// The operator.
    pub op: AggregateOp,
    /// The aggregated instant vector.
    pub expr: Box<Expr>,
    /// The parameter of `topk`, `bottomk`, `quantile`, `count_values`, `limitk`,
    /// `limit_ratio`.
    pub param: Option<Box<Expr>>,
    /// The `by`/`without` labels.
    pub grouping: Vec<String>,
    /// `without` rather than `by`.
    pub without: bool,
}

/// Binary operators, in upstream's token names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eql,
    Neq,
    Gtr,
    Lss,
    Gte,
    Lte,
    And,
    Or,
    Unless,
    /// `</`: keep only the part of a native histogram below the scalar (`TRIM_UPPER`).
    TrimUpper,
    /// `>/`: keep only the part of a native histogram above the scalar (`TRIM_LOWER`).
    TrimLower,
}

impl BinaryOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Gtr => ">",
            BinaryOp::Lss => "<",
            BinaryOp::Gte => ">=",
            BinaryOp::Lte => "<=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
            BinaryOp::TrimUpper => "</",
            BinaryOp::TrimLower => ">/",
        }
    }

    /// `==`, `!=`, `>`, `<`, `>=`, `<=`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eql
                | BinaryOp::Neq
                | BinaryOp::Gtr
                | BinaryOp::Lss
                | BinaryOp::Gte
                | BinaryOp::Lte
        )
    }

    /// `and`, `or`, `unless`.
    pub fn is_set_operator(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }

    /// Binding strength, higher binds tighter (upstream's yacc precedence list):
    /// `or` 1, `and`/`unless` 2, comparisons 3, `+ -` 4, `* / % atan2 </ >/` 5, `^` 6.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eql
            | BinaryOp::Neq
            | BinaryOp::Gtr
            | BinaryOp::Lss
            | BinaryOp::Gte
            | BinaryOp::Lte => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Mod
            | BinaryOp::Atan2
            | BinaryOp::TrimUpper
            | BinaryOp::TrimLower => 5,
            BinaryOp::Pow => 6,
        }
    }

    /// Only `^` associates to the right.
    pub fn is_right_associative(self) -> bool {
        self == BinaryOp::Pow
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How series on the two sides of a vector/vector operation are paired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VectorMatchCardinality {
    /// The default for arithmetic and comparisons.
    OneToOne,
    /// `group_left`.
    ManyToOne,
    /// `group_right`.
    OneToMany,
    /// Set operators.
    ManyToMany,
}

/// Values to use for series missing on one side of a binary operation (the experimental
/// `fill(v)`, `fill_left(v)`, `fill_right(v)` modifiers).
#[derive(Clone, Copy, Debug, Default)]
pub struct FillValues {
    /// Used when a right-hand series has no left-hand match.
    pub lhs: Option<f64>,
    /// Used when a left-hand series has no right-hand match.
    pub rhs: Option<f64>,
}

impl FillValues {
    /// True when neither side is filled.
    pub fn is_empty(&self) -> bool {
        self.lhs.is_none() && self.rhs.is_none()
    }
}

impl PartialEq for FillValues {
    fn eq(&self, other: &Self) -> bool {
        let eq = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => same_float(a, b),
            (None, None) => true,
            _ => false,
        };
        eq(self.lhs, other.lhs) && eq(self.rhs, other.rhs)
    }
}

/// Vector matching of a binary operation between two instant vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorMatching {
    /// The cardinality of the match.
    pub card: VectorMatchCardinality,
    /// The `on`/`ignoring` labels.
    pub matching_labels: Vec<String>,
    /// `on` rather than `ignoring`.
    pub on: bool,
    /// The extra labels of `group_left(...)`/`group_right(...)` copied from the "one" side.
    pub include: Vec<String>,
    /// The fill modifiers.
    pub fill: FillValues,
}

impl Default for VectorMatching {
    fn default() -> Self {
        VectorMatching {
            card: VectorMatchCardinality::OneToOne,
            matching_labels: Vec::new(),
            on: false,
            include: Vec::new(),
            fill: FillValues::default(),
        }
    }
}

/// A binary operation.
#[derive(Clone, Debug, PartialEq)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinaryOp,
    /// Left operand.
    pub lhs: Box<Expr>,
    /// Right operand.
    pub rhs: Box<Expr>,
    /// The `bool` modifier of a comparison.
    pub return_bool: bool,
    /// Present when both operands are instant vectors.
    pub matching: Option<VectorMatching>,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-`.
    Neg,
    /// `+`.
    Pos,
}

impl UnaryOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Pos => "+",
        }
    }
}

/// A unary operation.
#[derive(Clone, Debug, PartialEq)]
pub struct UnaryExpr {
    /// The operator.
    pub op: UnaryOp,
    /// The operand (scalar or instant vector).
    pub expr: Box<Expr>,
}

/// A function call.
#[derive(Clone, Debug)]
pub struct Call {
    /// The function, from [`super::functions::FUNCTIONS`].
    pub func: &'static Function,
    /// The arguments.
    pub args: Vec<Expr>,
}

impl PartialEq for Call {
    fn eq(&self, other: &Self) -> bool {
        self.func.name == other.func.name && self.args == other.args
    }
}

impl Clone for Expr {
    fn clone(&self) -> Self {
        super::with_stack(|| match self {
            Expr::NumberLiteral(n) => Expr::NumberLiteral(*n),
            Expr::StringLiteral(s) => Expr::StringLiteral(s.clone()),
            Expr::VectorSelector(vs) => Expr::VectorSelector(vs.clone()),
            Expr::MatrixSelector(ms) => Expr::MatrixSelector(ms.clone()),
            Expr::Subquery(sq) => Expr::Subquery(sq.clone()),
            Expr::Aggregate(a) => Expr::Aggregate(a.clone()),
            Expr::Binary(b) => Expr::Binary(b.clone()),
            Expr::Unary(u) => Expr::Unary(u.clone()),
            Expr::Paren(e) => Expr::Paren(e.clone()),
            Expr::Call(c) => Expr::Call(c.clone()),
        })
    }
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        super::with_stack(|| match (self, other) {
            (Expr::NumberLiteral(a), Expr::NumberLiteral(b)) => a == b,
            (Expr::StringLiteral(a), Expr::StringLiteral(b)) => a == b,
            (Expr::VectorSelector(a), Expr::VectorSelector(b)) => a == b,
            (Expr::MatrixSelector(a), Expr::MatrixSelector(b)) => a == b,
            (Expr::Subquery(a), Expr::Subquery(b)) => a == b,
            (Expr::Aggregate(a), Expr::Aggregate(b)) => a == b,
            (Expr::Binary(a), Expr::Binary(b)) => a == b,
            (Expr::Unary(a), Expr::Unary(b)) => a == b,
            (Expr::Paren(a), Expr::Paren(b)) => a == b,
            (Expr::Call(a), Expr::Call(b)) => a == b,
            _ => false,
        })
    }
}

impl Drop for Expr {
    fn drop(&mut self) {
        // The children are moved out and dropped here, inside `with_stack`, instead of by
        // the drop glue after this returns, which would recurse on the caller's stack.
        let leaf = || {
            Expr::NumberLiteral(NumberLiteral {
                val: 0.0,
                duration: false,
            })
        };
        super::with_stack(|| match self {
            Expr::Paren(e) => drop(std::mem::replace(&mut **e, leaf())),
            Expr::Unary(u) => drop(std::mem::replace(&mut *u.expr, leaf())),
            Expr::Subquery(sq) => drop(std::mem::replace(&mut *sq.expr, leaf())),
            Expr::Binary(b) => {
                drop(std::mem::replace(&mut *b.lhs, leaf()));
                drop(std::mem::replace(&mut *b.rhs, leaf()));
            }
            Expr::Aggregate(a) => {
                drop(std::mem::replace(&mut *a.expr, leaf()));
                drop(a.param.take());
            }
            Expr::Call(c) => drop(std::mem::take(&mut c.args)),
            Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::VectorSelector(_)
            | Expr::MatrixSelector(_) => {}
        })
    }
}

impl Expr {
    /// The vector selector this expression is, or the expression itself when it is
    /// something else. (`Expr` implements `Drop`, so patterns cannot move out of it.)
    pub fn into_vector_selector(mut self) -> Result<VectorSelector, Expr> {
        match &mut self {
            Expr::VectorSelector(vs) => Ok(std::mem::replace(
                vs,
                VectorSelector {
                    name: None,
                    matchers: Vec::new(),
                    offset: None,
                    at: None,
                    anchored: false,
                    smoothed: false,
                },
            )),
            _ => Err(self),
        }
    }

    /// The type the expression evaluates to (upstream `Expr.Type()`).
    pub fn value_type(&self) -> ValueType {
        super::with_stack(|| self.value_type_here())
    }

    fn value_type_here(&self) -> ValueType {
        match self {
            Expr::NumberLiteral(_) => ValueType::Scalar,
            Expr::StringLiteral(_) => ValueType::String,
            Expr::VectorSelector(_) => ValueType::Vector,
            Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Aggregate(_) => ValueType::Vector,
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Unary(u) => u.expr.value_type(),
            Expr::Paren(e) => e.value_type(),
            Expr::Call(c) => c.func.return_type,
        }
    }

    /// Removes any number of enclosing parentheses.
    pub fn unparen(&self) -> &Expr {
        let mut e = self;
        while let Expr::Paren(inner) = e {
            e = inner;
        }
        e
    }

    /// The bytes of a string literal (through parentheses) that is not valid UTF-8: such a
    /// string is never a valid label name.
    pub fn invalid_utf8_string(&self) -> Option<&[u8]> {
        match self.unparen() {
            Expr::StringLiteral(s) => s.invalid_utf8.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_types_match_upstream() {
        assert_eq!(ValueType::Vector.to_string(), "instant vector");
        assert_eq!(ValueType::Matrix.to_string(), "range vector");
        assert_eq!(ValueType::Scalar.to_string(), "scalar");
        assert_eq!(ValueType::String.to_string(), "string");
    }

    #[test]
    fn nan_literals_compare_equal() {
        let a = NumberLiteral {
            val: f64::NAN,
            duration: false,
        };
        let b = NumberLiteral {
            val: -f64::NAN,
            duration: false,
        };
        assert_eq!(a, b);
        let z = NumberLiteral {
            val: 0.0,
            duration: false,
        };
        let nz = NumberLiteral {
            val: -0.0,
            duration: false,
        };
        assert_ne!(z, nz);
    }

    #[test]
    fn duration_expr_evaluates_in_seconds() {
        // 2m*(10+5) = 30m
        let e = DurationExpr::Binary(
            DurationOp::Mul,
            Box::new(DurationExpr::Literal(120_000)),
            Box::new(DurationExpr::Paren(Box::new(DurationExpr::Binary(
                DurationOp::Add,
                Box::new(DurationExpr::Number(NumberLiteral {
                    val: 10.0,
                    duration: false,
                })),
                Box::new(DurationExpr::Number(NumberLiteral {
                    val: 5.0,
                    duration: false,
                })),
            )))),
        );
        assert_eq!(e.eval_ms(0, 0), Ok(1_800_000));
        assert!(!e.depends_on_query());
        let s = DurationExpr::MinOf(
            Box::new(DurationExpr::Step),
            Box::new(DurationExpr::Literal(1000)),
        );
        assert_eq!(s.eval_ms(5000, 0), Ok(1000));
        assert_eq!(s.eval_ms(500, 0), Ok(500));
        assert!(s.depends_on_query());
        let r = DurationExpr::MaxOf(
            Box::new(DurationExpr::Range),
            Box::new(DurationExpr::Literal(1000)),
        );
        assert_eq!(r.eval_ms(0, 10_000), Ok(10_000));
    }

    #[test]
    fn duration_expr_errors() {
        let div = DurationExpr::Binary(
            DurationOp::Div,
            Box::new(DurationExpr::Literal(1000)),
            Box::new(DurationExpr::Step),
        );
        assert!(matches!(
            div.eval_ms(0, 0),
            Err(DurationEvalError::DivisionByZero { .. })
        ));
        let modulo = DurationExpr::Binary(
            DurationOp::Mod,
            Box::new(DurationExpr::Literal(1000)),
            Box::new(DurationExpr::Range),
        );
        assert!(matches!(
            modulo.eval_ms(0, 0),
            Err(DurationEvalError::ModuloByZero { .. })
        ));
        let huge = DurationExpr::Binary(
            DurationOp::Pow,
            Box::new(DurationExpr::Literal(10_000)),
            Box::new(DurationExpr::Literal(400_000)),
        );
        assert!(matches!(
            huge.eval_ms(0, 0),
            Err(DurationEvalError::OutOfRange { .. })
        ));
    }

    #[test]
    fn precedence_table() {
        assert!(BinaryOp::Pow.precedence() > BinaryOp::Mul.precedence());
        assert!(BinaryOp::Mul.precedence() > BinaryOp::Add.precedence());
        assert!(BinaryOp::Add.precedence() > BinaryOp::Eql.precedence());
        assert!(BinaryOp::Eql.precedence() > BinaryOp::And.precedence());
        assert!(BinaryOp::And.precedence() > BinaryOp::Or.precedence());
        assert_eq!(BinaryOp::Unless.precedence(), BinaryOp::And.precedence());
        assert_eq!(BinaryOp::Atan2.precedence(), BinaryOp::Mul.precedence());
    }
}
