//! Time as a value: core never reads the clock, callers pass `now`.

/// Milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From whole seconds.
    pub const fn from_secs(s: i64) -> Self {
        Self(s * 1000)
    }
    /// Whole seconds since the epoch.
    pub const fn secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }
    /// This instant plus `s` seconds.
    pub const fn plus_secs(self, s: i64) -> Self {
        Self(self.0 + s * 1000)
    }
}
