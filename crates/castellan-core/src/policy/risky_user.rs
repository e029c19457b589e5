//! Identity Protection's per-user record and its bookkeeping: the `riskyUser` state, its
//! detections, the history of state changes and the user's recent successful sign-ins (what
//! the familiarity and travel detections compare against). `assess` is the whole decision of
//! one sign-in over the loaded record; `ops::identity_protection` loads, calls and writes it
//! with a compare-and-set. The store keeps the record as it likes (the SQL store as one JSON
//! document per user), the rules here never see that layout.

use core::net::IpAddr;

use ipnet::IpNet;

use super::model::RiskLevel;
use super::risk::{
    self, FailedSignIn, GeoSignIn, RiskDetail, RiskDetection, RiskEventType, RiskState,
    SignInProperties, SprayRule, UserRisk, UserRiskDetection,
};
use crate::model::SignInLocation;
use crate::time::Timestamp;
use crate::{ObjectId, TenantId};

/// Successful sign-ins kept per user for the familiarity and travel detections.
pub const HISTORY: usize = 50;
/// History items (`riskyUserHistoryItem`) kept per user.
pub const STATE_HISTORY: usize = 100;

/// One stored detection (Graph `riskDetection`).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredDetection {
    /// `id`.
    pub id: String,
    /// `riskEventType`.
    pub kind: RiskEventType,
    /// `riskLevel`.
    pub level: RiskLevel,
    /// `riskState`.
    pub state: RiskState,
    /// `riskDetail`.
    pub detail: RiskDetail,
    /// Why (for `additionalInfo`).
    pub reason: String,
    /// `ipAddress`.
    pub ip: String,
    /// `location`.
    pub location: SignInLocation,
    /// `activityDateTime` / `detectedDateTime`.
    pub at: Timestamp,
    /// `lastUpdatedDateTime`.
    pub updated: Timestamp,
    /// `correlationId` of the sign-in.
    pub correlation_id: String,
}

/// One `riskyUserHistoryItem`: the user's state after a change.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryItem {
    /// `id`.
    pub id: String,
    /// When.
    pub at: Timestamp,
    /// `riskLevel` after the change.
    pub level: RiskLevel,
    /// `riskState` after the change.
    pub state: RiskState,
    /// `riskDetail` after the change.
    pub detail: RiskDetail,
    /// `initiatedBy`: the administrator (or application) that acted, when one did.
    pub initiated_by: Option<ObjectId>,
    /// `activity.riskEventTypes`.
    pub event_types: Vec<RiskEventType>,
}

/// A successful sign-in remembered for the next one's detections.
#[derive(Clone, Debug, PartialEq)]
pub struct SeenSignIn {
    /// Client address.
    pub ip: String,
    /// GeoIP country, when placed.
    pub country: Option<String>,
    /// GeoIP latitude.
    pub latitude: Option<f64>,
    /// GeoIP longitude.
    pub longitude: Option<f64>,
    /// `User-Agent`.
    pub user_agent: String,
    /// When.
    pub at: Timestamp,
}

/// A user's Identity Protection record.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskyUser {
    /// `userPrincipalName` when last written.
    pub upn: String,
    /// `userDisplayName` when last written.
    pub display_name: String,
    /// `riskState`.
    pub state: RiskState,
    /// `riskDetail`.
    pub detail: RiskDetail,
    /// `riskLastUpdatedDateTime`.
    pub updated: Timestamp,
    /// Every detection.
    pub detections: Vec<StoredDetection>,
    /// State changes, oldest first (at most [`STATE_HISTORY`]).
    pub history: Vec<HistoryItem>,
    /// Recent successful sign-ins, oldest first (at most [`HISTORY`]).
    pub seen: Vec<SeenSignIn>,
}

impl Default for RiskyUser {
    fn default() -> Self {
        Self {
            upn: String::new(),
            display_name: String::new(),
            state: RiskState::None,
            detail: RiskDetail::None,
            updated: Timestamp(0),
            detections: Vec::new(),
            history: Vec::new(),
            seen: Vec::new(),
        }
    }
}

/// The stored row: the record with its compare-and-set version.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskyUserRecord {
    /// Tenant.
    pub tenant_id: TenantId,
    /// The user.
    pub user_id: ObjectId,
    /// Bumped by every write (1 for the first).
    pub version: i64,
    /// `riskLastUpdatedDateTime` (the list's order).
    pub updated: Timestamp,
    /// The record.
    pub user: RiskyUser,
}

