//! The HTTP side of a scrape: one client per scrape pool, one GET per scrape.
//!
//! Mirrors upstream `targetScraper.scrape` in `scrape/scrape.go` and the client options of
//! prometheus/common `config.HTTPClientConfig`:
//! - headers `Accept` (OpenMetrics preferred), `Accept-Encoding: gzip` (the client inflates
//!   transparently), `User-Agent: promtui/<version>`,
//!   `X-Prometheus-Scrape-Timeout-Seconds`;
//! - basic auth and `Authorization` credentials, with `*_file` variants re-read at every
//!   scrape (trimmed, as upstream) so rotated secrets are picked up;
//! - TLS: CA, client certificate and key (inline or files, read when the client is built),
//!   `insecure_skip_verify`; `proxy_url`; `follow_redirects`;
//! - the whole scrape (connect, headers, body) is bounded by `scrape_timeout`;
//! - `body_size_limit` is enforced on the uncompressed bytes while reading: a body that
//!   reaches the limit fails the scrape with upstream's "body size limit exceeded"
//!   without being read further. Where the configuration sets no limit (0, unlimited in
//!   Prometheus) [`DEFAULT_BODY_SIZE_LIMIT`] applies, so a target streaming an endless
//!   body (or a gzip bomb) cannot exhaust memory before `scrape_timeout` ends the scrape.
//!
//! Environment proxies are ignored, as upstream ignores them unless told otherwise.

use std::path::Path;
use std::time::Duration;

use reqwest::header::{HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_TYPE};

use crate::exposition::Format;
use crate::scrape::error::ScrapeError;
use crate::scrape::settings::HttpSettings;

/// The limit on a response body's uncompressed bytes where the scrape config sets none
/// (`body_size_limit: 0`, which Prometheus takes as unlimited): 256 MiB.
///
/// The largest real exposition pages (kube-state-metrics on big clusters, a few million
/// series) are tens of MiB; 256 MiB leaves them ample room while bounding what one
/// misbehaving target can make promtui hold (the body buffer never grows past the
/// limit; while it grows, its previous half is copied, so a scrape hitting the limit
/// briefly holds 1.5 times it). A target that really needs more sets a larger `body_size_limit` explicitly
/// (e.g. `1GB`).
const DEFAULT_BODY_SIZE_LIMIT: u64 = 256 << 20;

/// The limit a scrape applies for the configured `body_size_limit` (0: the default).
fn effective_body_size_limit(configured: u64) -> u64 {
    if configured == 0 {
        DEFAULT_BODY_SIZE_LIMIT
    } else {
        configured
    }
}

/// The `User-Agent` promtui scrapes with.
pub fn user_agent() -> String {
    format!("promtui/{}", env!("CARGO_PKG_VERSION"))
}

/// A target's scrape URL, parsed once for all its scrapes (parsing it at every scrape
/// was a measurable share of a scrape's cost). A URL that does not parse is kept as text:
/// each scrape then fails with the client's own error for it.
#[derive(Debug, Clone)]
pub struct ScrapeUrl {
    text: String,
    parsed: Option<reqwest::Url>,
}

