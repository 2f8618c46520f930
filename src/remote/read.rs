//! The `remote_read` client and the fan-out querier that merges remote series into the
//! local ones (upstream `storage/remote/read.go`, `storage/remote/client.go` `Read`,
//! `storage/fanout.go`).
//!
//! Semantics kept from upstream:
//! * `required_matchers`: an endpoint is only asked when the query has every one of them
//!   as an equality matcher;
//! * `read_recent: false` (the default): the endpoint is only asked for the part of the
//!   range before the local TSDB's oldest sample, and not at all when the local TSDB
//!   covers the whole range;
//! * `filter_external_labels` (default true): the external labels are sent as equality
//!   matchers, and removed from the series that come back... then added back by the
//!   merged view as upstream's querier does (series labels win).
//!
//! Series present on both sides are merged by timestamp, the local sample winning on a
//! tie. The client speaks the samples response type over plain HTTP with `ureq` (queries
//! run on blocking threads); an `https` URL is refused with a message when the queryable
//! is built.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::proto::{self, LabelMatcher, Query, ReadRequest, ReadResponse};
use crate::config::RemoteReadConfig;
use crate::model::{Labels, MatchOp, Matcher, Sample};
use crate::storage::{Querier, QueryError, Queryable, Series, VecSampleIterator};

/// One `remote_read` endpoint.
pub struct ReadClient {
    agent: ureq::Agent,
    url: String,
    name: String,
    headers: Vec<(String, String)>,
    auth: Option<String>,
    read_recent: bool,
    required: Vec<(String, String)>,
    external: Labels,
}

impl ReadClient {
    /// The client of one `remote_read` entry; `external_labels` are the configuration's,
    /// used when `filter_external_labels` is set.
    pub fn new(cfg: &RemoteReadConfig, external_labels: &Labels) -> Result<ReadClient, String> {
        let url = cfg.url.clone().unwrap_or_default();
        if url.starts_with("https:") {
            return Err(format!(
                "remote_read url {url}: https is not supported by promtui's remote read client yet"
            ));
        }
        let http = cfg.http_client();
        let (auth, basic) = super::client::credentials(&http)?;
        let auth = auth.or_else(|| {
            basic.map(|(u, p)| {
                use std::fmt::Write;
                let raw = format!("{u}:{p}");
                let mut s = String::from("Basic ");
                let _ = write!(s, "{}", base64(raw.as_bytes()));
                s
            })
        });
        let agent = ureq::AgentBuilder::new()
            .timeout(cfg.remote_timeout.as_std().max(Duration::from_millis(1)))
            .build();
        Ok(ReadClient {
            agent,
            url,
            name: cfg.name.clone(),
            headers: cfg
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            auth,
            read_recent: cfg.read_recent,
            required: cfg
                .required_matchers
                .to_labels()
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
            external: if cfg.filter_external_labels {
                external_labels.clone()
            } else {
                Labels::empty()
            },
        })
    }

