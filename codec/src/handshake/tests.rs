use proptest::prelude::*;

use super::*;

/// RFC 6455 section 1.3.
const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\n\
    Host: server.example.com\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Origin: http://example.com\r\n\
    Sec-WebSocket-Protocol: chat, superchat\r\n\
    Sec-WebSocket-Version: 13\r\n\
    \r\n";

const RFC_RESPONSE: &str = "HTTP/1.1 101 Switching Protocols\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
    Sec-WebSocket-Protocol: chat\r\n\
    \r\n";

const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn request(text: &str) -> Request {
    match parse_request(text.as_bytes()) {
        Ok(Some(req)) => req,
        other => panic!("expected a complete request, got {other:?}"),
    }
}

fn response(text: &str) -> Response {
    match parse_response(text.as_bytes()) {
        Ok(Some(resp)) => resp,
        other => panic!("expected a complete response, got {other:?}"),
    }
}

fn validate_text(text: &str) -> Result<ClientHandshake, HandshakeError> {
    parse_request(text.as_bytes())?
        .ok_or(HandshakeError::Incomplete)
        .and_then(|req| validate_request(&req))
}

fn validate_resp_text(text: &str) -> Result<ServerHandshake, HandshakeError> {
    let resp = parse_response(text.as_bytes())?.ok_or(HandshakeError::Incomplete)?;
    validate_response(
        &resp,
        RFC_KEY,
        &strings(&["chat", "superchat"]),
        &[ExtensionOffer::new("permessage-deflate")],
    )
}

/// Every header line range sits inside the head, starts with the name, ends with its LF,
/// and lines follow each other without overlap.
fn assert_lines(buf: &[u8], headers: &[Header], head_len: usize) {
    let mut prev_end = 0;
    for h in headers {
        assert!(h.line.start >= prev_end && h.line.end <= head_len, "{h:?}");
        let line = &buf[h.line.clone()];
        assert!(line.starts_with(h.name.as_bytes()), "{h:?}");
        assert_eq!(line.last(), Some(&b'\n'), "{h:?}");
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "{h:?}");
        prev_end = h.line.end;
    }
}

fn deflate_offer() -> ExtensionOffer {
    ExtensionOffer {
        name: "permessage-deflate".into(),
        params: vec![("client_max_window_bits".into(), None)],
    }
}

