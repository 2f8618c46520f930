//! Data model shared by every subsystem: label sets, matchers, relabeling, samples, and the
//! time and duration notation Prometheus uses.
//!
//! Mirrors upstream `model/labels`, `model/relabel`, `model/value` and `common/model` time
//! parsing.

pub(crate) mod labels;
pub(crate) mod matcher;
pub(crate) mod quote;
pub(crate) mod regex;
pub mod regex_cache;
pub mod relabel;
pub mod time;
pub mod value;

pub use labels::{Label, Labels, LabelsBuilder, METRIC_NAME};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use value::{is_stale_nan, Sample, STALE_NAN, STALE_NAN_BITS};
