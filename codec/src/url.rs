//! The workspace's one `ws[s]://HOST:PORT/PATH` parser: the checker, the proxy, the
//! sample clients and the benchmark all read their targets with [`WsUrl::parse`],
//! which fails with a one-line [`UrlError`] naming the problem. Sans-IO: it only
//! splits and checks the text, it never resolves or connects.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    pub host: String,
    pub port: u16,
    /// Path and query, starting with '/'.
    pub path: String,
    /// `wss://`: the connection is made over TLS (default port 443).
    pub tls: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("bad target URL {0:?}: expected ws://HOST:PORT/PATH or wss://HOST:PORT/PATH")]
    Malformed(String),
    #[error("bad target URL {0:?}: port must be 1-65535")]
    BadPort(String),
    #[error("bad target URL {0:?}: a WebSocket URL has no #fragment (RFC 6455 section 3)")]
    Fragment(String),
    #[error("bad target URL {0:?}: control characters cannot be sent in a request")]
    Control(String),
}

impl WsUrl {
    /// The scheme is matched in any case (`WS://`). A space or a character outside
    /// ASCII in the path is percent-encoded; a control character anywhere, or a
    /// `#fragment`, is refused, since either would reach the request line.
    pub fn parse(s: &str) -> Result<WsUrl, UrlError> {
        if s.chars().any(char::is_control) {
            return Err(UrlError::Control(s.to_owned()));
        }
        if s.contains('#') {
            return Err(UrlError::Fragment(s.to_owned()));
        }
        let scheme_is = |scheme: &str| {
            s.get(..scheme.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
        };
        let (rest, tls) = if scheme_is("ws://") {
            (&s["ws://".len()..], false)
        } else if scheme_is("wss://") {
            (&s["wss://".len()..], true)
        } else {
            return Err(UrlError::Malformed(s.to_owned()));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], encode_path(&rest[i..])),
            Some(i) => (&rest[..i], format!("/{}", encode_path(&rest[i..]))),
            None => (rest, "/".to_owned()),
        };
        let (host, port) = if let Some(h) = authority.strip_prefix('[') {
            let (h, p) = h
                .split_once(']')
                .ok_or_else(|| UrlError::Malformed(s.to_owned()))?;
            (format!("[{h}]"), p.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        if host.is_empty() || host.contains(['@', ' ']) || !host.is_ascii() {
            return Err(UrlError::Malformed(s.to_owned()));
        }
        let port = match port {
            None if tls => 443,
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| UrlError::BadPort(s.to_owned()))?,
        };
        Ok(WsUrl {
            host,
            port,
            path,
            tls,
        })
    }

    /// `host:port` for connecting.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The scheme's port: 80 for ws://, 443 for wss://.
    pub fn default_port(&self) -> u16 {
        if self.tls { 443 } else { 80 }
    }

    /// The host name without IPv6 brackets: what TLS verifies and sends as SNI.
    pub fn host_name(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }

    /// The Host header value.
    pub fn host_header(&self) -> String {
        if self.port == self.default_port() {
            self.host.clone()
        } else {
            self.authority()
        }
    }
}

/// Percent-encodes what may not appear in a request target as it is: spaces, bytes
/// outside ASCII, and `"<>\^`{|}` (RFC 3986); `%` is left alone, so a path that is
/// already encoded stays as it was.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_graphic() && !b"\"<>\\^`{|}".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl fmt::Display for WsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "wss" } else { "ws" };
        write!(f, "{scheme}://{}{}", self.authority(), self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let u = WsUrl::parse("ws://127.0.0.1:9001/echo?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 9001, "/echo?x=1")
        );
        assert_eq!(WsUrl::parse("ws://localhost").unwrap().path, "/");
        assert_eq!(WsUrl::parse("ws://[::1]:80/").unwrap().host, "[::1]");
        assert!(matches!(
            WsUrl::parse("http://x/"),
            Err(UrlError::Malformed(_))
        ));
        let u = WsUrl::parse("wss://x/").unwrap();
        assert_eq!((u.tls, u.port, u.host_header()), (true, 443, "x".into()));
        assert_eq!(u.to_string(), "wss://x:443/");
        let u = WsUrl::parse("wss://[::1]:8443/a").unwrap();
        assert_eq!(
            (u.host_name(), u.host_header()),
            ("::1", "[::1]:8443".into())
        );
        assert!(!WsUrl::parse("ws://x/").unwrap().tls);
        assert_eq!(WsUrl::parse("ws://x:443/").unwrap().host_header(), "x:443");
        assert!(matches!(
            WsUrl::parse("ws://x:0/"),
            Err(UrlError::BadPort(_))
        ));
        assert!(matches!(
            WsUrl::parse("ws://x:99999/"),
            Err(UrlError::BadPort(_))
        ));
        assert!(matches!(
            WsUrl::parse("ws://:80/"),
            Err(UrlError::Malformed(_))
        ));
    }

    #[test]
    fn scheme_in_any_case_path_encoded_fragment_and_controls_refused() {
        let u = WsUrl::parse("WS://127.0.0.1:9001/a b").unwrap();
        assert_eq!(u.path, "/a%20b");
        assert_eq!(u.to_string(), "ws://127.0.0.1:9001/a%20b");
        assert_eq!(
            WsUrl::parse("Ws://x/%41?q=é").unwrap().path,
            "/%41?q=%C3%A9"
        );
        assert!(WsUrl::parse("WSS://x/").unwrap().tls);
        assert!(matches!(
            WsUrl::parse("ws://x/p?a=b#frag"),
            Err(UrlError::Fragment(_))
        ));
        for bad in ["ws://x/a\r\nX: y", "ws://x\t/", "ws://x/\u{7f}"] {
            let e = WsUrl::parse(bad).unwrap_err();
            assert!(matches!(e, UrlError::Control(_)), "{bad:?}");
            assert_eq!(e.to_string().lines().count(), 1);
        }
    }
}
