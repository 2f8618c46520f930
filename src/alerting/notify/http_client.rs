//! What the HTTP integrations (slack, pagerduty) share: the receiver's `http_config`
//! (Prometheus common's `HTTPClientConfig`, inherited whole from `global.http_config`
//! when the entry has none, as Alertmanager does), a JSON POST encoded as Go's
//! `json.Encoder` writes it, and Alertmanager's `notify.Retrier` verdict on the status.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{BuildContext, NotifyError};
use crate::config::{Authorization, BasicAuth, Secret, TlsConfig};

/// `http_config` of a receiver integration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpConfig {
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    #[serde(default)]
    pub bearer_token_file: Option<String>,
    #[serde(default)]
    pub tls_config: TlsConfig,
    #[serde(default)]
    pub proxy_url: Option<String>,
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    /// Accepted as upstream; reqwest negotiates HTTP/2 by ALPN on its own.
    #[serde(default)]
    #[allow(dead_code)]
    pub enable_http2: Option<bool>,
    /// Accepted so existing files load; refused at build (promtui has no OAuth 2 client).
    #[serde(default)]
    pub oauth2: Option<serde_yaml::Value>,
}

/// A ready HTTP sender: the client (shared, or built for this entry's TLS/proxy
/// settings) and the credentials each request carries.
#[derive(Clone)]
pub(crate) struct HttpSender {
    client: reqwest::Client,
    basic: Option<BasicCreds>,
    /// Type, inline credentials, credentials file.
    authorization: Option<(String, Option<String>, Option<PathBuf>)>,
}

/// `basic_auth`: username, password, password file, username file (files read per send).
type BasicCreds = (String, Option<String>, Option<PathBuf>, Option<PathBuf>);

impl std::fmt::Debug for HttpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSender").finish_non_exhaustive()
    }
}

