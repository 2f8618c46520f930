//! PromQL parser: tokens from [`super::lexer`] to an [`Expr`] tree, with upstream's
//! precedence, modifier rules and type checks.
//!
//! Mirrors upstream `promql/parser/generated_parser.y` and `parse.go` (`checkAST`,
//! `newAggregateExpr`, `addOffset`, `setTimestamp`, ...) as a hand-written precedence-climbing
//! parser. Precedence, loosest first: `or`; `and` `unless`; comparisons; `+ -`;
//! `* / % atan2`; unary `+ -`; `^` (right-associative, so `-2^2` is `-(2^2)`); then the
//! postfix modifiers `[range]`, `[range:step]`, `offset`, `@`, `anchored`, `smoothed`.
//!
//! Errors come in upstream's three tiers, and the first error of the earliest tier wins:
//! 1. syntax errors stop parsing at once;
//! 2. errors upstream raises in grammar actions (unknown function, offset/@ placement,
//!    aggregation argument counts, bad matchers) are collected while parsing continues;
//! 3. type errors (upstream `checkAST`) are collected the same way and reported only when
//!    there is no error of the earlier tiers.
//!
//! Nesting is bounded ([`MAX_NESTING`], [`MAX_TREE_HEIGHT`]) so that no input can overflow the
//! stack of the parser, the printer or the evaluator.

use crate::model::time::parse_duration;
use crate::model::{MatchOp, Matcher, MatcherError, METRIC_NAME};

use super::ast::*;
use super::error::ParseError;
use super::functions::get_function;
use super::lexer::{go_quote, tokenize, unquote, unquote_bytes, Token, TokenKind};

/// Deepest nesting the parser accepts (parentheses, unary signs, function arguments, the
/// right operands of `^`). Upstream has no limit but memory and time (goyacc's stack and
/// Go's growable goroutine stacks; Prometheus 2.42 takes 0.5 s for 10,000 parentheses and
/// 52 s for 100,000). Deep trees parse and evaluate on a heap-grown stack (see
/// [`super::with_stack`]), so this bounds only memory and time.
pub const MAX_NESTING: usize = 20_000;

/// Tallest expression tree the parser builds (long operator chains add height without
/// nesting: `a + a + ... + a`). Evaluation and printing recurse once per level.
const MAX_TREE_HEIGHT: usize = 60_000;

/// Deepest nesting inside a duration expression (`[5m + (1m * (2 ...))]`), a 3.x
/// experimental syntax whose evaluation is not stack-guarded.
const MAX_DURATION_NESTING: usize = 100;

const POW_PRECEDENCE: u8 = 6;

type PResult<T> = Result<T, ParseError>;

/// A parsed subexpression with the facts the parser needs about it.
struct Node {
    expr: Expr,
    /// Byte offset where the subexpression starts.
    start: usize,
    /// Height of the tree.
    height: usize,
    /// `expr.value_type()`, kept so that type checks do not walk the subtree again (which
    /// made a chain of n operators cost n² steps).
    ty: ValueType,
    /// Index into the type errors of "vector selector must contain at least one non-empty
    /// matcher" raised for this very node, which `info()`'s second argument waives.
    empty_matcher_error: Option<usize>,
}

impl Node {
    fn leaf(expr: Expr, start: usize) -> Node {
        Node {
            ty: expr.value_type(),
            expr,
            start,
            height: 1,
            empty_matcher_error: None,
        }
    }
}

/// The binary-operator modifiers between an operator and its right operand.
#[derive(Default)]
struct BinModifiers {
    return_bool: bool,
    matching: VectorMatching,
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    duration_depth: usize,
    action_errors: Vec<ParseError>,
    type_errors: Vec<Option<ParseError>>,
}

/// Parses a PromQL expression.
pub fn parse_expr(input: &str) -> Result<Expr, ParseError> {
    let mut p = Parser {
        input,
        tokens: tokenize(input),
        pos: 0,
        depth: 0,
        duration_depth: 0,
        action_errors: Vec::new(),
        type_errors: Vec::new(),
    };
    if p.peek().kind == TokenKind::Eof {
        return Err(p.error_at(0, "no expression found in input"));
    }
    let node = p.parse_expr_bp(0)?;
    let t = p.peek();
    if t.kind != TokenKind::Eof {
        let t = t.clone();
        return Err(p.unexpected(&t, "", ""));
    }
    if let Some(e) = p.action_errors.into_iter().next() {
        return Err(e);
    }
    if let Some(e) = p.type_errors.into_iter().flatten().next() {
        return Err(e);
    }
    Ok(node.expr)
}

/// Reads a token's text as a float the way upstream's `parser.number` does: first as a Go
/// integer literal (`ParseInt(s, 0, 64)`: hex, octal with a leading 0, `_` separators), then
/// as a float.
fn parse_number_text(text: &str) -> Result<f64, String> {
    let err = || format!("error parsing number: invalid syntax: {}", go_quote(text));
    let lower = text.to_ascii_lowercase();
    if lower == "inf" || lower == "+inf" {
        return Ok(f64::INFINITY);
    }
    if lower == "-inf" {
        return Ok(f64::NEG_INFINITY);
    }
    if lower == "nan" {
        return Ok(f64::NAN);
    }
    let digits: String = text.chars().filter(|&c| c != '_').collect();
    if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        return i64::from_str_radix(hex, 16)
            .map(|v| v as f64)
            .map_err(|_| err());
    }
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let as_int = if digits.len() > 1 && digits.starts_with('0') {
            i64::from_str_radix(&digits[1..], 8).ok()
        } else {
            digits.parse::<i64>().ok()
        };
        if let Some(v) = as_int {
            return Ok(v as f64);
        }
        let v = digits.parse::<f64>().map_err(|_| err())?;
        if v.is_infinite() {
            return Err(format!(
                "error parsing number: strconv.ParseFloat: parsing {}: value out of range",
                go_quote(text)
            ));
        }
        return Ok(v);
    }
    if text.contains('_') {
        // Go's ParseFloat only accepts separators after a base prefix.
        return Err(err());
    }
    let v = text.parse::<f64>().map_err(|_| err())?;
    if v.is_infinite() {
        return Err(format!(
            "error parsing number: strconv.ParseFloat: parsing {}: value out of range",
            go_quote(text)
        ));
    }
    Ok(v)
}

/// Words with a fixed meaning upstream; the `unexpected ...` messages show them as `<word>`.
const KEYWORDS: &[&str] = &[
    "bool",
    "by",
    "group_left",
    "group_right",
    "ignoring",
    "offset",
    "on",
    "without",
    "start",
    "end",
    "step",
    "range",
    "anchored",
    "smoothed",
    "fill",
    "fill_left",
    "fill_right",
];

fn keyword_binary_op(word: &str) -> Option<BinaryOp> {
    if word.eq_ignore_ascii_case("and") {
        Some(BinaryOp::And)
    } else if word.eq_ignore_ascii_case("or") {
        Some(BinaryOp::Or)
    } else if word.eq_ignore_ascii_case("unless") {
        Some(BinaryOp::Unless)
    } else if word.eq_ignore_ascii_case("atan2") {
        Some(BinaryOp::Atan2)
    } else {
        None
    }
}

fn is_valid_label_name(s: &str) -> bool {
    crate::model::labels::is_valid_legacy_label_name(s)
}

impl<'a> Parser<'a> {
    // ----- token helpers -------------------------------------------------------------

    fn peek(&self) -> &Token {
        // The token list always ends with Eof or Error, and `advance` never moves past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, n: usize) -> &Token {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn text(&self, t: &Token) -> &'a str {
        self.input.get(t.start..t.end).unwrap_or("")
    }

    fn is_word(&self, t: &Token, word: &str) -> bool {
        t.kind == TokenKind::Identifier && self.text(t).eq_ignore_ascii_case(word)
    }

