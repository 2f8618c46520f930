//! The e-mail integration (`email_configs`), as Alertmanager 0.25's `notify/email`, with
//! its own small SMTP client (RFC 5321 as Go's `net/smtp` speaks it).
//!
//! - Connection: implicit TLS when the smarthost port is 465, plain TCP otherwise;
//!   `EHLO <hello>` (HELO when refused); with `require_tls` (default true) the server
//!   must offer STARTTLS and the session is upgraded (rustls; `tls_config` CA, client
//!   certificate, `server_name`, `insecure_skip_verify`), then EHLO again.
//! - AUTH when the server offers it and `auth_username` is set: the first of the
//!   server's mechanisms promtui has credentials for among CRAM-MD5 (`auth_secret`),
//!   PLAIN (`auth_password`, `auth_identity`; refused over an unencrypted connection to
//!   anything but localhost, as Go does) and LOGIN.
//! - `MAIL FROM` (with `BODY=8BITMIME`/`SMTPUTF8` when offered), one `RCPT TO` per
//!   address of `to`, then the message: the configured headers (Subject from
//!   `email.default.subject`, To, From by default; values Q-encoded when not plain
//!   ASCII), `Message-Id: <unixnano.random@hostname>`, `Date` (RFC 1123 with numeric
//!   zone), and a `multipart/alternative` body with the text part (when `text` is set)
//!   before the HTML part (default `email.default.html`), both quoted-printable as Go's
//!   `mime/quotedprintable` writes them.
//! - Connection and protocol failures are retryable; template and address errors are
//!   not.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::templates::{data_value, Templates};
use super::{BuildContext, Integration, NotifyData, NotifyError, NotifyFuture};
use crate::config::{Secret, TlsConfig};
use crate::template::Escape;

/// How long one whole SMTP session may take before it counts as failed (retryable).
const SESSION_TIMEOUT: Duration = Duration::from_secs(120);

/// One `email_configs` entry as written (Alertmanager 0.25's `EmailConfig`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub hello: String,
    #[serde(default)]
    pub smarthost: String,
    #[serde(default)]
    pub auth_username: String,
    #[serde(default)]
    pub auth_password: Option<Secret>,
    #[serde(default)]
    pub auth_password_file: String,
    #[serde(default)]
    pub auth_secret: Option<Secret>,
    #[serde(default)]
    pub auth_identity: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub require_tls: Option<bool>,
    #[serde(default)]
    pub tls_config: TlsConfig,
}

/// A built e-mail integration.
pub struct Email {
    index: usize,
    conf: EmailConfig,
    host: String,
    port: String,
    require_tls: bool,
    password_file: Option<PathBuf>,
    base_dir: PathBuf,
    templates: Arc<Templates>,
    hostname: String,
}

/// `textproto.CanonicalMIMEHeaderKey`: `x-custom` → `X-Custom`; keys with characters
/// outside a header token are returned unchanged.
fn canonical_header(k: &str) -> String {
    let valid = k
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return k.to_string();
    }
    let mut out = String::with_capacity(k.len());
    let mut upper = true;
    for c in k.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

