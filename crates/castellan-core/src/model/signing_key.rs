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

/// How long a key is in the store before any node signs with it: every node of a cluster
/// reloads its key set at least once a second (and at once on a commit's notification), so
/// after this delay every node publishes — and accepts — a key before the first token signed
/// with it exists, even when an operator asks for it to sign at once.
pub const PROPAGATION_SECS: i64 = 5;

/// Pure key-lifecycle rules. A key is published before it signs (so validators with cached
/// JWKS already know it), signs until a newer key becomes active, and stays published until
/// every token it signed has expired.
impl SigningKey {
    /// Whether the key may sign at `now` (active and not revoked), ignoring propagation.
    pub fn can_sign(&self, now: Timestamp) -> bool {
        self.active_from <= now && self.retired_at.is_none_or(|r| now < r)
    }

    /// Whether every node has had [`PROPAGATION_SECS`] to publish the key by `now`.
    fn propagated(&self, now: Timestamp) -> bool {
        self.created.plus_secs(PROPAGATION_SECS) <= now
    }
}

/// Which key signs at `now`: the newest key that may sign and that every node has had time to
/// publish. Only when no such key exists (a new deployment's first seconds, or every older key
/// revoked) does a fresh one sign — the one made first, which the other nodes have had longest.
pub fn current_signing_key(keys: &[SigningKey], now: Timestamp) -> Option<&SigningKey> {
    let usable = || keys.iter().filter(|k| k.can_sign(now));
    usable()
        .filter(|k| k.propagated(now))
        .max_by_key(|k| k.active_from)
        .or_else(|| usable().min_by_key(|k| (k.created, k.active_from)))
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

    #[test]
    fn a_key_asked_to_sign_at_once_waits_until_every_node_can_publish_it() {
        let t = Timestamp::from_secs;
        let mut b = key("b", 1000);
        b.created = t(1000); // rotated by an operator to sign "now"
        let keys = vec![key("a", 0), b];
        let current = |s| current_signing_key(&keys, t(s)).map(|k| k.kid.as_str());
        // Published at once (validators learn it first), but a keeps signing meanwhile.
        assert_eq!(kids(published_keys(&keys, t(1000), 3600)), vec!["a", "b"]);
        assert_eq!(current(1000), Some("a"));
        assert_eq!(current(1000 + PROPAGATION_SECS - 1), Some("a"));
        assert_eq!(current(1000 + PROPAGATION_SECS), Some("b"));
        // Control: the first key of a deployment signs at once — there is nothing else.
        let mut first = key("first", 50);
        first.created = t(50);
        assert_eq!(
            current_signing_key(std::slice::from_ref(&first), t(50)).map(|k| k.kid.as_str()),
            Some("first")
        );
        // Two fresh keys (a rotation in a deployment's first seconds): the first one made signs.
        let mut early = key("early", 60);
        early.created = t(60);
        let mut late = key("late", 62);
        late.created = t(62);
        assert_eq!(
            current_signing_key(&[late.clone(), early.clone()], t(63)).map(|k| k.kid.as_str()),
            Some("early")
        );
        assert_eq!(
            current_signing_key(&[late, early], t(67)).map(|k| k.kid.as_str()),
            Some("late")
        );
        // And when every older key is revoked, the fresh key signs rather than nothing.
        let mut keys = keys;
        keys[0].retired_at = Some(t(900));
        assert_eq!(
            current_signing_key(&keys, t(1001)).map(|k| k.kid.as_str()),
            Some("b")
        );
    }
}
