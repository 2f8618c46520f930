//! PromQL: lexer/parser (nom), AST and printer, evaluator, functions.
