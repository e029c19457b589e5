//! Console sessions, held server-side: the browser holds only a random 256-bit cookie
//! (`__Host-castellan_console`: `HttpOnly; Secure; SameSite=Strict; Path=/`), the server keeps
//! its SHA-256 → the administrator's delegated tokens, who they are, and the session's CSRF
//! token (a hidden field of every form, compared in constant time). A sign-in in progress is a
//! second cookie (`__Host-castellan_console_login`) naming the PKCE verifier, `state` and
//! `nonce` kept here until the callback spends them. Sessions live in this node's memory:
//! a restart signs administrators out (they sign in again through SSO), and behind a load
//! balancer the console needs sticky sessions.

use std::collections::HashMap;
use std::sync::Mutex;

use castellan_core::secret::sha256;
use castellan_core::Timestamp;
use subtle::ConstantTimeEq;

/// The session cookie.
pub const SESSION_COOKIE: &str = "__Host-castellan_console";
/// The sign-in-in-progress cookie.
pub const LOGIN_COOKIE: &str = "__Host-castellan_console_login";
/// A session ends this long after sign-in, whatever the activity (seconds).
pub const ABSOLUTE_SECS: i64 = 12 * 3600;
/// ... or after this long without a request (seconds).
pub const IDLE_SECS: i64 = 3600;
/// A sign-in must come back from `/authorize` within this many seconds.
pub const LOGIN_SECS: i64 = 600;
/// At most this many sessions (and as many pending sign-ins) per node; the oldest go first.
pub const MAX_SESSIONS: usize = 10_000;

/// A delegated access token and when it expires.
#[derive(Clone, Debug)]
pub struct Token {
    /// The bearer token.
    pub access: String,
    /// Its `exp`, in seconds.
    pub exp: i64,
}

/// A signed-in administrator.
#[derive(Clone, Debug)]
pub struct Session {
    /// Tenant id (from the token's `tid`).
    pub tenant: String,
    /// The tenant's display name, for the header.
    pub tenant_name: String,
    /// The administrator's object id.
    pub oid: String,
    /// Their UPN.
    pub upn: String,
    /// Their display name.
    pub name: String,
    /// Tenant-wide directory role template ids (`wids`).
    pub wids: Vec<uuid::Uuid>,
    /// Their role names, for the header.
    pub roles: Vec<String>,
    /// The Graph token.
    pub graph: Token,
    /// The ARM token, fetched on first use.
    pub arm: Option<Token>,
    /// The refresh token (multi-resource: gives Graph and ARM tokens).
    pub refresh: String,
    /// The CSRF token of every form in this session.
    pub csrf: String,
    /// Sign-in time and last request (ms).
    pub created: Timestamp,
    /// Last request.
    pub seen: Timestamp,
    /// A one-time message for the next page ("User created").
    pub flash: Option<String>,
}

/// A sign-in on its way through `/authorize`.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The tenant the sign-in was started for (a domain, an id, or `organizations`).
    pub tenant: String,
    /// `state` sent to `/authorize`.
    pub state: String,
    /// `nonce` sent.
    pub nonce: String,
    /// The PKCE verifier.
    pub verifier: String,
    /// The redirect URI used (the origin the browser is on).
    pub redirect_uri: String,
    /// When it started.
    pub created: Timestamp,
}

/// Every session and pending sign-in of this node.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<[u8; 32], Session>>,
    pending: Mutex<HashMap<[u8; 32], Pending>>,
    /// Held while a session's tokens are refreshed (see `Admin::token`).
    pub refresh_lock: tokio::sync::Mutex<()>,
}

fn key(cookie: &str) -> [u8; 32] {
    sha256(cookie.as_bytes())
}

/// Whether a session is still valid at `now`.
pub fn is_live(s: &Session, now: Timestamp) -> bool {
    now.0 - s.created.0 < ABSOLUTE_SECS * 1000 && now.0 - s.seen.0 < IDLE_SECS * 1000
}

/// Whether a submitted CSRF value is this session's (constant time).
pub fn csrf_matches(s: &Session, submitted: Option<&str>) -> bool {
    submitted.is_some_and(|v| bool::from(v.as_bytes().ct_eq(s.csrf.as_bytes())))
}

fn evict<V>(map: &mut HashMap<[u8; 32], V>, created: impl Fn(&V) -> Timestamp) {
    if map.len() >= MAX_SESSIONS {
        if let Some(oldest) = map.iter().min_by_key(|(_, v)| created(v)).map(|(k, _)| *k) {
            map.remove(&oldest);
        }
    }
}

