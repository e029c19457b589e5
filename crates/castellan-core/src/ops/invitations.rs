//! B2B invitations: `POST /invitations` (new guest, re-invite, `resetRedemption`), the
//! delivery record of the invitation message, and the redemption of a link. Decisions are
//! `crate::invitations`'; this loads, stores the ticket (only its secret's hash) and commits
//! the guest with its audit record in one change set. Redemption is a compare-and-set on the
//! ticket, so of two concurrent uses exactly one succeeds.

use crate::error::DirectoryError;
use crate::invitations::{self as inv, InviteRequest, Plan, Proof, RedeemRefusal};
use crate::model::{Grant, GrantKind, GrantState, Tenant, User};
use crate::ops::signin::handle;
use crate::ops::{target, Env};
use crate::store::{Change, ChangeSet, StoreError, UniqueRule};

/// What an invitation made.
#[derive(Clone, Debug)]
pub struct Invited {
    /// The guest (new or existing).
    pub user: User,
    /// The redemption link's secret (only its hash is stored).
    pub secret: String,
    /// The guest had redeemed already (Graph's `status: Completed`).
    pub completed: bool,
    /// The request as normalised (addresses lower case).
    pub request: InviteRequest,
}

/// Invites `req.email` into `tenant`; the link lives `lifetime_days`.
pub async fn invite(
    env: &mut Env<'_>,
    tenant: &Tenant,
    mut req: InviteRequest,
    lifetime_days: i64,
) -> Result<Invited, DirectoryError> {
    let bad = DirectoryError::BadRequest;
    req.email = inv::normalise_email("invitedUserEmailAddress", &req.email).map_err(bad)?;
    req.message.cc = req
        .message
        .cc
        .iter()
        .map(|c| inv::normalise_email("invitedUserMessageInfo.ccRecipients", c))
        .collect::<Result<_, _>>()
        .map_err(bad)?;
    inv::check_request(&req).map_err(bad)?;
    let users = env.store.users(tenant.id).await?;
    let holder = users.iter().find(|u| inv::holds_address(u, &req.email));
    let named = req
        .invited_user_id
        .and_then(|id| users.iter().find(|u| u.id == id));
    let plan = inv::plan(tenant, &req, holder, named).map_err(bad)?;
    let mut set = ChangeSet::new();
    let (user, completed, activity) = match plan {
        Plan::New => {
            let u = inv::new_guest(env.new_id(), tenant, &req, env.now);
            set.push(Change::InsertUser(u.clone()));
            super::dynamic_groups::reconcile_user(env, tenant, &u, None, &[], &mut set).await?;
            (u, false, "Invite external user")
        }
        Plan::Reinvite(id) | Plan::Reset(id) => {
            let old = users
                .iter()
                .find(|u| u.id == id)
                .ok_or_else(|| super::not_found(id))?;
            let reset = matches!(plan, Plan::Reset(_));
            let u = if reset {
                inv::reset(old, &req.email, env.now)
            } else {
                old.clone()
            };
            if reset {
                set.push(Change::UpdateUser(u.clone()));
            }
            let accepted = u
                .external
                .as_ref()
                .is_some_and(|e| e.state == crate::model::ExternalUserState::Accepted);
            for g in env
                .store
                .grants_of_kind(tenant.id, GrantKind::Invitation)
                .await?
            {
                if g.user_id == Some(id) && g.state == GrantState::Active {
                    let revoked = Grant {
                        state: GrantState::Revoked,
                        ..g
                    };
                    set.push(Change::UpdateGrant(GrantState::Active, revoked));
                }
            }
            let activity = if reset {
                "Reset user redemption status"
            } else {
                "Invite external user"
            };
            (u, accepted, activity)
        }
    };
    let secret = env.entropy.secret();
    env.store
        .insert_grant(&inv::ticket(
            handle(&secret),
            &user,
            &req.redirect_url,
            env.now,
            lifetime_days,
        ))
        .await?;
    let audit = env.audit(
        tenant,
        "UserManagement",
        activity,
        if activity.starts_with("Reset") {
            "Update"
        } else {
            "Add"
        },
        vec![target(
            user.id,
            "User",
            Some(&user.display_name),
            Some(&user.user_principal_name),
            vec![super::modified(
                "InvitedUserEmailAddress",
                None,
                Some(req.email.clone()),
            )],
        )],
    );
    set.audit(audit);
    env.store.commit(set).await.map_err(|e| match e {
        StoreError::Conflict(c) if c.rule == UniqueRule::UpnTaken => DirectoryError::BadRequest(
            format!(
                "The invited user already exists in the directory: userPrincipalName '{}' is taken.",
                user.user_principal_name
            ),
        ),
        other => other.into(),
    })?;
    Ok(Invited {
        user,
        secret,
        completed,
        request: req,
    })
}

/// Records whether the invitation message reached the relay: an audit record, a failure
/// with its reason.
pub async fn record_delivery(
    env: &mut Env<'_>,
    tenant: &Tenant,
    user: &User,
    outcome: Result<(), String>,
) -> Result<(), DirectoryError> {
    let mut a = env.audit(
        tenant,
        "UserManagement",
        "Send invitation email",
        "Other",
        vec![target(
            user.id,
            "User",
            Some(&user.display_name),
            Some(&user.user_principal_name),
            vec![],
        )],
    );
    if let Err(why) = outcome {
        a.result = "failure".into();
        a.result_reason = why;
    }
    let mut set = ChangeSet::new();
    set.audit(a);
    env.store.commit(set).await?;
    Ok(())
}

