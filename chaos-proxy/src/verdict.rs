//! The verdict rules of SPEC.md, in one place for the checker and the proxy.
//! `pass`: the right Close, then TCP close; `non-strict`: failed the connection
//! without the right Close (TCP drop, empty Close, another error code);
//! `fail`: carried on, closed normally or with a non-error code, or timed out;
//! `info`: the RFC leaves the reaction open. Valid traffic passes when it is
//! echoed and a Close (ours or the case's) is answered with a Close: the code it
//! carried, 1000, or any code that is not an error code (see [`close_answer`]);
//! a server that then keeps TCP open is non-strict.
//!
//! Each side first turns what it saw into a [`Reaction`] (the checker from its
//! `Observation`, the proxy from the frames it relays), then the same rule turns
//! that reaction into a verdict. The checker adds what only it can see (the TCP
//! close after the closing handshake, the echo before an `after-valid` violation);
//! the proxy adds nothing.

use wschaos_codec::CloseCode;

use crate::catalogue::Expect;
use crate::check::observe::{Answer, Observation, compare_answers};
use crate::report::{ClosePayload, Observed, Verdict};

/// A verdict with the observation it was drawn from and, when the observation
/// alone does not say why, a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub observed: Observed,
    pub verdict: Verdict,
    pub note: Option<String>,
}

impl Judgement {
    pub fn new(observed: Observed, verdict: Verdict, note: Option<String>) -> Judgement {
        Judgement {
            observed,
            verdict,
            note,
        }
    }
}

/// The first thing the endpoint that received a fault did on its own account (a
/// Close that only answers the other side's Close is not one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction {
    Close(ClosePayload),
    /// FIN or RST with no Close frame.
    TcpClose,
    /// It went on sending as if nothing were wrong.
    Continued,
    /// Nothing decisive in the time it had.
    Timeout,
}

impl Reaction {
    pub fn observed(&self) -> Observed {
        match self {
            Reaction::Close(c) => Observed::Close {
                code: c.code,
                reason: c.reason.clone(),
            },
            Reaction::TcpClose => Observed::TcpClose,
            Reaction::Continued => Observed::Continued,
            Reaction::Timeout => Observed::Timeout,
        }
    }
}

fn codes_text(codes: &[CloseCode]) -> String {
    codes
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join("|")
}

/// A violation the receiver must fail the connection on, with one of `expected`.
/// An empty `expected` means the RFC leaves the reaction open.
pub fn violation(expected: &[CloseCode], r: &Reaction) -> (Verdict, Option<String>) {
    if expected.is_empty() {
        return (Verdict::Info, None);
    }
    let want = codes_text(expected);
    match r {
        Reaction::Close(ClosePayload { code: Some(c), .. }) if expected.contains(c) => {
            (Verdict::Pass, None)
        }
        Reaction::Close(ClosePayload { code: Some(c), .. }) if c.fails_connection() => (
            Verdict::NonStrict,
            Some(format!("closed with {c}, expected {want}")),
        ),
        Reaction::Close(ClosePayload { code: Some(c), .. }) => (
            Verdict::Fail,
            Some(format!("closed with {c} on a violation, expected {want}")),
        ),
        Reaction::Close(ClosePayload { code: None, .. }) => (
            Verdict::NonStrict,
            Some(format!("Close without a status code, expected {want}")),
        ),
        Reaction::TcpClose => (
            Verdict::NonStrict,
            Some(format!(
                "dropped TCP without a Close frame, expected {want}"
            )),
        ),
        Reaction::Continued => (
            Verdict::Fail,
            Some("carried on as if the data were valid".into()),
        ),
        Reaction::Timeout => (Verdict::Fail, Some("no reaction before the timeout".into())),
    }
}

/// An invalid opening handshake: the receiver must not open the connection, so
/// closing TCP is the pass, and a Close frame treats the connection as open.
pub fn refuse_open(r: &Reaction) -> (Verdict, Option<String>) {
    match r {
        Reaction::TcpClose => (Verdict::Pass, None),
        Reaction::Close(_) => (
            Verdict::NonStrict,
            Some("sent a Close frame: it treated the connection as open".into()),
        ),
        Reaction::Continued => (
            Verdict::Fail,
            Some("proceeded on an invalid opening handshake".into()),
        ),
        Reaction::Timeout => (
            Verdict::Fail,
            Some("neither closed the connection nor proceeded".into()),
        ),
    }
}