fn join(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The entry's `http_config`, or the global one when the entry has none.
pub(crate) fn effective(own: Option<HttpConfig>, ctx: &BuildContext) -> Result<HttpConfig, String> {
    if let Some(c) = own {
        return Ok(c);
    }
    match ctx.global.get("http_config") {
        Some(v) if !v.is_null() => {
            serde_yaml::from_value(v.clone()).map_err(|e| format!("global http_config: {e}"))
        }
        _ => Ok(HttpConfig::default()),
    }
}

/// Builds the sender for `cfg` (relative file paths from `ctx.base_dir`).
pub(crate) fn sender(cfg: &HttpConfig, ctx: &BuildContext) -> Result<HttpSender, String> {
    if cfg.oauth2.is_some() {
        return Err("http_config.oauth2 is not supported by promtui".into());
    }
    let base = &ctx.base_dir;
    let basic = match &cfg.basic_auth {
        Some(b) => {
            if b.password.is_some() && b.password_file.is_some() {
                return Err(
                    "at most one of basic_auth password & password_file must be configured".into(),
                );
            }
            Some((
                b.username.as_ref().map(|u| u.0.clone()).unwrap_or_default(),
                b.password.as_ref().map(|p| p.expose().to_string()),
                b.password_file.as_deref().map(|p| join(base, p)),
                b.username_file.as_deref().map(|p| join(base, p)),
            ))
        }
        None => None,
    };
    let bearer = cfg.bearer_token.is_some() || cfg.bearer_token_file.is_some();
    if cfg.basic_auth.is_some() && (cfg.authorization.is_some() || bearer) {
        return Err(
            "at most one of basic_auth, bearer_token & bearer_token_file must be configured".into(),
        );
    }
    if cfg.authorization.is_some() && bearer {
        return Err("authorization is not compatible with bearer_token & bearer_token_file".into());
    }
    let authorization = match (&cfg.authorization, bearer) {
        (Some(a), _) => {
            if a.auth_type.eq_ignore_ascii_case("basic") {
                return Err(
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead"
                        .into(),
                );
            }
            Some((
                a.auth_type.clone(),
                a.credentials.as_ref().map(|c| c.expose().to_string()),
                a.credentials_file.as_deref().map(|p| join(base, p)),
            ))
        }
        (None, true) => Some((
            "Bearer".to_string(),
            cfg.bearer_token.as_ref().map(|c| c.expose().to_string()),
            cfg.bearer_token_file.as_deref().map(|p| join(base, p)),
        )),
        (None, false) => None,
    };
    let tls = &cfg.tls_config;
    let custom = tls != &TlsConfig::default()
        || cfg.proxy_url.is_some()
        || cfg.follow_redirects == Some(false);
    let client = if custom {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .danger_accept_invalid_certs(tls.insecure_skip_verify)
            .redirect(if cfg.follow_redirects == Some(false) {
                reqwest::redirect::Policy::none()
            } else {
                reqwest::redirect::Policy::limited(10)
            });
        let read =
            |inline: &Option<String>, file: &Option<String>| -> Result<Option<Vec<u8>>, String> {
                match (inline, file) {
                    (Some(s), _) => Ok(Some(s.clone().into_bytes())),
                    (None, Some(f)) => std::fs::read(join(base, f))
                        .map(Some)
                        .map_err(|e| format!("reading {f}: {e}")),
                    (None, None) => Ok(None),
                }
            };
        if let Some(ca) = read(&tls.ca, &tls.ca_file)? {
            let certs = reqwest::Certificate::from_pem_bundle(&ca)
                .map_err(|e| format!("unable to use specified CA cert: {e}"))?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let key = read(
            &tls.key.as_ref().map(|k| k.expose().to_string()),
            &tls.key_file,
        )?;
        match (read(&tls.cert, &tls.cert_file)?, key) {
            (Some(mut cert), Some(key)) => {
                cert.push(b'\n');
                cert.extend_from_slice(&key);
                b = b
                    .identity(reqwest::Identity::from_pem(&cert).map_err(|e| {
                        format!("unable to use specified client cert and key: {e}")
                    })?);
            }
            (None, None) => {}
            (Some(_), None) => return Err("client cert specified without client key".into()),
            (None, Some(_)) => return Err("client key specified without client cert".into()),
        }
        if let Some(p) = &cfg.proxy_url {
            b = b.proxy(
                reqwest::Proxy::all(p.as_str())
                    .map_err(|e| format!("invalid proxy_url {p:?}: {e}"))?,
            );
        }
        b.build().map_err(|e| e.to_string())?
    } else {
        ctx.client.clone()
    };
    Ok(HttpSender {
        client,
        basic,
        authorization,
    })
}

fn read_trimmed(p: &Path) -> Result<String, NotifyError> {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .map_err(|e| NotifyError {
            retryable: false,
            message: format!("reading {}: {e}", p.display()),
        })
}

/// Go's `json.Encoder` output for `v`: `<`, `>`, `&`, U+2028 and U+2029 escaped, a
/// trailing newline.
pub(crate) fn go_json<T: serde::Serialize>(v: &T) -> Result<String, NotifyError> {
    let s = serde_json::to_string(v).map_err(|e| NotifyError {
        retryable: false,
        message: format!("encoding JSON: {e}"),
    })?;
    let mut out = String::with_capacity(s.len() + 16);
    // These characters only occur inside JSON strings, so escaping them is safe.
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('\n');
    Ok(out)
}

/// Alertmanager's `notify.TruncateInRunes`: at most `n` characters, the last one `…`
/// when cut.
pub(crate) fn truncate_runes(s: &str, n: usize) -> (String, bool) {
    if s.chars().count() <= n {
        return (s.to_string(), false);
    }
    if n <= 3 {
        return (s.chars().take(n).collect(), true);
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push('…');
    (out, true)
}

impl HttpSender {
    /// POSTs `body` as `application/json` and judges the answer as Alertmanager's
    /// `Retrier`: 2xx succeeds, 5xx and `retry_codes` are retryable, other codes are not;
    /// a transport error is retryable. `redact_url` hides secret URLs (Slack webhooks)
    /// in messages.
    pub(crate) async fn post_json(
        &self,
        url: &str,
        body: String,
        retry_codes: &[u16],
        redact_url: bool,
    ) -> Result<(), NotifyError> {
        let mut req = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                reqwest::header::USER_AGENT,
                concat!("promtui/", env!("CARGO_PKG_VERSION")),
            )
            .body(body);
        if let Some((user, pass, pass_file, user_file)) = &self.basic {
            let user = match user_file {
                Some(f) => read_trimmed(f)?,
                None => user.clone(),
            };
            let pass = match (pass, pass_file) {
                (Some(p), _) => Some(p.clone()),
                (None, Some(f)) => Some(read_trimmed(f)?),
                (None, None) => None,
            };
            req = req.basic_auth(user, pass);
        }
        if let Some((kind, cred, file)) = &self.authorization {
            let cred = match (cred, file) {
                (Some(c), _) => c.clone(),
                (None, Some(f)) => read_trimmed(f)?,
                (None, None) => String::new(),
            };
            req = req.header(reqwest::header::AUTHORIZATION, format!("{kind} {cred}"));
        }
        // A Slack webhook URL is a credential: Alertmanager's `notify.RedactURL` hides it.
        let shown = if redact_url { "<redacted>" } else { url };
        let resp = req.send().await.map_err(|e| NotifyError {
            retryable: true,
            message: format!("Post {shown:?}: {}", e.without_url()),
        })?;
        let status = resp.status().as_u16();
        if status / 100 == 2 {
            return Ok(());
        }
        let body = resp.text().await.unwrap_or_default();
        let mut message = format!("unexpected status code {status}");
        let body = body.trim();
        if !body.is_empty() {
            message.push_str(": ");
            message.push_str(&body.chars().take(1024).collect::<String>());
        }
        Err(NotifyError {
            retryable: status / 100 == 5 || retry_codes.contains(&status),
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_json_escapes_like_encoding_json() {
        let v = serde_json::json!({"a": "<b>&\u{2028}"});
        assert_eq!(
            go_json(&v).unwrap(),
            "{\"a\":\"\\u003cb\\u003e\\u0026\\u2028\"}\n"
        );
    }

    #[test]
    fn truncation_in_runes() {
        assert_eq!(truncate_runes("héllo", 5), ("héllo".into(), false));
        assert_eq!(truncate_runes("héllo!", 5), ("héll…".into(), true));
        assert_eq!(truncate_runes("abcdef", 3), ("abc".into(), true));
    }
}