fn global_str(ctx: &BuildContext, key: &str) -> String {
    match ctx.global.get(key) {
        Some(serde_yaml::Value::String(s)) => s.clone(),
        Some(serde_yaml::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Splits `host:port` as Go's `net.SplitHostPort` (brackets around IPv6 hosts).
fn split_host_port(s: &str) -> Result<(String, String), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let end = rest
            .find(']')
            .ok_or_else(|| format!("address {s}: missing ']' in address"))?;
        let port = rest[end + 1..]
            .strip_prefix(':')
            .ok_or_else(|| format!("address {s}: missing port in address"))?;
        (rest[..end].to_string(), port.to_string())
    } else {
        let i = s
            .rfind(':')
            .ok_or_else(|| format!("address {s}: missing port in address"))?;
        if s[..i].contains(':') {
            return Err(format!("address {s}: too many colons in address"));
        }
        (s[..i].to_string(), s[i + 1..].to_string())
    };
    Ok((host, port))
}

impl Email {
    /// Builds from the entry merged with the `global.smtp_*` defaults. Errors are
    /// Alertmanager's messages.
    pub fn build(
        index: usize,
        entry: &serde_yaml::Value,
        ctx: &BuildContext,
    ) -> Result<Email, String> {
        let mut conf: EmailConfig =
            serde_yaml::from_value(entry.clone()).map_err(|e| e.to_string())?;
        if conf.to.is_empty() {
            return Err("missing to address in email config".into());
        }
        let mut headers = BTreeMap::new();
        for (k, v) in std::mem::take(&mut conf.headers) {
            let key = canonical_header(&k);
            if headers.insert(key.clone(), v).is_some() {
                return Err(format!("duplicate header {key:?} in email config"));
            }
        }
        conf.headers = headers;
        if conf.auth_password.is_some() && !conf.auth_password_file.is_empty() {
            return Err(
                "at most one of auth_password & auth_password_file must be configured".into(),
            );
        }
        if conf.smarthost.is_empty() {
            conf.smarthost = global_str(ctx, "smtp_smarthost");
            if conf.smarthost.is_empty() {
                return Err("no global SMTP smarthost set".into());
            }
        }
        if conf.from.is_empty() {
            conf.from = global_str(ctx, "smtp_from");
            if conf.from.is_empty() {
                return Err("no global SMTP from set".into());
            }
        }
        if conf.hello.is_empty() {
            conf.hello = global_str(ctx, "smtp_hello");
            if conf.hello.is_empty() {
                conf.hello = "localhost".into();
            }
        }
        if conf.auth_username.is_empty() {
            conf.auth_username = global_str(ctx, "smtp_auth_username");
        }
        if conf.auth_password.is_none() && conf.auth_password_file.is_empty() {
            let p = global_str(ctx, "smtp_auth_password");
            if !p.is_empty() {
                conf.auth_password = Some(Secret(p));
            }
            conf.auth_password_file = global_str(ctx, "smtp_auth_password_file");
        }
        if conf.auth_secret.is_none() {
            let s = global_str(ctx, "smtp_auth_secret");
            if !s.is_empty() {
                conf.auth_secret = Some(Secret(s));
            }
        }
        if conf.auth_identity.is_empty() {
            conf.auth_identity = global_str(ctx, "smtp_auth_identity");
        }
        let require_tls = match conf.require_tls {
            Some(b) => b,
            None => match ctx.global.get("smtp_require_tls") {
                Some(serde_yaml::Value::Bool(b)) => *b,
                _ => true,
            },
        };
        let (host, port) = split_host_port(&conf.smarthost)?;
        conf.headers
            .entry("Subject".into())
            .or_insert_with(|| r#"{{ template "email.default.subject" . }}"#.into());
        let to = conf.to.clone();
        conf.headers.entry("To".into()).or_insert(to);
        let from = conf.from.clone();
        conf.headers.entry("From".into()).or_insert(from);
        if conf.html.is_none() {
            conf.html = Some(r#"{{ template "email.default.html" . }}"#.into());
        }
        let password_file = (!conf.auth_password_file.is_empty())
            .then(|| ctx.base_dir.join(&conf.auth_password_file));
        Ok(Email {
            index,
            conf,
            host,
            port,
            require_tls,
            password_file,
            base_dir: ctx.base_dir.clone(),
            templates: ctx.templates.clone(),
            hostname: hostname(),
        })
    }

    /// The rendered message (headers and body, CRLF line ends, not dot-stuffed) and its
    /// envelope (`MAIL FROM` address, `RCPT TO` addresses).
    pub fn message(
        &self,
        data: &NotifyData,
        now: chrono::DateTime<chrono::Local>,
    ) -> Result<(String, Vec<String>, String), NotifyError> {
        let v = data_value(data);
        let fail = |what: &str, e: String| NotifyError {
            retryable: false,
            message: format!("{what}: {e}"),
        };
        let r = |s: &str| {
            self.templates
                .render(s, &v, Escape::Text)
                .map_err(|e| fail("execute template", e.to_string()))
        };
        let from = r(&self.conf.from)?;
        let to = r(&self.conf.to)?;
        let from_addrs =
            parse_address_list(&from).map_err(|e| fail("parse 'from' addresses", e))?;
        if from_addrs.len() != 1 {
            return Err(fail(
                "parse 'from' addresses",
                format!(
                    "must be exactly one 'from' address (got: {})",
                    from_addrs.len()
                ),
            ));
        }
        let to_addrs = parse_address_list(&to).map_err(|e| fail("parse 'to' addresses", e))?;

        let mut msg = String::new();
        for (name, t) in &self.conf.headers {
            let value = self
                .templates
                .render(t, &v, Escape::Text)
                .map_err(|e| fail(&format!("execute {name:?} header template"), e.to_string()))?;
            msg.push_str(&format!("{name}: {}\r\n", q_encode(&value)));
        }
        if !self.conf.headers.contains_key("Message-Id") {
            let nanos = now.timestamp_nanos_opt().unwrap_or_default();
            msg.push_str(&format!(
                "Message-Id: <{nanos}.{}@{}>\r\n",
                random_u64(),
                self.hostname
            ));
        }
        let boundary = random_boundary();
        msg.push_str(&format!(
            "Date: {}\r\n",
            now.format("%a, %d %b %Y %H:%M:%S %z")
        ));
        msg.push_str(&format!(
            "Content-Type: multipart/alternative;  boundary={boundary}\r\n"
        ));
        msg.push_str("MIME-Version: 1.0\r\n\r\n");
        let mut first = true;
        let mut part = |msg: &mut String, ctype: &str, body: &str| {
            if !first {
                msg.push_str("\r\n");
            }
            first = false;
            msg.push_str(&format!(
                "--{boundary}\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: {ctype}\r\n\r\n"
            ));
            msg.push_str(&quoted_printable(body.as_bytes()));
        };
        if let Some(t) = self.conf.text.as_deref().filter(|t| !t.is_empty()) {
            let body = r(t)?;
            part(&mut msg, "text/plain; charset=UTF-8", &body);
        }
        if let Some(h) = self.conf.html.as_deref().filter(|h| !h.is_empty()) {
            let body = self
                .templates
                .render(h, &v, Escape::Html)
                .map_err(|e| fail("execute html template", e.to_string()))?;
            part(&mut msg, "text/html; charset=UTF-8", &body);
        }
        msg.push_str(&format!("\r\n--{boundary}--\r\n"));
        Ok((msg, to_addrs, from_addrs[0].clone()))
    }

    fn password(&self) -> Result<String, NotifyError> {
        if let Some(p) = &self.conf.auth_password {
            return Ok(p.expose().to_string());
        }
        match &self.password_file {
            Some(f) => std::fs::read_to_string(f)
                .map(|s| s.trim().to_string())
                .map_err(|e| NotifyError {
                    retryable: false,
                    message: format!("reading auth_password_file {}: {e}", f.display()),
                }),
            None => Ok(String::new()),
        }
    }

    async fn send(&self, data: &NotifyData) -> Result<(), NotifyError> {
        let (message, rcpts, from) = self.message(data, chrono::Local::now())?;
        match tokio::time::timeout(SESSION_TIMEOUT, self.session(&message, &rcpts, &from)).await {
            Ok(r) => r,
            Err(_) => Err(retry(format!(
                "SMTP session with {} timed out after {SESSION_TIMEOUT:?}",
                self.conf.smarthost
            ))),
        }
    }

    async fn session(
        &self,
        message: &str,
        rcpts: &[String],
        from: &str,
    ) -> Result<(), NotifyError> {
        let addr = format!("{}:{}", self.host, self.port);
        let tcp = TcpStream::connect(&addr)
            .await
            .map_err(|e| retry(format!("establish connection to server: {e}")))?;
        let mut tls = false;
        let stream: Box<dyn Stream> = if self.port == "465" {
            tls = true;
            self.tls_wrap(Box::new(tcp))
                .await
                .map_err(|e| retry(format!("establish TLS connection to server: {e}")))?
        } else {
            Box::new(tcp)
        };
        let mut c = Smtp::new(stream);
        c.expect(220, "read greeting").await?;
        c.hello(&self.conf.hello).await?;
        if self.require_tls {
            if !c.ext.contains_key("STARTTLS") {
                return Err(retry(format!(
                    "'require_tls' is true (default) but {:?} does not advertise the STARTTLS extension",
                    self.conf.smarthost
                )));
            }
            c.cmd("STARTTLS", 220, "send STARTTLS command").await?;
            let inner = c.into_inner();
            let upgraded = self
                .tls_wrap(inner)
                .await
                .map_err(|e| retry(format!("send STARTTLS command: {e}")))?;
            c = Smtp::new(upgraded);
            tls = true;
            c.hello(&self.conf.hello).await?;
        }
        if let Some(mechs) = c.ext.get("AUTH").cloned() {
            if !self.conf.auth_username.is_empty() {
                self.auth(&mut c, &mechs, tls).await?;
            }
        }
        let mut mail = format!("MAIL FROM:<{from}>");
        if c.ext.contains_key("8BITMIME") {
            mail.push_str(" BODY=8BITMIME");
        }
        if c.ext.contains_key("SMTPUTF8") {
            mail.push_str(" SMTPUTF8");
        }
        c.cmd(&mail, 250, "send MAIL command").await?;
        for r in rcpts {
            c.cmd(&format!("RCPT TO:<{r}>"), 25, "send RCPT command")
                .await?;
        }
        c.cmd("DATA", 354, "send DATA command").await?;
        c.write_raw(&dot_stuff(message)).await?;
        c.expect(250, "close message").await?;
        // As upstream, a failing QUIT after a delivered message is not an error.
        let _ = c.cmd("QUIT", 221, "send QUIT command").await;
        Ok(())
    }

    async fn auth(&self, c: &mut Smtp, mechs: &str, tls: bool) -> Result<(), NotifyError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let user = &self.conf.auth_username;
        let mut problems = Vec::new();
        for mech in mechs.split(' ') {
            match mech {
                "CRAM-MD5" => {
                    let Some(secret) = self.conf.auth_secret.as_ref().filter(|s| !s.is_empty())
                    else {
                        problems.push("missing secret for CRAM-MD5 auth mechanism".to_string());
                        continue;
                    };
                    let challenge = c.cmd_reply("AUTH CRAM-MD5", 334, "CRAM-MD5 auth").await?;
                    let challenge = b64
                        .decode(challenge.trim())
                        .map_err(|e| retry(format!("CRAM-MD5 auth: bad challenge: {e}")))?;
                    let mac = hmac_md5(secret.expose().as_bytes(), &challenge);
                    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
                    let resp = b64.encode(format!("{user} {hex}"));
                    c.cmd(&resp, 235, "CRAM-MD5 auth").await?;
                    return Ok(());
                }
                "PLAIN" => {
                    let password = self.password()?;
                    if password.is_empty() {
                        problems.push("missing password for PLAIN auth mechanism".to_string());
                        continue;
                    }
                    if !tls && !matches!(self.host.as_str(), "localhost" | "127.0.0.1" | "::1") {
                        return Err(retry("PLAIN auth: unencrypted connection".into()));
                    }
                    let resp =
                        b64.encode(format!("{}\0{user}\0{password}", self.conf.auth_identity));
                    c.cmd(&format!("AUTH PLAIN {resp}"), 235, "PLAIN auth")
                        .await?;
                    return Ok(());
                }
                "LOGIN" => {
                    let password = self.password()?;
                    if password.is_empty() {
                        problems.push("missing password for LOGIN auth mechanism".to_string());
                        continue;
                    }
                    let mut prompt = c.cmd_reply("AUTH LOGIN", 334, "LOGIN auth").await?;
                    loop {
                        let asked = b64
                            .decode(prompt.trim())
                            .map(|p| String::from_utf8_lossy(&p).to_lowercase())
                            .unwrap_or_default();
                        // Go answers only "Username:" and "Password:"; servers also send
                        // "User Name" (aiosmtpd), so read the prompt loosely.
                        let asked = asked.trim_matches(|c: char| c == '\0' || c.is_whitespace());
                        let answer = match asked {
                            a if a.starts_with("user") => user.clone(),
                            a if a.starts_with("pass") => password.clone(),
                            other => {
                                let _ = c.cmd("*", 501, "abort AUTH").await;
                                return Err(retry(format!(
                                    "LOGIN auth: unexpected server challenge {other:?}"
                                )));
                            }
                        };
                        let (code, text) = c.send_line(&b64.encode(answer)).await?;
                        match code {
                            235 => return Ok(()),
                            334 => prompt = text,
                            _ => return Err(retry(format!("LOGIN auth: {code} {text}"))),
                        }
                    }
                }
                _ => {}
            }
        }
        if problems.is_empty() {
            problems.push(format!("unknown auth mechanism: {mechs}"));
        }
        Err(retry(format!(
            "find auth mechanism: {}",
            problems.join("; ")
        )))
    }

    async fn tls_wrap(&self, io: Box<dyn Stream>) -> Result<Box<dyn Stream>, String> {
        let cfg = tls_client_config(&self.conf.tls_config, &self.base_dir)?;
        let name = self
            .conf
            .tls_config
            .server_name
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| self.host.clone());
        let server_name = tokio_rustls::rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(|e| format!("invalid server name {name:?}: {e}"))?;
        let s = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(server_name, io)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Box::new(s))
    }
}

