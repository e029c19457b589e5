//! Identity Protection at sign-in: gathers the facts core's detections need (GeoIP placing,
//! the user's recent sign-ins, the source's recent failures, the administrator's lists),
//! runs them (`castellan_core::policy::risk`), stores the detections and the user's risk
//! (compare-and-set on the user's record), and hands sign-in and user risk to Conditional
//! Access. Every decision is core's; this module only moves data.
//!
//! Storage: one record per user (`Store::risky_user`) holding the `riskyUser` state, its
//! detections, its history and the last `HISTORY` successful sign-ins (written synchronously,
//! so the next sign-in sees this one; the sign-in log itself is written in batches), plus a
//! table of failed password sign-ins per source for password spray.

use castellan_core::model::{RiskyUserRecord, SignInLocation, SignInRiskInfo, Tenant, User};
use castellan_core::policy::risk::{
    self, FailedSignIn, GeoSignIn, RiskDetail, RiskDetection, RiskEventType, RiskState,
    SignInProperties, SprayRule, UserRisk, UserRiskDetection,
};
use castellan_core::policy::RiskLevel;
use castellan_core::secret::SecretText;
use castellan_core::store::StoreError;
use castellan_core::{ObjectId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::state::AppState;

/// Successful sign-ins kept per user for the familiarity and travel detections.
pub const HISTORY: usize = 50;
/// History items (`riskyUserHistoryItem`) kept per user.
pub const STATE_HISTORY: usize = 100;

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
struct LocDoc {
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
}

impl From<&SignInLocation> for LocDoc {
    fn from(l: &SignInLocation) -> Self {
        Self {
            city: l.city.clone(),
            state: l.state.clone(),
            country: l.country_or_region.clone(),
            lat: l.latitude,
            lon: l.longitude,
        }
    }
}

impl LocDoc {
    fn to_location(&self) -> SignInLocation {
        SignInLocation {
            city: self.city.clone(),
            state: self.state.clone(),
            country_or_region: self.country.clone(),
            latitude: self.lat,
            longitude: self.lon,
        }
    }
}

/// One detection as stored (Graph `riskDetection`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DetectionDoc {
    /// `id`.
    pub id: String,
    /// `riskEventType`.
    pub kind: String,
    /// `riskLevel`.
    pub level: String,
    /// `riskState`.
    pub state: String,
    /// `riskDetail`.
    pub detail: String,
    /// Why (for `additionalInfo`).
    pub reason: String,
    /// `ipAddress`.
    pub ip: String,
    loc: LocDoc,
    /// `activityDateTime` / `detectedDateTime` (ms).
    pub at: i64,
    /// `lastUpdatedDateTime` (ms).
    pub updated: i64,
    /// `correlationId` of the sign-in.
    pub cid: String,
}

impl DetectionDoc {
    /// `location`.
    pub fn location(&self) -> SignInLocation {
        self.loc.to_location()
    }
}

/// One `riskyUserHistoryItem`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct HistoryDoc {
    /// `id`.
    pub id: String,
    /// When (ms).
    pub at: i64,
    /// `riskLevel` after the change.
    pub level: String,
    /// `riskState` after the change.
    pub state: String,
    /// `riskDetail` after the change.
    pub detail: String,
    /// `initiatedBy`: the administrator's object id, when one acted.
    pub initiated_by: Option<String>,
    /// `activity.riskEventTypes`.
    pub event_types: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct SeenDoc {
    ip: String,
    country: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    ua: String,
    at: i64,
}

/// A user's stored Identity Protection record.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RiskDoc {
    /// `userPrincipalName` when last written.
    pub upn: String,
    /// `userDisplayName` when last written.
    pub display_name: String,
    /// `riskState`.
    pub state: String,
    /// `riskDetail`.
    pub detail: String,
    /// `riskLastUpdatedDateTime` (ms).
    pub updated: i64,
    /// Every detection.
    pub detections: Vec<DetectionDoc>,
    /// State changes, oldest first.
    pub history: Vec<HistoryDoc>,
    seen: Vec<SeenDoc>,
}

