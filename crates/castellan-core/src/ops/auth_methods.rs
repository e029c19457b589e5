//! A user's authentication methods (Graph `/users/{id}/authentication/...`): registering an
//! authenticator app (software OATH TOTP: begin → confirm with a valid code → recovery codes
//! shown once), listing, deleting, who may manage whose methods, and the checks the sign-in
//! flow calls (`verify_totp_for_user`, `verify_recovery_code`, `has_registered_method`).
//!
//! The TOTP secret is sealed by the caller's [`Sealer`] (the server's master key) before it
//! is stored; the store only ever holds sealed bytes. A registration stays pending, and never
//! satisfies MFA, until the user proves possession with a valid code.

use crate::error::DirectoryError;
use crate::flow::mfa_attempts::{MfaAttemptRule, MfaLocked, DEFAULT_RULE};
use crate::ids::ObjectId;
use crate::model::{SoftwareOathMethod, Tenant, User};
use crate::ops::{target, Env};
use crate::policy::totp::{
    check_recovery_code, hash_recovery_code, recovery_code_from_entropy, Totp, TotpError,
};
use crate::store::{Change, ChangeSet, Store};
use crate::time::Timestamp;

/// Seals secrets at rest (AES-256-GCM under the master key in the server).
pub trait Sealer: Send + Sync {
    /// Encrypts `plain`.
    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, String>;
    /// Decrypts what `seal` produced.
    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, String>;
}

/// Authentication Administrator (manages methods of users without admin roles).
pub const AUTHENTICATION_ADMINISTRATOR: uuid::Uuid =
    uuid::uuid!("c4e39bd9-1100-46d3-8c65-fb160da0071f");
/// Privileged Authentication Administrator (manages methods of any user).
pub const PRIVILEGED_AUTHENTICATION_ADMINISTRATOR: uuid::Uuid =
    uuid::uuid!("7be44c8a-adaf-4e2a-84d6-ab2649e08a13");
/// Global Administrator.
pub const GLOBAL_ADMINISTRATOR: uuid::Uuid = uuid::uuid!("62e90394-69f5-4237-9190-012177145e10");

/// How many recovery codes a confirmed registration issues.
pub const RECOVERY_CODES: usize = 10;

/// Who asks to read or change a user's methods.
#[derive(Clone, Copy, Debug)]
pub enum Manager<'a> {
    /// A delegated Graph call: the signed-in user, their tenant-wide directory roles and the
    /// token's scopes.
    User {
        /// The signed-in user.
        id: ObjectId,
        /// Tenant-wide directory role templates.
        roles: &'a [uuid::Uuid],
        /// Delegated scopes (`scp`).
        scopes: &'a [String],
    },
    /// An app-only Graph call with these application permissions (`roles`).
    App {
        /// Application permissions.
        permissions: &'a [String],
    },
    /// The user at the enrollment page, signed in by their own SSO session.
    Session(ObjectId),
}

/// Read (list) or write (register, delete).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodAccess {
    /// List.
    Read,
    /// Register or delete.
    Write,
}

fn has_any(granted: &[String], wanted: &[&str]) -> bool {
    granted
        .iter()
        .any(|g| wanted.iter().any(|w| g.eq_ignore_ascii_case(w)))
}

