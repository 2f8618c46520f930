//! Query explain: an expression as a tree of the nodes the engine evaluates, each with
//! the PromQL of its subtree, so every node can be run as its own query and measured
//! (series in its result, samples touched, evaluation time) without instrumenting the
//! engine.
//!
//! Figures measured that way are *inclusive*: a node's query evaluates its whole
//! subtree. [`figures`] derives the *exclusive* share of samples and time (inclusive
//! minus the children's inclusive figures) and [`hottest`] picks the node that costs the
//! most by itself. Parentheses are not nodes (the engine evaluates their content as is);
//! every other AST node is: selectors, range selectors, literals, function calls,
//! aggregations, binary and unary operators, subqueries.

use std::time::Duration;

use super::ast::{Expr, ValueType};

/// What a node of the tree is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Selector,
    RangeSelector,
    Number,
    String,
    Call,
    Aggregation,
    Binary,
    Unary,
    Subquery,
}

impl NodeKind {
    /// The kind as the explain pane names it.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Selector => "selector",
            NodeKind::RangeSelector => "range selector",
            NodeKind::Number => "number",
            NodeKind::String => "string",
            NodeKind::Call => "function",
            NodeKind::Aggregation => "aggregation",
            NodeKind::Binary => "binary op",
            NodeKind::Unary => "unary op",
            NodeKind::Subquery => "subquery",
        }
    }
}

/// One node of the explain tree.
#[derive(Clone, Debug, PartialEq)]
pub struct ExplainNode {
    /// Depth in the tree; the root is 0.
    pub depth: usize,
    pub kind: NodeKind,
    /// What the node does, without its operands: `sum by (job)`, `rate`, `/ on (job)`,
    /// `[30m:1m]`, or the whole text for a leaf.
    pub label: String,
    /// The subtree printed as PromQL: a query that evaluates exactly this node.
    pub expr: String,
    /// The type of the node's value.
    pub value_type: ValueType,
    /// Index of the parent in the tree's list; `None` for the root.
    pub parent: Option<usize>,
    /// Indices of the children, in operand order.
    pub children: Vec<usize>,
    /// Inside a subquery: the real query evaluates it at every subquery step, its own
    /// query at one moment only.
    pub in_subquery: bool,
}

/// The nodes of `expr` in pre-order (a node before its children, children in operand
/// order), so the list reads top-down as an indented tree.
pub fn explain_tree(expr: &Expr) -> Vec<ExplainNode> {
    let mut out = Vec::new();
    super::with_stack(|| walk(expr, 0, None, false, &mut out));
    out
}

fn strip_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(inner) = e {
        e = inner;
    }
    e
}

fn walk(
    expr: &Expr,
    depth: usize,
    parent: Option<usize>,
    in_subquery: bool,
    out: &mut Vec<ExplainNode>,
) {
    let e = strip_parens(expr);
    let text = e.to_string();
    let (kind, label, children): (NodeKind, String, Vec<&Expr>) = match e {
        Expr::NumberLiteral(_) => (NodeKind::Number, text.clone(), vec![]),
        Expr::StringLiteral(_) => (NodeKind::String, text.clone(), vec![]),
        Expr::VectorSelector(_) => (NodeKind::Selector, text.clone(), vec![]),
        Expr::MatrixSelector(_) => (NodeKind::RangeSelector, text.clone(), vec![]),
        Expr::Call(c) => (
            NodeKind::Call,
            c.func.name.to_string(),
            c.args.iter().collect(),
        ),
        Expr::Aggregate(a) => {
            // The printer writes `op [by|without (...)] (param, expr)`: the label is what
            // comes before the operands' parenthesis.
            let operands = match &a.param {
                Some(p) => format!("({p}, {})", a.expr),
                None => format!("({})", a.expr),
            };
            let label = text
                .strip_suffix(&operands)
                .map(|s| s.trim_end().to_string())
                .unwrap_or_else(|| a.op.as_str().to_string());
            let mut ch: Vec<&Expr> = a.param.iter().map(|p| p.as_ref()).collect();
            ch.push(&a.expr);
            (NodeKind::Aggregation, label, ch)
        }
        Expr::Binary(b) => {
            // The printer writes `lhs op rhs`: the label is what lies between.
            let (l, r) = (b.lhs.to_string(), b.rhs.to_string());
            let label = text
                .strip_prefix(&l)
                .and_then(|s| s.strip_suffix(&r))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| b.op.as_str().to_string());
            (NodeKind::Binary, label, vec![&b.lhs, &b.rhs])
        }
        Expr::Unary(u) => (NodeKind::Unary, u.op.as_str().to_string(), vec![&u.expr]),
        Expr::Subquery(s) => {
            let inner = s.expr.to_string();
            let label = text
                .strip_prefix(&inner)
                .unwrap_or(&text)
                .trim()
                .to_string();
            (NodeKind::Subquery, label, vec![&s.expr])
        }
        // strip_parens removed every Paren.
        Expr::Paren(_) => unreachable!("parentheses are stripped above"),
    };
    let me = out.len();
    out.push(ExplainNode {
        depth,
        kind,
        label,
        expr: text,
        value_type: e.value_type(),
        parent,
        children: Vec::new(),
        in_subquery,
    });
    let below_subquery = in_subquery || kind == NodeKind::Subquery;
    for c in children {
        let idx = out.len();
        out[me].children.push(idx);
        walk(c, depth + 1, Some(me), below_subquery, out);
    }
}