fn retry(message: String) -> NotifyError {
    NotifyError {
        retryable: true,
        message,
    }
}

/// Anything the SMTP session reads and writes: a TCP stream or a TLS stream over one.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// One SMTP conversation: replies read line by line, the extensions the last EHLO
/// advertised.
struct Smtp {
    io: BufReader<Box<dyn Stream>>,
    ext: BTreeMap<String, String>,
}

impl Smtp {
    fn new(io: Box<dyn Stream>) -> Smtp {
        Smtp {
            io: BufReader::new(io),
            ext: BTreeMap::new(),
        }
    }

    fn into_inner(self) -> Box<dyn Stream> {
        self.io.into_inner()
    }

    /// Reads one (possibly multi-line) reply: its code and its text lines joined by `\n`.
    async fn reply(&mut self) -> Result<(u16, String), NotifyError> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self
                .io
                .read_line(&mut line)
                .await
                .map_err(|e| retry(format!("reading SMTP reply: {e}")))?;
            if n == 0 {
                return Err(retry("SMTP server closed the connection".into()));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.len() < 3 {
                return Err(retry(format!("short SMTP reply {line:?}")));
            }
            let code: u16 = line[..3]
                .parse()
                .map_err(|_| retry(format!("invalid SMTP reply {line:?}")))?;
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                return Ok((code, lines.join("\n")));
            }
        }
    }

    async fn write_raw(&mut self, s: &str) -> Result<(), NotifyError> {
        let w = self.io.get_mut();
        w.write_all(s.as_bytes())
            .await
            .map_err(|e| retry(format!("writing to SMTP server: {e}")))?;
        w.flush()
            .await
            .map_err(|e| retry(format!("writing to SMTP server: {e}")))
    }

    async fn send_line(&mut self, line: &str) -> Result<(u16, String), NotifyError> {
        self.write_raw(&format!("{line}\r\n")).await?;
        self.reply().await
    }

    /// Reads a reply and checks its code (a one- or two-digit `want` matches a prefix,
    /// as textproto's `ReadResponse(25)` accepts 250 and 251).
    async fn expect(&mut self, want: u16, what: &str) -> Result<String, NotifyError> {
        let (code, text) = self.reply().await?;
        check(code, &text, want, what)
    }

    async fn cmd(&mut self, line: &str, want: u16, what: &str) -> Result<String, NotifyError> {
        let (code, text) = self.send_line(line).await?;
        check(code, &text, want, what)
    }

    async fn cmd_reply(
        &mut self,
        line: &str,
        want: u16,
        what: &str,
    ) -> Result<String, NotifyError> {
        self.cmd(line, want, what).await
    }

    /// EHLO (HELO when the server refuses it), recording the extensions.
    async fn hello(&mut self, name: &str) -> Result<(), NotifyError> {
        let (code, text) = self.send_line(&format!("EHLO {name}")).await?;
        if code != 250 {
            self.cmd(&format!("HELO {name}"), 250, "send EHLO command")
                .await?;
            self.ext.clear();
            return Ok(());
        }
        self.ext = text
            .lines()
            .skip(1)
            .map(|l| match l.split_once(' ') {
                Some((k, v)) => (k.to_ascii_uppercase(), v.to_string()),
                None => (l.to_ascii_uppercase(), String::new()),
            })
            .collect();
        Ok(())
    }
}