/// A client whose extension offer the 101 left out: one that required it closes
/// with 1010 (`accepted`; the proxy also accepts 1002, since it cannot tell
/// whether compressed frames reached the client first), one that treats it as
/// optional carries on, which is legal (info).
pub fn mandatory_extension(accepted: &[CloseCode], r: &Reaction) -> (Verdict, Option<String>) {
    match r {
        Reaction::Close(ClosePayload { code: Some(c), .. }) if accepted.contains(c) => {
            (Verdict::Pass, None)
        }
        Reaction::Close(ClosePayload { code: Some(c), .. }) if c.fails_connection() => (
            Verdict::NonStrict,
            Some(format!("closed with {c}, 1010 names a missing extension")),
        ),
        Reaction::Close(ClosePayload { code: None, .. }) => (
            Verdict::NonStrict,
            Some("Close without a status code, 1010 names a missing extension".into()),
        ),
        Reaction::TcpClose => (
            Verdict::NonStrict,
            Some("dropped TCP without a Close 1010".into()),
        ),
        Reaction::Continued => (
            Verdict::Info,
            Some("proceeded without the extension: legal when it was optional".into()),
        ),
        Reaction::Close(_) | Reaction::Timeout => (
            Verdict::Info,
            Some("no 1010: legal when the extension was optional".into()),
        ),
    }
}

/// A fault that reached the receiver after it had sent its own Close: it may not
/// send another frame, so closing TCP is all it owes (RFC 6455 5.5.1, 7.1.1).
pub fn after_own_close(r: &Reaction) -> (Verdict, Option<String>) {
    match r {
        Reaction::TcpClose => (Verdict::Pass, None),
        Reaction::Close(_) => (
            Verdict::NonStrict,
            Some("sent a second Close after its own".into()),
        ),
        Reaction::Continued => (
            Verdict::Fail,
            Some("sent frames after its own Close".into()),
        ),
        Reaction::Timeout => (
            Verdict::Fail,
            Some("did not close TCP after the closing handshake".into()),
        ),
    }
}

/// The endpoint closed the connection before the case's bytes were written: it
/// reacted to nothing we sent, so this is no reaction to the violation. A server
/// that hangs up on its own is broken for every case.
pub fn closed_before_fault() -> Judgement {
    Judgement::new(
        Observed::TcpClose,
        Verdict::Fail,
        Some(
            "closed before the fault: the endpoint hung up before the case's bytes were sent"
                .into(),
        ),
    )
}

/// The endpoint closed in the middle of a bulk case (valid traffic: many or
/// large messages) at `at`. 1009 (too big) and 1008 (policy) say the message is
/// beyond what the endpoint will take, in size or in fragments, which RFC 6455
/// allows it to decide: reported, not failed (Autobahn fails it). Any other
/// close on valid traffic fails.
pub fn bulk_closed(close: &ClosePayload, at: &str) -> Judgement {
    let observed = Observed::Close {
        code: close.code,
        reason: close.reason.clone(),
    };
    if let Some(code @ (CloseCode::Size | CloseCode::Policy)) = close.code {
        let note =
            format!("closed with {code} at {at}: a limit of the endpoint's (size or fragments)");
        return Judgement::new(observed, Verdict::Info, Some(note));
    }
    let code = close.code.map_or("no code".to_owned(), |c| c.to_string());
    let note = format!("closed ({code}) on valid traffic at {at}");
    Judgement::new(observed, Verdict::Fail, Some(note))
}

/// A case whose permessage-deflate answer left out something it owed that
/// changes nothing (`lax`, see `check_answer`): a pass becomes non-strict.
pub fn lax_answer(j: Judgement, lax: Option<String>) -> Judgement {
    match lax {
        Some(note) if j.verdict == Verdict::Pass => Judgement {
            verdict: Verdict::NonStrict,
            note: Some(match j.note {
                Some(n) => format!("{note}; {n}"),
                None => note,
            }),
            ..j
        },
        _ => j,
    }
}

