//! The proxy's control API (HTTP/1.1 + JSON, meant for loopback), as toxiproxy
//! users expect: list, create, disable and delete named proxies, list, add,
//! change and remove their faults at runtime, read the verdict totals and the
//! Prometheus metrics, and reset. Bad requests get a 4xx with a JSON
//! `{"error": "..."}` naming the problem. One request per connection; heads and
//! bodies are bounded.
//!
//! `GET /metrics` · `GET|POST /proxies` · `GET|PATCH|DELETE /proxies/NAME` ·
//! `GET|POST|DELETE /proxies/NAME/faults` · `PATCH|DELETE /proxies/NAME/faults/ID`
//! · `GET /proxies/NAME/verdicts` · and for the proxy named `default`, or the
//! only one: `GET|POST|DELETE /faults`, `PATCH|DELETE /faults/ID` · `GET
//! /verdicts` (all proxies, and each under `"proxies"`) · `POST /reset` (every
//! proxy: no faults, totals zeroed). A fault is added as a spec in the body or
//! `{"spec": "..."}`. Bodies come with `Content-Length` or
//! `Transfer-Encoding: chunked`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{info, warn};
use wschaos_codec::handshake::{MAX_HANDSHAKE_BYTES, parse_request};

use crate::proxy::config;
use crate::proxy::metrics;
use crate::proxy::server::{AddError, DEFAULT_NAME, Hub, NamedProxy};
use crate::proxy::state::FaultPatch;

const MAX_BODY: usize = 64 * 1024;

/// Serves the API on `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, hub: Arc<Hub>, mut shutdown: watch::Receiver<bool>) {
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
        let hub = hub.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(10), handle(stream, &hub)).await;
        });
    }
}

async fn handle(mut stream: TcpStream, hub: &Arc<Hub>) {
    let (status, content_type, body) = match read_request(&mut stream).await {
        Ok((method, path, _)) if method == "GET" && path_only(&path) == "/metrics" => {
            (200, metrics::CONTENT_TYPE, hub.metrics.encode())
        }
        Ok((method, path, body)) => {
            let (status, body) = route(hub, &method, &path, &body).await;
            (status, "application/json", format!("{body}\n"))
        }
        Err(e) => (
            400,
            "application/json",
            format!("{}\n", json!({ "error": e })),
        ),
    };
    let resp = crate::http::response(status, content_type, &body);
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

fn path_only(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

fn error(status: u16, message: impl std::fmt::Display) -> (u16, Value) {
    (status, json!({ "error": message.to_string() }))
}

/// Maps a request to a status and a JSON body (`GET /metrics` is served
/// before this).
pub async fn route(hub: &Arc<Hub>, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let path = path_only(path);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["verdicts"]) => {
            let mut all = json!(hub.totals());
            let per: serde_json::Map<String, Value> = hub
                .all()
                .iter()
                .map(|p| (p.name.clone(), json!(p.state.totals())))
                .collect();
            all["proxies"] = Value::Object(per);
            (200, all)
        }
        ("POST", ["reset"]) => {
            for p in hub.all() {
                p.state.reset();
            }
            (200, json!({ "reset": true }))
        }
        (_, ["faults", rest @ ..]) => match the_one(hub) {
            Ok(p) => faults(&p, method, rest, body, path),
            Err(e) => e,
        },
        ("GET", ["proxies"]) => {
            let list: Vec<Value> = hub.all().iter().map(|p| proxy_json(p)).collect();
            (200, json!({ "proxies": list }))
        }
        ("POST", ["proxies"]) => create(hub, body).await,
        (_, ["proxies", name, rest @ ..]) => {
            let Some(p) = hub.get(name) else {
                return error(404, format_args!("no proxy named {name:?}"));
            };
            match (method, rest) {
                ("GET", []) => (200, proxy_json(&p)),
                ("PATCH", []) => patch_proxy(hub, &p, body).await,
                ("DELETE", []) => {
                    hub.delete(&p.name).await;
                    info!(proxy = %p.name, "proxy deleted");
                    (200, json!({ "removed": p.name }))
                }
                ("GET", ["verdicts"]) => (200, json!(p.state.totals())),
                (_, ["faults", rest @ ..]) => faults(&p, method, rest, body, path),
                (_, [] | ["verdicts"]) => not_allowed(method, path),
                _ => error(404, format_args!("no such endpoint {path}")),
            }
        }
        (_, ["verdicts" | "reset" | "proxies" | "metrics"]) => not_allowed(method, path),
        _ => error(404, format_args!("no such endpoint {path}")),
    }
}

fn not_allowed(method: &str, path: &str) -> (u16, Value) {
    error(405, format_args!("{method} is not allowed on {path}"))
}

/// The proxy the single-proxy endpoints (`/faults`) address: the one named
/// `default`, else the only one.
fn the_one(hub: &Hub) -> Result<Arc<NamedProxy>, (u16, Value)> {
    if let Some(p) = hub.get(DEFAULT_NAME) {
        return Ok(p);
    }
    let all = hub.all();
    match all.as_slice() {
        [p] => Ok(p.clone()),
        [] => Err(error(404, "there is no proxy")),
        _ => Err(error(
            409,
            format_args!(
                "{} proxies and none named \"default\": use /proxies/NAME/faults (names: {})",
                all.len(),
                hub.names().join(", ")
            ),
        )),
    }
}

fn proxy_json(p: &NamedProxy) -> Value {
    json!({
        "name": p.name,
        "listen": p.listen().to_string(),
        "upstream": p.upstream,
        "enabled": p.enabled(),
        "seed": p.seed,
        "faults": p.state.list(),
    })
}