#[test]
fn rfc_example_request_parses_and_validates() {
    let req = request(RFC_REQUEST);
    assert_eq!(req.method, "GET");
    assert_eq!(req.path, "/chat");
    assert_eq!(req.version, 1);
    assert_eq!(req.head_len, RFC_REQUEST.len());
    assert_eq!(req.headers.len(), 7);
    assert_lines(RFC_REQUEST.as_bytes(), &req.headers, req.head_len);
    let origin = req.header("ORIGIN").map(|h| h.value.clone());
    assert_eq!(origin, Some(b"http://example.com".to_vec()));
    let key_line = req.header("sec-websocket-key").map(|h| h.line.clone());
    let key_line = key_line.map(|r| &RFC_REQUEST[r]);
    assert_eq!(
        key_line,
        Some("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
    );
    assert_eq!(req.headers_named("connection").count(), 1);

    let hs = validate_request(&req).unwrap();
    assert_eq!(
        hs,
        ClientHandshake {
            key: RFC_KEY.into(),
            path: "/chat".into(),
            host: Some("server.example.com".into()),
            protocols: strings(&["chat", "superchat"]),
            extensions: vec![],
        }
    );
}

#[test]
fn rfc_example_response_parses_and_validates() {
    let resp = response(RFC_RESPONSE);
    assert_eq!(
        (resp.status, resp.reason.as_str()),
        (101, "Switching Protocols")
    );
    assert_eq!(resp.head_len, RFC_RESPONSE.len());
    assert_lines(RFC_RESPONSE.as_bytes(), &resp.headers, resp.head_len);
    let hs = validate_resp_text(RFC_RESPONSE).unwrap();
    assert_eq!(hs.protocol.as_deref(), Some("chat"));
    assert!(hs.extensions.is_empty());
}

#[test]
fn accept_key_matches_rfc_example() {
    // The value printed in RFC 6455 section 1.3 (and what `openssl sha1 | base64` gives).
    assert_eq!(
        accept_key(RFC_KEY.as_bytes()),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    assert_eq!(generate_key(*b"the sample nonce"), RFC_KEY);
}

#[test]
fn header_values_may_be_non_utf8_and_lines_keep_bare_lf() {
    let buf = b"GET / HTTP/1.1\nHost: a\nX-Bin: \xff\xfe ok \n\n";
    let req = parse_request(buf).unwrap().unwrap();
    assert_eq!(req.head_len, buf.len());
    assert_lines(buf, &req.headers, req.head_len);
    let bin = req.header("x-bin").unwrap();
    assert_eq!(bin.value, b"\xff\xfe ok");
    assert_eq!(&buf[bin.line.clone()], b"X-Bin: \xff\xfe ok \n");
}

#[test]
fn empty_header_value_line_is_exact() {
    let text = "GET / HTTP/1.1\r\nX-Empty:\r\nX-Blank:   \r\nHost: h\r\n\r\n";
    let req = request(text);
    assert_lines(text.as_bytes(), &req.headers, req.head_len);
    let lines: Vec<&str> = req.headers.iter().map(|h| &text[h.line.clone()]).collect();
    assert_eq!(lines, ["X-Empty:\r\n", "X-Blank:   \r\n", "Host: h\r\n"]);
}

/// Position of each variant in declaration order; exhaustive so a new variant fails to
/// compile here until the coverage test triggers it.
fn variant_index(err: &HandshakeError) -> usize {
    use HandshakeError as E;
    match err {
        E::Malformed(_) => 0,
        E::TooLarge => 1,
        E::TooManyHeaders => 2,
        E::Incomplete => 3,
        E::NotGet(_) => 4,
        E::NotHttp11 => 5,
        E::MissingHeader(_) => 6,
        E::BadUpgrade(_) => 7,
        E::BadConnection(_) => 8,
        E::MissingKey => 9,
        E::BadKey(_) => 10,
        E::UnsupportedVersion(_) => 11,
        E::BadStatus(_) => 12,
        E::BadAccept { .. } => 13,
        E::UnofferedExtension(_) => 14,
        E::UnofferedSubprotocol(_) => 15,
        E::BadExtensionSyntax(_) => 16,
        E::BadTokenList(_) => 17,
        E::BadDeflateParam(_) => 18,
        E::DuplicateHeader(_) => 19,
    }
}
const VARIANTS: usize = 20;

fn request_error(text: &str) -> HandshakeError {
    validate_text(text).expect_err(text)
}

fn rfc_request_with(from: &str, to: &str) -> HandshakeError {
    assert!(RFC_REQUEST.contains(from), "{from}");
    request_error(&RFC_REQUEST.replacen(from, to, 1))
}

fn rfc_response_with(from: &str, to: &str) -> HandshakeError {
    assert!(RFC_RESPONSE.contains(from), "{from}");
    validate_resp_text(&RFC_RESPONSE.replacen(from, to, 1)).expect_err(to)
}

fn every_variant() -> Vec<HandshakeError> {
    use HandshakeError as E;
    let many_headers = format!(
        "GET / HTTP/1.1\r\n{}\r\n",
        "X: y\r\n".repeat(MAX_HEADERS + 1)
    );
    let huge = format!(
        "GET / HTTP/1.1\r\nX: {}\r\n\r\n",
        "a".repeat(MAX_HANDSHAKE_BYTES)
    );
    let cases: Vec<(HandshakeError, HandshakeError)> = vec![
        (
            request_error("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"),
            E::Malformed("invalid header name".into()),
        ),
        (request_error(&huge), E::TooLarge),
        (request_error(&many_headers), E::TooManyHeaders),
        (
            strip_all_extensions(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap_err(),
            E::Incomplete,
        ),
        (rfc_request_with("GET", "POST"), E::NotGet("POST".into())),
        (rfc_request_with("HTTP/1.1", "HTTP/1.0"), E::NotHttp11),
        (
            rfc_request_with("Host: server.example.com\r\n", ""),
            E::MissingHeader("Host"),
        ),
        (
            rfc_request_with("Upgrade: websocket", "Upgrade: h2c"),
            E::BadUpgrade("h2c".into()),
        ),
        (
            rfc_request_with("Connection: Upgrade", "Connection: keep-alive"),
            E::BadConnection("keep-alive".into()),
        ),
        (
            rfc_request_with("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
            E::MissingKey,
        ),
        (
            rfc_request_with(RFC_KEY, "dGhlIHNhbXBsZSBub25jZQ"),
            E::BadKey("dGhlIHNhbXBsZSBub25jZQ".into()),
        ),
        (
            rfc_request_with("Version: 13", "Version: 8"),
            E::UnsupportedVersion("8".into()),
        ),
        (rfc_response_with("101", "200"), E::BadStatus(200)),
        (
            rfc_response_with("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "AAAA"),
            E::BadAccept {
                expected: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(),
                got: "AAAA".into(),
            },
        ),
        (
            rfc_response_with(
                "\r\n\r\n",
                "\r\nSec-WebSocket-Extensions: x-webkit-deflate-frame\r\n\r\n",
            ),
            E::UnofferedExtension("x-webkit-deflate-frame".into()),
        ),
        (
            rfc_response_with("Protocol: chat", "Protocol: mqtt"),
            E::UnofferedSubprotocol("mqtt".into()),
        ),
        (
            rfc_request_with("\r\n\r\n", "\r\nSec-WebSocket-Extensions: ;x\r\n\r\n"),
            E::BadExtensionSyntax("expected extension name at byte 0 of \";x\"".into()),
        ),
        (
            rfc_request_with("chat, superchat", "chat, super chat"),
            E::BadTokenList("\"super chat\" is not a token".into()),
        ),
        (
            DeflateParams::from_offer(&ExtensionOffer::new("x-webkit-deflate-frame")).unwrap_err(),
            E::BadDeflateParam(
                "extension \"x-webkit-deflate-frame\" is not permessage-deflate".into(),
            ),
        ),
        (
            rfc_request_with(
                RFC_KEY,
                "AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==",
            ),
            E::DuplicateHeader("Sec-WebSocket-Key"),
        ),
    ];
    cases
        .into_iter()
        .map(|(got, want)| {
            assert_eq!(got, want);
            got
        })
        .collect()
}

#[test]
fn every_error_variant_has_a_concrete_trigger() {
    let mut seen = [false; VARIANTS];
    for err in every_variant() {
        seen[variant_index(&err)] = true;
        let msg = err.to_string();
        assert!(!msg.is_empty() && !msg.contains('\n'), "{msg:?}");
    }
    let missing: Vec<usize> = (0..VARIANTS).filter(|&i| !seen[i]).collect();
    assert!(missing.is_empty(), "variants never triggered: {missing:?}");
}

#[test]
fn more_request_rejections() {
    use HandshakeError as E;
    let cases = [
        (
            rfc_request_with("Upgrade: websocket\r\n", ""),
            E::MissingHeader("Upgrade"),
        ),
        (
            rfc_request_with("Connection: Upgrade\r\n", ""),
            E::MissingHeader("Connection"),
        ),
        (
            rfc_request_with("Sec-WebSocket-Version: 13\r\n", ""),
            E::MissingHeader("Sec-WebSocket-Version"),
        ),
        (
            rfc_request_with("Version: 13", "Version: 13\r\nSec-WebSocket-Version: 13"),
            E::DuplicateHeader("Sec-WebSocket-Version"),
        ),
        (
            rfc_request_with("Host: server.example.com", "Host: a\r\nhost: b"),
            E::DuplicateHeader("Host"),
        ),
        (
            rfc_request_with("Version: 13", "Version: 13, 8"),
            E::UnsupportedVersion("13, 8".into()),
        ),
        // 17 bytes of payload.
        (
            rfc_request_with(RFC_KEY, "dGhlIHNhbXBsZSBub25jZSE="),
            E::BadKey("dGhlIHNhbXBsZSBub25jZSE=".into()),
        ),
        // Non-canonical trailing bits are not base64 that an encoder would produce.
        (
            rfc_request_with(RFC_KEY, "dGhlIHNhbXBsZSBub25jZR=="),
            E::BadKey("dGhlIHNhbXBsZSBub25jZR==".into()),
        ),
        (rfc_request_with("GET", "get"), E::NotGet("get".into())),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

#[test]
fn lenient_but_valid_request_forms_are_accepted() {
    let text = "GET /x HTTP/1.1\r\n\
        host: h:8080\r\n\
        upgrade: h2c, WebSocket\r\n\
        connection: keep-alive,  UPGRADE \r\n\
        sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        sec-websocket-version: 13\r\n\
        Sec-WebSocket-Protocol: a,, b\r\n\
        Sec-WebSocket-Protocol: c\r\n\
        Sec-WebSocket-Extensions: foo, bar; x=1\r\n\
        Sec-WebSocket-Extensions: baz\r\n\
        \r\n";
    let hs = validate_text(text).unwrap();
    assert_eq!(hs.host.as_deref(), Some("h:8080"));
    assert_eq!(hs.protocols, strings(&["a", "b", "c"]));
    let names: Vec<&str> = hs.extensions.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["foo", "bar", "baz"]);
    let empty_host = validate_text(&RFC_REQUEST.replace("server.example.com", "")).unwrap();
    assert_eq!(empty_host.host, None);
}

#[test]
fn http_status_per_error_class() {
    use HandshakeError as E;
    assert_eq!(E::TooLarge.http_status(), 431);
    assert_eq!(E::TooManyHeaders.http_status(), 431);
    assert_eq!(E::UnsupportedVersion("8".into()).http_status(), 426);
    for err in every_variant() {
        let want = match err {
            E::TooLarge | E::TooManyHeaders => 431,
            E::UnsupportedVersion(_) => 426,
            _ => 400,
        };
        assert_eq!(err.http_status(), want, "{err:?}");
    }
    assert_eq!(E::MissingKey.http_status(), 400);
    assert_eq!(E::NotGet("POST".into()).http_status(), 400);
}

#[test]
fn error_responses_parse_and_carry_the_status() {
    use HandshakeError as E;
    for (err, status, reason) in [
        (E::MissingKey, 400, "Bad Request"),
        (E::UnsupportedVersion("8".into()), 426, "Upgrade Required"),
        (E::TooLarge, 431, "Request Header Fields Too Large"),
    ] {
        let bytes = build_error_response(&err);
        let resp = parse_response(&bytes).unwrap().unwrap();
        assert_eq!((resp.status, resp.reason.as_str()), (status, reason));
        assert_eq!(resp.head_len, bytes.len());
        assert_eq!(resp.header("content-length").unwrap().value, b"0");
        assert_eq!(resp.header("connection").unwrap().value, b"close");
        let version = resp
            .header("Sec-WebSocket-Version")
            .map(|h| h.value.clone());
        assert_eq!(version, (status == 426).then(|| b"13".to_vec()));
    }
}

#[test]
fn every_strict_prefix_is_incomplete() {
    for text in [RFC_REQUEST, RFC_RESPONSE] {
        let bytes = text.as_bytes();
        for end in 0..bytes.len() {
            let prefix = &bytes[..end];
            if text == RFC_REQUEST {
                assert_eq!(parse_request(prefix), Ok(None), "prefix of {end} bytes");
            } else {
                assert_eq!(parse_response(prefix), Ok(None), "prefix of {end} bytes");
            }
        }
    }
    assert_eq!(request(RFC_REQUEST).head_len, RFC_REQUEST.len());
    assert_eq!(response(RFC_RESPONSE).head_len, RFC_RESPONSE.len());
}

#[test]
fn bytes_after_the_head_are_not_part_of_it() {
    let mut buf = RFC_REQUEST.as_bytes().to_vec();
    buf.extend_from_slice(&[0x81, 0x85, 1, 2, 3, 4, b'h']);
    let req = parse_request(&buf).unwrap().unwrap();
    assert_eq!(req.head_len, RFC_REQUEST.len());
}

#[test]
fn size_limit_applies_only_without_a_complete_head() {
    let mut buf = b"GET / HTTP/1.1\r\nX: ".to_vec();
    buf.resize(MAX_HANDSHAKE_BYTES, b'a');
    assert_eq!(parse_request(&buf), Ok(None));
    buf.push(b'a');
    assert_eq!(parse_request(&buf), Err(HandshakeError::TooLarge));
    let mut resp = b"HTTP/1.1 101 Switching Protocols\r\nX: ".to_vec();
    resp.resize(MAX_HANDSHAKE_BYTES + 1, b'a');
    assert_eq!(parse_response(&resp), Err(HandshakeError::TooLarge));

    // A complete head within the limit parses however much data follows it.
    let mut long = RFC_REQUEST.as_bytes().to_vec();
    long.resize(MAX_HANDSHAKE_BYTES * 2, 0);
    assert_eq!(
        parse_request(&long).unwrap().unwrap().head_len,
        RFC_REQUEST.len()
    );

    // A head of exactly the limit is accepted.
    let filler = MAX_HANDSHAKE_BYTES - "GET / HTTP/1.1\r\nX: \r\n\r\n".len();
    let exact = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(filler));
    assert_eq!(request(&exact).head_len, MAX_HANDSHAKE_BYTES);
}

#[test]
fn header_count_limit_is_inclusive() {
    let ok = format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(MAX_HEADERS));
    assert_eq!(request(&ok).headers.len(), MAX_HEADERS);
}

#[test]
fn parses_extension_lists() {
    let offers =
        parse_extensions(b"permessage-deflate; client_max_window_bits, x-webkit-deflate-frame")
            .unwrap();
    assert_eq!(
        offers,
        [
            deflate_offer(),
            ExtensionOffer::new("x-webkit-deflate-frame")
        ]
    );

    let quoted = parse_extensions(br#"foo; a="bar"; b = "b\az" ;c=1 , ,bar"#).unwrap();
    assert_eq!(
        quoted,
        [
            ExtensionOffer {
                name: "foo".into(),
                params: vec![
                    ("a".into(), Some("bar".into())),
                    ("b".into(), Some("baz".into())),
                    ("c".into(), Some("1".into())),
                ],
            },
            ExtensionOffer::new("bar"),
        ]
    );
    let spaced = parse_extensions(b" ,\ta\t;\tb , ").unwrap();
    assert_eq!(
        spaced,
        [ExtensionOffer {
            name: "a".into(),
            params: vec![("b".into(), None)],
        }]
    );
}

#[test]
fn rejects_bad_extension_syntax() {
    let bad: [&[u8]; 16] = [
        b"",
        b" , ,",
        b";",
        b"a;",
        b"a; ",
        b"a;;b",
        b"a; =1",
        b"a b",
        b"a; b=",
        b"a; b=1 2",
        b"a; b=\"unterminated",
        b"a; b=\"sp ace\"",
        b"a; b=\"\"",
        b"a; b=\"x\\\x01\"",
        b"a\x01",
        b"a; b=\"x\"y",
    ];
    for value in bad {
        let err = parse_extensions(value).expect_err(&String::from_utf8_lossy(value));
        assert!(
            matches!(err, HandshakeError::BadExtensionSyntax(_)),
            "{err:?}"
        );
    }
}

#[test]
fn token_lists() {
    assert_eq!(
        parse_token_list(b" chat ,, superchat,").unwrap(),
        strings(&["chat", "superchat"])
    );
    assert_eq!(parse_token_list(b"").unwrap(), Vec::<String>::new());
    for bad in [&b"a b"[..], b"a, \"b\"", b"x/1", b"\xff"] {
        let err = parse_token_list(bad).unwrap_err();
        assert!(matches!(err, HandshakeError::BadTokenList(_)), "{err:?}");
    }
}

#[test]
fn extension_values_render_and_round_trip() {
    let offer = ExtensionOffer {
        name: "permessage-deflate".into(),
        params: vec![
            ("client_max_window_bits".into(), None),
            ("server_max_window_bits".into(), Some("10".into())),
        ],
    };
    let value = offer.to_header_value();
    assert_eq!(
        value,
        "permessage-deflate; client_max_window_bits; server_max_window_bits=10"
    );
    assert_eq!(parse_extensions(value.as_bytes()).unwrap(), [offer]);
    let odd = ExtensionOffer {
        name: "x".into(),
        params: vec![("q".into(), Some("a \"b\\".into()))],
    };
    assert_eq!(odd.to_header_value(), r#"x; q="a \"b\\""#);
}

#[test]
fn deflate_params_from_offers() {
    let offer = ExtensionOffer {
        name: "PerMessage-Deflate".into(),
        params: vec![
            ("server_no_context_takeover".into(), None),
            ("client_no_context_takeover".into(), None),
            ("server_max_window_bits".into(), Some("8".into())),
            ("client_max_window_bits".into(), Some("15".into())),
        ],
    };
    let params = DeflateParams::from_offer(&offer).unwrap();
    assert_eq!(
        params,
        DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(8),
            client_max_window_bits: Some(15),
        }
    );
    assert_eq!(DeflateParams::from_offer(&params.to_offer()), Ok(params));
    assert_eq!(DeflateParams::from_response(&params.to_offer()), Ok(params));
    let bare = DeflateParams::from_offer(&deflate_offer()).unwrap();
    assert_eq!(bare.client_max_window_bits, Some(15));
    assert_eq!(
        DeflateParams::from_offer(&ExtensionOffer::new("permessage-deflate")),
        Ok(DeflateParams::default())
    );
    assert_eq!(
        DeflateParams::default().to_offer().to_header_value(),
        "permessage-deflate"
    );
}

#[test]
fn deflate_params_reject_invalid_offers() {
    let with = |params: &[(&str, Option<&str>)]| ExtensionOffer {
        name: "permessage-deflate".into(),
        params: params
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.map(str::to_owned)))
            .collect(),
    };
    let bad = [
        with(&[("server_max_window_bits", Some("7"))]),
        with(&[("server_max_window_bits", Some("16"))]),
        with(&[("client_max_window_bits", Some("08"))]),
        with(&[("client_max_window_bits", Some("+9"))]),
        with(&[("server_max_window_bits", None)]),
        with(&[("server_no_context_takeover", Some("1"))]),
        with(&[
            ("client_no_context_takeover", None),
            ("client_no_context_takeover", None),
        ]),
        with(&[
            ("server_no_context_takeover", None),
            ("server_no_context_takeover", None),
        ]),
        with(&[
            ("server_max_window_bits", Some("9")),
            ("server_max_window_bits", Some("9")),
        ]),
        with(&[
            ("client_max_window_bits", None),
            ("client_max_window_bits", Some("9")),
        ]),
        with(&[("mystery", None)]),
    ];
    for offer in bad {
        let err = DeflateParams::from_offer(&offer).unwrap_err();
        assert!(
            matches!(err, HandshakeError::BadDeflateParam(_)),
            "{offer:?}: {err:?}"
        );
    }
    let err = DeflateParams::from_response(&deflate_offer()).unwrap_err();
    assert!(matches!(err, HandshakeError::BadDeflateParam(_)), "{err:?}");
}

fn with_extension_line(line: &str) -> String {
    RFC_REQUEST.replacen(
        "Sec-WebSocket-Version",
        &format!("{line}\r\nSec-WebSocket-Version"),
        1,
    )
}

#[test]
fn stripping_the_only_extension_removes_exactly_its_line() {
    let line = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits";
    let head = with_extension_line(line);
    let stripped = strip_extension(head.as_bytes(), "PERMESSAGE-DEFLATE")
        .unwrap()
        .unwrap();
    assert_eq!(stripped, RFC_REQUEST.as_bytes());
    assert_eq!(
        strip_all_extensions(head.as_bytes()).unwrap().unwrap(),
        RFC_REQUEST.as_bytes()
    );
}

#[test]
fn stripping_one_of_two_keeps_the_other_element_and_all_other_bytes() {
    let head = with_extension_line(
        "sec-websocket-EXTENSIONS:  permessage-deflate; client_max_window_bits, x-webkit-deflate-frame ",
    );
    let first = strip_extension(head.as_bytes(), "permessage-deflate")
        .unwrap()
        .unwrap();
    let want = with_extension_line("sec-websocket-EXTENSIONS:  x-webkit-deflate-frame ");
    assert_eq!(String::from_utf8(first).unwrap(), want);

    let last = strip_extension(head.as_bytes(), "x-webkit-deflate-frame")
        .unwrap()
        .unwrap();
    let want = with_extension_line(
        "sec-websocket-EXTENSIONS:  permessage-deflate; client_max_window_bits ",
    );
    assert_eq!(String::from_utf8(last).unwrap(), want);

    let middle = with_extension_line("Sec-WebSocket-Extensions: a, x;p=\"1\" , b,x");
    let stripped = strip_extension(middle.as_bytes(), "x").unwrap().unwrap();
    assert_eq!(
        String::from_utf8(stripped).unwrap(),
        with_extension_line("Sec-WebSocket-Extensions: a, b")
    );
}

#[test]
fn stripping_touches_every_extension_header() {
    let head = with_extension_line(
        "Sec-WebSocket-Extensions: x\r\nX-Other: x\r\nSec-WebSocket-Extensions: y, x",
    );
    let stripped = strip_extension(head.as_bytes(), "x").unwrap().unwrap();
    let want = with_extension_line("X-Other: x\r\nSec-WebSocket-Extensions: y");
    assert_eq!(String::from_utf8(stripped).unwrap(), want);
    let all = strip_all_extensions(head.as_bytes()).unwrap().unwrap();
    assert_eq!(
        String::from_utf8(all).unwrap(),
        with_extension_line("X-Other: x")
    );
}

#[test]
fn stripping_keeps_bytes_after_the_head() {
    let frame = [0x81u8, 0x02, b'h', b'i', 0x00, 0xff];
    let head = RFC_RESPONSE.replace(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
    );
    let mut buf = head.clone().into_bytes();
    buf.extend_from_slice(&frame);
    let stripped = strip_extension(&buf, "permessage-deflate")
        .unwrap()
        .unwrap();
    let mut want = RFC_RESPONSE.as_bytes().to_vec();
    want.extend_from_slice(&frame);
    assert_eq!(stripped, want);

    let injected = inject_extension(&want, &ExtensionOffer::new("permessage-deflate")).unwrap();
    assert_eq!(injected, buf);
}

#[test]
fn stripping_handles_bare_lf_heads() {
    let head = b"GET / HTTP/1.1\nHost: a\nSec-WebSocket-Extensions: x\nX: y\n\n";
    let stripped = strip_extension(head, "x").unwrap().unwrap();
    assert_eq!(stripped, b"GET / HTTP/1.1\nHost: a\nX: y\n\n");
    let injected = inject_extension(&stripped, &ExtensionOffer::new("x")).unwrap();
    assert_eq!(
        injected,
        b"GET / HTTP/1.1\nHost: a\nX: y\nSec-WebSocket-Extensions: x\r\n\n"
    );
}

#[test]
fn stripping_an_absent_extension_is_none() {
    assert_eq!(
        strip_extension(RFC_REQUEST.as_bytes(), "permessage-deflate"),
        Ok(None)
    );
    assert_eq!(strip_all_extensions(RFC_RESPONSE.as_bytes()), Ok(None));
    let head = with_extension_line("Sec-WebSocket-Extensions: permessage-deflate-ish");
    assert_eq!(
        strip_extension(head.as_bytes(), "permessage-deflate"),
        Ok(None)
    );
}

#[test]
fn edits_reject_incomplete_or_malformed_heads() {
    let partial = &RFC_REQUEST.as_bytes()[..40];
    assert_eq!(
        strip_extension(partial, "x"),
        Err(HandshakeError::Incomplete)
    );
    assert_eq!(
        inject_extension(partial, &ExtensionOffer::new("x")),
        Err(HandshakeError::Incomplete)
    );
    let bad = with_extension_line("Sec-WebSocket-Extensions: a;;");
    let err = strip_extension(bad.as_bytes(), "a").unwrap_err();
    assert!(
        matches!(err, HandshakeError::BadExtensionSyntax(_)),
        "{err:?}"
    );
}

#[test]
fn inject_then_parse_finds_the_extension() {
    let ext = deflate_offer();
    let injected = inject_extension(RFC_REQUEST.as_bytes(), &ext).unwrap();
    let text = String::from_utf8(injected.clone()).unwrap();
    assert_eq!(
        text,
        RFC_REQUEST.replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
        )
    );
    let req = parse_request(&injected).unwrap().unwrap();
    assert_lines(&injected, &req.headers, req.head_len);
    assert_eq!(validate_request(&req).unwrap().extensions, [ext]);
}

#[test]
fn inject_refuses_values_that_would_not_parse_back() {
    for ext in [
        ExtensionOffer::new("bad name"),
        ExtensionOffer::new("a, b"),
        ExtensionOffer::new("x\r\nEvil: 1"),
        ExtensionOffer {
            name: "x".into(),
            params: vec![("p".into(), Some("not a token".into()))],
        },
    ] {
        let err = inject_extension(RFC_REQUEST.as_bytes(), &ext).unwrap_err();
        assert!(
            matches!(err, HandshakeError::BadExtensionSyntax(_)),
            "{ext:?}: {err:?}"
        );
    }
}

#[test]
fn inject_keeps_the_head_within_the_limits() {
    let ext = ExtensionOffer::new("x");
    let full = format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(MAX_HEADERS));
    assert_eq!(
        inject_extension(full.as_bytes(), &ext),
        Err(HandshakeError::TooManyHeaders)
    );
    let line_len = "Sec-WebSocket-Extensions: x\r\n".len();
    let filler = MAX_HANDSHAKE_BYTES - line_len - "GET / HTTP/1.1\r\nX: \r\n\r\n".len();
    let fits = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(filler));
    let injected = inject_extension(fits.as_bytes(), &ext).unwrap();
    assert_eq!(
        request(std::str::from_utf8(&injected).unwrap()).head_len,
        MAX_HANDSHAKE_BYTES
    );
    let over = fits.replacen("X: ", "X: a", 1);
    assert_eq!(
        inject_extension(over.as_bytes(), &ext),
        Err(HandshakeError::TooLarge)
    );
}

