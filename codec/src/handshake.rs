//! The HTTP/1.1 WebSocket opening handshake (RFC 6455 section 4, extension syntax of RFC 6455
//! section 9.1 and RFC 7692): sans-IO parsing, validation and building of the upgrade request
//! and the 101 response with typed errors, plus the byte-preserving edits a chaos proxy needs.

use std::borrow::Cow;
use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest as _, Sha1};

mod edit;
mod extension;
mod negotiation;

pub use edit::{inject_extension, strip_all_extensions, strip_extension};
pub use extension::{
    DeflateParams, ExtensionOffer, PERMESSAGE_DEFLATE, parse_extensions, parse_token_list,
};
pub use negotiation::{DeflateProfile, check_answer, deflate_elements};

/// Largest accepted head (request/status line, headers and blank line), in bytes.
pub const MAX_HANDSHAKE_BYTES: usize = 16 * 1024;
/// Largest accepted number of header fields in one head.
pub const MAX_HEADERS: usize = 64;
/// The fixed GUID of RFC 6455 section 1.3 that `Sec-WebSocket-Accept` hashes with the key.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const HOST: &str = "Host";
const UPGRADE: &str = "Upgrade";
const CONNECTION: &str = "Connection";
const SEC_KEY: &str = "Sec-WebSocket-Key";
const SEC_VERSION: &str = "Sec-WebSocket-Version";
const SEC_ACCEPT: &str = "Sec-WebSocket-Accept";
const SEC_PROTOCOL: &str = "Sec-WebSocket-Protocol";
const SEC_EXTENSIONS: &str = "Sec-WebSocket-Extensions";

/// Everything that can be wrong with a handshake head, one variant per problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// httparse rejected the head; carries its error text.
    #[error("malformed HTTP head: {0}")]
    Malformed(String),
    #[error("handshake head exceeds {MAX_HANDSHAKE_BYTES} bytes")]
    TooLarge,
    #[error("handshake head has more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    /// An edit function was given bytes that do not hold a complete head.
    #[error("handshake head is incomplete")]
    Incomplete,
    #[error("request method {0:?} is not GET")]
    NotGet(String),
    #[error("HTTP version is not HTTP/1.1")]
    NotHttp11,
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("Upgrade header does not name websocket: {0:?}")]
    BadUpgrade(String),
    #[error("Connection header does not list upgrade: {0:?}")]
    BadConnection(String),
    #[error("missing Sec-WebSocket-Key header")]
    MissingKey,
    #[error("Sec-WebSocket-Key {0:?} is not base64 of 16 bytes")]
    BadKey(String),
    #[error("unsupported Sec-WebSocket-Version {0:?}, only 13 is supported")]
    UnsupportedVersion(String),
    #[error("handshake response status {0} is not 101")]
    BadStatus(u16),
    #[error("Sec-WebSocket-Accept mismatch: expected {expected:?}, got {got:?}")]
    BadAccept { expected: String, got: String },
    #[error("server accepted extension {0:?} that was not offered")]
    UnofferedExtension(String),
    #[error("server selected subprotocol {0:?} that was not offered")]
    UnofferedSubprotocol(String),
    #[error("bad Sec-WebSocket-Extensions syntax: {0}")]
    BadExtensionSyntax(String),
    /// A comma-separated token list (`Sec-WebSocket-Protocol`) holds a non-token element.
    #[error("bad token list: {0}")]
    BadTokenList(String),
    /// permessage-deflate parameters that RFC 7692 section 7 forbids.
    #[error("bad permessage-deflate parameters: {0}")]
    BadDeflateParam(String),
    #[error("duplicate {0} header")]
    DuplicateHeader(&'static str),
}

impl HandshakeError {
    /// The status a server answers a request failing this way with. Errors that only a
    /// response can produce (bad status, accept, unoffered extension or subprotocol) map to
    /// 400 as well, since a server never sends them.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::TooLarge | Self::TooManyHeaders => 431,
            Self::UnsupportedVersion(_) => 426,
            _ => 400,
        }
    }
}

