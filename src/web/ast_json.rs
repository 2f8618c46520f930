//! `/api/v1/parse_query`: the parsed expression tree as JSON, in the shape of upstream 3.x
//! `web/api/v1/translate_ast.go` (`translateAST`): objects with a `type` field
//! (`vectorSelector`, `matrixSelector`, `subquery`, `aggregation`, `binaryExpr`, `call`,
//! `numberLiteral`, `stringLiteral`, `unaryExpr`, `parenExpr`), keys sorted as Go's
//! `encoding/json` writes maps, durations in milliseconds.

use super::json::write_str;
use crate::model::value::format_go_f;
use crate::model::Matcher;
use crate::promql::{
    AtModifier, Duration, Expr, ValueType, VectorMatchCardinality, VectorSelector,
};

/// A JSON value whose objects are written with sorted keys.
enum J {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(&'static str, J)>),
}

impl Drop for J {
    fn drop(&mut self) {
        // As deep as the expression it describes: drop the children on a heap stack
        // segment when the thread's stack runs short.
        crate::promql::with_stack(|| match self {
            J::Arr(items) => drop(std::mem::take(items)),
            J::Obj(fields) => drop(std::mem::take(fields)),
            _ => {}
        })
    }
}

impl J {
    fn write(&self, out: &mut String) {
        crate::promql::with_stack(|| self.write_here(out))
    }

