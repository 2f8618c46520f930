//! Running a parsed template (`text/template/exec.go` and `funcs.go`): pipelines pass each
//! command's result as the last argument of the next, variables are scoped to the control
//! structure that declares them, and the built-in functions behave as Go's (`and`/`or`
//! evaluate lazily and return an operand; comparisons refuse to mix integers and floats).

use super::fmt::{self as gofmt, sprint};
use super::parse::{Arg, Branch, Cmd, Node, Pipe, Pos, Trees};
use super::{Escape, FuncMap, MethodMap, TemplateError, Value};

/// Go's built-in template functions.
pub const BUILTINS: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf",
    "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
];

/// Nested `template` calls allowed (Go allows 100000 on growable stacks; here every level
/// is a Rust stack frame chain, and 100 is far beyond what alert templates nest).
const MAX_DEPTH: usize = 100;

#[allow(dead_code)] // kept for callers without methods
pub(crate) fn run(
    name: &str,
    tree: &[Node],
    trees: &Trees,
    funcs: &FuncMap,
    data: &Value,
) -> Result<String, TemplateError> {
    run_with(
        name,
        tree,
        trees,
        funcs,
        &MethodMap::new(),
        Escape::Text,
        data,
    )
}

/// Runs `tree` with methods for typed values and the given output escaping.
pub(crate) fn run_with(
    name: &str,
    tree: &[Node],
    trees: &Trees,
    funcs: &FuncMap,
    methods: &MethodMap,
    escape: Escape,
    data: &Value,
) -> Result<String, TemplateError> {
    run_overlay(name, tree, None, trees, funcs, methods, escape, data)
}

/// As [`run_with`], with `overlay`'s templates found before `trees`' (a template parsed
/// for one execution, run against a shared set without copying it).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_overlay(
    name: &str,
    tree: &[Node],
    overlay: Option<&Trees>,
    trees: &Trees,
    funcs: &FuncMap,
    methods: &MethodMap,
    escape: Escape,
    data: &Value,
) -> Result<String, TemplateError> {
    let mut st = State {
        name: name.to_string(),
        overlay,
        trees,
        funcs,
        methods,
        escape,
        vars: vec![("$".to_string(), data.clone())],
        out: String::new(),
        depth: 0,
    };
    st.list(tree, data)?;
    Ok(st.out)
}

struct State<'a> {
    name: String,
    overlay: Option<&'a Trees>,
    trees: &'a Trees,
    funcs: &'a FuncMap,
    methods: &'a MethodMap,
    escape: Escape,
    vars: Vec<(String, Value)>,
    out: String,
    depth: usize,
}

/// How a list ended early.
enum Flow {
    Normal,
    Break,
    Continue,
}

type R<T> = Result<T, TemplateError>;