fn check(code: u16, text: &str, want: u16, what: &str) -> Result<String, NotifyError> {
    let ok = if want < 10 {
        code / 100 == want
    } else if want < 100 {
        code / 10 == want
    } else {
        code == want
    };
    if ok {
        Ok(text.to_string())
    } else {
        Err(retry(format!("{what}: {code} {text}")))
    }
}

/// The message as DATA sends it: lines starting with `.` doubled, CRLF line ends, the
/// terminating `.` line.
fn dot_stuff(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len() + 8);
    for line in msg.split_inclusive('\n') {
        let body = line.trim_end_matches('\n').trim_end_matches('\r');
        if body.starts_with('.') {
            out.push('.');
        }
        out.push_str(body);
        if line.ends_with('\n') {
            out.push_str("\r\n");
        }
    }
    if !out.ends_with("\r\n") {
        out.push_str("\r\n");
    }
    out.push_str(".\r\n");
    out
}

/// Go's `mime/quotedprintable.Writer` (text mode) over a whole body: lines at most 76
/// characters with `=` soft breaks, line ends written as CRLF, `=`, control and
/// non-ASCII bytes encoded, white space before a line end encoded.
pub fn quoted_printable(input: &[u8]) -> String {
    const MAX: usize = 76;
    let mut out = String::with_capacity(input.len() + input.len() / 8);
    let mut line: Vec<u8> = Vec::with_capacity(MAX + 2);
    let mut cr = false;
    fn flush(out: &mut String, line: &mut Vec<u8>) {
        // Only ASCII is ever put in `line`.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        line.clear();
    }
    fn encode(out: &mut String, line: &mut Vec<u8>, b: u8) {
        if MAX - 1 - line.len() < 3 {
            line.extend_from_slice(b"=\r\n");
            flush(out, line);
        }
        line.extend_from_slice(format!("={b:02X}").as_bytes());
    }
    fn last_space(out: &mut String, line: &mut Vec<u8>) {
        if let Some(&b) = line.last() {
            if b == b' ' || b == b'\t' {
                line.pop();
                encode(out, line, b);
            }
        }
    }
    for &b in input {
        let plain = (b'!'..=b'~').contains(&b) && b != b'=';
        let ws = b == b' ' || b == b'\t';
        if b == b'\n' || b == b'\r' {
            if cr && b == b'\n' {
                cr = false;
                continue;
            }
            cr = b == b'\r';
            last_space(&mut out, &mut line);
            line.extend_from_slice(b"\r\n");
            flush(&mut out, &mut line);
            continue;
        }
        if plain || ws {
            if line.len() == MAX - 1 {
                line.extend_from_slice(b"=\r\n");
                flush(&mut out, &mut line);
            }
            line.push(b);
            cr = false;
        } else {
            encode(&mut out, &mut line, b);
            cr = false;
        }
    }
    last_space(&mut out, &mut line);
    flush(&mut out, &mut line);
    out
}