/// A transport fault (delays, slices, bandwidth) must leave the traffic valid, so
/// it is judged on the one thing it can cause: an endpoint failing the connection
/// with an error code that no frame fault on the same connection explains.
pub fn transport(unexplained_error_close: Option<&ClosePayload>) -> Judgement {
    match unexplained_error_close {
        Some(c) => Judgement::new(
            Observed::Close {
                code: c.code,
                reason: c.reason.clone(),
            },
            Verdict::Fail,
            Some("an endpoint failed the connection while only delays or splits applied".into()),
        ),
        None => Judgement::new(Observed::Echo, Verdict::Pass, None),
    }
}

/// A `reset` that fired: RFC 6455 calls it an abnormal closure and leaves the
/// endpoints' reaction to them.
pub fn reset() -> Judgement {
    Judgement::new(Observed::TcpClose, Verdict::Info, None)
}

/// The answer to an upgrade request wschaos sent as a client: `expected` is the
/// status a bad request is owed (`None` for an info case with a raw request),
/// `status` what came back.
pub fn http_answer(expected: Option<u16>, status: u16) -> (Verdict, Option<String>) {
    match expected {
        Some(s) if s == status => (Verdict::Pass, None),
        Some(s) if status == 101 => (
            Verdict::Fail,
            Some(format!("accepted the upgrade where HTTP {s} was due")),
        ),
        Some(s) if (400..500).contains(&status) => (
            Verdict::NonStrict,
            Some(format!("refused with {status}, expected {s}")),
        ),
        Some(s) => (
            Verdict::Fail,
            Some(format!("answered {status}, expected {s}")),
        ),
        None if status == 101 => (Verdict::Info, Some("accepted the upgrade".into())),
        None => (Verdict::Info, None),
    }
}

/// An upgrade request answered by closing TCP, no HTTP response: acceptable for
/// a bad request (non-strict: the status was owed), reported for an info case,
/// a failure for a valid request.
pub fn http_closed(expected: Option<Option<u16>>) -> (Verdict, String) {
    let verdict = match expected {
        Some(None) => Verdict::Info,
        Some(Some(_)) => Verdict::NonStrict,
        None => Verdict::Fail,
    };
    (verdict, "closed without an HTTP response".into())
}

/// What the checker reports as observed for a case whose handshake succeeded.
pub fn observed_of(obs: &Observation, plan: &[Answer]) -> Observed {
    if obs.we_closed_first {
        return Observed::Echo;
    }
    if let Some(c) = &obs.close {
        return Observed::Close {
            code: c.code,
            reason: c.reason.clone(),
        };
    }
    if obs.tcp_closed {
        return Observed::TcpClose;
    }
    if !obs.answers.is_empty() {
        return if compare_answers(plan, &obs.answers).is_ok() {
            Observed::Echo
        } else {
            Observed::Continued
        };
    }
    Observed::Timeout
}

/// The checker's reaction: its own Close wins over answers sent before it (they
/// may have been in flight when the violation arrived).
fn reaction_close_first(obs: &Observation) -> Reaction {
    match (&obs.close, obs.tcp_closed, obs.answers.is_empty()) {
        (Some(c), _, _) => Reaction::Close(c.clone()),
        (None, true, _) => Reaction::TcpClose,
        (None, false, false) => Reaction::Continued,
        (None, false, true) => Reaction::Timeout,
    }
}

