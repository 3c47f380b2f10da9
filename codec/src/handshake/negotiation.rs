//! permessage-deflate negotiation (RFC 7692 section 7) as the checker drives it:
//! the offers a client makes, the answer a server gives to a client's offers,
//! and whether a server's answer fits what was offered. The profiles are the
//! negotiations Autobahn|Testsuite exercises (its cases 13.1 to 13.7).

use super::extension::{DeflateParams, ExtensionOffer, PERMESSAGE_DEFLATE};

/// One negotiation: what is offered (as a client) or asked for (as a server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeflateProfile {
    /// A bare offer (`client_max_window_bits` announced); accepted as offered.
    Plain,
    /// The client asks `server_no_context_takeover`; the server asks
    /// `client_no_context_takeover`.
    NoContext,
    /// `server_max_window_bits=9` asked; the server answers `client_max_window_bits=9`.
    Window9,
    /// As `Window9` with 15 bits.
    Window15,
    /// No context takeover and 9-bit windows both ways.
    NoContextWindow9,
    /// No context takeover and 15-bit windows both ways.
    NoContextWindow15,
    /// Three offers in one header, most to least demanding (`NoContextWindow9`,
    /// `NoContext`, `Plain`); the server takes the first it can.
    Fallback,
}

impl DeflateProfile {
    pub const ALL: [DeflateProfile; 7] = [
        DeflateProfile::Plain,
        DeflateProfile::NoContext,
        DeflateProfile::Window9,
        DeflateProfile::Window15,
        DeflateProfile::NoContextWindow9,
        DeflateProfile::NoContextWindow15,
        DeflateProfile::Fallback,
    ];

    /// The name used in case ids.
    pub fn name(self) -> &'static str {
        match self {
            DeflateProfile::Plain => "plain",
            DeflateProfile::NoContext => "no-context",
            DeflateProfile::Window9 => "window-9",
            DeflateProfile::Window15 => "window-15",
            DeflateProfile::NoContextWindow9 => "no-context-window-9",
            DeflateProfile::NoContextWindow15 => "no-context-window-15",
            DeflateProfile::Fallback => "fallback",
        }
    }

    /// What the profile asks of the other side: (no context takeover, window bits).
    fn asks(self) -> (bool, Option<u8>) {
        match self {
            DeflateProfile::Plain | DeflateProfile::Fallback => (false, None),
            DeflateProfile::NoContext => (true, None),
            DeflateProfile::Window9 => (false, Some(9)),
            DeflateProfile::Window15 => (false, Some(15)),
            DeflateProfile::NoContextWindow9 => (true, Some(9)),
            DeflateProfile::NoContextWindow15 => (true, Some(15)),
        }
    }

    /// The offers a client makes, in order of preference: `Plain` is a bare
    /// `permessage-deflate`; the others ask the server what the profile asks and
    /// announce `client_max_window_bits`, so that the server may limit ours.
    pub fn offers(self) -> Vec<DeflateParams> {
        let offer = |p: DeflateProfile| {
            let (no_context, bits) = p.asks();
            DeflateParams {
                server_no_context_takeover: no_context,
                server_max_window_bits: bits,
                client_max_window_bits: (p != DeflateProfile::Plain).then_some(15),
                client_no_context_takeover: false,
            }
        };
        match self {
            DeflateProfile::Fallback => vec![
                offer(DeflateProfile::NoContextWindow9),
                offer(DeflateProfile::NoContext),
                offer(DeflateProfile::Plain),
            ],
            p => vec![offer(p)],
        }
    }

    /// The header elements of [`Self::offers`].
    pub fn offer_elements(self) -> Vec<ExtensionOffer> {
        self.offers().iter().map(DeflateParams::to_offer).collect()
    }

    /// A server's answer to a client's deflate offers (already parsed, in the
    /// client's order): the first offer the profile can accept, answered with
    /// what the offer asked (RFC 7692 requires echoing `server_no_context_takeover`
    /// and a `server_max_window_bits` no larger than asked) and what the profile
    /// asks of the client. `None` declines: a window can only be asked of a
    /// client that announced `client_max_window_bits`.
    pub fn accept(self, offers: &[DeflateParams]) -> Option<DeflateParams> {
        if self == DeflateProfile::Fallback {
            return [
                DeflateProfile::NoContextWindow9,
                DeflateProfile::NoContext,
                DeflateProfile::Plain,
            ]
            .into_iter()
            .find_map(|p| p.accept(offers));
        }
        let (no_context, bits) = self.asks();
        offers.iter().find_map(|offer| {
            if bits.is_some() && offer.client_max_window_bits.is_none() {
                return None;
            }
            Some(DeflateParams {
                server_no_context_takeover: offer.server_no_context_takeover,
                server_max_window_bits: offer.server_max_window_bits,
                client_no_context_takeover: no_context,
                client_max_window_bits: match (bits, offer.client_max_window_bits) {
                    (Some(b), Some(max)) => Some(b.min(max)),
                    _ => None,
                },
            })
        })
    }
}

