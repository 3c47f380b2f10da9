//! The proxy's control API (HTTP/1.1 + JSON, meant for loopback), as toxiproxy
//! users expect: list, add and remove faults at runtime, read the verdict totals,
//! and reset. Bad requests get a 4xx with a JSON `{"error": "..."}` naming the
//! problem. One request per connection; heads and bodies are bounded.
//!
//! `GET /faults` · `POST /faults` (body: a fault spec, or `{"spec": "..."}`) ·
//! `DELETE /faults/<id>` · `DELETE /faults` · `GET /verdicts` · `POST /reset`.
//! Bodies come with `Content-Length` or `Transfer-Encoding: chunked`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{info, warn};
use wschaos_codec::handshake::{MAX_HANDSHAKE_BYTES, parse_request};

use crate::proxy::state::ProxyState;

const MAX_BODY: usize = 64 * 1024;

/// Serves the API on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ProxyState>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            _ = shutdown.changed() => return,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    warn!("api accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(10), handle(stream, &state)).await;
        });
    }
}

async fn handle(mut stream: TcpStream, state: &ProxyState) {
    let (status, body) = match read_request(&mut stream).await {
        Ok((method, path, body)) => route(state, &method, &path, &body),
        Err(e) => (400, json!({ "error": e })),
    };
    let body = format!("{body}\n");
    let resp = crate::http::response(status, "application/json", &body);
    let _ = stream.write_all(&resp).await;
    let _ = stream.shutdown().await;
}

async fn read_request(stream: &mut TcpStream) -> Result<(String, String, Vec<u8>), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (method, path, head_len, form) = loop {
        match parse_request(&buf) {
            Ok(Some(req)) => {
                let form = body_form(
                    req.header("Content-Length").map(|h| h.value_lossy()),
                    req.header("Transfer-Encoding").map(|h| h.value_lossy()),
                )?;
                break (req.method.clone(), req.path.clone(), req.head_len, form);
            }
            Ok(None) if buf.len() <= MAX_HANDSHAKE_BYTES => {}
            Ok(None) => return Err("request head too large".into()),
            Err(e) => return Err(format!("malformed request: {e}")),
        }
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the request was complete".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    loop {
        if let Some(body) = body(form, &buf[head_len..])? {
            return Ok((method, path, body));
        }
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the body was complete".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// How a request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyForm {
    Length(usize),
    Chunked,
}

fn body_form(
    length: Option<std::borrow::Cow<'_, str>>,
    encoding: Option<std::borrow::Cow<'_, str>>,
) -> Result<BodyForm, String> {
    match (length, encoding) {
        (Some(_), Some(_)) => Err("both Content-Length and Transfer-Encoding given".into()),
        (None, Some(te)) if te.trim().eq_ignore_ascii_case("chunked") => Ok(BodyForm::Chunked),
        (None, Some(te)) => Err(format!(
            "Transfer-Encoding {:?} is not supported (only chunked)",
            te.trim()
        )),
        (Some(l), None) => {
            let length = l
                .trim()
                .parse::<usize>()
                .map_err(|_| "Content-Length is not a number".to_owned())?;
            if length > MAX_BODY {
                return Err(format!(
                    "body of {length} bytes is over the {MAX_BODY}-byte limit"
                ));
            }
            Ok(BodyForm::Length(length))
        }
        (None, None) => Ok(BodyForm::Length(0)),
    }
}

