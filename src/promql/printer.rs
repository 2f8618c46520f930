//! AST → PromQL text: the canonical one-line form (`Display`) and an indented form
//! ([`prettify`]).
//!
//! Mirrors upstream `promql/parser/printer.go` (`String()`/`WriteTo`) and `prettier.go`
//! (`Prettify`): `sum by (job) (rate(x[5m]))`, `a + on (job) group_left (x) b`, numbers in
//! Go's `'f'` format (`0.001`, `+Inf`, `NaN`), durations via
//! [`crate::model::time::format_duration`], `@` timestamps with three decimals. Two deliberate
//! differences, both so that `parse_expr(&e.to_string()) == e` holds for every parsed tree:
//! matchers keep their written order (upstream sorts them), and `group_left`/`group_right`
//! are printed even after an empty `ignoring ()`.

use std::fmt::{self, Write as _};

use crate::model::labels::{is_valid_legacy_label_name, is_valid_legacy_metric_name};
use crate::model::time::format_duration;
use crate::model::value::format_go_f;
use crate::model::{MatchOp, Matcher, METRIC_NAME};

use super::ast::*;
use crate::model::quote::{go_quote, go_quote_bytes};

fn write_label_name(f: &mut impl fmt::Write, name: &str) -> fmt::Result {
    if is_valid_legacy_label_name(name) {
        f.write_str(name)
    } else {
        f.write_str(&go_quote(name))
    }
}

fn write_label_list(f: &mut impl fmt::Write, labels: &[String]) -> fmt::Result {
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_label_name(f, l)?;
    }
    Ok(())
}

fn write_matcher(f: &mut impl fmt::Write, m: &Matcher) -> fmt::Result {
    if m.name == METRIC_NAME && m.op == MatchOp::Equal && !is_valid_legacy_metric_name(&m.value) {
        // `{"my.metric"}`: the quoted-name form for names outside the legacy charset.
        return f.write_str(&go_quote(&m.value));
    }
    write_label_name(f, &m.name)?;
    f.write_str(m.op.as_str())?;
    f.write_str(&go_quote(&m.value))
}

fn write_at(f: &mut impl fmt::Write, at: &Option<AtModifier>) -> fmt::Result {
    match at {
        None => Ok(()),
        Some(AtModifier::Start) => f.write_str(" @ start()"),
        Some(AtModifier::End) => f.write_str(" @ end()"),
        Some(AtModifier::Timestamp(ms)) => {
            let sign = if *ms < 0 { "-" } else { "" };
            let abs = ms.unsigned_abs();
            write!(f, " @ {sign}{}.{:03}", abs / 1000, abs % 1000)
        }
    }
}

fn write_offset(f: &mut impl fmt::Write, offset: &Option<Duration>) -> fmt::Result {
    match offset {
        None => Ok(()),
        Some(d) => write!(f, " offset {d}"),
    }
}

/// Writes a selector without its `@`/`offset`/`anchored`/`smoothed` modifiers.
fn write_selector_core(f: &mut impl fmt::Write, vs: &VectorSelector) -> fmt::Result {
    let name = vs.name.as_deref().filter(|n| !n.is_empty());
    if let Some(n) = name {
        f.write_str(n)?;
    }
    let mut skipped_name = false;
    let mut shown = vs
        .matchers
        .iter()
        .filter(|m| {
            // Skip the matcher the parser added for the metric name (the last one).
            let is_name = !skipped_name
                && name.is_some_and(|n| {
                    m.name == METRIC_NAME && m.op == MatchOp::Equal && m.value == n
                });
            if is_name {
                skipped_name = true;
            }
            !is_name
        })
        .peekable();
    if shown.peek().is_some() || name.is_none() {
        f.write_char('{')?;
        let mut first = true;
        for m in shown {
            if !first {
                f.write_char(',')?;
            }
            first = false;
            write_matcher(f, m)?;
        }
        f.write_char('}')?;
    }
    Ok(())
}

fn write_selector_modifiers(f: &mut impl fmt::Write, vs: &VectorSelector) -> fmt::Result {
    write_at(f, &vs.at)?;
    write_offset(f, &vs.offset)?;
    if vs.anchored {
        f.write_str(" anchored")?;
    }
    if vs.smoothed {
        f.write_str(" smoothed")?;
    }
    Ok(())
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Duration::Literal(ms) => f.write_str(&format_duration(*ms)),
            Duration::Expr(e) => write!(f, "{e}"),
        }
    }
}

