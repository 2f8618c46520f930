//! Go's `text/template` language, as Prometheus and Alertmanager use it for alert labels,
//! annotations and notifications: one engine, shared by rules (labels, annotations) and
//! the built-in Alertmanager's notification templates ([`crate::alerting`]).
//!
//! - [`lex`] and [`parse`] turn the source into trees (one per `define`d template);
//!   unknown functions and undeclared variables are parse errors, as upstream;
//! - [`exec`] runs a tree over a [`Value`] with a [`FuncMap`]: pipelines, variables,
//!   `if`/`else if`/`range` (lists, maps in key order, integers)/`with`/`template`/
//!   `block`/`break`/`continue`, and Go's built-in functions (`and`, `or`, `not`, `len`,
//!   `index`, `slice`, `print`, `printf`, `println`, `eq`…`ge`, `html`, `js`, `urlquery`);
//! - [`fmt`] formats values as Go's `fmt` does (`%v` and the `printf` verbs).
//!
//! Values follow the Go types templates meet in Prometheus: `map[string]string` label
//! sets ([`Value::StrMap`], a missing key reads as ""), `map[string]interface{}`
//! ([`Value::Map`], a missing key is `<no value>`), structs such as a query result sample
//! ([`Value::Struct`], a missing field is an error), numbers typed as Go types them
//! (integers and `float64` do not compare with each other).
//!
//! Mirrors `text/template` of Go 1.22 (the version Prometheus 3.x builds with). Differs
//! in two limits, which keep it within a thread's fixed stack: nested template calls stop
//! at depth 100 (Go: 100000), and parentheses and control structures nest at most 100
//! deep (Go: unlimited).

pub(crate) mod exec;
pub(crate) mod fmt;
mod lex;
mod parse;
pub(crate) mod prometheus;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

pub use exec::BUILTINS;

/// A value a template works on.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Go's invalid value: a missing key of an interface map, a nil result.
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    /// `map[string]interface{}`.
    Map(BTreeMap<String, Value>),
    /// `map[string]string` (label sets).
    StrMap(BTreeMap<String, String>),
    /// A struct: its Go type name (for messages) and fields in declaration order.
    Struct(&'static str, Vec<(&'static str, Value)>),
    /// A value of a named Go type with methods (Alertmanager's `template.KV`,
    /// `template.Alerts`, `time.Time`, `html/template.HTML`...): it behaves as the
    /// underlying value, and a field name that is one of the type's [`MethodMap`]
    /// methods calls it (methods first, as Go looks them up before map keys).
    Typed(&'static str, Box<Value>),
}

impl Value {
    /// Go's truth: false, 0, nil and empty strings, lists and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::StrMap(m) => !m.is_empty(),
            Value::Struct(..) => true,
            Value::Typed(_, v) => v.truthy(),
        }
    }

    /// The Go type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::StrMap(_) => "map[string]string",
            Value::Struct(t, _) => t,
            Value::Typed(t, _) => t,
        }
    }

    /// The value without its named type (itself for every other value).
    pub fn untyped(&self) -> &Value {
        match self {
            Value::Typed(_, v) => v.untyped(),
            v => v,
        }
    }

    /// A label set as a `map[string]string`.
    pub fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
        Value::StrMap(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// A template function: gets its evaluated arguments (the piped value last) and returns a
/// value or an error message (reported as `error calling NAME: MESSAGE`).
pub type Func = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

/// Functions by name, beside the built-in ones.
pub type FuncMap = BTreeMap<String, Func>;

/// A method of a named type: gets the receiver's underlying value and the arguments
/// (the piped value last).
pub type Method = Arc<dyn Fn(&Value, &[Value]) -> Result<Value, String> + Send + Sync>;

/// Methods by `"Type.Name"` (e.g. `"template.KV.SortedPairs"`), for [`Value::Typed`]
/// receivers. A `"Type.String"` method is how such a value prints, as Go's `fmt` calls
/// `String()`.
pub type MethodMap = BTreeMap<String, Method>;

/// How an action's output is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Escape {
    /// As `text/template`: as it is.
    #[default]
    Text,
    /// As `html/template` escapes text and quoted attribute values: `<>&'"+` and NUL
    /// escaped, except values of type `template.HTML` (`safeHtml`).
    Html,
}

