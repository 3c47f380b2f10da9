//! `ws://HOST:PORT/PATH` targets and `HOST:PORT` listen addresses, parsed into
//! what the checker needs, with one-line errors naming the problem.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    pub host: String,
    pub port: u16,
    /// Path and query, starting with '/'.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("bad target URL {0:?}: expected ws://HOST:PORT/PATH")]
    Malformed(String),
    #[error(
        "bad target URL {0:?}: wss:// (TLS) is not supported; point wschaos at the plain ws:// port"
    )]
    Tls(String),
    #[error("bad target URL {0:?}: port must be 1-65535")]
    BadPort(String),
}

impl WsUrl {
    pub fn parse(s: &str) -> Result<WsUrl, UrlError> {
        let rest = if let Some(r) = s.strip_prefix("ws://") {
            r
        } else if s.starts_with("wss://") {
            return Err(UrlError::Tls(s.to_owned()));
        } else {
            return Err(UrlError::Malformed(s.to_owned()));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
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
        if host.is_empty() || host.contains(['@', ' ']) {
            return Err(UrlError::Malformed(s.to_owned()));
        }
        let port = match port {
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| UrlError::BadPort(s.to_owned()))?,
        };
        Ok(WsUrl { host, port, path })
    }

    /// `host:port` for connecting.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The Host header value.
    pub fn host_header(&self) -> String {
        if self.port == 80 {
            self.host.clone()
        } else {
            self.authority()
        }
    }
}

impl fmt::Display for WsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ws://{}{}", self.authority(), self.path)
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
        assert!(matches!(WsUrl::parse("wss://x/"), Err(UrlError::Tls(_))));
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
}