    fn error_at(&self, offset: usize, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.input, offset, msg)
    }

    fn action_error(&mut self, offset: usize, msg: impl Into<String>) {
        let e = self.error_at(offset, msg);
        self.action_errors.push(e);
    }

    fn type_error(&mut self, offset: usize, msg: impl Into<String>) -> usize {
        let e = self.error_at(offset, msg);
        self.type_errors.push(Some(e));
        self.type_errors.len() - 1
    }

    /// Describes a token as upstream's `Item.desc()` does.
    fn describe(&self, t: &Token) -> String {
        let text = self.text(t);
        let quoted = |s: &str| {
            if s.chars().count() > 10 {
                let head: String = s.chars().take(10).collect();
                format!("{}...", go_quote(&head))
            } else {
                go_quote(s)
            }
        };
        match &t.kind {
            TokenKind::Eof => "end of input".into(),
            TokenKind::Error(m) => m.clone(),
            TokenKind::Identifier => {
                let lower = text.to_ascii_lowercase();
                if lower == "inf" || lower == "nan" {
                    format!("number {}", quoted(text))
                } else if AggregateOp::from_keyword(text).is_some() {
                    format!("<aggr:{text}>")
                } else if keyword_binary_op(text).is_some() {
                    format!("<op:{text}>")
                } else if KEYWORDS.contains(&lower.as_str()) {
                    format!("<{text}>")
                } else if text.contains(':') {
                    format!("metric identifier {}", quoted(text))
                } else {
                    format!("identifier {}", quoted(text))
                }
            }
            TokenKind::Number => format!("number {}", quoted(text)),
            TokenKind::Duration => format!("duration {}", quoted(text)),
            TokenKind::String => format!("string {}", quoted(text)),
            TokenKind::Add
            | TokenKind::Sub
            | TokenKind::Mul
            | TokenKind::Div
            | TokenKind::Mod
            | TokenKind::Pow
            | TokenKind::Eql
            | TokenKind::Neq
            | TokenKind::Gtr
            | TokenKind::Lss
            | TokenKind::Gte
            | TokenKind::Lte
            | TokenKind::TrimUpper
            | TokenKind::TrimLower
            | TokenKind::EqlRegex
            | TokenKind::NeqRegex
            | TokenKind::At => format!("<op:{text}>"),
            _ => go_quote(text),
        }
    }

    /// upstream `unexpected(context, expected)`.
    fn unexpected(&self, t: &Token, context: &str, expected: &str) -> ParseError {
        if let TokenKind::Error(m) = &t.kind {
            return self.error_at(t.start, m.clone());
        }
        let mut msg = format!("unexpected {}", self.describe(t));
        if !context.is_empty() {
            msg.push_str(" in ");
            msg.push_str(context);
        }
        if !expected.is_empty() {
            msg.push_str(", expected ");
            msg.push_str(expected);
        }
        self.error_at(t.start, msg)
    }

    fn expect(&mut self, kind: TokenKind, context: &str, expected: &str) -> PResult<Token> {
        if self.peek().kind == kind {
            Ok(self.advance())
        } else {
            let t = self.peek().clone();
            Err(self.unexpected(&t, context, expected))
        }
    }

    fn enter(&mut self, at: usize) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error_at(
                at,
                format!("expression nesting is deeper than {MAX_NESTING} levels"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn enter_duration(&mut self, at: usize) -> PResult<()> {
        self.duration_depth += 1;
        if self.duration_depth > MAX_DURATION_NESTING {
            return Err(self.error_at(
                at,
                format!("duration expression nesting is deeper than {MAX_DURATION_NESTING} levels"),
            ));
        }
        Ok(())
    }

    fn leave_duration(&mut self) {
        self.duration_depth = self.duration_depth.saturating_sub(1);
    }

    fn check_height(&self, height: usize, at: usize) -> PResult<()> {
        if height > MAX_TREE_HEIGHT {
            return Err(self.error_at(
                at,
                format!("expression tree is taller than {MAX_TREE_HEIGHT} levels"),
            ));
        }
        Ok(())
    }

    // ----- expressions -----------------------------------------------------------------

    fn binary_op(&self, t: &Token) -> Option<BinaryOp> {
        Some(match t.kind {
            TokenKind::Add => BinaryOp::Add,
            TokenKind::Sub => BinaryOp::Sub,
            TokenKind::Mul => BinaryOp::Mul,
            TokenKind::Div => BinaryOp::Div,
            TokenKind::Mod => BinaryOp::Mod,
            TokenKind::Pow => BinaryOp::Pow,
            TokenKind::Eql => BinaryOp::Eql,
            TokenKind::Neq => BinaryOp::Neq,
            TokenKind::Gtr => BinaryOp::Gtr,
            TokenKind::Lss => BinaryOp::Lss,
            TokenKind::Gte => BinaryOp::Gte,
            TokenKind::Lte => BinaryOp::Lte,
            TokenKind::TrimUpper => BinaryOp::TrimUpper,
            TokenKind::TrimLower => BinaryOp::TrimLower,
            TokenKind::Identifier => return keyword_binary_op(self.text(t)),
            _ => return None,
        })
    }

    fn parse_expr_bp(&mut self, min_prec: u8) -> PResult<Node> {
        // Every nesting construct recurses through here: continue on a heap stack segment
        // when the thread's stack runs short.
        super::with_stack(|| self.parse_expr_bp_here(min_prec))
    }

    fn parse_expr_bp_here(&mut self, min_prec: u8) -> PResult<Node> {
        let mut lhs = self.parse_unary()?;
        loop {
            let t = self.peek().clone();
            let Some(op) = self.binary_op(&t) else {
                break;
            };
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.advance();
            let mods = self.parse_bin_modifiers()?;
            let next_min = if op.is_right_associative() {
                prec
            } else {
                prec + 1
            };
            // The right operand recurses (`a ^ b ^ c ...`), so it counts as nesting.
            self.enter(t.start)?;
            let rhs = self.parse_expr_bp(next_min);
            self.leave();
            lhs = self.new_binary(lhs, op, t.start, mods, rhs?)?;
        }
        Ok(lhs)
    }

    fn parse_unary(&mut self) -> PResult<Node> {
        let t = self.peek().clone();
        let op = match t.kind {
            TokenKind::Add => UnaryOp::Pos,
            TokenKind::Sub => UnaryOp::Neg,
            _ => {
                let primary = self.parse_primary()?;
                return self.parse_postfix(primary);
            }
        };
        self.enter(t.start)?;
        self.advance();
        // Unary operators bind like `*`: the operand takes only `^` and postfix modifiers.
        let operand = self.parse_expr_bp(POW_PRECEDENCE);
        self.leave();
        let operand = operand?;
        if let Expr::NumberLiteral(mut n) = operand.expr {
            if op == UnaryOp::Neg {
                n.val = -n.val;
            }
            return Ok(Node {
                ty: ValueType::Scalar,
                expr: Expr::NumberLiteral(n),
                start: t.start,
                height: operand.height,
                empty_matcher_error: None,
            });
        }
        let ty = operand.ty;
        if ty != ValueType::Scalar && ty != ValueType::Vector {
            self.type_error(
                t.start,
                format!(
                    "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                    go_quote(ty.documented())
                ),
            );
        }
        let height = operand.height + 1;
        self.check_height(height, t.start)?;
        Ok(Node {
            ty: operand.ty,
            expr: Expr::Unary(UnaryExpr {
                op,
                expr: Box::new(operand.expr),
            }),
            start: t.start,
            height,
            empty_matcher_error: None,
        })
    }

    fn parse_primary(&mut self) -> PResult<Node> {
        let t = self.peek().clone();
        match t.kind {
            TokenKind::Number => {
                self.advance();
                let val = match parse_number_text(self.text(&t)) {
                    Ok(v) => v,
                    Err(m) => {
                        self.action_error(t.start, m);
                        0.0
                    }
                };
                Ok(Node::leaf(
                    Expr::NumberLiteral(NumberLiteral {
                        val,
                        duration: false,
                    }),
                    t.start,
                ))
            }
            TokenKind::Duration => {
                self.advance();
                let ms = self.duration_ms(&t);
                Ok(Node::leaf(
                    Expr::NumberLiteral(NumberLiteral {
                        val: ms as f64 / 1000.0,
                        duration: true,
                    }),
                    t.start,
                ))
            }
            TokenKind::String => {
                self.advance();
                let text = self.text(&t);
                // A string literal is a byte string, as upstream's: it may spell bytes that are
                // not UTF-8, which only a use needing a label name rejects.
                let lit = match unquote_bytes(text) {
                    Ok(b) => StringLiteral::from_bytes(b),
                    Err(e) => {
                        let msg = format!("error unquoting string {}: {e}", go_quote(text));
                        self.action_error(t.start, msg);
                        StringLiteral::from("")
                    }
                };
                Ok(Node::leaf(Expr::StringLiteral(lit), t.start))
            }
            TokenKind::LeftParen => {
                self.enter(t.start)?;
                self.advance();
                let inner = self.parse_expr_bp(0);
                self.leave();
                let inner = inner?;
                self.expect(TokenKind::RightParen, "paren expression", "\")\"")?;
                let height = inner.height + 1;
                self.check_height(height, t.start)?;
                Ok(Node {
                    ty: inner.ty,
                    expr: Expr::Paren(Box::new(inner.expr)),
                    start: t.start,
                    height,
                    empty_matcher_error: None,
                })
            }
            TokenKind::LeftBrace => self.parse_vector_selector(None, t.start),
            TokenKind::Identifier => self.parse_identifier_expr(),
            _ => Err(self.unexpected(&t, "", "")),
        }
    }

    fn duration_ms(&mut self, t: &Token) -> i64 {
        let text = self.text(t);
        match parse_duration(text) {
            Ok(ms) => ms,
            Err(e) => {
                self.action_error(t.start, e.to_string());
                0
            }
        }
    }

    fn string_value(&mut self, t: &Token) -> String {
        let text = self.text(t);
        match unquote(text) {
            Ok(s) => s,
            Err(e) => {
                self.action_error(
                    t.start,
                    format!("error unquoting string {}: {e}", go_quote(text)),
                );
                String::new()
            }
        }
    }

    fn parse_identifier_expr(&mut self) -> PResult<Node> {
        let t = self.peek().clone();
        let word = self.text(&t);
        let next = self.peek_at(1).clone();
        if let Some(op) = AggregateOp::from_keyword(word) {
            // What may follow a metric name that happens to be an aggregator keyword; anything
            // else means an aggregation was meant (and is reported as one, like upstream).
            let can_follow_metric = match next.kind {
                TokenKind::Identifier => {
                    let w = self.text(&next).to_ascii_lowercase();
                    matches!(
                        w.as_str(),
                        "offset" | "anchored" | "smoothed" | "and" | "or" | "unless" | "atan2"
                    )
                }
                TokenKind::Number | TokenKind::String | TokenKind::Duration => false,
                _ => true,
            };
            if next.kind == TokenKind::LeftParen
                || self.is_word(&next, "by")
                || self.is_word(&next, "without")
                || !can_follow_metric
            {
                return self.parse_aggregate(op, t.start);
            }
        }
        if next.kind == TokenKind::LeftParen {
            let lower = word.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "bool"
                    | "by"
                    | "without"
                    | "on"
                    | "ignoring"
                    | "group_left"
                    | "group_right"
                    | "offset"
            ) {
                // A modifier keyword where an expression must start: `a - on(b) ignoring(c) d`.
                return Err(self.unexpected(&t, "", ""));
            }
            return self.parse_call(&t);
        }
        let lower = word.to_ascii_lowercase();
        if lower == "inf" || lower == "nan" {
            self.advance();
            let val = if lower == "inf" {
                f64::INFINITY
            } else {
                f64::NAN
            };
            return Ok(Node::leaf(
                Expr::NumberLiteral(NumberLiteral {
                    val,
                    duration: false,
                }),
                t.start,
            ));
        }
        self.advance();
        self.parse_vector_selector(Some(word.to_string()), t.start)
    }

    // ----- selectors -------------------------------------------------------------------

    fn parse_vector_selector(&mut self, name: Option<String>, start: usize) -> PResult<Node> {
        let mut matchers: Vec<Matcher> = Vec::new();
        if self.peek().kind == TokenKind::LeftBrace {
            self.advance();
            loop {
                let t = self.peek().clone();
                match t.kind {
                    TokenKind::RightBrace => {
                        self.advance();
                        break;
                    }
                    TokenKind::Identifier | TokenKind::String => {
                        self.advance();
                        let label = if t.kind == TokenKind::String {
                            self.string_value(&t)
                        } else {
                            self.text(&t).to_string()
                        };
                        let op_tok = self.peek().clone();
                        let op = match op_tok.kind {
                            TokenKind::Assign => Some(MatchOp::Equal),
                            TokenKind::Neq => Some(MatchOp::NotEqual),
                            TokenKind::EqlRegex => Some(MatchOp::RegexMatch),
                            TokenKind::NeqRegex => Some(MatchOp::RegexNoMatch),
                            _ => None,
                        };
                        match op {
                            None if t.kind == TokenKind::String
                                && matches!(
                                    op_tok.kind,
                                    TokenKind::Comma | TokenKind::RightBrace
                                ) =>
                            {
                                // `{"metric.name"}`: a quoted metric name.
                                matchers.push(Matcher::equal(METRIC_NAME, label));
                            }
                            None => {
                                return Err(self.unexpected(
                                    &op_tok,
                                    "label matching",
                                    "label matching operator",
                                ))
                            }
                            Some(op) => {
                                self.advance();
                                let v = self.peek().clone();
                                if v.kind != TokenKind::String {
                                    return Err(self.unexpected(&v, "label matching", "string"));
                                }
                                self.advance();
                                let value = self.string_value(&v);
                                match cached_matcher(op, label, &value) {
                                    Ok(m) => matchers.push(m),
                                    Err(e) => {
                                        // Go's compile error, at the label name as
                                        // upstream reports it.
                                        self.action_error(t.start, e.to_string());
                                    }
                                }
                            }
                        }
                        let sep = self.peek().clone();
                        match sep.kind {
                            TokenKind::Comma => {
                                self.advance();
                            }
                            TokenKind::RightBrace => {}
                            _ => {
                                return Err(self.unexpected(
                                    &sep,
                                    "label matching",
                                    "\",\" or \"}\"",
                                ))
                            }
                        }
                    }
                    _ => return Err(self.unexpected(&t, "label matching", "identifier or \"}\"")),
                }
            }
        }
        let mut empty_matcher_error = None;
        if let Some(n) = &name {
            if let Some(m) = matchers.iter().find(|m| m.name == METRIC_NAME) {
                let msg = format!(
                    "metric name must not be set twice: {} or {}",
                    go_quote(n),
                    go_quote(&m.value)
                );
                self.type_error(start, msg);
            }
            matchers.push(Matcher::equal(METRIC_NAME, n.clone()));
        } else if !matchers.iter().any(|m| !m.matches_empty()) {
            empty_matcher_error = Some(self.type_error(
                start,
                "vector selector must contain at least one non-empty matcher",
            ));
        }
        Ok(Node {
            ty: ValueType::Vector,
            expr: Expr::VectorSelector(VectorSelector {
                name,
                matchers,
                offset: None,
                at: None,
                anchored: false,
                smoothed: false,
            }),
            start,
            height: 1,
            empty_matcher_error,
        })
    }

    // ----- postfix modifiers -----------------------------------------------------------

    fn parse_postfix(&mut self, mut node: Node) -> PResult<Node> {
        loop {
            let t = self.peek().clone();
            match t.kind {
                TokenKind::LeftBracket => node = self.parse_range_or_subquery(node)?,
                TokenKind::At => {
                    self.advance();
                    let at = self.parse_at_value()?;
                    self.set_at(&mut node, at);
                }
                TokenKind::Identifier if self.is_word(&t, "offset") => {
                    self.advance();
                    let d = self.parse_offset_value()?;
                    self.set_offset(&mut node, d);
                }
                TokenKind::Identifier
                    if self.is_word(&t, "anchored") || self.is_word(&t, "smoothed") =>
                {
                    self.advance();
                    self.set_extended_modifier(&mut node, self.is_word(&t, "anchored"));
                }
                _ => return Ok(node),
            }
        }
    }

    fn parse_range_or_subquery(&mut self, node: Node) -> PResult<Node> {
        let open = self.advance();
        if matches!(self.peek().kind, TokenKind::RightBracket | TokenKind::Colon) {
            let t = self.peek().clone();
            return Err(self.unexpected(&t, "subquery selector", "number or duration"));
        }
        let range_pos = self.peek().start;
        let range = self.parse_bracket_duration()?;
        self.check_positive(&range, range_pos);
        let t = self.peek().clone();
        match t.kind {
            TokenKind::RightBracket => {
                self.advance();
                let msg = match &node.expr {
                    Expr::VectorSelector(vs) if vs.offset.is_some() => {
                        Some("no offset modifiers allowed before range")
                    }
                    Expr::VectorSelector(vs) if vs.at.is_some() => {
                        Some("no @ modifiers allowed before range")
                    }
                    Expr::VectorSelector(_) => None,
                    _ => Some("ranges only allowed for vector selectors"),
                };
                if let Some(m) = msg {
                    self.action_error(open.start, m);
                }
                let empty_matcher_error = node.empty_matcher_error;
                let start = node.start;
                let vector_selector = match node.expr.into_vector_selector() {
                    Ok(vs) => vs,
                    // Keep going to collect more errors; the result is discarded.
                    Err(_) => VectorSelector {
                        name: None,
                        matchers: Vec::new(),
                        offset: None,
                        at: None,
                        anchored: false,
                        smoothed: false,
                    },
                };
                Ok(Node {
                    ty: ValueType::Matrix,
                    expr: Expr::MatrixSelector(MatrixSelector {
                        vector_selector,
                        range,
                    }),
                    start,
                    height: 2,
                    empty_matcher_error,
                })
            }
            TokenKind::Colon => {
                self.advance();
                let step = if self.peek().kind == TokenKind::RightBracket {
                    None
                } else {
                    let step_pos = self.peek().start;
                    let step = self.parse_bracket_duration()?;
                    self.check_positive(&step, step_pos);
                    Some(step)
                };
                let close = self.peek().clone();
                if close.kind != TokenKind::RightBracket {
                    return Err(self.unexpected(&close, "subquery selector", "\"]\""));
                }
                self.advance();
                let ty = node.ty;
                if ty != ValueType::Vector {
                    let name = match ty {
                        ValueType::Scalar => "scalar",
                        ValueType::Vector => "vector",
                        ValueType::Matrix => "matrix",
                        ValueType::String => "string",
                    };
                    self.type_error(
                        node.start,
                        format!("subquery is only allowed on instant vector, got {name} instead"),
                    );
                }
                let height = node.height + 1;
                self.check_height(height, node.start)?;
                Ok(Node {
                    ty: ValueType::Matrix,
                    expr: Expr::Subquery(SubqueryExpr {
                        expr: Box::new(node.expr),
                        range,
                        step,
                        offset: None,
                        at: None,
                    }),
                    start: node.start,
                    height,
                    empty_matcher_error: None,
                })
            }
            _ => Err(self.unexpected(&t, "subquery or range", "\":\" or \"]\"")),
        }
    }

    fn parse_at_value(&mut self) -> PResult<AtModifier> {
        let t = self.peek().clone();
        if (self.is_word(&t, "start") || self.is_word(&t, "end"))
            && self.peek_at(1).kind == TokenKind::LeftParen
        {
            self.advance();
            self.advance();
            self.expect(TokenKind::RightParen, "@", "\")\"")?;
            return Ok(if self.is_word(&t, "start") {
                AtModifier::Start
            } else {
                AtModifier::End
            });
        }
        let mut sign = 1.0;
        if matches!(t.kind, TokenKind::Add | TokenKind::Sub) {
            if t.kind == TokenKind::Sub {
                sign = -1.0;
            }
            self.advance();
        }
        let v = self.peek().clone();
        let secs = match v.kind {
            TokenKind::Number => match parse_number_text(self.text(&v)) {
                Ok(x) => x,
                Err(m) => {
                    self.action_error(v.start, m);
                    0.0
                }
            },
            TokenKind::Duration => self.duration_ms(&v) as f64 / 1000.0,
            TokenKind::Identifier if self.is_word(&v, "inf") || self.is_word(&v, "nan") => {
                if self.is_word(&v, "inf") {
                    f64::INFINITY
                } else {
                    f64::NAN
                }
            }
            _ => return Err(self.unexpected(&v, "@", "timestamp")),
        };
        self.advance();
        let secs = sign * secs;
        let ms = (secs * 1000.0).round();
        if !secs.is_finite() || ms >= i64::MAX as f64 || ms <= i64::MIN as f64 {
            self.action_error(
                t.start,
                format!(
                    "timestamp out of bounds for @ modifier: {}",
                    go_percent_f(secs)
                ),
            );
            return Ok(AtModifier::Timestamp(0));
        }
        Ok(AtModifier::Timestamp(ms as i64))
    }

    fn set_at(&mut self, node: &mut Node, at: AtModifier) {
        let slot = match &mut node.expr {
            Expr::VectorSelector(vs) => &mut vs.at,
            Expr::MatrixSelector(ms) => &mut ms.vector_selector.at,
            Expr::Subquery(sq) => &mut sq.at,
            _ => {
                self.action_error(
                    node.start,
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                );
                return;
            }
        };
        if slot.is_some() {
            self.action_error(node.start, "@ <timestamp> may not be set multiple times");
            return;
        }
        *slot = Some(at);
    }

    fn set_offset(&mut self, node: &mut Node, offset: Duration) {
        let slot = match &mut node.expr {
            Expr::VectorSelector(vs) => &mut vs.offset,
            Expr::MatrixSelector(ms) => &mut ms.vector_selector.offset,
            Expr::Subquery(sq) => &mut sq.offset,
            _ => {
                self.action_error(
                    node.start,
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                );
                return;
            }
        };
        if slot.is_some() {
            self.action_error(node.start, "offset may not be set multiple times");
            return;
        }
        // A zero offset is no offset, as upstream stores it.
        if offset != Duration::Literal(0) {
            *slot = Some(offset);
        }
    }

    fn set_extended_modifier(&mut self, node: &mut Node, anchored: bool) {
        let word = if anchored { "anchored" } else { "smoothed" };
        let vs = match &mut node.expr {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &mut ms.vector_selector,
            Expr::Subquery(_) => {
                self.action_error(
                    node.start,
                    format!("{word} modifier is not supported for subqueries"),
                );
                return;
            }
            _ => {
                self.action_error(node.start, format!("{word} modifier not implemented"));
                return;
            }
        };
        if anchored {
            vs.anchored = true;
        } else {
            vs.smoothed = true;
        }
        if vs.anchored && vs.smoothed {
            self.action_error(
                node.start,
                "anchored and smoothed modifiers cannot be used together",
            );
        }
    }

    // ----- durations -------------------------------------------------------------------

    /// A literal range or subquery step must be positive (upstream: "duration must be
    /// greater than 0" at the duration's first token: `foo[0m]`, `x[5m:0s]`, `foo[-1]`).
    /// Expressions (`[step()-1m]`) are checked when evaluated.
    fn check_positive(&mut self, d: &Duration, pos: usize) {
        if let Duration::Literal(ms) = d {
            if *ms <= 0 {
                self.action_error(pos, "duration must be greater than 0");
            }
        }
    }

    /// The range or step inside `[...]`: a full duration expression.
    fn parse_bracket_duration(&mut self) -> PResult<Duration> {
        let e = self.parse_duration_expr_bp(0)?;
        Ok(self.literal_or_expr(e))
    }

    /// The value of `offset`: a signed number, duration, `step()`, `range()`, `min_of`,
    /// `max_of` or a parenthesised duration expression. Binary operators after it belong
    /// to the enclosing expression (`x offset 1m * 2` is `(x offset 1m) * 2`).
    fn parse_offset_value(&mut self) -> PResult<Duration> {
        let t = self.peek().clone();
        let sign = match t.kind {
            TokenKind::Sub => Some(UnaryOp::Neg),
            TokenKind::Add => Some(UnaryOp::Pos),
            _ => None,
        };
        if sign.is_some() {
            self.advance();
        }
        let atom = self.parse_duration_atom("offset", "number, duration, or step()")?;
        let e = match sign {
            Some(op) => DurationExpr::Unary(op, Box::new(atom)),
            None => atom,
        };
        Ok(self.literal_or_expr(e))
    }

    /// Keeps a plain (optionally signed) literal as [`Duration::Literal`].
    fn literal_or_expr(&mut self, e: DurationExpr) -> Duration {
        let literal = |e: &DurationExpr| match e {
            DurationExpr::Literal(ms) => Some(*ms),
            DurationExpr::Number(n) => seconds_to_ms(n.val),
            _ => None,
        };
        match &e {
            DurationExpr::Literal(_) | DurationExpr::Number(_) => {
                if let Some(ms) = literal(&e) {
                    return Duration::Literal(ms);
                }
            }
            DurationExpr::Unary(op, inner) => {
                if let Some(ms) = literal(inner) {
                    return Duration::Literal(if *op == UnaryOp::Neg { -ms } else { ms });
                }
            }
            _ => {}
        }
        Duration::Expr(Box::new(e))
    }

    fn duration_op(&self, t: &Token) -> Option<DurationOp> {
        Some(match t.kind {
            TokenKind::Add => DurationOp::Add,
            TokenKind::Sub => DurationOp::Sub,
            TokenKind::Mul => DurationOp::Mul,
            TokenKind::Div => DurationOp::Div,
            TokenKind::Mod => DurationOp::Mod,
            TokenKind::Pow => DurationOp::Pow,
            _ => return None,
        })
    }

    fn parse_duration_expr_bp(&mut self, min_prec: u8) -> PResult<DurationExpr> {
        let mut lhs = self.parse_duration_unary()?;
        let mut chain = 0usize;
        loop {
            let t = self.peek().clone();
            let Some(op) = self.duration_op(&t) else {
                break;
            };
            let prec = match op {
                DurationOp::Add | DurationOp::Sub => 4,
                DurationOp::Mul | DurationOp::Div | DurationOp::Mod => 5,
                DurationOp::Pow => POW_PRECEDENCE,
            };
            if prec < min_prec {
                break;
            }
            chain += 1;
            if chain > MAX_DURATION_NESTING {
                return Err(self.error_at(
                    t.start,
                    format!("duration expression is longer than {MAX_DURATION_NESTING} operations"),
                ));
            }
            self.advance();
            let next = if op == DurationOp::Pow {
                prec
            } else {
                prec + 1
            };
            self.enter_duration(t.start)?;
            let rhs = self.parse_duration_expr_bp(next);
            self.leave_duration();
            lhs = DurationExpr::Binary(op, Box::new(lhs), Box::new(rhs?));
        }
        Ok(lhs)
    }

    fn parse_duration_unary(&mut self) -> PResult<DurationExpr> {
        let t = self.peek().clone();
        let op = match t.kind {
            TokenKind::Add => UnaryOp::Pos,
            TokenKind::Sub => UnaryOp::Neg,
            _ => return self.parse_duration_atom("duration expression", "number or duration"),
        };
        self.enter_duration(t.start)?;
        self.advance();
        let inner = self.parse_duration_expr_bp(POW_PRECEDENCE);
        self.leave_duration();
        Ok(DurationExpr::Unary(op, Box::new(inner?)))
    }

    fn parse_duration_atom(&mut self, context: &str, expected: &str) -> PResult<DurationExpr> {
        let t = self.peek().clone();
        match t.kind {
            TokenKind::Number => {
                self.advance();
                let val = match parse_number_text(self.text(&t)) {
                    Ok(v) => v,
                    Err(m) => {
                        self.action_error(t.start, m);
                        0.0
                    }
                };
                Ok(DurationExpr::Number(NumberLiteral {
                    val,
                    duration: false,
                }))
            }
            TokenKind::Duration => {
                self.advance();
                Ok(DurationExpr::Literal(self.duration_ms(&t)))
            }
            TokenKind::Identifier if self.is_word(&t, "inf") || self.is_word(&t, "nan") => {
                self.advance();
                let val = if self.is_word(&t, "inf") {
                    f64::INFINITY
                } else {
                    f64::NAN
                };
                Ok(DurationExpr::Number(NumberLiteral {
                    val,
                    duration: false,
                }))
            }
            TokenKind::LeftParen => {
                self.enter_duration(t.start)?;
                self.advance();
                let inner = self.parse_duration_expr_bp(0);
                self.leave_duration();
                let inner = inner?;
                self.expect(TokenKind::RightParen, "duration expression", "\")\"")?;
                Ok(DurationExpr::Paren(Box::new(inner)))
            }
            TokenKind::Identifier if self.peek_at(1).kind == TokenKind::LeftParen => {
                let word = self.text(&t).to_ascii_lowercase();
                match word.as_str() {
                    "step" | "range" => {
                        self.advance();
                        self.advance();
                        self.expect(TokenKind::RightParen, context, "\")\"")?;
                        Ok(if word == "step" {
                            DurationExpr::Step
                        } else {
                            DurationExpr::Range
                        })
                    }
                    "min_of" | "max_of" => {
                        self.enter_duration(t.start)?;
                        self.advance();
                        self.advance();
                        let r = self.parse_min_max_args(&word);
                        self.leave_duration();
                        r
                    }
                    _ => Err(self.unexpected(&t, context, expected)),
                }
            }
            _ => Err(self.unexpected(&t, context, expected)),
        }
    }

    fn parse_min_max_args(&mut self, word: &str) -> PResult<DurationExpr> {
        let a = self.parse_duration_expr_bp(0)?;
        self.expect(TokenKind::Comma, word, "\",\"")?;
        let b = self.parse_duration_expr_bp(0)?;
        self.expect(TokenKind::RightParen, word, "\")\"")?;
        Ok(if word == "min_of" {
            DurationExpr::MinOf(Box::new(a), Box::new(b))
        } else {
            DurationExpr::MaxOf(Box::new(a), Box::new(b))
        })
    }

    // ----- binary operators ------------------------------------------------------------

    fn parse_bin_modifiers(&mut self) -> PResult<BinModifiers> {
        let mut m = BinModifiers::default();
        if self.is_word(&self.peek().clone(), "bool") {
            self.advance();
            m.return_bool = true;
        }
        let t = self.peek().clone();
        let followed_by_paren = self.peek_at(1).kind == TokenKind::LeftParen;
        if (self.is_word(&t, "on") || self.is_word(&t, "ignoring")) && followed_by_paren {
            self.advance();
            m.matching.on = self.is_word(&t, "on");
            m.matching.matching_labels = self.parse_grouping_labels()?;
            let g = self.peek().clone();
            if self.is_word(&g, "group_left") || self.is_word(&g, "group_right") {
                self.advance();
                m.matching.card = if self.is_word(&g, "group_left") {
                    VectorMatchCardinality::ManyToOne
                } else {
                    VectorMatchCardinality::OneToMany
                };
                if self.peek().kind == TokenKind::LeftParen {
                    m.matching.include = self.parse_grouping_labels()?;
                }
            }
        }
        loop {
            let t = self.peek().clone();
            if self.peek_at(1).kind != TokenKind::LeftParen {
                break;
            }
            let (left, right) = if self.is_word(&t, "fill") {
                (true, true)
            } else if self.is_word(&t, "fill_left") {
                (true, false)
            } else if self.is_word(&t, "fill_right") {
                (false, true)
            } else {
                break;
            };
            self.advance();
            self.advance();
            let v = self.parse_fill_value()?;
            self.expect(TokenKind::RightParen, "fill modifier", "\")\"")?;
            if left {
                m.matching.fill.lhs = Some(v);
            }
            if right {
                m.matching.fill.rhs = Some(v);
            }
        }
        Ok(m)
    }

    fn parse_fill_value(&mut self) -> PResult<f64> {
        let mut sign = 1.0;
        let t = self.peek().clone();
        if matches!(t.kind, TokenKind::Add | TokenKind::Sub) {
            if t.kind == TokenKind::Sub {
                sign = -1.0;
            }
            self.advance();
        }
        let v = self.peek().clone();
        let val = match v.kind {
            TokenKind::Number => match parse_number_text(self.text(&v)) {
                Ok(x) => x,
                Err(m) => {
                    self.action_error(v.start, m);
                    0.0
                }
            },
            TokenKind::Duration => self.duration_ms(&v) as f64 / 1000.0,
            TokenKind::Identifier if self.is_word(&v, "inf") => f64::INFINITY,
            TokenKind::Identifier if self.is_word(&v, "nan") => f64::NAN,
            _ => return Err(self.unexpected(&v, "fill modifier", "number")),
        };
        self.advance();
        Ok(sign * val)
    }

    fn new_binary(
        &mut self,
        lhs: Node,
        op: BinaryOp,
        op_pos: usize,
        mods: BinModifiers,
        rhs: Node,
    ) -> PResult<Node> {
        let lt = lhs.ty;
        let rt = rhs.ty;
        let mut matching = mods.matching;
        if mods.return_bool && !op.is_comparison() {
            self.type_error(
                op_pos,
                "bool modifier can only be used on comparison operators",
            );
        }
        if op.is_comparison()
            && !mods.return_bool
            && lt == ValueType::Scalar
            && rt == ValueType::Scalar
        {
            self.type_error(op_pos, "comparisons between scalars must use BOOL modifier");
        }
        if op.is_set_operator() && matching.card == VectorMatchCardinality::OneToOne {
            matching.card = VectorMatchCardinality::ManyToMany;
        }
        if matching.on {
            if let Some(l) = matching
                .matching_labels
                .iter()
                .find(|l| matching.include.contains(l))
            {
                let msg = format!(
                    "label {} must not occur in ON and GROUP clause at once",
                    go_quote(l)
                );
                self.type_error(op_pos, msg);
            }
        }
        if lt != ValueType::Scalar && lt != ValueType::Vector {
            self.type_error(
                lhs.start,
                "binary expression must contain only scalar and instant vector types",
            );
        }
        if rt != ValueType::Scalar && rt != ValueType::Vector {
            self.type_error(
                rhs.start,
                "binary expression must contain only scalar and instant vector types",
            );
        }
        let matching = if lt != ValueType::Vector || rt != ValueType::Vector {
            if !matching.matching_labels.is_empty() {
                self.type_error(
                    lhs.start,
                    "vector matching only allowed between instant vectors",
                );
            }
            if !matching.fill.is_empty() {
                self.type_error(
                    lhs.start,
                    "filling in missing series only allowed between instant vectors",
                );
            }
            None
        } else {
            if op.is_set_operator() {
                if matches!(
                    matching.card,
                    VectorMatchCardinality::OneToMany | VectorMatchCardinality::ManyToOne
                ) {
                    self.type_error(
                        lhs.start,
                        format!(
                            "no grouping allowed for {} operation",
                            go_quote(op.as_str())
                        ),
                    );
                }
                if !matching.fill.is_empty() {
                    self.type_error(
                        lhs.start,
                        "filling in missing series not allowed for set operators",
                    );
                }
            }
            Some(matching)
        };
        if (lt == ValueType::Scalar || rt == ValueType::Scalar) && op.is_set_operator() {
            self.type_error(
                lhs.start,
                format!(
                    "set operator {} not allowed in binary scalar expression",
                    go_quote(op.as_str())
                ),
            );
        }
        let height = lhs.height.max(rhs.height) + 1;
        self.check_height(height, op_pos)?;
        Ok(Node {
            ty: if lt == ValueType::Scalar && rt == ValueType::Scalar {
                ValueType::Scalar
            } else {
                ValueType::Vector
            },
            expr: Expr::Binary(BinaryExpr {
                op,
                lhs: Box::new(lhs.expr),
                rhs: Box::new(rhs.expr),
                return_bool: mods.return_bool,
                matching,
            }),
            start: lhs.start,
            height,
            empty_matcher_error: None,
        })
    }

    // ----- aggregations and calls -------------------------------------------------------

    fn parse_grouping_labels(&mut self) -> PResult<Vec<String>> {
        let open = self.peek().clone();
        if open.kind != TokenKind::LeftParen {
            return Err(self.unexpected(&open, "grouping opts", "\"(\""));
        }
        self.advance();
        let mut labels = Vec::new();
        loop {
            let t = self.peek().clone();
            match t.kind {
                TokenKind::RightParen => {
                    self.advance();
                    return Ok(labels);
                }
                TokenKind::Identifier => {
                    let word = self.text(&t);
                    if !is_valid_label_name(word) {
                        return Err(self.unexpected(&t, "grouping opts", "label"));
                    }
                    self.advance();
                    labels.push(word.to_string());
                }
                TokenKind::String => {
                    self.advance();
                    let s = self.string_value(&t);
                    labels.push(s);
                }
                _ => return Err(self.unexpected(&t, "grouping opts", "label")),
            }
            let sep = self.peek().clone();
            match sep.kind {
                TokenKind::Comma => {
                    self.advance();
                }
                TokenKind::RightParen => {}
                _ => return Err(self.unexpected(&sep, "grouping opts", "\",\" or \")\"")),
            }
        }
    }

    /// Parses `(arg, ...)`; returns the nodes and the byte offset of the opening paren.
    fn parse_call_args(&mut self, context: &str) -> PResult<Vec<Node>> {
        let open = self.peek().clone();
        if open.kind != TokenKind::LeftParen {
            return Err(self.unexpected(&open, context, ""));
        }
        self.enter(open.start)?;
        self.advance();
        let r = self.parse_call_args_inner();
        self.leave();
        r
    }

    fn parse_call_args_inner(&mut self) -> PResult<Vec<Node>> {
        let mut args = Vec::new();
        if self.peek().kind == TokenKind::RightParen {
            self.advance();
            return Ok(args);
        }
        loop {
            args.push(self.parse_expr_bp(0)?);
            let t = self.peek().clone();
            match t.kind {
                TokenKind::Comma => {
                    self.advance();
                    if self.peek().kind == TokenKind::RightParen {
                        self.action_error(
                            t.start,
                            "trailing commas not allowed in function call args",
                        );
                        self.advance();
                        return Ok(args);
                    }
                }
                TokenKind::RightParen => {
                    self.advance();
                    return Ok(args);
                }
                _ => return Err(self.unexpected(&t, "function call arguments", "\",\" or \")\"")),
            }
        }
    }

    fn parse_aggregate(&mut self, op: AggregateOp, start: usize) -> PResult<Node> {
        self.advance();
        let mut grouping = Vec::new();
        let mut without = false;
        let mut has_modifier = false;
        let t = self.peek().clone();
        if self.is_word(&t, "by") || self.is_word(&t, "without") {
            self.advance();
            without = self.is_word(&t, "without");
            grouping = self.parse_grouping_labels()?;
            has_modifier = true;
        }
        let open = self.peek().clone();
        if open.kind != TokenKind::LeftParen {
            return Err(self.unexpected(&open, "aggregation", ""));
        }
        let args = self.parse_call_args("aggregation")?;
        if !has_modifier {
            let t = self.peek().clone();
            if self.is_word(&t, "by") || self.is_word(&t, "without") {
                self.advance();
                without = self.is_word(&t, "without");
                grouping = self.parse_grouping_labels()?;
            }
        }
        self.finish_aggregate(op, start, grouping, without, args)
    }

    /// The checks of an aggregation, kept out of [`Self::parse_aggregate`] so that the
    /// recursive path stays small on the stack.
    #[inline(never)]
    fn finish_aggregate(
        &mut self,
        op: AggregateOp,
        start: usize,
        grouping: Vec<String>,
        without: bool,
        mut args: Vec<Node>,
    ) -> PResult<Node> {
        if args.is_empty() {
            self.action_error(start, "no arguments for aggregate expression provided");
            return Ok(Node::leaf(
                Expr::NumberLiteral(NumberLiteral {
                    val: 0.0,
                    duration: false,
                }),
                start,
            ));
        }
        let desired = if op.takes_param() { 2 } else { 1 };
        if args.len() != desired {
            self.action_error(
                start,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {desired}, got {}",
                    args.len()
                ),
            );
            return Ok(Node::leaf(
                Expr::NumberLiteral(NumberLiteral {
                    val: 0.0,
                    duration: false,
                }),
                start,
            ));
        }
        let expr = args
            .pop()
            .ok_or_else(|| self.error_at(start, "missing aggregation argument"))?;
        let param = args.pop();
        let et = expr.ty;
        if et != ValueType::Vector {
            self.type_error(
                expr.start,
                format!("expected type instant vector in aggregation expression, got {et}"),
            );
        }
        if let Some(p) = &param {
            let want = if op == AggregateOp::CountValues {
                ValueType::String
            } else {
                ValueType::Scalar
            };
            let pt = p.ty;
            if pt != want {
                self.type_error(
                    p.start,
                    format!("expected type {want} in aggregation parameter, got {pt}"),
                );
            }
        }
        let height = expr.height.max(param.as_ref().map_or(0, |p| p.height)) + 1;
        self.check_height(height, start)?;
        Ok(Node {
            ty: ValueType::Vector,
            expr: Expr::Aggregate(AggregateExpr {
                op,
                expr: Box::new(expr.expr),
                param: param.map(|p| Box::new(p.expr)),
                grouping,
                without,
            }),
            start,
            height,
            empty_matcher_error: None,
        })
    }

    fn parse_call(&mut self, name_tok: &Token) -> PResult<Node> {
        let name = self.text(name_tok);
        self.advance();
        let lower = name.to_ascii_lowercase();
        // The query-bound functions double as keywords upstream and match in any case.
        let func = match lower.as_str() {
            "step" | "range" | "start" | "end" | "min_of" | "max_of" => get_function(&lower),
            _ => get_function(name),
        };
        if func.is_none() {
            self.action_error(
                name_tok.start,
                format!("unknown function with name {}", go_quote(name)),
            );
        }
        let mark = self.type_errors.len();
        let args = self.parse_call_args("function call")?;
        self.finish_call(name_tok, func, mark, args)
    }

    /// The checks of a call, kept out of [`Self::parse_call`] so that the recursive path
    /// through nested calls stays small on the stack.
    #[inline(never)]
    fn finish_call(
        &mut self,
        name_tok: &Token,
        func: Option<&'static super::functions::Function>,
        mark: usize,
        args: Vec<Node>,
    ) -> PResult<Node> {
        let Some(func) = func else {
            return Ok(Node::leaf(
                Expr::NumberLiteral(NumberLiteral {
                    val: 0.0,
                    duration: false,
                }),
                name_tok.start,
            ));
        };
        // Argument count first, before errors inside the arguments, as upstream checks.
        let nargs = func.arg_types.len();
        let count_error = if func.variadic == 0 {
            (nargs != args.len()).then(|| {
                format!(
                    "expected {nargs} argument(s) in call to {}, got {}",
                    go_quote(func.name),
                    args.len()
                )
            })
        } else {
            let min = nargs.saturating_sub(1);
            if min > args.len() {
                Some(format!(
                    "expected at least {min} argument(s) in call to {}, got {}",
                    go_quote(func.name),
                    args.len()
                ))
            } else if func.variadic > 0 && (min + func.variadic as usize) < args.len() {
                Some(format!(
                    "expected at most {} argument(s) in call to {}, got {}",
                    min + func.variadic as usize,
                    go_quote(func.name),
                    args.len()
                ))
            } else {
                None
            }
        };
        if let Some(msg) = count_error {
            let e = self.error_at(name_tok.start, msg);
            self.type_errors.insert(mark, Some(e));
        }
        if func.name == "info" && args.len() > 1 {
            let a = &args[1];
            let at = a.ty;
            if at != ValueType::Vector {
                self.type_error(
                    name_tok.start,
                    format!("expected type instant vector in call to function \"info\", got {at}"),
                );
            }
            match &a.expr {
                Expr::VectorSelector(vs) if vs.name.is_some() => {
                    self.type_error(
                        a.start,
                        "expected label selectors only, got vector selector instead",
                    );
                }
                Expr::VectorSelector(_) => {
                    if let Some(i) = a.empty_matcher_error {
                        if let Some(slot) = self.type_errors.get_mut(i) {
                            *slot = None;
                        }
                    }
                }
                _ => {
                    self.type_error(a.start, "expected label selectors only");
                }
            }
        }
        for (i, arg) in args.iter().enumerate() {
            let idx = if i >= nargs {
                if func.variadic == 0 {
                    break;
                }
                nargs.saturating_sub(1)
            } else {
                i
            };
            let Some(&want) = func.arg_types.get(idx) else {
                break;
            };
            let got = arg.ty;
            if got != want {
                self.type_error(
                    arg.start,
                    format!(
                        "expected type {want} in call to function {}, got {got}",
                        go_quote(func.name)
                    ),
                );
            }
        }
        let height = args.iter().map(|a| a.height).max().unwrap_or(0) + 1;
        self.check_height(height, name_tok.start)?;
        Ok(Node {
            ty: func.return_type,
            expr: Expr::Call(Call {
                func,
                args: args.into_iter().map(|a| a.expr).collect(),
            }),
            start: name_tok.start,
            height,
            empty_matcher_error: None,
        })
    }
}