impl State<'_> {
    fn err(&self, pos: Pos, at: &str, msg: impl Into<String>) -> TemplateError {
        TemplateError::Exec {
            name: self.name.clone(),
            line: pos.line,
            col: pos.col,
            at: at.to_string(),
            msg: msg.into(),
        }
    }

    fn list(&mut self, nodes: &[Node], dot: &Value) -> R<Flow> {
        for n in nodes {
            match self.node(n, dot)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    fn node(&mut self, n: &Node, dot: &Value) -> R<Flow> {
        match n {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(p) => {
                let v = self.pipe(p, dot)?;
                if p.decl.is_empty() {
                    let text = self.print(&v, p.pos, &p.text)?;
                    let text = match self.escape {
                        Escape::Text => text,
                        Escape::Html => {
                            let urlquery = matches!(
                                p.cmds.last().and_then(|c| c.args.first()),
                                Some(Arg::Func(f)) if f == "urlquery"
                            );
                            html_context_escape(&self.out, &v, text, urlquery)
                        }
                    };
                    self.out.push_str(&text);
                }
            }
            Node::If(b) => return self.branch_if(b, dot, false),
            Node::With(b) => return self.branch_if(b, dot, true),
            Node::Range(b) => return self.range(b, dot),
            Node::Template { pos, name, pipe } => {
                let overlay = self.overlay.and_then(|o| o.get(name));
                let tree = overlay.or_else(|| self.trees.get(name)).ok_or_else(|| {
                    self.err(
                        *pos,
                        &format!("template {name}"),
                        format!("template {name:?} not defined"),
                    )
                })?;
                let v = match pipe {
                    Some(p) => self.pipe(p, dot)?,
                    None => Value::Nil,
                };
                if self.depth >= MAX_DEPTH {
                    return Err(self.err(
                        *pos,
                        &format!("template {name}"),
                        format!("exceeded maximum template depth ({MAX_DEPTH})"),
                    ));
                }
                let saved_vars = std::mem::replace(&mut self.vars, vec![("$".into(), v.clone())]);
                let saved_name = std::mem::replace(&mut self.name, name.clone());
                self.depth += 1;
                let r = self.list(tree, &v);
                self.depth -= 1;
                self.vars = saved_vars;
                self.name = saved_name;
                r?;
            }
            Node::Break(_) => return Ok(Flow::Break),
            Node::Continue(_) => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn branch_if(&mut self, b: &Branch, dot: &Value, with: bool) -> R<Flow> {
        let mark = self.vars.len();
        let v = self.pipe(&b.pipe, dot)?;
        let r = if v.truthy() {
            let d = if with { v } else { dot.clone() };
            self.list(&b.list, &d)
        } else if let Some(e) = &b.else_list {
            self.list(e, dot)
        } else {
            Ok(Flow::Normal)
        };
        self.vars.truncate(mark);
        r
    }

    fn range(&mut self, b: &Branch, dot: &Value) -> R<Flow> {
        let mark = self.vars.len();
        // The range pipeline's declarations are the loop variables, not assignments.
        let v = self.pipe_value(&b.pipe, dot)?;
        let items: Vec<(Value, Value)> = match v.untyped() {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, e)| (Value::Int(i as i64), e.clone()))
                .collect(),
            Value::Map(m) => m
                .iter()
                .map(|(k, e)| (Value::Str(k.clone()), e.clone()))
                .collect(),
            Value::StrMap(m) => m
                .iter()
                .map(|(k, e)| (Value::Str(k.clone()), Value::Str(e.clone())))
                .collect(),
            Value::Int(n) => (0..(*n).max(0))
                .map(|i| (Value::Int(i), Value::Int(i)))
                .collect(),
            Value::Nil => Vec::new(),
            other => {
                return Err(self.err(
                    b.pipe.pos,
                    &b.pipe.text,
                    format!("range can't iterate over {}", gofmt::sprint_v(other)),
                ))
            }
        };
        if items.is_empty() {
            let r = match &b.else_list {
                Some(e) => self.list(e, dot).map(|_| Flow::Normal),
                None => Ok(Flow::Normal),
            };
            self.vars.truncate(mark);
            return r;
        }
        for (k, e) in items {
            let inner = self.vars.len();
            match b.pipe.decl.as_slice() {
                [] => {}
                [one] => self.vars.push((one.clone(), e.clone())),
                [a, bb, ..] => {
                    self.vars.push((a.clone(), k));
                    self.vars.push((bb.clone(), e.clone()));
                }
            }
            let r = self.list(&b.list, &e)?;
            self.vars.truncate(inner);
            if let Flow::Break = r {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    /// Evaluates a pipeline and applies its declaration or assignment.
    fn pipe(&mut self, p: &Pipe, dot: &Value) -> R<Value> {
        let v = self.pipe_value(p, dot)?;
        for name in &p.decl {
            if p.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => {
                        return Err(self.err(p.pos, name, format!("undefined variable: {name}")))
                    }
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn pipe_value(&mut self, p: &Pipe, dot: &Value) -> R<Value> {
        let mut last: Option<Value> = None;
        for c in &p.cmds {
            last = Some(self.command(c, dot, last)?);
        }
        Ok(last.unwrap_or(Value::Nil))
    }

    fn command(&mut self, c: &Cmd, dot: &Value, last: Option<Value>) -> R<Value> {
        let first = &c.args[0];
        if let Arg::Func(name) = first {
            // Go reports a call's error with the command's text.
            return self.call(name, &c.args[1..], dot, last, c.pos, &c.text);
        }
        if c.args.len() > 1 || last.is_some() {
            if let Some(v) = self.method_call(first, &c.args[1..], dot, last.clone(), c.pos)? {
                return Ok(v);
            }
            let at = arg_at(first);
            return Err(self.err(
                c.pos,
                &at,
                format!("can't give argument to non-function {at}"),
            ));
        }
        self.arg(first, dot, c.pos)
    }

    fn arg(&mut self, a: &Arg, dot: &Value, pos: Pos) -> R<Value> {
        Ok(match a {
            Arg::Dot => dot.clone(),
            Arg::Nil => {
                return Err(self.err(pos, "nil", "nil is not a command"));
            }
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Int(i) => Value::Int(*i),
            Arg::Float(f) => Value::Float(*f),
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::Field(fs) => self.fields(dot.clone(), fs, pos, &arg_at(a))?,
            Arg::Var(v, fs) => {
                let base = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == v)
                    .map(|(_, x)| x.clone())
                    .ok_or_else(|| self.err(pos, v, format!("undefined variable: {v}")))?;
                self.fields(base, fs, pos, &arg_at(a))?
            }
            Arg::Func(name) => self.call(name, &[], dot, None, pos, name)?,
            Arg::Pipe(p, fs) => {
                let mark = self.vars.len();
                let v = self.pipe(p, dot)?;
                self.vars.truncate(mark);
                self.fields(v, fs, pos, &arg_at(a))?
            }
        })
    }

    /// The method a field name means on `v`, if `v` is typed and has it.
    fn method(&self, v: &Value, f: &str) -> Option<(super::Method, Value)> {
        let mut cur = v;
        // A named type over a named type (rare) answers with the outer type's methods first.
        while let Value::Typed(t, inner) = cur {
            if let Some(m) = self.methods.get(&format!("{t}.{f}")) {
                return Some((m.clone(), inner.as_ref().clone()));
            }
            cur = inner;
        }
        None
    }

    /// `.A.Method arg...`: a field chain whose last element is a method given arguments.
    /// `None` when the chain does not end in a method.
    fn method_call(
        &mut self,
        first: &Arg,
        args: &[Arg],
        dot: &Value,
        last: Option<Value>,
        pos: Pos,
    ) -> R<Option<Value>> {
        let at = arg_at(first);
        let (base, fs) = match first {
            Arg::Field(fs) if !fs.is_empty() => (dot.clone(), fs.as_slice()),
            Arg::Var(v, fs) if !fs.is_empty() => {
                let base = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == v)
                    .map(|(_, x)| x.clone())
                    .ok_or_else(|| self.err(pos, v, format!("undefined variable: {v}")))?;
                (base, fs.as_slice())
            }
            Arg::Pipe(p, fs) if !fs.is_empty() => {
                let mark = self.vars.len();
                let v = self.pipe(p, dot)?;
                self.vars.truncate(mark);
                (v, fs.as_slice())
            }
            _ => return Ok(None),
        };
        let (name, chain) = fs.split_last().expect("checked non-empty above");
        let recv = self.fields(base, chain, pos, &at)?;
        let Some((m, inner)) = self.method(&recv, name) else {
            return Ok(None);
        };
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(a, dot, pos)?);
        }
        if let Some(l) = last {
            vals.push(l);
        }
        m(&inner, &vals)
            .map(Some)
            .map_err(|e| self.err(pos, &at, format!("error calling {name}: {e}")))
    }

    /// What an action writes for `v`: `String()` of a typed value that has one, escaped
    /// as the execution asks.
    fn print(&self, v: &Value, pos: Pos, at: &str) -> R<String> {
        let text = match v {
            Value::Typed(..) => match self.method(v, "String") {
                Some((m, inner)) => match m(&inner, &[]) {
                    Ok(s) => print_value(&s),
                    Err(e) => return Err(self.err(pos, at, format!("error calling String: {e}"))),
                },
                None => print_value(v.untyped()),
            },
            v => print_value(v),
        };
        Ok(text)
    }

    fn fields(&self, mut v: Value, fs: &[String], pos: Pos, at: &str) -> R<Value> {
        for f in fs {
            if let Value::Typed(..) = v {
                if let Some((m, inner)) = self.method(&v, f) {
                    v = m(&inner, &[])
                        .map_err(|e| self.err(pos, at, format!("error calling {f}: {e}")))?;
                    continue;
                }
                v = v.untyped().clone();
            }
            v = match v {
                Value::Map(mut m) => m.remove(f).unwrap_or(Value::Nil),
                Value::StrMap(m) => Value::Str(m.get(f).cloned().unwrap_or_default()),
                Value::Struct(t, fields) => match fields.into_iter().find(|(n, _)| n == f) {
                    Some((_, x)) => x,
                    None => {
                        return Err(self.err(
                            pos,
                            at,
                            format!("can't evaluate field {f} in type {t}"),
                        ))
                    }
                },
                Value::Nil => {
                    return Err(self.err(
                        pos,
                        at,
                        format!("nil pointer evaluating interface {{}}.{f}"),
                    ))
                }
                other => {
                    return Err(self.err(
                        pos,
                        at,
                        format!("can't evaluate field {f} in type {}", other.type_name()),
                    ))
                }
            };
        }
        Ok(v)
    }

    fn call(
        &mut self,
        name: &str,
        args: &[Arg],
        dot: &Value,
        last: Option<Value>,
        pos: Pos,
        at: &str,
    ) -> R<Value> {
        // Lazy boolean operators.
        if name == "and" || name == "or" {
            let n = args.len() + usize::from(last.is_some());
            if n == 0 {
                return Err(self.err(
                    pos,
                    name,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut v = Value::Nil;
            for a in args {
                v = self.arg(a, dot, pos)?;
                if v.truthy() == (name == "or") {
                    return Ok(v);
                }
            }
            if let Some(l) = last {
                v = l;
            }
            return Ok(v);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(a, dot, pos)?);
        }
        if let Some(l) = last {
            vals.push(l);
        }
        // Functions see the underlying values (Go converts a named type to the parameter's).
        if vals.iter().any(|v| matches!(v, Value::Typed(..))) {
            for v in vals.iter_mut() {
                if let Value::Typed(..) = v {
                    *v = v.untyped().clone();
                }
            }
        }
        let r = if let Some(f) = self.funcs.get(name) {
            f(&vals)
        } else {
            builtin(name, &vals)
        };
        r.map_err(|m| self.err(pos, at, format!("error calling {name}: {m}")))
    }
}

fn arg_at(a: &Arg) -> String {
    match a {
        Arg::Field(f) => format!(".{}", f.join(".")),
        Arg::Var(v, f) if f.is_empty() => v.clone(),
        Arg::Var(v, f) => format!("{v}.{}", f.join(".")),
        Arg::Dot => ".".into(),
        Arg::Func(n) => n.clone(),
        Arg::Pipe(p, _) => format!("({})", p.text),
        Arg::Str(s) => format!("{s:?}"),
        Arg::Int(i) => i.to_string(),
        Arg::Float(f) => f.to_string(),
        Arg::Bool(b) => b.to_string(),
        Arg::Nil => "nil".into(),
    }
}

/// How an action prints its value (`text/template` `printValue`).
pub(crate) fn print_value(v: &Value) -> String {
    match v {
        Value::Nil => "<no value>".to_string(),
        other => gofmt::sprint_v(other),
    }
}

fn want_args(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn builtin(name: &str, args: &[Value]) -> Result<Value, String> {
    match name {
        "not" => {
            want_args(name, args, 1)?;
            Ok(Value::Bool(!args[0].truthy()))
        }
        "len" => {
            want_args(name, args, 1)?;
            Ok(Value::Int(match &args[0] {
                Value::Str(s) => s.len() as i64,
                Value::List(l) => l.len() as i64,
                Value::Map(m) => m.len() as i64,
                Value::StrMap(m) => m.len() as i64,
                other => return Err(format!("len of type {}", other.type_name())),
            }))
        }
        "index" => {
            let Some((first, keys)) = args.split_first() else {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            };
            let mut v = first.clone();
            for k in keys {
                v = match (&v, k) {
                    (Value::List(l), Value::Int(i)) => {
                        if *i < 0 || *i as usize >= l.len() {
                            return Err(format!("error calling index: index out of range: {i}"));
                        }
                        l[*i as usize].clone()
                    }
                    (Value::Str(s), Value::Int(i)) => {
                        if *i < 0 || *i as usize >= s.len() {
                            return Err(format!("error calling index: index out of range: {i}"));
                        }
                        Value::Int(i64::from(s.as_bytes()[*i as usize]))
                    }
                    (Value::Map(m), Value::Str(key)) => m.get(key).cloned().unwrap_or(Value::Nil),
                    (Value::StrMap(m), Value::Str(key)) => {
                        Value::Str(m.get(key).cloned().unwrap_or_default())
                    }
                    (Value::Nil, _) => return Err("index of untyped nil".into()),
                    (c, k) => {
                        return Err(format!(
                            "cannot index {} with {}",
                            c.type_name(),
                            k.type_name()
                        ))
                    }
                };
            }
            Ok(v)
        }
        "slice" => {
            let Some((first, idx)) = args.split_first() else {
                return Err("wrong number of args for slice: want at least 1 got 0".into());
            };
            let bounds: Vec<i64> = idx
                .iter()
                .map(|v| match v {
                    Value::Int(i) => Ok(*i),
                    o => Err(format!(
                        "cannot index slice/array with type {}",
                        o.type_name()
                    )),
                })
                .collect::<Result<_, _>>()?;
            let len = match first {
                Value::Str(s) => s.len(),
                Value::List(l) => l.len(),
                o => return Err(format!("can't slice item of type {}", o.type_name())),
            } as i64;
            if bounds.len() > 2 {
                return Err("too many slice indexes".into());
            }
            let lo = bounds.first().copied().unwrap_or(0);
            let hi = bounds.get(1).copied().unwrap_or(len);
            if lo < 0 || hi < lo || hi > len {
                return Err(format!(
                    "index out of range: {}",
                    if lo < 0 { lo } else { hi }
                ));
            }
            Ok(match first {
                Value::Str(s) => Value::Str(
                    String::from_utf8_lossy(&s.as_bytes()[lo as usize..hi as usize]).into_owned(),
                ),
                Value::List(l) => Value::List(l[lo as usize..hi as usize].to_vec()),
                _ => unreachable!("checked above"),
            })
        }
        "print" => Ok(Value::Str(sprint(args))),
        "println" => {
            let parts: Vec<String> = args.iter().map(gofmt::sprint_v).collect();
            Ok(Value::Str(parts.join(" ") + "\n"))
        }
        "printf" => {
            let Some((Value::Str(f), rest)) = args.split_first() else {
                return Err(match args.first() {
                    None => "wrong number of args for printf: want at least 1 got 0".into(),
                    Some(v) => format!(
                        "wrong type for value; expected string; got {}",
                        v.type_name()
                    ),
                });
            };
            Ok(Value::Str(gofmt::sprintf(f, rest)))
        }
        "html" => Ok(Value::Str(html_escape(&eval_args_str(args)))),
        "js" => Ok(Value::Str(js_escape(&eval_args_str(args)))),
        "urlquery" => Ok(Value::Str(query_escape(&eval_args_str(args)))),
        "eq" => {
            let Some((a, rest)) = args.split_first() else {
                return Err("missing argument for comparison".into());
            };
            if rest.is_empty() {
                return Err("missing argument for comparison".into());
            }
            for b in rest {
                if compare(a, b)? == std::cmp::Ordering::Equal {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" => {
            want_args(name, args, 2)?;
            Ok(Value::Bool(
                compare(&args[0], &args[1])? != std::cmp::Ordering::Equal,
            ))
        }
        "lt" | "le" | "gt" | "ge" => {
            want_args(name, args, 2)?;
            let o = ordered(&args[0], &args[1])?;
            use std::cmp::Ordering::*;
            Ok(Value::Bool(match name {
                "lt" => o == Less,
                "le" => o != Greater,
                "gt" => o == Greater,
                _ => o != Less,
            }))
        }
        "call" => Err("call of a function value is not supported".into()),
        other => Err(format!("function {other:?} not defined")),
    }
}

/// What `html`, `js` and `urlquery` format their arguments as: one string argument as it
/// is, otherwise `fmt.Sprint` of them all.
fn eval_args_str(args: &[Value]) -> String {
    match args {
        [Value::Str(s)] => s.clone(),
        _ => sprint(args),
    }
}

/// Equality as Go's `eq`: basic kinds only; integers and floats do not mix.
fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering::*;
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => {
            if x == y {
                Equal
            } else {
                Less
            }
        }
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => {
            if x == y {
                Equal
            } else {
                Less
            }
        }
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        (Value::Nil, Value::Nil) => Equal,
        (Value::Nil, _) | (_, Value::Nil) => return Err("incompatible types for comparison".into()),
        (x, y) if !is_basic(x) || !is_basic(y) => {
            return Err(format!(
                "non-comparable type {}: {}",
                gofmt::sprint_v(if is_basic(x) { y } else { x }),
                if is_basic(x) {
                    y.type_name()
                } else {
                    x.type_name()
                }
            ))
        }
        _ => return Err("incompatible types for comparison".into()),
    })
}

fn is_basic(v: &Value) -> bool {
    matches!(
        v,
        Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Str(_)
    )
}

/// Ordering as Go's `lt`: integers, floats and strings, not mixed.
fn ordered(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => {
            Ok(x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Greater))
        }
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (Value::Bool(_), _) | (_, Value::Bool(_)) => Err("invalid type for comparison".into()),
        (x, y) if is_basic(x) && is_basic(y) => Err("incompatible types for comparison".into()),
        _ => Err("invalid type for comparison".into()),
    }
}

/// Go's `template.HTMLEscapeString`.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Where an action's output lands in HTML, as far as `html/template`'s escaping differs.
#[derive(Debug, PartialEq)]
enum UrlPart {
    /// The start of a URL-valued attribute (`href="{{.}}`).
    Start,
    /// Later in the URL, before any `?` or `#`.
    Path,
    /// In the query or fragment.
    Query,
}

/// Whether `out` ends inside a quoted URL-valued attribute of a tag, and where in it.
fn url_attr_part(out: &str) -> Option<UrlPart> {
    let tag_start = out.rfind('<')?;
    let tag = &out[tag_start..];
    if tag.contains('>') {
        return None;
    }
    let q = tag.rfind(['"', '\''])?;
    let quote = tag.as_bytes()[q];
    // The quote must open a value: `name=` (spaces allowed) before it, and be unclosed
    // (an even count of this quote before it means it opens one).
    if tag[..q].bytes().filter(|&b| b == quote).count() % 2 != 0 {
        return None;
    }
    let before = tag[..q].trim_end();
    let before = before.strip_suffix('=')?.trim_end();
    let name_start = before
        .rfind(|c: char| c.is_whitespace())
        .map_or(0, |i| i + 1);
    let name = before[name_start..].to_ascii_lowercase();
    let name = name.rsplit(':').next().unwrap_or(&name);
    let is_url = matches!(
        name,
        "href"
            | "src"
            | "action"
            | "cite"
            | "formaction"
            | "background"
            | "poster"
            | "codebase"
            | "longdesc"
            | "usemap"
            | "icon"
            | "manifest"
            | "profile"
            | "classid"
            | "data"
    ) || name.contains("src")
        || name.contains("uri")
        || name.contains("url");
    if !is_url {
        return None;
    }
    let value = &tag[q + 1..];
    Some(if value.is_empty() {
        UrlPart::Start
    } else if value.contains(['?', '#']) {
        UrlPart::Query
    } else {
        UrlPart::Path
    })
}

/// `html/template`'s `urlFilter`: a URL whose scheme is not http, https or mailto
/// becomes `#ZgotmplZ`.
fn url_filter(s: &str) -> String {
    if let Some(i) = s.find(':') {
        if !s[..i].contains('/') {
            let scheme = s[..i].to_ascii_lowercase();
            if scheme != "http" && scheme != "https" && scheme != "mailto" {
                return "#ZgotmplZ".to_string();
            }
        }
    }
    s.to_string()
}

/// `html/template`'s `urlNormalizer` (`norm`) and `urlEscaper`: percent-encodes what may
/// not stand in a URL (with `norm`, reserved characters and valid escapes are kept).
fn url_process(s: &str, norm: bool) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in b.iter().enumerate() {
        let keep = match c {
            b'!' | b'#' | b'$' | b'&' | b'*' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?'
            | b'@' | b'[' | b']' => norm,
            b'-' | b'.' | b'_' | b'~' => true,
            b'%' => {
                norm && i + 2 < b.len()
                    && b[i + 1].is_ascii_hexdigit()
                    && b[i + 2].is_ascii_hexdigit()
            }
            c => c.is_ascii_alphanumeric(),
        };
        if keep {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02x}"));
        }
    }
    out
}

/// What `html/template` writes for an action's output `text` (of value `v`) after the
/// output so far: in a URL attribute the URL is filtered and normalized (or query-escaped
/// past `?`, unless the pipeline ended in `urlquery`), then HTML-escaped; elsewhere it is
/// HTML-escaped unless it is `template.HTML` (`safeHtml`).
fn html_context_escape(out: &str, v: &Value, text: String, urlquery: bool) -> String {
    match url_attr_part(out) {
        Some(UrlPart::Start) => html_template_escape(&url_process(&url_filter(&text), true)),
        Some(UrlPart::Path) => html_template_escape(&url_process(&text, true)),
        Some(UrlPart::Query) if urlquery => html_template_escape(&text),
        Some(UrlPart::Query) => html_template_escape(&url_process(&text, false)),
        None if matches!(v, Value::Typed("template.HTML", _)) => text,
        None => html_template_escape(&text),
    }
}

/// `html/template`'s escaper for text and quoted attribute values (`htmlEscaper`),
/// which unlike `template.HTMLEscapeString` also escapes `+`.
fn html_template_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '+' => out.push_str("&#43;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A map value from string pairs, for tests.
#[cfg(test)]
pub fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<std::collections::BTreeMap<_, _>>(),
    )
}