impl RiskyUser {
    /// The risk engine's view (`policy::risk::UserRisk`).
    pub fn user_risk(&self) -> UserRisk {
        UserRisk {
            detections: self
                .detections
                .iter()
                .map(|d| UserRiskDetection {
                    detection: RiskDetection {
                        kind: d.kind,
                        level: d.level,
                        detail: d.reason.clone(),
                    },
                    at: d.at,
                    state: d.state,
                })
                .collect(),
            state: self.state,
            detail: self.detail,
            updated_at: self.updated,
        }
    }

    /// Whether Identity Protection lists the user (`riskyUsers`): something was ever detected
    /// or an administrator acted. A record that only holds sign-in history is not a risky user.
    pub fn is_risky(&self) -> bool {
        !self.detections.is_empty() || self.state != RiskState::None
    }

    /// `riskLevel`.
    pub fn level(&self) -> RiskLevel {
        self.user_risk().level()
    }

    /// Takes the risk engine's new state (detection states in the same order — `record`
    /// appends), and a history item when anything changed or something was detected.
    fn apply(
        &mut self,
        next: &UserRisk,
        initiated_by: Option<ObjectId>,
        events: Vec<RiskEventType>,
        new_id: &mut dyn FnMut() -> String,
    ) {
        let before = (self.state, self.detail, self.level());
        for (d, n) in self.detections.iter_mut().zip(next.detections.iter()) {
            if d.state != n.state {
                d.state = n.state;
                d.detail = next.detail;
                d.updated = next.updated_at;
            }
        }
        self.state = next.state;
        self.detail = next.detail;
        self.updated = next.updated_at;
        let after = (self.state, self.detail, self.level());
        if before != after || !events.is_empty() {
            self.push_history(next.updated_at, initiated_by, events, new_id);
        }
    }

    fn push_history(
        &mut self,
        at: Timestamp,
        initiated_by: Option<ObjectId>,
        event_types: Vec<RiskEventType>,
        new_id: &mut dyn FnMut() -> String,
    ) {
        self.history.push(HistoryItem {
            id: new_id(),
            at,
            level: self.level(),
            state: self.state,
            detail: self.detail,
            initiated_by,
            event_types,
        });
        let excess = self.history.len().saturating_sub(STATE_HISTORY);
        self.history.drain(..excess);
    }

    /// Records new detections of one sign-in.
    fn record(
        &mut self,
        found: &[RiskDetection],
        s: &SignIn<'_>,
        new_id: &mut dyn FnMut() -> String,
    ) {
        if found.is_empty() {
            return;
        }
        let mut next = self.user_risk();
        for d in found {
            next = next.record(d.clone(), s.at);
            self.detections.push(StoredDetection {
                id: new_id(),
                kind: d.kind,
                level: d.level,
                state: RiskState::AtRisk,
                detail: RiskDetail::None,
                reason: d.detail.clone(),
                ip: s.ip.into(),
                location: s.location.clone(),
                at: s.at,
                updated: s.at,
                correlation_id: s.correlation_id.into(),
            });
        }
        let events = found.iter().map(|d| d.kind).collect();
        self.apply(&next, None, events, new_id);
    }

    /// Remembers a successful sign-in (the oldest beyond [`HISTORY`] are forgotten).
    fn remember(&mut self, s: &SignIn<'_>) {
        self.seen.push(SeenSignIn {
            ip: s.ip.into(),
            country: s.location.country_or_region.clone(),
            latitude: s.location.latitude,
            longitude: s.location.longitude,
            user_agent: s.user_agent.into(),
            at: s.at,
        });
        let excess = self.seen.len().saturating_sub(HISTORY);
        self.seen.drain(..excess);
    }
}

/// What an administrator does to a risky user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminAction {
    /// `dismiss`.
    Dismiss,
    /// `confirmCompromised`.
    ConfirmCompromised,
}

impl AdminAction {
    /// The audit activity and the `riskDetail` it sets.
    pub const fn audit_activity(self) -> (&'static str, RiskDetail) {
        match self {
            Self::Dismiss => (
                "Dismiss user risk",
                RiskDetail::AdminDismissedAllRiskForUser,
            ),
            Self::ConfirmCompromised => (
                "Confirm user compromised",
                RiskDetail::AdminConfirmedUserCompromised,
            ),
        }
    }
}

