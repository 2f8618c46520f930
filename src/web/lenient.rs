//! Accepts request targets the way Go's net/http (and so Prometheus) does.
//!
//! `curl -g 'http://127.0.0.1:9090/api/v1/query?query=up{job="x"}'` sends `"` unencoded,
//! and regex matchers bring `|` and `\`. Go takes any byte above space in the request
//! target; the `http` crate under hyper rejects `"`, `<`, `>`, `\`, `` ` ``, `|` and
//! non-ASCII bytes, so hyper answered such requests with an empty 400 before the API saw
//! them. [`LenientListener`] wraps each accepted connection in [`LenientIo`], which follows
//! the HTTP/1 framing of the incoming byte stream (request line, headers, a body by
//! `Content-Length` or chunked encoding) and percent-encodes exactly those bytes in each
//! request line's target. Decoding them gives back the bytes the client sent, so handlers
//! see the same parameters as Prometheus' handlers do. Anything the rewriter does not
//! understand is passed through untouched for hyper to judge.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Longest request line or header line the rewriter buffers; longer ones are passed
/// through as they are (hyper rejects them anyway).
const MAX_LINE: usize = 1 << 20;

/// Line buffers up to this capacity are reused for the next line.
const KEPT_LINE_CAPACITY: usize = 16 << 10;

/// Longest request target hyper accepts (`u16::MAX - 1`); it answers longer ones itself
/// with an empty 414.
pub const MAX_TARGET: usize = u16::MAX as usize - 1;

/// Where a request whose target is longer than [`MAX_TARGET`] is sent instead, so that the
/// router answers its 414 (in the API's JSON shape under `/api/`): `length` is the target's
/// length, `api` whether it was an API path.
pub const URI_TOO_LONG_PATH: &str = "/-/promtui/uri-too-long";

/// Bytes a request target may carry for Go but not for the `http` crate.
fn needs_escape(b: u8) -> bool {
    matches!(
        b,
        b'"' | b'<' | b'>' | b'\\' | b'`' | b'|' | b'{' | b'}' | b'^'
    ) || b >= 0x7f
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a request (or blank lines before one).
    RequestLine,
    /// In the header block; `Content-Length` and `Transfer-Encoding: chunked` noted.
    Headers { length: u64, chunked: bool },
    /// `n` body bytes left.
    Body(u64),
    /// Expecting a chunk-size line.
    ChunkSize,
    /// `n` chunk bytes left, then the CRLF closing the chunk.
    ChunkData(u64),
    /// The line ending a chunk's data.
    ChunkEnd,
    /// Trailer lines after the last chunk, up to an empty line.
    Trailers,
    /// The stream left the framing the rewriter follows: bytes pass unchanged.
    Passthrough,
}

/// The byte-stream rewriter behind [`LenientIo`], independent of any I/O.
#[derive(Debug)]
struct Rewriter {
    state: State,
    /// The line being collected in the line-oriented states.
    line: Vec<u8>,
}

impl Default for Rewriter {
    fn default() -> Self {
        Rewriter {
            state: State::RequestLine,
            line: Vec::new(),
        }
    }
}

