//! Smart lockout (Microsoft Entra smart lockout): after `threshold` wrong passwords the account
//! locks for a period that doubles with each further lockout (60 s, 120 s, ... capped at one
//! hour). Failures from locations the user has signed in from before ("familiar") are counted
//! apart from the rest, so an attacker hammering from elsewhere locks only the unfamiliar side
//! and never keeps the right user out at their usual IP.

use crate::time::Timestamp;

/// Default failures before a lockout (a tenant setting's default, so it lives in the model).
pub use crate::model::tenant::DEFAULT_LOCKOUT_THRESHOLD as DEFAULT_THRESHOLD;
/// First lockout duration.
pub const BASE_LOCK_SECS: i64 = 60;
/// Longest lockout.
pub const MAX_LOCK_SECS: i64 = 3600;
/// How many familiar IPs are remembered.
pub const FAMILIAR_IPS: usize = 10;

/// One side's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Consecutive failures since the last success or lockout.
    pub failures: u32,
    /// Locked until (if in the future).
    pub locked_until: Timestamp,
    /// Lockouts so far (grows the duration).
    pub lockouts: u32,
}

/// A user's lockout state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lockout {
    /// Failures from familiar IPs.
    pub familiar: Counter,
    /// Failures from anywhere else.
    pub unfamiliar: Counter,
    /// IPs of recent successful sign-ins, newest first.
    pub ips: Vec<String>,
}

impl Lockout {
    fn side(&mut self, ip: &str) -> &mut Counter {
        if self.ips.iter().any(|i| i == ip) {
            &mut self.familiar
        } else {
            &mut self.unfamiliar
        }
    }

    /// Seconds left if a sign-in from `ip` is locked out now.
    pub fn locked(&self, ip: &str, now: Timestamp) -> Option<i64> {
        let c = if self.ips.iter().any(|i| i == ip) {
            &self.familiar
        } else {
            &self.unfamiliar
        };
        (now < c.locked_until).then(|| (c.locked_until.millis() - now.millis() + 999) / 1000)
    }

    /// Records a wrong password from `ip`; returns the lock duration if this one locked.
    pub fn fail(&mut self, ip: &str, now: Timestamp, threshold: u32) -> Option<i64> {
        let c = self.side(ip);
        c.failures += 1;
        if c.failures < threshold.max(1) {
            return None;
        }
        let secs = BASE_LOCK_SECS
            .saturating_mul(1i64 << c.lockouts.min(10))
            .min(MAX_LOCK_SECS);
        c.failures = 0;
        c.lockouts += 1;
        c.locked_until = now.plus_secs(secs);
        Some(secs)
    }

    /// Records a success from `ip`: that side's counters reset, the IP becomes familiar.
    pub fn succeed(&mut self, ip: &str) {
        *self.side(ip) = Counter::default();
        self.ips.retain(|i| i != ip);
        self.ips.insert(0, ip.to_string());
        self.ips.truncate(FAMILIAR_IPS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_threshold_and_doubles() {
        let mut l = Lockout::default();
        let t = Timestamp::from_secs(1000);
        for _ in 0..9 {
            assert_eq!(l.fail("9.9.9.9", t, 10), None);
        }
        assert_eq!(l.locked("9.9.9.9", t), None);
        assert_eq!(l.fail("9.9.9.9", t, 10), Some(60));
        assert_eq!(l.locked("9.9.9.9", t), Some(60));
        assert_eq!(l.locked("9.9.9.9", t.plus_secs(60)), None);
        for _ in 0..9 {
            l.fail("9.9.9.9", t.plus_secs(61), 10);
        }
        assert_eq!(l.fail("9.9.9.9", t.plus_secs(61), 10), Some(120));
    }

    #[test]
    fn the_cap_is_one_hour() {
        let mut l = Lockout::default();
        let t = Timestamp::from_secs(0);
        let mut last = 0;
        for _ in 0..20 {
            last = l.fail("x", t, 1).unwrap_or(0);
        }
        assert_eq!(last, MAX_LOCK_SECS);
    }

    #[test]
    fn an_attacker_elsewhere_does_not_lock_out_the_familiar_ip() {
        let mut l = Lockout::default();
        let t = Timestamp::from_secs(0);
        l.succeed("10.0.0.1");
        for _ in 0..10 {
            l.fail("6.6.6.6", t, 10);
        }
        assert!(l.locked("6.6.6.6", t).is_some());
        assert!(
            l.locked("7.7.7.7", t).is_some(),
            "every unfamiliar IP shares the lock"
        );
        assert_eq!(
            l.locked("10.0.0.1", t),
            None,
            "the user's usual IP still signs in"
        );
        // Failures at the familiar IP count on their own side.
        for _ in 0..9 {
            l.fail("10.0.0.1", t, 10);
        }
        assert_eq!(l.locked("10.0.0.1", t), None);
        l.succeed("10.0.0.1");
        assert_eq!(l.familiar, Counter::default());
    }

    #[test]
    fn familiar_ips_are_bounded_and_newest_first() {
        let mut l = Lockout::default();
        for i in 0..15 {
            l.succeed(&format!("10.0.0.{i}"));
        }
        assert_eq!(l.ips.len(), FAMILIAR_IPS);
        assert_eq!(l.ips.first().map(String::as_str), Some("10.0.0.14"));
    }
}