/// Why a template did not parse or run. The messages follow Go's:
/// `template: NAME:LINE: MESSAGE` and
/// `template: NAME:LINE:COL: executing "NAME" at <ARG>: MESSAGE`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("template: {name}:{line}: {msg}")]
    Parse {
        name: String,
        line: usize,
        msg: String,
    },
    #[error("template: {name}:{line}:{col}: executing {name:?} at <{at}>: {msg}")]
    Exec {
        name: String,
        line: usize,
        col: usize,
        at: String,
        msg: String,
    },
    #[error("template: no template {0:?} associated with template {1:?}")]
    Missing(String, String),
}

/// A parsed template with its `define`d companions.
#[derive(Clone)]
pub struct Template {
    name: String,
    trees: parse::Trees,
    funcs: FuncMap,
    methods: MethodMap,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.name)
            .field("templates", &self.trees.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Template {
    /// Parses `text` as the template `name`, with `funcs` callable beside the built-ins.
    pub fn parse(name: &str, text: &str, funcs: FuncMap) -> Result<Template, TemplateError> {
        let mut known: HashSet<&str> = BUILTINS.iter().copied().collect();
        known.extend(funcs.keys().map(String::as_str));
        let trees = parse::parse(name, text, &known)?;
        Ok(Template {
            name: name.to_string(),
            trees,
            funcs,
            methods: MethodMap::new(),
        })
    }

    /// Gives the template's values methods (see [`Value::Typed`]).
    pub fn with_methods(mut self, methods: MethodMap) -> Template {
        self.methods = methods;
        self
    }

    /// Parses `text` as the template `name` into this set, as Go's `t.New(name).Parse(text)`:
    /// its `define`s replace those of the same name; a body of only white space does not
    /// replace an existing template. On error the set is unchanged.
    pub fn add(&mut self, name: &str, text: &str) -> Result<(), TemplateError> {
        let mut known: HashSet<&str> = BUILTINS.iter().copied().collect();
        known.extend(self.funcs.keys().map(String::as_str));
        let trees = parse::parse(name, text, &known)?;
        for (k, v) in trees {
            let blank = v
                .iter()
                .all(|n| matches!(n, parse::Node::Text(t) if t.trim().is_empty()));
            if k == name && blank && self.trees.contains_key(&k) {
                continue;
            }
            self.trees.insert(k, v);
        }
        Ok(())
    }

    /// Parses `text` as the template `name` and runs it over `data` with this set's
    /// templates callable, its own `define`s taking precedence, leaving the set as it is
    /// (what Go's `t.Clone().New(name).Parse(text)` then `Execute` gives, without the copy).
    pub fn execute_text(
        &self,
        name: &str,
        text: &str,
        data: &Value,
        escape: Escape,
    ) -> Result<String, TemplateError> {
        let mut known: HashSet<&str> = BUILTINS.iter().copied().collect();
        known.extend(self.funcs.keys().map(String::as_str));
        let trees = parse::parse(name, text, &known)?;
        let tree = trees
            .get(name)
            .ok_or_else(|| TemplateError::Missing(name.to_string(), self.name.clone()))?;
        exec::run_overlay(
            name,
            tree,
            Some(&trees),
            &self.trees,
            &self.funcs,
            &self.methods,
            escape,
            data,
        )
    }

    /// Runs the template `name` over `data`, writing action output as `escape` says.
    pub fn execute_escaped(
        &self,
        name: &str,
        data: &Value,
        escape: Escape,
    ) -> Result<String, TemplateError> {
        let tree = self
            .trees
            .get(name)
            .ok_or_else(|| TemplateError::Missing(name.to_string(), self.name.clone()))?;
        exec::run_with(
            name,
            tree,
            &self.trees,
            &self.funcs,
            &self.methods,
            escape,
            data,
        )
    }

    /// Runs the template over `data`.
    pub fn execute(&self, data: &Value) -> Result<String, TemplateError> {
        self.execute_named(&self.name, data)
    }

    /// Runs the template `name` (the main one or a `define`d one) over `data`.
    pub fn execute_named(&self, name: &str, data: &Value) -> Result<String, TemplateError> {
        let tree = self
            .trees
            .get(name)
            .ok_or_else(|| TemplateError::Missing(name.to_string(), self.name.clone()))?;
        exec::run_with(
            name,
            tree,
            &self.trees,
            &self.funcs,
            &self.methods,
            Escape::Text,
            data,
        )
    }

    /// Names of the `define`d templates (and the main one).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.trees.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests;