/// One header field as it appeared in the head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    /// The field value without surrounding whitespace; may hold any non-control bytes.
    pub value: Vec<u8>,
    /// Byte range of the whole line, including its line terminator, in the parsed buffer.
    pub line: Range<usize>,
}

impl Header {
    pub fn value_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.value)
    }
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    pub headers: Vec<Header>,
    /// Bytes up to and including the blank line ending the head.
    pub head_len: usize,
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    pub headers: Vec<Header>,
    /// Bytes up to and including the blank line ending the head.
    pub head_len: usize,
}

fn named<'a>(headers: &'a [Header], name: &'a str) -> impl Iterator<Item = &'a Header> + 'a {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
}

impl Request {
    /// First header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&Header> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    }

    /// Every header with this name, compared case-insensitively, in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Header> + 'a {
        named(&self.headers, name)
    }
}

impl Response {
    /// First header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&Header> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    }

    /// Every header with this name, compared case-insensitively, in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Header> + 'a {
        named(&self.headers, name)
    }
}

/// Parses a request head from the start of `buf`. Incremental: `Ok(None)` while the head is
/// not complete (feed more bytes and call again); `Err(TooLarge)` once `buf` holds more than
/// [`MAX_HANDSHAKE_BYTES`] without a complete head. Bytes after the head are ignored.
pub fn parse_request(buf: &[u8]) -> Result<Option<Request>, HandshakeError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    let Some(head_len) = completed(req.parse(head_window(buf)), buf.len())? else {
        return Ok(None);
    };
    // httparse fills all three whenever it reports a complete head.
    let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return Err(HandshakeError::Malformed("incomplete request line".into()));
    };
    Ok(Some(Request {
        method: method.to_owned(),
        path: path.to_owned(),
        version,
        headers: convert_headers(buf, head_len, req.headers)?,
        head_len,
    }))
}

/// Parses a response head from the start of `buf`, with the same incremental contract as
/// [`parse_request`].
pub fn parse_response(buf: &[u8]) -> Result<Option<Response>, HandshakeError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut slots);
    let Some(head_len) = completed(resp.parse(head_window(buf)), buf.len())? else {
        return Ok(None);
    };
    let (Some(status), Some(version)) = (resp.code, resp.version) else {
        return Err(HandshakeError::Malformed("incomplete status line".into()));
    };
    Ok(Some(Response {
        status,
        reason: resp.reason.unwrap_or_default().to_owned(),
        version,
        headers: convert_headers(buf, head_len, resp.headers)?,
        head_len,
    }))
}

/// Parsing never looks past the size limit, so a peer trickling an endless head costs
/// bounded work per call.
fn head_window(buf: &[u8]) -> &[u8] {
    buf.get(..MAX_HANDSHAKE_BYTES).unwrap_or(buf)
}

fn completed(
    status: httparse::Result<usize>,
    buf_len: usize,
) -> Result<Option<usize>, HandshakeError> {
    match status {
        Ok(httparse::Status::Complete(head_len)) => Ok(Some(head_len)),
        Ok(httparse::Status::Partial) if buf_len > MAX_HANDSHAKE_BYTES => {
            Err(HandshakeError::TooLarge)
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::TooManyHeaders),
        Err(e) => Err(HandshakeError::Malformed(e.to_string())),
    }
}

/// Offset of `sub` inside `buf`, if `sub` really is a subslice of it.
fn offset_in(buf: &[u8], sub: &[u8]) -> Option<usize> {
    let offset = sub.as_ptr().addr().checked_sub(buf.as_ptr().addr())?;
    (offset.checked_add(sub.len())? <= buf.len()).then_some(offset)
}

