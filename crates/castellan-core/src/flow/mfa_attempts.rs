//! Second-factor attempt limiting (OWASP ASVS 2.2.1 / NIST SP 800-63B §5.2.2 "rate limiting"):
//! wrong authenticator-app codes at the MFA prompt, the device-login MFA step and the
//! registration confirmation count **per user** (in the store, so every node and every new
//! session sees the same counter). After [`MfaAttemptRule::threshold`] attempts within
//! [`MfaAttemptRule::window_secs`] the second factor is refused for a cool-down that doubles
//! with each lockout (60 s, 120 s, … capped at one hour); during a cool-down even a valid code
//! is not evaluated. A successful verification (or an administrator's reset) clears it all.
//!
//! An attempt is *counted before it is evaluated* ([`MfaAttemptRule::begin`]): the caller
//! writes the returned state with one compare-and-set and evaluates the code only if that write
//! won, so N parallel guesses can never all be judged on the same old counter — at most
//! `threshold` codes are evaluated per cool-down. Pure: the caller passes `now`.

use crate::time::Timestamp;

/// A user's counters, as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MfaAttempts {
    /// Attempts counted in the current window (each attempt counts until it succeeds).
    pub failures: u32,
    /// When the current window opened (the first counted attempt of it).
    pub window_start: Timestamp,
    /// The second factor is refused before this instant (`Timestamp(0)`: never locked).
    pub locked_until: Timestamp,
    /// Lockouts so far (grows the cool-down); forgotten after a quiet `memory_secs`.
    pub lockouts: u32,
    /// The last counted attempt.
    pub last_attempt: Timestamp,
}

/// Why an attempt is refused without evaluating the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MfaLocked {
    /// The cool-down ends at this instant.
    pub until: Timestamp,
    /// Whole seconds from now until then (at least 1).
    pub retry_after_secs: i64,
}

/// The figures of the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MfaAttemptRule {
    /// Attempts within the window before a lockout.
    pub threshold: u32,
    /// The counting window.
    pub window_secs: i64,
    /// The first cool-down.
    pub base_lock_secs: i64,
    /// The longest cool-down.
    pub max_lock_secs: i64,
    /// After this long without an attempt the lockout count (and so the growth) is forgotten.
    pub memory_secs: i64,
}

/// Castellan's rule: 5 attempts within 15 minutes → 1 min, 2, 4, … capped at 1 h; the growth
/// is forgotten after 24 h without attempts.
pub const DEFAULT_RULE: MfaAttemptRule = MfaAttemptRule {
    threshold: 5,
    window_secs: 15 * 60,
    base_lock_secs: 60,
    max_lock_secs: 3600,
    memory_secs: 24 * 3600,
};

impl Default for MfaAttemptRule {
    fn default() -> Self {
        DEFAULT_RULE
    }
}

impl MfaAttemptRule {
    /// The cool-down after `lockouts` earlier lockouts: base × 2^lockouts, capped.
    pub fn cool_down_secs(&self, lockouts: u32) -> i64 {
        self.base_lock_secs
            .saturating_mul(1i64 << lockouts.min(30))
            .min(self.max_lock_secs)
            .max(1)
    }

    /// Whether the second factor is refused at `now`.
    pub fn locked(&self, s: &MfaAttempts, now: Timestamp) -> Option<MfaLocked> {
        (now < s.locked_until).then(|| MfaLocked {
            until: s.locked_until,
            retry_after_secs: ((s.locked_until.millis() - now.millis() + 999) / 1000).max(1),
        })
    }

    /// Counts one attempt at `now`: the state to write (compare-and-set against what was
    /// read) before the code may be evaluated, or the lock that refuses it. The attempt that
    /// reaches the threshold starts the cool-down at once (its own code is still evaluated;
    /// if it is right, [`MfaAttemptRule::succeed`] lifts the lock), so concurrent attempts
    /// behind it are refused.
    pub fn begin(&self, s: &MfaAttempts, now: Timestamp) -> Result<MfaAttempts, MfaLocked> {
        if let Some(l) = self.locked(s, now) {
            return Err(l);
        }
        let mut n = *s;
        if n.last_attempt.millis() + self.memory_secs.saturating_mul(1000) <= now.millis() {
            n = MfaAttempts::default();
        }
        if n.failures == 0 || n.window_start.millis() + self.window_secs * 1000 <= now.millis() {
            n.failures = 0;
            n.window_start = now;
        }
        n.failures += 1;
        n.last_attempt = now;
        if n.failures >= self.threshold.max(1) {
            n.locked_until = now.plus_secs(self.cool_down_secs(n.lockouts));
            n.lockouts = n.lockouts.saturating_add(1);
            n.failures = 0;
        }
        Ok(n)
    }

