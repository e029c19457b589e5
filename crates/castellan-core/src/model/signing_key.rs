//! Token-signing keys and their lifecycle (publish before use, keep after retirement).

use crate::time::Timestamp;

/// A signing key as stored. The private key is encrypted by the server before it gets here.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// `kid` (= `x5t`, the base64url SHA-1 thumbprint of the certificate).
    pub kid: String,
    /// The self-signed certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key (PKCS#8), encrypted with the master key.
    pub private_key_sealed: Vec<u8>,
    /// Created and published.
    pub created: Timestamp,
    /// From when it signs (later than `created`, so validators see it first).
    pub active_from: Timestamp,
    /// When it stopped signing, if it has.
    pub retired_at: Option<Timestamp>,
    /// When it leaves the JWKS (after every token it signed has expired).
    pub unpublish_at: Option<Timestamp>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("active_from", &self.active_from)
            .finish_non_exhaustive()
    }
}

/// Pure key-lifecycle rules. A key is published before it signs (so validators with cached
/// JWKS already know it), signs until a newer key becomes active, and stays published until
/// every token it signed has expired.
impl SigningKey {
    /// Whether the key may sign at `now` (active and not revoked).
    pub fn can_sign(&self, now: Timestamp) -> bool {
        self.active_from <= now && self.retired_at.is_none_or(|r| now < r)
    }
}

/// Which key signs at `now`: the newest key that may sign.
pub fn current_signing_key(keys: &[SigningKey], now: Timestamp) -> Option<&SigningKey> {
    keys.iter()
        .filter(|k| k.can_sign(now))
        .max_by_key(|k| k.active_from)
}

/// The keys to publish at `now`: upcoming keys, the current key, and superseded keys until
/// `token_lifetime_secs` (plus five minutes of clock skew) after they stopped signing.
pub fn published_keys(
    keys: &[SigningKey],
    now: Timestamp,
    token_lifetime_secs: i64,
) -> Vec<&SigningKey> {
    let current = current_signing_key(keys, now).map(|k| k.kid.as_str());
    keys.iter()
        .filter(|k| k.unpublish_at.is_none_or(|t| now < t))
        .filter(|k| {
            if k.active_from > now || Some(k.kid.as_str()) == current {
                return true;
            }
            let stopped = keys
                .iter()
                .filter(|n| n.active_from > k.active_from && n.active_from <= now)
                .map(|n| n.active_from)
                .chain(k.retired_at)
                .min();
            stopped.is_none_or(|s| now < s.plus_secs(token_lifetime_secs + 300))
        })
        .collect()
}

/// When the next key should be made (`Some(active_from)`), given the rotation interval and
/// how long ahead of use a key is published. With no usable key, a key is needed now.
pub fn next_key_due(
    keys: &[SigningKey],
    now: Timestamp,
    interval_secs: i64,
    lead_secs: i64,
) -> Option<Timestamp> {
    let Some(current) = current_signing_key(keys, now) else {
        return Some(now);
    };
    if keys.iter().any(|k| k.active_from > now) {
        return None;
    }
    let due = current.active_from.plus_secs(interval_secs);
    (now >= due.plus_secs(-lead_secs)).then(|| {
        if due > now {
            due
        } else {
            now.plus_secs(lead_secs)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, active: i64) -> SigningKey {
        SigningKey {
            kid: kid.into(),
            cert_der: vec![],
            private_key_sealed: vec![],
            created: Timestamp::from_secs(active - 100),
            active_from: Timestamp::from_secs(active),
            retired_at: None,
            unpublish_at: None,
        }
    }
    fn kids(v: Vec<&SigningKey>) -> Vec<&str> {
        v.into_iter().map(|k| k.kid.as_str()).collect()
    }

    #[test]
    fn rotation_publishes_before_signing_and_keeps_after() {
        let keys = vec![key("a", 0), key("b", 10_000)];
        let t = |s| Timestamp::from_secs(s);
        // Before b activates: a signs, both published.
        assert_eq!(
            current_signing_key(&keys, t(9_000)).map(|k| k.kid.as_str()),
            Some("a")
        );
        assert_eq!(kids(published_keys(&keys, t(9_000), 3600)), vec!["a", "b"]);
        // After: b signs; a still published until its tokens expire (+ skew).
        assert_eq!(
            current_signing_key(&keys, t(10_000)).map(|k| k.kid.as_str()),
            Some("b")
        );
        assert_eq!(kids(published_keys(&keys, t(13_000), 3600)), vec!["a", "b"]);
        assert_eq!(
            kids(published_keys(&keys, t(10_000 + 3600 + 300), 3600)),
            vec!["b"]
        );
    }

    #[test]
    fn revoked_key_stops_signing() {
        let mut keys = vec![key("a", 0), key("b", 100)];
        keys[1].retired_at = Some(Timestamp::from_secs(200));
        assert_eq!(
            current_signing_key(&keys, Timestamp::from_secs(300)).map(|k| k.kid.as_str()),
            Some("a")
        );
        keys[1].unpublish_at = Some(Timestamp::from_secs(200));
        assert_eq!(
            kids(published_keys(&keys, Timestamp::from_secs(300), 3600)),
            vec!["a"]
        );
    }

    #[test]
    fn next_key_schedule() {
        let t = |s| Timestamp::from_secs(s);
        assert_eq!(next_key_due(&[], t(5), 1000, 100), Some(t(5)));
        let keys = vec![key("a", 0)];
        assert_eq!(next_key_due(&keys, t(800), 1000, 100), None);
        assert_eq!(next_key_due(&keys, t(900), 1000, 100), Some(t(1000)));
        assert_eq!(next_key_due(&keys, t(5000), 1000, 100), Some(t(5100)));
        let keys = vec![key("a", 0), key("b", 1000)];
        assert_eq!(next_key_due(&keys, t(950), 1000, 100), None);
    }
}
