//! The device authorization grant (RFC 8628; Microsoft identity platform device code flow):
//! user codes, and what a poll of the token endpoint answers at each stage.

use crate::error::{AadstsError, Code};
use crate::ids::ObjectId;
use crate::model::{Grant, GrantKind, GrantState};
use crate::time::Timestamp;

/// Device codes live 15 minutes (Entra's `expires_in` 900).
pub const DEVICE_CODE_LIFETIME_SECS: i64 = 900;
/// Minimum seconds between polls (`interval`).
pub const POLL_INTERVAL_SECS: i64 = 5;
/// User-code alphabet: no vowels (no words), no look-alikes (0/O, 1/I/L).
pub const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKMNPQRSTVWXZ23456789";
/// User-code length (9, as Entra's).
pub const USER_CODE_LEN: usize = 9;

/// Builds a user code from random bytes (one byte per character, rejection-free modulo: the
/// alphabet has 27 symbols, the bias is below 4% per character and codes live 15 minutes).
pub fn user_code(random: &[u8]) -> String {
    random
        .iter()
        .take(USER_CODE_LEN)
        .map(|b| {
            let i = usize::from(*b) % USER_CODE_ALPHABET.len();
            char::from(USER_CODE_ALPHABET.get(i).copied().unwrap_or(b'B'))
        })
        .collect()
}

/// Normalises what a person typed: case, spaces and dashes do not matter.
pub fn normalise_user_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// What a poll answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Poll {
    /// The user approved: redeem (compare-and-set Approved → Used) and issue tokens for them.
    Issue(ObjectId),
    /// An error to return; `touch` says whether to record this poll's time (for `slow_down`).
    Wait {
        /// The error.
        error: AadstsError,
        /// Record the poll time.
        touch: bool,
    },
}

/// Decides a poll. `last_poll` is the previous poll's time (the `last_poll` attribute).
pub fn poll(g: &Grant, client_id: &str, now: Timestamp) -> Poll {
    let wait = |error, touch| Poll::Wait { error, touch };
    if g.kind != GrantKind::Device {
        return wait(Code::DeviceCodeUnknown.aadsts(&[]), false);
    }
    if g.attr("client_id") != Some(client_id) {
        return wait(Code::DeviceCodeOtherClient.aadsts(&[]), false);
    }
    if now >= g.expires {
        return wait(Code::DeviceCodeExpired.aadsts(&[]), false);
    }
    match (g.state, g.user_id) {
        (GrantState::Approved, Some(user)) => Poll::Issue(user),
        (GrantState::Declined, _) => wait(Code::DeviceCodeDeclined.aadsts(&[]), false),
        (GrantState::Used, _) => wait(Code::DeviceCodeRedeemed.aadsts(&[]), false),
        (GrantState::Revoked, _) => wait(
            AadstsError::expired_grant("the device code was revoked"),
            false,
        ),
        _ => {
            let last = g.attr_i64("last_poll").map(Timestamp);
            // One second of tolerance: clients sleep `interval` and then send.
            let too_fast = last.is_some_and(|l| now < l.plus_secs(POLL_INTERVAL_SECS - 1));
            if too_fast {
                wait(Code::DeviceCodeSlowDown.aadsts(&[]), true)
            } else {
                wait(Code::DeviceCodePending.aadsts(&[]), true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;

    fn grant(state: GrantState, user: Option<ObjectId>) -> Grant {
        Grant {
            handle: "h".into(),
            kind: GrantKind::Device,
            tenant_id: TenantId::from_random([1; 16]),
            family: None,
            user_id: user,
            lookup: Some("BCDFGHJKM".into()),
            state,
            created: Timestamp::from_secs(0),
            expires: Timestamp::from_secs(DEVICE_CODE_LIFETIME_SECS),
            attrs: vec![("client_id".into(), "c".into())],
        }
    }

    fn error_of(p: &Poll) -> &str {
        match p {
            Poll::Issue(_) => "issue",
            Poll::Wait { error, .. } => error.error.as_str(),
        }
    }

    #[test]
    fn each_stage_answers_its_error() {
        let u = ObjectId::from_random([2; 16]);
        let at = Timestamp::from_secs(10);
        assert_eq!(
            error_of(&poll(&grant(GrantState::Pending, None), "c", at)),
            "authorization_pending"
        );
        assert_eq!(
            poll(&grant(GrantState::Approved, Some(u)), "c", at),
            Poll::Issue(u)
        );
        assert_eq!(
            error_of(&poll(&grant(GrantState::Declined, None), "c", at)),
            "authorization_declined"
        );
        assert_eq!(
            error_of(&poll(
                &grant(GrantState::Pending, None),
                "c",
                Timestamp::from_secs(900)
            )),
            "expired_token"
        );
        assert_eq!(
            error_of(&poll(&grant(GrantState::Approved, Some(u)), "other", at)),
            "bad_verification_code"
        );
        assert_eq!(
            error_of(&poll(&grant(GrantState::Used, Some(u)), "c", at)),
            "invalid_grant"
        );
    }

    #[test]
    fn polling_too_fast_is_slow_down() {
        let mut g = grant(GrantState::Pending, None);
        g.set("last_poll", Timestamp::from_secs(10).millis().to_string());
        assert_eq!(
            error_of(&poll(&g, "c", Timestamp::from_secs(12))),
            "slow_down"
        );
        assert_eq!(
            error_of(&poll(&g, "c", Timestamp::from_secs(14))),
            "authorization_pending"
        );
    }

    #[test]
    fn user_codes_use_the_alphabet_and_normalise() {
        let c = user_code(&[0, 1, 2, 3, 4, 5, 6, 7, 200, 9]);
        assert_eq!(c.len(), USER_CODE_LEN);
        assert!(c.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
        assert_eq!(normalise_user_code(" bcd-fgh jkm "), "BCDFGHJKM");
    }
}