impl Default for RiskDoc {
    fn default() -> Self {
        Self {
            upn: String::new(),
            display_name: String::new(),
            state: RiskState::None.as_str().into(),
            detail: RiskDetail::None.as_str().into(),
            updated: 0,
            detections: Vec::new(),
            history: Vec::new(),
            seen: Vec::new(),
        }
    }
}

impl RiskDoc {
    /// Parses a stored record (an unreadable one reads as empty and is logged).
    pub fn from_record(r: &RiskyUserRecord) -> Self {
        serde_json::from_str(&r.data).unwrap_or_else(|e| {
            tracing::error!(user = %r.user_id, error = %e, "stored risky-user record is unreadable; treated as empty");
            Self::default()
        })
    }

    /// Core's view.
    pub fn user_risk(&self) -> UserRisk {
        UserRisk {
            detections: self
                .detections
                .iter()
                .filter_map(|d| {
                    Some(UserRiskDetection {
                        detection: RiskDetection {
                            kind: RiskEventType::parse(&d.kind)?,
                            level: RiskLevel::parse(&d.level)?,
                            detail: d.reason.clone(),
                        },
                        at: Timestamp(d.at),
                        state: RiskState::parse(&d.state)?,
                    })
                })
                .collect(),
            state: RiskState::parse(&self.state).unwrap_or(RiskState::None),
            detail: RiskDetail::parse(&self.detail).unwrap_or(RiskDetail::None),
            updated_at: Timestamp(self.updated),
        }
    }

    /// Whether Identity Protection lists the user (`riskyUsers`): something was ever detected
    /// or an administrator acted. A record that only holds sign-in history is not a risky user.
    pub fn is_risky(&self) -> bool {
        !self.detections.is_empty() || self.state != RiskState::None.as_str()
    }

    /// `riskLevel`.
    pub fn level(&self) -> RiskLevel {
        self.user_risk().level()
    }

    /// Takes core's new state: detection states (same order; `record` appends), the user's
    /// state and detail, and a history item when anything changed.
    fn apply(&mut self, next: &UserRisk, initiated_by: Option<ObjectId>, events: Vec<String>) {
        let before = (self.state.clone(), self.detail.clone(), self.level());
        for (d, n) in self.detections.iter_mut().zip(next.detections.iter()) {
            if d.state != n.state.as_str() {
                d.state = n.state.as_str().into();
                d.detail = next.detail.as_str().into();
                d.updated = next.updated_at.millis();
            }
        }
        self.state = next.state.as_str().into();
        self.detail = next.detail.as_str().into();
        self.updated = next.updated_at.millis();
        let after = (self.state.clone(), self.detail.clone(), self.level());
        if before != after || !events.is_empty() {
            self.history.push(HistoryDoc {
                id: uuid::Uuid::new_v4().to_string(),
                at: next.updated_at.millis(),
                level: after.2.as_str().into(),
                state: after.0,
                detail: after.1,
                initiated_by: initiated_by.map(|i| i.to_string()),
                event_types: events,
            });
            let excess = self.history.len().saturating_sub(STATE_HISTORY);
            self.history.drain(..excess);
        }
    }

    /// Records new detections made at `at` from `ip`.
    fn record(
        &mut self,
        found: &[RiskDetection],
        at: Timestamp,
        ip: &str,
        loc: &LocDoc,
        cid: &str,
    ) {
        if found.is_empty() {
            return;
        }
        let mut next = self.user_risk();
        for d in found {
            next = next.record(d.clone(), at);
            self.detections.push(DetectionDoc {
                id: uuid::Uuid::new_v4().to_string(),
                kind: d.kind.as_str().into(),
                level: d.level.as_str().into(),
                state: RiskState::AtRisk.as_str().into(),
                detail: RiskDetail::None.as_str().into(),
                reason: d.detail.clone(),
                ip: ip.into(),
                loc: loc.clone(),
                at: at.millis(),
                updated: at.millis(),
                cid: cid.into(),
            });
        }
        let events = found.iter().map(|d| d.kind.as_str().to_string()).collect();
        self.apply(&next, None, events);
    }
}