fn convert_headers(
    buf: &[u8],
    head_len: usize,
    parsed: &[httparse::Header<'_>],
) -> Result<Vec<Header>, HandshakeError> {
    let outside = || HandshakeError::Malformed("header slice outside the parsed buffer".into());
    parsed
        .iter()
        .map(|h| {
            let start = offset_in(buf, h.name.as_bytes()).ok_or_else(outside)?;
            let name_end = start + h.name.len();
            // httparse hands out empty values as slices pointing at the whitespace of the
            // line, which says nothing about where the line ends; only a non-empty value is
            // a trustworthy anchor.
            let value_end = if h.value.is_empty() {
                name_end
            } else {
                let offset = offset_in(buf, h.value).ok_or_else(outside)?;
                (offset + h.value.len()).max(name_end)
            };
            let newline = buf
                .get(value_end..head_len)
                .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
                .ok_or_else(|| {
                    HandshakeError::Malformed("header line without terminator".into())
                })?;
            Ok(Header {
                name: h.name.to_owned(),
                value: h.value.to_vec(),
                line: start..value_end + newline + 1,
            })
        })
        .collect()
}

/// `base64(sha1(key ++ GUID))`, the `Sec-WebSocket-Accept` value for a key exactly as sent.
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

/// A `Sec-WebSocket-Key` from caller-supplied randomness, so this crate stays deterministic.
pub fn generate_key(nonce: [u8; 16]) -> String {
    BASE64.encode(nonce)
}

/// A request validated as a WebSocket opening handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHandshake {
    pub key: String,
    pub path: String,
    /// `None` when the Host header is present but empty, which RFC 7230 section 5.4 allows
    /// for targets without an authority.
    pub host: Option<String>,
    pub protocols: Vec<String>,
    pub extensions: Vec<ExtensionOffer>,
}

/// What the server agreed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHandshake {
    pub protocol: Option<String>,
    pub extensions: Vec<ExtensionOffer>,
}

/// The header named `name`, which must not appear more than once.
fn single<'a>(
    headers: &'a [Header],
    name: &'static str,
) -> Result<Option<&'a Header>, HandshakeError> {
    let mut found = named(headers, name);
    let first = found.next();
    if found.next().is_some() {
        return Err(HandshakeError::DuplicateHeader(name));
    }
    Ok(first)
}

/// Checks that some comma-separated element of the `name` headers equals `wanted`
/// case-insensitively. Elements are compared loosely (no token check) because `Upgrade`
/// may also list products like `h2c` or `foo/2` beside the one we care about.
fn require_element(
    headers: &[Header],
    name: &'static str,
    wanted: &str,
    bad: fn(String) -> HandshakeError,
) -> Result<(), HandshakeError> {
    let mut seen: Option<String> = None;
    for h in named(headers, name) {
        let listed = h
            .value
            .split(|&b| b == b',')
            .any(|element| extension::trim_ows(element).eq_ignore_ascii_case(wanted.as_bytes()));
        if listed {
            return Ok(());
        }
        let text = seen.get_or_insert_with(String::new);
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(&h.value_lossy());
    }
    match seen {
        None => Err(HandshakeError::MissingHeader(name)),
        Some(values) => Err(bad(values)),
    }
}