/// The query that measures `node` as part of a range query: the node itself when it is
/// an instant vector or a scalar; a range vector (range selector, subquery) wrapped in
/// `count_over_time`, which reads the same samples at every step and adds only a count;
/// `None` for a string literal, which a range query cannot return (and which costs
/// nothing).
pub fn range_form(node: &ExplainNode) -> Option<String> {
    match node.value_type {
        ValueType::Vector | ValueType::Scalar => Some(node.expr.clone()),
        ValueType::Matrix => Some(format!("count_over_time({})", node.expr)),
        ValueType::String => None,
    }
}

/// What running one node's query measured (inclusive of its subtree).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Series in the result (1 for a scalar or a string).
    pub series: usize,
    /// Samples the evaluation read from storage (the API's `totalQueryableSamples`).
    pub samples: i64,
    /// Evaluation time.
    pub eval: Duration,
}

/// A node's figures: inclusive as measured, exclusive derived from its children.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    pub inclusive: Cost,
    /// Samples touched by the node itself: inclusive minus the children's inclusive.
    pub own_samples: i64,
    /// Time spent in the node itself: inclusive minus the children's inclusive.
    pub own_eval: Duration,
}

/// Each node's inclusive and exclusive figures from the inclusive costs measured per
/// node (`None` where the node's query failed or has not finished; such a child counts
/// as zero in its parent's exclusive share). Exclusive figures never go below zero
/// (timing noise can make children add up to more than their parent).
pub fn figures(nodes: &[ExplainNode], inclusive: &[Option<Cost>]) -> Vec<Option<Figures>> {
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let inc = (*inclusive.get(i)?)?;
            let (mut samples, mut eval) = (0i64, Duration::ZERO);
            for &c in &n.children {
                if let Some(Some(ci)) = inclusive.get(c) {
                    samples = samples.saturating_add(ci.samples);
                    eval = eval.saturating_add(ci.eval);
                }
            }
            Some(Figures {
                inclusive: inc,
                own_samples: inc.samples.saturating_sub(samples).max(0),
                own_eval: inc.eval.saturating_sub(eval),
            })
        })
        .collect()
}