/// Judges a checker case whose handshake succeeded. `plan` is what valid traffic owes.
pub fn judge(expect: &Expect, plan: &[Answer], obs: &Observation) -> Judgement {
    let observed = observed_of(obs, plan);
    if let Some(v) = &obs.peer_violation {
        let verdict = if matches!(expect, Expect::Info) {
            Verdict::Info
        } else {
            Verdict::Fail
        };
        let note = Some(format!("the endpoint itself sent invalid data: {v}"));
        return Judgement::new(observed, verdict, note);
    }
    let (verdict, note) = match expect {
        Expect::Info => (Verdict::Info, None),
        Expect::Echo => judge_echo(plan, obs),
        Expect::Close { codes, after_valid } => judge_close(codes, *after_valid, obs),
        Expect::RefuseOpen => {
            // Anything sent back means it proceeded, whatever came after.
            let r = if obs.answers.is_empty() {
                reaction_close_first(obs)
            } else {
                Reaction::Continued
            };
            refuse_open(&r)
        }
        Expect::MandatoryExtension => {
            let r = match &obs.close {
                Some(c) if c.code == Some(CloseCode::Extension) => Reaction::Close(c.clone()),
                _ if !obs.answers.is_empty() => Reaction::Continued,
                _ => reaction_close_first(obs),
            };
            mandatory_extension(&[CloseCode::Extension], &r)
        }
        // Judged at the handshake; reaching here means the upgrade was accepted.
        Expect::HttpStatus(s) => http_answer(Some(*s), 101),
    };
    let (verdict, note) = match (verdict, obs.acted_before_end) {
        (Verdict::Pass, Some(false)) => late(expect),
        _ => (verdict, note),
    };
    Judgement::new(observed, verdict, note)
}

/// A case written with pauses whose endpoint did the right thing, but only once
/// the last piece was in: a violation failed only at the end of the message
/// instead of as soon as it arrived, or a ping answered only after the message
/// around it completed. Autobahn grades both NON-STRICT (6.4.x, 5.19, 5.20).
fn late(expect: &Expect) -> (Verdict, Option<String>) {
    let note = match expect {
        Expect::Close { .. } => "failed only after the whole message was in, not fast",
        _ => "answered only after the message around the pause completed",
    };
    (Verdict::NonStrict, Some(note.into()))
}

fn judge_echo(plan: &[Answer], obs: &Observation) -> (Verdict, Option<String>) {
    if obs.after_close_bytes > 0 {
        return (
            Verdict::Fail,
            Some(format!(
                "sent {} bytes after its own Close",
                obs.after_close_bytes
            )),
        );
    }
    if let Err(diff) = compare_answers(plan, &obs.answers) {
        let note = match (&obs.close, obs.tcp_closed) {
            (
                Some(ClosePayload {
                    code: Some(code), ..
                }),
                _,
            ) => {
                format!("closed with {code} on valid traffic; {diff}")
            }
            (Some(ClosePayload { code: None, .. }), _) => {
                format!("closed on valid traffic; {diff}")
            }
            (None, true) => format!("dropped the connection on valid traffic; {diff}"),
            _ => diff,
        };
        return (Verdict::Fail, Some(note));
    }
    let sent = plan.iter().find_map(|a| match a {
        Answer::Close { code, .. } => Some(*code),
        _ => None,
    });
    let (verdict, note) = match (&obs.close, sent) {
        // Everything was answered and we closed with 1000: the endpoint owes
        // the Close answer (RFC 6455 5.5.1).
        (Some(c), None) if obs.we_closed_first => close_answer(Some(CloseCode::Normal), c),
        (None, None) if obs.we_closed_first && obs.tcp_closed => (
            Verdict::Fail,
            Some("closed TCP without answering our Close".into()),
        ),
        (None, None) if obs.we_closed_first => {
            (Verdict::Fail, Some("did not answer our Close".into()))
        }
        (Some(c), Some(sent)) => close_answer(sent, c),
        (Some(c), None) => (
            Verdict::Fail,
            Some(format!(
                "closed ({}) before the exchange ended",
                c.code.map_or("no code".to_owned(), |c| c.to_string())
            )),
        ),
        (None, Some(_)) => (Verdict::Fail, Some("did not answer the Close".into())),
        (None, None) => (Verdict::Fail, Some("did not finish the exchange".into())),
    };
    if verdict == Verdict::Pass && !obs.tcp_closed && obs.waited_for_tcp_close {
        return (
            Verdict::NonStrict,
            Some("no TCP close after the closing handshake".to_owned()),
        );
    }
    (verdict, note)
}

