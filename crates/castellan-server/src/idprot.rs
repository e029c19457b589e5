//! Identity Protection at sign-in, the adapter: places the client address with GeoIP, checks a
//! proven password against the leaked-password list, and hands both — with the anonymizer
//! ranges — to core's use cases (`castellan_core::ops::identity_protection`), which run the
//! detections (`policy::risky_user::assess`) and keep the user's record. Only the operator's
//! data (GeoIP, lists) lives here; every decision and the record's bookkeeping are core's, and
//! its storage layout is the store's.

use castellan_core::model::{Tenant, User};
use castellan_core::ops::identity_protection as ops;
use castellan_core::policy::risk;
use castellan_core::secret::SecretText;
use castellan_core::store::StoreError;
use castellan_core::Timestamp;

use crate::crypto::OsEntropy;
use crate::state::AppState;

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

/// Sign-ins of one user take turns on this node. Each rewrites the user's risk record with a
/// compare-and-set (core's `identity_protection::update`); concurrent sign-ins of one account —
/// a pipeline's shared account, a browser's many tabs — would otherwise keep losing that race
/// to each other until one gives up (AADSTS90055). Striped by user: two users rarely share a
/// stripe, and sharing one only orders them. Across nodes the compare-and-set's retries stay.
static RECORD_TURNS: [tokio::sync::Mutex<()>; 64] =
    [const { tokio::sync::Mutex::const_new(()) }; 64];

fn record_turn(tenant: &Tenant, user: &User) -> &'static tokio::sync::Mutex<()> {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let h = BuildHasherDefault::<DefaultHasher>::default().hash_one((tenant.id, user.id));
    &RECORD_TURNS[usize::try_from(h % 64).unwrap_or_default()]
}

/// Assesses a user's sign-in (first factor just proven): runs every detection, stores them
/// and this sign-in in the user's record, and returns sign-in and user risk.
pub async fn assess_sign_in(
    s: &AppState,
    tenant: &Tenant,
    user: &User,
    f: &SignInFacts<'_>,
) -> Result<Assessment, StoreError> {
    let _turn = record_turn(tenant, user).lock().await;
    let location = s.protection.locate(f.ip);
    let leaked = f
        .password
        .and_then(|p| risk::leaked_credentials(p.expose(), &s.protection.leaked));
    let a = ops::assess_sign_in(
        s.store.as_ref(),
        &mut OsEntropy,
        tenant,
        user,
        &ops::SignInFacts {
            ip: f.ip,
            user_agent: f.user_agent,
            location: &location,
            leaked,
            anonymizers: &s.protection.anonymizers,
            at: f.at,
            correlation_id: f.cid,
        },
    )
    .await?;
    if !a.info.event_types.is_empty() {
        tracing::warn!(
            user = %user.user_principal_name,
            ip = f.ip,
            detections = ?a.info.event_types,
            sign_in_risk = a.sign_in_risk.as_str(),
            user_risk = a.user_risk.as_str(),
            "Identity Protection detections"
        );
    }
    Ok(a)
}

/// Refuses a new password that is in the leaked-password list (Graph and the sign-in page's
/// password change use it).
pub fn check_new_password(s: &AppState, password: &str) -> Result<(), String> {
    if s.protection.leaked.contains_password(password) {
        return Err("This password appears in a list of leaked passwords and cannot be used. Choose a different password.".into());
    }
    Ok(())
}
