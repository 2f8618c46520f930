//! `--web.config.file`: TLS and HTTP basic authentication for every listener promtui
//! opens (the web port, the Alertmanager port, the Pushgateway port), read from the web
//! configuration file Prometheus, Alertmanager and the Pushgateway share:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.pem            # relative paths are relative to this file
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_ca_file: ca.pem
//!   min_version: TLS12
//! http_server_config:
//!   headers:
//!     X-Frame-Options: deny
//! basic_auth_users:
//!   alice: $2y$10$...                # bcrypt hash
//! ```
//!
//! Behaviour follows upstream's: the file is checked at start (a broken file stops
//! start-up, and `promtui check web-config` checks it offline); it is read again when it
//! changes, so rotated certificates, new users and header changes apply to the next
//! connection or request without a restart, while whether a listener speaks TLS at all is
//! fixed at start. A changed file that no longer loads is logged and the previous one
//! stays in force. Passwords are bcrypt hashes; every check result is cached (bcrypt is
//! slow on purpose) and checks run one at a time on a blocking thread, and an unknown user
//! costs a bcrypt comparison too, so answer times do not tell which users exist. A request
//! without valid credentials gets 401 with `WWW-Authenticate: Basic`; the configured
//! headers go on every response, 401s included.
//!
//! Where promtui differs: rustls offers TLS 1.2 and 1.3 only, so `min_version: TLS10` or
//! `TLS11` starts at 1.2 (logged); `client_allowed_sans` matches DNS names and IP
//! addresses (not e-mail or URI names); `prefer_server_cipher_suites` and `http2` are
//! accepted and have no effect (rustls always prefers the server's order; the listeners
//! speak HTTP/1.1).

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Request, State};
use axum::http::header::{HeaderName, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// Why a web configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}:{line}:{column}: {msg}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        msg: String,
    },
    #[error("{path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
}

/// The file as written; unknown fields are errors, as upstream's strict parse.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    tls_server_config: Option<TlsFile>,
    #[serde(default)]
    http_server_config: Option<HttpFile>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    #[serde(default)]
    cert_file: String,
    #[serde(default)]
    key_file: String,
    #[serde(default)]
    client_auth_type: String,
    #[serde(default)]
    client_ca_file: String,
    #[serde(default)]
    client_allowed_sans: Vec<String>,
    #[serde(default)]
    min_version: String,
    #[serde(default)]
    max_version: String,
    #[serde(default)]
    cipher_suites: Vec<String>,
    #[serde(default)]
    curve_preferences: Vec<String>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    /// Accepted for compatibility; the listeners speak HTTP/1.1.
    #[serde(default, rename = "http2")]
    _http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// Response headers the file may set, with the values each accepts (`None`: any), as
/// upstream restricts them.
const ALLOWED_HEADERS: &[(&str, Option<&[&str]>)] = &[
    ("Strict-Transport-Security", None),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-XSS-Protection", None),
    ("Content-Security-Policy", None),
];

/// A loaded, validated web configuration.
pub struct WebConfig {
    tls: Option<Arc<rustls::ServerConfig>>,
    users: HashMap<String, String>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.len())
            .field("headers", &self.headers)
            .finish()
    }
}

