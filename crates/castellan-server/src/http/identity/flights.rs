//! Browser sign-in steps in flight on this node (a redemption, an external provider's sign-in,
//! a tenant choice), by the value of the HttpOnly cookie that binds the browser to them: each
//! lives ten minutes and is spent by the step that takes it. Node-local memory: behind a load
//! balancer these pages need the browser to stay on one node for the few minutes of the step.

use std::collections::HashMap;
use std::sync::Mutex;

use castellan_core::Timestamp;

use crate::state::now;

/// How long a flight lives.
pub const FLIGHT_MS: i64 = 10 * 60_000;

/// A flight knows when it started.
pub trait Started {
    /// When the flight was put.
    fn started(&self) -> Timestamp;
}

/// The flights of one kind, by cookie value.
pub struct Flights<F>(Mutex<HashMap<String, F>>);

impl<F> Default for Flights<F> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<F: Started> Flights<F> {
    /// Keeps `f` under `key`, dropping expired flights.
    pub fn put(&self, key: &str, f: F) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let t = now().millis();
        m.retain(|_, v| t - v.started().millis() < FLIGHT_MS);
        m.insert(key.to_string(), f);
    }

    /// Takes the flight under `key` (once), unless it expired.
    pub fn take(&self, key: &str) -> Option<F> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.remove(key)
            .filter(|f| now().millis() - f.started().millis() < FLIGHT_MS)
    }
}
