//! PromQL: lexer, parser, AST and printer here; the evaluator with every function and
//! aggregation in [`engine`]; the upstream test-script harness in [`promqltest`].
//!
//! - [`lexer`], [`parser`], [`ast`], [`printer`]: source text to tree and back;
//! - [`functions`]: the function table (names, argument and return types);
//! - [`engine`]: instant and range evaluation over a [`crate::storage::Queryable`]
//!   (`eval.rs` selectors and subqueries, `binary.rs`, `aggregations.rs`, one file per
//!   function family under `engine/functions/`);
//! - [`error`]: parse errors with their positions; [`with_stack`] runs deep recursion
//!   (parsing, printing, evaluation) on growable stack segments;
//! - [`explain`]: the tree of an expression's nodes with per-node cost (the console's
//!   query explain);
//! - [`promqltest`]: runs the upstream test scripts (`testdata/promqltest/*.test` in the
//!   shared directory beside the repository) in `cargo test`.
//!
//! Data flow: query text → [`lexer::tokenize`] → [`parser`] → [`Expr`] (checked) →
//! [`engine::Engine`] selects series through [`crate::storage::Querier`] and evaluates
//! step by step → [`engine::Value`] → the API's JSON ([`crate::web::json`]), the rules or
//! the TUI. [`printer`] turns an [`Expr`] back into text for `format_query` and messages.
//!
//! The parser mirrors upstream `promql/parser` of Prometheus 3.x: the grammar of
//! `generated_parser.y`, the lexer of `lex.go`, the type checks of `parse.go` (`checkAST`),
//! the function table of `functions.go` and the printer of `printer.go`/`prettier.go`.
//! The façade is [`parse_expr`]; trees print back with `to_string()` (one line) or
//! [`prettify`] (indented), and `parse_expr(&e.to_string())` gives back `e`.
//!
//! Experimental upstream syntax is always enabled: duration expressions (`[5m+step()]`),
//! `anchored`/`smoothed` range modifiers, `fill`/`fill_left`/`fill_right` binary modifiers,
//! and the experimental functions and aggregations (`limitk`, `info`, `sort_by_label`, ...).

pub(crate) mod ast;
pub mod engine;
pub(crate) mod error;
pub mod explain;
pub(crate) mod functions;
pub(crate) mod lexer;
pub(crate) mod parser;
pub(crate) mod printer;
pub mod promqltest;

pub use ast::{
    AggregateExpr, AggregateOp, AtModifier, BinaryExpr, BinaryOp, Call, Duration,
    DurationEvalError, DurationExpr, DurationOp, Expr, FillValues, MatrixSelector, NumberLiteral,
    SubqueryExpr, UnaryExpr, UnaryOp, ValueType, VectorMatchCardinality, VectorMatching,
    VectorSelector,
};
pub use error::{ParseError, Position};
pub use functions::{get_function, Function, FUNCTIONS};
pub use parser::parse_expr;
pub use printer::prettify;

/// Stack left below which [`with_stack`] switches to a new segment: room for the deepest
/// non-recursive work done between two checks (compiling a regex, a function's frames).
const STACK_RED_ZONE: usize = 512 << 10;

/// Size of each stack segment [`with_stack`] allocates on the heap.
const STACK_SEGMENT: usize = 8 << 20;

/// Runs `f`, first moving to a fresh heap-allocated stack segment when less than
/// [`STACK_RED_ZONE`] is left. Every recursion over an expression tree (parsing, type
/// checks, evaluation, printing, cloning, dropping) goes through this, so tree depth is
/// bounded by [`parser::MAX_NESTING`] and memory, never by the thread's stack size.
#[inline]
pub fn with_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, f)
}