#[test]
fn request_builder_knobs_break_the_request_on_purpose() {
    use HandshakeError as E;
    let base = || RequestBuilder::new("h", "/", RFC_KEY);
    let cases = [
        (base().omit_key(), E::MissingKey),
        (base().version("8"), E::UnsupportedVersion("8".into())),
        (
            base().omit_version(),
            E::MissingHeader("Sec-WebSocket-Version"),
        ),
        (base().omit_host(), E::MissingHeader("Host")),
        (base().omit_upgrade(), E::MissingHeader("Upgrade")),
        (base().omit_connection(), E::MissingHeader("Connection")),
        (base().method("POST"), E::NotGet("POST".into())),
        (
            base().header("Sec-WebSocket-Key", RFC_KEY),
            E::DuplicateHeader("Sec-WebSocket-Key"),
        ),
    ];
    for (builder, want) in cases {
        let bytes = builder.build();
        let req = parse_request(&bytes).unwrap().unwrap();
        assert_eq!(validate_request(&req), Err(want));
    }
}

#[test]
fn request_builder_builds_the_rfc_example() {
    let built = RequestBuilder::new("server.example.com", "/chat", RFC_KEY)
        .protocol("chat")
        .protocol("superchat")
        .header("Origin", "http://example.com")
        .build();
    let hs = validate_request(&parse_request(&built).unwrap().unwrap()).unwrap();
    assert_eq!(hs, validate_text(RFC_REQUEST).unwrap());
}