/// The answer to a valid Close that carried `sent` (`None`: no status code).
/// RFC 6455 5.5.1 owes a Close back and says the answer typically echoes the
/// code received, so the echoed code passes even when it is an error code, as
/// does 1000, any other code that is not an error code, or none. An error code
/// other than the one sent fails: the endpoint took a valid Close for a violation.
pub fn close_answer(sent: Option<CloseCode>, answer: &ClosePayload) -> (Verdict, Option<String>) {
    match answer.code {
        Some(code) if code.fails_connection() && Some(code) != sent => {
            let sent = sent.map_or("a valid Close without a code".to_owned(), |s| {
                format!("a valid Close {s}")
            });
            (Verdict::Fail, Some(format!("answered {sent} with {code}")))
        }
        _ => (Verdict::Pass, None),
    }
}

fn judge_close(
    codes: &[CloseCode],
    after_valid: bool,
    obs: &Observation,
) -> (Verdict, Option<String>) {
    let (verdict, note) = violation(codes, &reaction_close_first(obs));
    if verdict != Verdict::Pass {
        return (verdict, note);
    }
    if !obs.tcp_closed && obs.waited_for_tcp_close {
        return (
            Verdict::NonStrict,
            Some("no TCP close after the closing handshake".to_owned()),
        );
    }
    if after_valid {
        let echoed_first = matches!(obs.answers.first(), Some(Answer::Message { .. }));
        let ponged = obs.answers.iter().any(|a| matches!(a, Answer::Pong(_)));
        if !echoed_first {
            return (
                Verdict::NonStrict,
                Some("the valid message before the violation was not echoed".into()),
            );
        }
        if ponged {
            return (
                Verdict::NonStrict,
                Some("answered the ping sent after the violation".into()),
            );
        }
    }
    if obs.after_close_bytes > 0 {
        let note = format!("sent {} bytes after its Close", obs.after_close_bytes);
        return (Verdict::NonStrict, Some(note));
    }
    (Verdict::Pass, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_closes_for_a_limit_are_info_and_others_fail() {
        let at = "message 1 of 1 (16777216 bytes)";
        for (code, verdict) in [
            (Some(1009), Verdict::Info),
            (Some(1008), Verdict::Info),
            (Some(1000), Verdict::Fail),
            (Some(1002), Verdict::Fail),
            (None, Verdict::Fail),
        ] {
            assert_eq!(bulk_closed(&close(code), at).verdict, verdict, "{code:?}");
        }
        let pass = Judgement::new(Observed::Echo, Verdict::Pass, Some("timing".into()));
        let j = lax_answer(pass.clone(), Some("lax".into()));
        assert_eq!(j.verdict, Verdict::NonStrict);
        assert_eq!(j.note.as_deref(), Some("lax; timing"));
        assert_eq!(lax_answer(pass.clone(), None), pass);
        let fail = Judgement::new(Observed::TcpClose, Verdict::Fail, None);
        assert_eq!(lax_answer(fail.clone(), Some("lax".into())), fail);
    }

    fn close(code: Option<u16>) -> ClosePayload {
        ClosePayload {
            code: code.map(CloseCode::from),
            reason: String::new(),
        }
    }

    fn close_obs(code: Option<u16>, tcp: bool) -> Observation {
        Observation {
            close: Some(close(code)),
            tcp_closed: tcp,
            ..Observation::default()
        }
    }

    /// A paused case (Autobahn 6.4.x, 5.19): the right reaction that came only
    /// after the last piece is non-strict; before it, or unpaused, it passes.
    #[test]
    fn a_pass_that_came_only_after_the_last_paused_piece_is_non_strict() {
        let e = Expect::Close {
            codes: vec![CloseCode::Invalid],
            after_valid: false,
        };
        let with = |early| Observation {
            acted_before_end: early,
            ..close_obs(Some(1007), true)
        };
        assert_eq!(judge(&e, &[], &with(None)).verdict, Verdict::Pass);
        assert_eq!(judge(&e, &[], &with(Some(true))).verdict, Verdict::Pass);
        let late = judge(&e, &[], &with(Some(false)));
        assert_eq!(late.verdict, Verdict::NonStrict);
        assert!(late.note.unwrap().contains("not fast"));
        // A wrong reaction stays what it was.
        let wrong = Observation {
            acted_before_end: Some(false),
            ..close_obs(Some(1000), true)
        };
        assert_eq!(judge(&e, &[], &wrong).verdict, Verdict::Fail);
    }

    #[test]
    fn close_case_verdicts_follow_spec() {
        let e = Expect::Close {
            codes: vec![CloseCode::Protocol],
            after_valid: false,
        };
        let v = |o: &Observation| judge(&e, &[], o).verdict;
        assert_eq!(v(&close_obs(Some(1002), true)), Verdict::Pass);
        assert_eq!(v(&close_obs(Some(1007), true)), Verdict::NonStrict);
        assert_eq!(v(&close_obs(None, true)), Verdict::NonStrict);
        assert_eq!(v(&close_obs(Some(1000), true)), Verdict::Fail);
        assert_eq!(v(&close_obs(Some(4000), true)), Verdict::Fail);
        assert_eq!(
            v(&Observation {
                tcp_closed: true,
                ..Default::default()
            }),
            Verdict::NonStrict
        );
        assert_eq!(
            v(&Observation {
                timed_out: true,
                ..Default::default()
            }),
            Verdict::Fail
        );
        let echoed = Observation {
            answers: vec![Answer::Pong(vec![])],
            timed_out: true,
            ..Default::default()
        };
        assert_eq!(v(&echoed), Verdict::Fail);
    }

    #[test]
    fn after_valid_needs_the_echo_first_and_no_pong() {
        let e = Expect::Close {
            codes: vec![CloseCode::Protocol],
            after_valid: true,
        };
        let msg = Answer::Message {
            kind: wschaos_codec::validate::MessageKind::Text,
            data: b"x".to_vec(),
        };
        let mut o = close_obs(Some(1002), true);
        assert_eq!(judge(&e, &[], &o).verdict, Verdict::NonStrict);
        o.answers = vec![msg.clone()];
        assert_eq!(judge(&e, &[], &o).verdict, Verdict::Pass);
        o.answers.push(Answer::Pong(vec![]));
        assert_eq!(judge(&e, &[], &o).verdict, Verdict::NonStrict);
    }

    #[test]
    fn refuse_open_and_mandatory_extension() {
        let tcp = Observation {
            tcp_closed: true,
            ..Default::default()
        };
        assert_eq!(judge(&Expect::RefuseOpen, &[], &tcp).verdict, Verdict::Pass);
        assert_eq!(
            judge(&Expect::RefuseOpen, &[], &close_obs(Some(1002), true)).verdict,
            Verdict::NonStrict
        );
        let m = |o: &Observation| judge(&Expect::MandatoryExtension, &[], o).verdict;
        assert_eq!(m(&close_obs(Some(1010), true)), Verdict::Pass);
        assert_eq!(m(&tcp), Verdict::NonStrict);
        let proceeded = Observation {
            answers: vec![Answer::Pong(vec![])],
            ..Default::default()
        };
        assert_eq!(m(&proceeded), Verdict::Info);
    }

    #[test]
    fn the_failure_codes_are_the_codecs() {
        // Every error code is non-strict where another was expected; every other
        // code on the wire is a fail.
        for code in 1000..=4999u16 {
            let c = CloseCode::from(code);
            if !c.is_valid_on_wire() || c == CloseCode::Protocol {
                continue;
            }
            let (v, _) = violation(&[CloseCode::Protocol], &Reaction::Close(close(Some(code))));
            let want = if c.fails_connection() {
                Verdict::NonStrict
            } else {
                Verdict::Fail
            };
            assert_eq!(v, want, "{code}");
        }
    }

    #[test]
    fn after_own_close_only_tcp_close_passes() {
        assert_eq!(after_own_close(&Reaction::TcpClose).0, Verdict::Pass);
        assert_eq!(
            after_own_close(&Reaction::Close(close(Some(1002)))).0,
            Verdict::NonStrict
        );
        assert_eq!(after_own_close(&Reaction::Continued).0, Verdict::Fail);
    }

    fn close_plan(code: Option<u16>) -> Vec<Answer> {
        vec![Answer::Close {
            code: code.map(CloseCode::from),
            reason: String::new(),
        }]
    }

    #[test]
    fn a_valid_close_may_be_answered_with_its_own_code_or_1000() {
        let valid = [
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ];
        for sent in valid {
            let plan = close_plan(Some(sent));
            let v = |reply: Option<u16>| judge(&Expect::Echo, &plan, &close_obs(reply, true));
            assert_eq!(v(Some(sent)).verdict, Verdict::Pass, "{sent} echoed");
            assert_eq!(v(Some(1000)).verdict, Verdict::Pass, "{sent} answered 1000");
            assert_eq!(v(Some(1001)).verdict, Verdict::Pass, "{sent} answered 1001");
            assert_eq!(
                v(None).verdict,
                Verdict::Pass,
                "{sent} answered without code"
            );
            // Another error code: the endpoint took the valid Close for a violation.
            let other = if sent == 1002 { 1011 } else { 1002 };
            let j = v(Some(other));
            assert_eq!(j.verdict, Verdict::Fail, "{sent} answered {other}");
            assert_eq!(
                j.note.as_deref(),
                Some(format!("answered a valid Close {sent} with {other}").as_str())
            );
        }
        // An empty Close: any answer but an error code.
        let plan = close_plan(None);
        let v = |reply: Option<u16>| judge(&Expect::Echo, &plan, &close_obs(reply, true)).verdict;
        assert_eq!(v(None), Verdict::Pass);
        assert_eq!(v(Some(1000)), Verdict::Pass);
        assert_eq!(v(Some(1002)), Verdict::Fail);
        // Unchanged: no answer at all, or a TCP drop, where a Close was owed.
        let dropped = Observation {
            tcp_closed: true,
            ..Observation::default()
        };
        assert_eq!(
            judge(&Expect::Echo, &close_plan(Some(1011)), &dropped).verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn the_answer_to_our_close_after_the_echo_is_judged() {
        let msg = Answer::Message {
            kind: wschaos_codec::validate::MessageKind::Text,
            data: b"x".to_vec(),
        };
        let plan = vec![msg.clone()];
        let obs = |close: Option<ClosePayload>, tcp: bool| Observation {
            answers: vec![msg.clone()],
            we_closed_first: true,
            close,
            tcp_closed: tcp,
            timed_out: !tcp,
            ..Observation::default()
        };
        let v = |o: &Observation| judge(&Expect::Echo, &plan, o).verdict;
        assert_eq!(v(&obs(Some(close(Some(1000))), true)), Verdict::Pass);
        assert_eq!(v(&obs(Some(close(None)), true)), Verdict::Pass);
        assert_eq!(v(&obs(Some(close(Some(1002))), true)), Verdict::Fail);
        assert_eq!(v(&obs(None, true)), Verdict::Fail);
        assert_eq!(v(&obs(None, false)), Verdict::Fail);
        assert_eq!(
            judge(&Expect::Echo, &plan, &obs(Some(close(Some(1000))), true)).observed,
            Observed::Echo
        );
    }

    #[test]
    fn a_server_that_keeps_tcp_open_after_the_closing_handshake_is_non_strict() {
        let plan = close_plan(Some(1000));
        let mut o = close_obs(Some(1000), false);
        o.waited_for_tcp_close = true;
        let j = judge(&Expect::Echo, &plan, &o);
        assert_eq!(j.verdict, Verdict::NonStrict);
        assert_eq!(
            j.note.as_deref(),
            Some("no TCP close after the closing handshake")
        );
        o.tcp_closed = true;
        assert_eq!(judge(&Expect::Echo, &plan, &o).verdict, Verdict::Pass);
        // A wrong answer stays a failure, TCP close or not.
        let mut wrong = close_obs(Some(1002), false);
        wrong.waited_for_tcp_close = true;
        assert_eq!(judge(&Expect::Echo, &plan, &wrong).verdict, Verdict::Fail);
        // The client side does not wait for the client's TCP close: we close it.
        let client_side = close_obs(Some(1000), false);
        assert_eq!(
            judge(&Expect::Echo, &plan, &client_side).verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn http_answers() {
        assert_eq!(http_answer(Some(400), 400).0, Verdict::Pass);
        assert_eq!(http_answer(Some(400), 426).0, Verdict::NonStrict);
        assert_eq!(http_answer(Some(400), 500).0, Verdict::Fail);
        assert_eq!(http_answer(Some(400), 101).0, Verdict::Fail);
        assert_eq!(http_answer(None, 426).0, Verdict::Info);
    }
}