/// `/faults...` of one proxy; `rest` is what follows `faults` in the path.
fn faults(p: &NamedProxy, method: &str, rest: &[&str], body: &[u8], path: &str) -> (u16, Value) {
    let state = &p.state;
    match (method, rest) {
        ("GET", []) => (200, json!({ "faults": state.list() })),
        ("POST", []) => {
            let spec = match spec_from_body(body) {
                Ok(s) => s,
                Err(e) => return error(400, e),
            };
            match state.add(&spec) {
                Ok(entry) => {
                    info!(proxy = %p.name, id = entry.id, spec = %entry.spec, "fault added");
                    (201, json!(entry))
                }
                Err(e) => error(400, e),
            }
        }
        ("DELETE", []) => {
            state.clear_faults();
            (200, json!({ "faults": [] }))
        }
        (_, [id]) => {
            let Ok(id) = id.parse::<u64>() else {
                return error(400, format_args!("bad fault id {id:?}"));
            };
            match method {
                "DELETE" if state.remove(id) => (200, json!({ "removed": id })),
                "DELETE" => error(404, format_args!("no fault with id {id}")),
                "PATCH" => {
                    let patch = match patch_from_body(body) {
                        Ok(p) => p,
                        Err(e) => return error(400, e),
                    };
                    match state.update(id, &patch) {
                        Some(Ok(entry)) => {
                            info!(proxy = %p.name, id, spec = %entry.spec, "fault changed");
                            (200, json!(entry))
                        }
                        Some(Err(e)) => error(400, e),
                        None => error(404, format_args!("no fault with id {id}")),
                    }
                }
                _ => not_allowed(method, path),
            }
        }
        (_, []) => not_allowed(method, path),
        _ => error(404, format_args!("no such endpoint {path}")),
    }
}

/// `POST /proxies`: `{"name", "listen", "upstream", "faults": [...], "seed",
/// "enabled"}`; name, listen and upstream are required.
async fn create(hub: &Arc<Hub>, body: &[u8]) -> (u16, Value) {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct New {
        name: String,
        listen: String,
        upstream: String,
        #[serde(default)]
        faults: Vec<String>,
        seed: Option<u64>,
        #[serde(default = "yes")]
        enabled: bool,
    }
    fn yes() -> bool {
        true
    }
    let new: New = match serde_json::from_slice(body) {
        Ok(n) => n,
        Err(e) => return error(400, format_args!("bad proxy: {e}")),
    };
    let def = match config::check_proxy(
        &new.name,
        &new.listen,
        &new.upstream,
        &new.faults,
        new.seed,
        new.enabled,
    ) {
        Ok(def) => def,
        Err((key, e)) => return error(400, format_args!("{key}: {e}")),
    };
    match hub.add(def).await {
        Ok(p) => {
            info!(proxy = %p.name, listen = %p.listen(), "proxy created");
            (201, proxy_json(&p))
        }
        Err(e @ AddError::Taken(_)) => error(409, e),
        Err(e @ AddError::Bad(_)) => error(400, e),
    }
}

/// `PATCH /proxies/NAME`: `{"enabled": false}` closes the port and the
/// proxy's connections; `true` listens again on the same address.
async fn patch_proxy(hub: &Hub, p: &Arc<NamedProxy>, body: &[u8]) -> (u16, Value) {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Patch {
        enabled: Option<bool>,
    }
    let patch: Patch = match serde_json::from_slice(body) {
        Ok(n) => n,
        Err(e) => return error(400, format_args!("bad proxy patch: {e}")),
    };
    match patch.enabled {
        Some(false) => {
            hub.disable(p).await;
            info!(proxy = %p.name, "proxy disabled");
        }
        Some(true) => match hub.enable(p) {
            Ok(local) => info!(proxy = %p.name, %local, "proxy enabled"),
            Err(e) => return error(409, e),
        },
        None => {}
    }
    (200, proxy_json(p))
}

/// A fault change: a spec as text or `{"spec": "..."}` replaces it; any other
/// JSON object's keys are merged into it (`null` removes a key).
fn patch_from_body(body: &[u8]) -> Result<FaultPatch, String> {
    let text = std::str::from_utf8(body)
        .map_err(|_| "body is not UTF-8".to_owned())?
        .trim();
    if !text.starts_with('{') {
        return spec_from_body(body).map(FaultPatch::Spec);
    }
    let v: serde_json::Map<String, Value> =
        serde_json::from_str(text).map_err(|e| format!("body is not a JSON object: {e}"))?;
    if let Some(spec) = v.get("spec") {
        if v.len() > 1 {
            return Err("give either \"spec\" or keys to change, not both".into());
        }
        return spec
            .as_str()
            .map(|s| FaultPatch::Spec(s.to_owned()))
            .ok_or_else(|| "\"spec\" must be a string".to_owned());
    }
    if v.is_empty() {
        return Err("nothing to change: send keys such as {\"p\": \"0.5\"} or a spec".into());
    }
    let mut keys = Vec::new();
    for (k, val) in v {
        if k.is_empty() || k.contains([',', '=', ':', '@']) {
            return Err(format!("bad key {k:?}"));
        }
        let val = match val {
            Value::Null => None,
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => return Err(format!("key {k:?}: a string, a number or null")),
        };
        if val.as_deref().is_some_and(|v| v.contains([',', '=', ':'])) {
            return Err(format!("key {k:?}: the value may not contain , = or :"));
        }
        keys.push((k, val));
    }
    Ok(FaultPatch::Keys(keys))
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