#[test]
fn build_response_round_trips_through_validate_response() {
    let offered = [
        deflate_offer(),
        ExtensionOffer::new("x-webkit-deflate-frame"),
    ];
    let accepted = DeflateParams {
        client_max_window_bits: Some(10),
        ..DeflateParams::default()
    }
    .to_offer();
    let bytes = build_response(RFC_KEY, Some("superchat"), std::slice::from_ref(&accepted));
    let resp = parse_response(&bytes).unwrap().unwrap();
    assert_eq!(resp.head_len, bytes.len());
    let protocols = strings(&["chat", "superchat"]);
    let hs = validate_response(&resp, RFC_KEY, &protocols, &offered).unwrap();
    assert_eq!(hs.protocol.as_deref(), Some("superchat"));
    assert_eq!(hs.extensions, [accepted]);
    assert_eq!(
        build_response(RFC_KEY, Some("chat"), &[]),
        RFC_RESPONSE.as_bytes()
    );
}

#[test]
fn validate_response_rejections() {
    use HandshakeError as E;
    let protocols = strings(&["chat"]);
    let offered = [deflate_offer()];
    let check = |bytes: &[u8], key: &str, protocols: &[String]| {
        let resp = parse_response(bytes).unwrap().unwrap();
        validate_response(&resp, key, protocols, &offered).unwrap_err()
    };
    let other_key = generate_key([7; 16]);
    assert_eq!(
        check(&build_response(&other_key, None, &[]), RFC_KEY, &protocols),
        E::BadAccept {
            expected: accept_key(RFC_KEY.as_bytes()),
            got: accept_key(other_key.as_bytes()),
        }
    );
    let unoffered = build_response(
        RFC_KEY,
        None,
        &[ExtensionOffer::new("x-webkit-deflate-frame")],
    );
    assert_eq!(
        check(&unoffered, RFC_KEY, &protocols),
        E::UnofferedExtension("x-webkit-deflate-frame".into())
    );
    let unasked = build_response(RFC_KEY, Some("chat"), &[]);
    assert_eq!(
        check(&unasked, RFC_KEY, &[]),
        E::UnofferedSubprotocol("chat".into())
    );
    assert_eq!(
        check(
            &build_response(RFC_KEY, Some("CHAT"), &[]),
            RFC_KEY,
            &protocols
        ),
        E::UnofferedSubprotocol("CHAT".into())
    );
    let two = RFC_RESPONSE.replace(
        "Protocol: chat",
        "Protocol: chat\r\nSec-WebSocket-Protocol: chat",
    );
    assert_eq!(
        check(two.as_bytes(), RFC_KEY, &protocols),
        E::DuplicateHeader("Sec-WebSocket-Protocol")
    );
    let no_accept =
        RFC_RESPONSE.replace("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", "");
    assert_eq!(
        check(no_accept.as_bytes(), RFC_KEY, &protocols),
        E::MissingHeader("Sec-WebSocket-Accept")
    );
    let http10 = RFC_RESPONSE.replace("HTTP/1.1", "HTTP/1.0");
    assert_eq!(check(http10.as_bytes(), RFC_KEY, &protocols), E::NotHttp11);
    let no_upgrade = RFC_RESPONSE.replace("Upgrade: websocket", "Upgrade: h2c");
    assert_eq!(
        check(no_upgrade.as_bytes(), RFC_KEY, &protocols),
        E::BadUpgrade("h2c".into())
    );
}