impl Rewriter {
    /// Consumes `input`, appending what hyper should read to `out` (possibly nothing yet:
    /// a request line is held until it is complete).
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            match self.state {
                State::Passthrough => {
                    out.extend_from_slice(input);
                    return;
                }
                State::Body(n) | State::ChunkData(n) => {
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(input.len());
                    out.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    let left = n - take as u64;
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => State::RequestLine,
                        (State::Body(_), l) => State::Body(l),
                        (_, 0) => State::ChunkEnd,
                        (_, l) => State::ChunkData(l),
                    };
                }
                _ => {
                    let (chunk, complete) = match input.iter().position(|&b| b == b'\n') {
                        Some(i) => (&input[..=i], true),
                        None => (input, false),
                    };
                    input = &input[chunk.len()..];
                    self.line.extend_from_slice(chunk);
                    if complete {
                        // Taken and given back, so one buffer serves every line.
                        let mut line = std::mem::take(&mut self.line);
                        self.end_line(&line, out);
                        // An unusually long line's buffer is not kept for the connection.
                        if line.capacity() <= KEPT_LINE_CAPACITY {
                            line.clear();
                            self.line = line;
                        }
                    } else if self.line.len() > MAX_LINE {
                        out.append(&mut self.line);
                        self.state = State::Passthrough;
                    }
                }
            }
        }
    }

    /// In a body or past the framing (no line held back): how many bytes may pass
    /// unchanged, `u64::MAX` for all.
    fn passing(&self) -> Option<u64> {
        if !self.line.is_empty() {
            return None;
        }
        match self.state {
            State::Body(n) | State::ChunkData(n) => Some(n),
            State::Passthrough => Some(u64::MAX),
            _ => None,
        }
    }

    /// Accounts for `n` bytes passed unchanged (at most what [`Rewriter::passing`] allowed).
    fn passed(&mut self, n: usize) {
        let n = n as u64;
        self.state = match self.state {
            State::Body(left) if left <= n => State::RequestLine,
            State::Body(left) => State::Body(left - n),
            State::ChunkData(left) if left <= n => State::ChunkEnd,
            State::ChunkData(left) => State::ChunkData(left - n),
            other => other,
        };
    }

    /// Handles one complete line (with its `\n`) in a line-oriented state.
    fn end_line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let text = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(line);
        match self.state {
            State::RequestLine => {
                if text.is_empty() {
                    out.extend_from_slice(line);
                    return;
                }
                rewrite_request_line(line, out);
                self.state = State::Headers {
                    length: 0,
                    chunked: false,
                };
            }
            State::Headers { length, chunked } => {
                out.extend_from_slice(line);
                if text.is_empty() {
                    self.state = if chunked {
                        State::ChunkSize
                    } else if length > 0 {
                        State::Body(length)
                    } else {
                        State::RequestLine
                    };
                    return;
                }
                let Some(colon) = text.iter().position(|&b| b == b':') else {
                    return;
                };
                let name = &text[..colon];
                let value = String::from_utf8_lossy(&text[colon + 1..]);
                let value = value.trim();
                if name.eq_ignore_ascii_case(b"content-length") {
                    match value.parse::<u64>() {
                        Ok(n) => self.state = State::Headers { length: n, chunked },
                        Err(_) => self.state = State::Passthrough,
                    }
                } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                    let is_chunked = value
                        .rsplit(',')
                        .next()
                        .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
                    if is_chunked {
                        self.state = State::Headers {
                            length,
                            chunked: true,
                        };
                    } else {
                        self.state = State::Passthrough;
                    }
                } else if name.eq_ignore_ascii_case(b"upgrade") {
                    // After a protocol switch the bytes are no longer HTTP/1.
                    self.state = State::Passthrough;
                }
            }
            State::ChunkSize => {
                out.extend_from_slice(line);
                let size = text.split(|&b| b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(size)
                    .ok()
                    .and_then(|s| u64::from_str_radix(s.trim(), 16).ok());
                self.state = match size {
                    Some(0) => State::Trailers,
                    Some(n) => State::ChunkData(n),
                    None => State::Passthrough,
                };
            }
            State::ChunkEnd => {
                out.extend_from_slice(line);
                self.state = if text.is_empty() {
                    State::ChunkSize
                } else {
                    State::Passthrough
                };
            }
            State::Trailers => {
                out.extend_from_slice(line);
                if text.is_empty() {
                    self.state = State::RequestLine;
                }
            }
            State::Body(_) | State::ChunkData(_) | State::Passthrough => {
                out.extend_from_slice(line);
            }
        }
    }
}