/// Compiled regex matchers by (operator, pattern), shared by all parses: rules and
/// dashboards parse the same queries over and over, and compiling a regex costs far more
/// than parsing the rest of a query. Bounded; cleared when full.
static MATCHER_CACHE: std::sync::LazyLock<
    parking_lot::Mutex<std::collections::HashMap<(MatchOp, String), Matcher>>,
> = std::sync::LazyLock::new(Default::default);

const MATCHER_CACHE_CAPACITY: usize = 4096;

/// Builds a matcher, reusing a cached compiled regex for regex operators.
fn cached_matcher(op: MatchOp, label: String, value: &str) -> Result<Matcher, MatcherError> {
    if !matches!(op, MatchOp::RegexMatch | MatchOp::RegexNoMatch) {
        return Matcher::new(op, label, value);
    }
    let key = (op, value.to_string());
    if let Some(m) = MATCHER_CACHE.lock().get(&key) {
        let mut m = m.clone();
        m.name = label;
        return Ok(m);
    }
    let m = Matcher::new(op, label, value)?;
    let mut cache = MATCHER_CACHE.lock();
    if cache.len() >= MATCHER_CACHE_CAPACITY {
        cache.clear();
    }
    cache.insert(key, m.clone());
    Ok(m)
}

/// Formats like Go's `%f`: six decimals, `+Inf`, `-Inf`, `NaN`.
fn go_percent_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v:.6}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str) -> Expr {
        parse_expr(q).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    fn err(q: &str) -> String {
        match parse_expr(q) {
            Ok(e) => panic!("{q} parsed as {e:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn num(v: f64) -> Expr {
        Expr::NumberLiteral(NumberLiteral {
            val: v,
            duration: false,
        })
    }

    fn vs(name: &str) -> VectorSelector {
        VectorSelector {
            name: Some(name.into()),
            matchers: vec![Matcher::equal(METRIC_NAME, name)],
            offset: None,
            at: None,
            anchored: false,
            smoothed: false,
        }
    }

    fn bin(e: &Expr) -> &BinaryExpr {
        match e {
            Expr::Binary(b) => b,
            other => panic!("not binary: {other:?}"),
        }
    }

    #[test]
    fn number_literals() {
        assert_eq!(p("1"), num(1.0));
        assert_eq!(p("12.34e6"), num(12.34e6));
        assert_eq!(p(".2"), num(0.2));
        assert_eq!(p("2."), num(2.0));
        assert_eq!(p("0x1F"), num(31.0));
        assert_eq!(p("0755"), num(493.0));
        assert_eq!(p("08"), num(8.0));
        assert_eq!(p("1_000"), num(1000.0));
        assert_eq!(p("-0.2e-6"), num(-0.2e-6));
        assert_eq!(p("+Inf"), num(f64::INFINITY));
        assert_eq!(p("-inf"), num(f64::NEG_INFINITY));
        assert!(matches!(&p("nAn"), Expr::NumberLiteral(n) if n.val.is_nan()));
        assert_eq!(p("1 - -1"), {
            let Expr::Binary(b) = &p("1 - -1") else {
                panic!()
            };
            assert_eq!(*b.rhs, num(-1.0));
            Expr::Binary(b.clone())
        });
        assert_eq!(
            p("5m"),
            Expr::NumberLiteral(NumberLiteral {
                val: 300.0,
                duration: true
            })
        );
        assert!(err("1_000.5").contains("error parsing number"));
        assert!(err(&"9".repeat(400)).contains("value out of range"));
        assert_eq!(
            err("a - on(b) ignoring(c) d"),
            "1:11: parse error: unexpected <ignoring>"
        );
    }

    #[test]
    fn string_literals() {
        assert_eq!(p(r#""a\tb""#), Expr::StringLiteral("a\tb".into()));
        assert_eq!(p(r"'it\'s'"), Expr::StringLiteral("it's".into()));
        assert_eq!(p(r"`a\b`"), Expr::StringLiteral("a\\b".into()));
        assert_eq!(
            p(r#""\u00e9\U0001F600\101""#),
            Expr::StringLiteral("é😀A".into())
        );
        assert!(err(r#""\q""#).contains("error unquoting string"));
        // Bytes that are not UTF-8 parse (upstream's strings are byte strings) and print back.
        let e = p(r#""a\xc5z""#);
        assert_eq!(
            e,
            Expr::StringLiteral(StringLiteral::from_bytes(b"a\xc5z".to_vec()))
        );
        assert_eq!(e.to_string(), r#""a\xc5z""#);
        // Label matchers still need UTF-8: series labels are UTF-8.
        assert!(err(r#"x{a="\xc5"}"#).contains("invalid UTF-8"));
    }

    #[test]
    fn precedence_and_associativity() {
        // -2^2 = -(2^2)
        let e = p("-2 ^ 2");
        let Expr::Unary(u) = &e else { panic!("{e:?}") };
        assert_eq!(u.op, UnaryOp::Neg);
        assert_eq!(bin(&u.expr).op, BinaryOp::Pow);
        // ^ is right-associative.
        let e = p("a ^ b ^ c");
        assert!(matches!(&*bin(&e).rhs, Expr::Binary(b) if b.op == BinaryOp::Pow));
        // - is left-associative.
        let e = p("a - b - c");
        assert!(matches!(&*bin(&e).lhs, Expr::Binary(b) if b.op == BinaryOp::Sub));
        // or < and < comparison < + < * < ^
        let e = p("a or b and c == d + e * f ^ g");
        assert_eq!(bin(&e).op, BinaryOp::Or);
        let and = bin(&bin(&e).rhs);
        assert_eq!(and.op, BinaryOp::And);
        let eq = bin(&and.rhs);
        assert_eq!(eq.op, BinaryOp::Eql);
        let add = bin(&eq.rhs);
        assert_eq!(add.op, BinaryOp::Add);
        let mul = bin(&add.rhs);
        assert_eq!(mul.op, BinaryOp::Mul);
        assert_eq!(bin(&mul.rhs).op, BinaryOp::Pow);
        // atan2 binds like *, unless like and.
        assert_eq!(bin(&p("a + b atan2 c")).op, BinaryOp::Add);
        assert_eq!(bin(&p("a unless b or c")).op, BinaryOp::Or);
        // Unary minus binds like *: (-a) * b.
        assert!(matches!(&*bin(&p("-a * b")).lhs, Expr::Unary(_)));
        // Keywords are case-insensitive.
        assert_eq!(bin(&p("a AND b")).op, BinaryOp::And);
        assert_eq!(bin(&p("a Atan2 b")).op, BinaryOp::Atan2);
    }

    #[test]
    fn vector_selectors() {
        assert_eq!(p("foo"), Expr::VectorSelector(vs("foo")));
        let Expr::VectorSelector(v) = &p(r#"foo{a="b", c!~"d.*", e=~'f',}"#) else {
            panic!()
        };
        assert_eq!(v.matchers.len(), 4);
        assert_eq!(v.matchers[0], Matcher::equal("a", "b"));
        assert_eq!(v.matchers[1].op, MatchOp::RegexNoMatch);
        assert_eq!(v.matchers[3], Matcher::equal(METRIC_NAME, "foo"));
        let Expr::VectorSelector(v) = &p(r#"{"my.metric", "a.b"="c"}"#) else {
            panic!()
        };
        assert_eq!(v.name, None);
        assert_eq!(v.matchers[0], Matcher::equal(METRIC_NAME, "my.metric"));
        assert_eq!(v.matchers[1], Matcher::equal("a.b", "c"));
        // Keywords work as metric names where nothing else fits.
        for kw in [
            "sum", "by", "offset", "bool", "on", "and", "start", "fill", "anchored",
        ] {
            assert_eq!(p(kw), Expr::VectorSelector(vs(kw)), "{kw}");
        }
        assert_eq!(p("job:rate:5m"), Expr::VectorSelector(vs("job:rate:5m")));
        assert_eq!(
            err("{}"),
            "1:1: parse error: vector selector must contain at least one non-empty matcher"
        );
        assert!(err(r#"{a=~".*"}"#).contains("at least one non-empty matcher"));
        assert!(err(r#"foo{__name__="bar"}"#)
            .contains(r#"metric name must not be set twice: "foo" or "bar""#));
        assert!(
            err(r#"foo{a="b" c="d"}"#).contains("unexpected identifier \"c\" in label matching")
        );
        assert!(err(r#"foo{a=b}"#).contains("expected string"));
        assert!(err(r#"foo{a=~"("}"#).contains("error parsing regexp"));
        // The regex cache hands out matchers with the right label name.
        let Expr::VectorSelector(v) = &p(r#"foo{a=~"x.+", b=~"x.+", c!~"x.+"}"#) else {
            panic!()
        };
        assert_eq!(v.matchers[1].name, "b");
        assert!(v.matchers[1].matches("xy"));
        assert!(!v.matchers[2].matches("xy"));
    }

    #[test]
    fn modifiers() {
        let Expr::VectorSelector(v) = &p("foo offset 5m @ 100") else {
            panic!()
        };
        assert_eq!(v.offset, Some(Duration::Literal(300_000)));
        assert_eq!(v.at, Some(AtModifier::Timestamp(100_000)));
        let Expr::VectorSelector(v) = &p("foo @ start() offset -1h") else {
            panic!()
        };
        assert_eq!(v.offset, Some(Duration::Literal(-3_600_000)));
        assert_eq!(v.at, Some(AtModifier::Start));
        let Expr::VectorSelector(v) = &p("foo @ END()") else {
            panic!()
        };
        assert_eq!(v.at, Some(AtModifier::End));
        let Expr::VectorSelector(v) = &p("foo @ 1.234") else {
            panic!()
        };
        assert_eq!(v.at, Some(AtModifier::Timestamp(1234)));
        let Expr::VectorSelector(v) = &p("foo @ 1m40s") else {
            panic!()
        };
        assert_eq!(v.at, Some(AtModifier::Timestamp(100_000)));
        let Expr::MatrixSelector(m) = &p("foo[5m] offset 1m @ 10") else {
            panic!()
        };
        assert_eq!(m.range, Duration::Literal(300_000));
        assert_eq!(m.vector_selector.offset, Some(Duration::Literal(60_000)));
        assert!(err("foo offset 1m offset 2m").contains("offset may not be set multiple times"));
        assert!(err("foo @ 1 @ 2").contains("@ <timestamp> may not be set multiple times"));
        assert!(err("foo offset 1m [5m]").contains("no offset modifiers allowed before range"));
        assert!(err("foo @ 1 [5m]").contains("no @ modifiers allowed before range"));
        assert!(err("sum(foo) offset 1m").contains("offset modifier must be preceded by"));
        assert!(err("(foo) @ 1").contains("@ modifier must be preceded by"));
        assert!(err("foo @ Inf").contains("timestamp out of bounds for @ modifier: +Inf"));
        assert!(err("foo offset").contains("unexpected end of input in offset"));
        assert!(err("foo @ bar").contains("unexpected identifier \"bar\" in @, expected timestamp"));
        // offset binds tighter than every binary operator.
        let e = p("foo offset 2 ^ 2");
        assert!(matches!(&*bin(&e).lhs, Expr::VectorSelector(v) if v.offset.is_some()));
    }

    #[test]
    fn ranges_and_subqueries() {
        assert!(err("(foo)[5m]").contains("ranges only allowed for vector selectors"));
        assert!(err("rate(foo[5m])[5m]").contains("ranges only allowed for vector selectors"));
        let Expr::Subquery(s) = &p("rate(foo[5m])[30m:1m] offset 1m @ end()") else {
            panic!()
        };
        assert_eq!(s.range, Duration::Literal(1_800_000));
        assert_eq!(s.step, Some(Duration::Literal(60_000)));
        assert_eq!(s.offset, Some(Duration::Literal(60_000)));
        assert_eq!(s.at, Some(AtModifier::End));
        let Expr::Subquery(s) = &p("foo[1h:]") else {
            panic!()
        };
        assert_eq!(s.step, None);
        assert_eq!(
            err("foo[5m][10m:1m]"),
            "1:1: parse error: subquery is only allowed on instant vector, got matrix instead"
        );
        assert!(err("foo[]").contains("unexpected \"]\" in subquery selector"));
        assert!(err("foo[5m x]")
            .contains("unexpected identifier \"x\" in subquery or range, expected \":\" or \"]\""));
        assert!(err("foo[5m").contains("unclosed left bracket"));
    }

    #[test]
    fn duration_expressions() {
        let m = |q: &str| match &p(q) {
            Expr::Call(c) => match &c.args[0] {
                Expr::MatrixSelector(m) => m.range.clone(),
                Expr::Subquery(s) => s.range.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        assert_eq!(m("rate(x[1800])"), Duration::Literal(1_800_000));
        for q in [
            "rate(x[26m+4m])",
            "rate(x[60*30])",
            "rate(x[2m*(10+5)])",
            "rate(x[25m+((1.5*2m)+2m)])",
            "rate(x[-5m+35m])",
            "rate(x[1h/2])",
            "rate(x[(9m30s+30s)*3])",
            "rate(x[30m1s-30m1s % 1m])",
        ] {
            assert_eq!(m(q).resolve(0, 0), Ok(1_800_000), "{q}");
        }
        let r = m("rate(x[max_of(min_of(STEP()+1,1h),1ms)])");
        assert_eq!(r.resolve(5000, 0), Ok(6000));
        assert_eq!(m("rate(x[range()])").resolve(0, 7000), Ok(7000));
        // offset takes one signed operand; what follows belongs to the outer expression.
        let e = p("x offset -step()*2");
        let b = bin(&e);
        assert_eq!(b.op, BinaryOp::Mul);
        let Expr::VectorSelector(v) = &*b.lhs else {
            panic!()
        };
        assert_eq!(
            v.offset.as_ref().map(|o| o.resolve(5000, 0)),
            Some(Ok(-5000))
        );
        let Expr::VectorSelector(v) = &p("x offset (20*(((((8 - 2) / 3) * 7s) % 4) + 8000ms))")
        else {
            panic!()
        };
        assert_eq!(
            v.offset.as_ref().map(|o| o.resolve(0, 0)),
            Some(Ok(200_000))
        );
        let Expr::VectorSelector(v) = &p("x offset (-2 ^ 2)") else {
            panic!()
        };
        assert_eq!(v.offset.as_ref().map(|o| o.resolve(0, 0)), Some(Ok(-4000)));
        let e = p("x offset -min_of(step(), 1s)^0");
        assert_eq!(bin(&e).op, BinaryOp::Pow);
        // Subquery range and step.
        let Expr::Call(c) = &p("sum_over_time(x[29s+1s:5s+5s])") else {
            panic!()
        };
        let Expr::Subquery(s) = &c.args[0] else {
            panic!()
        };
        assert_eq!(s.range.resolve(0, 0), Ok(30_000));
        assert_eq!(s.step.as_ref().map(|d| d.resolve(0, 0)), Some(Ok(10_000)));
    }

    #[test]
    fn aggregations() {
        let Expr::Aggregate(a) = &p("sum by (job, \"a.b\",) (x)") else {
            panic!()
        };
        assert_eq!(a.op, AggregateOp::Sum);
        assert_eq!(a.grouping, vec!["job".to_string(), "a.b".to_string()]);
        assert!(!a.without);
        let Expr::Aggregate(b) = &p("SUM(x) BY (job, \"a.b\")") else {
            panic!()
        };
        assert_eq!(a, b);
        let Expr::Aggregate(a) = &p("topk without (instance) (5, x)") else {
            panic!()
        };
        assert!(a.without);
        assert_eq!(a.param.as_deref(), Some(&num(5.0)));
        for q in [
            "quantile(0.9, x)",
            "count_values(\"v\", x)",
            "limitk(2, x)",
            "limit_ratio(0.5, x)",
            "bottomk by (a) (1, x)",
            "group(x)",
            "stddev(x)",
            "stdvar without () (x)",
        ] {
            assert!(matches!(&p(q), Expr::Aggregate(_)), "{q}");
        }
        assert!(err("sum by (a) by (b) (x)").contains("unexpected <by> in aggregation"));
        assert!(err("sum()").contains("no arguments for aggregate expression provided"));
        assert!(err("topk(x)").contains(
            "wrong number of arguments for aggregate expression provided, expected 2, got 1"
        ));
        assert!(err("sum(1, x)").contains("expected 1, got 2"));
        assert!(err("sum(1)")
            .contains("expected type instant vector in aggregation expression, got scalar"));
        assert!(err("topk(\"a\", x)")
            .contains("expected type scalar in aggregation parameter, got string"));
        assert!(err("count_values(1, x)")
            .contains("expected type string in aggregation parameter, got scalar"));
        assert!(err("sum by (a:b) (x)").contains("in grouping opts, expected label"));
        assert!(err("sum by a (x)").contains("in grouping opts, expected \"(\""));
    }

    #[test]
    fn binary_modifiers() {
        let e = p("a + on(job, instance) group_left(x) b");
        let vm = bin(&e).matching.clone().unwrap_or_default();
        assert!(vm.on);
        assert_eq!(vm.card, VectorMatchCardinality::ManyToOne);
        assert_eq!(vm.matching_labels, vec!["job", "instance"]);
        assert_eq!(vm.include, vec!["x"]);
        let e = p("a / ignoring(job) group_right b");
        let vm = bin(&e).matching.clone().unwrap_or_default();
        assert!(!vm.on);
        assert_eq!(vm.card, VectorMatchCardinality::OneToMany);
        let e = p("a and b");
        assert_eq!(
            bin(&e).matching.as_ref().map(|m| m.card),
            Some(VectorMatchCardinality::ManyToMany)
        );
        assert!(bin(&p("a > bool 1")).return_bool);
        assert_eq!(bin(&p("a + 1")).matching, None);
        let e = p("a + on(job) group_left fill_left(5) fill_right(-Inf) b");
        let fill = bin(&e)
            .matching
            .as_ref()
            .map(|m| m.fill)
            .unwrap_or_default();
        assert_eq!(fill.lhs, Some(5.0));
        assert_eq!(fill.rhs, Some(f64::NEG_INFINITY));
        let e = p("fill + fill(0) fill");
        assert!(
            matches!(&*bin(&e).lhs, Expr::VectorSelector(v) if v.name.as_deref() == Some("fill"))
        );
        assert!(
            matches!(&*bin(&e).rhs, Expr::VectorSelector(v) if v.name.as_deref() == Some("fill"))
        );
        assert!(
            err("a + bool b").contains("bool modifier can only be used on comparison operators")
        );
        assert!(err("1 > 2").contains("comparisons between scalars must use BOOL modifier"));
        assert!(
            err("a and 1").contains("set operator \"and\" not allowed in binary scalar expression")
        );
        assert!(
            err("a and on(x) group_left b").contains("no grouping allowed for \"and\" operation")
        );
        assert!(err("a + on(x) 1").contains("vector matching only allowed between instant vectors"));
        assert!(err("a + on(x) group_left(x) b")
            .contains("label \"x\" must not occur in ON and GROUP clause at once"));
        assert!(err("a[5m] + 1")
            .contains("binary expression must contain only scalar and instant vector types"));
        assert!(err("a + fill(0) 1")
            .contains("filling in missing series only allowed between instant vectors"));
        assert!(err("a or fill(0) b")
            .contains("filling in missing series not allowed for set operators"));
    }

    #[test]
    fn function_calls() {
        let Expr::Call(c) = &p("rate(x[5m])") else {
            panic!()
        };
        assert_eq!(c.func.name, "rate");
        assert!(matches!(&p("time()"), Expr::Call(c) if c.args.is_empty()));
        assert!(matches!(&p("STEP()"), Expr::Call(c) if c.func.name == "step"));
        assert!(matches!(&p("round(x)"), Expr::Call(_)));
        assert!(matches!(
            p("label_join(x, \"a\", \",\", \"b\", \"c\", \"d\")"),
            Expr::Call(_)
        ));
        assert!(matches!(&p("info(x, {k=\"v\"})"), Expr::Call(_)));
        assert!(matches!(
            p("info(x, {__name__=~\".+_info\"})"),
            Expr::Call(_)
        ));
        assert_eq!(
            err("rate(x)"),
            "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"
        );
        assert!(err("RATE(x[5m])").contains("unknown function with name \"RATE\""));
        assert!(err("abs()").contains("expected 1 argument(s) in call to \"abs\", got 0"));
        assert!(err("round(x, 1, 2)")
            .contains("expected at most 2 argument(s) in call to \"round\", got 3"));
        assert!(err("label_join(x)")
            .contains("expected at least 3 argument(s) in call to \"label_join\", got 1"));
        assert!(err("abs(x,)").contains("trailing commas not allowed in function call args"));
        assert!(err("info(x, y)")
            .contains("expected label selectors only, got vector selector instead"));
        // Which functions accept anchored/smoothed is checked by the engine, as upstream.
        assert!(matches!(&p("deriv(foo[3m] smoothed)"), Expr::Call(_)));
        assert!(matches!(&p("increase(foo[1m] anchored)"), Expr::Call(_)));
        assert!(err("foo[1m] anchored smoothed").contains("cannot be used together"));
        assert!(err("foo[1m:] anchored").contains("not supported for subqueries"));
        assert!(err("-\"a\"").contains(
            "unary expression only allowed on expressions of type scalar or instant vector, got \"string\""
        ));
    }

    #[test]
    fn syntax_errors_and_positions() {
        assert_eq!(err(""), "1:1: parse error: no expression found in input");
        assert_eq!(
            err("  # only a comment"),
            "1:1: parse error: no expression found in input"
        );
        assert_eq!(
            err("foo bar"),
            "1:5: parse error: unexpected identifier \"bar\""
        );
        assert_eq!(err("sum(\nfoo bar)"), "2:5: parse error: unexpected identifier \"bar\" in function call arguments, expected \",\" or \")\"");
        assert_eq!(err("1 +"), "1:4: parse error: unexpected end of input");
        assert!(err("(1").contains("unclosed left parenthesis"));
        assert!(err("1)").contains("unexpected right parenthesis ')'"));
        assert!(err("foo{").contains("unexpected end of input inside braces"));
        assert!(err("a ! b").contains("unexpected character after '!'"));
        assert!(err("1 + ,").contains("unexpected \",\""));
        assert!(err("1 == bool +").contains("unexpected end of input"));
        assert!(err("foo 5mx").contains("bad number or duration syntax: \"5mx\""));
        assert!(err("a + \"a very long string\" b").contains("unexpected identifier \"b\""));
    }

    /// Runs `f` on a thread with a 2 MiB stack, the default of spawned threads and tokio
    /// workers, in whatever profile runs the tests.
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(f)
            .unwrap_or_else(|e| panic!("spawn: {e}"));
        assert!(handle.join().is_ok());
    }

    #[test]
    fn nesting_past_the_limits_is_an_error_not_a_crash() {
        on_small_stack(|| {
            let n = MAX_NESTING + 1;
            let deep = format!("{}1{}", "(".repeat(n), ")".repeat(n));
            assert!(err(&deep).contains("nesting is deeper than 20000 levels"));
            let minus = format!("{}1", "-".repeat(n));
            assert!(err(&minus).contains("nesting is deeper than"));
            let chain = vec!["a"; MAX_TREE_HEIGHT + 1].join(" + ");
            assert!(err(&chain).contains("taller than 60000 levels"));
            let dur = format!("x[{}]", vec!["1s"; 1000].join("+"));
            assert!(err(&dur).contains("longer than 100 operations"));
            let dur_pow = format!("x[{}]", vec!["1"; 20_000].join("^"));
            assert!(err(&dur_pow).contains("nesting is deeper than 100 levels"));
        });
    }

    #[test]
    fn ten_thousand_levels_parse_print_and_drop_on_the_default_thread_stack() {
        // Upstream (Prometheus 2.42's HTTP API) accepts all of these.
        let n = 10_000;
        let queries = [
            format!("{}1{}", "(".repeat(n), ")".repeat(n)),
            vec!["1"; n].join(" + "),
            vec!["up"; n].join(" * on(job) "),
            vec!["a"; n].join(" ^ "),
            format!("{}1", "-".repeat(n)),
            format!("{}-x", "-".repeat(n)),
            format!("{}vector(1){}", "abs(".repeat(n), ")".repeat(n)),
            format!("{}x{}", "sum by (a) (".repeat(n), ")".repeat(n)),
            format!("{}x{}", "topk(1, -(".repeat(n / 3), "))".repeat(n / 3)),
            format!("{}x{}", "(a + ".repeat(n), ")".repeat(n)),
            format!(
                "{}x{}",
                "max_over_time(".repeat(n / 2),
                "[5m:])".repeat(n / 2)
            ),
        ];
        on_small_stack(move || {
            for q in &queries {
                let e = parse_expr(q).unwrap_or_else(|err| panic!("{}: {err}", &q[..40]));
                let printed = e.to_string();
                let again = parse_expr(&printed).expect("printed form parses");
                assert!(again == e.clone(), "{} does not round-trip", &q[..40]);
                assert!(matches!(
                    e.value_type(),
                    ValueType::Scalar | ValueType::Vector
                ));
            }
            // The pretty-printer re-prints every level, so a smaller tree.
            let e = p(&vec!["some_metric_name"; 1000].join(" + "));
            assert_eq!(
                parse_expr(&super::super::printer::prettify(&e)).ok(),
                Some(e)
            );
        });
    }

    #[test]
    fn durations_past_292_years_are_out_of_range() {
        // Upstream's words and positions (Prometheus 2.42's HTTP API).
        assert_eq!(
            err("rate(up[1000000y])"),
            "1:9: parse error: duration out of range"
        );
        assert_eq!(
            err("up offset 1000y"),
            "1:11: parse error: duration out of range"
        );
        assert_eq!(
            err("up[1000000y:1m]"),
            "1:4: parse error: duration out of range"
        );
        assert!(parse_expr("up offset 292y").is_ok());
        assert!(parse_expr("rate(up[15250w])").is_ok());
    }

    #[test]
    fn long_regex_errors_quote_an_excerpt() {
        let alts: Vec<String> = (0..4000).map(|i| format!("host-{i:04}:9100")).collect();
        let q = format!("up{{instance=~\"{}|(\"}}", alts.join("|"));
        let e = err(&q);
        assert!(e.len() < 200, "{e}");
        assert!(
            e.starts_with(
                "1:4: parse error: error parsing regexp: missing closing ): `^(?s:host-0000:9100|"
            ),
            "{e}"
        );
        assert!(e.ends_with(" bytes)`"), "{e}");
        let ok = format!("up{{instance=~\"{}\"}}", alts.join("|"));
        assert!(parse_expr(&ok).is_ok());
    }

    #[test]
    fn non_finite_durations_round_trip() {
        for q in ["x offset 0x7fffffffffffffff", "x[NaN]", "x offset -Inf"] {
            let e = p(q);
            assert_eq!(parse_expr(&e.to_string()).ok(), Some(e), "{q}");
        }
    }
}
