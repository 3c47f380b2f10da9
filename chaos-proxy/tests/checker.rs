//! The checker against the sample targets on 127.0.0.1 (ephemeral ports): the
//! conforming server and client pass, and each broken variant is flagged on exactly
//! the cases it was built to break.

use std::collections::HashMap;
use std::time::Duration;

use tokio::net::TcpListener;
use wschaos::catalogue::{Side, catalogue, select};
use wschaos::check::client::{ClientCheck, serve};
use wschaos::check::server::{ServerCheck, run_suite};
use wschaos::report::{CaseResult, Observed, Verdict};
use wschaos::url::WsUrl;
use wschaos_targets::{ClientFlaw, ClientOptions, ServerFlaw, run_echo_client, spawn_echo_server};

const SEED: u64 = 42;

/// Per-case timeout: the bulk cases get more on top in proportion to what they
/// send; the limits family gets a longer base too, as the other tests of this
/// file run beside it in a debug build.
fn timeout_for(globs: &[&str]) -> Duration {
    if globs.contains(&"limits.*") {
        Duration::from_secs(10)
    } else {
        Duration::from_millis(1500)
    }
}

async fn server_suite(flaw: ServerFlaw, globs: &[&str]) -> HashMap<String, CaseResult> {
    let timeout = timeout_for(globs);
    let server = spawn_echo_server("127.0.0.1:0", flaw).await.unwrap();
    let cfg = ServerCheck {
        target: WsUrl::parse(&format!("ws://{}/", server.addr)).unwrap(),
        seed: SEED,
        timeout,
        jobs: 16,
        repro_dir: None,
        extras: Default::default(),
        progress: false,
        tls: None,
    };
    let globs: Vec<String> = globs.iter().map(|g| g.to_string()).collect();
    let mut cases = select(catalogue(Side::Server, SEED), &globs);
    // The bulk cases (hundreds of megabytes) have a test of their own.
    if globs.is_empty() {
        cases.retain(|c| c.bulk.is_none());
    }
    let results = run_suite(&cfg, cases).await;
    server.shutdown().await;
    results.into_iter().map(|r| (r.id.clone(), r)).collect()
}

fn verdict(results: &HashMap<String, CaseResult>, id: &str) -> Verdict {
    results
        .get(id)
        .unwrap_or_else(|| panic!("no case {id}"))
        .verdict
}