/// Decides whether `who` may read or change the methods of `target`, whose tenant-wide
/// directory roles are `target_roles`. Pure.
///
/// - Users always manage their own methods (delegated: with `UserAuthenticationMethod.Read`
///   or `.ReadWrite`, or their `.All` forms).
/// - Other users' methods need `UserAuthenticationMethod.Read.All`/`.ReadWrite.All` and a
///   role: Global Administrator or Privileged Authentication Administrator for anyone,
///   Authentication Administrator for users who hold no directory role.
/// - App-only: `UserAuthenticationMethod.Read.All` (read) or `.ReadWrite.All`.
pub fn may_manage(
    who: &Manager<'_>,
    target: ObjectId,
    target_roles: &[uuid::Uuid],
    access: MethodAccess,
) -> Result<(), DirectoryError> {
    let all: &[&str] = match access {
        MethodAccess::Read => &[
            "UserAuthenticationMethod.Read.All",
            "UserAuthenticationMethod.ReadWrite.All",
        ],
        MethodAccess::Write => &["UserAuthenticationMethod.ReadWrite.All"],
    };
    match who {
        Manager::Session(id) if *id == target => Ok(()),
        Manager::Session(_) => Err(DirectoryError::Forbidden(
            "A user can only register authentication methods for themself.".into(),
        )),
        Manager::App { permissions } => {
            if has_any(permissions, all) {
                Ok(())
            } else {
                Err(DirectoryError::Forbidden(format!(
                    "Insufficient privileges to complete the operation. The token needs one of these permissions: {}.",
                    all.join(", ")
                )))
            }
        }
        Manager::User { id, roles, scopes } => {
            if *id == target {
                let own: &[&str] = match access {
                    MethodAccess::Read => &[
                        "UserAuthenticationMethod.Read",
                        "UserAuthenticationMethod.ReadWrite",
                        "UserAuthenticationMethod.Read.All",
                        "UserAuthenticationMethod.ReadWrite.All",
                    ],
                    MethodAccess::Write => &[
                        "UserAuthenticationMethod.ReadWrite",
                        "UserAuthenticationMethod.ReadWrite.All",
                    ],
                };
                return if has_any(scopes, own) {
                    Ok(())
                } else {
                    Err(DirectoryError::Forbidden(format!(
                        "Insufficient privileges to complete the operation. The token needs one of these delegated permissions: {}.",
                        own.join(", ")
                    )))
                };
            }
            if !has_any(scopes, all) {
                return Err(DirectoryError::Forbidden(format!(
                    "Insufficient privileges to complete the operation. Managing another user's authentication methods needs one of these delegated permissions: {}.",
                    all.join(", ")
                )));
            }
            let privileged = roles.iter().any(|r| {
                *r == GLOBAL_ADMINISTRATOR || *r == PRIVILEGED_AUTHENTICATION_ADMINISTRATOR
            });
            let auth_admin = roles.contains(&AUTHENTICATION_ADMINISTRATOR);
            if privileged || (auth_admin && target_roles.is_empty()) {
                Ok(())
            } else if auth_admin {
                Err(DirectoryError::Forbidden(
                    "Insufficient privileges to complete the operation. An Authentication Administrator cannot manage the authentication methods of a user who holds a directory role; a Privileged Authentication Administrator or Global Administrator can.".into(),
                ))
            } else {
                Err(DirectoryError::Forbidden(
                    "Insufficient privileges to complete the operation. Managing another user's authentication methods needs the Authentication Administrator, Privileged Authentication Administrator or Global Administrator role.".into(),
                ))
            }
        }
    }
}

/// Decides whether `who` may reset the second-factor attempt counters of `target` (lift an
/// MFA lockout). Pure. The rights are those of writing the target's methods ([`may_manage`]:
/// Authentication Administrator for users without a directory role, Privileged
/// Authentication Administrator or Global Administrator for anyone, or an app with
/// `UserAuthenticationMethod.ReadWrite.All`), except that nobody lifts their own lock: the
/// lock exists because someone who may be holding this user's password is guessing codes.
pub fn may_reset_mfa_attempts(
    who: &Manager<'_>,
    target: ObjectId,
    target_roles: &[uuid::Uuid],
) -> Result<(), DirectoryError> {
    match who {
        Manager::Session(_) => Err(DirectoryError::Forbidden(
            "Resetting MFA attempts is an administrator's action.".into(),
        )),
        Manager::User { id, .. } if *id == target => Err(DirectoryError::Forbidden(
            "Insufficient privileges to complete the operation. You cannot reset your own MFA attempts; ask another Authentication Administrator, Privileged Authentication Administrator or Global Administrator.".into(),
        )),
        _ => may_manage(who, target, target_roles, MethodAccess::Write),
    }
}