fn token() -> impl Strategy<Value = String> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}"
}

fn offer() -> impl Strategy<Value = ExtensionOffer> {
    (
        token(),
        prop::collection::vec((token(), prop::option::of(token())), 0..4),
    )
        .prop_map(|(name, params)| ExtensionOffer { name, params })
}

/// A valid request head, with the protocols and extensions it offers.
fn valid_request() -> impl Strategy<Value = (Vec<u8>, ClientHandshake)> {
    (
        "[a-z0-9][a-z0-9.-]{0,20}(:[0-9]{1,5})?",
        "/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,30}(\\?[A-Za-z0-9=&]{0,10})?",
        any::<[u8; 16]>(),
        prop::collection::vec(token(), 0..5),
        prop::collection::vec(offer(), 0..4),
    )
        .prop_map(|(host, path, nonce, protocols, extensions)| {
            let key = generate_key(nonce);
            let mut builder = RequestBuilder::new(host.clone(), path.clone(), key.clone());
            for p in &protocols {
                builder = builder.protocol(p.clone());
            }
            for e in &extensions {
                builder = builder.extension(e.clone());
            }
            let hs = ClientHandshake {
                key,
                path,
                host: Some(host),
                protocols,
                extensions,
            };
            (builder.build(), hs)
        })
}