/// Reads, changes and writes a user's record (compare-and-set; retried when another writer got
/// there first). Returns the record as written.
async fn update<F>(
    s: &AppState,
    tenant: &Tenant,
    user: &User,
    change: F,
) -> Result<RiskDoc, StoreError>
where
    F: Fn(&mut RiskDoc),
{
    update_audited(s, tenant, user, None, change).await
}

/// [`update`], committing `audit` (when given) in the same transaction as the record.
async fn update_audited<F>(
    s: &AppState,
    tenant: &Tenant,
    user: &User,
    audit: Option<&castellan_core::audit::AuditRecord>,
    change: F,
) -> Result<RiskDoc, StoreError>
where
    F: Fn(&mut RiskDoc),
{
    for _ in 0..16 {
        let current = s.store.risky_user(tenant.id, user.id).await?;
        let mut doc = current
            .as_ref()
            .map(RiskDoc::from_record)
            .unwrap_or_default();
        change(&mut doc);
        doc.upn.clone_from(&user.user_principal_name);
        doc.display_name.clone_from(&user.display_name);
        let data = serde_json::to_string(&doc).map_err(|e| StoreError::Backend(e.to_string()))?;
        let record = RiskyUserRecord {
            tenant_id: tenant.id,
            user_id: user.id,
            version: 0,
            updated: Timestamp(doc.updated),
            data,
        };
        let expected = current.as_ref().map(|c| c.version);
        let written = match audit {
            None => s.store.put_risky_user(&record, expected).await?,
            Some(a) => {
                let mut set = castellan_core::store::ChangeSet::new();
                set.push(castellan_core::store::Change::PutRiskyUser(
                    record, expected,
                ))
                .audit(a.clone());
                match s.store.commit(set).await {
                    Ok(()) => true,
                    Err(e)
                        if e.unique_rule()
                            == Some(castellan_core::store::UniqueRule::RiskyUserChanged) =>
                    {
                        false
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        if written {
            return Ok(doc);
        }
    }
    Err(StoreError::Backend(
        "the user's risk record is changing too fast; try again".into(),
    ))
}

pub use castellan_core::flow::signin::Assessment;

/// The facts of one sign-in Identity Protection looks at.
pub struct SignInFacts<'a> {
    /// Client address.
    pub ip: &'a str,
    /// `User-Agent`.
    pub user_agent: &'a str,
    /// The password just proven correct, when this sign-in had one (leaked credentials).
    pub password: Option<&'a SecretText>,
    /// When.
    pub at: Timestamp,
    /// Correlation id.
    pub cid: &'a str,
}

fn spray_key(ip: std::net::IpAddr) -> String {
    risk::spray_source(ip).to_string()
}

/// Assesses a user's sign-in (first factor just proven): runs every detection, stores them
/// and this sign-in in the user's history, and returns sign-in and user risk.
pub async fn assess_sign_in(
    s: &AppState,
    tenant: &Tenant,
    user: &User,
    f: &SignInFacts<'_>,
) -> Result<Assessment, StoreError> {
    let loc = s.protection.locate(f.ip);
    let ip: Option<std::net::IpAddr> = f.ip.parse().ok();
    let rule = SprayRule::default();
    let failures = match ip {
        Some(ip) => {
            s.store
                .failed_sign_ins(
                    tenant.id,
                    &spray_key(ip),
                    Timestamp(
                        f.at.millis()
                            .saturating_sub(rule.window_secs.saturating_mul(1000)),
                    ),
                )
                .await?
        }
        None => Vec::new(),
    };
    let leaked = f
        .password
        .and_then(|p| risk::leaked_credentials(p.expose(), &s.protection.leaked));
    let locdoc = LocDoc::from(&loc);
    let found_cell = std::sync::Mutex::new(Vec::new());
    let doc = update(s, tenant, user, |doc| {
        let mut found = Vec::new();
        if let Some(ip) = ip {
            // Impossible travel: from the last sign-in GeoIP could place.
            if let (Some(lat), Some(lon)) = (loc.latitude, loc.longitude) {
                let here = GeoSignIn {
                    at: f.at,
                    latitude: lat,
                    longitude: lon,
                };
                if let Some(prev) = doc.seen.iter().rev().find_map(|h| {
                    Some(GeoSignIn {
                        at: Timestamp(h.at),
                        latitude: h.lat?,
                        longitude: h.lon?,
                    })
                }) {
                    found.extend(risk::impossible_travel(&prev, &here));
                }
            }
            found.extend(risk::anonymous_ip(ip, &s.protection.anonymizers));
            let parsed: Vec<(std::net::IpAddr, &SeenDoc)> = doc
                .seen
                .iter()
                .filter_map(|h| Some((h.ip.parse().ok()?, h)))
                .collect();
            let history: Vec<SignInProperties<'_>> = parsed
                .iter()
                .map(|(ip, h)| SignInProperties {
                    ip: *ip,
                    country: h.country.as_deref(),
                    user_agent: &h.ua,
                })
                .collect();
            let current = SignInProperties {
                ip,
                country: loc.country_or_region.as_deref(),
                user_agent: f.user_agent,
            };
            found.extend(risk::unfamiliar_sign_in(&current, &history));
            let fails: Vec<FailedSignIn<'_>> = failures
                .iter()
                .filter_map(|r| {
                    Some(FailedSignIn {
                        ip: r.ip.parse().ok()?,
                        username: &r.username,
                        at: r.at,
                    })
                })
                .collect();
            found.extend(risk::password_spray(ip, &fails, f.at, rule));
        }
        found.extend(leaked.clone());
        doc.record(&found, f.at, f.ip, &locdoc, f.cid);
        doc.seen.push(SeenDoc {
            ip: f.ip.into(),
            country: loc.country_or_region.clone(),
            lat: loc.latitude,
            lon: loc.longitude,
            ua: f.user_agent.into(),
            at: f.at.millis(),
        });
        let excess = doc.seen.len().saturating_sub(HISTORY);
        doc.seen.drain(..excess);
        if let Ok(mut cell) = found_cell.lock() {
            *cell = found;
        }
    })
    .await?;
    let found = found_cell.into_inner().unwrap_or_default();
    // Sign-in risk is the sign-in's own (real-time) detections; leaked credentials is about
    // the account (offline in Entra) and counts toward user risk only.
    let realtime: Vec<RiskDetection> = found
        .iter()
        .filter(|d| d.kind.timing() == "realtime")
        .cloned()
        .collect();
    let sign_in_risk = risk::sign_in_risk(&realtime);
    let user_risk = doc.level();
    if !found.is_empty() {
        tracing::warn!(
            user = %user.user_principal_name,
            ip = f.ip,
            detections = ?found.iter().map(|d| d.kind.as_str()).collect::<Vec<_>>(),
            sign_in_risk = sign_in_risk.as_str(),
            user_risk = user_risk.as_str(),
            "Identity Protection detections"
        );
    }
    Ok(Assessment {
        sign_in_risk,
        user_risk,
        info: SignInRiskInfo {
            during_sign_in: sign_in_risk.as_str().into(),
            aggregated: user_risk.as_str().into(),
            state: if found.is_empty() {
                if user_risk == RiskLevel::None {
                    "none".into()
                } else {
                    doc.state.clone()
                }
            } else {
                RiskState::AtRisk.as_str().into()
            },
            detail: "none".into(),
            event_types: found.iter().map(|d| d.kind.as_str().to_string()).collect(),
        },
    })
}

/// The user's standing risk, for sign-ins that are not assessed (refresh, device code, a
/// completed MFA step).
pub async fn standing(
    s: &AppState,
    tenant: &Tenant,
    user: ObjectId,
) -> Result<Assessment, StoreError> {
    let doc = s
        .store
        .risky_user(tenant.id, user)
        .await?
        .map(|r| RiskDoc::from_record(&r));
    let level = doc.as_ref().map_or(RiskLevel::None, RiskDoc::level);
    Ok(Assessment::user_only(
        level,
        doc.as_ref().map(|d| d.state.as_str()),
    ))
}

/// Keeps a failed password sign-in for password-spray detection (wrong password or unknown
/// account; lockouts and disabled accounts are not guesses that failed).
pub async fn record_failure(
    s: &AppState,
    tenant: &Tenant,
    username: &str,
    ip: &str,
    code: u32,
    at: Timestamp,
) -> Result<(), StoreError> {
    if !castellan_core::flow::signin::counts_as_guess(code) {
        return Ok(());
    }
    let Ok(addr) = ip.parse::<std::net::IpAddr>() else {
        return Ok(());
    };
    let window = SprayRule::default().window_secs.saturating_mul(1000);
    s.store
        .add_failed_sign_in(
            &castellan_core::model::FailedSignInRecord {
                tenant_id: tenant.id,
                source: spray_key(addr),
                ip: ip.into(),
                username: username.trim().chars().take(256).collect(),
                at,
            },
            Timestamp(at.millis().saturating_sub(window)),
        )
        .await
}

/// The administrator's actions on `riskyUsers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminAction {
    /// `dismiss`.
    Dismiss,
    /// `confirmCompromised`.
    ConfirmCompromised,
}

/// Applies an administrator's action to one user; its audit record commits with it.
pub async fn admin_action(
    s: &AppState,
    tenant: &Tenant,
    user: &User,
    action: AdminAction,
    admin: Option<ObjectId>,
    at: Timestamp,
    audit: &castellan_core::audit::AuditRecord,
) -> Result<RiskDoc, StoreError> {
    update_audited(s, tenant, user, Some(audit), |doc| {
        let now = doc.user_risk();
        let next = match action {
            AdminAction::Dismiss => now.dismiss(at),
            AdminAction::ConfirmCompromised => now.confirm_compromised(at),
        };
        doc.apply(&next, admin, Vec::new());
        // A history item for every action, even one that changed nothing.
        if doc.history.last().is_none_or(|h| h.at != at.millis()) {
            let (state, detail, level) = (doc.state.clone(), doc.detail.clone(), doc.level());
            doc.history.push(HistoryDoc {
                id: uuid::Uuid::new_v4().to_string(),
                at: at.millis(),
                level: level.as_str().into(),
                state,
                detail,
                initiated_by: admin.map(|a| a.to_string()),
                event_types: Vec::new(),
            });
        }
    })
    .await
}

/// The user changed their own password after proving the current one: open risk is
/// remediated (`userPerformedSecuredPasswordChange`). Nothing is written for a user without
/// risk.
pub async fn remediate_password_change(
    s: &AppState,
    tenant: &Tenant,
    user: &User,
    at: Timestamp,
) -> Result<(), StoreError> {
    let has = s.store.risky_user(tenant.id, user.id).await?;
    if has.is_none() {
        return Ok(());
    }
    update(s, tenant, user, |doc| {
        let now = doc.user_risk();
        if now.level() == RiskLevel::None {
            return;
        }
        let next = now.remediate_with_password_change(at);
        doc.apply(&next, None, Vec::new());
    })
    .await
    .map(|_| ())
}

/// Refuses a new password that is in the leaked-password list (Graph and the sign-in page's
/// password change use it).
pub fn check_new_password(s: &AppState, password: &str) -> Result<(), String> {
    if s.protection.leaked.contains_password(password) {
        return Err("This password appears in a list of leaked passwords and cannot be used. Choose a different password.".into());
    }
    Ok(())
}
