//! The proxy's control API (HTTP/1.1 + JSON, meant for loopback), as toxiproxy
//! users expect: list, add and remove faults at runtime, read the verdict totals,
//! and reset. Bad requests get a 4xx with a JSON `{"error": "..."}` naming the
//! problem. One request per connection; heads and bodies are bounded.
//!
//! `GET /faults` · `POST /faults` (body: a fault spec, or `{"spec": "..."}`) ·
//! `DELETE /faults/<id>` · `DELETE /faults` · `GET /verdicts` · `POST /reset`

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
    let (method, path, head_len, length) = loop {
        match parse_request(&buf) {
            Ok(Some(req)) => {
                let length = match req.header("Content-Length") {
                    None => 0,
                    Some(h) => h
                        .value_lossy()
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| "Content-Length is not a number".to_owned())?,
                };
                if length > MAX_BODY {
                    return Err(format!(
                        "body of {length} bytes is over the {MAX_BODY}-byte limit"
                    ));
                }
                break (req.method.clone(), req.path.clone(), req.head_len, length);
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
    while buf.len() < head_len + length {
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the body was complete".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok((method, path, buf[head_len..head_len + length].to_vec()))
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
