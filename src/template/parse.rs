//! The parser of Go's `text/template` (`text/template/parse/parse.go`): actions, pipelines
//! and the control structures `if`/`else`/`range`/`with`/`define`/`template`/`block`/
//! `break`/`continue`, into a tree per named template. As upstream, a call of an unknown
//! function or a use of an undeclared variable is a parse error.

use std::collections::{BTreeMap, HashSet};

use super::lex::{lex, Tok, Token};
use super::TemplateError;

/// Where a node starts, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    Range(Branch),
    With(Branch),
    Template {
        pos: Pos,
        name: String,
        pipe: Option<Pipe>,
    },
    Break(Pos),
    Continue(Pos),
}

/// The body of `if`, `range` and `with`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Pipe {
    pub pos: Pos,
    /// Variables declared (`$x :=`) or assigned (`$x =`).
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Cmd>,
    /// The source text of the pipeline, for error messages (`at <...>`).
    pub text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Cmd {
    pub pos: Pos,
    pub args: Vec<Arg>,
    /// The command's source text, for error messages (`at <...>`).
    pub text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Arg {
    /// `.A.B`
    Field(Vec<String>),
    /// `$x.A.B`
    Var(String, Vec<String>),
    Dot,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A function name.
    Func(String),
    /// `(pipeline).A.B`
    Pipe(Box<Pipe>, Vec<String>),
}

/// The parsed templates: the main one under its name, and every `define`d one.
pub(crate) type Trees = BTreeMap<String, Vec<Node>>;

pub(crate) fn parse(name: &str, src: &str, funcs: &HashSet<&str>) -> Result<Trees, TemplateError> {
    let toks = lex(name, src)?;
    let mut p = Parser {
        name,
        toks,
        pos: 0,
        funcs,
        vars: vec!["$".to_string()],
        trees: Trees::new(),
        depth: 0,
    };
    let (list, end) = p.list(false)?;
    if let Some(e) = end {
        return Err(p.err_at(e.line, format!("unexpected {}", describe(&e.tok))));
    }
    let mut trees = p.trees;
    // A main template of only white space does not replace a defined one of its name.
    let blank = list
        .iter()
        .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()));
    if !(blank && trees.contains_key(name)) {
        trees.insert(name.to_string(), list);
    }
    Ok(trees)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::End => "{{end}}".into(),
        Tok::Else => "{{else}}".into(),
        Tok::Ident(s) => format!("<{s}>"),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Number(s) => s.clone(),
        Tok::Close => "\"}}\"".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

struct Parser<'a> {
    name: &'a str,
    toks: Vec<Token>,
    pos: usize,
    funcs: &'a HashSet<&'a str>,
    /// Variables in scope, innermost last.
    vars: Vec<String>,
    trees: Trees,
    /// Open parentheses and control structures around the current token.
    depth: usize,
}

/// How deep parentheses and control structures may nest (the parser recurses; Go's
/// growable stacks have no such limit, a thread's fixed stack does).
const MAX_NESTING: usize = 100;