impl ScrapeUrl {
    /// Parses `text`.
    pub fn new(text: &str) -> ScrapeUrl {
        ScrapeUrl {
            text: text.to_string(),
            parsed: reqwest::Url::parse(text).ok(),
        }
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// An HTTP client configured for one scrape pool.
#[derive(Debug)]
pub struct HttpScraper {
    client: reqwest::Client,
    settings: HttpSettings,
}

/// Why an HTTP client could not be built from client options. The messages are
/// prometheus/common's; the underlying error is the `source()`.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("unable to load {what} {}: {source}", path.display())]
    ReadPem {
        what: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("unable to use specified CA cert: {}", error_chain(source))]
    CaCert {
        #[source]
        source: reqwest::Error,
    },
    #[error("unable to use specified CA cert: no certificate found")]
    NoCaCert,
    #[error("unable to use specified client cert and key: {}", error_chain(source))]
    ClientCert {
        #[source]
        source: reqwest::Error,
    },
    #[error("client cert specified without client key")]
    CertWithoutKey,
    #[error("client key specified without client cert")]
    KeyWithoutCert,
    #[error("invalid proxy_url {url:?}: {}", error_chain(source))]
    ProxyUrl {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{}", error_chain(source))]
    Build {
        #[source]
        source: reqwest::Error,
    },
}

/// Reads PEM material given inline or as a file.
fn pem(
    inline: &Option<String>,
    file: &Option<std::path::PathBuf>,
    what: &'static str,
) -> Result<Option<Vec<u8>>, ClientError> {
    if let Some(s) = inline {
        return Ok(Some(s.as_bytes().to_vec()));
    }
    match file {
        Some(p) => std::fs::read(p)
            .map(Some)
            .map_err(|source| ClientError::ReadPem {
                what,
                path: p.clone(),
                source,
            }),
        None => Ok(None),
    }
}

/// Reads a secret file and trims surrounding whitespace (upstream does the same).
fn read_secret(path: &Path, what: &'static str) -> Result<String, ScrapeError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| ScrapeError::CredentialsFile {
            what,
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}

/// Formats an error and its causes as `outer: inner: innermost`, skipping repeats.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// Builds an HTTP client from prometheus/common's client options (TLS material and the
/// proxy URL are read and checked here): one per scrape pool, Alertmanager set or remote
/// endpoint. Credentials are not part of the client: [`authorize`] adds them per request.
pub fn build_client(settings: &HttpSettings) -> Result<reqwest::Client, ClientError> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(user_agent())
        .gzip(settings.enable_compression)
        .redirect(if settings.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        })
        .danger_accept_invalid_certs(settings.tls.insecure_skip_verify);
    if let Some(ca) = pem(&settings.tls.ca, &settings.tls.ca_file, "CA certificate")? {
        let certs = reqwest::Certificate::from_pem_bundle(&ca)
            .map_err(|source| ClientError::CaCert { source })?;
        if certs.is_empty() {
            return Err(ClientError::NoCaCert);
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    let cert = pem(
        &settings.tls.cert,
        &settings.tls.cert_file,
        "client certificate",
    )?;
    let key = pem(&settings.tls.key, &settings.tls.key_file, "client key")?;
    match (cert, key) {
        (Some(mut cert), Some(key)) => {
            cert.push(b'\n');
            cert.extend_from_slice(&key);
            let id = reqwest::Identity::from_pem(&cert)
                .map_err(|source| ClientError::ClientCert { source })?;
            b = b.identity(id);
        }
        (None, None) => {}
        (Some(_), None) => return Err(ClientError::CertWithoutKey),
        (None, Some(_)) => return Err(ClientError::KeyWithoutCert),
    }
    b =
        match &settings.proxy_url {
            Some(p) => b.proxy(reqwest::Proxy::all(p.as_str()).map_err(|source| {
                ClientError::ProxyUrl {
                    url: p.clone(),
                    source,
                }
            })?),
            None => b.no_proxy(),
        };
    b.build().map_err(|source| ClientError::Build { source })
}

/// Adds `basic_auth` or `authorization` credentials to a request, re-reading their
/// `*_file` variants each time (trimmed, as upstream) so rotated secrets are picked up.
pub fn authorize(
    mut req: reqwest::RequestBuilder,
    settings: &HttpSettings,
    url: &str,
) -> Result<reqwest::RequestBuilder, ScrapeError> {
    if let Some(ba) = &settings.basic_auth {
        let user = match &ba.username_file {
            Some(p) => read_secret(p, "basic auth username")?,
            None => ba.username.clone(),
        };
        let pass = match &ba.password_file {
            Some(p) => read_secret(p, "basic auth password")?,
            None => ba.password.clone(),
        };
        req = req.basic_auth(user, Some(pass));
    }
    if let Some(auth) = &settings.authorization {
        let creds = match &auth.credentials_file {
            Some(p) => read_secret(p, "authorization credentials")?,
            None => auth.credentials.clone(),
        };
        let value =
            HeaderValue::from_str(&format!("{} {}", auth.auth_type, creds)).map_err(|e| {
                ScrapeError::Http {
                    url: url.to_string(),
                    reason: format!("invalid Authorization header: {e}"),
                }
            })?;
        req = req.header(AUTHORIZATION, value);
    }
    Ok(req)
}

impl HttpScraper {
    /// Builds the client; TLS material and the proxy URL are checked here.
    pub fn new(settings: &HttpSettings) -> Result<HttpScraper, ClientError> {
        Ok(HttpScraper {
            client: build_client(settings)?,
            settings: settings.clone(),
        })
    }

    /// Scrapes `url` into `buf` (cleared first) and returns the response's Content-Type
    /// (empty when absent). `body_size_limit` 0 means [`DEFAULT_BODY_SIZE_LIMIT`].
    pub async fn scrape(
        &self,
        url: &str,
        timeout: Duration,
        body_size_limit: u64,
        buf: &mut Vec<u8>,
    ) -> Result<String, ScrapeError> {
        self.scrape_url(&ScrapeUrl::new(url), timeout, body_size_limit, buf)
            .await
    }

    /// [`HttpScraper::scrape`] with the URL parsed already.
    pub async fn scrape_url(
        &self,
        url: &ScrapeUrl,
        timeout: Duration,
        body_size_limit: u64,
        buf: &mut Vec<u8>,
    ) -> Result<String, ScrapeError> {
        buf.clear();
        match tokio::time::timeout(
            timeout,
            self.scrape_inner(url, timeout, body_size_limit, buf),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(ScrapeError::Timeout {
                url: url.as_str().to_string(),
            }),
        }
    }

    async fn scrape_inner(
        &self,
        scrape_url: &ScrapeUrl,
        timeout: Duration,
        limit: u64,
        buf: &mut Vec<u8>,
    ) -> Result<String, ScrapeError> {
        let url = scrape_url.as_str();
        let http_err = |e: reqwest::Error| ScrapeError::Http {
            url: url.to_string(),
            reason: error_chain(&e),
        };
        let req = match &scrape_url.parsed {
            Some(u) => self.client.get(u.clone()),
            None => self.client.get(url),
        };
        let mut req = req
            .header(ACCEPT, Format::scrape_accept_header())
            // Go's FormatFloat(secs, 'f', -1, 64): plain decimal, shortest round trip, which
            // is what Rust's Display prints for f64.
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                timeout.as_secs_f64().to_string(),
            );
        if !self.settings.enable_compression {
            req = req.header(ACCEPT_ENCODING, "identity");
        }
        let req = authorize(req, &self.settings, url)?;
        let mut resp = req.send().await.map_err(http_err)?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(ScrapeError::Status {
                status: resp.status().to_string(),
            });
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let limit = effective_body_size_limit(limit);
        // With gzip on, the client inflates as it reads: chunks are uncompressed bytes.
        while let Some(chunk) = resp.chunk().await.map_err(http_err)? {
            // Upstream reads through a LimitReader and fails when it read `limit` bytes.
            let need = buf.len() + chunk.len();
            if need as u64 >= limit {
                return Err(ScrapeError::BodySizeLimit);
            }
            if need > buf.capacity() {
                // Doubling as Vec does, but never past the limit: a body just under it
                // must not leave a buffer of twice its size.
                let cap = need
                    .max(buf.capacity().saturating_mul(2))
                    .min(usize::try_from(limit).unwrap_or(usize::MAX));
                buf.reserve_exact(cap - buf.len());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(content_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::settings::{AuthorizationSettings, BasicAuthSettings};
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Serves one canned response per connection and records the request heads.
    fn serve(responses: Vec<Vec<u8>>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let h = std::thread::spawn(move || {
            let mut heads = Vec::new();
            for r in responses {
                let (mut s, _) = l.accept().unwrap();
                let mut req = Vec::new();
                let mut b = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut b).unwrap();
                    if n == 0 {
                        break;
                    }
                    req.extend_from_slice(&b[..n]);
                }
                heads.push(String::from_utf8_lossy(&req).to_string());
                let _ = s.write_all(&r);
            }
            heads
        });
        (addr, h)
    }

    fn resp(status: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[tokio::test]
    async fn headers_auth_status_and_body_limit() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "secret1\n").unwrap();
        let (addr, h) = serve(vec![
            resp("200 OK", "a 1\n"),
            resp("200 OK", "a 1\n"),
            resp("404 Not Found", ""),
            resp("200 OK", "0123456789"),
            resp("200 OK", ""),
        ]);
        let s = HttpSettings {
            basic_auth: Some(BasicAuthSettings {
                username: "u".into(),
                password_file: Some(pw.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let sc = HttpScraper::new(&s).unwrap();
        let url = format!("http://{addr}/metrics");
        let mut buf = Vec::new();
        let ct = sc
            .scrape(&url, Duration::from_millis(1500), 0, &mut buf)
            .await
            .unwrap();
        assert_eq!(ct, "text/plain; version=0.0.4");
        assert_eq!(buf, b"a 1\n");
        // The password file is re-read for every scrape.
        std::fs::write(&pw, "secret2").unwrap();
        sc.scrape(&url, Duration::from_secs(2), 0, &mut buf)
            .await
            .unwrap();
        let err = sc
            .scrape(&url, Duration::from_secs(2), 0, &mut buf)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "server returned HTTP status 404 Not Found");
        // Exactly `limit` bytes already fails, as upstream.
        let err = sc
            .scrape(&url, Duration::from_secs(2), 10, &mut buf)
            .await
            .unwrap_err();
        assert_eq!(err, ScrapeError::BodySizeLimit);
        // Bearer credentials from a file, trimmed.
        let tok = dir.path().join("tok");
        std::fs::write(&tok, "  filetok \n").unwrap();
        let bearer = HttpScraper::new(&HttpSettings {
            authorization: Some(AuthorizationSettings {
                auth_type: "Bearer".into(),
                credentials: String::new(),
                credentials_file: Some(tok),
            }),
            ..Default::default()
        })
        .unwrap();
        bearer
            .scrape(&url, Duration::from_secs(2), 0, &mut buf)
            .await
            .unwrap();
        let heads = h.join().unwrap();
        assert!(heads[4].contains("Bearer filetok\r\n"), "{}", heads[4]);
        let h0 = heads[0].to_ascii_lowercase();
        assert!(h0.contains("accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"), "{h0}");
        assert!(
            h0.contains("x-prometheus-scrape-timeout-seconds: 1.5"),
            "{h0}"
        );
        assert!(h0.contains(&format!(
            "user-agent: promtui/{}",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(h0.contains("accept-encoding: gzip"));
        // base64("u:secret1") and base64("u:secret2")
        assert!(h0.contains("authorization: basic dtpzzwnyzxqx"), "{h0}");
        assert!(heads[1].contains("Basic dTpzZWNyZXQy"), "{}", heads[1]);
    }

    #[tokio::test]
    async fn timeout_and_refused_connection() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        // Accept and never answer.
        let hold = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        });
        let s = HttpSettings {
            authorization: Some(AuthorizationSettings {
                auth_type: "Bearer".into(),
                credentials: "tok".into(),
                credentials_file: None,
            }),
            ..Default::default()
        };
        let sc = HttpScraper::new(&s).unwrap();
        let url = format!("http://{addr}/metrics");
        let t0 = std::time::Instant::now();
        let err = sc
            .scrape(&url, Duration::from_millis(200), 0, &mut Vec::new())
            .await
            .unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert_eq!(err, ScrapeError::Timeout { url });
        hold.abort();
        // Refused connection: an Http error naming the URL.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = format!("http://{}/metrics", l.local_addr().unwrap());
        drop(l);
        let err = sc
            .scrape(&dead, Duration::from_secs(2), 0, &mut Vec::new())
            .await
            .unwrap_err();
        assert!(
            err.to_string().starts_with(&format!("Get {dead:?}: ")),
            "{err}"
        );
    }

    /// Accepts connections and streams an endless body to each (gzip-compressed when
    /// `gzip`), counting the bytes it sent, until the client hangs up.
    fn endless(gzip: bool) -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = sent.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let mut req = [0u8; 2048];
                    let _ = s.read(&mut req);
                    let enc = if gzip {
                        "Content-Encoding: gzip\r\n"
                    } else {
                        ""
                    };
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n{enc}Transfer-Encoding: chunked\r\n\r\n");
                    if s.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    let line = b"endless_metric{label=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"} 1\n"
                        .repeat(1000);
                    let mut z =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    loop {
                        let data = if gzip {
                            z.write_all(&line).unwrap();
                            z.flush().unwrap();
                            std::mem::take(z.get_mut())
                        } else {
                            line.clone()
                        };
                        if data.is_empty() {
                            continue;
                        }
                        let frame = format!("{:x}\r\n", data.len());
                        if s.write_all(frame.as_bytes()).is_err()
                            || s.write_all(&data).is_err()
                            || s.write_all(b"\r\n").is_err()
                        {
                            return;
                        }
                        counter.fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
        });
        (addr, sent)
    }

    #[tokio::test]
    async fn an_endless_body_is_cut_at_the_limit_plain_and_gzip() {
        for gzip in [false, true] {
            let (addr, sent) = endless(gzip);
            let sc = HttpScraper::new(&HttpSettings::default()).unwrap();
            let mut buf = Vec::new();
            let limit = 4 << 20;
            let t0 = std::time::Instant::now();
            let err = sc
                .scrape(
                    &format!("http://{addr}/m"),
                    Duration::from_secs(30),
                    limit,
                    &mut buf,
                )
                .await
                .unwrap_err();
            assert_eq!(err, ScrapeError::BodySizeLimit, "gzip {gzip}");
            assert_eq!(err.to_string(), "body size limit exceeded");
            assert!(t0.elapsed() < Duration::from_secs(20), "gzip {gzip}");
            // Uncompressed bytes count: a gzip body is cut after far fewer wire bytes.
            let wire = sent.load(std::sync::atomic::Ordering::Relaxed);
            if gzip {
                assert!(wire < limit / 4, "{wire} compressed bytes sent");
            }
            // The buffer never grew past the limit.
            assert!(buf.capacity() as u64 <= limit, "{}", buf.capacity());
        }
    }

    #[test]
    fn no_configured_limit_means_the_default_cap() {
        assert_eq!(effective_body_size_limit(0), DEFAULT_BODY_SIZE_LIMIT);
        assert_eq!(DEFAULT_BODY_SIZE_LIMIT, 256 * 1024 * 1024);
        assert_eq!(effective_body_size_limit(1), 1);
        assert_eq!(effective_body_size_limit(10 << 30), 10 << 30);
    }

    #[test]
    fn bad_tls_material_is_an_error() {
        let mut s = HttpSettings::default();
        s.tls.ca = Some("not a pem".into());
        assert!(HttpScraper::new(&s)
            .unwrap_err()
            .to_string()
            .contains("CA cert"));
        let mut s = HttpSettings::default();
        s.tls.cert = Some("x".into());
        assert!(HttpScraper::new(&s).is_err());
        let s = HttpSettings {
            proxy_url: Some("::bad".into()),
            ..Default::default()
        };
        assert!(HttpScraper::new(&s).is_err());
    }
}
