//! The echo client: a strict opening handshake done with the codec over a plain TcpStream,
//! then tungstenite for the frames, plus the loop over a check-client style server's cases.
//! A [`ClientFlaw`] relaxes one check on purpose so the checker has a known bad client.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use wschaos_codec::handshake::{
    ExtensionOffer, HandshakeError, Header, PERMESSAGE_DEFLATE, RequestBuilder, Response,
    ServerHandshake, accept_key, generate_key, parse_extensions, parse_response, validate_response,
};
use wschaos_codec::url::WsUrl;

use crate::fail::{OnError, close_healthy, echo};

/// Largest `/cases` body accepted; a case list is a few kilobytes at most.
const MAX_CASES_BODY: usize = 1024 * 1024;

/// Which check the client skips, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientFlaw {
    /// Conforming: fails the connection on any handshake or frame error.
    #[default]
    None,
    /// Proceeds when the server accepts an extension or subprotocol that was not offered.
    AcceptUnofferedExtension,
    /// Proceeds whatever the server's Sec-WebSocket-Accept says.
    AcceptAnyAccept,
    /// Drops the TCP connection on frame errors instead of sending Close.
    DropOnError,
}

#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub flaw: ClientFlaw,
    /// Offer permessage-deflate and close with 1010 when the server does not accept it.
    /// tungstenite cannot inflate, so when the server does accept it only uncompressed
    /// messages echo; a compressed one (RSV1) fails the connection with 1002.
    pub require_deflate: bool,
    /// Limit for connecting, for the handshake, and for each wait for the next message.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            flaw: ClientFlaw::None,
            require_deflate: false,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Runs the echo client against a check-client style server: GET `{base}/cases` (plain
/// HTTP/1.1 GET, response body is a JSON array of case id strings; Content-Length given),
/// then for each id connects to `{base}/case/<id>`, echoes every text/binary message until
/// the connection ends, and returns per-case outcomes (for logging only). `base` is like
/// "ws://127.0.0.1:9001". If `only` is non-empty, run just those ids.
pub async fn run_echo_client(
    base: &str,
    only: &[String],
    opts: ClientOptions,
) -> anyhow::Result<Vec<(String, String)>> {
    let base = base.trim_end_matches('/');
    // Checked on its own first so a bad base is reported as the user wrote it.
    WsUrl::parse(base)?;
    let cases_url = WsUrl::parse(&format!("{base}/cases"))?;
    let mut ids = timeout(opts.timeout, fetch_case_ids(&cases_url))
        .await
        .with_context(|| format!("no case list from {base}/cases within {:?}", opts.timeout))?
        .with_context(|| format!("fetching {base}/cases"))?;
    if !only.is_empty() {
        let unknown: Vec<&str> = only
            .iter()
            .filter(|id| !ids.contains(id))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            bail!("case ids not offered by {base}: {}", unknown.join(", "));
        }
        ids.retain(|id| only.contains(id));
    }
    let mut outcomes = Vec::with_capacity(ids.len());
    for id in ids {
        let url = format!("{base}/case/{}", encode_segment(&id));
        let outcome = match run_echo_client_once(&url, &opts).await {
            Ok(outcome) => outcome,
            Err(e) => format!("error: {e:#}"),
        };
        tracing::info!(case = %id, %outcome, "case done");
        outcomes.push((id, outcome));
    }
    Ok(outcomes)
}