/// An administrator lifts `user`'s MFA lockout: the counters are cleared and the reset is
/// audited ("Reset MFA attempts") in one transaction. The caller has checked
/// [`may_reset_mfa_attempts`]. Returns whether there were counters to clear.
pub async fn reset_mfa_attempts(
    env: &mut Env<'_>,
    tenant: &Tenant,
    user: &User,
) -> Result<bool, DirectoryError> {
    let had = env.store.mfa_attempts(tenant.id, user.id).await?.is_some();
    let audit = env.audit(
        tenant,
        "UserManagement",
        "Reset MFA attempts",
        "Update",
        vec![user_target(user)],
    );
    let mut set = ChangeSet::new();
    set.push(Change::ResetMfaAttempts(tenant.id, user.id))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(had)
}

/// A registration in progress: what the user's app needs. The secret is shown once.
#[derive(Clone)]
pub struct Registration {
    /// The pending method's id (confirm with it).
    pub method_id: ObjectId,
    /// The Base32 secret (for manual entry).
    pub secret_base32: String,
    /// The `otpauth://` URI the QR code carries.
    pub otpauth_uri: String,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("method_id", &self.method_id)
            .finish_non_exhaustive()
    }
}

fn user_target(u: &User) -> crate::audit::AuditTarget {
    target(
        u.id,
        "User",
        Some(&u.display_name),
        Some(&u.user_principal_name),
        vec![],
    )
}

fn unavailable(e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Unavailable(e.to_string())
}

/// Starts registering an authenticator app for `user`: a fresh 160-bit secret, sealed and
/// stored as a pending method (replacing any earlier pending one of the user).
///
/// A user who already has a confirmed method may add another only with `proved_mfa` (this
/// sign-in satisfied MFA with an existing method): otherwise a stolen password alone would be
/// enough to add an attacker's authenticator.
pub async fn begin_registration(
    env: &mut Env<'_>,
    sealer: &dyn Sealer,
    tenant: &Tenant,
    user: &User,
    proved_mfa: bool,
) -> Result<Registration, DirectoryError> {
    let existing = env.store.software_oath_methods(tenant.id, user.id).await?;
    if !proved_mfa && existing.iter().any(|m| m.confirmed) {
        return Err(DirectoryError::Forbidden(
            "You already have an authenticator app registered. Adding another needs a sign-in verified with the one you have; to replace it instead, delete it (DELETE /me/authentication/softwareOathMethods/{id}) or ask an Authentication Administrator to.".into(),
        ));
    }
    let mut raw = env.entropy.bytes16().to_vec();
    raw.extend_from_slice(&env.entropy.bytes16());
    raw.truncate(20);
    let totp = Totp::new(raw).map_err(|e| DirectoryError::BadRequest(e.to_string()))?;
    let sealed = sealer.seal(totp.secret()).map_err(unavailable)?;
    let method = SoftwareOathMethod {
        id: env.new_id(),
        tenant_id: tenant.id,
        user_id: user.id,
        display_name: "Authenticator app".into(),
        secret_sealed: sealed,
        created: env.now,
        confirmed: false,
        last_used_step: None,
    };
    let mut set = ChangeSet::new();
    for old in existing {
        if !old.confirmed {
            set.push(Change::DeleteSoftwareOathMethod(tenant.id, old.id));
        }
    }
    let audit = env.audit(
        tenant,
        "UserManagement",
        "User started security info registration",
        "Add",
        vec![user_target(user)],
    );
    set.push(Change::InsertSoftwareOathMethod(method.clone()))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(Registration {
        method_id: method.id,
        secret_base32: totp.secret_base32(),
        otpauth_uri: totp.otpauth_uri(issuer(tenant), &user.user_principal_name),
    })
}

/// Finishes a registration with a code from the app. On success the method is confirmed
/// (the code's step is recorded, so it cannot be used again to sign in) and fresh recovery
/// codes are issued and returned — the only time they are ever shown.
///
/// Confirmation codes count against the user's second-factor attempts
/// ([`begin_mfa_attempt`]): while they are locked this answers `Forbidden` with the AADSTS50053
/// message; [`confirm_registration_checked`] says so as a value.
pub async fn confirm_registration(
    env: &mut Env<'_>,
    sealer: &dyn Sealer,
    tenant: &Tenant,
    user: &User,
    method_id: ObjectId,
    code: &str,
) -> Result<Vec<String>, DirectoryError> {
    match confirm_registration_checked(env, sealer, tenant, user, method_id, code).await? {
        Ok(codes) => Ok(codes),
        Err(l) => Err(DirectoryError::Forbidden(locked_error(&l).message)),
    }
}

