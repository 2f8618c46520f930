//! prometheus.yml-compatible configuration: loading, defaults and validation.
