//! Notification templates: Alertmanager's default template set plus the user's
//! `templates:` files, on the Go text/template engine (src/template).

use std::path::PathBuf;

/// The parsed template set every integration renders its fields with.
#[derive(Debug, Default)]
pub struct Templates {
    /// The user's template files, in load order.
    pub files: Vec<PathBuf>,
}
