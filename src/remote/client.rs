//! The HTTP side of a remote-write queue: a reqwest client built from the endpoint's
//! `basic_auth`, `authorization`, `tls_config`, `proxy_url` and `headers`, and one POST of
//! a snappy-compressed `WriteRequest` with the headers of the 1.0 protocol.
//!
//! Upstream: `storage/remote/client.go` (`Store`, `RecoverableError`).

use std::time::Duration;

use crate::config::{HttpClientConfig, RemoteWriteConfig};

/// Remote-write protocol version header value (1.0 of the spec).
const REMOTE_WRITE_VERSION: &str = "0.1.0";

/// What became of one request.
#[derive(Debug)]
pub enum SendOutcome {
    /// 2xx.
    Sent,
    /// Worth retrying (connection error, timeout, 5xx, 429 with `retry_on_http_429`),
    /// after `retry_after` when the server said so.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The receiver refused the data (other 4xx); it is dropped.
    Refused { reason: String },
}

/// A configured endpoint.
#[derive(Clone)]
pub struct WriteClient {
    client: reqwest::Client,
    url: String,
    headers: Vec<(String, String)>,
    auth: Option<String>,
    basic: Option<(String, String)>,
    timeout: Duration,
    retry_on_429: bool,
}

fn read_file(path: &str, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("unable to read {what} file {path}: {e}"))
}

fn pem(
    inline: &Option<String>,
    file: &Option<String>,
    what: &str,
) -> Result<Option<Vec<u8>>, String> {
    if let Some(s) = inline {
        return Ok(Some(s.as_bytes().to_vec()));
    }
    match file {
        Some(p) => std::fs::read(p)
            .map(Some)
            .map_err(|e| format!("unable to load {what} {p}: {e}")),
        None => Ok(None),
    }
}

