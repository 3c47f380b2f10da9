//! Value grammars of `Sec-WebSocket-Extensions` (RFC 6455 section 9.1) and
//! `Sec-WebSocket-Protocol`, and the permessage-deflate parameters of RFC 7692 section 7.

use std::ops::Range;

use super::HandshakeError;

/// The extension token of RFC 7692.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// One element of an extension list: an offer in a request, an acceptance in a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionOffer {
    pub name: String,
    /// Parameters in order; values are unquoted.
    pub params: Vec<(String, Option<String>)>,
}

impl ExtensionOffer {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            params: Vec::new(),
        }
    }

    /// Renders `name; param; param=value`, quoting values that are not tokens. The result
    /// only parses back if every name is a token and every value unescapes to a token, as
    /// RFC 6455 section 9.1 demands; [`super::inject_extension`] checks that.
    pub fn to_header_value(&self) -> String {
        let mut out = self.name.clone();
        for (name, value) in &self.params {
            out.push_str("; ");
            out.push_str(name);
            if let Some(value) = value {
                out.push('=');
                if is_token(value.as_bytes()) {
                    out.push_str(value);
                } else {
                    out.push('"');
                    for c in value.chars() {
                        if matches!(c, '"' | '\\') {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    out.push('"');
                }
            }
        }
        out
    }
}

/// An extension list element together with where it sits in the parsed value, so edits can
/// cut it out without touching the bytes around it.
pub(super) struct Element {
    pub(super) offer: ExtensionOffer,
    pub(super) span: Range<usize>,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| is_tchar(b))
}

/// HTAB, SP, VCHAR and obs-text: what quoted-string content and quoted-pair may hold.
fn is_text(b: u8) -> bool {
    b == b'\t' || (b >= b' ' && b != 0x7f)
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

pub(super) fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_ows(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_ows(b))
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, wanted: u8) -> bool {
        let hit = self.peek() == Some(wanted);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn skip_ows(&mut self) {
        while self.peek().is_some_and(is_ows) {
            self.pos += 1;
        }
    }

    fn fail(&self, what: &str) -> HandshakeError {
        HandshakeError::BadExtensionSyntax(format!(
            "{what} at byte {} of {:?}",
            self.pos,
            String::from_utf8_lossy(self.bytes)
        ))
    }

    fn token(&mut self, what: &str) -> Result<String, HandshakeError> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        self.bytes
            .get(start..self.pos)
            .filter(|t| !t.is_empty())
            .and_then(|t| std::str::from_utf8(t).ok())
            .map(str::to_owned)
            .ok_or_else(|| self.fail(what))
    }

    /// A quoted-string (RFC 7230 section 3.2.6) starting at the opening quote, unescaped.
    fn quoted(&mut self) -> Result<String, HandshakeError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.fail("unterminated quoted-string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b) if is_text(b) => out.push(b),
                        _ => return Err(self.fail("bad quoted-pair")),
                    }
                }
                Some(b) if is_text(b) => out.push(b),
                Some(_) => return Err(self.fail("control byte in quoted-string")),
            }
            self.pos += 1;
        }
        self.pos += 1;
        // RFC 6455 section 9.1: the unescaped value must itself be a token.
        if !is_token(&out) {
            self.pos = start;
            return Err(self.fail("quoted value is not a token"));
        }
        String::from_utf8(out).map_err(|_| self.fail("quoted value is not a token"))
    }
}

/// Parses an extension list, keeping each element's byte span in `value`.
pub(super) fn parse_elements(value: &[u8]) -> Result<Vec<Element>, HandshakeError> {
    let mut c = Cursor {
        bytes: value,
        pos: 0,
    };
    let mut elements = Vec::new();
    loop {
        c.skip_ows();
        match c.peek() {
            None => break,
            // RFC 7230 section 7: recipients accept empty list elements.
            Some(b',') => {
                c.pos += 1;
                continue;
            }
            Some(_) => {}
        }
        let start = c.pos;
        let name = c.token("expected extension name")?;
        let mut params = Vec::new();
        let mut end = c.pos;
        loop {
            c.skip_ows();
            if !c.eat(b';') {
                break;
            }
            c.skip_ows();
            let param = c.token("expected parameter name")?;
            end = c.pos;
            c.skip_ows();
            let param_value = if c.eat(b'=') {
                c.skip_ows();
                let v = if c.peek() == Some(b'"') {
                    c.quoted()?
                } else {
                    c.token("expected parameter value")?
                };
                end = c.pos;
                Some(v)
            } else {
                c.pos = end;
                None
            };
            params.push((param, param_value));
        }
        c.skip_ows();
        if !matches!(c.peek(), None | Some(b',')) {
            return Err(c.fail("expected ',' or ';'"));
        }
        elements.push(Element {
            offer: ExtensionOffer { name, params },
            span: start..end,
        });
    }
    if elements.is_empty() {
        return Err(c.fail("empty extension list"));
    }
    Ok(elements)
}

