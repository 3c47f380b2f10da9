//! Byte-preserving edits of `Sec-WebSocket-Extensions` for the chaos proxy: only the bytes
//! being removed or added change, so every other header keeps its order, casing and
//! whitespace, and whatever follows the head (early frame bytes) passes through.

use std::ops::Range;

use super::extension::{Element, parse_elements};
use super::{
    ExtensionOffer, HandshakeError, Header, MAX_HANDSHAKE_BYTES, MAX_HEADERS, SEC_EXTENSIONS,
    parse_extensions, parse_request, parse_response,
};

/// Parses `head` as a response if it starts with `HTTP/` (after the blank lines httparse
/// skips), as a request otherwise. Returns the headers and the head length.
fn parse_head(head: &[u8]) -> Result<(Vec<Header>, usize), HandshakeError> {
    let start = head
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(head.len());
    let is_response = head
        .get(start..)
        .is_some_and(|rest| rest.starts_with(b"HTTP/"));
    let parsed = if is_response {
        parse_response(head)?.map(|r| (r.headers, r.head_len))
    } else {
        parse_request(head)?.map(|r| (r.headers, r.head_len))
    };
    parsed.ok_or(HandshakeError::Incomplete)
}

fn extension_headers(headers: &[Header]) -> impl Iterator<Item = &Header> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(SEC_EXTENSIONS))
}

/// Copies `buf` without the byte ranges in `cuts`, which must not overlap.
fn without(buf: &[u8], mut cuts: Vec<Range<usize>>) -> Vec<u8> {
    cuts.sort_by_key(|r| r.start);
    let mut out = Vec::with_capacity(buf.len());
    let mut pos = 0;
    for cut in cuts {
        out.extend_from_slice(buf.get(pos..cut.start).unwrap_or_default());
        pos = pos.max(cut.end);
    }
    out.extend_from_slice(buf.get(pos..).unwrap_or_default());
    out
}

/// Where the value of `h` starts in `head`: httparse trims the whitespace after the colon
/// and allows none before it.
fn value_start(head: &[u8], h: &Header) -> Result<usize, HandshakeError> {
    let after_colon = h.line.start + h.name.len() + 1;
    let start = head
        .get(after_colon..h.line.end)
        .and_then(|rest| rest.iter().position(|&b| b != b' ' && b != b'\t'))
        .map(|ws| after_colon + ws);
    match start {
        Some(start) if head.get(start..start + h.value.len()) == Some(&h.value[..]) => Ok(start),
        _ => Err(HandshakeError::Malformed(format!(
            "cannot locate the value of header {:?}",
            h.name
        ))),
    }
}

/// What to cut from one header to drop the elements not kept.
enum Cut {
    Nothing,
    Line,
    /// Ranges relative to the value.
    Within(Vec<Range<usize>>),
}

/// A run of dropped elements goes together with the separator up to the next kept element,
/// or, at the end of the list, with the separator back to the previous kept one, so
/// `a, x, b` becomes `a, b` and `a, x` becomes `a` without stray commas or spaces.
fn cut_elements(elements: &[Element], keep: impl Fn(&ExtensionOffer) -> bool) -> Cut {
    let mut ranges = Vec::new();
    let mut prev_kept_end = None;
    let mut run: Option<Range<usize>> = None;
    for element in elements {
        if keep(&element.offer) {
            if let Some(dropped) = run.take() {
                ranges.push(dropped.start..element.span.start);
            }
            prev_kept_end = Some(element.span.end);
        } else {
            let start = run.map_or(element.span.start, |r| r.start);
            run = Some(start..element.span.end);
        }
    }
    match (run, prev_kept_end) {
        (Some(_), None) => Cut::Line,
        (Some(dropped), Some(kept_end)) => {
            ranges.push(kept_end..dropped.end);
            Cut::Within(ranges)
        }
        (None, _) if ranges.is_empty() => Cut::Nothing,
        (None, _) => Cut::Within(ranges),
    }
}

/// Removes the extension `name` (compared case-insensitively) from every
/// Sec-WebSocket-Extensions header of a complete request or response head. A header that
/// listed only that extension loses its whole line; otherwise only the element and the
/// separator joining it to a neighbour go (`a, x, b` -> `a, b`). All other bytes, including
/// any after the head, are copied unchanged. `Ok(None)` when the extension is not present.
pub fn strip_extension(head: &[u8], name: &str) -> Result<Option<Vec<u8>>, HandshakeError> {
    let (headers, _) = parse_head(head)?;
    let mut cuts = Vec::new();
    for h in extension_headers(&headers) {
        let elements = parse_elements(&h.value)?;
        match cut_elements(&elements, |offer| !offer.name.eq_ignore_ascii_case(name)) {
            Cut::Nothing => {}
            Cut::Line => cuts.push(h.line.clone()),
            Cut::Within(ranges) => {
                let base = value_start(head, h)?;
                cuts.extend(ranges.into_iter().map(|r| base + r.start..base + r.end));
            }
        }
    }
    Ok((!cuts.is_empty()).then(|| without(head, cuts)))
}

/// Removes every Sec-WebSocket-Extensions header line, whatever its content, from a complete
/// request or response head; all other bytes are unchanged. `Ok(None)` when there was none.
pub fn strip_all_extensions(head: &[u8]) -> Result<Option<Vec<u8>>, HandshakeError> {
    let (headers, _) = parse_head(head)?;
    let cuts: Vec<_> = extension_headers(&headers)
        .map(|h| h.line.clone())
        .collect();
    Ok((!cuts.is_empty()).then(|| without(head, cuts)))
}

/// Adds `Sec-WebSocket-Extensions: <ext>\r\n` immediately before the blank line ending a
/// complete request or response head; all other bytes are unchanged. Fails with
/// `BadExtensionSyntax` when `ext` does not render to a value that parses back to itself,
/// since such a value could break the head apart, and with `TooLarge` / `TooManyHeaders`
/// when the new line would take the head past [`MAX_HANDSHAKE_BYTES`] / [`MAX_HEADERS`].
pub fn inject_extension(head: &[u8], ext: &ExtensionOffer) -> Result<Vec<u8>, HandshakeError> {
    let value = ext.to_header_value();
    if parse_extensions(value.as_bytes())? != std::slice::from_ref(ext) {
        return Err(HandshakeError::BadExtensionSyntax(format!(
            "{value:?} does not parse back to the extension it renders"
        )));
    }
    let (headers, head_len) = parse_head(head)?;
    let line_len = SEC_EXTENSIONS.len() + value.len() + 4;
    // The result must still parse, so the edit may not push the head over either limit.
    if headers.len() >= MAX_HEADERS {
        return Err(HandshakeError::TooManyHeaders);
    }
    if head_len + line_len > MAX_HANDSHAKE_BYTES {
        return Err(HandshakeError::TooLarge);
    }
    // A complete head ends in its blank line, either CRLF or the bare LF httparse tolerates.
    let blank_len = if head.get(..head_len).is_some_and(|h| h.ends_with(b"\r\n")) {
        2
    } else {
        1
    };
    let at = head_len.saturating_sub(blank_len);
    let (before, after) = head
        .split_at_checked(at)
        .ok_or(HandshakeError::Incomplete)?;
    let mut out = Vec::with_capacity(head.len() + line_len);
    for part in [
        before,
        SEC_EXTENSIONS.as_bytes(),
        b": ",
        value.as_bytes(),
        b"\r\n",
        after,
    ] {
        out.extend_from_slice(part);
    }
    Ok(out)
}