impl Sessions {
    /// Stores a new session under `cookie`.
    pub fn insert(&self, cookie: &str, s: Session) {
        if let Ok(mut m) = self.live.lock() {
            evict(&mut m, |v: &Session| v.created);
            m.insert(key(cookie), s);
        }
    }
    /// The live session of `cookie`, its last-seen time moved to `now`; an expired one is
    /// removed.
    pub fn get(&self, cookie: &str, now: Timestamp) -> Option<Session> {
        let mut m = self.live.lock().ok()?;
        let k = key(cookie);
        let s = m.get_mut(&k)?;
        if !is_live(s, now) {
            m.remove(&k);
            return None;
        }
        s.seen = now;
        Some(s.clone())
    }
    /// Replaces a session's state (new tokens, flash message).
    pub fn update(&self, cookie: &str, f: impl FnOnce(&mut Session)) {
        if let Ok(mut m) = self.live.lock() {
            if let Some(s) = m.get_mut(&key(cookie)) {
                f(s);
            }
        }
    }
    /// Ends a session.
    pub fn remove(&self, cookie: &str) {
        if let Ok(mut m) = self.live.lock() {
            m.remove(&key(cookie));
        }
    }
    /// Remembers a sign-in in progress under `cookie`.
    pub fn begin(&self, cookie: &str, p: Pending) {
        if let Ok(mut m) = self.pending.lock() {
            m.retain(|_, v| p.created.0 - v.created.0 < LOGIN_SECS * 1000);
            evict(&mut m, |v: &Pending| v.created);
            m.insert(key(cookie), p);
        }
    }
    /// Takes (spends) the sign-in in progress of `cookie` if `state` is its state and it is
    /// not too old: one callback per sign-in.
    pub fn finish(&self, cookie: &str, state: &str, now: Timestamp) -> Option<Pending> {
        let mut m = self.pending.lock().ok()?;
        let p = m.remove(&key(cookie))?;
        let same = bool::from(p.state.as_bytes().ct_eq(state.as_bytes()));
        (same && now.0 - p.created.0 < LOGIN_SECS * 1000).then_some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(at: i64) -> Session {
        Session {
            tenant: "t".into(),
            tenant_name: "T".into(),
            oid: "o".into(),
            upn: "a@t".into(),
            name: "A".into(),
            wids: vec![],
            roles: vec![],
            graph: Token {
                access: "x".into(),
                exp: 0,
            },
            arm: None,
            refresh: "r".into(),
            csrf: "c".repeat(43),
            created: Timestamp(at),
            seen: Timestamp(at),
            flash: None,
        }
    }

    #[test]
    fn sessions_expire_idle_and_absolute() {
        let s = Sessions::default();
        s.insert("k", session(0));
        assert!(s.get("other", Timestamp(1)).is_none());
        assert!(s.get("k", Timestamp(IDLE_SECS * 1000 - 1)).is_some());
        // Activity keeps it alive until the absolute limit.
        let mut t = IDLE_SECS * 1000 - 1;
        while t + IDLE_SECS * 1000 / 2 < ABSOLUTE_SECS * 1000 {
            t += IDLE_SECS * 1000 / 2;
            assert!(s.get("k", Timestamp(t)).is_some(), "{t}");
        }
        assert!(s.get("k", Timestamp(ABSOLUTE_SECS * 1000)).is_none());
        assert!(s.get("k", Timestamp(1)).is_none(), "removed once expired");
        s.insert("i", session(0));
        assert!(s.get("i", Timestamp(IDLE_SECS * 1000)).is_none(), "idle");
    }

    #[test]
    fn csrf_must_match_exactly() {
        let s = session(0);
        assert!(csrf_matches(&s, Some(&"c".repeat(43))));
        assert!(!csrf_matches(&s, Some(&"c".repeat(42))));
        assert!(!csrf_matches(&s, Some("")));
        assert!(!csrf_matches(&s, None));
    }

    #[test]
    fn a_sign_in_is_finished_once_with_its_own_state() {
        let s = Sessions::default();
        let p = Pending {
            tenant: "t".into(),
            state: "st".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            redirect_uri: "https://h/admin/callback".into(),
            created: Timestamp(0),
        };
        s.begin("c", p.clone());
        assert!(s.finish("c", "wrong", Timestamp(1)).is_none());
        // A wrong state spends it too: the attacker gets no second try.
        assert!(s.finish("c", "st", Timestamp(1)).is_none());
        s.begin("c", p.clone());
        assert_eq!(
            s.finish("c", "st", Timestamp(1)).map(|p| p.verifier),
            Some("v".into())
        );
        assert!(s.finish("c", "st", Timestamp(2)).is_none(), "single use");
        s.begin("c", p);
        assert!(
            s.finish("c", "st", Timestamp(LOGIN_SECS * 1000)).is_none(),
            "too old"
        );
    }
}
