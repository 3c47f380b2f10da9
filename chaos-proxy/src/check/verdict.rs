//! From an observation to a verdict, following SPEC.md: `pass` is the right Close
//! then TCP close; `non-strict` failed the connection without the right Close
//! (TCP drop, empty Close, or another error code); `fail` carried on, closed
//! normally, used a non-error code, or timed out; `info` reports only.

use crate::catalogue::Expect;
use crate::check::observe::{Answer, Observation, compare_answers};
use crate::report::{Observed, Verdict};

/// Codes that say "this connection failed because of an error".
fn is_error_code(code: u16) -> bool {
    matches!(code, 1002 | 1003 | 1007 | 1008 | 1009 | 1010 | 1011)
}

pub fn observed_of(obs: &Observation, plan: &[Answer]) -> Observed {
    if obs.we_closed_first {
        return Observed::Echo;
    }
    if let Some((code, reason)) = &obs.close {
        return Observed::Close {
            code: *code,
            reason: reason.clone(),
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

/// Judges a case whose handshake succeeded. `plan` is what valid traffic owes.
pub fn judge(
    expect: &Expect,
    plan: &[Answer],
    obs: &Observation,
) -> (Observed, Verdict, Option<String>) {
    let observed = observed_of(obs, plan);
    if let Some(v) = &obs.peer_violation {
        let verdict = if matches!(expect, Expect::Info) {
            Verdict::Info
        } else {
            Verdict::Fail
        };
        return (
            observed,
            verdict,
            Some(format!("the endpoint itself sent invalid data: {v}")),
        );
    }
    let (verdict, note) = match expect {
        Expect::Info => (Verdict::Info, None),
        Expect::Echo => judge_echo(plan, obs),
        Expect::Close { codes, after_valid } => {
            let codes: Vec<u16> = codes.iter().map(|&c| u16::from(c)).collect();
            judge_close(&codes, *after_valid, obs)
        }
        Expect::RefuseOpen => judge_refuse_open(obs),
        Expect::MandatoryExtension => judge_mandatory(obs),
        // Judged at the handshake; reaching here means the upgrade was accepted.
        Expect::HttpStatus(s) => (
            Verdict::Fail,
            Some(format!("accepted the upgrade where HTTP {s} was due")),
        ),
    };
    (observed, verdict, note)
}

fn judge_echo(plan: &[Answer], obs: &Observation) -> (Verdict, Option<String>) {
    let plan_closes = plan.iter().any(|a| matches!(a, Answer::Close { .. }));
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
        let note = match (&obs.close, obs.tcp_closed, obs.timed_out) {
            (Some((Some(code), _)), _, _) => format!("closed with {code} on valid traffic; {diff}"),
            (Some((None, _)), _, _) => format!("closed on valid traffic; {diff}"),
            (None, true, _) => format!("dropped the connection on valid traffic; {diff}"),
            _ => diff,
        };
        return (Verdict::Fail, Some(note));
    }
    if obs.we_closed_first {
        return (Verdict::Pass, None);
    }
    match &obs.close {
        Some((code, _)) if plan_closes => match code {
            Some(c) if is_error_code(*c) => (
                Verdict::Fail,
                Some(format!("answered a valid Close with {c}")),
            ),
            _ => (Verdict::Pass, None),
        },
        Some((code, _)) => (
            Verdict::Fail,
            Some(format!("closed ({code:?}) before the exchange ended")),
        ),
        None if plan_closes => (Verdict::Fail, Some("did not answer the Close".into())),
        None => (Verdict::Fail, Some("did not finish the exchange".into())),
    }
}

fn judge_close(codes: &[u16], after_valid: bool, obs: &Observation) -> (Verdict, Option<String>) {
    let expected = codes
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join("|");
    let (verdict, mut note) = match &obs.close {
        Some((Some(c), _)) if codes.contains(c) => {
            if !obs.tcp_closed && obs.waited_for_tcp_close {
                (
                    Verdict::NonStrict,
                    Some("no TCP close after the closing handshake".to_owned()),
                )
            } else {
                (Verdict::Pass, None)
            }
        }
        Some((Some(c), _)) if is_error_code(*c) => (
            Verdict::NonStrict,
            Some(format!("closed with {c}, expected {expected}")),
        ),
        Some((Some(c), _)) => (
            Verdict::Fail,
            Some(format!(
                "closed with {c} on a violation, expected {expected}"
            )),
        ),
        Some((None, _)) => (
            Verdict::NonStrict,
            Some(format!("Close without a status code, expected {expected}")),
        ),
        None if obs.tcp_closed => (
            Verdict::NonStrict,
            Some(format!(
                "dropped TCP without a Close frame, expected {expected}"
            )),
        ),
        None if !obs.answers.is_empty() => (
            Verdict::Fail,
            Some("carried on as if the data were valid".into()),
        ),
        None => (Verdict::Fail, Some("no reaction before the timeout".into())),
    };
    if after_valid && verdict == Verdict::Pass {
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
    if verdict == Verdict::Pass && obs.after_close_bytes > 0 {
        note = Some(format!(
            "sent {} bytes after its Close",
            obs.after_close_bytes
        ));
        return (Verdict::NonStrict, note);
    }
    (verdict, note)
}

fn judge_refuse_open(obs: &Observation) -> (Verdict, Option<String>) {
    match (&obs.close, obs.answers.is_empty(), obs.tcp_closed) {
        (None, true, true) => (Verdict::Pass, None),
        (Some(_), true, _) => (
            Verdict::NonStrict,
            Some("sent a Close frame: it treated the connection as open".into()),
        ),
        (_, false, _) => (
            Verdict::Fail,
            Some("proceeded on an invalid opening handshake".into()),
        ),
        (None, true, false) => (
            Verdict::Fail,
            Some("neither closed the connection nor proceeded".into()),
        ),
    }
}

fn judge_mandatory(obs: &Observation) -> (Verdict, Option<String>) {
    match &obs.close {
        Some((Some(1010), _)) => (Verdict::Pass, None),
        Some((Some(c), _)) if is_error_code(*c) && obs.answers.is_empty() => (
            Verdict::NonStrict,
            Some(format!("closed with {c}, 1010 names a missing extension")),
        ),
        _ if !obs.answers.is_empty() => (
            Verdict::Info,
            Some("proceeded without the extension: legal when it was optional".into()),
        ),
        None if obs.tcp_closed => (
            Verdict::NonStrict,
            Some("dropped TCP without a Close 1010".into()),
        ),
        _ => (
            Verdict::Info,
            Some("no 1010: legal when the extension was optional".into()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wschaos_codec::CloseCode;

    fn close_obs(code: Option<u16>, tcp: bool) -> Observation {
        Observation {
            close: Some((code, String::new())),
            tcp_closed: tcp,
            ..Observation::default()
        }
    }

    #[test]
    fn close_case_verdicts_follow_spec() {
        let e = Expect::Close {
            codes: vec![CloseCode::Protocol],
            after_valid: false,
        };
        let v = |o: &Observation| judge(&e, &[], o).1;
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
        assert_eq!(judge(&e, &[], &o).1, Verdict::NonStrict);
        o.answers = vec![msg.clone()];
        assert_eq!(judge(&e, &[], &o).1, Verdict::Pass);
        o.answers.push(Answer::Pong(vec![]));
        assert_eq!(judge(&e, &[], &o).1, Verdict::NonStrict);
    }

    #[test]
    fn refuse_open_and_mandatory_extension() {
        let tcp = Observation {
            tcp_closed: true,
            ..Default::default()
        };
        assert_eq!(judge(&Expect::RefuseOpen, &[], &tcp).1, Verdict::Pass);
        assert_eq!(
            judge(&Expect::RefuseOpen, &[], &close_obs(Some(1002), true)).1,
            Verdict::NonStrict
        );
        assert_eq!(
            judge(
                &Expect::MandatoryExtension,
                &[],
                &close_obs(Some(1010), true)
            )
            .1,
            Verdict::Pass
        );
        assert_eq!(
            judge(&Expect::MandatoryExtension, &[], &tcp).1,
            Verdict::NonStrict
        );
        let proceeded = Observation {
            answers: vec![Answer::Pong(vec![])],
            ..Default::default()
        };
        assert_eq!(
            judge(&Expect::MandatoryExtension, &[], &proceeded).1,
            Verdict::Info
        );
    }
}