/// The most expensive node by itself: the largest exclusive evaluation time, ties (and
/// unmeasured times) broken by exclusive samples touched; `None` when nothing cost
/// anything.
pub fn hottest(figs: &[Option<Figures>]) -> Option<usize> {
    figs.iter()
        .enumerate()
        .filter_map(|(i, f)| f.map(|f| (i, f)))
        .filter(|(_, f)| f.own_eval > Duration::ZERO || f.own_samples > 0)
        .max_by(|(ia, a), (ib, b)| {
            a.own_eval
                .cmp(&b.own_eval)
                .then(a.own_samples.cmp(&b.own_samples))
                // On a full tie the node nearer the top (lower index) wins.
                .then(ib.cmp(ia))
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::parse_expr;

    fn tree(q: &str) -> Vec<ExplainNode> {
        explain_tree(&parse_expr(q).expect("test query parses"))
    }

    #[test]
    fn a_nested_query_becomes_one_node_per_evaluated_ast_node() {
        let t = tree(
            "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m])) / on (job) group_left sum by (job) (rate(http_requests_total[5m])) > 0.01",
        );
        let shape: Vec<(usize, NodeKind, &str)> = t
            .iter()
            .map(|n| (n.depth, n.kind, n.label.as_str()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (0, NodeKind::Binary, ">"),
                (1, NodeKind::Binary, "/ on (job) group_left ()"),
                (2, NodeKind::Aggregation, "sum by (job)"),
                (3, NodeKind::Call, "rate"),
                (
                    4,
                    NodeKind::RangeSelector,
                    "http_requests_total{code=~\"5..\"}[5m]"
                ),
                (2, NodeKind::Aggregation, "sum by (job)"),
                (3, NodeKind::Call, "rate"),
                (4, NodeKind::RangeSelector, "http_requests_total[5m]"),
                (1, NodeKind::Number, "0.01"),
            ]
        );
        assert_eq!(t[0].children, vec![1, 8]);
        assert_eq!(t[1].children, vec![2, 5]);
        assert_eq!(t[4].parent, Some(3));
        assert_eq!(
            t[2].expr,
            "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m]))"
        );
        assert_eq!(t[4].value_type, ValueType::Matrix);
        // Every node's text is a query that parses back to the node.
        for n in &t {
            let again = parse_expr(&n.expr).expect("node text parses");
            assert_eq!(again.to_string(), n.expr);
        }
    }

    #[test]
    fn parentheses_are_transparent_and_params_are_children() {
        let t = tree("(topk(3, (-(up))))");
        let shape: Vec<(usize, NodeKind, &str)> = t
            .iter()
            .map(|n| (n.depth, n.kind, n.label.as_str()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (0, NodeKind::Aggregation, "topk"),
                (1, NodeKind::Number, "3"),
                (1, NodeKind::Unary, "-"),
                (2, NodeKind::Selector, "up"),
            ]
        );
    }

    #[test]
    fn nodes_under_a_subquery_are_marked() {
        let t = tree("max_over_time(rate(x[1m])[30m:1m] offset 5m)");
        let shape: Vec<(NodeKind, &str, bool)> = t
            .iter()
            .map(|n| (n.kind, n.label.as_str(), n.in_subquery))
            .collect();
        assert_eq!(
            shape,
            vec![
                (NodeKind::Call, "max_over_time", false),
                (NodeKind::Subquery, "[30m:1m] offset 5m", false),
                (NodeKind::Call, "rate", true),
                (NodeKind::RangeSelector, "x[1m]", true),
            ]
        );
    }

    fn cost(series: usize, samples: i64, ms: u64) -> Option<Cost> {
        Some(Cost {
            series,
            samples,
            eval: Duration::from_millis(ms),
        })
    }

    #[test]
    fn exclusive_figures_subtract_the_children_and_pick_the_hottest() {
        // a + b: the root reads nothing itself.
        let t = tree("sum(rate(a[5m])) + count(b)");
        assert_eq!(t.len(), 6);
        let inc = vec![
            cost(1, 1200, 30),
            cost(1, 1000, 12),
            cost(4, 1000, 10),
            cost(4, 1000, 9),
            cost(1, 200, 15),
            cost(20, 200, 14),
        ];
        let f = figures(&t, &inc);
        let root = f[0].unwrap();
        assert_eq!(root.own_samples, 0);
        assert_eq!(root.own_eval, Duration::from_millis(3));
        assert_eq!(f[3].unwrap().own_samples, 1000);
        assert_eq!(f[3].unwrap().own_eval, Duration::from_millis(9));
        assert_eq!(f[5].unwrap().own_eval, Duration::from_millis(14));
        assert_eq!(hottest(&f), Some(5));
        // Without timings the samples decide: the range selector reads the most.
        let no_time: Vec<Option<Cost>> = inc
            .iter()
            .map(|c| {
                c.map(|c| Cost {
                    eval: Duration::ZERO,
                    ..c
                })
            })
            .collect();
        assert_eq!(hottest(&figures(&t, &no_time)), Some(3));
    }

    #[test]
    fn range_forms_wrap_range_vectors_and_skip_strings() {
        let t = tree(
            "label_replace(rate(x[5m]), \"a\", \"$1\", \"b\", \"(.*)\") + max_over_time(y[10m:1m])",
        );
        let forms: Vec<Option<String>> = t.iter().map(range_form).collect();
        assert_eq!(forms[0].as_deref(), Some(t[0].expr.as_str()));
        assert_eq!(forms[3].as_deref(), Some("count_over_time(x[5m])"));
        assert_eq!(forms[4], None);
        let sub = t.iter().position(|n| n.kind == NodeKind::Subquery).unwrap();
        assert_eq!(forms[sub].as_deref(), Some("count_over_time(y[10m:1m])"));
        // Every range form parses.
        for f in forms.into_iter().flatten() {
            parse_expr(&f).expect("range form parses");
        }
    }

    #[test]
    fn missing_figures_and_noise_do_not_go_negative() {
        let t = tree("a * b");
        let f = figures(&t, &[cost(1, 5, 1), None, cost(1, 9, 4)]);
        assert_eq!(f[1], None);
        let root = f[0].unwrap();
        assert_eq!(root.own_samples, 0);
        assert_eq!(root.own_eval, Duration::ZERO);
        assert_eq!(hottest(&f), Some(2));
        assert_eq!(hottest(&[None, None]), None);
    }
}
