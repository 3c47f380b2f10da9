//! The few plain HTTP/1.1 responses wschaos writes itself (the proxy's 502, the
//! control API, check-client's answers to requests that are not a case), built
//! in one place so each has a status line, a length and `Connection: close`.

/// The reason phrase for the statuses wschaos sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        502 => "Bad Gateway",
        _ => "Error",
    }
}

/// A complete response with `body`, after which the connection closes.
pub fn response(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_as_http() {
        let r = response(502, "text/plain", "upstream down\n");
        let parsed = wschaos_codec::handshake::parse_response(&r)
            .unwrap()
            .unwrap();
        assert_eq!(parsed.status, 502);
        assert_eq!(&r[parsed.head_len..], b"upstream down\n");
    }
}