impl WebConfig {
    /// Reads and validates `path`: YAML shape, certificate and key files, CA file, TLS
    /// versions, cipher suites, curves, headers and bcrypt hashes.
    pub fn load(path: &Path) -> Result<WebConfig, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, dir)
    }

    /// Whether listeners serve TLS.
    pub fn tls_enabled(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether requests need basic-auth credentials.
    pub fn auth_enabled(&self) -> bool {
        !self.users.is_empty()
    }

    pub(crate) fn parse(text: &str, path: &Path, dir: &Path) -> Result<WebConfig, Error> {
        let invalid = |msg: String| Error::Invalid {
            path: path.to_path_buf(),
            msg,
        };
        let file: FileConfig = if text.trim().is_empty() {
            FileConfig::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| {
                let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
                Error::Parse {
                    path: path.to_path_buf(),
                    line,
                    column,
                    msg: e.to_string(),
                }
            })?
        };
        let mut users = HashMap::new();
        for (user, hash) in file.basic_auth_users.unwrap_or_default() {
            if user.contains(':') {
                return Err(invalid(format!(
                    "basic_auth_users: user name {user:?} contains ':', which basic auth cannot carry"
                )));
            }
            if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$"))
                // The hash's structure, not a bcrypt run: checking by verifying would cost
                // a full hash per user at every start and reload.
                || !hash
                    .parse::<bcrypt::HashParts>()
                    .is_ok_and(|h| (4..=31).contains(&h.get_cost()))
            {
                return Err(invalid(format!(
                    "basic_auth_users: the password of {user:?} is not a bcrypt hash ($2a$, $2b$ or $2y$); make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
                )));
            }
            users.insert(user, hash);
        }
        let mut headers = Vec::new();
        for (name, value) in file.http_server_config.unwrap_or_default().headers {
            let Some((canon, allowed)) = ALLOWED_HEADERS
                .iter()
                .find(|(h, _)| h.eq_ignore_ascii_case(&name))
            else {
                return Err(invalid(format!(
                    "http_server_config: header {name:?} cannot be set here (allowed: {})",
                    ALLOWED_HEADERS
                        .iter()
                        .map(|(h, _)| *h)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            if let Some(allowed) = allowed {
                if !allowed.iter().any(|a| a.eq_ignore_ascii_case(&value)) {
                    return Err(invalid(format!(
                        "http_server_config: invalid value {value:?} for header {canon} (allowed: {})",
                        allowed.join(", ")
                    )));
                }
            }
            let value = HeaderValue::from_str(&value)
                .map_err(|_| invalid(format!("http_server_config: header {canon}: value {value:?} is not a valid header value")))?;
            headers.push((HeaderName::from_static(static_lower(canon)), value));
        }
        let tls = match file.tls_server_config {
            Some(t) => tls_config(t, dir).map_err(invalid)?,
            None => None,
        };
        Ok(WebConfig {
            tls,
            users,
            headers,
        })
    }
}

/// The lower-case form of an allowed header name (header names are matched case-insensitively).
fn static_lower(canon: &str) -> &'static str {
    match canon {
        "Strict-Transport-Security" => "strict-transport-security",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-Frame-Options" => "x-frame-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "content-security-policy",
    }
}

/// Builds the rustls server configuration; `None` when the section sets nothing.
fn tls_config(t: TlsFile, dir: &Path) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    let set = !t.cert_file.is_empty()
        || !t.key_file.is_empty()
        || !t.client_auth_type.is_empty()
        || !t.client_ca_file.is_empty()
        || !t.client_allowed_sans.is_empty()
        || !t.min_version.is_empty()
        || !t.max_version.is_empty()
        || !t.cipher_suites.is_empty()
        || !t.curve_preferences.is_empty()
        || t.prefer_server_cipher_suites.is_some();
    if !set {
        return Ok(None);
    }
    if t.cert_file.is_empty() {
        return Err("tls_server_config: missing cert_file".into());
    }
    if t.key_file.is_empty() {
        return Err("tls_server_config: missing key_file".into());
    }
    let resolve = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        }
    };
    let certs = pem_certs(&resolve(&t.cert_file), "cert_file")?;
    let key_path = resolve(&t.key_file);
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("tls_server_config: key_file {}: {e}", key_path.display()))?;

    let mut provider = rustls::crypto::ring::default_provider();
    if !t.cipher_suites.is_empty() {
        provider.cipher_suites = cipher_suites(&provider, &t.cipher_suites)?;
    }
    if !t.curve_preferences.is_empty() {
        provider.kx_groups = curves(&provider, &t.curve_preferences)?;
    }
    let versions = protocol_versions(&t.min_version, &t.max_version)?;
    let provider = Arc::new(provider);
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let roots = if t.client_ca_file.is_empty() {
        None
    } else {
        Some(client_roots(&resolve(&t.client_ca_file))?)
    };
    let builder = match client_verifier(&t, roots, &provider)? {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: cert_file and key_file: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(cfg)))
}