fn check_key(value: &[u8]) -> Result<String, HandshakeError> {
    let bad = || HandshakeError::BadKey(String::from_utf8_lossy(value).into_owned());
    // 16 bytes always encode to 24 characters; checking first bounds the decode work.
    if value.len() != 24 {
        return Err(bad());
    }
    match BASE64.decode(value) {
        Ok(raw) if raw.len() == 16 => String::from_utf8(value.to_vec()).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Validates `req` as an RFC 6455 section 4.1 opening handshake: GET, HTTP/1.1, exactly one
/// Host, Upgrade listing `websocket`, Connection listing `upgrade`, exactly one
/// Sec-WebSocket-Key that is base64 of 16 bytes, exactly one Sec-WebSocket-Version equal to
/// `13`, and well-formed Sec-WebSocket-Protocol / Sec-WebSocket-Extensions lists (each may
/// be split over several header lines).
pub fn validate_request(req: &Request) -> Result<ClientHandshake, HandshakeError> {
    if req.method != "GET" {
        return Err(HandshakeError::NotGet(req.method.clone()));
    }
    if req.version != 1 {
        return Err(HandshakeError::NotHttp11);
    }
    let host = single(&req.headers, HOST)?.ok_or(HandshakeError::MissingHeader(HOST))?;
    require_element(
        &req.headers,
        UPGRADE,
        "websocket",
        HandshakeError::BadUpgrade,
    )?;
    require_element(
        &req.headers,
        CONNECTION,
        "upgrade",
        HandshakeError::BadConnection,
    )?;
    let key = single(&req.headers, SEC_KEY)?.ok_or(HandshakeError::MissingKey)?;
    let key = check_key(&key.value)?;
    let version =
        single(&req.headers, SEC_VERSION)?.ok_or(HandshakeError::MissingHeader(SEC_VERSION))?;
    if version.value != b"13" {
        return Err(HandshakeError::UnsupportedVersion(
            version.value_lossy().into_owned(),
        ));
    }
    let mut protocols = Vec::new();
    for h in named(&req.headers, SEC_PROTOCOL) {
        protocols.extend(parse_token_list(&h.value)?);
    }
    let mut extensions = Vec::new();
    for h in named(&req.headers, SEC_EXTENSIONS) {
        extensions.extend(parse_extensions(&h.value)?);
    }
    Ok(ClientHandshake {
        key,
        path: req.path.clone(),
        host: (!host.value.is_empty()).then(|| host.value_lossy().into_owned()),
        protocols,
        extensions,
    })
}

/// Validates `resp` as the answer to a request that sent `key` and offered
/// `offered_protocols` / `offered_extensions` (RFC 6455 section 4.2.2 and 4.1 steps 1-6):
/// status 101, HTTP/1.1, Upgrade and Connection as for the request, exactly one
/// Sec-WebSocket-Accept equal to [`accept_key`]`(key)`, every accepted extension name
/// offered, and at most one Sec-WebSocket-Protocol that was offered verbatim.
pub fn validate_response(
    resp: &Response,
    key: &str,
    offered_protocols: &[String],
    offered_extensions: &[ExtensionOffer],
) -> Result<ServerHandshake, HandshakeError> {
    if resp.status != 101 {
        return Err(HandshakeError::BadStatus(resp.status));
    }
    if resp.version != 1 {
        return Err(HandshakeError::NotHttp11);
    }
    require_element(
        &resp.headers,
        UPGRADE,
        "websocket",
        HandshakeError::BadUpgrade,
    )?;
    require_element(
        &resp.headers,
        CONNECTION,
        "upgrade",
        HandshakeError::BadConnection,
    )?;
    let accept =
        single(&resp.headers, SEC_ACCEPT)?.ok_or(HandshakeError::MissingHeader(SEC_ACCEPT))?;
    let expected = accept_key(key.as_bytes());
    if accept.value != expected.as_bytes() {
        return Err(HandshakeError::BadAccept {
            expected,
            got: accept.value_lossy().into_owned(),
        });
    }
    let protocol = match single(&resp.headers, SEC_PROTOCOL)? {
        None => None,
        Some(h) if offered_protocols.iter().any(|p| p.as_bytes() == h.value) => {
            Some(h.value_lossy().into_owned())
        }
        Some(h) => {
            return Err(HandshakeError::UnofferedSubprotocol(
                h.value_lossy().into_owned(),
            ));
        }
    };
    let mut extensions = Vec::new();
    for h in named(&resp.headers, SEC_EXTENSIONS) {
        for ext in parse_extensions(&h.value)? {
            if !offered_extensions
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&ext.name))
            {
                return Err(HandshakeError::UnofferedExtension(ext.name));
            }
            extensions.push(ext);
        }
    }
    Ok(ServerHandshake {
        protocol,
        extensions,
    })
}

/// Builds opening handshake requests, by default valid ones; the `omit_*`, `method` and
/// `version` knobs let a checker build deliberately broken ones. Values are written as
/// given, so they must not contain CR or LF unless breaking the framing is the point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestBuilder {
    method: String,
    host: Option<String>,
    path: String,
    key: Option<String>,
    version: Option<String>,
    upgrade: bool,
    connection: bool,
    protocols: Vec<String>,
    extensions: Vec<ExtensionOffer>,
    extra_headers: Vec<(String, String)>,
}