    fn write_here(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Int(i) => out.push_str(&i.to_string()),
            J::Str(s) => write_str(out, s),
            J::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                let mut sorted: Vec<&(&str, J)> = fields.iter().collect();
                sorted.sort_by_key(|(k, _)| *k);
                out.push('{');
                for (i, (k, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn s(v: &str) -> J {
    J::Str(v.to_string())
}

fn list(v: &[String]) -> J {
    J::Arr(v.iter().map(|x| s(x)).collect())
}

fn ms(d: &Option<Duration>) -> J {
    match d {
        None => J::Int(0),
        Some(d) => J::Int(d.resolve(0, 0).unwrap_or(0)),
    }
}

fn at(a: &Option<AtModifier>) -> (J, J) {
    match a {
        None => (J::Null, J::Null),
        Some(AtModifier::Timestamp(t)) => (J::Int(*t), J::Null),
        Some(AtModifier::Start) => (J::Null, s("start")),
        Some(AtModifier::End) => (J::Null, s("end")),
    }
}

fn matchers(ms: &[Matcher]) -> J {
    J::Arr(
        ms.iter()
            .map(|m| {
                J::Obj(vec![
                    ("name", s(&m.name)),
                    ("value", s(&m.value)),
                    ("type", s(m.op.as_str())),
                ])
            })
            .collect(),
    )
}

fn value_type(t: ValueType) -> &'static str {
    match t {
        ValueType::Scalar => "scalar",
        ValueType::Vector => "vector",
        ValueType::Matrix => "matrix",
        ValueType::String => "string",
    }
}

fn selector_fields(vs: &VectorSelector) -> Vec<(&'static str, J)> {
    let (ts, start_or_end) = at(&vs.at);
    vec![
        ("name", s(vs.name.as_deref().unwrap_or(""))),
        ("offset", ms(&vs.offset)),
        ("matchers", matchers(&vs.matchers)),
        ("timestamp", ts),
        ("startOrEnd", start_or_end),
    ]
}

fn translate(e: &Expr) -> J {
    // One level of recursion per tree level: deep trees continue on a heap stack segment.
    crate::promql::with_stack(|| translate_here(e))
}

fn translate_here(e: &Expr) -> J {
    match e {
        Expr::Aggregate(a) => J::Obj(vec![
            ("type", s("aggregation")),
            ("op", s(a.op.as_str())),
            ("expr", translate(&a.expr)),
            ("param", a.param.as_deref().map_or(J::Null, translate)),
            ("grouping", list(&a.grouping)),
            ("without", J::Bool(a.without)),
        ]),
        Expr::Binary(b) => {
            let matching = match &b.matching {
                None => J::Null,
                Some(m) => J::Obj(vec![
                    (
                        "card",
                        s(match m.card {
                            VectorMatchCardinality::OneToOne => "one-to-one",
                            VectorMatchCardinality::ManyToOne => "many-to-one",
                            VectorMatchCardinality::OneToMany => "one-to-many",
                            VectorMatchCardinality::ManyToMany => "many-to-many",
                        }),
                    ),
                    ("labels", list(&m.matching_labels)),
                    ("on", J::Bool(m.on)),
                    ("include", list(&m.include)),
                ]),
            };
            J::Obj(vec![
                ("type", s("binaryExpr")),
                ("op", s(b.op.as_str())),
                ("lhs", translate(&b.lhs)),
                ("rhs", translate(&b.rhs)),
                ("matching", matching),
                ("bool", J::Bool(b.return_bool)),
            ])
        }
        Expr::Call(c) => J::Obj(vec![
            ("type", s("call")),
            (
                "func",
                J::Obj(vec![
                    ("name", s(c.func.name)),
                    (
                        "argTypes",
                        J::Arr(c.func.arg_types.iter().map(|t| s(value_type(*t))).collect()),
                    ),
                    ("variadic", J::Int(i64::from(c.func.variadic))),
                    ("returnType", s(value_type(c.func.return_type))),
                ]),
            ),
            ("args", J::Arr(c.args.iter().map(translate).collect())),
        ]),
        Expr::MatrixSelector(m) => {
            let mut f = selector_fields(&m.vector_selector);
            f.push(("type", s("matrixSelector")));
            f.push(("range", ms(&Some(m.range.clone()))));
            J::Obj(f)
        }
        Expr::Subquery(q) => {
            let (ts, start_or_end) = at(&q.at);
            J::Obj(vec![
                ("type", s("subquery")),
                ("expr", translate(&q.expr)),
                ("range", ms(&Some(q.range.clone()))),
                ("offset", ms(&q.offset)),
                ("step", ms(&q.step)),
                ("timestamp", ts),
                ("startOrEnd", start_or_end),
            ])
        }
        Expr::NumberLiteral(n) => J::Obj(vec![
            ("type", s("numberLiteral")),
            ("val", J::Str(format_go_f(n.val))),
        ]),
        Expr::Paren(inner) => J::Obj(vec![("type", s("parenExpr")), ("expr", translate(inner))]),
        Expr::StringLiteral(v) => J::Obj(vec![("type", s("stringLiteral")), ("val", s(&v.value))]),
        Expr::Unary(u) => J::Obj(vec![
            ("type", s("unaryExpr")),
            ("op", s(u.op.as_str())),
            ("expr", translate(&u.expr)),
        ]),
        Expr::VectorSelector(vs) => {
            let mut f = selector_fields(vs);
            f.push(("type", s("vectorSelector")));
            J::Obj(f)
        }
    }
}

/// Appends the JSON tree of `e`.
pub fn write_ast(out: &mut String, e: &Expr) {
    translate(e).write(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::parse_expr;

    fn ast(q: &str) -> String {
        let mut s = String::new();
        write_ast(&mut s, &parse_expr(q).unwrap());
        s
    }

    #[test]
    fn deep_trees_on_the_default_thread_stack() {
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let n = 10_000;
                let json = ast(&format!("{}1{}", "(".repeat(n), ")".repeat(n)));
                assert_eq!(json.matches("parenExpr").count(), n);
                assert!(ast(&vec!["a"; n].join(" + ")).contains("binaryExpr"));
            })
            .expect("spawn");
        assert!(handle.join().is_ok());
    }

    #[test]
    fn selector_and_call_shapes() {
        assert_eq!(
            ast("up{job=\"a\"} offset 5m"),
            r#"{"matchers":[{"name":"job","type":"=","value":"a"},{"name":"__name__","type":"=","value":"up"}],"name":"up","offset":300000,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"}"#
        );
        assert_eq!(
            ast("sum by (a) (rate(x[1m] @ end())) > bool 1"),
            concat!(
                r#"{"bool":true,"lhs":{"expr":{"args":[{"matchers":[{"name":"__name__","type":"=","value":"x"}],"name":"x","offset":0,"range":60000,"startOrEnd":"end","timestamp":null,"type":"matrixSelector"}],"#,
                r#""func":{"argTypes":["matrix"],"name":"rate","returnType":"vector","variadic":0},"type":"call"},"grouping":["a"],"op":"sum","param":null,"type":"aggregation","without":false},"#,
                r#""matching":null,"op":"\u003e","rhs":{"type":"numberLiteral","val":"1"},"type":"binaryExpr"}"#
            )
        );
    }
}