impl fmt::Display for DurationExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Unsigned `Inf` so that it reads back as the same single number.
            DurationExpr::Number(n) if n.val == f64::INFINITY => f.write_str("Inf"),
            DurationExpr::Number(n) => f.write_str(&format_go_f(n.val)),
            DurationExpr::Literal(ms) => f.write_str(&format_duration(*ms)),
            DurationExpr::Step => f.write_str("step()"),
            DurationExpr::Range => f.write_str("range()"),
            DurationExpr::MinOf(a, b) => write!(f, "min_of({a}, {b})"),
            DurationExpr::MaxOf(a, b) => write!(f, "max_of({a}, {b})"),
            DurationExpr::Unary(op, e) => write!(f, "{}{e}", op.as_str()),
            DurationExpr::Binary(op, a, b) => write!(f, "{a} {} {b}", op.as_str()),
            DurationExpr::Paren(e) => write!(f, "({e})"),
        }
    }
}

impl fmt::Display for VectorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_selector_core(f, self)?;
        write_selector_modifiers(f, self)
    }
}

impl fmt::Display for MatrixSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_selector_core(f, &self.vector_selector)?;
        write!(f, "[{}]", self.range)?;
        write_selector_modifiers(f, &self.vector_selector)
    }
}

impl SubqueryExpr {
    fn write_suffix(&self, f: &mut impl fmt::Write) -> fmt::Result {
        write!(f, "[{}:", self.range)?;
        if let Some(step) = &self.step {
            write!(f, "{step}")?;
        }
        f.write_char(']')?;
        write_at(f, &self.at)?;
        write_offset(f, &self.offset)
    }
}

impl AggregateExpr {
    fn write_op(&self, f: &mut impl fmt::Write) -> fmt::Result {
        f.write_str(self.op.as_str())?;
        if self.without {
            f.write_str(" without (")?;
            write_label_list(f, &self.grouping)?;
            f.write_str(") ")?;
        } else if !self.grouping.is_empty() {
            f.write_str(" by (")?;
            write_label_list(f, &self.grouping)?;
            f.write_str(") ")?;
        }
        Ok(())
    }
}