impl Parser<'_> {
    fn err_at(&self, line: usize, msg: impl Into<String>) -> TemplateError {
        TemplateError::Parse {
            name: self.name.to_string(),
            line,
            msg: msg.into(),
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Result<Token, TemplateError> {
        let t = self.toks.get(self.pos).cloned().ok_or_else(|| {
            let line = self.toks.last().map_or(1, |t| t.line);
            self.err_at(line, "unexpected EOF")
        })?;
        self.pos += 1;
        Ok(t)
    }

    fn expect_close(&mut self, ctx: &str) -> Result<(), TemplateError> {
        let t = self.next()?;
        if t.tok != Tok::Close {
            return Err(self.err_at(t.line, format!("unexpected {} in {ctx}", describe(&t.tok))));
        }
        Ok(())
    }

    /// Parses nodes until EOF (`in_block` false) or `{{end}}`/`{{else}}`, which it returns
    /// (the `else` token consumed, what follows it not).
    fn list(&mut self, in_block: bool) -> Result<(Vec<Node>, Option<Token>), TemplateError> {
        let mut out = Vec::new();
        while let Some(t) = self.peek().cloned() {
            match t.tok {
                Tok::Text(s) => {
                    self.pos += 1;
                    out.push(Node::Text(s));
                }
                Tok::Open => {
                    self.pos += 1;
                    let kw = self
                        .peek()
                        .cloned()
                        .ok_or_else(|| self.err_at(t.line, "unexpected EOF"))?;
                    match kw.tok {
                        Tok::End | Tok::Else => {
                            if !in_block {
                                return Err(self
                                    .err_at(kw.line, format!("unexpected {}", describe(&kw.tok))));
                            }
                            self.pos += 1;
                            if kw.tok == Tok::End {
                                self.expect_close("end")?;
                            }
                            return Ok((out, Some(kw)));
                        }
                        Tok::If => {
                            self.pos += 1;
                            out.push(Node::If(self.branch("if", kw.line)?));
                        }
                        Tok::Range => {
                            self.pos += 1;
                            out.push(Node::Range(self.branch("range", kw.line)?));
                        }
                        Tok::With => {
                            self.pos += 1;
                            out.push(Node::With(self.branch("with", kw.line)?));
                        }
                        Tok::Define => {
                            self.pos += 1;
                            self.define(kw.line)?;
                        }
                        Tok::Template | Tok::Block => {
                            self.pos += 1;
                            out.push(self.template(kw.tok == Tok::Block, kw.line, kw.col)?);
                        }
                        Tok::Break | Tok::Continue => {
                            self.pos += 1;
                            self.expect_close(if kw.tok == Tok::Break {
                                "break"
                            } else {
                                "continue"
                            })?;
                            let p = Pos {
                                line: kw.line,
                                col: kw.col,
                            };
                            out.push(if kw.tok == Tok::Break {
                                Node::Break(p)
                            } else {
                                Node::Continue(p)
                            });
                        }
                        _ => {
                            let pipe = self.pipeline("command", true)?;
                            out.push(Node::Action(pipe));
                        }
                    }
                }
                _ => return Err(self.err_at(t.line, format!("unexpected {}", describe(&t.tok)))),
            }
        }
        if in_block {
            let line = self.toks.last().map_or(1, |t| t.line);
            return Err(self.err_at(line, "unexpected EOF"));
        }
        Ok((out, None))
    }

    /// `if`/`range`/`with` after the keyword.
    fn branch(&mut self, ctx: &'static str, line: usize) -> Result<Branch, TemplateError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err_at(
                line,
                format!("control structures nested deeper than {MAX_NESTING}"),
            ));
        }
        let r = self.branch_inner(ctx, line);
        self.depth -= 1;
        r
    }

    fn branch_inner(&mut self, ctx: &'static str, line: usize) -> Result<Branch, TemplateError> {
        let depth = self.vars.len();
        let pipe = self.pipeline(ctx, true)?;
        if pipe.cmds.is_empty() {
            return Err(self.err_at(line, format!("missing value for {ctx}")));
        }
        let (list, end) = self.list(true)?;
        let else_list = match end.map(|t| t.tok) {
            Some(Tok::Else) => {
                // `{{else if ...}}` / `{{else with ...}}` chain into a nested branch.
                let chained = match self.peek().map(|t| t.tok.clone()) {
                    Some(Tok::If) if ctx == "if" => Some("if"),
                    Some(Tok::With) if ctx == "with" => Some("with"),
                    _ => None,
                };
                if let Some(kind) = chained {
                    let kw = self.next()?;
                    let inner = self.branch(kind, kw.line)?;
                    Some(vec![if kind == "if" {
                        Node::If(inner)
                    } else {
                        Node::With(inner)
                    }])
                } else {
                    self.expect_close("else")?;
                    let (l, end) = self.list(true)?;
                    if !matches!(end.map(|t| t.tok), Some(Tok::End)) {
                        return Err(self.err_at(line, "expected end; found {{else}}"));
                    }
                    Some(l)
                }
            }
            _ => None,
        };
        self.vars.truncate(depth);
        Ok(Branch {
            pipe,
            list,
            else_list,
        })
    }

    fn define(&mut self, line: usize) -> Result<(), TemplateError> {
        let t = self.next()?;
        let Tok::Str(name) = t.tok else {
            return Err(self.err_at(line, "name of template in define must be a string"));
        };
        self.expect_close("define clause")?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let (list, end) = self.list(true)?;
        self.vars = saved;
        if !matches!(end.map(|t| t.tok), Some(Tok::End)) {
            return Err(self.err_at(line, "unexpected {{else}} in define"));
        }
        self.add_tree(name, list, line)
    }

    fn add_tree(
        &mut self,
        name: String,
        list: Vec<Node>,
        line: usize,
    ) -> Result<(), TemplateError> {
        let blank = list
            .iter()
            .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()));
        if let Some(old) = self.trees.get(&name) {
            let old_blank = old
                .iter()
                .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()));
            if !blank && !old_blank {
                return Err(self.err_at(
                    line,
                    format!("template: multiple definition of template {name:?}"),
                ));
            }
            if blank {
                return Ok(());
            }
        }
        self.trees.insert(name, list);
        Ok(())
    }

    fn template(&mut self, block: bool, line: usize, col: usize) -> Result<Node, TemplateError> {
        let ctx = if block {
            "block clause"
        } else {
            "template clause"
        };
        let t = self.next()?;
        let Tok::Str(name) = t.tok else {
            return Err(self.err_at(line, format!("unexpected {} in {ctx}", describe(&t.tok))));
        };
        let pipe = if self.peek().map(|t| &t.tok) == Some(&Tok::Close) {
            self.pos += 1;
            None
        } else {
            Some(self.pipeline(ctx, false)?)
        };
        if block {
            let saved = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
            let (list, end) = self.list(true)?;
            self.vars = saved;
            if !matches!(end.map(|t| t.tok), Some(Tok::End)) {
                return Err(self.err_at(line, "unexpected {{else}} in block clause"));
            }
            self.add_tree(name.clone(), list, line)?;
        }
        Ok(Node::Template {
            pos: Pos { line, col },
            name,
            pipe,
        })
    }

    /// A pipeline up to and including `}}` (or `)` when `in_paren`), with declarations.
    fn pipeline(&mut self, ctx: &str, allow_decl: bool) -> Result<Pipe, TemplateError> {
        self.pipeline_until(ctx, allow_decl, false)
    }

    fn pipeline_until(
        &mut self,
        ctx: &str,
        allow_decl: bool,
        in_paren: bool,
    ) -> Result<Pipe, TemplateError> {
        let start = self.peek().cloned();
        let pos = start
            .as_ref()
            .map(|t| Pos {
                line: t.line,
                col: t.col,
            })
            .unwrap_or_default();
        let mut decl = Vec::new();
        let mut assign = false;
        // `$x :=`, `$x =`, `$i, $e :=` (range only).
        if allow_decl && !in_paren {
            let save = self.pos;
            let mut names = Vec::new();
            while let Some(Tok::Var(v)) = self.peek().map(|t| t.tok.clone()) {
                names.push(v);
                self.pos += 1;
                match self.peek().map(|t| t.tok.clone()) {
                    Some(Tok::Comma) if ctx == "range" && names.len() == 1 => {
                        self.pos += 1;
                        continue;
                    }
                    Some(Tok::Declare) => {
                        self.pos += 1;
                        decl = names.clone();
                        break;
                    }
                    Some(Tok::Assign) => {
                        self.pos += 1;
                        assign = true;
                        decl = names.clone();
                        break;
                    }
                    _ => break,
                }
            }
            if decl.is_empty() {
                self.pos = save;
            }
        }
        let mut cmds = Vec::new();
        let mut text = String::new();
        loop {
            let t = self
                .peek()
                .cloned()
                .ok_or_else(|| self.err_at(pos.line, "unclosed action"))?;
            match t.tok {
                Tok::Close if !in_paren => {
                    self.pos += 1;
                    break;
                }
                Tok::RParen if in_paren => {
                    self.pos += 1;
                    break;
                }
                Tok::Close | Tok::RParen => {
                    return Err(self.err_at(
                        t.line,
                        format!("unexpected {} in operand", describe(&t.tok)),
                    ));
                }
                _ => {}
            }
            let cmd = self.command(ctx, in_paren, &mut text)?;
            cmds.push(cmd);
            match self.peek().map(|t| t.tok.clone()) {
                Some(Tok::Pipe) => {
                    self.pos += 1;
                    text.push_str(" | ");
                }
                Some(Tok::Close) if !in_paren => {}
                Some(Tok::RParen) if in_paren => {}
                Some(other) => {
                    return Err(
                        self.err_at(t.line, format!("unexpected {} in {ctx}", describe(&other)))
                    )
                }
                None => return Err(self.err_at(t.line, "unclosed action")),
            }
        }
        if !decl.is_empty() && cmds.is_empty() {
            return Err(self.err_at(pos.line, format!("missing value for {ctx}")));
        }
        if cmds.is_empty() && ctx == "command" {
            return Err(self.err_at(pos.line, "missing value for command"));
        }
        // Non-executable commands after the first must be function calls taking the input.
        for (i, c) in cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0],
                Arg::Bool(_) | Arg::Dot | Arg::Nil | Arg::Int(_) | Arg::Float(_) | Arg::Str(_)
            ) {
                return Err(self.err_at(
                    c.pos.line,
                    format!("non executable command in pipeline stage {}", i + 1),
                ));
            }
        }
        // As Go's parser, an assignment names its variable too (so `{{ $x = 1 }}` parses;
        // executing it fails when no `$x` is in scope).
        let _ = assign;
        for v in &decl {
            self.vars.push(v.clone());
        }
        Ok(Pipe {
            pos,
            decl,
            assign,
            cmds,
            text,
        })
    }

    fn command(
        &mut self,
        ctx: &str,
        in_paren: bool,
        text: &mut String,
    ) -> Result<Cmd, TemplateError> {
        let first = self
            .peek()
            .cloned()
            .ok_or_else(|| self.err_at(1, "unexpected EOF"))?;
        let pos = Pos {
            line: first.line,
            col: first.col,
        };
        let mut args = Vec::new();
        let start = text.len();
        while let Some(t) = self.peek().cloned() {
            let arg = match t.tok {
                Tok::Pipe | Tok::Close => break,
                Tok::RParen if in_paren => break,
                Tok::LParen => {
                    self.pos += 1;
                    self.depth += 1;
                    if self.depth > MAX_NESTING {
                        return Err(self.err_at(
                            t.line,
                            format!("parentheses nested deeper than {MAX_NESTING}"),
                        ));
                    }
                    let inner = self.pipeline_until(ctx, false, true)?;
                    self.depth -= 1;
                    let fields = self.fields();
                    text.push('(');
                    text.push_str(&inner.text);
                    text.push(')');
                    for f in &fields {
                        text.push('.');
                        text.push_str(f);
                    }
                    Arg::Pipe(Box::new(inner), fields)
                }
                _ => {
                    self.pos += 1;
                    let a = self.operand(t.clone())?;
                    if !text.is_empty() && !text.ends_with(' ') && !text.ends_with('(') {
                        text.push(' ');
                    }
                    text.push_str(&arg_text(&a));
                    a
                }
            };
            args.push(arg);
        }
        if args.is_empty() {
            return Err(self.err_at(pos.line, "empty command"));
        }
        let text = text[start..].trim().to_string();
        Ok(Cmd { pos, args, text })
    }

    /// Field names directly following (a chain like `.A.B`).
    fn fields(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(Tok::Field(f)) = self.peek().map(|t| t.tok.clone()) {
            // Only fields that touch the previous token chain: `.A.B` is one operand,
            // `.A .B` two (a method `.A` given the argument `.B`), as in Go.
            if !self.touches_previous() {
                break;
            }
            out.push(f);
            self.pos += 1;
        }
        out
    }

    /// Whether the next token starts right where the previous one ends.
    fn touches_previous(&self) -> bool {
        let (Some(prev), Some(next)) = (
            self.pos.checked_sub(1).and_then(|i| self.toks.get(i)),
            self.toks.get(self.pos),
        ) else {
            return false;
        };
        let len = match &prev.tok {
            Tok::Field(f) => f.len() + 1,
            Tok::Var(v) => v.len(),
            Tok::RParen => 1,
            // Unknown width: keep the old reading (a chain).
            _ => return true,
        };
        prev.line == next.line && prev.col + len == next.col
    }

    fn operand(&mut self, t: Token) -> Result<Arg, TemplateError> {
        Ok(match t.tok {
            Tok::Field(f) => {
                let mut fs = vec![f];
                fs.extend(self.fields());
                Arg::Field(fs)
            }
            Tok::Var(v) => {
                if !self.vars.contains(&v) {
                    return Err(self.err_at(t.line, format!("undefined variable {v:?}")));
                }
                Arg::Var(v, self.fields())
            }
            Tok::Dot => Arg::Dot,
            Tok::Nil => Arg::Nil,
            Tok::Bool(b) => Arg::Bool(b),
            Tok::Str(s) => Arg::Str(s),
            Tok::Char(c) => Arg::Int(c as i64),
            Tok::Number(n) => number(&n)
                .ok_or_else(|| self.err_at(t.line, format!("bad number syntax: {n:?}")))?,
            Tok::Ident(name) => {
                if !self.funcs.contains(name.as_str()) {
                    return Err(self.err_at(t.line, format!("function {name:?} not defined")));
                }
                Arg::Func(name)
            }
            other => {
                return Err(self.err_at(
                    t.line,
                    format!("unexpected {} in operand", describe(&other)),
                ))
            }
        })
    }
}