/// Parses a `Sec-WebSocket-Extensions` value: `extension-list = 1#extension`,
/// `extension = token *( OWS ";" OWS param )`, `param = token [ "=" (token / quoted-string) ]`.
/// OWS around `=` and empty list elements are tolerated; a quoted value must unescape to a
/// token, and at least one extension must be present.
pub fn parse_extensions(value: &[u8]) -> Result<Vec<ExtensionOffer>, HandshakeError> {
    Ok(parse_elements(value)?
        .into_iter()
        .map(|e| e.offer)
        .collect())
}

/// Parses a comma-separated token list such as `Sec-WebSocket-Protocol`: elements are
/// trimmed, empty ones dropped, and every other one must be a token.
pub fn parse_token_list(value: &[u8]) -> Result<Vec<String>, HandshakeError> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|element| !element.is_empty())
        .map(|element| {
            std::str::from_utf8(element)
                .ok()
                .filter(|t| is_token(t.as_bytes()))
                .map(str::to_owned)
                .ok_or_else(|| {
                    HandshakeError::BadTokenList(format!(
                        "{:?} is not a token",
                        String::from_utf8_lossy(element)
                    ))
                })
        })
        .collect()
}

/// permessage-deflate parameters (RFC 7692 section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeflateParams {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: Option<u8>,
    pub client_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// Reads the parameters of a client's offer. A bare `client_max_window_bits` (only the
    /// client's announcement that it supports the parameter) becomes `Some(15)`, which
    /// announces the same without restricting anything.
    pub fn from_offer(ext: &ExtensionOffer) -> Result<Self, HandshakeError> {
        Self::parse(ext, true)
    }

    /// Reads the parameters of a server's acceptance, where `client_max_window_bits` needs a
    /// value (RFC 7692 section 7.1.2.2).
    pub fn from_response(ext: &ExtensionOffer) -> Result<Self, HandshakeError> {
        Self::parse(ext, false)
    }

    fn parse(ext: &ExtensionOffer, bare_client_bits: bool) -> Result<Self, HandshakeError> {
        let bad = |msg: String| HandshakeError::BadDeflateParam(msg);
        if !ext.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
            return Err(bad(format!(
                "extension {:?} is not {PERMESSAGE_DEFLATE}",
                ext.name
            )));
        }
        let mut params = Self::default();
        for (name, value) in &ext.params {
            let duplicate = || bad(format!("duplicate parameter {name}"));
            let flag = |value: &Option<String>| match value {
                None => Ok(true),
                Some(v) => Err(bad(format!("{name} takes no value, got {v:?}"))),
            };
            let bits = |value: &Option<String>| match value {
                Some(v) => window_bits(v)
                    .ok_or_else(|| bad(format!("{name}={v:?} is not a window size in 8..=15"))),
                None => Err(bad(format!("{name} needs a value"))),
            };
            let name_is = |known: &str| name.eq_ignore_ascii_case(known);
            if name_is(SERVER_NO_CONTEXT_TAKEOVER) {
                if params.server_no_context_takeover {
                    return Err(duplicate());
                }
                params.server_no_context_takeover = flag(value)?;
            } else if name_is(CLIENT_NO_CONTEXT_TAKEOVER) {
                if params.client_no_context_takeover {
                    return Err(duplicate());
                }
                params.client_no_context_takeover = flag(value)?;
            } else if name_is(SERVER_MAX_WINDOW_BITS) {
                if params.server_max_window_bits.is_some() {
                    return Err(duplicate());
                }
                params.server_max_window_bits = Some(bits(value)?);
            } else if name_is(CLIENT_MAX_WINDOW_BITS) {
                if params.client_max_window_bits.is_some() {
                    return Err(duplicate());
                }
                params.client_max_window_bits = Some(match value {
                    None if bare_client_bits => 15,
                    _ => bits(value)?,
                });
            } else {
                return Err(bad(format!("unknown parameter {name}")));
            }
        }
        Ok(params)
    }

    /// The `permessage-deflate` element carrying these parameters, in RFC 7692 order; window
    /// sizes always carry their value, so the result is valid in an offer and a response.
    pub fn to_offer(&self) -> ExtensionOffer {
        let mut params = Vec::new();
        if self.server_no_context_takeover {
            params.push((SERVER_NO_CONTEXT_TAKEOVER.to_owned(), None));
        }
        if self.client_no_context_takeover {
            params.push((CLIENT_NO_CONTEXT_TAKEOVER.to_owned(), None));
        }
        if let Some(bits) = self.server_max_window_bits {
            params.push((SERVER_MAX_WINDOW_BITS.to_owned(), Some(bits.to_string())));
        }
        if let Some(bits) = self.client_max_window_bits {
            params.push((CLIENT_MAX_WINDOW_BITS.to_owned(), Some(bits.to_string())));
        }
        ExtensionOffer {
            name: PERMESSAGE_DEFLATE.to_owned(),
            params,
        }
    }
}

/// RFC 7692 section 7.1.2: `%x38-39 / "1" %x30-35`, so no leading zeros or signs.
fn window_bits(value: &str) -> Option<u8> {
    let canonical = !value.starts_with('0') && value.bytes().all(|b| b.is_ascii_digit());
    let bits: u8 = value.parse().ok().filter(|_| canonical)?;
    (8..=15).contains(&bits).then_some(bits)
}