impl BinaryExpr {
    /// The operator with its modifiers: `+`, `> bool`, `* on (a) group_left (b) fill(0)`.
    fn write_op(&self, f: &mut impl fmt::Write) -> fmt::Result {
        f.write_str(self.op.as_str())?;
        if self.return_bool {
            f.write_str(" bool")?;
        }
        let Some(vm) = &self.matching else {
            return Ok(());
        };
        let grouped = matches!(
            vm.card,
            VectorMatchCardinality::ManyToOne | VectorMatchCardinality::OneToMany
        );
        if !vm.matching_labels.is_empty() || vm.on || grouped {
            f.write_str(if vm.on { " on (" } else { " ignoring (" })?;
            write_label_list(f, &vm.matching_labels)?;
            f.write_char(')')?;
            if grouped {
                f.write_str(if vm.card == VectorMatchCardinality::ManyToOne {
                    " group_left ("
                } else {
                    " group_right ("
                })?;
                write_label_list(f, &vm.include)?;
                f.write_char(')')?;
            }
        }
        match (vm.fill.lhs, vm.fill.rhs) {
            (Some(l), Some(r)) if l.to_bits() == r.to_bits() || (l.is_nan() && r.is_nan()) => {
                write!(f, " fill({})", format_go_f(l))?;
            }
            (l, r) => {
                if let Some(l) = l {
                    write!(f, " fill_left({})", format_go_f(l))?;
                }
                if let Some(r) = r {
                    write!(f, " fill_right({})", format_go_f(r))?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for NumberLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.duration {
            if let Some(ms) = seconds_to_ms(self.val.abs()) {
                // The sign bit, so that `-0w` (negative zero) prints back as `-0s`.
                if self.val.is_sign_negative() {
                    f.write_char('-')?;
                }
                return f.write_str(&format_duration(ms));
            }
        }
        // `Inf`, not upstream's `+Inf`: after a unary operator (`+inf ^ x` is `+(Inf ^ x)`)
        // the extra sign would parse back as a second unary (found by cargo fuzz).
        if self.val == f64::INFINITY {
            return f.write_str("Inf");
        }
        f.write_str(&format_go_f(self.val))
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Recursion per tree level; deep trees continue on a heap stack segment.
        super::with_stack(|| write_expr(self, f))
    }
}

fn write_expr(expr: &Expr, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match expr {
        Expr::NumberLiteral(n) => write!(f, "{n}"),
        Expr::StringLiteral(s) => f.write_str(&go_quote_bytes(s.as_bytes())),
        Expr::VectorSelector(vs) => write!(f, "{vs}"),
        Expr::MatrixSelector(ms) => write!(f, "{ms}"),
        Expr::Subquery(sq) => {
            write!(f, "{}", sq.expr)?;
            sq.write_suffix(f)
        }
        Expr::Aggregate(a) => {
            a.write_op(f)?;
            f.write_char('(')?;
            if let Some(p) = &a.param {
                write!(f, "{p}, ")?;
            }
            write!(f, "{})", a.expr)
        }
        Expr::Binary(b) => {
            write!(f, "{} ", b.lhs)?;
            b.write_op(f)?;
            write!(f, " {}", b.rhs)
        }
        Expr::Unary(u) => write!(f, "{}{}", u.op.as_str(), u.expr),
        Expr::Paren(e) => write!(f, "({e})"),
        Expr::Call(c) => {
            write!(f, "{}(", c.func.name)?;
            for (i, a) in c.args.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{a}")?;
            }
            f.write_char(')')
        }
    }
}

/// Longest line [`prettify`] keeps on one line (upstream `maxCharactersPerLine`).
const MAX_CHARACTERS_PER_LINE: usize = 100;

const INDENT: &str = "  ";

/// Formats an expression over several indented lines when its one-line form is longer
/// than [`MAX_CHARACTERS_PER_LINE`], like upstream `Prettify`: binary operands and the
/// operator on their own lines, aggregation and call arguments indented inside their
/// parentheses, parenthesised expressions split around their content. Parsing the result
/// gives back the same tree.
pub fn prettify(expr: &Expr) -> String {
    let mut out = String::new();
    pretty(expr, 0, &mut out);
    out
}

fn indent(level: usize, out: &mut String) {
    for _ in 0..level {
        out.push_str(INDENT);
    }
}

fn pretty(expr: &Expr, level: usize, out: &mut String) {
    super::with_stack(|| pretty_at(expr, level, out))
}

fn pretty_at(expr: &Expr, level: usize, out: &mut String) {
    let one_line = expr.to_string();
    if one_line.len() + level * INDENT.len() <= MAX_CHARACTERS_PER_LINE {
        indent(level, out);
        out.push_str(&one_line);
        return;
    }
    match expr {
        Expr::Binary(b) => {
            pretty(&b.lhs, level + 1, out);
            out.push('\n');
            indent(level, out);
            let mut op = String::new();
            // Writing into a String cannot fail.
            let _ = b.write_op(&mut op);
            out.push_str(&op);
            out.push('\n');
            pretty(&b.rhs, level + 1, out);
        }
        Expr::Aggregate(a) => {
            indent(level, out);
            let mut op = String::new();
            let _ = a.write_op(&mut op);
            out.push_str(op.trim_end());
            out.push_str(" (\n");
            if let Some(p) = &a.param {
                pretty(p, level + 1, out);
                out.push_str(",\n");
            }
            pretty(&a.expr, level + 1, out);
            out.push('\n');
            indent(level, out);
            out.push(')');
        }
        Expr::Call(c) if !c.args.is_empty() => {
            indent(level, out);
            out.push_str(c.func.name);
            out.push_str("(\n");
            for (i, a) in c.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                pretty(a, level + 1, out);
            }
            out.push('\n');
            indent(level, out);
            out.push(')');
        }
        Expr::Paren(e) => {
            indent(level, out);
            out.push_str("(\n");
            pretty(e, level + 1, out);
            out.push('\n');
            indent(level, out);
            out.push(')');
        }
        Expr::Unary(u) => {
            indent(level, out);
            out.push_str(u.op.as_str());
            let mut inner = String::new();
            pretty(&u.expr, level, &mut inner);
            out.push_str(inner.trim_start());
        }
        Expr::Subquery(sq) => {
            pretty(&sq.expr, level, out);
            let _ = sq.write_suffix(out);
        }
        _ => {
            indent(level, out);
            out.push_str(&one_line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::parse_expr;

    fn canon(q: &str) -> String {
        let e = parse_expr(q).unwrap_or_else(|err| panic!("{q}: {err}"));
        let s = e.to_string();
        assert_eq!(
            parse_expr(&s).ok(),
            Some(e),
            "{q} -> {s} does not round-trip"
        );
        s
    }

    #[test]
    fn numbers_print_like_go_f_format() {
        assert_eq!(format_go_f(1.0), "1");
        assert_eq!(format_go_f(-0.0), "-0");
        assert_eq!(format_go_f(0.001), "0.001");
        assert_eq!(format_go_f(1e6), "1000000");
        assert_eq!(format_go_f(1e21), "1000000000000000000000");
        assert_eq!(format_go_f(1.5e-7), "0.00000015");
        assert_eq!(format_go_f(f64::INFINITY), "+Inf");
        assert_eq!(format_go_f(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_go_f(f64::NAN), "NaN");
        assert_eq!(canon("12.34e6"), "12340000");
        assert_eq!(canon("0x1f"), "31");
        assert_eq!(canon("5m"), "5m");
        assert_eq!(canon("-90s"), "-1m30s");
        // Found by cargo fuzz (promql_parse): the sign of a negative zero duration.
        assert_eq!(canon("-0w"), "-0s");
        assert_eq!(canon("x - +inf^y"), "x - +Inf ^ y");
    }

    #[test]
    fn canonical_forms() {
        let cases = [
            ("sum by(job)(rate(x[5m]))", "sum by (job) (rate(x[5m]))"),
            ("sum(rate(x[5m])) by (job)", "sum by (job) (rate(x[5m]))"),
            ("SUM without(a,b)(x)", "sum without (a, b) (x)"),
            ("sum by () (x)", "sum(x)"),
            ("topk(5,x)", "topk(5, x)"),
            ("count_values('v',x)", "count_values(\"v\", x)"),
            (r#"foo{a="b",c=~'d'}"#, r#"foo{a="b",c=~"d"}"#),
            (r#"{__name__="foo",a!="b"}"#, r#"{__name__="foo",a!="b"}"#),
            (r#"{"my.metric","a.b"="c"}"#, r#"{"my.metric","a.b"="c"}"#),
            ("foo offset 5m @ 100", "foo @ 100.000 offset 5m"),
            ("foo @ -0.5 offset -1h", "foo @ -0.500 offset -1h"),
            ("foo[5m] @ start() offset 1m", "foo[5m] @ start() offset 1m"),
            ("foo[1800]", "foo[30m]"),
            ("foo[26m+4m]", "foo[26m + 4m]"),
            ("foo[2m*(10+5)]", "foo[2m * (10 + 5)]"),
            ("foo offset -step()*2", "foo offset -step() * 2"),
            (
                "foo offset min_of(step(),1s)",
                "foo offset min_of(step(), 1s)",
            ),
            ("rate(x[5m])[30m:1m]", "rate(x[5m])[30m:1m]"),
            ("x[1h:] offset 1d", "x[1h:] offset 1d"),
            ("a+on(b)group_left(c)d", "a + on (b) group_left (c) d"),
            (
                "a / ignoring(b) group_right d",
                "a / ignoring (b) group_right () d",
            ),
            (
                "a + ignoring() group_left d",
                "a + ignoring () group_left () d",
            ),
            ("a and on() b", "a and on () b"),
            ("a > bool 1", "a > bool 1"),
            ("a + fill(0) b", "a + fill(0) b"),
            (
                "a + fill_left(5) fill_right(NaN) b",
                "a + fill_left(5) fill_right(NaN) b",
            ),
            ("-(1)", "-(1)"),
            ("- - 1", "1"),
            ("-a ^ 2", "-a ^ 2"),
            ("increase(x[1m] anchored)", "increase(x[1m] anchored)"),
            ("\"a\\tb\"", "\"a\\tb\""),
            ("`raw\\n`", "\"raw\\\\n\""),
            ("h </ 2", "h </ 2"),
        ];
        for (q, want) in cases {
            assert_eq!(canon(q), want, "{q}");
        }
    }

    #[test]
    fn prettify_breaks_long_expressions() {
        let q = "sum by (job, instance) (rate(http_requests_total{handler=\"/api/v1/query\",code=~\"5..\"}[5m])) / sum by (job, instance) (rate(http_requests_total[5m]))";
        let e = parse_expr(q).unwrap_or_else(|err| panic!("{err}"));
        let pretty = prettify(&e);
        assert!(pretty.lines().count() > 1, "{pretty}");
        assert!(
            pretty.lines().all(|l| l.len() <= MAX_CHARACTERS_PER_LINE),
            "{pretty}"
        );
        assert!(pretty.contains("\n/\n"), "{pretty}");
        assert_eq!(parse_expr(&pretty).ok(), Some(e));
        // Short expressions stay on one line.
        let short = parse_expr("rate(x[5m])").unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(prettify(&short), "rate(x[5m])");
    }
}