/// Applies an administrator's action; every action leaves a history item, even one that
/// changed nothing.
pub fn admin_action(
    r: &mut RiskyUser,
    action: AdminAction,
    admin: Option<ObjectId>,
    at: Timestamp,
    new_id: &mut dyn FnMut() -> String,
) {
    let now = r.user_risk();
    let next = match action {
        AdminAction::Dismiss => now.dismiss(at),
        AdminAction::ConfirmCompromised => now.confirm_compromised(at),
    };
    r.apply(&next, admin, Vec::new(), new_id);
    if r.history.last().is_none_or(|h| h.at != at) {
        r.push_history(at, admin, Vec::new(), new_id);
    }
}

/// The user changed the password after proving the current one: open risk is remediated
/// (`userPerformedSecuredPasswordChange`). Returns whether anything changed.
pub fn remediate_password_change(
    r: &mut RiskyUser,
    at: Timestamp,
    new_id: &mut dyn FnMut() -> String,
) -> bool {
    let now = r.user_risk();
    if now.level() == RiskLevel::None {
        return false;
    }
    let next = now.remediate_with_password_change(at);
    r.apply(&next, None, Vec::new(), new_id);
    true
}

/// One sign-in whose first factor was just proven, as Identity Protection sees it.
#[derive(Clone, Debug)]
pub struct SignIn<'a> {
    /// Client address (as the request gave it; unparseable addresses skip the network
    /// detections).
    pub ip: &'a str,
    /// `User-Agent`.
    pub user_agent: &'a str,
    /// Where GeoIP placed the address.
    pub location: &'a SignInLocation,
    /// When.
    pub at: Timestamp,
    /// Correlation id.
    pub correlation_id: &'a str,
}

/// What the tenant and the operator know besides the user's record.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// Anonymizer ranges (Tor exits, anonymising VPNs).
    pub anonymizers: &'a [IpNet],
    /// Failed password sign-ins from the sign-in's source within the spray window.
    pub failures: &'a [crate::model::FailedSignInRecord],
    /// The leaked-credentials detection for the password just proven, when it is leaked.
    pub leaked: Option<&'a RiskDetection>,
    /// The spray rule.
    pub spray: SprayRule,
}

/// Runs every detection over one sign-in and the user's record, records what was found and
/// this sign-in in the record, and returns the detections made.
pub fn assess(
    r: &mut RiskyUser,
    s: &SignIn<'_>,
    cx: &Context<'_>,
    new_id: &mut dyn FnMut() -> String,
) -> Vec<RiskDetection> {
    let mut found = Vec::new();
    if let Ok(ip) = s.ip.parse::<IpAddr>() {
        // Impossible travel: from the last sign-in GeoIP could place.
        if let (Some(lat), Some(lon)) = (s.location.latitude, s.location.longitude) {
            let here = GeoSignIn {
                at: s.at,
                latitude: lat,
                longitude: lon,
            };
            if let Some(prev) = r.seen.iter().rev().find_map(|h| {
                Some(GeoSignIn {
                    at: h.at,
                    latitude: h.latitude?,
                    longitude: h.longitude?,
                })
            }) {
                found.extend(risk::impossible_travel(&prev, &here));
            }
        }
        found.extend(risk::anonymous_ip(ip, cx.anonymizers));
        let parsed: Vec<(IpAddr, &SeenSignIn)> = r
            .seen
            .iter()
            .filter_map(|h| Some((h.ip.parse().ok()?, h)))
            .collect();
        let history: Vec<SignInProperties<'_>> = parsed
            .iter()
            .map(|(ip, h)| SignInProperties {
                ip: *ip,
                country: h.country.as_deref(),
                user_agent: &h.user_agent,
            })
            .collect();
        let current = SignInProperties {
            ip,
            country: s.location.country_or_region.as_deref(),
            user_agent: s.user_agent,
        };
        found.extend(risk::unfamiliar_sign_in(&current, &history));
        let fails: Vec<FailedSignIn<'_>> = cx
            .failures
            .iter()
            .filter_map(|f| {
                Some(FailedSignIn {
                    ip: f.ip.parse().ok()?,
                    username: &f.username,
                    at: f.at,
                })
            })
            .collect();
        found.extend(risk::password_spray(ip, &fails, s.at, cx.spray));
    }
    found.extend(cx.leaked.cloned());
    r.record(&found, s, new_id);
    r.remember(s);
    found
}

/// The spray source key of an address (the /24 or /64 the failures are counted under).
pub fn spray_key(ip: IpAddr) -> String {
    risk::spray_source(ip).to_string()
}
