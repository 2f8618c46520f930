//! Scraping: target discovery, relabeling, scrape loops and the synthetic `up`/`scrape_*`
//! series, mirroring upstream `scrape/` and `model/relabel`.
//!
//! For now this module holds relabeling ([`relabel`]), which the configuration layer needs
//! to parse and validate `relabel_configs`; the scrape manager lands beside it.

pub mod relabel;