/// Builds the reqwest client for an endpoint's HTTP settings.
pub(crate) fn build_http(
    http: &HttpClientConfig,
    timeout: Duration,
) -> Result<reqwest::Client, String> {
    let tls = &http.tls_config;
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(format!("Prometheus/promtui-{}", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .pool_max_idle_per_host(64)
        .redirect(if http.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        })
        .danger_accept_invalid_certs(tls.insecure_skip_verify);
    if !http.enable_http2 {
        b = b.http1_only();
    }
    if let Some(ca) = pem(&tls.ca, &tls.ca_file, "CA certificate")? {
        let certs = reqwest::Certificate::from_pem_bundle(&ca)
            .map_err(|e| format!("unable to use specified CA cert: {e}"))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    let key_inline = tls.key.as_ref().map(|k| k.expose().to_string());
    match (
        pem(&tls.cert, &tls.cert_file, "client certificate")?,
        pem(&key_inline, &tls.key_file, "client key")?,
    ) {
        (Some(mut cert), Some(key)) => {
            cert.push(b'\n');
            cert.extend_from_slice(&key);
            let id = reqwest::Identity::from_pem(&cert)
                .map_err(|e| format!("unable to use specified client cert and key: {e}"))?;
            b = b.identity(id);
        }
        (None, None) => {}
        (Some(_), None) => return Err("client cert specified without client key".into()),
        (None, Some(_)) => return Err("client key specified without client cert".into()),
    }
    b = match &http.proxy_url {
        Some(p) if !p.is_empty() => b.proxy(
            reqwest::Proxy::all(p.as_str()).map_err(|e| format!("invalid proxy_url {p:?}: {e}"))?,
        ),
        _ => b.no_proxy(),
    };
    b.build().map_err(|e| e.to_string())
}

/// An endpoint's `Authorization` header value and basic-auth (user, password) pair.
pub(crate) type Credentials = (Option<String>, Option<(String, String)>);

/// The credentials of an endpoint, files read now.
pub(crate) fn credentials(http: &HttpClientConfig) -> Result<Credentials, String> {
    let auth = match &http.authorization {
        Some(a) => {
            let cred = match (&a.credentials, &a.credentials_file) {
                (Some(c), _) => c.expose().to_string(),
                (None, Some(f)) => read_file(f, "authorization credentials")?,
                (None, None) => String::new(),
            };
            Some(format!("{} {cred}", a.auth_type))
        }
        None => None,
    };
    let basic = match &http.basic_auth {
        Some(b) => {
            let user = match (&b.username, &b.username_file) {
                (Some(u), _) => u.0.clone(),
                (None, Some(f)) => read_file(f, "basic auth username")?,
                (None, None) => String::new(),
            };
            let pass = match (&b.password, &b.password_file) {
                (Some(p), _) => p.expose().to_string(),
                (None, Some(f)) => read_file(f, "basic auth password")?,
                (None, None) => String::new(),
            };
            Some((user, pass))
        }
        None => None,
    };
    Ok((auth, basic))
}

impl WriteClient {
    /// The client for one `remote_write` entry; bad TLS material, proxy URL or an
    /// unreadable credentials file is an error naming it.
    pub fn new(cfg: &RemoteWriteConfig) -> Result<WriteClient, String> {
        let http = cfg.http_client();
        let timeout = cfg.remote_timeout.as_std();
        let client = build_http(&http, timeout)?;
        let (auth, basic) = credentials(&http)?;
        Ok(WriteClient {
            client,
            url: cfg.url.clone().unwrap_or_default(),
            headers: cfg
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            auth,
            basic,
            timeout,
            retry_on_429: cfg.queue_config.retry_on_http_429,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// POSTs one compressed `WriteRequest`.
    pub async fn store(&self, body: impl Into<reqwest::Body>) -> SendOutcome {
        let mut req = self
            .client
            .post(&self.url)
            .timeout(self.timeout)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", REMOTE_WRITE_VERSION);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a.as_str());
        } else if let Some((u, p)) = &self.basic {
            req = req.basic_auth(u, Some(p));
        }
        let resp = match req.body(body).send().await {
            Ok(r) => r,
            Err(e) => {
                let mut reason = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    reason.push_str(": ");
                    reason.push_str(&s.to_string());
                    src = s.source();
                }
                return SendOutcome::Retry {
                    reason,
                    retry_after: None,
                };
            }
        };
        let status = resp.status();
        if status.is_success() {
            return SendOutcome::Sent;
        }
        let retry_after = resp
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp.text().await.unwrap_or_default();
        let first_line = text
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(512)
            .collect::<String>();
        let reason = format!("server returned HTTP status {status}: {first_line}");
        if status.is_server_error() || (status.as_u16() == 429 && self.retry_on_429) {
            SendOutcome::Retry {
                reason,
                retry_after,
            }
        } else {
            SendOutcome::Refused { reason }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    /// Answers each connection's request with the next status line and returns the
    /// request heads it saw.
    fn server(statuses: Vec<&'static str>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1/write", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let mut heads = Vec::new();
            for status in statuses {
                let (s, _) = l.accept().unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut head = String::new();
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    r.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                let mut s = s;
                write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Length: 4\r\nConnection: close\r\nRetry-After: 1\r\n\r\noops"
                )
                .unwrap();
                heads.push(head);
            }
            heads
        });
        (url, h)
    }

    fn config(url: &str, extra: &str) -> RemoteWriteConfig {
        serde_yaml::from_str(&format!("url: {url}\n{extra}")).unwrap()
    }

    #[tokio::test]
    async fn headers_credentials_and_status_classes() {
        let (url, h) = server(vec![
            "204 No Content",
            "500 Internal Server Error",
            "429 Too Many Requests",
            "400 Bad Request",
        ]);
        let c = WriteClient::new(&config(
            &url,
            "headers: {X-Scope-OrgID: tenant1}\nbasic_auth: {username: u, password: p}\n",
        ))
        .unwrap();
        assert!(matches!(c.store(vec![1, 2, 3]).await, SendOutcome::Sent));
        assert!(matches!(
            c.store(vec![1]).await,
            SendOutcome::Retry {
                retry_after: Some(_),
                ..
            }
        ));
        // 429 without retry_on_http_429 is refused like any 4xx.
        assert!(matches!(
            c.store(vec![1]).await,
            SendOutcome::Refused { .. }
        ));
        match c.store(vec![1]).await {
            SendOutcome::Refused { reason } => {
                assert!(
                    reason.contains("400") && reason.contains("oops"),
                    "{reason}"
                )
            }
            o => panic!("{o:?}"),
        }
        let heads = h.join().unwrap().join("").to_ascii_lowercase();
        assert!(heads.contains("content-encoding: snappy"), "{heads}");
        assert!(heads.contains("content-type: application/x-protobuf"));
        assert!(heads.contains("x-prometheus-remote-write-version: 0.1.0"));
        assert!(heads.contains("x-scope-orgid: tenant1"));
        assert!(heads.contains("authorization: basic dtpw"), "{heads}");
        assert!(heads.contains("user-agent: prometheus/promtui-"));
    }

    #[tokio::test]
    async fn retry_on_429_and_authorization() {
        let (url, h) = server(vec!["429 Too Many Requests"]);
        let c = WriteClient::new(&config(
            &url,
            "authorization: {credentials: tok}\nqueue_config: {retry_on_http_429: true}\n",
        ))
        .unwrap();
        assert!(matches!(c.store(vec![1]).await, SendOutcome::Retry { .. }));
        let heads = h.join().unwrap().join("").to_ascii_lowercase();
        assert!(heads.contains("authorization: bearer tok"), "{heads}");
    }

    #[test]
    fn bad_tls_material_and_proxy_are_errors() {
        let e = WriteClient::new(&config(
            "http://x/",
            "tls_config: {cert_file: /nonexistent/c.pem, key_file: /nonexistent/k.pem}\n",
        ))
        .err()
        .unwrap();
        assert!(e.contains("/nonexistent/c.pem"), "{e}");
        let e = WriteClient::new(&config("http://x/", "proxy_url: 'not a url'\n"))
            .err()
            .unwrap();
        assert!(e.contains("proxy_url"), "{e}");
    }
}