/// `METHOD SP target SP version`: the target with [`needs_escape`] bytes percent-encoded;
/// other shapes unchanged.
fn rewrite_request_line(line: &[u8], out: &mut Vec<u8>) {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(method), Some(target), Some(rest)) = (parts.next(), parts.next(), parts.next())
    else {
        out.extend_from_slice(line);
        return;
    };
    let start = out.len();
    out.extend_from_slice(method);
    out.push(b' ');
    let target_start = out.len();
    for &b in target {
        if needs_escape(b) {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
    let len = out.len() - target_start;
    if len > MAX_TARGET {
        let api = target.starts_with(b"/api/") || target == b"/api";
        out.truncate(start);
        out.extend_from_slice(method);
        out.extend_from_slice(
            format!(" {URI_TOO_LONG_PATH}?length={len}&api={}", u8::from(api)).as_bytes(),
        );
    }
    out.push(b' ');
    out.extend_from_slice(rest);
}

/// A connection whose incoming request lines are rewritten by [`Rewriter`].
pub struct LenientIo<T> {
    inner: T,
    rewriter: Rewriter,
    /// Rewritten bytes not yet handed to the reader, from `pos`.
    pending: Vec<u8>,
    pos: usize,
    scratch: Vec<u8>,
}

impl<T> LenientIo<T> {
    pub fn new(inner: T) -> Self {
        LenientIo {
            inner,
            rewriter: Rewriter::default(),
            pending: Vec::new(),
            pos: 0,
            scratch: vec![0; 16 << 10],
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for LenientIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.pos < this.pending.len() {
                let n = (this.pending.len() - this.pos).min(buf.remaining());
                buf.put_slice(&this.pending[this.pos..this.pos + n]);
                this.pos += n;
                if this.pos == this.pending.len() {
                    this.pending.clear();
                    this.pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            // Bodies go straight into the caller's buffer.
            if let Some(left) = this.rewriter.passing() {
                let cap = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(buf.remaining());
                let mut direct = ReadBuf::new(buf.initialize_unfilled_to(cap));
                match Pin::new(&mut this.inner).poll_read(cx, &mut direct) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => {
                        let n = direct.filled().len();
                        buf.advance(n);
                        this.rewriter.passed(n);
                        return Poll::Ready(Ok(()));
                    }
                }
            }
            let mut raw = ReadBuf::new(&mut this.scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut raw) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let n = raw.filled().len();
                    if n == 0 {
                        // End of stream: hand over a partial line held back, then EOF.
                        if this.rewriter.line.is_empty() {
                            return Poll::Ready(Ok(()));
                        }
                        this.pending.append(&mut this.rewriter.line);
                        continue;
                    }
                    this.rewriter.feed(&this.scratch[..n], &mut this.pending);
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for LenientIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A listener whose connections are [`LenientIo`].
pub struct LenientListener<L>(pub L);

impl<L: axum::serve::Listener> axum::serve::Listener for LenientListener<L> {
    type Io = LenientIo<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.0.accept().await;
        (LenientIo::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes.
    fn run(input: &[u8], step: usize) -> Vec<u8> {
        let mut r = Rewriter::default();
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            r.feed(piece, &mut out);
        }
        out
    }

    #[test]
    fn quotes_and_pipes_in_the_target_are_encoded_in_any_split() {
        let req = b"GET /api/v1/query?query=up{job=~\"a|b\"} HTTP/1.1\r\nHost: x\r\n\r\n";
        let want = b"GET /api/v1/query?query=up%7Bjob=~%22a%7Cb%22%7D HTTP/1.1\r\nHost: x\r\n\r\n";
        for step in [1, 2, 7, 1000] {
            assert_eq!(run(req, step), want.to_vec(), "step {step}");
        }
    }

    #[test]
    fn bodies_are_never_rewritten() {
        let body = "query=up{a=\"b\"}\r\nGET /\"x HTTP/1.1\r\n";
        let req = format!(
            "POST /a\"b HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}GET /c\"d HTTP/1.1\r\n\r\n",
            body.len()
        );
        let want = format!(
            "POST /a%22b HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}GET /c%22d HTTP/1.1\r\n\r\n",
            body.len()
        );
        for step in [1, 3, 4096] {
            assert_eq!(run(req.as_bytes(), step), want.as_bytes(), "step {step}");
        }
    }

    #[test]
    fn chunked_bodies_are_followed_to_the_next_request() {
        let req = b"POST /q HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\na\"b\r\n\r\n0\r\n\r\nGET /\"x HTTP/1.1\r\n\r\n";
        let want = b"POST /q HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\na\"b\r\n\r\n0\r\n\r\nGET /%22x HTTP/1.1\r\n\r\n";
        for step in [1, 5, 4096] {
            assert_eq!(run(req, step), want.to_vec(), "step {step}");
        }
    }

    #[test]
    fn over_long_targets_are_redirected_to_the_414_route() {
        let long = format!(
            "GET /api/v1/query?query={} HTTP/1.1\r\n\r\n",
            "a".repeat(70_000)
        );
        let got = String::from_utf8(run(long.as_bytes(), 4096)).unwrap();
        assert_eq!(
            got,
            format!("GET {URI_TOO_LONG_PATH}?length=70020&api=1 HTTP/1.1\r\n\r\n")
        );
        // Escaping counts: 30,000 quotes become 90,000 bytes.
        let quotes = format!("GET /x?q={} HTTP/1.1\r\n\r\n", "\"".repeat(30_000));
        let got = String::from_utf8(run(quotes.as_bytes(), 4096)).unwrap();
        assert!(
            got.starts_with(&format!("GET {URI_TOO_LONG_PATH}?length=90005&api=0 ")),
            "{got}"
        );
    }

    #[tokio::test]
    async fn the_io_wrapper_rewrites_targets_and_passes_bodies_through() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let body = "x\"y".repeat(10_000);
        let input = format!(
            "POST /a|b HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}GET /\"c HTTP/1.1\r\n\r\n",
            body.len()
        );
        let want = format!(
            "POST /a%7Cb HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}GET /%22c HTTP/1.1\r\n\r\n",
            body.len()
        );
        let (mut client, server) = tokio::io::duplex(1000);
        let writer = tokio::spawn(async move {
            for piece in input.as_bytes().chunks(777) {
                client.write_all(piece).await.unwrap();
            }
        });
        let mut io = LenientIo::new(server);
        let mut got = Vec::new();
        let mut buf = [0u8; 333];
        while got.len() < want.len() {
            let n = io.read(&mut buf).await.unwrap();
            assert!(n > 0, "early EOF after {} bytes", got.len());
            got.extend_from_slice(&buf[..n]);
        }
        writer.await.unwrap();
        assert_eq!(String::from_utf8(got).unwrap(), want);
    }

    #[test]
    fn unknown_framing_passes_through() {
        let req = b"POST /q HTTP/1.1\r\nContent-Length: x\r\n\r\n\"GET /\"x";
        assert_eq!(run(req, 3), req.to_vec());
        let odd = b"NOT-HTTP\r\n";
        assert_eq!(run(odd, 1), odd.to_vec());
    }
}