/// The body, once `bytes` (what followed the head) hold all of it; `None` while
/// more is to come. A chunked body is bounded like any other.
fn body(form: BodyForm, bytes: &[u8]) -> Result<Option<Vec<u8>>, String> {
    match form {
        BodyForm::Length(n) => Ok((bytes.len() >= n).then(|| bytes[..n].to_vec())),
        BodyForm::Chunked => {
            let mut out = Vec::new();
            let mut at = 0;
            loop {
                let Some(eol) = find_crlf(&bytes[at..]) else {
                    return if bytes.len() - at > 64 {
                        Err("chunk size line too long".into())
                    } else {
                        Ok(None)
                    };
                };
                let line = String::from_utf8_lossy(&bytes[at..at + eol]);
                let size = line.split(';').next().unwrap_or_default().trim();
                let size = usize::from_str_radix(size, 16)
                    .map_err(|_| format!("bad chunk size {size:?}"))?;
                if out.len().saturating_add(size) > MAX_BODY {
                    return Err(format!("chunked body over the {MAX_BODY}-byte limit"));
                }
                at += eol + 2;
                if size == 0 {
                    // Trailers are not used; the body ends at the empty line.
                    return match find_crlf(&bytes[at..]) {
                        Some(0) => Ok(Some(out)),
                        Some(_) => Err("trailers after a chunked body are not supported".into()),
                        None if bytes.len() - at > 2 => {
                            Err("trailers after a chunked body are not supported".into())
                        }
                        None => Ok(None),
                    };
                }
                if bytes.len() < at + size + 2 {
                    return Ok(None);
                }
                if &bytes[at + size..at + size + 2] != b"\r\n" {
                    return Err("chunk data not followed by CRLF".into());
                }
                out.extend_from_slice(&bytes[at..at + size]);
                at += size + 2;
            }
        }
    }
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

/// Maps a request to a status and a JSON body (pure, so it is tested directly).
pub fn route(
    state: &ProxyState,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, serde_json::Value) {
    let path = path.split('?').next().unwrap_or(path);
    match (method, path) {
        ("GET", "/faults") => (200, json!({ "faults": state.list() })),
        ("POST", "/faults") => {
            let spec = match spec_from_body(body) {
                Ok(s) => s,
                Err(e) => return (400, json!({ "error": e })),
            };
            match state.add(&spec) {
                Ok(entry) => {
                    info!(id = entry.id, spec = %entry.spec, "fault added");
                    (201, json!(entry))
                }
                Err(e) => (400, json!({ "error": e.to_string() })),
            }
        }
        ("DELETE", "/faults") => {
            state.clear_faults();
            (200, json!({ "faults": [] }))
        }
        ("DELETE", p) if p.starts_with("/faults/") => match p["/faults/".len()..].parse::<u64>() {
            Ok(id) if state.remove(id) => (200, json!({ "removed": id })),
            Ok(id) => (404, json!({ "error": format!("no fault with id {id}") })),
            Err(_) => (
                400,
                json!({ "error": format!("bad fault id {:?}", &p["/faults/".len()..]) }),
            ),
        },
        ("GET", "/verdicts") => (200, json!(state.totals())),
        ("POST", "/reset") => {
            state.reset();
            (200, json!({ "reset": true }))
        }
        (_, "/faults" | "/verdicts" | "/reset") => (
            405,
            json!({ "error": format!("{method} is not allowed on {path}") }),
        ),
        _ => (404, json!({ "error": format!("no such endpoint {path}") })),
    }
}

/// A body is a fault spec as text, or JSON `{"spec": "..."}`.
fn spec_from_body(body: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(body)
        .map_err(|_| "body is not UTF-8".to_owned())?
        .trim();
    if text.starts_with('{') {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("body is not valid JSON: {e}"))?;
        return v
            .get("spec")
            .and_then(|s| s.as_str())
            .map(str::to_owned)
            .ok_or_else(|| "JSON body needs a string field \"spec\"".to_owned());
    }
    if text.is_empty() {
        return Err("empty body: send a fault spec such as flip-mask@c2s:p=0.1".into());
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_read_and_bounded() {
        let form = BodyForm::Chunked;
        let whole = b"4\r\nflip\r\n5;ext=1\r\n-mask\r\n0\r\n\r\n";
        assert_eq!(body(form, whole), Ok(Some(b"flip-mask".to_vec())));
        for cut in 0..whole.len() {
            assert_eq!(body(form, &whole[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(body(form, b"zz\r\n").unwrap_err().contains("chunk size"));
        assert!(body(form, b"2\r\nabc\r\n").unwrap_err().contains("CRLF"));
        assert!(body(form, b"ffffffff\r\n").unwrap_err().contains("limit"));
        assert!(
            body(form, b"0\r\nX-T: 1\r\n\r\n")
                .unwrap_err()
                .contains("trailers")
        );
        assert!(body(form, &[b'1'; 100]).unwrap_err().contains("too long"));
        assert_eq!(
            body(BodyForm::Length(3), b"abcdef"),
            Ok(Some(b"abc".to_vec()))
        );
    }

    #[test]
    fn the_body_form_comes_from_one_header() {
        let c = |s: &'static str| Some(std::borrow::Cow::Borrowed(s));
        assert_eq!(body_form(None, c("Chunked")), Ok(BodyForm::Chunked));
        assert_eq!(body_form(c(" 12 "), None), Ok(BodyForm::Length(12)));
        assert_eq!(body_form(None, None), Ok(BodyForm::Length(0)));
        assert!(
            body_form(c("1"), c("chunked"))
                .unwrap_err()
                .contains("both")
        );
        assert!(
            body_form(None, c("gzip"))
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            body_form(c("x"), None)
                .unwrap_err()
                .contains("not a number")
        );
        assert!(body_form(c("9999999"), None).unwrap_err().contains("limit"));
    }
}