fn arg_text(a: &Arg) -> String {
    match a {
        Arg::Field(f) => format!(".{}", f.join(".")),
        Arg::Var(v, f) if f.is_empty() => v.clone(),
        Arg::Var(v, f) => format!("{v}.{}", f.join(".")),
        Arg::Dot => ".".into(),
        Arg::Nil => "nil".into(),
        Arg::Bool(b) => b.to_string(),
        Arg::Int(i) => i.to_string(),
        Arg::Float(f) => f.to_string(),
        Arg::Str(s) => format!("{s:?}"),
        Arg::Func(n) => n.clone(),
        Arg::Pipe(p, _) => format!("({})", p.text),
    }
}

/// A number constant as Go's template parser types it for an `interface{}` argument: an
/// integer when it is written as one (decimal, hex, octal, binary), else a float.
fn number(s: &str) -> Option<Arg> {
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, &clean[..]),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        if h.contains('p') {
            None
        } else {
            i64::from_str_radix(h, 16).ok()
        }
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|b| b.is_ascii_digit()) {
        lower.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Some(Arg::Int(if neg { -i } else { i }));
    }
    let f: f64 = lower.parse().ok()?;
    if !f.is_finite() && !lower.contains("inf") {
        return None;
    }
    Some(Arg::Float(if neg { -f } else { f }))
}