    /// Series matching `matchers` in `[mint, maxt]` from the endpoint.
    pub fn read(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<(Labels, Vec<Sample>)>, String> {
        let mut pm: Vec<LabelMatcher> = matchers
            .iter()
            .map(|m| LabelMatcher {
                r#type: match m.op {
                    MatchOp::Equal => 0,
                    MatchOp::NotEqual => 1,
                    MatchOp::RegexMatch => 2,
                    MatchOp::RegexNoMatch => 3,
                },
                name: m.name.clone(),
                value: m.value.clone(),
            })
            .collect();
        for l in self.external.iter() {
            pm.push(LabelMatcher {
                r#type: 0,
                name: l.name.clone(),
                value: l.value.clone(),
            });
        }
        let req = ReadRequest {
            queries: vec![Query {
                start_timestamp_ms: mint,
                end_timestamp_ms: maxt,
                matchers: pm,
                hints: None,
            }],
            accepted_response_types: vec![proto::RESPONSE_SAMPLES],
        };
        let body = proto::encode_snappy(&req);
        let mut r = self
            .agent
            .post(&self.url)
            .set("Content-Encoding", "snappy")
            .set("Content-Type", "application/x-protobuf")
            .set("X-Prometheus-Remote-Read-Version", "0.1.0")
            .set(
                "User-Agent",
                &format!("Prometheus/promtui-{}", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in &self.headers {
            r = r.set(k, v);
        }
        if let Some(a) = &self.auth {
            r = r.set("Authorization", a);
        }
        let what = || format!("remote_read {} ({})", self.name, self.url);
        let resp = match r.send_bytes(&body) {
            Ok(resp) => resp,
            Err(ureq::Error::Status(code, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                return Err(format!(
                    "{}: server returned HTTP status {code}: {}",
                    what(),
                    text.lines().next().unwrap_or("")
                ));
            }
            Err(e) => return Err(format!("{}: {e}", what())),
        };
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut resp.into_reader(), &mut raw)
            .map_err(|e| format!("{}: reading the response: {e}", what()))?;
        let msg: ReadResponse =
            proto::decode_snappy(&raw).map_err(|e| format!("{}: decoding: {e}", what()))?;
        let mut out = Vec::new();
        for res in msg.results {
            for ts in res.timeseries {
                let mut labels = proto::labels_from_proto(&ts.labels);
                // Upstream removes the external labels it added as matchers.
                for l in self.external.iter() {
                    if labels.get(&l.name) == Some(l.value.as_str()) {
                        labels.remove(&l.name);
                    }
                }
                let samples = ts
                    .samples
                    .iter()
                    .map(|s| Sample {
                        t: s.timestamp,
                        v: s.value,
                    })
                    .collect();
                out.push((labels, samples));
            }
        }
        Ok(out)
    }

    /// The part of `[mint, maxt]` to ask this endpoint for, given the local TSDB's oldest
    /// timestamp; `None` to skip it (upstream's `PreferLocalStorageFilter` and required
    /// matchers).
    fn range_for(
        &self,
        mint: i64,
        maxt: i64,
        local_start: i64,
        m: &[Matcher],
    ) -> Option<(i64, i64)> {
        for (n, v) in &self.required {
            let has = m
                .iter()
                .any(|x| x.op == MatchOp::Equal && &x.name == n && &x.value == v);
            if !has {
                return None;
            }
        }
        if self.read_recent {
            return Some((mint, maxt));
        }
        if mint >= local_start {
            return None;
        }
        Some((mint, maxt.min(local_start.saturating_sub(1))))
    }
}

fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The local storage plus `remote_read` endpoints, as one [`Queryable`].
pub struct FanoutQueryable {
    pub local: Arc<dyn Queryable>,
    pub remotes: Vec<Arc<ReadClient>>,
    /// The local TSDB's oldest timestamp (ms), `i64::MAX` when it is empty.
    pub local_start: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl Queryable for FanoutQueryable {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, QueryError> {
        Ok(Box::new(FanoutQuerier {
            local: self.local.querier(mint, maxt)?,
            remotes: self.remotes.clone(),
            mint,
            maxt,
            local_start: (self.local_start)(),
        }))
    }
}

struct FanoutQuerier {
    local: Box<dyn Querier>,
    remotes: Vec<Arc<ReadClient>>,
    mint: i64,
    maxt: i64,
    local_start: i64,
}

impl FanoutQuerier {
    fn remote_series(
        &self,
        matchers: &[Matcher],
    ) -> Result<BTreeMap<Labels, Vec<Sample>>, QueryError> {
        let mut out: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
        for r in &self.remotes {
            let Some((lo, hi)) = r.range_for(self.mint, self.maxt, self.local_start, matchers)
            else {
                continue;
            };
            for (l, s) in r.read(lo, hi, matchers).map_err(QueryError::Storage)? {
                let e = out.entry(l).or_default();
                *e = merge(std::mem::take(e), s);
            }
        }
        Ok(out)
    }
}

/// Merges two sample lists sorted by time; `a` wins on equal timestamps.
fn merge(a: Vec<Sample>, b: Vec<Sample>) -> Vec<Sample> {
    if a.is_empty() {
        return b;
    }
    if b.is_empty() {
        return a;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].t < b[j].t {
            out.push(a[i]);
            i += 1;
        } else if b[j].t < a[i].t {
            out.push(b[j]);
            j += 1;
        } else {
            out.push(a[i]);
            i += 1;
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

impl Querier for FanoutQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, QueryError> {
        let local = self.local.select(matchers)?;
        let mut remote = self.remote_series(matchers)?;
        if remote.is_empty() {
            return Ok(local);
        }
        let mut out = Vec::with_capacity(local.len() + remote.len());
        for mut s in local {
            match remote.remove(&s.labels) {
                None => out.push(s),
                Some(r) => {
                    let mut mine = Vec::new();
                    s.samples.read_range(self.mint, self.maxt, &mut mine);
                    out.push(Series {
                        labels: s.labels,
                        samples: Box::new(VecSampleIterator::new(merge(mine, r))),
                    });
                }
            }
        }
        for (labels, samples) in remote {
            out.push(Series {
                labels,
                samples: Box::new(VecSampleIterator::new(samples)),
            });
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, QueryError> {
        // Label APIs stay local, as upstream does for remote read by default.
        self.local.label_names(matchers)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, QueryError> {
        self.local.label_values(name, matchers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: i64, v: f64) -> Sample {
        Sample { t, v }
    }

    #[test]
    fn merge_prefers_the_first_on_ties() {
        let m = merge(
            vec![s(1, 1.0), s(3, 3.0)],
            vec![s(2, 20.0), s(3, 30.0), s(4, 40.0)],
        );
        assert_eq!(m, vec![s(1, 1.0), s(2, 20.0), s(3, 3.0), s(4, 40.0)]);
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn range_follows_read_recent_and_required_matchers() {
        let cfg: RemoteReadConfig =
            serde_yaml::from_str("url: http://x/\nrequired_matchers: {job: a}\n").unwrap();
        let c = ReadClient::new(&cfg, &Labels::empty()).unwrap();
        let job_a = [Matcher::equal("job", "a")];
        assert_eq!(c.range_for(0, 100, 50, &[]), None);
        assert_eq!(c.range_for(0, 100, 50, &job_a), Some((0, 49)));
        assert_eq!(c.range_for(60, 100, 50, &job_a), None);
        let cfg: RemoteReadConfig =
            serde_yaml::from_str("url: http://x/\nread_recent: true\n").unwrap();
        let c = ReadClient::new(&cfg, &Labels::empty()).unwrap();
        assert_eq!(c.range_for(60, 100, 50, &[]), Some((60, 100)));
    }
}