/// A link's ticket and its guest, checked but not used (the redemption page's first view).
pub async fn peek(
    env: &Env<'_>,
    tenant: &Tenant,
    secret: &str,
) -> Result<Result<(Grant, User), RedeemRefusal>, DirectoryError> {
    let g = env.store.grant(&handle(secret)).await?;
    if let Err(r) = inv::check_ticket(g.as_ref(), tenant.id, env.now) {
        return Ok(Err(r));
    }
    let Some(g) = g else {
        return Ok(Err(RedeemRefusal::Unknown));
    };
    let Some(uid) = g.user_id else {
        return Ok(Err(RedeemRefusal::Unknown));
    };
    match env.store.user(tenant.id, uid).await? {
        Some(u) if u.external.is_some() => Ok(Ok((g, u))),
        _ => Ok(Err(RedeemRefusal::GuestGone)),
    }
}

/// Redeems the link `secret` with `proof`: the ticket used (compare-and-set), the guest
/// `Accepted` with its identity, and the audit record, in one commit. Returns the guest and
/// the `inviteRedirectUrl`.
pub async fn redeem(
    env: &mut Env<'_>,
    tenant: &Tenant,
    secret: &str,
    proof: &Proof,
) -> Result<Result<(User, String), RedeemRefusal>, DirectoryError> {
    let (g, u) = match peek(env, tenant, secret).await? {
        Ok(x) => x,
        Err(r) => return Ok(Err(r)),
    };
    let next = match inv::accept(&u, &g, proof, env.now) {
        Ok(n) => n,
        Err(r) => return Ok(Err(r)),
    };
    let redirect = g.attr("redirect").unwrap_or_default().to_string();
    let used = Grant {
        state: GrantState::Used,
        ..g
    };
    let mut set = ChangeSet::new();
    set.push(Change::UpdateGrant(GrantState::Active, used))
        .push(Change::UpdateUser(next.clone()));
    let audit = env.audit(
        tenant,
        "UserManagement",
        "Redeem external user invite",
        "Update",
        vec![target(
            next.id,
            "User",
            Some(&next.display_name),
            Some(&next.user_principal_name),
            vec![super::modified(
                "ExternalUserState",
                Some("PendingAcceptance".into()),
                Some("Accepted".into()),
            )],
        )],
    );
    set.audit(audit);
    match env.store.commit(set).await {
        Ok(()) => Ok(Ok((next, redirect))),
        Err(StoreError::Conflict(c)) if c.rule == UniqueRule::GrantChanged => {
            Ok(Err(RedeemRefusal::Used))
        }
        Err(e) => Err(e.into()),
    }
}

/// The passcode record's handle for the link `secret` (one live code per link).
fn passcode_handle(secret: &str) -> String {
    handle(&format!("email-otp:{secret}"))
}

/// Draws a new 8-digit passcode for the link `secret` (replacing any earlier one) and returns
/// it with the invited address to send it to.
pub async fn new_passcode(
    env: &mut Env<'_>,
    tenant: &Tenant,
    secret: &str,
) -> Result<Result<(String, String), RedeemRefusal>, DirectoryError> {
    let (g, _) = match peek(env, tenant, secret).await? {
        Ok(x) => x,
        Err(r) => return Ok(Err(r)),
    };
    let b = env.entropy.bytes16();
    let n = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) % 100_000_000;
    let code = format!("{n:08}");
    let rec = inv::passcode(passcode_handle(secret), &g, handle(&code), env.now);
    env.store.upsert_grant(&rec).await?;
    Ok(Ok((code, g.attr("email").unwrap_or_default().to_string())))
}

/// What a typed passcode did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasscodeOutcome {
    /// Right: the address is proven.
    Proven(Proof),
    /// Wrong, with the tries left (0: ask for a new code).
    Wrong(u32),
    /// No live code: ask for a new one.
    NoCode,
}

/// Checks a typed passcode for the link `secret`; a right one is spent (compare-and-set).
pub async fn check_passcode(
    env: &mut Env<'_>,
    tenant: &Tenant,
    secret: &str,
    typed: &str,
) -> Result<Result<PasscodeOutcome, RedeemRefusal>, DirectoryError> {
    let (g, _) = match peek(env, tenant, secret).await? {
        Ok(x) => x,
        Err(r) => return Ok(Err(r)),
    };
    let rec = env.store.grant(&passcode_handle(secret)).await?;
    let verdict = inv::check_passcode(rec.as_ref(), &handle(typed.trim()), env.now);
    let (next, out) = match verdict {
        inv::PasscodeVerdict::NoCode => return Ok(Ok(PasscodeOutcome::NoCode)),
        inv::PasscodeVerdict::Right(n) => (
            n,
            PasscodeOutcome::Proven(Proof::EmailOtp {
                email: g.attr("email").unwrap_or_default().to_string(),
            }),
        ),
        inv::PasscodeVerdict::Wrong { next, left } => (next, PasscodeOutcome::Wrong(left)),
    };
    let mut set = ChangeSet::new();
    set.push(Change::UpdateGrant(GrantState::Active, next));
    match env.store.commit(set).await {
        Ok(()) => Ok(Ok(out)),
        Err(StoreError::Conflict(c)) if c.rule == UniqueRule::GrantChanged => {
            Ok(Ok(PasscodeOutcome::NoCode))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests;
