//! Identity Protection use cases: assess a sign-in whose first factor was just proven (load
//! the user's record and the source's recent failures, run `policy::risky_user::assess`, write
//! the record with a compare-and-set), the standing risk of a user, failed sign-ins kept for
//! password-spray detection, the administrator's actions (each user's risk change and its
//! audit record in one commit) and remediation by a secure password change. What only the
//! server holds — GeoIP, the anonymizer ranges, the leaked-password list — comes in as values.

use ipnet::IpNet;

use crate::audit::{Actor, AuditRecord, ModifiedProperty};
use crate::flow::signin::Assessment;
use crate::model::{FailedSignInRecord, SignInLocation, SignInRiskInfo, Tenant, User};
use crate::ops::{target, Entropy, Env};
use crate::policy::model::RiskLevel;
use crate::policy::risk::{self, RiskDetection, RiskState, SprayRule};
use crate::policy::risky_user::{self, AdminAction, RiskyUser, RiskyUserRecord, SignIn};
use crate::store::{Change, ChangeSet, Store, StoreError, UniqueRule};
use crate::time::Timestamp;
use crate::ObjectId;

/// How often a compare-and-set write is retried when another writer got there first.
const CAS_ATTEMPTS: usize = 16;

/// The facts of one sign-in Identity Protection looks at.
pub struct SignInFacts<'a> {
    /// Client address.
    pub ip: &'a str,
    /// `User-Agent`.
    pub user_agent: &'a str,
    /// Where GeoIP placed the address (empty without a GeoIP database).
    pub location: &'a SignInLocation,
    /// The leaked-credentials detection for the password just proven, when it is leaked.
    pub leaked: Option<RiskDetection>,
    /// Anonymizer ranges (Tor exits, anonymising VPNs).
    pub anonymizers: &'a [IpNet],
    /// When.
    pub at: Timestamp,
    /// Correlation id.
    pub correlation_id: &'a str,
}

/// Reads the user's record, lets `change` edit it (returning whether to write at all), and
/// writes it with a compare-and-set — with `audit` in the same transaction when given —
/// retrying when another writer got there first. Returns the record as written (or read).
async fn update<F>(
    store: &dyn Store,
    entropy: &mut dyn Entropy,
    tenant: &Tenant,
    user: &User,
    audit: Option<&AuditRecord>,
    mut change: F,
) -> Result<RiskyUser, StoreError>
where
    F: FnMut(&mut RiskyUser, &mut dyn FnMut() -> String) -> bool,
{
    for _ in 0..CAS_ATTEMPTS {
        let current = store.risky_user(tenant.id, user.id).await?;
        let expected = current.as_ref().map(|c| c.version);
        let mut doc = current.map(|c| c.user).unwrap_or_default();
        let mut new_id = || ObjectId::from_random(entropy.bytes16()).to_string();
        if !change(&mut doc, &mut new_id) {
            return Ok(doc);
        }
        doc.upn.clone_from(&user.user_principal_name);
        doc.display_name.clone_from(&user.display_name);
        let record = RiskyUserRecord {
            tenant_id: tenant.id,
            user_id: user.id,
            version: 0,
            updated: doc.updated,
            user: doc,
        };
        let written = match audit {
            None => store.put_risky_user(&record, expected).await?,
            Some(a) => {
                let mut set = ChangeSet::new();
                set.push(Change::PutRiskyUser(record.clone(), expected))
                    .audit(a.clone());
                match store.commit(set).await {
                    Ok(()) => true,
                    Err(e) if e.unique_rule() == Some(UniqueRule::RiskyUserChanged) => false,
                    Err(e) => return Err(e),
                }
            }
        };
        if written {
            return Ok(record.user);
        }
    }
    Err(StoreError::Backend(
        "the user's risk record is changing too fast; try again".into(),
    ))
}

/// Assesses a user's sign-in (first factor just proven): runs every detection, stores them
/// and this sign-in in the user's record, and returns sign-in and user risk.
pub async fn assess_sign_in(
    store: &dyn Store,
    entropy: &mut dyn Entropy,
    tenant: &Tenant,
    user: &User,
    f: &SignInFacts<'_>,
) -> Result<Assessment, StoreError> {
    let spray = SprayRule::default();
    let failures = match f.ip.parse::<core::net::IpAddr>() {
        Ok(ip) => {
            let window = spray.window_secs.saturating_mul(1000);
            store
                .failed_sign_ins(
                    tenant.id,
                    &risky_user::spray_key(ip),
                    Timestamp(f.at.millis().saturating_sub(window)),
                )
                .await?
        }
        Err(_) => Vec::new(),
    };
    let sign_in = SignIn {
        ip: f.ip,
        user_agent: f.user_agent,
        location: f.location,
        at: f.at,
        correlation_id: f.correlation_id,
    };
    let cx = risky_user::Context {
        anonymizers: f.anonymizers,
        failures: &failures,
        leaked: f.leaked.as_ref(),
        spray,
    };
    let mut found = Vec::new();
    let doc = update(store, entropy, tenant, user, None, |doc, new_id| {
        found = risky_user::assess(doc, &sign_in, &cx, new_id);
        true
    })
    .await?;
    Ok(assessment(&doc, &found))
}