    /// The state after a successful verification: everything cleared.
    pub fn succeed(&self) -> MfaAttempts {
        MfaAttempts::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: MfaAttemptRule = DEFAULT_RULE;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_secs(1_700_000_000 + secs)
    }

    /// Runs `n` attempts at `at`, returning the state and how many were let through.
    fn attempts(mut s: MfaAttempts, n: u32, at: Timestamp) -> (MfaAttempts, u32) {
        let mut through = 0;
        for _ in 0..n {
            if let Ok(next) = R.begin(&s, at) {
                s = next;
                through += 1;
            }
        }
        (s, through)
    }

    #[test]
    fn five_attempts_then_a_one_minute_cool_down() {
        let (s, through) = attempts(MfaAttempts::default(), 4, t(0));
        assert_eq!(through, 4);
        assert_eq!(R.locked(&s, t(0)), None, "four failures do not lock");
        let s = R.begin(&s, t(1)).unwrap();
        assert_eq!(
            R.locked(&s, t(1)),
            Some(MfaLocked {
                until: t(61),
                retry_after_secs: 60
            }),
            "the fifth attempt starts the cool-down"
        );
        assert_eq!(R.begin(&s, t(30)).unwrap_err().retry_after_secs, 31);
        assert_eq!(R.locked(&s, t(61)), None, "the cool-down ends");
        assert!(R.begin(&s, t(61)).is_ok());
    }

    #[test]
    fn cool_downs_double_and_are_capped_at_one_hour() {
        let mut s = MfaAttempts::default();
        let mut now = t(0);
        let mut seen = vec![];
        for _ in 0..9 {
            let (next, through) = attempts(s, 5, now);
            assert_eq!(through, 5);
            let l = R.locked(&next, now).unwrap();
            seen.push(l.retry_after_secs);
            s = next;
            now = l.until;
        }
        assert_eq!(seen, vec![60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(R.cool_down_secs(u32::MAX), 3600);
    }

    #[test]
    fn many_attempts_at_once_let_at_most_the_threshold_through() {
        let (s, through) = attempts(MfaAttempts::default(), 32, t(0));
        assert_eq!(through, 5);
        assert!(R.locked(&s, t(0)).is_some());
    }

    #[test]
    fn the_window_forgets_old_attempts() {
        let (s, _) = attempts(MfaAttempts::default(), 4, t(0));
        // 15 minutes later the window has closed: four more do not lock.
        let (s, through) = attempts(s, 4, t(15 * 60));
        assert_eq!(through, 4);
        assert_eq!(R.locked(&s, t(15 * 60)), None);
        // But a fifth inside the new window does.
        let s = R.begin(&s, t(15 * 60 + 10)).unwrap();
        assert!(R.locked(&s, t(15 * 60 + 10)).is_some());
    }

    #[test]
    fn growth_is_forgotten_after_a_quiet_day() {
        let (s, _) = attempts(MfaAttempts::default(), 5, t(0));
        let (s, _) = attempts(s, 5, t(61));
        assert_eq!(R.locked(&s, t(61)).unwrap().retry_after_secs, 120);
        let later = t(61 + 24 * 3600);
        let (s, _) = attempts(s, 5, later);
        assert_eq!(R.locked(&s, later).unwrap().retry_after_secs, 60);
    }

    #[test]
    fn success_clears_everything_even_the_lock_its_own_attempt_set() {
        let (s, _) = attempts(MfaAttempts::default(), 5, t(0));
        assert!(R.locked(&s, t(0)).is_some());
        let s = R.succeed();
        assert_eq!(s, MfaAttempts::default());
        assert_eq!(R.locked(&s, t(0)), None);
        let (s, through) = attempts(s, 4, t(1));
        assert_eq!((through, R.locked(&s, t(1))), (4, None));
    }

    #[test]
    fn a_valid_code_during_the_cool_down_is_not_evaluated() {
        // The gate refuses before any code is looked at: `begin` knows nothing of codes.
        let (s, _) = attempts(MfaAttempts::default(), 5, t(0));
        for secs in [0, 1, 30, 59] {
            assert!(R.begin(&s, t(secs)).is_err(), "at +{secs}s");
        }
    }
}