/// The AADSTS50053 answer for a lock under the default rule.
pub fn locked_error(l: &MfaLocked) -> crate::error::AadstsError {
    crate::error::AadstsError::mfa_locked_out(
        l.retry_after_secs,
        DEFAULT_RULE.threshold,
        DEFAULT_RULE.window_secs / 60,
    )
}

/// [`confirm_registration`], with the lock as a value (`Ok(Err(lock))`: the code was not
/// looked at).
pub async fn confirm_registration_checked(
    env: &mut Env<'_>,
    sealer: &dyn Sealer,
    tenant: &Tenant,
    user: &User,
    method_id: ObjectId,
    code: &str,
) -> Result<Result<Vec<String>, MfaLocked>, DirectoryError> {
    let m = env
        .store
        .software_oath_method(tenant.id, method_id)
        .await?
        .filter(|m| m.user_id == user.id && !m.confirmed)
        .ok_or_else(|| {
            DirectoryError::NotFound(
                "This registration is not pending any more (it was confirmed, replaced or deleted). Start again.".into(),
            )
        })?;
    if let Err(l) = begin_mfa_attempt(env.store, tenant, user.id, env.now).await? {
        return Ok(Err(l));
    }
    let totp = open_totp(sealer, &m)?;
    let step = totp
        .verify(code, env.now, None)
        .map_err(|e| DirectoryError::BadRequest(e.to_string()))?;
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let b = env.entropy.bytes16();
        let mut ten = [0u8; 10];
        for (d, s) in ten.iter_mut().zip(b.iter()) {
            *d = *s;
        }
        codes.push(recovery_code_from_entropy(ten));
    }
    let audit = env.audit(
        tenant,
        "UserManagement",
        "User registered security info",
        "Add",
        vec![user_target(user)],
    );
    let mut set = ChangeSet::new();
    set.push(Change::ConfirmSoftwareOathMethod(tenant.id, m.id, step))
        .push(Change::ReplaceRecoveryCodes(
            tenant.id,
            user.id,
            codes.iter().map(|c| hash_recovery_code(c)).collect(),
        ))
        .audit(audit);
    env.store.commit(set).await?;
    env.store.reset_mfa_attempts(tenant.id, user.id).await?;
    Ok(Ok(codes))
}

/// The pending registration `method_id` of `user` again (to re-show the page after a wrong
/// code); `None` when it is not pending any more.
pub async fn resume_registration(
    store: &dyn Store,
    sealer: &dyn Sealer,
    tenant: &Tenant,
    user: &User,
    method_id: ObjectId,
) -> Result<Option<Registration>, DirectoryError> {
    let Some(m) = store
        .software_oath_method(tenant.id, method_id)
        .await?
        .filter(|m| m.user_id == user.id && !m.confirmed)
    else {
        return Ok(None);
    };
    let totp = open_totp(sealer, &m)?;
    Ok(Some(Registration {
        method_id: m.id,
        secret_base32: totp.secret_base32(),
        otpauth_uri: totp.otpauth_uri(issuer(tenant), &user.user_principal_name),
    }))
}

fn issuer(tenant: &Tenant) -> &str {
    if tenant.display_name.is_empty() {
        "Castellan"
    } else {
        tenant.display_name.as_str()
    }
}

fn open_totp(sealer: &dyn Sealer, m: &SoftwareOathMethod) -> Result<Totp, DirectoryError> {
    let secret = sealer.open(&m.secret_sealed).map_err(unavailable)?;
    Totp::new(secret).map_err(|e| DirectoryError::Unavailable(e.to_string()))
}

/// The user's confirmed authenticator-app methods.
pub async fn list(
    store: &dyn Store,
    tenant: &Tenant,
    user: ObjectId,
) -> Result<Vec<SoftwareOathMethod>, DirectoryError> {
    Ok(store
        .software_oath_methods(tenant.id, user)
        .await?
        .into_iter()
        .filter(|m| m.confirmed)
        .collect())
}