/// `mime.QEncoding.Encode("utf-8", s)`: `s` itself when it is printable ASCII,
/// otherwise encoded-words of at most 75 characters, separated by spaces.
pub fn q_encode(s: &str) -> String {
    if !s.chars().any(|c| !(' '..='~').contains(&c) && c != '\t') {
        return s.to_string();
    }
    const PREFIX: &str = "=?utf-8?q?";
    const MAX_CONTENT: usize = 75 - PREFIX.len() - 2;
    let mut out = String::from(PREFIX);
    let mut cur = 0;
    for c in s.chars() {
        let mut enc = String::new();
        let mut buf = [0u8; 4];
        for &b in c.encode_utf8(&mut buf).as_bytes() {
            match b {
                b' ' => enc.push('_'),
                b'!'..=b'~' if b != b'=' && b != b'?' && b != b'_' => enc.push(b as char),
                b => enc.push_str(&format!("={b:02X}")),
            }
        }
        if cur + enc.len() > MAX_CONTENT {
            out.push_str("?= ");
            out.push_str(PREFIX);
            cur = 0;
        }
        out.push_str(&enc);
        cur += enc.len();
    }
    out.push_str("?=");
    out
}

/// A simplified `mail.ParseAddressList`: comma-separated `addr` or `Name <addr>`
/// (quoted names may hold commas); returns the bare addresses.
pub fn parse_address_list(s: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let (mut cur, mut quoted, mut angle) = (String::new(), false, false);
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    let mut out = Vec::new();
    for p in parts {
        let p = p.trim();
        if p.is_empty() {
            return Err("mail: no address".into());
        }
        let addr = match (p.rfind('<'), p.rfind('>')) {
            (Some(a), Some(b)) if a < b => p[a + 1..b].trim(),
            (None, None) => p,
            _ => return Err(format!("mail: unclosed angle-addr in {p:?}")),
        };
        match addr.rsplit_once('@') {
            Some((l, d))
                if !l.is_empty() && !d.is_empty() && !addr.contains(char::is_whitespace) =>
            {
                out.push(addr.to_string())
            }
            _ => return Err(format!("mail: missing @ in addr-spec {addr:?}")),
        }
    }
    Ok(out)
}