proptest! {
    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(buf in prop::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(Some(req)) = parse_request(&buf) {
            assert_lines(&buf, &req.headers, req.head_len);
            let _ = validate_request(&req);
        }
        if let Ok(Some(resp)) = parse_response(&buf) {
            assert_lines(&buf, &resp.headers, resp.head_len);
            let _ = validate_response(&resp, RFC_KEY, &[], &[]);
        }
        let _ = parse_extensions(&buf);
        let _ = parse_token_list(&buf);
        let _ = strip_extension(&buf, "x");
        let _ = strip_all_extensions(&buf);
        let _ = inject_extension(&buf, &ExtensionOffer::new("x"));
    }

    #[test]
    fn mutated_heads_never_panic_and_keep_line_invariants(
        at in 0usize..400,
        byte in any::<u8>(),
        cut in 0usize..400,
        ext in prop::sample::select(vec![
            "permessage-deflate; client_max_window_bits",
            "a, x; p=\"1\"",
            "x",
        ]),
    ) {
        let mut buf = with_extension_line(&format!("Sec-WebSocket-Extensions: {ext}")).into_bytes();
        if let Some(b) = buf.get_mut(at) {
            *b = byte;
        }
        buf.truncate(cut.max(at));
        if let Ok(Some(req)) = parse_request(&buf) {
            assert_lines(&buf, &req.headers, req.head_len);
            let _ = validate_request(&req);
        }
        if let Ok(Some(stripped)) = strip_extension(&buf, "x") {
            let req = parse_request(&stripped).unwrap().unwrap();
            if let Ok(hs) = validate_request(&req) {
                assert!(hs.extensions.iter().all(|e| e.name != "x"));
            }
        }
        let _ = strip_all_extensions(&buf);
        let _ = inject_extension(&buf, &ExtensionOffer::new("y"));
    }

    #[test]
    fn built_requests_validate_to_what_was_built((bytes, want) in valid_request()) {
        let req = parse_request(&bytes).unwrap().unwrap();
        prop_assert_eq!(req.head_len, bytes.len());
        assert_lines(&bytes, &req.headers, req.head_len);
        prop_assert_eq!(validate_request(&req).unwrap(), want);
    }

    #[test]
    fn strip_undoes_inject(
        (head, hs) in valid_request(),
        ext in offer(),
        tail in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        prop_assume!(hs.extensions.iter().all(|e| !e.name.eq_ignore_ascii_case(&ext.name)));
        let mut buf = head;
        buf.extend_from_slice(&tail);
        let injected = inject_extension(&buf, &ext).unwrap();
        let req = parse_request(&injected).unwrap().unwrap();
        let offered = validate_request(&req).unwrap().extensions;
        prop_assert_eq!(offered.last(), Some(&ext));
        prop_assert_eq!(strip_extension(&injected, &ext.name).unwrap(), Some(buf));
    }

    #[test]
    fn rendered_offers_parse_back(offers in prop::collection::vec(offer(), 1..4)) {
        let value = offers.iter().map(ExtensionOffer::to_header_value).collect::<Vec<_>>().join(" ,");
        prop_assert_eq!(parse_extensions(value.as_bytes()).unwrap(), offers);
    }

    #[test]
    fn response_round_trip(nonce in any::<[u8; 16]>(), protocols in prop::collection::vec(token(), 1..4), pick in any::<prop::sample::Index>()) {
        let key = generate_key(nonce);
        let chosen = pick.get(&protocols).clone();
        let bytes = build_response(&key, Some(&chosen), &[]);
        let resp = parse_response(&bytes).unwrap().unwrap();
        let hs = validate_response(&resp, &key, &protocols, &[]).unwrap();
        prop_assert_eq!(hs.protocol, Some(chosen));
    }
}