/// Deletes one of `user`'s authenticator-app methods (NotFound if it is not theirs).
pub async fn delete(
    env: &mut Env<'_>,
    tenant: &Tenant,
    user: &User,
    method_id: ObjectId,
) -> Result<(), DirectoryError> {
    let found = env
        .store
        .software_oath_method(tenant.id, method_id)
        .await?
        .filter(|m| m.user_id == user.id);
    if found.is_none() {
        return Err(DirectoryError::NotFound(format!(
            "The user has no softwareOathAuthenticationMethod with id '{method_id}'."
        )));
    }
    let audit = env.audit(
        tenant,
        "UserManagement",
        "User deleted security info",
        "Delete",
        vec![user_target(user)],
    );
    let mut set = ChangeSet::new();
    set.push(Change::DeleteSoftwareOathMethod(tenant.id, method_id))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(())
}

/// Whether the user has a confirmed method that can satisfy MFA.
pub async fn has_registered_method(
    store: &dyn Store,
    tenant: &Tenant,
    user: ObjectId,
) -> Result<bool, DirectoryError> {
    Ok(store.has_confirmed_oath_method(tenant.id, user).await?)
}

/// What a TOTP check at sign-in found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TotpCheck {
    /// A confirmed method accepted the code, and its step is now used up.
    Accepted,
    /// Refused (malformed, wrong, or already used — also when a concurrent request used the
    /// same code first).
    Rejected(TotpError),
    /// The user has no confirmed authenticator app.
    NoMethod,
    /// Too many attempts: refused without looking at the code until the cool-down ends.
    Locked(MfaLocked),
}

/// How many times an attempt re-reads the counters after losing a compare-and-set before it
/// gives up (fail closed: the attempt is not evaluated). Each loss means another attempt was
/// counted, and after `threshold` of them the lock answers without writing, so a burst of
/// any size settles well within this.
const MAX_COUNT_RETRIES: usize = 64;

/// Counts one second-factor attempt of `user` under [`DEFAULT_RULE`] *before* its code is
/// evaluated: `Ok(Err(lock))` when the user is in a cool-down (the code must not be looked
/// at), `Ok(Ok(()))` when this attempt was counted by one compare-and-set write and may be
/// evaluated. Callers clear the counters on success ([`mfa_attempt_succeeded`]).
pub async fn begin_mfa_attempt(
    store: &dyn Store,
    tenant: &Tenant,
    user: ObjectId,
    now: Timestamp,
) -> Result<Result<(), MfaLocked>, DirectoryError> {
    begin_mfa_attempt_with(store, &DEFAULT_RULE, tenant, user, now).await
}

/// [`begin_mfa_attempt`] under an explicit rule.
pub async fn begin_mfa_attempt_with(
    store: &dyn Store,
    rule: &MfaAttemptRule,
    tenant: &Tenant,
    user: ObjectId,
    now: Timestamp,
) -> Result<Result<(), MfaLocked>, DirectoryError> {
    for _ in 0..MAX_COUNT_RETRIES {
        let (state, version) = match store.mfa_attempts(tenant.id, user).await? {
            Some((s, v)) => (s, Some(v)),
            None => (Default::default(), None),
        };
        let next = match rule.begin(&state, now) {
            Ok(n) => n,
            Err(l) => return Ok(Err(l)),
        };
        if store
            .put_mfa_attempts(tenant.id, user, &next, version)
            .await?
        {
            return Ok(Ok(()));
        }
    }
    Err(DirectoryError::Unavailable(
        "Too many simultaneous verification attempts for this user; try again in a moment.".into(),
    ))
}

/// Clears the user's counters after a verified second factor.
pub async fn mfa_attempt_succeeded(
    store: &dyn Store,
    tenant: &Tenant,
    user: ObjectId,
) -> Result<(), DirectoryError> {
    store.reset_mfa_attempts(tenant.id, user).await?;
    Ok(())
}