/// Checks the property a fuzz target would check: parsing never panics, and whatever parses
/// prints to text that parses back to the same tree (also in the prettified form).
///
/// A `cargo fuzz` target only needs `promtui::promql::fuzz_parse(data)` on the input bytes.
///
/// # Panics
///
/// On purpose, when the property is violated (a parser or printer bug), so that a fuzzer or
/// proptest reports the input. [`parse_expr`] itself never panics.
pub fn fuzz_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(expr) = parse_expr(text) {
        let printed = expr.to_string();
        match parse_expr(&printed) {
            Ok(again) => assert_eq!(again, expr, "{text:?} printed as {printed:?}"),
            Err(e) => panic!("{text:?} printed as {printed:?} does not parse: {e}"),
        }
        let pretty = prettify(&expr);
        assert_eq!(
            parse_expr(&pretty).ok(),
            Some(expr),
            "{text:?} prettified as {pretty:?}"
        );
    }
}

#[cfg(test)]
mod fuzz_tests {
    use super::*;
    use proptest::prelude::*;

    /// Tokens and fragments of PromQL, valid and not, glued into random soups.
    const TOKENS: &[&str] = &[
        "sum",
        "by",
        "without",
        "(",
        ")",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "@",
        "offset",
        "bool",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "fill",
        "fill_left",
        "fill_right",
        "+",
        "-",
        "*",
        "/",
        "%",
        "^",
        "==",
        "!=",
        ">",
        "<",
        ">=",
        "<=",
        "</",
        ">/",
        "and",
        "or",
        "unless",
        "atan2",
        "=",
        "=~",
        "!~",
        "foo",
        "bar:baz",
        "\"str\"",
        "'s'",
        "`raw`",
        "5m",
        "1h30m",
        "1",
        "0x1f",
        "1.5e3",
        "Inf",
        "NaN",
        "rate",
        "topk",
        "count_values",
        "label_replace",
        "step()",
        "range()",
        "min_of",
        "start()",
        "end()",
        "anchored",
        "smoothed",
        "#c\n",
        "\n",
        " ",
        "info",
        "time",
        "limitk",
        "quantile",
        "a=\"b\"",
    ];

    fn soup() -> impl Strategy<Value = String> {
        prop::collection::vec((prop::sample::select(TOKENS), prop::bool::ANY), 0..40).prop_map(
            |toks| {
                let mut s = String::new();
                for (t, space) in toks {
                    s.push_str(t);
                    if space {
                        s.push(' ');
                    }
                }
                s
            },
        )
    }