/// The sign-in's verdict for Conditional Access and the sign-in record: sign-in risk is the
/// sign-in's own real-time detections (leaked credentials is about the account — offline in
/// Entra — and counts toward user risk only).
pub fn assessment(r: &RiskyUser, found: &[RiskDetection]) -> Assessment {
    let realtime: Vec<RiskDetection> = found
        .iter()
        .filter(|d| d.kind.timing() == "realtime")
        .cloned()
        .collect();
    let sign_in_risk = risk::sign_in_risk(&realtime);
    let user_risk = r.level();
    let state = if !found.is_empty() {
        RiskState::AtRisk.as_str().into()
    } else if user_risk == RiskLevel::None {
        "none".into()
    } else {
        r.state.as_str().into()
    };
    Assessment {
        sign_in_risk,
        user_risk,
        info: SignInRiskInfo {
            during_sign_in: sign_in_risk.as_str().into(),
            aggregated: user_risk.as_str().into(),
            state,
            detail: "none".into(),
            event_types: found.iter().map(|d| d.kind.as_str().to_string()).collect(),
        },
    }
}

/// The user's standing risk, for sign-ins that are not assessed (refresh, device code, a
/// completed MFA step).
pub async fn standing(
    store: &dyn Store,
    tenant: &Tenant,
    user: ObjectId,
) -> Result<Assessment, StoreError> {
    let record = store.standing_risky_user(tenant.id, user).await?;
    let level = record.as_ref().map_or(RiskLevel::None, |r| r.user.level());
    Ok(Assessment::user_only(
        level,
        record.as_ref().map(|r| r.user.state.as_str()),
    ))
}

/// Keeps a failed password sign-in for password-spray detection (wrong password or unknown
/// account; lockouts and disabled accounts are not guesses that failed). Failures older than
/// the spray window are pruned in the same write.
pub async fn record_failure(
    store: &dyn Store,
    tenant: &Tenant,
    username: &str,
    ip: &str,
    code: u32,
    at: Timestamp,
) -> Result<(), StoreError> {
    if !crate::flow::signin::counts_as_guess(code) {
        return Ok(());
    }
    let Ok(addr) = ip.parse::<core::net::IpAddr>() else {
        return Ok(());
    };
    let window = SprayRule::default().window_secs.saturating_mul(1000);
    store
        .add_failed_sign_in(
            &FailedSignInRecord {
                tenant_id: tenant.id,
                source: risky_user::spray_key(addr),
                ip: ip.into(),
                username: username.trim().chars().take(256).collect(),
                at,
            },
            Timestamp(at.millis().saturating_sub(window)),
        )
        .await
}

/// An administrator's action (`dismiss`, `confirmCompromised`) on each of `users` (already
/// checked to be the tenant's and authorised by the caller): each user's risk change commits
/// with its audit record. The acting user or application becomes the history's `initiatedBy`.
pub async fn admin_action(
    env: &mut Env<'_>,
    tenant: &Tenant,
    users: &[User],
    action: AdminAction,
) -> Result<(), StoreError> {
    let admin = match &env.actor {
        Actor::User { id, .. } => Some(*id),
        Actor::App {
            service_principal_id,
            ..
        } => Some(*service_principal_id),
        Actor::Operator => None,
    };
    let (activity, detail) = action.audit_activity();
    let at = env.now;
    for u in users {
        let audit = env.audit(
            tenant,
            "IdentityProtection",
            activity,
            "Update",
            vec![target(
                u.id,
                "User",
                Some(&u.display_name),
                Some(&u.user_principal_name),
                vec![ModifiedProperty {
                    name: "riskDetail".into(),
                    old_value: None,
                    new_value: Some(detail.as_str().into()),
                }],
            )],
        );
        update(
            env.store,
            &mut *env.entropy,
            tenant,
            u,
            Some(&audit),
            |doc, new_id| {
                risky_user::admin_action(doc, action, admin, at, new_id);
                true
            },
        )
        .await?;
    }
    Ok(())
}

/// The user changed their own password after proving the current one: open risk is
/// remediated (`userPerformedSecuredPasswordChange`). Nothing is written for a user without
/// open risk.
pub async fn remediate_password_change(
    store: &dyn Store,
    entropy: &mut dyn Entropy,
    tenant: &Tenant,
    user: &User,
    at: Timestamp,
) -> Result<(), StoreError> {
    if store.risky_user(tenant.id, user.id).await?.is_none() {
        return Ok(());
    }
    update(store, entropy, tenant, user, None, |doc, new_id| {
        risky_user::remediate_password_change(doc, at, new_id)
    })
    .await
    .map(|_| ())
}