/// The check the sign-in flow calls: counts the attempt against the user's limit
/// ([`begin_mfa_attempt`]; `Locked` without looking at the code), tries `code` against each
/// confirmed method of the user and, when one matches, records the step by compare-and-set so
/// that one code signs in once even under concurrent submissions, and clears the counters.
pub async fn verify_totp_for_user(
    store: &dyn Store,
    sealer: &dyn Sealer,
    tenant: &Tenant,
    user: ObjectId,
    code: &str,
    now: Timestamp,
) -> Result<TotpCheck, DirectoryError> {
    let methods = list(store, tenant, user).await?;
    if methods.is_empty() {
        return Ok(TotpCheck::NoMethod);
    }
    if let Err(l) = begin_mfa_attempt(store, tenant, user, now).await? {
        return Ok(TotpCheck::Locked(l));
    }
    let mut worst = TotpError::Invalid;
    for m in &methods {
        let totp = open_totp(sealer, m)?;
        match totp.verify(code, now, m.last_used_step) {
            Ok(step) => {
                if store.advance_totp_step(tenant.id, m.id, step).await? {
                    mfa_attempt_succeeded(store, tenant, user).await?;
                    return Ok(TotpCheck::Accepted);
                }
                worst = TotpError::Replayed;
            }
            Err(TotpError::Invalid) => {}
            Err(e) => worst = e,
        }
    }
    Ok(TotpCheck::Rejected(worst))
}

