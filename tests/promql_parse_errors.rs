//! Parse errors for invalid queries. The messages are those upstream Prometheus reports
//! (`promql/parser/parse_test.go` and the grammar's `unexpected(...)` calls); the positions
//! are ours: the start of the offending token or expression, as `line:column`.

use promtui::promql::parse_expr;

/// (query, expected `Display` of the error).
const CASES: &[(&str, &str)] = &[
    ("", "1:1: parse error: no expression found in input"),
    ("# just a comment\n\n", "1:1: parse error: no expression found in input"),
    ("1+", "1:3: parse error: unexpected end of input"),
    (".", "1:1: parse error: unexpected character: '.'"),
    ("2.5.", "1:1: parse error: bad number or duration syntax: \"2.5.\""),
    ("100..4", "1:1: parse error: bad number or duration syntax: \"100..\""),
    ("0deadbeef", "1:1: parse error: bad number or duration syntax: \"0de\""),
    ("1 /", "1:4: parse error: unexpected end of input"),
    ("*1", "1:1: parse error: unexpected <op:*>"),
    ("(1))", "1:4: parse error: unexpected right parenthesis ')'"),
    ("((1)", "1:5: parse error: unclosed left parenthesis"),
    ("(", "1:2: parse error: unclosed left parenthesis"),
    ("1 and 1", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"),
    ("1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier"),
    ("1 or 1", "1:1: parse error: set operator \"or\" not allowed in binary scalar expression"),
    ("-\"string\"", "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"string\""),
    ("-test[5m]", "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"range vector\""),
    ("*test", "1:1: parse error: unexpected <op:*>"),
    ("1 offset 1d", "1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
    ("foo offset 1s offset 2s", "1:1: parse error: offset may not be set multiple times"),
    ("a - on(b) ignoring(c) d", "1:11: parse error: unexpected <ignoring>"),
    ("foo and 1", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"),
    ("1 and foo", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"),
    ("foo or on(bar) group_left(baz) bar", "1:1: parse error: no grouping allowed for \"or\" operation"),
    ("foo and on(bar) group_right(baz) bar", "1:1: parse error: no grouping allowed for \"and\" operation"),
    ("foo == on(bar) 10", "1:1: parse error: vector matching only allowed between instant vectors"),
    ("foo + bool bar", "1:5: parse error: bool modifier can only be used on comparison operators"),
    ("foo + bool 10", "1:5: parse error: bool modifier can only be used on comparison operators"),
    ("foo{__name__=\"bar\"}", "1:1: parse error: metric name must not be set twice: \"foo\" or \"bar\""),
    ("{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
    ("{x=\"\"}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
    ("{x=~\".*\"}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
    ("foo{", "1:5: parse error: unexpected end of input inside braces"),
    ("foo{a}", "1:6: parse error: unexpected \"}\" in label matching, expected label matching operator"),
    ("foo[5m", "1:7: parse error: unclosed left bracket"),
    ("foo[]", "1:5: parse error: unexpected \"]\" in subquery selector, expected number or duration"),
    ("some_metric OFFSET 1m [5m]", "1:23: parse error: no offset modifiers allowed before range"),
    ("some_metric @ 123 [5m]", "1:19: parse error: no @ modifiers allowed before range"),
    ("(foo + bar)[5m]", "1:12: parse error: ranges only allowed for vector selectors"),
    ("sum some_metric by (test)", "1:5: parse error: unexpected identifier \"some_metri\"... in aggregation"),
    ("sum (some_metric) by test", "1:22: parse error: unexpected identifier \"test\" in grouping opts, expected \"(\""),
    ("topk(some_metric)", "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1"),
    ("topk(some_metric,)", "1:17: parse error: trailing commas not allowed in function call args"),
    ("topk(some_metric, other_metric)", "1:6: parse error: expected type scalar in aggregation parameter, got instant vector"),
    ("count_values(5, other_metric)", "1:14: parse error: expected type string in aggregation parameter, got scalar"),
    ("rate(some_metric[5m]) @ 1234", "1:1: parse error: @ modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
    ("floor()", "1:1: parse error: expected 1 argument(s) in call to \"floor\", got 0"),
    ("floor(some_metric, other_metric)", "1:1: parse error: expected 1 argument(s) in call to \"floor\", got 2"),
    ("floor(1)", "1:7: parse error: expected type instant vector in call to function \"floor\", got scalar"),
    ("non_existent_function_far_bar()", "1:1: parse error: unknown function with name \"non_existent_function_far_bar\""),
    ("rate(some_metric)", "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"),
    ("test[5d] OFFSET 10s [10m:5s]", "1:1: parse error: subquery is only allowed on instant vector, got matrix instead"),
    ("foo @ +Inf", "1:7: parse error: timestamp out of bounds for @ modifier: +Inf"),
    ("foo @ start() @ end()", "1:1: parse error: @ <timestamp> may not be set multiple times"),
];

#[test]
fn invalid_queries_report_upstream_messages() {
    let mut failures = Vec::new();
    for (q, want) in CASES {
        match parse_expr(q) {
            Ok(e) => failures.push(format!("{q:?} parsed as {e}")),
            Err(e) if e.to_string() != *want => {
                failures.push(format!("{q:?}\n   got: {e}\n  want: {want}"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn keywords_are_metric_names_where_upstream_allows() {
    for q in [
        "sum(sum)",
        "a + sum",
        "by",
        "offset offset 5m",
        "avg + count",
        "fill + fill(0) fill",
    ] {
        let e = parse_expr(q).unwrap_or_else(|err| panic!("{q}: {err}"));
        assert_eq!(parse_expr(&e.to_string()).ok(), Some(e), "{q}");
    }
}