/// One connection to a full ws:// URL, echoing until it ends; returns a short description
/// of how it ended. Errors are for failing to reach the server or to talk to it at all; a
/// handshake the client rejects is an outcome, not an error.
pub async fn run_echo_client_once(url: &str, opts: &ClientOptions) -> anyhow::Result<String> {
    let url = WsUrl::parse(url)?;
    if url.tls {
        bail!("{url}: the sample client speaks plain ws:// only");
    }
    let connect_to = url.authority();
    let mut tcp = timeout(opts.timeout, TcpStream::connect(&connect_to))
        .await
        .with_context(|| format!("connecting to {connect_to} timed out"))?
        .with_context(|| format!("connecting to {connect_to}"))?;
    tcp.set_nodelay(true)
        .context("setting TCP_NODELAY on the client socket")?;

    let key = generate_key(nonce());
    let offered: Vec<ExtensionOffer> = if opts.require_deflate {
        vec![ExtensionOffer::new(PERMESSAGE_DEFLATE)]
    } else {
        Vec::new()
    };
    let request = offered.iter().cloned().fold(
        RequestBuilder::new(url.host_header(), &url.path, &key),
        RequestBuilder::extension,
    );
    let mut head = Vec::new();
    let read = async {
        tcp.write_all(&request.build()).await?;
        read_head(&mut tcp, &mut head).await
    };
    let response = match timeout(opts.timeout, read).await {
        Err(_) => bail!("no handshake response within {:?}", opts.timeout),
        Ok(Err(e)) => return Err(e).context("reading the handshake response"),
        Ok(Ok(Err(reason))) => return Ok(reject(tcp, reason).await),
        Ok(Ok(Ok(response))) => response,
    };
    let accepted = match check_response(&response, &key, &offered, opts.flaw) {
        Ok(accepted) => accepted,
        Err(e) => return Ok(reject(tcp, HeadError::Invalid(e)).await),
    };
    let leftover = head.split_off(response.head_len);
    let mut ws = WebSocketStream::from_partially_read(tcp, leftover, Role::Client, None).await;

    let has_deflate = accepted
        .extensions
        .iter()
        .any(|e| e.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE));
    if opts.require_deflate && !has_deflate {
        // The handshake succeeded, so RFC 6455 section 7.4.1 has the client close with 1010
        // naming the extension it needed, rather than drop the connection.
        let outcome = close_healthy(&mut ws, CloseCode::Extension, PERMESSAGE_DEFLATE).await;
        return Ok(format!(
            "server did not accept {PERMESSAGE_DEFLATE}; {outcome}"
        ));
    }
    let on_error = match opts.flaw {
        ClientFlaw::DropOnError => OnError::Drop,
        ClientFlaw::None | ClientFlaw::AcceptUnofferedExtension | ClientFlaw::AcceptAnyAccept => {
            OnError::CloseMapped
        }
    };
    Ok(echo(&mut ws, Some(opts.timeout), on_error).await)
}

/// Fails the connection during the handshake: RFC 6455 section 4.1 has the client close
/// TCP without sending any frame.
async fn reject(mut tcp: TcpStream, reason: HeadError) -> String {
    tracing::debug!(%reason, "rejecting the handshake");
    // The socket is dropped right after, so a failed FIN changes nothing.
    let _ = tcp.shutdown().await;
    format!("handshake rejected: {reason}")
}

/// Validates the 101, telling the codec that whatever the flaw tolerates was fine.
fn check_response(
    response: &Response,
    key: &str,
    offered: &[ExtensionOffer],
    flaw: ClientFlaw,
) -> Result<ServerHandshake, HandshakeError> {
    const SEC_ACCEPT: &str = "Sec-WebSocket-Accept";
    match flaw {
        ClientFlaw::AcceptAnyAccept => {
            let mut patched = response.clone();
            patched
                .headers
                .retain(|h| !h.name.eq_ignore_ascii_case(SEC_ACCEPT));
            patched.headers.push(Header {
                name: SEC_ACCEPT.into(),
                value: accept_key(key.as_bytes()).into_bytes(),
                line: 0..0,
            });
            validate_response(&patched, key, &[], offered)
        }
        ClientFlaw::AcceptUnofferedExtension => {
            // Pretending to have offered what the server picked turns both checks off.
            let mut extensions = offered.to_vec();
            for h in response.headers_named("Sec-WebSocket-Extensions") {
                extensions.extend(parse_extensions(&h.value)?);
            }
            let protocols: Vec<String> = response
                .headers_named("Sec-WebSocket-Protocol")
                .map(|h| h.value_lossy().into_owned())
                .collect();
            validate_response(response, key, &protocols, &extensions)
        }
        ClientFlaw::None | ClientFlaw::DropOnError => {
            validate_response(response, key, &[], offered)
        }
    }
}

/// Why a response head is unusable (as opposed to an I/O failure while reading it).
#[derive(Debug)]
enum HeadError {
    Eof,
    Invalid(HandshakeError),
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Eof => f.write_str("connection closed before the response head was complete"),
            Self::Invalid(e) => e.fmt(f),
        }
    }
}

