//! Refresh-token rotation with reuse detection (RFC 9700 §4.14.2; Microsoft identity platform
//! refresh token lifetimes): every use returns a new token and retires the old one; presenting a
//! retired token means it was stolen or replayed, so the whole family is revoked. SPA tokens
//! live 24 hours from the original sign-in; others expire after 90 days without use.

use crate::error::{AadstsError, Code};
use crate::ids::{ObjectId, TenantId};
use crate::time::Timestamp;

/// Sliding inactivity lifetime for non-SPA refresh tokens (90 days).
pub const INACTIVITY_SECS: i64 = 90 * 24 * 3600;
/// Fixed lifetime of SPA refresh tokens (24 hours).
pub const SPA_LIFETIME_SECS: i64 = 24 * 3600;

/// Where a refresh token is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshState {
    /// The live token of its family.
    Active,
    /// Replaced by a newer token (rotation); presenting it again is reuse.
    Rotated,
    /// Revoked (reuse detected, password change, `revokeSignInSessions`, disable).
    Revoked,
}

/// A stored refresh token (only its hash is stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshToken {
    /// SHA-256 of the token text.
    pub hash: [u8; 32],
    /// The family (all tokens descended from one sign-in).
    pub family: ObjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// The client's appId.
    pub client_id: String,
    /// The user.
    pub user_id: ObjectId,
    /// Scopes granted at sign-in (space-separated); a refresh cannot widen them.
    pub scope: String,
    /// Issued to a SPA redirect (fixed 24 h lifetime).
    pub spa: bool,
    /// The original sign-in time of the family.
    pub family_started: Timestamp,
    /// When this token was issued.
    pub issued: Timestamp,
    /// State.
    pub state: RefreshState,
}

/// What to do with a presented refresh token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Valid: issue tokens, mark this one rotated, store the successor.
    Rotate,
    /// Reuse of a rotated token: refuse and revoke the whole family.
    RevokeFamily(AadstsError),
    /// Refuse without side effects.
    Refuse(AadstsError),
}

/// Decides a refresh: the token must be active, belong to this client, be within its lifetime,
/// and the requested scopes (if any) must be within the granted ones.
pub fn decide(
    t: &RefreshToken,
    client_id: &str,
    requested: Option<&[String]>,
    now: Timestamp,
) -> RefreshDecision {
    match t.state {
        RefreshState::Rotated => {
            return RefreshDecision::RevokeFamily(Code::RefreshTokenReused.aadsts(&[]))
        }
        RefreshState::Revoked => {
            return RefreshDecision::Refuse(Code::RefreshTokenRevoked.aadsts(&[]))
        }
        RefreshState::Active => {}
    }
    if t.client_id != client_id {
        return RefreshDecision::Refuse(Code::RefreshTokenOtherClient.aadsts(&[]));
    }
    if t.spa && now >= t.family_started.plus_secs(SPA_LIFETIME_SECS) {
        return RefreshDecision::Refuse(Code::RefreshTokenSpaExpired.aadsts(&[]));
    }
    if !t.spa && now >= t.issued.plus_secs(INACTIVITY_SECS) {
        return RefreshDecision::Refuse(Code::RefreshTokenInactive.aadsts(&[]));
    }
    if let Some(req) = requested {
        let granted: Vec<String> = t
            .scope
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        if let Some(extra) = req
            .iter()
            .find(|s| !granted.contains(&s.to_ascii_lowercase()))
        {
            return RefreshDecision::Refuse(Code::RefreshWidensScope.aadsts(&[("scope", &extra)]));
        }
    }
    RefreshDecision::Rotate
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(state: RefreshState, spa: bool) -> RefreshToken {
        RefreshToken {
            hash: [1; 32],
            family: ObjectId::from_random([2; 16]),
            tenant_id: TenantId::from_random([3; 16]),
            client_id: "client".into(),
            user_id: ObjectId::from_random([4; 16]),
            scope: "User.Read offline_access openid".into(),
            spa,
            family_started: Timestamp::from_secs(1_000),
            issued: Timestamp::from_secs(5_000),
            state,
        }
    }
    fn code(d: RefreshDecision) -> Option<u32> {
        match d {
            RefreshDecision::Rotate => None,
            RefreshDecision::RevokeFamily(e) | RefreshDecision::Refuse(e) => Some(e.code),
        }
    }
    const NOW: Timestamp = Timestamp::from_secs(10_000);

    #[test]
    fn rotation_and_reuse() {
        assert_eq!(
            decide(&token(RefreshState::Active, false), "client", None, NOW),
            RefreshDecision::Rotate
        );
        assert!(matches!(
            decide(&token(RefreshState::Rotated, false), "client", None, NOW),
            RefreshDecision::RevokeFamily(_)
        ));
        assert_eq!(
            code(decide(
                &token(RefreshState::Revoked, false),
                "client",
                None,
                NOW
            )),
            Some(50173)
        );
        assert_eq!(
            code(decide(
                &token(RefreshState::Active, false),
                "other",
                None,
                NOW
            )),
            Some(70000)
        );
    }

    #[test]
    fn lifetimes() {
        let t = token(RefreshState::Active, false);
        assert_eq!(
            decide(&t, "client", None, t.issued.plus_secs(INACTIVITY_SECS - 1)),
            RefreshDecision::Rotate
        );
        assert_eq!(
            code(decide(
                &t,
                "client",
                None,
                t.issued.plus_secs(INACTIVITY_SECS)
            )),
            Some(700082)
        );
        let s = token(RefreshState::Active, true);
        assert_eq!(
            decide(
                &s,
                "client",
                None,
                s.family_started.plus_secs(SPA_LIFETIME_SECS - 1)
            ),
            RefreshDecision::Rotate
        );
        assert_eq!(
            code(decide(
                &s,
                "client",
                None,
                s.family_started.plus_secs(SPA_LIFETIME_SECS)
            )),
            Some(700084),
            "SPA: fixed from the first sign-in, not sliding"
        );
    }

    #[test]
    fn scopes_cannot_widen() {
        let t = token(RefreshState::Active, false);
        assert_eq!(
            decide(&t, "client", Some(&["user.read".to_string()]), NOW),
            RefreshDecision::Rotate
        );
        assert_eq!(
            code(decide(&t, "client", Some(&["Mail.Read".to_string()]), NOW)),
            Some(70011)
        );
    }
}