impl RequestBuilder {
    pub fn new(host: impl Into<String>, path: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            method: "GET".into(),
            host: Some(host.into()),
            path: path.into(),
            key: Some(key.into()),
            version: Some("13".into()),
            upgrade: true,
            connection: true,
            protocols: Vec::new(),
            extensions: Vec::new(),
            extra_headers: Vec::new(),
        }
    }

    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = method.into();
        self
    }

    /// Adds one subprotocol to the Sec-WebSocket-Protocol list.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
        self
    }

    /// Adds one offer to the Sec-WebSocket-Extensions list.
    pub fn extension(mut self, ext: ExtensionOffer) -> Self {
        self.extensions.push(ext);
        self
    }

    /// Appends an arbitrary header line after the WebSocket headers.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the Sec-WebSocket-Version value (default `13`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    pub fn omit_version(mut self) -> Self {
        self.version = None;
        self
    }

    pub fn omit_key(mut self) -> Self {
        self.key = None;
        self
    }

    pub fn omit_host(mut self) -> Self {
        self.host = None;
        self
    }

    pub fn omit_upgrade(mut self) -> Self {
        self.upgrade = false;
        self
    }

    pub fn omit_connection(mut self) -> Self {
        self.connection = false;
        self
    }

    pub fn build(&self) -> Vec<u8> {
        let mut out = String::with_capacity(256);
        for part in [self.method.as_str(), " ", &self.path, " HTTP/1.1\r\n"] {
            out.push_str(part);
        }
        if let Some(host) = &self.host {
            push_header(&mut out, HOST, host);
        }
        if self.upgrade {
            push_header(&mut out, UPGRADE, "websocket");
        }
        if self.connection {
            push_header(&mut out, CONNECTION, "Upgrade");
        }
        if let Some(key) = &self.key {
            push_header(&mut out, SEC_KEY, key);
        }
        if let Some(version) = &self.version {
            push_header(&mut out, SEC_VERSION, version);
        }
        if !self.protocols.is_empty() {
            push_header(&mut out, SEC_PROTOCOL, &self.protocols.join(", "));
        }
        if !self.extensions.is_empty() {
            push_header(&mut out, SEC_EXTENSIONS, &extension_list(&self.extensions));
        }
        for (name, value) in &self.extra_headers {
            push_header(&mut out, name, value);
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

fn push_header(out: &mut String, name: &str, value: &str) {
    for part in [name, ": ", value, "\r\n"] {
        out.push_str(part);
    }
}

fn extension_list(extensions: &[ExtensionOffer]) -> String {
    extensions
        .iter()
        .map(ExtensionOffer::to_header_value)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `101 Switching Protocols` answer to a request that sent `key`, selecting `protocol`
/// and accepting `extensions` (omitted headers when `None` / empty).
pub fn build_response(key: &str, protocol: Option<&str>, extensions: &[ExtensionOffer]) -> Vec<u8> {
    let mut out = String::from("HTTP/1.1 101 Switching Protocols\r\n");
    push_header(&mut out, UPGRADE, "websocket");
    push_header(&mut out, CONNECTION, "Upgrade");
    push_header(&mut out, SEC_ACCEPT, &accept_key(key.as_bytes()));
    if let Some(protocol) = protocol {
        push_header(&mut out, SEC_PROTOCOL, protocol);
    }
    if !extensions.is_empty() {
        push_header(&mut out, SEC_EXTENSIONS, &extension_list(extensions));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// The response a server sends before closing when a request fails with `err`: status from
/// [`HandshakeError::http_status`], an empty body, and for 426 the `Sec-WebSocket-Version: 13`
/// that RFC 6455 section 4.4 asks for.
pub fn build_error_response(err: &HandshakeError) -> Vec<u8> {
    let status = err.http_status();
    let reason = match status {
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        _ => "Bad Request",
    };
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    if status == 426 {
        push_header(&mut out, SEC_VERSION, "13");
    }
    push_header(&mut out, CONNECTION, "close");
    push_header(&mut out, "Content-Length", "0");
    out.push_str("\r\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests;
