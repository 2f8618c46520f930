//! The PromQL console view: editor, autocomplete, history, table and chart results.

pub mod source;