/// Checks a server's permessage-deflate answer against the client's offers:
/// it must parse (known parameters, valid values) and fit at least one offer
/// (RFC 7692 7.1: `server_no_context_takeover` echoed when asked, a
/// `server_max_window_bits` no larger than asked, `client_max_window_bits`
/// only when announced, no larger than announced). Returns the agreed
/// parameters, with a note when the answer left out something it owed that
/// changes nothing (`server_max_window_bits=15` asked and not echoed: 15 is
/// the default window); or one line saying what is wrong.
pub fn check_answer(
    offers: &[DeflateParams],
    answer: &ExtensionOffer,
) -> Result<(DeflateParams, Option<String>), String> {
    let shown = answer.to_header_value();
    let agreed = DeflateParams::from_response(answer)
        .map_err(|e| format!("invalid permessage-deflate answer `{shown}`: {e}"))?;
    let mut why = String::new();
    let mut lax = None;
    for offer in offers {
        match fits(offer, &agreed) {
            Ok(None) => return Ok((agreed, None)),
            Ok(Some(note)) => {
                lax.get_or_insert(note);
            }
            Err(e) if why.is_empty() => why = e,
            Err(_) => {}
        }
    }
    match lax {
        Some(note) => Ok((agreed, Some(note))),
        None => Err(format!(
            "the permessage-deflate answer `{shown}` fits no offer: {why}"
        )),
    }
}

fn fits(offer: &DeflateParams, agreed: &DeflateParams) -> Result<Option<String>, String> {
    let mut lax = None;
    if offer.server_no_context_takeover && !agreed.server_no_context_takeover {
        return Err("server_no_context_takeover was asked and not answered".into());
    }
    if let Some(asked) = offer.server_max_window_bits {
        match agreed.server_max_window_bits {
            Some(got) if got <= asked => {}
            Some(got) => {
                return Err(format!(
                    "server_max_window_bits={got} is larger than the {asked} asked"
                ));
            }
            None if asked == 15 => {
                lax = Some(
                    "accepted server_max_window_bits=15 without echoing it (RFC 7692 7.1.2.1); \
                     15 bits is the default window, so nothing changes"
                        .to_owned(),
                );
            }
            None => return Err(format!("server_max_window_bits={asked} was not answered")),
        }
    }
    match (agreed.client_max_window_bits, offer.client_max_window_bits) {
        (Some(_), None) => Err("client_max_window_bits was not announced".into()),
        (Some(got), Some(max)) if got > max => Err(format!(
            "client_max_window_bits={got} is larger than the {max} announced"
        )),
        _ => Ok(lax),
    }
}

/// The permessage-deflate elements of an extension list (`Sec-WebSocket-Extensions`).
pub fn deflate_elements(list: &[ExtensionOffer]) -> Vec<&ExtensionOffer> {
    list.iter()
        .filter(|e| e.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(value: &str) -> ExtensionOffer {
        super::super::parse_extensions(value.as_bytes()).unwrap()[0].clone()
    }

    #[test]
    fn answers_are_checked_against_the_offers() {
        let offers = DeflateProfile::NoContextWindow9.offers();
        assert!(
            check_answer(
                &offers,
                &answer("permessage-deflate; server_no_context_takeover; server_max_window_bits=9")
            )
            .is_ok()
        );
        let e = check_answer(
            &offers,
            &answer("permessage-deflate; server_max_window_bits=9"),
        )
        .unwrap_err();
        assert!(e.contains("server_no_context_takeover"), "{e}");
        let e = check_answer(
            &offers,
            &answer("permessage-deflate; server_no_context_takeover; server_max_window_bits=10"),
        )
        .unwrap_err();
        assert!(e.contains("larger"), "{e}");
        let e = check_answer(&offers, &answer("permessage-deflate; x_bogus")).unwrap_err();
        assert!(e.contains("invalid"), "{e}");
        // Any one of several offers will do.
        let offers = DeflateProfile::Fallback.offers();
        assert!(check_answer(&offers, &answer("permessage-deflate")).is_ok());
        assert!(
            check_answer(
                &offers,
                &answer("permessage-deflate; server_no_context_takeover; client_max_window_bits=9")
            )
            .is_ok()
        );
        // 15 bits asked and not echoed: lax, harmless; 9 asked and not echoed: wrong.
        let (_, note) = check_answer(
            &DeflateProfile::Window15.offers(),
            &answer("permessage-deflate"),
        )
        .unwrap();
        assert!(note.unwrap().contains("default window"));
        assert!(
            check_answer(
                &DeflateProfile::Window9.offers(),
                &answer("permessage-deflate")
            )
            .is_err()
        );
        // A bare offer announces no client window.
        let bare = DeflateProfile::Plain.offers();
        assert_eq!(bare[0].to_offer().to_header_value(), "permessage-deflate");
        let e = check_answer(
            &bare,
            &answer("permessage-deflate; client_max_window_bits=9"),
        )
        .unwrap_err();
        assert!(e.contains("not announced"), "{e}");
    }

    #[test]
    fn a_server_answers_what_the_profile_asks() {
        let browser = [DeflateParams {
            client_max_window_bits: Some(15),
            ..DeflateParams::default()
        }];
        let a = DeflateProfile::NoContextWindow9.accept(&browser).unwrap();
        assert!(a.client_no_context_takeover);
        assert_eq!(a.client_max_window_bits, Some(9));
        // A window cannot be asked of a client that did not announce it.
        let bare = [DeflateParams::default()];
        assert_eq!(DeflateProfile::Window9.accept(&bare), None);
        assert_eq!(
            DeflateProfile::Fallback.accept(&bare),
            Some(DeflateParams {
                client_no_context_takeover: true,
                ..DeflateParams::default()
            })
        );
        // What the client asked of the server is answered.
        let asks = [DeflateParams {
            server_no_context_takeover: true,
            server_max_window_bits: Some(10),
            ..DeflateParams::default()
        }];
        let a = DeflateProfile::Plain.accept(&asks).unwrap();
        assert!(a.server_no_context_takeover);
        assert_eq!(a.server_max_window_bits, Some(10));
        // Our own answers fit our own offers.
        for p in DeflateProfile::ALL {
            let a = p.accept(&p.offers()).unwrap();
            assert!(check_answer(&p.offers(), &a.to_offer()).is_ok(), "{p:?}");
        }
    }
}
