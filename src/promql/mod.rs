//! PromQL: lexer, parser, AST and printer (the evaluator and functions come later).
//!
//! Mirrors upstream `promql/parser` of Prometheus 3.x: the grammar of
//! `generated_parser.y`, the lexer of `lex.go`, the type checks of `parse.go` (`checkAST`),
//! the function table of `functions.go` and the printer of `printer.go`/`prettier.go`.
//! The façade is [`parse_expr`]; trees print back with `to_string()` (one line) or
//! [`prettify`] (indented), and `parse_expr(&e.to_string())` gives back `e`.
//!
//! Experimental upstream syntax is always enabled: duration expressions (`[5m+step()]`),
//! `anchored`/`smoothed` range modifiers, `fill`/`fill_left`/`fill_right` binary modifiers,
//! and the experimental functions and aggregations (`limitk`, `info`, `sort_by_label`, ...).

pub mod ast;
pub mod error;
pub mod functions;
pub mod lexer;
pub mod parser;
pub mod printer;

pub use ast::{
    AggregateExpr, AggregateOp, AtModifier, BinaryExpr, BinaryOp, Call, Duration,
    DurationEvalError, DurationExpr, DurationOp, Expr, FillValues, MatrixSelector,
    NumberLiteral, SubqueryExpr, UnaryExpr, UnaryOp, ValueType, VectorMatchCardinality,
    VectorMatching, VectorSelector,
};
pub use error::{ParseError, Position};
pub use functions::{get_function, Function, FUNCTIONS};
pub use parser::parse_expr;
pub use printer::{format_number, prettify};