/// Reads until `buf` holds a complete response head; bytes past it stay in `buf`. The
/// codec bounds the head at 16 KiB.
async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> std::io::Result<Result<Response, HeadError>> {
    let mut chunk = [0u8; 4096];
    loop {
        match parse_response(buf) {
            Ok(Some(response)) => return Ok(Ok(response)),
            Ok(None) => {}
            Err(e) => return Ok(Err(HeadError::Invalid(e))),
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Err(HeadError::Eof));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// GET {url} as plain HTTP/1.1 and parse the body as a JSON array of strings.
async fn fetch_case_ids(url: &WsUrl) -> anyhow::Result<Vec<String>> {
    let connect_to = url.authority();
    let mut tcp = TcpStream::connect(&connect_to)
        .await
        .with_context(|| format!("connecting to {connect_to}"))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        url.path,
        url.host_header()
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut buf = Vec::new();
    let response = read_head(&mut tcp, &mut buf)
        .await?
        .map_err(|e| anyhow::anyhow!("bad response: {e}"))?;
    if response.status != 200 {
        bail!("status {} {}", response.status, response.reason);
    }
    let mut body = buf.split_off(response.head_len);
    match response.header("Content-Length") {
        Some(h) => {
            let len: usize = std::str::from_utf8(&h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .with_context(|| format!("bad Content-Length {:?}", h.value_lossy()))?;
            if len > MAX_CASES_BODY {
                bail!("case list of {len} bytes is over the {MAX_CASES_BODY}-byte limit");
            }
            if body.len() < len {
                let mut rest = vec![0u8; len - body.len()];
                tcp.read_exact(&mut rest)
                    .await
                    .context("reading the case list body")?;
                body.extend_from_slice(&rest);
            }
            body.truncate(len);
        }
        // We asked for `Connection: close`, so EOF delimits a body without a length.
        None => {
            (&mut tcp)
                .take((MAX_CASES_BODY - body.len().min(MAX_CASES_BODY)) as u64 + 1)
                .read_to_end(&mut body)
                .await?;
            if body.len() > MAX_CASES_BODY {
                bail!("case list is over the {MAX_CASES_BODY}-byte limit");
            }
        }
    }
    serde_json::from_slice(&body).context("case list is not a JSON array of strings")
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so any case id stays one
/// path segment.
fn encode_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A fresh Sec-WebSocket-Key nonce. RFC 6455 only needs it unpredictable enough that a
/// cache cannot replay an old answer, not cryptographic, so std's randomly seeded hasher
/// over the time and a counter will do.
fn nonce() -> [u8; 16] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let state = RandomState::new();
    let mut out = [0u8; 16];
    for (half, chunk) in out.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&state.hash_one((now, count, half)).to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client connects to `authority()` and sends `host_header()`; the parsing
    /// itself is the codec's and tested there.
    #[test]
    fn ws_urls_give_connect_address_and_host_header() {
        let u = WsUrl::parse("ws://127.0.0.1:9001/case/1.1").unwrap();
        assert_eq!(
            (u.host_header(), u.authority(), u.path.as_str()),
            (
                "127.0.0.1:9001".into(),
                "127.0.0.1:9001".into(),
                "/case/1.1"
            )
        );
        let u = WsUrl::parse("ws://[::1]?x=1").unwrap();
        assert_eq!(
            (u.host_header(), u.authority(), u.path.as_str()),
            ("[::1]".into(), "[::1]:80".into(), "/?x=1")
        );
        for bad in ["http://h/", "ws:///x", "ws://u@h/"] {
            assert!(WsUrl::parse(bad).is_err(), "{bad}");
        }
        // The sample client speaks plain ws:// only.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt
            .block_on(run_echo_client_once(
                "wss://127.0.0.1:1/",
                &ClientOptions::default(),
            ))
            .unwrap_err();
        assert!(e.to_string().contains("ws:// only"), "{e}");
    }

    #[test]
    fn case_ids_stay_one_segment() {
        assert_eq!(encode_segment("1.2-a_b~"), "1.2-a_b~");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
    }
}