    fn name() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "foo",
            "bar_total",
            "job:rate:5m",
            "sum",
            "by",
            "offset",
        ])
        .prop_map(str::to_string)
    }

    fn label_value() -> impl Strategy<Value = String> {
        "[a-z\\\"\\n\\té😀.]{0,6}".prop_map(|s| lexer::go_quote(&s))
    }

    fn duration_text() -> impl Strategy<Value = String> {
        prop_oneof![
            (
                1u32..100,
                prop::sample::select(vec!["ms", "s", "m", "h", "d", "w", "y"])
            )
                .prop_map(|(n, u)| format!("{n}{u}")),
            (1u32..5000).prop_map(|n| n.to_string()),
            Just("5m + step()".to_string()),
            Just("min_of(range(), 1h) * 2".to_string()),
            Just("(1m - 30s) ^ 1".to_string()),
        ]
    }

    fn selector() -> impl Strategy<Value = String> {
        (
            name(),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["a", "job", "\"a.b\""]),
                    prop::sample::select(vec!["=", "!=", "=~", "!~"]),
                    label_value(),
                ),
                0..3,
            ),
            prop::option::of(prop_oneof![
                duration_text(),
                Just("-1h".to_string()),
                Just("-step()".to_string())
            ]),
            prop::option::of(prop_oneof![
                (-1_000_000i64..1_000_000).prop_map(|ms| format!("{}", ms as f64 / 1000.0)),
                Just("start()".to_string()),
                Just("end()".to_string()),
            ]),
        )
            .prop_map(|(n, ms, off, at)| {
                let mut s = n;
                if !ms.is_empty() {
                    let parts: Vec<String> = ms
                        .into_iter()
                        .map(|(l, o, v)| format!("{l}{o}{v}"))
                        .collect();
                    s = format!("{s}{{{}}}", parts.join(","));
                }
                if let Some(a) = at {
                    s = format!("{s} @ {a}");
                }
                if let Some(o) = off {
                    // Only a single operand follows `offset`; wrap arithmetic.
                    let o = if o.contains(' ') { format!("({o})") } else { o };
                    s = format!("{s} offset {o}");
                }
                s
            })
    }

    fn scalar_leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<f64>().prop_map(|v| format!("{v:?}")),
            (0u32..1000).prop_map(|n| n.to_string()),
            Just("time()".to_string()),
            Just("NaN".to_string()),
            Just("-Inf".to_string()),
            Just("0x10".to_string()),
            Just("90s".to_string()),
            Just("step()".to_string()),
        ]
    }

    fn vector_leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            selector(),
            (selector(), duration_text()).prop_map(|(s, d)| {
                // Modifiers go after the range.
                let (base, mods) = match s.find(" @ ").or_else(|| s.find(" offset ")) {
                    Some(i) => (s[..i].to_string(), s[i..].to_string()),
                    None => (s, String::new()),
                };
                format!("rate({base}[{d}]{mods})")
            }),
        ]
    }

    /// Well-typed instant-vector expressions.
    fn vector_expr() -> impl Strategy<Value = String> {
        vector_leaf().prop_recursive(4, 32, 3, |inner| {
            let op = prop::sample::select(vec![
                "+", "-", "*", "/", "%", "^", "atan2", "==", "!= bool", ">", "<=", "and", "or",
                "unless",
            ]);
            prop_oneof![
                (inner.clone(), op, inner.clone()).prop_map(|(a, o, b)| format!("({a}) {o} {b}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!(
                    "({a}) * on(job) group_left(a) fill_right(0) ({b})"
                )),
                (inner.clone(), scalar_leaf()).prop_map(|(a, s)| format!("({a}) > bool {s}")),
                (
                    prop::sample::select(vec!["sum", "avg", "max", "group", "stddev"]),
                    inner.clone()
                )
                    .prop_map(|(op, a)| format!("{op} by (job) ({a})")),
                inner.clone().prop_map(|a| format!("topk(3, {a})")),
                inner.clone().prop_map(|a| format!("-({a})")),
                inner.clone().prop_map(|a| format!("abs({a})")),
                inner
                    .clone()
                    .prop_map(|a| format!("max_over_time(({a})[10m:1m])")),
                inner
                    .clone()
                    .prop_map(|a| format!("label_replace({a}, \"d\", \"$1\", \"s\", \"(.*)\")")),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

        #[test]
        fn random_strings_never_panic(s in "\\PC{0,80}") {
            fuzz_parse(s.as_bytes());
        }

        #[test]
        fn random_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..80)) {
            fuzz_parse(&b);
        }

        #[test]
        fn token_soups_never_panic(s in soup()) {
            fuzz_parse(s.as_bytes());
        }

        #[test]
        fn generated_expressions_parse_and_round_trip(q in vector_expr()) {
            let e = parse_expr(&q);
            prop_assert!(e.is_ok(), "{} failed: {:?}", q, e.err());
            fuzz_parse(q.as_bytes());
        }
    }
}

/// Parses a series selector such as `up{job="node"}` or `{__name__=~"x.*"}` (the form
/// `match[]` parameters and `--match` flags take) into its matchers. Anything but a plain
/// instant vector selector without modifiers is an error.
pub fn parse_metric_selector(input: &str) -> Result<Vec<crate::model::Matcher>, ParseError> {
    match parse_expr(input)?.into_vector_selector() {
        Ok(vs) if vs.offset.is_none() && vs.at.is_none() => Ok(vs.matchers),
        _ => Err(ParseError::new(
            input,
            0,
            format!("{input:?} is not a series selector (expected e.g. up{{job=\"node\"}})"),
        )),
    }
}

#[cfg(test)]
mod selector_tests {
    use super::*;

    #[test]
    fn metric_selectors() {
        let m = parse_metric_selector(r#"up{job="node"}"#).unwrap();
        assert_eq!(m.len(), 2);
        assert!(m.iter().any(|m| m.name == "__name__" && m.value == "up"));
        assert!(parse_metric_selector("rate(x[5m])").is_err());
        assert!(parse_metric_selector("x offset 5m").is_err());
        assert!(parse_metric_selector("{").is_err());
    }
}
