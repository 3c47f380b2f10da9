//! End-to-end checks of the sample endpoints over real sockets on 127.0.0.1: raw frames
//! written by hand against each server flaw, and tiny hand-written servers against the
//! client. Every wait is bounded so a misbehaving endpoint fails a test instead of hanging.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use wschaos_codec::encode::{Frame, write_header};
use wschaos_codec::handshake::{
    ExtensionOffer, RequestBuilder, build_response, generate_key, parse_request, parse_response,
    validate_request,
};
use wschaos_codec::parse::{Event, FrameParser};
use wschaos_codec::{FrameHeader, LengthForm, OpCode};
use wschaos_targets::{
    ClientFlaw, ClientOptions, ServerFlaw, run_echo_client, run_echo_client_once, spawn_echo_server,
};

const WAIT: Duration = Duration::from_secs(5);
const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

async fn bounded<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    match timeout(WAIT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// A raw TCP peer that reads whole frames with the codec's parser.
struct RawPeer {
    tcp: TcpStream,
    parser: FrameParser,
    pending: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
enum Received {
    Frame(FrameHeader, Vec<u8>),
    /// EOF or reset: the connection is gone.
    Closed,
}

impl RawPeer {
    /// Connects and does the opening handshake by hand.
    async fn connect(addr: SocketAddr) -> Self {
        let mut tcp = bounded("connect", TcpStream::connect(addr)).await.unwrap();
        let request = RequestBuilder::new(addr.to_string(), "/", generate_key([7; 16])).build();
        tcp.write_all(&request).await.unwrap();
        let mut buf = Vec::new();
        let response = loop {
            if let Some(response) = parse_response(&buf).unwrap() {
                break response;
            }
            let mut chunk = [0u8; 1024];
            let n = bounded("101", tcp.read(&mut chunk)).await.unwrap();
            assert_ne!(n, 0, "server closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
        };
        assert_eq!(response.status, 101);
        RawPeer {
            tcp,
            parser: FrameParser::new(),
            pending: buf.split_off(response.head_len),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.unwrap();
    }

    async fn next(&mut self) -> Received {
        let mut header = None;
        let mut payload = Vec::new();
        loop {
            let mut used_total = 0;
            loop {
                let (used, event) = self.parser.parse(&self.pending[used_total..]);
                used_total += used;
                match event {
                    None => break,
                    Some(Event::Header(h)) => header = Some(h),
                    Some(Event::Payload { data, .. }) => payload.extend_from_slice(data),
                    Some(Event::End) => {
                        self.pending.drain(..used_total);
                        let h: FrameHeader = header.expect("End follows a Header");
                        if let Some(key) = h.mask {
                            wschaos_codec::mask::apply_mask(&mut payload, key, 0);
                        }
                        return Received::Frame(h, payload);
                    }
                }
            }
            self.pending.clear();
            let mut chunk = [0u8; 4096];
            match bounded("next frame", self.tcp.read(&mut chunk)).await {
                Ok(0) | Err(_) => return Received::Closed,
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Expects a Close frame with `code`, answers it, and expects the connection to end.
    async fn expect_close(&mut self, code: u16, masked_answer: bool) {
        match self.next().await {
            Received::Frame(h, payload) if h.opcode == OpCode::CLOSE => {
                assert_eq!(
                    payload.get(..2),
                    Some(&code.to_be_bytes()[..]),
                    "{payload:?}"
                );
            }
            other => panic!("expected Close {code}, got {other:?}"),
        }
        let mut answer = Frame::close(code, b"");
        if masked_answer {
            answer = answer.masked(MASK);
        }
        self.send(&answer.encode().unwrap()).await;
        assert_eq!(self.next().await, Received::Closed);
    }

    async fn expect_text(&mut self, text: &str) {
        match self.next().await {
            Received::Frame(h, payload) => {
                assert_eq!(h.opcode, OpCode::TEXT);
                assert_eq!(payload, text.as_bytes());
            }
            Received::Closed => panic!("expected text {text:?}, connection closed"),
        }
    }
}

fn text(s: &str) -> Vec<u8> {
    Frame::text(s).masked(MASK).encode().unwrap()
}

fn unmasked_text() -> Vec<u8> {
    Frame::text("hi").encode().unwrap()
}

async fn raw_against(flaw: ServerFlaw) -> (wschaos_targets::ServerHandle, RawPeer) {
    let server = spawn_echo_server("127.0.0.1:0", flaw).await.unwrap();
    let peer = RawPeer::connect(server.addr).await;
    (server, peer)
}

#[tokio::test]
async fn conforming_server_echoes_text_binary_and_ping() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let url = format!("ws://{}/", server.addr);
    let (mut ws, _) = bounded("connect", tokio_tungstenite::connect_async(url))
        .await
        .unwrap();
    let sent = [
        Message::text("hello"),
        Message::binary(vec![0, 1, 2, 255]),
        Message::Ping(b"are you there".to_vec().into()),
    ];
    for msg in sent {
        ws.send(msg.clone()).await.unwrap();
        let got = bounded("echo", ws.next()).await.unwrap().unwrap();
        match msg {
            Message::Ping(data) => assert_eq!(got, Message::Pong(data)),
            msg => assert_eq!(got, msg),
        }
    }
    ws.close(None).await.unwrap();
    assert!(matches!(
        bounded("close reply", ws.next()).await,
        Some(Ok(Message::Close(_)))
    ));
    assert!(bounded("end", ws.next()).await.is_none());
    bounded("shutdown", server.shutdown()).await;
}

#[tokio::test]
async fn unmasked_frame_fails_with_1002() {
    let (server, mut peer) = raw_against(ServerFlaw::None).await;
    peer.send(&unmasked_text()).await;
    peer.expect_close(1002, true).await;
    server.shutdown().await;
}

#[tokio::test]
async fn accept_unmasked_echoes_unmasked_frames() {
    let (server, mut peer) = raw_against(ServerFlaw::AcceptUnmasked).await;
    peer.send(&unmasked_text()).await;
    peer.expect_text("hi").await;
    server.shutdown().await;
}

#[tokio::test]
async fn close_normal_on_error_sends_1000() {
    let (server, mut peer) = raw_against(ServerFlaw::CloseNormalOnError).await;
    peer.send(&unmasked_text()).await;
    peer.expect_close(1000, true).await;
    server.shutdown().await;
}

#[tokio::test]
async fn drop_on_error_closes_tcp_without_close_frame() {
    let (server, mut peer) = raw_against(ServerFlaw::DropOnError).await;
    peer.send(&unmasked_text()).await;
    assert_eq!(peer.next().await, Received::Closed);
    server.shutdown().await;
}

#[tokio::test]
async fn rsv1_fails_conforming_server_but_ignore_rsv_echoes() {
    let with_rsv1 = Frame::text("rsv")
        .rsv(true, false, false)
        .masked(MASK)
        .encode()
        .unwrap();
    let (server, mut peer) = raw_against(ServerFlaw::None).await;
    peer.send(&with_rsv1).await;
    peer.expect_close(1002, true).await;
    server.shutdown().await;

    let (server, mut peer) = raw_against(ServerFlaw::IgnoreRsv).await;
    peer.send(&with_rsv1).await;
    peer.expect_text("rsv").await;
    let mut split = text("second");
    split[0] |= 0x30;
    for byte in split {
        peer.send(&[byte]).await;
    }
    peer.expect_text("second").await;
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_utf8_fails_with_1007() {
    let (server, mut peer) = raw_against(ServerFlaw::None).await;
    let bad = Frame::new(OpCode::TEXT, vec![b'a', 0xFF, 0xFE])
        .masked(MASK)
        .encode()
        .unwrap();
    peer.send(&bad).await;
    peer.expect_close(1007, true).await;
    server.shutdown().await;
}

#[tokio::test]
async fn huge_frame_header_fails_with_1009() {
    let (server, mut peer) = raw_against(ServerFlaw::None).await;
    let mut header = FrameHeader::new(OpCode::BINARY, Some(MASK), 1 << 40);
    header.length_form = LengthForm::U64;
    let mut bytes = Vec::new();
    write_header(&header, &mut bytes).unwrap();
    bytes.extend_from_slice(b"some payload");
    peer.send(&bytes).await;
    peer.expect_close(1009, true).await;
    server.shutdown().await;
}

/// Accepts one connection, reads the upgrade request and answers with `respond(key)`.
async fn accept_upgrade(
    listener: &TcpListener,
    respond: impl FnOnce(&str) -> Vec<u8>,
) -> (TcpStream, String) {
    let (mut tcp, _) = bounded("accept", listener.accept()).await.unwrap();
    let mut buf = Vec::new();
    let request = loop {
        if let Some(request) = parse_request(&buf).unwrap() {
            break request;
        }
        let mut chunk = [0u8; 1024];
        let n = bounded("request", tcp.read(&mut chunk)).await.unwrap();
        assert_ne!(n, 0);
        buf.extend_from_slice(&chunk[..n]);
    };
    let handshake = validate_request(&request).unwrap();
    tcp.write_all(&respond(&handshake.key)).await.unwrap();
    (tcp, handshake.path)
}

fn peer_of(tcp: TcpStream) -> RawPeer {
    RawPeer {
        tcp,
        parser: FrameParser::new(),
        pending: Vec::new(),
    }
}

async fn client_server() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/case/x", listener.local_addr().unwrap());
    (listener, url)
}

fn opts(flaw: ClientFlaw, require_deflate: bool) -> ClientOptions {
    ClientOptions {
        flaw,
        require_deflate,
        timeout: WAIT,
    }
}

async fn once(url: &str, flaw: ClientFlaw, require_deflate: bool) -> String {
    let opts = opts(flaw, require_deflate);
    bounded("client", run_echo_client_once(url, &opts))
        .await
        .unwrap()
}

const SOME_OTHER_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Serves one connection with `response`: if the client rejects it, the server must see
/// the connection end without a single byte; otherwise it checks one echo and closes.
async fn client_against(response: fn(&str) -> Vec<u8>, flaw: ClientFlaw, proceeds: bool) {
    let (listener, url) = client_server().await;
    let server = async {
        let (tcp, _) = accept_upgrade(&listener, response).await;
        let mut peer = peer_of(tcp);
        if proceeds {
            peer.send(&Frame::text("x").encode().unwrap()).await;
            match peer.next().await {
                Received::Frame(h, payload) => {
                    assert!(h.mask.is_some(), "client frames must be masked");
                    assert_eq!((h.opcode, payload), (OpCode::TEXT, b"x".to_vec()));
                }
                Received::Closed => panic!("client did not echo"),
            }
            peer.send(&Frame::close(1000, b"").encode().unwrap()).await;
            assert!(
                matches!(peer.next().await, Received::Frame(h, _) if h.opcode == OpCode::CLOSE)
            );
        } else {
            let mut rest = Vec::new();
            // A reset instead of EOF is fine too: either way nothing was sent.
            let _ = bounded("client close", peer.tcp.read_to_end(&mut rest)).await;
            assert!(
                rest.is_empty(),
                "client sent {rest:?} after a bad handshake"
            );
        }
    };
    let (outcome, ()) = tokio::join!(once(&url, flaw, false), server);
    assert_eq!(
        outcome.starts_with("handshake rejected"),
        !proceeds,
        "{outcome}"
    );
}

fn wrong_accept(_key: &str) -> Vec<u8> {
    build_response(SOME_OTHER_KEY, None, &[])
}

fn unoffered_extension(key: &str) -> Vec<u8> {
    build_response(key, None, &[ExtensionOffer::new("x-unoffered")])
}

fn unoffered_protocol(key: &str) -> Vec<u8> {
    build_response(key, Some("chat"), &[])
}

#[tokio::test]
async fn client_rejects_wrong_accept_unless_flawed() {
    client_against(wrong_accept, ClientFlaw::None, false).await;
    client_against(wrong_accept, ClientFlaw::AcceptAnyAccept, true).await;
    client_against(wrong_accept, ClientFlaw::AcceptUnofferedExtension, false).await;
}

#[tokio::test]
async fn client_rejects_unoffered_extension_and_protocol_unless_flawed() {
    for response in [unoffered_extension, unoffered_protocol] {
        client_against(response, ClientFlaw::None, false).await;
        client_against(response, ClientFlaw::AcceptUnofferedExtension, true).await;
        client_against(response, ClientFlaw::AcceptAnyAccept, false).await;
    }
}

#[tokio::test]
async fn client_requiring_deflate_closes_with_1010() {
    let (listener, url) = client_server().await;
    let server = async {
        let (tcp, _) = accept_upgrade(&listener, |key| build_response(key, None, &[])).await;
        let mut peer = peer_of(tcp);
        match peer.next().await {
            Received::Frame(h, payload) if h.opcode == OpCode::CLOSE => {
                assert_eq!(&payload[..2], &1010u16.to_be_bytes());
                assert_eq!(&payload[2..], b"permessage-deflate");
            }
            other => panic!("expected Close 1010, got {other:?}"),
        }
        peer.send(&Frame::close(1010, b"").encode().unwrap()).await;
    };
    let (outcome, ()) = tokio::join!(once(&url, ClientFlaw::None, true), server);
    assert!(outcome.contains("1010"), "{outcome}");
}

#[tokio::test]
async fn client_fails_masked_server_frame_with_1002_or_drops_when_flawed() {
    for (flaw, code) in [
        (ClientFlaw::None, Some(1002)),
        (ClientFlaw::DropOnError, None),
    ] {
        let (listener, url) = client_server().await;
        let server = async {
            let (tcp, _) = accept_upgrade(&listener, |key| build_response(key, None, &[])).await;
            let mut peer = peer_of(tcp);
            peer.send(&text("masked")).await;
            match code {
                Some(code) => peer.expect_close(code, false).await,
                None => assert_eq!(peer.next().await, Received::Closed),
            }
        };
        tokio::join!(once(&url, flaw, false), server);
    }
}

#[tokio::test]
async fn client_loop_fetches_cases_and_runs_the_chosen_ones() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("ws://{}", listener.local_addr().unwrap());
    let server = async {
        let (mut tcp, _) = bounded("accept", listener.accept()).await.unwrap();
        let mut head = Vec::new();
        while parse_request(&head).unwrap().is_none() {
            let mut chunk = [0u8; 1024];
            let n = bounded("GET", tcp.read(&mut chunk)).await.unwrap();
            assert_ne!(n, 0);
            head.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(parse_request(&head).unwrap().unwrap().path, "/cases");
        let body = br#"["a.1","b 2","c"]"#;
        let mut response =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        response.extend_from_slice(body);
        tcp.write_all(&response).await.unwrap();

        let mut paths = Vec::new();
        for _ in 0..2 {
            let (tcp, path) = accept_upgrade(&listener, |key| build_response(key, None, &[])).await;
            paths.push(path);
            let mut peer = peer_of(tcp);
            peer.send(&Frame::text("echo me").encode().unwrap()).await;
            assert!(
                matches!(peer.next().await, Received::Frame(h, p) if p == b"echo me" && h.opcode == OpCode::TEXT)
            );
            peer.send(&Frame::close(1000, b"").encode().unwrap()).await;
            assert!(
                matches!(peer.next().await, Received::Frame(h, _) if h.opcode == OpCode::CLOSE)
            );
        }
        paths
    };
    let only = ["c".to_owned(), "b 2".to_owned()];
    let (outcomes, paths) = tokio::join!(
        run_echo_client(&base, &only, opts(ClientFlaw::None, false)),
        server
    );
    let outcomes = outcomes.unwrap();
    assert_eq!(paths, ["/case/b%202", "/case/c"]);
    let ids: Vec<&str> = outcomes.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["b 2", "c"]);
    for (_, outcome) in &outcomes {
        assert!(outcome.contains("1000"), "{outcome}");
    }
}