/// Every PEM certificate in `path` (`field` names it in errors); at least one.
fn pem_certs(path: &Path, field: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("tls_server_config: {field} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_server_config: {field} {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

/// `cipher_suites`: Go's names of TLS 1.2 suites; TLS 1.3's are always on, as in Go.
fn cipher_suites(
    provider: &rustls::crypto::CryptoProvider,
    names: &[String],
) -> Result<Vec<rustls::SupportedCipherSuite>, String> {
    let mut suites: Vec<rustls::SupportedCipherSuite> = provider
        .cipher_suites
        .iter()
        .filter(|s| s.version() == &rustls::version::TLS13)
        .copied()
        .collect();
    for name in names {
        let found = provider
            .cipher_suites
            .iter()
            .find(|s| format!("{:?}", s.suite()) == *name)
            .copied();
        match found {
            Some(s) => suites.push(s),
            None => {
                return Err(format!(
                    "tls_server_config: cipher suite {name} is unknown or not offered by promtui (it offers {})",
                    provider
                        .cipher_suites
                        .iter()
                        .filter(|s| s.version() == &rustls::version::TLS12)
                        .map(|s| format!("{:?}", s.suite()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
    }
    Ok(suites)
}

/// `curve_preferences`, Go's curve names, in the order given.
fn curves(
    provider: &rustls::crypto::CryptoProvider,
    names: &[String],
) -> Result<Vec<&'static dyn rustls::crypto::SupportedKxGroup>, String> {
    let mut groups = Vec::new();
    for name in names {
        let want = match name.as_str() {
            "CurveP256" => rustls::NamedGroup::secp256r1,
            "CurveP384" => rustls::NamedGroup::secp384r1,
            "CurveP521" => rustls::NamedGroup::secp521r1,
            "X25519" => rustls::NamedGroup::X25519,
            _ => {
                return Err(format!(
                "tls_server_config: unknown curve {name} (CurveP256, CurveP384, CurveP521, X25519)"
            ))
            }
        };
        match provider.kx_groups.iter().find(|g| g.name() == want) {
            Some(g) => groups.push(*g),
            None => {
                return Err(format!(
                    "tls_server_config: curve {name} is not offered by promtui's TLS stack"
                ))
            }
        }
    }
    Ok(groups)
}

/// `min_version` / `max_version` (default TLS12..TLS13) as the protocol versions offered.
/// Older than 1.2 is not offered: a minimum below it is raised with a warning.
fn protocol_versions(
    min_version: &str,
    max_version: &str,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let version = |v: &str, field: &str| -> Result<Option<u8>, String> {
        match v {
            "" => Ok(None),
            "TLS10" => Ok(Some(10)),
            "TLS11" => Ok(Some(11)),
            "TLS12" => Ok(Some(12)),
            "TLS13" => Ok(Some(13)),
            _ => Err(format!(
                "tls_server_config: {field}: unknown TLS version {v} (TLS10, TLS11, TLS12, TLS13)"
            )),
        }
    };
    let min = version(min_version, "min_version")?.unwrap_or(12);
    let max = version(max_version, "max_version")?.unwrap_or(13);
    if max < 12 {
        return Err(format!(
            "tls_server_config: max_version {max_version} is below TLS12, the oldest version promtui offers"
        ));
    }
    if min > max {
        return Err(format!(
            "tls_server_config: min_version {min_version} is above max_version {max_version}"
        ));
    }
    if min < 12 {
        tracing::warn!(
            "web config: min_version {min_version} asks for TLS older than 1.2, which promtui does not offer; TLS 1.2 is the minimum"
        );
    }
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if min <= 12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= 13 {
        versions.push(&rustls::version::TLS13);
    }
    Ok(versions)
}

/// `client_ca_file`: the CAs client certificates are verified against.
fn client_roots(path: &Path) -> Result<Arc<rustls::RootCertStore>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in pem_certs(path, "client_ca_file")? {
        roots
            .add(ca)
            .map_err(|e| format!("tls_server_config: client_ca_file {}: {e}", path.display()))?;
    }
    Ok(Arc::new(roots))
}

/// `client_auth_type` (Go's names) and `client_allowed_sans` as a client certificate
/// verifier; `None` asks for no certificate.
fn client_verifier(
    t: &TlsFile,
    roots: Option<Arc<rustls::RootCertStore>>,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, String> {
    let verify = |allow_missing: bool| -> Result<Arc<dyn ClientCertVerifier>, String> {
        let Some(roots) = roots.clone() else {
            return Err(format!(
                "tls_server_config: client_auth_type {} needs client_ca_file",
                t.client_auth_type
            ));
        };
        let b = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
        let b = if allow_missing {
            b.allow_unauthenticated()
        } else {
            b
        };
        b.build()
            .map_err(|e| format!("tls_server_config: client_ca_file: {e}"))
    };
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match t.client_auth_type.as_str() {
        "" | "NoClientCert" => None,
        "RequestClientCert" => Some(Arc::new(AnyClientCert {
            provider: provider.clone(),
            mandatory: false,
        })),
        "RequireAnyClientCert" => Some(Arc::new(AnyClientCert {
            provider: provider.clone(),
            mandatory: true,
        })),
        "VerifyClientCertIfGiven" => Some(verify(true)?),
        "RequireAndVerifyClientCert" => Some(verify(false)?),
        other => {
            return Err(format!(
                "tls_server_config: invalid client_auth_type {other} (NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"
            ))
        }
    };
    if t.client_allowed_sans.is_empty() {
        return Ok(verifier);
    }
    let Some(inner) = verifier else {
        return Err(
            "tls_server_config: client_allowed_sans needs a client_auth_type that verifies client certificates"
                .into(),
        );
    };
    let mut names = Vec::new();
    for s in &t.client_allowed_sans {
        let n = ServerName::try_from(s.clone()).map_err(|_| {
            format!("tls_server_config: client_allowed_sans: {s:?} is neither a DNS name nor an IP address")
        })?;
        names.push(n);
    }
    Ok(Some(Arc::new(AllowedSans { inner, names })))
}

/// `RequestClientCert` / `RequireAnyClientCert`: a certificate is asked for (or
/// required) but not checked against a CA; its signature over the handshake still is.
#[derive(Debug)]
struct AnyClientCert {
    provider: Arc<rustls::crypto::CryptoProvider>,
    mandatory: bool,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `client_allowed_sans`: a verified client certificate must also carry one of these
/// DNS names or IP addresses.
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    names: Vec<ServerName<'static>>,
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let ok = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|e| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
                Arc::new(e),
            )))
        })?;
        if self
            .names
            .iter()
            .any(|n| cert.verify_is_valid_for_subject_name(n).is_ok())
        {
            Ok(ok)
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName,
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// How often the file's modification time is looked at.
const RECHECK: Duration = Duration::from_secs(1);
/// Cached credential checks kept at most (the cache is emptied when full).
const AUTH_CACHE_MAX: usize = 4096;
/// A TLS handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The web configuration every listener shares, re-read when its file changes.
#[derive(Clone)]
pub struct Security(Arc<Inner>);

struct Inner {
    path: PathBuf,
    state: RwLock<Current>,
    /// Results of bcrypt checks by a keyed 128-bit hash of (user, stored hash, password).
    auth_cache: Mutex<HashMap<u128, bool>>,
    keys: (RandomState, RandomState),
    /// One bcrypt comparison at a time, so a flood of bad passwords costs one core.
    bcrypt: tokio::sync::Mutex<()>,
    /// Compared against for unknown users.
    dummy_hash: String,
}

struct Current {
    config: Arc<WebConfig>,
    stamp: Option<(SystemTime, u64)>,
    checked: Instant,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("path", &self.0.path)
            .finish()
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl Security {
    /// Loads `path`, failing on any error (start-up).
    pub fn load(path: &Path) -> Result<Security, Error> {
        let st = stamp(path);
        let config = WebConfig::load(path)?;
        if config.tls_enabled() {
            tracing::info!(file = %path.display(), "TLS is enabled on every listener");
        }
        let dummy_hash =
            bcrypt::hash("promtui: not a user", bcrypt::DEFAULT_COST).map_err(|e| {
                Error::Invalid {
                    path: path.to_path_buf(),
                    msg: format!("bcrypt: {e}"),
                }
            })?;
        Ok(Security(Arc::new(Inner {
            path: path.to_path_buf(),
            state: RwLock::new(Current {
                config: Arc::new(config),
                stamp: st,
                checked: Instant::now(),
            }),
            auth_cache: Mutex::new(HashMap::new()),
            keys: (RandomState::new(), RandomState::new()),
            bcrypt: tokio::sync::Mutex::new(()),
            dummy_hash,
        })))
    }

    /// The configuration in force, re-reading the file when it changed (looked at most
    /// once a second). A file that no longer loads leaves the previous configuration.
    pub fn current(&self) -> Arc<WebConfig> {
        {
            let cur = self.0.state.read().unwrap_or_else(|p| p.into_inner());
            if cur.checked.elapsed() < RECHECK {
                return cur.config.clone();
            }
        }
        let mut cur = self.0.state.write().unwrap_or_else(|p| p.into_inner());
        if cur.checked.elapsed() < RECHECK {
            return cur.config.clone();
        }
        cur.checked = Instant::now();
        let st = stamp(&self.0.path);
        if st != cur.stamp {
            cur.stamp = st;
            match WebConfig::load(&self.0.path) {
                Ok(c) => {
                    if c.tls_enabled() != cur.config.tls_enabled() {
                        tracing::warn!(
                            file = %self.0.path.display(),
                            "web config: turning TLS on or off takes a restart; the new certificates or settings apply only where TLS was already on"
                        );
                    }
                    tracing::info!(file = %self.0.path.display(), "web config reloaded");
                    cur.config = Arc::new(c);
                    self.0
                        .auth_cache
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clear();
                }
                Err(e) => tracing::error!("web config not reloaded, the previous one stays: {e}"),
            }
        }
        cur.config.clone()
    }

    /// Whether the credentials in `authorization` (a raw `Authorization` header) are
    /// valid for `config`.
    async fn authorized(&self, config: &WebConfig, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, pass)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let known = config.users.get(&user);
        let hash = known.map_or(self.0.dummy_hash.as_str(), String::as_str);
        let key = {
            let h = |s: &RandomState| s.hash_one((user.as_str(), hash, pass.as_str()));
            (u128::from(h(&self.0.keys.0)) << 64) | u128::from(h(&self.0.keys.1))
        };
        let cached = self
            .0
            .auth_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .copied();
        let ok = match cached {
            Some(ok) => ok,
            None => {
                let _one = self.0.bcrypt.lock().await;
                let hash = hash.to_string();
                let matched = tokio::task::spawn_blocking(move || {
                    bcrypt::verify(pass.as_bytes(), &hash).unwrap_or(false)
                })
                .await
                .unwrap_or(false);
                let ok = matched && known.is_some();
                let mut cache = self.0.auth_cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= AUTH_CACHE_MAX {
                    cache.clear();
                }
                cache.insert(key, ok);
                ok
            }
        };
        ok && known.is_some()
    }
}

/// `Basic base64(user:password)` → (user, password).
fn parse_basic(v: &HeaderValue) -> Option<(String, String)> {
    let v = v.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (u, p) = raw.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// The middleware every listener's router goes through: configured headers on every
/// answer, and basic authentication when users are configured.
pub async fn guard(State(sec): State<Security>, req: Request, next: Next) -> Response {
    let config = sec.current();
    let mut resp = if config.auth_enabled()
        && !sec
            .authorized(&config, req.headers().get(AUTHORIZATION))
            .await
    {
        let mut r = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
        r.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        r
    } else {
        next.run(req).await
    };
    for (k, v) in &config.headers {
        resp.headers_mut().insert(k.clone(), v.clone());
    }
    resp
}

/// A listener that completes TLS handshakes off the accept loop (a slow client cannot
/// hold up others) and hands over finished connections.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(TlsIo, SocketAddr)>,
    local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsListener {
    pub fn new(listener: TcpListener, sec: Security) -> io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let task = tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = tx.closed() => return,
                    a = listener.accept() => a,
                };
                let (tcp, addr) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of descriptors and the like: back off as axum's own loop does.
                        tracing::debug!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!("could not set TCP_NODELAY on an accepted connection: {e}");
                }
                let Some(cfg) = sec.current().tls.clone() else {
                    // TLS was on at start; a file now without it keeps the last certificates.
                    continue;
                };
                let tx = tx.clone();
                tokio::spawn(async move {
                    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => {
                            let _ = tx.send((TlsIo(Box::new(s)), addr)).await;
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake error from {addr}: {e}"),
                        Err(_) => tracing::debug!("TLS handshake from {addr} timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local, task })
    }
}

/// One server-side TLS connection.
pub struct TlsIo(Box<tokio_rustls::server::TlsStream<TcpStream>>);

impl AsyncRead for TlsIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().0).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.get_mut().0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept task ended (it only does when the listener is dropped).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, Error> {
        WebConfig::parse(text, Path::new("web.yml"), Path::new("."))
    }

    #[test]
    fn empty_file_is_plain_http_without_auth() {
        let c = parse("").unwrap();
        assert!(!c.tls_enabled());
        assert!(!c.auth_enabled());
        let c = parse("tls_server_config: {}\nbasic_auth_users: {}\n").unwrap();
        assert!(!c.tls_enabled());
    }

    #[test]
    fn unknown_fields_name_their_place() {
        let e = parse("basic_auth_users: {}\ntls_server_config:\n  cert: x\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("web.yml:3:3:"), "{e}");
        assert!(e.contains("unknown field `cert`"), "{e}");
    }

    #[test]
    fn certificate_without_key_and_bad_values_are_refused() {
        let e = parse("tls_server_config:\n  cert_file: a.pem\n").unwrap_err();
        assert!(e.to_string().contains("missing key_file"), "{e}");
        let e = parse("tls_server_config:\n  key_file: a.key\n").unwrap_err();
        assert!(e.to_string().contains("missing cert_file"), "{e}");
        let e = parse(
            "tls_server_config:\n  cert_file: /nonexistent/a.pem\n  key_file: /nonexistent/a.key\n",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("cert_file /nonexistent/a.pem"),
            "{e}"
        );
    }

    #[test]
    fn tls_versions_suites_and_curves_use_go_names() {
        let tls12 = &rustls::version::TLS12;
        let tls13 = &rustls::version::TLS13;
        let v = protocol_versions("", "").unwrap();
        assert!(v.len() == 2 && v[0] == tls12 && v[1] == tls13);
        let v = protocol_versions("TLS13", "").unwrap();
        assert!(v.len() == 1 && v[0] == tls13);
        let v = protocol_versions("TLS10", "TLS12").unwrap();
        assert!(v.len() == 1 && v[0] == tls12);
        let e = protocol_versions("TLS13", "TLS12").unwrap_err();
        assert!(
            e.contains("min_version TLS13 is above max_version TLS12"),
            "{e}"
        );
        let e = protocol_versions("", "TLS11").unwrap_err();
        assert!(e.contains("below TLS12"), "{e}");
        let e = protocol_versions("SSL3", "").unwrap_err();
        assert!(e.contains("min_version: unknown TLS version SSL3"), "{e}");

        let provider = rustls::crypto::ring::default_provider();
        let name = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_string();
        let suites = cipher_suites(&provider, std::slice::from_ref(&name)).unwrap();
        // TLS 1.3's suites stay on; of 1.2's only the one named.
        assert_eq!(
            suites.iter().filter(|s| s.version() == tls12).count(),
            1,
            "{suites:?}"
        );
        assert!(suites.iter().any(|s| format!("{:?}", s.suite()) == name));
        let e = cipher_suites(&provider, &["TLS_RSA_WITH_RC4_128_SHA".into()]).unwrap_err();
        assert!(e.contains("not offered by promtui (it offers TLS_"), "{e}");

        let groups = curves(&provider, &["X25519".into(), "CurveP256".into()]).unwrap();
        assert_eq!(groups[0].name(), rustls::NamedGroup::X25519);
        assert_eq!(groups[1].name(), rustls::NamedGroup::secp256r1);
        let e = curves(&provider, &["CurveP192".into()]).unwrap_err();
        assert!(e.contains("unknown curve CurveP192"), "{e}");
    }

    #[test]
    fn client_auth_types_and_sans_are_checked() {
        let t = |auth: &str, sans: &[&str]| TlsFile {
            client_auth_type: auth.into(),
            client_allowed_sans: sans.iter().map(|s| s.to_string()).collect(),
            ..serde_yaml::from_str("{}").unwrap()
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        assert!(client_verifier(&t("", &[]), None, &provider)
            .unwrap()
            .is_none());
        assert!(
            client_verifier(&t("RequireAnyClientCert", &[]), None, &provider)
                .unwrap()
                .is_some()
        );
        let e = client_verifier(&t("RequireAndVerifyClientCert", &[]), None, &provider)
            .err()
            .unwrap();
        assert!(e.contains("needs client_ca_file"), "{e}");
        let e = client_verifier(&t("Sometimes", &[]), None, &provider)
            .err()
            .unwrap();
        assert!(e.contains("invalid client_auth_type Sometimes"), "{e}");
        let e = client_verifier(&t("", &["host.example"]), None, &provider)
            .err()
            .unwrap();
        assert!(e.contains("needs a client_auth_type that verifies"), "{e}");
        let e = client_verifier(
            &t("RequireAnyClientCert", &["not a name!"]),
            None,
            &provider,
        )
        .err()
        .unwrap();
        assert!(e.contains("neither a DNS name nor an IP address"), "{e}");
    }

    #[test]
    fn passwords_must_be_bcrypt_hashes() {
        let e = parse("basic_auth_users:\n  alice: secret\n").unwrap_err();
        assert!(e.to_string().contains("not a bcrypt hash"), "{e}");
        let h = bcrypt::hash("pw", 4).unwrap();
        let c = parse(&format!("basic_auth_users:\n  alice: {h}\n")).unwrap();
        assert!(c.auth_enabled());
        // Malformed: cut short, a cost bcrypt does not have, a salt that is not base64.
        for bad in [
            h[..50].to_string(),
            format!("{}99{}", &h[..4], &h[6..]),
            format!("{}!!{}", &h[..7], &h[9..]),
        ] {
            let e = parse(&format!("basic_auth_users:\n  alice: '{bad}'\n")).unwrap_err();
            assert!(e.to_string().contains("not a bcrypt hash"), "{bad}: {e}");
        }
    }

    #[test]
    fn only_security_headers_with_their_values() {
        let c = parse("http_server_config:\n  headers:\n    x-frame-options: deny\n").unwrap();
        assert_eq!(c.headers[0].0.as_str(), "x-frame-options");
        let e = parse("http_server_config:\n  headers:\n    X-Frame-Options: allow\n").unwrap_err();
        assert!(e.to_string().contains("invalid value"), "{e}");
        let e = parse("http_server_config:\n  headers:\n    Server: x\n").unwrap_err();
        assert!(e.to_string().contains("cannot be set"), "{e}");
    }

    #[test]
    fn basic_credentials_parse() {
        let v = HeaderValue::from_static("Basic YWxpY2U6cDpx");
        assert_eq!(parse_basic(&v), Some(("alice".into(), "p:q".into())));
        assert_eq!(parse_basic(&HeaderValue::from_static("Bearer x")), None);
        assert_eq!(parse_basic(&HeaderValue::from_static("Basic !!!")), None);
    }
}