/// Every case passes or is info, but for the two mid-frame fail-fast cases a
/// tokio-tungstenite endpoint cannot pass: tungstenite checks UTF-8 only once a
/// whole frame is in (non-strict there, and nothing else is).
fn assert_all_pass_but_whole_frame_checks(results: &HashMap<String, CaseResult>) {
    let bad: Vec<String> = results
        .values()
        .filter(|r| !matches!(r.verdict, Verdict::Pass | Verdict::Info))
        .filter(|r| {
            !(r.verdict == Verdict::NonStrict
                && wschaos::demo::tungstenite_reads_whole_frames(&r.id))
        })
        .map(|r| format!("{}: {:?} {:?} {:?}", r.id, r.verdict, r.observed, r.note))
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    let non_strict = results
        .values()
        .filter(|r| r.verdict == Verdict::NonStrict)
        .count();
    assert_eq!(non_strict, 2, "the fail-fast cases tungstenite cannot pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforming_server_passes_every_case() {
    let results = server_suite(ServerFlaw::None, &[]).await;
    assert!(results.len() > 150, "only {} cases", results.len());
    assert_all_pass_but_whole_frame_checks(&results);
    // The info cases are the ones the RFC leaves open, nothing else.
    for r in results.values().filter(|r| r.verdict == Verdict::Info) {
        assert!(
            r.id.starts_with("length.non-minimal")
                || r.id.starts_with("close.code-101")
                || r.id == "handshake.version-8"
                || r.id == "close.after-large-message"
                // The target does not agree to permessage-deflate.
                || (r.id.contains("deflate.")
                    && r.note.as_deref().is_some_and(|n| n.starts_with("extension not negotiated"))),
            "{} is info",
            r.id
        );
    }
    assert_eq!(
        results["mask.unmasked-text"].observed,
        Observed::Close {
            code: Some(wschaos_codec::CloseCode::from(1002)),
            reason: results_reason(&results["mask.unmasked-text"])
        }
    );
    assert_eq!(
        results["handshake.version-8"].observed,
        Observed::HandshakeRefused { status: 426 }
    );
}

fn results_reason(r: &CaseResult) -> String {
    match &r.observed {
        Observed::Close { reason, .. } => reason.clone(),
        _ => String::new(),
    }
}

/// Autobahn's limits and performance family (messages up to 16 MiB, 4 MiB in
/// small frames, 1 MiB in small writes, 1,000 round trips) against the sample
/// targets: every message echoed, in both roles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforming_endpoints_pass_the_limits_family() {
    let server = server_suite(ServerFlaw::None, &["limits.*"]).await;
    assert_eq!(server.len(), 54);
    let client = client_suite(opts(ClientFlaw::None, false), &["limits.*"]).await;
    assert_eq!(client.len(), 54);
    for (side, results) in [("server", server), ("client", client)] {
        for r in results.values() {
            assert_eq!(r.verdict, Verdict::Pass, "{side} {}: {:?}", r.id, r.note);
            assert!(r.note.as_deref().is_some_and(|n| n.contains("echoed in")));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_unmasked_fails_exactly_the_masking_cases() {
    let results = server_suite(ServerFlaw::AcceptUnmasked, &[]).await;
    for (id, r) in &results {
        let masking = id.contains("mask.unmasked");
        let expected_bad = masking;
        assert_eq!(
            r.verdict == Verdict::Fail,
            expected_bad,
            "{id}: {:?} {:?}",
            r.verdict,
            r.note
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_rsv_fails_the_rsv_cases() {
    let results = server_suite(
        ServerFlaw::IgnoreRsv,
        &["rsv.*", "ok.*", "after-valid.rsv.*"],
    )
    .await;
    for (id, r) in &results {
        let want = if id.contains("rsv.") {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
        assert_eq!(r.verdict, want, "{id}: {:?}", r.note);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_normal_and_drop_are_fail_and_non_strict() {
    let normal = server_suite(
        ServerFlaw::CloseNormalOnError,
        &["rsv.rsv2", "utf8.invalid-text-ff", "ok.text"],
    )
    .await;
    assert_eq!(verdict(&normal, "rsv.rsv2"), Verdict::Fail);
    assert!(matches!(
        normal["rsv.rsv2"].observed,
        Observed::Close {
            code: Some(wschaos_codec::CloseCode::Normal),
            ..
        }
    ));
    assert_eq!(verdict(&normal, "utf8.invalid-text-ff"), Verdict::Fail);
    assert_eq!(verdict(&normal, "ok.text"), Verdict::Pass);
    let dropped = server_suite(
        ServerFlaw::DropOnError,
        &["rsv.rsv2", "rsv.rsv2+chop1", "ok.text"],
    )
    .await;
    assert_eq!(verdict(&dropped, "rsv.rsv2"), Verdict::NonStrict);
    assert_eq!(dropped["rsv.rsv2"].observed, Observed::TcpClose);
    assert_eq!(verdict(&dropped, "rsv.rsv2+chop1"), Verdict::NonStrict);
    assert_eq!(verdict(&dropped, "ok.text"), Verdict::Pass);
}

async fn client_suite(opts: ClientOptions, globs: &[&str]) -> HashMap<String, CaseResult> {
    let timeout = timeout_for(globs);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("ws://{}", listener.local_addr().unwrap());
    let globs: Vec<String> = globs.iter().map(|g| g.to_string()).collect();
    let mut cases = select(catalogue(Side::Client, SEED), &globs);
    if globs.is_empty() {
        cases.retain(|c| c.bulk.is_none());
    }
    let cfg = ClientCheck {
        seed: SEED,
        timeout,
        wait: Duration::from_secs(60),
        repro_dir: None,
        progress: false,
        tls: None,
    };
    let server = tokio::spawn(serve(listener, cfg, cases));
    let client = tokio::spawn(async move { run_echo_client(&base, &[], opts).await });
    let results = tokio::time::timeout(Duration::from_secs(90), server)
        .await
        .unwrap()
        .unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), client).await;
    results.into_iter().map(|r| (r.id.clone(), r)).collect()
}

fn opts(flaw: ClientFlaw, require_deflate: bool) -> ClientOptions {
    ClientOptions {
        flaw,
        require_deflate,
        timeout: Duration::from_secs(3),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforming_client_passes_every_case() {
    let results = client_suite(opts(ClientFlaw::None, false), &[]).await;
    assert!(results.len() > 100);
    assert_all_pass_but_whole_frame_checks(&results);
    for id in [
        "handshake.bad-accept",
        "handshake.unoffered-extension",
        "handshake.unoffered-subprotocol",
    ] {
        assert_eq!(verdict(&results, id), Verdict::Pass, "{id}");
        assert_eq!(results[id].observed, Observed::TcpClose);
    }
    assert_eq!(verdict(&results, "mask.masked-text"), Verdict::Pass);
    // Not offered, so nothing was stripped: reported only.
    assert_eq!(verdict(&results, "extension.stripped"), Verdict::Info);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_requires_deflate_closes_with_1010() {
    let results = client_suite(opts(ClientFlaw::None, true), &["extension.*"]).await;
    assert_eq!(verdict(&results, "extension.stripped"), Verdict::Pass);
    assert!(matches!(
        results["extension.stripped"].observed,
        Observed::Close {
            code: Some(wschaos_codec::CloseCode::Extension),
            ..
        }
    ));
    assert_eq!(
        verdict(&results, "extension.stripped-then-compressed"),
        Verdict::Pass
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_clients_are_flagged() {
    let lax = client_suite(
        opts(ClientFlaw::AcceptUnofferedExtension, false),
        &["handshake.*"],
    )
    .await;
    assert_eq!(
        verdict(&lax, "handshake.unoffered-extension"),
        Verdict::Fail
    );
    assert_eq!(
        verdict(&lax, "handshake.unoffered-subprotocol"),
        Verdict::Fail
    );
    assert_eq!(verdict(&lax, "handshake.bad-accept"), Verdict::Pass);
    let any = client_suite(
        opts(ClientFlaw::AcceptAnyAccept, false),
        &["handshake.bad-accept"],
    )
    .await;
    assert_eq!(verdict(&any, "handshake.bad-accept"), Verdict::Fail);
    let drop = client_suite(
        opts(ClientFlaw::DropOnError, false),
        &["mask.masked-text", "ok.text"],
    )
    .await;
    assert_eq!(verdict(&drop, "mask.masked-text"), Verdict::NonStrict);
    assert_eq!(verdict(&drop, "ok.text"), Verdict::Pass);
}