/// HMAC-MD5 (RFC 2104), what CRAM-MD5 answers with.
fn hmac_md5(key: &[u8], msg: &[u8]) -> [u8; 16] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..16].copy_from_slice(&md5::compute(key).0);
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(msg);
    let ih = md5::compute(&inner);
    let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&ih.0);
    md5::compute(&outer).0
}

fn random_bytes<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut b = [0u8; N];
    // The system RNG failing leaves zeros: the boundary or Message-Id is then merely
    // predictable, never wrong.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b
}

fn random_u64() -> u64 {
    u64::from_le_bytes(random_bytes::<8>())
}

/// A multipart boundary as Go's `multipart.Writer` makes one: 30 random bytes in hex.
fn random_boundary() -> String {
    random_bytes::<30>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The host name as Go's `os.Hostname` reads it on Linux.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Accepts any server certificate (`insecure_skip_verify: true`).
#[derive(Debug)]
struct NoVerify(Arc<tokio_rustls::rustls::crypto::CryptoProvider>);

impl tokio_rustls::rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &tokio_rustls::rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[tokio_rustls::rustls::pki_types::CertificateDer<'_>],
        _server_name: &tokio_rustls::rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: tokio_rustls::rustls::pki_types::UnixTime,
    ) -> Result<tokio_rustls::rustls::client::danger::ServerCertVerified, tokio_rustls::rustls::Error>
    {
        Ok(tokio_rustls::rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &tokio_rustls::rustls::pki_types::CertificateDer<'_>,
        dss: &tokio_rustls::rustls::DigitallySignedStruct,
    ) -> Result<
        tokio_rustls::rustls::client::danger::HandshakeSignatureValid,
        tokio_rustls::rustls::Error,
    > {
        tokio_rustls::rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &tokio_rustls::rustls::pki_types::CertificateDer<'_>,
        dss: &tokio_rustls::rustls::DigitallySignedStruct,
    ) -> Result<
        tokio_rustls::rustls::client::danger::HandshakeSignatureValid,
        tokio_rustls::rustls::Error,
    > {
        tokio_rustls::rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<tokio_rustls::rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The rustls client configuration for `tls_config` (relative files from `base`).
fn tls_client_config(
    t: &TlsConfig,
    base: &std::path::Path,
) -> Result<tokio_rustls::rustls::ClientConfig, String> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let read =
        |inline: &Option<String>, file: &Option<String>| -> Result<Option<Vec<u8>>, String> {
            match (inline, file) {
                (Some(s), _) => Ok(Some(s.clone().into_bytes())),
                (None, Some(f)) => std::fs::read(base.join(f))
                    .map(Some)
                    .map_err(|e| format!("reading {f}: {e}")),
                (None, None) => Ok(None),
            }
        };
    let mut roots = rustls::RootCertStore::empty();
    match read(&t.ca, &t.ca_file)? {
        Some(pem) => {
            for c in CertificateDer::pem_slice_iter(&pem) {
                let c = c.map_err(|e| format!("unable to use specified CA cert: {e}"))?;
                roots
                    .add(c)
                    .map_err(|e| format!("unable to use specified CA cert: {e}"))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if t.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        builder.with_root_certificates(roots)
    };
    let key = read(&t.key.as_ref().map(|k| k.expose().to_string()), &t.key_file)?;
    match (read(&t.cert, &t.cert_file)?, key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(&cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("unable to use specified client cert: {e}"))?;
            let key = PrivateKeyDer::from_pem_slice(&key)
                .map_err(|e| format!("unable to use specified client key: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("unable to use specified client cert and key: {e}"))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(_), None) => Err("client cert specified without client key".into()),
        (None, Some(_)) => Err("client key specified without client cert".into()),
    }
}

impl Integration for Email {
    fn kind(&self) -> &'static str {
        "email"
    }
    fn index(&self) -> usize {
        self.index
    }
    fn send_resolved(&self) -> bool {
        self.conf.send_resolved.unwrap_or(false)
    }
    fn notify<'a>(&'a self, data: &'a NotifyData) -> NotifyFuture<'a> {
        Box::pin(async move {
            if self.send_resolved() {
                return self.send(data).await;
            }
            match super::templates::firing_only(data) {
                Some(d) => self.send(&d).await,
                None => Ok(()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::notify::templates::tests::captured;

    fn ctx(global: &str) -> BuildContext {
        BuildContext {
            global: serde_yaml::from_str(global).unwrap(),
            base_dir: std::env::temp_dir(),
            templates: Arc::new(Templates::default()),
            client: reqwest::Client::new(),
        }
    }

    #[test]
    fn quoted_printable_as_go() {
        // From the capture: Alertmanager's text part.
        assert_eq!(
            quoted_printable("a = b é\nSource: x?y=1\n".as_bytes()),
            "a =3D b =C3=A9\r\nSource: x?y=3D1\r\n"
        );
        assert_eq!(quoted_printable(b"trailing \nx"), "trailing=20\r\nx");
        let long = "x".repeat(80);
        assert_eq!(
            quoted_printable(long.as_bytes()),
            format!("{}=\r\n{}", "x".repeat(75), "x".repeat(5))
        );
        assert_eq!(
            quoted_printable(format!("{}é", "x".repeat(74)).as_bytes()),
            format!("{}=\r\n=C3=A9", "x".repeat(74))
        );
    }

    #[test]
    fn headers_q_encoded_as_go() {
        assert_eq!(
            q_encode("Custom firing é"),
            "=?utf-8?q?Custom_firing_=C3=A9?="
        );
        assert_eq!(q_encode("[FIRING:2] DiskFull"), "[FIRING:2] DiskFull");
        let long = q_encode(&"é".repeat(30));
        assert!(long.split(' ').all(|w| w.len() <= 75), "{long}");
        assert_eq!(canonical_header("x-custom"), "X-Custom");
        assert_eq!(canonical_header("subject"), "Subject");
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address_list("ops@example.org, Two <two@example.org>").unwrap(),
            ["ops@example.org", "two@example.org"]
        );
        assert_eq!(
            parse_address_list("\"Doe, J\" <j@x.org>").unwrap(),
            ["j@x.org"]
        );
        assert!(parse_address_list("nobody").is_err());
        assert!(parse_address_list("a@b,").is_err());
    }

    #[test]
    fn cram_md5_rfc2195_example() {
        let mac = hmac_md5(
            b"tanstaaftanstaaf",
            b"<1896.697170952@postoffice.reston.mci.net>",
        );
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "b913a602c7eda7a495b4e6e7334d3890");
    }

    #[test]
    fn validation_and_global_defaults() {
        let e = |g: &str, y: &str| {
            Email::build(0, &serde_yaml::from_str(y).unwrap(), &ctx(g))
                .err()
                .unwrap()
        };
        assert_eq!(e("{}", "from: a@b"), "missing to address in email config");
        assert_eq!(e("{}", "to: a@b"), "no global SMTP smarthost set");
        assert_eq!(
            e("smtp_smarthost: 'h:25'", "to: a@b"),
            "no global SMTP from set"
        );
        assert_eq!(
            e("{}", "{to: a@b, from: c@d, smarthost: h}"),
            "address h: missing port in address"
        );
        assert_eq!(
            e(
                "{}",
                "{to: a@b, from: c@d, smarthost: 'h:25', headers: {subject: x, Subject: y}}"
            ),
            "duplicate header \"Subject\" in email config"
        );
        let m = Email::build(
            0,
            &serde_yaml::from_str("to: a@b").unwrap(),
            &ctx("{smtp_smarthost: 'h:25', smtp_from: 'x@y', smtp_require_tls: false}"),
        )
        .unwrap();
        assert!(!m.require_tls);
        assert_eq!(m.conf.hello, "localhost");
        assert!(!m.send_resolved());
    }

    /// The capture's second e-mail config: text and html parts, custom headers.
    #[test]
    fn message_matches_alertmanager_025() {
        let g = "{smtp_smarthost: '127.0.0.1:1', smtp_from: 'Alertmanager <am@example.org>', smtp_require_tls: false}";
        let cfg: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../../tests/data/alerting/am025/am.yml"))
                .unwrap();
        let entry = &cfg["receivers"][0]["email_configs"][1];
        let m = Email::build(1, entry, &ctx(g)).unwrap();
        let (msg, rcpts, from) = m.message(&captured(0), chrono::Local::now()).unwrap();
        assert_eq!(from, "am@example.org");
        assert_eq!(rcpts, ["text@example.org"]);
        let want = include_str!("../../../tests/data/alerting/am025/1.eml");
        let (got_h, got_b) = split_message(&msg);
        let (want_h, want_b) = split_message(want);
        for h in ["Subject", "X-Custom", "To", "From", "MIME-Version"] {
            assert_eq!(got_h.get(h), want_h.get(h), "header {h}");
        }
        let ct = |h: &BTreeMap<String, String>| {
            h["Content-Type"]
                .split("boundary=")
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(ct(&got_h), ct(&want_h));
        let bound = |h: &BTreeMap<String, String>| {
            h["Content-Type"]
                .split("boundary=")
                .nth(1)
                .unwrap()
                .to_string()
        };
        assert_eq!(
            got_b.replace(&bound(&got_h), "B"),
            want_b.replace(&bound(&want_h), "B")
        );
        assert!(got_h["Message-Id"].starts_with('<') && got_h["Message-Id"].ends_with('>'));
    }

    /// Headers by name and the body of a raw message.
    pub(crate) fn split_message(m: &str) -> (BTreeMap<String, String>, String) {
        let m = m.replace("\r\n", "\n");
        let (h, b) = m.split_once("\n\n").unwrap();
        let headers = h
            .lines()
            .map(|l| {
                let (k, v) = l.split_once(": ").unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        (headers, b.to_string())
    }
}