/// A recovery code instead of a TOTP code: accepted once (marked used by compare-and-set).
/// Not offered at any prompt yet; recovery codes carry 80 bits, so guessing is hopeless, but a
/// prompt that accepts them must call [`begin_mfa_attempt`] first, as `verify_totp_for_user`
/// does.
pub async fn verify_recovery_code(
    store: &dyn Store,
    tenant: &Tenant,
    user: ObjectId,
    code: &str,
) -> Result<bool, DirectoryError> {
    let stored: Vec<[u8; 32]> = store
        .recovery_codes(tenant.id, user)
        .await?
        .into_iter()
        .filter(|c| !c.used)
        .map(|c| c.hash)
        .collect();
    if check_recovery_code(code, &stored).is_none() {
        return Ok(false);
    }
    Ok(store
        .use_recovery_code(tenant.id, user, &hash_recovery_code(code))
        .await?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_random([n; 16])
    }

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_string()).collect()
    }

    #[test]
    fn users_manage_their_own_methods_with_the_scope() {
        let sc = scopes(&["UserAuthenticationMethod.ReadWrite"]);
        let me = Manager::User {
            id: id(1),
            roles: &[],
            scopes: &sc,
        };
        assert!(may_manage(&me, id(1), &[], MethodAccess::Write).is_ok());
        assert!(may_manage(&me, id(1), &[], MethodAccess::Read).is_ok());
        let ro = scopes(&["UserAuthenticationMethod.Read"]);
        let me_ro = Manager::User {
            id: id(1),
            roles: &[],
            scopes: &ro,
        };
        assert!(may_manage(&me_ro, id(1), &[], MethodAccess::Read).is_ok());
        assert!(may_manage(&me_ro, id(1), &[], MethodAccess::Write).is_err());
        let none = scopes(&["User.Read"]);
        let me_none = Manager::User {
            id: id(1),
            roles: &[],
            scopes: &none,
        };
        assert!(may_manage(&me_none, id(1), &[], MethodAccess::Read).is_err());
    }

    #[test]
    fn other_users_need_a_role_and_the_all_scope() {
        let sc = scopes(&["UserAuthenticationMethod.ReadWrite.All"]);
        let plain = Manager::User {
            id: id(1),
            roles: &[],
            scopes: &sc,
        };
        assert!(matches!(
            may_manage(&plain, id(2), &[], MethodAccess::Read),
            Err(DirectoryError::Forbidden(_))
        ));
        let aa_roles = [AUTHENTICATION_ADMINISTRATOR];
        let aa = Manager::User {
            id: id(1),
            roles: &aa_roles,
            scopes: &sc,
        };
        assert!(may_manage(&aa, id(2), &[], MethodAccess::Write).is_ok());
        // An Authentication Administrator cannot touch an admin's methods.
        assert!(may_manage(&aa, id(2), &[GLOBAL_ADMINISTRATOR], MethodAccess::Write).is_err());
        for r in [
            GLOBAL_ADMINISTRATOR,
            PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
        ] {
            let roles = [r];
            let admin = Manager::User {
                id: id(1),
                roles: &roles,
                scopes: &sc,
            };
            assert!(
                may_manage(&admin, id(2), &[GLOBAL_ADMINISTRATOR], MethodAccess::Write).is_ok()
            );
        }
        // The role without the scope is not enough.
        let narrow = scopes(&["UserAuthenticationMethod.ReadWrite"]);
        let ga_roles = [GLOBAL_ADMINISTRATOR];
        let ga = Manager::User {
            id: id(1),
            roles: &ga_roles,
            scopes: &narrow,
        };
        assert!(may_manage(&ga, id(2), &[], MethodAccess::Read).is_err());
    }

    #[test]
    fn apps_need_the_application_permission() {
        let rw = scopes(&["UserAuthenticationMethod.ReadWrite.All"]);
        let r = scopes(&["UserAuthenticationMethod.Read.All"]);
        let other = scopes(&["User.ReadWrite.All"]);
        let app = |p| Manager::App { permissions: p };
        assert!(may_manage(&app(&rw), id(2), &[], MethodAccess::Write).is_ok());
        assert!(may_manage(&app(&r), id(2), &[], MethodAccess::Read).is_ok());
        assert!(may_manage(&app(&r), id(2), &[], MethodAccess::Write).is_err());
        assert!(may_manage(&app(&other), id(2), &[], MethodAccess::Read).is_err());
    }

    #[test]
    fn mfa_lockouts_are_lifted_by_authentication_administrators_never_by_oneself() {
        let sc = scopes(&["UserAuthenticationMethod.ReadWrite.All"]);
        let who = |roles: &'static [uuid::Uuid]| Manager::User {
            id: id(1),
            roles,
            scopes: &sc,
        };
        const AA: &[uuid::Uuid] = &[AUTHENTICATION_ADMINISTRATOR];
        const PAA: &[uuid::Uuid] = &[PRIVILEGED_AUTHENTICATION_ADMINISTRATOR];
        const GA: &[uuid::Uuid] = &[GLOBAL_ADMINISTRATOR];
        for roles in [AA, PAA, GA] {
            assert!(may_reset_mfa_attempts(&who(roles), id(2), &[]).is_ok());
        }
        // An Authentication Administrator cannot lift an administrator's lock; the others can.
        assert!(may_reset_mfa_attempts(&who(AA), id(2), GA).is_err());
        assert!(may_reset_mfa_attempts(&who(PAA), id(2), GA).is_ok());
        assert!(may_reset_mfa_attempts(&who(GA), id(2), GA).is_ok());
        // No role, no reset; and never one's own, whatever the role or scope.
        assert!(may_reset_mfa_attempts(&who(&[]), id(2), &[]).is_err());
        for roles in [AA, PAA, GA] {
            assert!(may_reset_mfa_attempts(&who(roles), id(1), &[]).is_err());
        }
        assert!(may_reset_mfa_attempts(&Manager::Session(id(1)), id(1), &[]).is_err());
        // Apps with the application permission may (automation by the tenant's admins).
        let rw = scopes(&["UserAuthenticationMethod.ReadWrite.All"]);
        let ro = scopes(&["UserAuthenticationMethod.Read.All"]);
        assert!(may_reset_mfa_attempts(&Manager::App { permissions: &rw }, id(2), &[]).is_ok());
        assert!(may_reset_mfa_attempts(&Manager::App { permissions: &ro }, id(2), &[]).is_err());
    }

    #[test]
    fn a_session_registers_only_for_its_own_user() {
        assert!(may_manage(&Manager::Session(id(1)), id(1), &[], MethodAccess::Write).is_ok());
        assert!(may_manage(&Manager::Session(id(1)), id(2), &[], MethodAccess::Read).is_err());
    }
}
