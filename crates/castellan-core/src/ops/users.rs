//! Users: create, update, delete, manager.

use crate::error::DirectoryError;
use crate::ids::ObjectId;
use crate::model::{check_password_policy, validate_upn, ObjectKind, Tenant, User, UserType};
use crate::ops::{modified, not_found, required, target, Env, Field};
use crate::store::{Change, ChangeSet};

/// The settable properties of a user, as parsed from a create or update body.
#[derive(Clone, Debug, Default)]
pub struct UserInput {
    /// displayName
    pub display_name: Field<String>,
    /// userPrincipalName
    pub user_principal_name: Field<String>,
    /// mailNickname
    pub mail_nickname: Field<String>,
    /// mail
    pub mail: Field<String>,
    /// givenName
    pub given_name: Field<String>,
    /// surname
    pub surname: Field<String>,
    /// jobTitle
    pub job_title: Field<String>,
    /// department
    pub department: Field<String>,
    /// officeLocation
    pub office_location: Field<String>,
    /// companyName
    pub company_name: Field<String>,
    /// employeeId
    pub employee_id: Field<String>,
    /// accountEnabled
    pub account_enabled: Field<bool>,
    /// userType
    pub user_type: Field<UserType>,
    /// passwordProfile.password
    pub password: Field<String>,
    /// passwordProfile.forceChangePasswordNextSignIn
    pub force_change_password_next_sign_in: Field<bool>,
    /// otherMails
    pub other_mails: Field<Vec<String>>,
    /// usageLocation
    pub usage_location: Field<String>,
}

/// `usageLocation` from a body: ISO 3166-1 alpha-2, stored upper case; `null` clears it.
fn usage_location(i: &UserInput) -> Result<Option<String>, DirectoryError> {
    i.usage_location
        .value()
        .map(|v| crate::licenses::validate_usage_location(v))
        .transpose()
        .map_err(DirectoryError::BadRequest)
}

fn check_other_mails(i: &UserInput) -> Result<(), DirectoryError> {
    if let Some(v) = i.other_mails.value() {
        if v.len() > 250 {
            return Err(DirectoryError::BadRequest(
                "Property 'otherMails' holds at most 250 addresses.".into(),
            ));
        }
        if let Some(bad) = v.iter().find(|m| m.len() > 250 || !m.contains('@')) {
            return Err(DirectoryError::BadRequest(format!(
                "Property 'otherMails' value '{bad}' is not an email address (alias@domain, at most 250 characters)."
            )));
        }
    }
    Ok(())
}

fn check_lengths(i: &UserInput) -> Result<(), DirectoryError> {
    let limits: [(&Field<String>, &str, usize); 10] = [
        (&i.display_name, "displayName", 256),
        (&i.mail_nickname, "mailNickname", 64),
        (&i.mail, "mail", 256),
        (&i.given_name, "givenName", 64),
        (&i.surname, "surname", 64),
        (&i.job_title, "jobTitle", 128),
        (&i.department, "department", 64),
        (&i.office_location, "officeLocation", 128),
        (&i.company_name, "companyName", 64),
        (&i.employee_id, "employeeId", 16),
    ];
    for (f, name, max) in limits {
        if let Some(v) = f.value() {
            if v.chars().count() > max {
                return Err(DirectoryError::BadRequest(format!(
                    "Property '{name}' is longer than {max} characters."
                )));
            }
        }
    }
    if let Some(d) = i.display_name.value() {
        if d.trim().is_empty() {
            return Err(DirectoryError::BadRequest(
                "Property 'displayName' must not be empty.".into(),
            ));
        }
    }
    Ok(())
}

/// Creates a user. The password is checked against the tenant's policy, then hashed.
pub async fn create(
    env: &mut Env<'_>,
    tenant: &Tenant,
    input: UserInput,
) -> Result<User, DirectoryError> {
    let display_name = required(&input.display_name, "displayName")?;
    let upn = required(&input.user_principal_name, "userPrincipalName")?;
    let account_enabled = required(&input.account_enabled, "accountEnabled")?;
    check_lengths(&input)?;
    check_other_mails(&input)?;
    validate_upn(&upn, tenant).map_err(DirectoryError::BadRequest)?;
    let password = required(&input.password, "passwordProfile.password")?;
    check_password_policy(&password, &tenant.settings.password_policy)
        .map_err(DirectoryError::BadRequest)?;
    if env.store.user_by_upn(tenant.id, &upn).await?.is_some() {
        return Err(upn_taken(&upn));
    }
    let hash = env
        .hasher
        .hash(&password)
        .await
        .map_err(DirectoryError::Unavailable)?;
    let user = User {
        id: env.new_id(),
        tenant_id: tenant.id,
        display_name,
        mail_nickname: input
            .mail_nickname
            .value()
            .cloned()
            .or_else(|| upn.split('@').next().map(str::to_string)),
        user_principal_name: upn,
        mail: input.mail.value().cloned(),
        given_name: input.given_name.value().cloned(),
        surname: input.surname.value().cloned(),
        job_title: input.job_title.value().cloned(),
        department: input.department.value().cloned(),
        office_location: input.office_location.value().cloned(),
        company_name: input.company_name.value().cloned(),
        employee_id: input.employee_id.value().cloned(),
        account_enabled,
        user_type: input.user_type.value().copied().unwrap_or(UserType::Member),
        created: env.now,
        password_hash: Some(hash),
        force_change_password_next_sign_in: input
            .force_change_password_next_sign_in
            .value()
            .copied()
            .unwrap_or(false),
        manager_id: None,
        other_mails: input.other_mails.value().cloned().unwrap_or_default(),
        usage_location: usage_location(&input)?,
        external: None,
    };
    let mut set = ChangeSet::new();
    let audit = env.audit(
        tenant,
        "UserManagement",
        "Add user",
        "Add",
        vec![target(
            user.id,
            "User",
            Some(&user.display_name),
            Some(&user.user_principal_name),
            vec![],
        )],
    );
    set.push(Change::InsertUser(user.clone())).audit(audit);
    super::dynamic_groups::reconcile_user(env, tenant, &user, None, &[], &mut set).await?;
    env.store
        .commit(set)
        .await
        .map_err(map_upn_conflict(&user.user_principal_name))?;
    Ok(user)
}

fn upn_taken(upn: &str) -> DirectoryError {
    DirectoryError::Conflict(format!(
        "Another object with the same value for property userPrincipalName already exists: '{upn}'. Choose another userPrincipalName."
    ))
}

fn map_upn_conflict(upn: &str) -> impl Fn(crate::store::StoreError) -> DirectoryError + '_ {
    move |e| match e {
        crate::store::StoreError::Conflict(c) if c.rule == crate::store::UniqueRule::UpnTaken => {
            upn_taken(upn)
        }
        other => other.into(),
    }
}

/// Loads a user by id or UPN (Graph accepts either in `/users/{id|upn}`).
pub async fn find(env: &Env<'_>, tenant: &Tenant, key: &str) -> Result<User, DirectoryError> {
    let found = match ObjectId::parse(key) {
        Some(id) => env.store.user(tenant.id, id).await?,
        None => env.store.user_by_upn(tenant.id, key).await?,
    };
    found.ok_or_else(|| not_found(key))
}

/// Applies a PATCH.
pub async fn update(
    env: &mut Env<'_>,
    tenant: &Tenant,
    key: &str,
    input: UserInput,
) -> Result<User, DirectoryError> {
    let old = find(env, tenant, key).await?;
    check_lengths(&input)?;
    check_other_mails(&input)?;
    let mut u = old.clone();
    let mut props = Vec::new();
    macro_rules! set_str {
        ($field:ident, $name:expr) => {
            if input.$field.apply_opt(&mut u.$field) {
                props.push(modified($name, old.$field.clone(), u.$field.clone()));
            }
        };
    }
    if input.display_name.is_present() {
        u.display_name = required(&input.display_name, "displayName")?;
        props.push(modified(
            "displayName",
            Some(old.display_name.clone()),
            Some(u.display_name.clone()),
        ));
    }
    if input.user_principal_name.is_present() {
        let upn = required(&input.user_principal_name, "userPrincipalName")?;
        validate_upn(&upn, tenant).map_err(DirectoryError::BadRequest)?;
        if !upn.eq_ignore_ascii_case(&old.user_principal_name)
            && env.store.user_by_upn(tenant.id, &upn).await?.is_some()
        {
            return Err(upn_taken(&upn));
        }
        u.user_principal_name = upn;
        props.push(modified(
            "userPrincipalName",
            Some(old.user_principal_name.clone()),
            Some(u.user_principal_name.clone()),
        ));
    }
    set_str!(mail_nickname, "mailNickname");
    set_str!(mail, "mail");
    set_str!(given_name, "givenName");
    set_str!(surname, "surname");
    set_str!(job_title, "jobTitle");
    set_str!(department, "department");
    set_str!(office_location, "officeLocation");
    set_str!(company_name, "companyName");
    set_str!(employee_id, "employeeId");
    if input.usage_location.is_present() {
        u.usage_location = usage_location(&input)?;
        props.push(modified(
            "usageLocation",
            old.usage_location.clone(),
            u.usage_location.clone(),
        ));
    }
    if input.account_enabled.is_present() {
        u.account_enabled = required(&input.account_enabled, "accountEnabled")?;
        props.push(modified(
            "accountEnabled",
            Some(old.account_enabled.to_string()),
            Some(u.account_enabled.to_string()),
        ));
    }
    if input.user_type.is_present() {
        u.user_type = required(&input.user_type, "userType")?;
        props.push(modified(
            "userType",
            Some(old.user_type.as_str().into()),
            Some(u.user_type.as_str().into()),
        ));
    }
    if input.password.is_present() {
        let pw = required(&input.password, "passwordProfile.password")?;
        check_password_policy(&pw, &tenant.settings.password_policy)
            .map_err(DirectoryError::BadRequest)?;
        u.password_hash = Some(
            env.hasher
                .hash(&pw)
                .await
                .map_err(DirectoryError::Unavailable)?,
        );
        props.push(modified("passwordProfile", None, Some("<redacted>".into())));
    }
    if let Some(f) = input.force_change_password_next_sign_in.value() {
        u.force_change_password_next_sign_in = *f;
        props.push(modified(
            "forceChangePasswordNextSignIn",
            Some(old.force_change_password_next_sign_in.to_string()),
            Some(f.to_string()),
        ));
    }
    if let Some(v) = input.other_mails.value() {
        u.other_mails = v.clone();
        props.push(modified(
            "otherMails",
            Some(old.other_mails.join(",")),
            Some(u.other_mails.join(",")),
        ));
    } else if input.other_mails == Field::Null {
        u.other_mails.clear();
        props.push(modified(
            "otherMails",
            Some(old.other_mails.join(",")),
            None,
        ));
    }
    if props.is_empty() {
        return Ok(old);
    }
    let changed = super::dynamic_groups::changed_properties(
        &props.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
    );
    let audit = env.audit(
        tenant,
        "UserManagement",
        "Update user",
        "Update",
        vec![target(
            u.id,
            "User",
            Some(&u.display_name),
            Some(&u.user_principal_name),
            props,
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::UpdateUser(u.clone())).audit(audit);
    // A new password or a disabled account ends every session and refresh token, atomically.
    if input.password.is_present() || (old.account_enabled && !u.account_enabled) {
        set.push(Change::RevokeGrants(crate::model::RevokeScope::User(
            tenant.id, u.id,
        )));
    }
    super::dynamic_groups::reconcile_user(env, tenant, &u, Some(&changed), &[], &mut set).await?;
    env.store
        .commit(set)
        .await
        .map_err(map_upn_conflict(&u.user_principal_name))?;
    Ok(u)
}

/// `POST /users/{id}/revokeSignInSessions`: invalidates every refresh token and SSO session.
pub async fn revoke_sign_in_sessions(
    env: &mut Env<'_>,
    tenant: &Tenant,
    key: &str,
) -> Result<(), DirectoryError> {
    let u = find(env, tenant, key).await?;
    let audit = env.audit(
        tenant,
        "UserManagement",
        "Invalidate all refresh tokens for user",
        "Update",
        vec![target(
            u.id,
            "User",
            Some(&u.display_name),
            Some(&u.user_principal_name),
            vec![],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::RevokeGrants(crate::model::RevokeScope::User(
        tenant.id, u.id,
    )))
    .audit(audit);
    env.store
        .commit(set)
        .await
        .map_err(|e| DirectoryError::Unavailable(e.to_string()))
}

/// A user changing their own password at sign-in (the 50055 page): the current password was
/// verified by the caller; the new one must meet policy and differ. Ends other sessions.
pub async fn change_own_password(
    env: &mut Env<'_>,
    tenant: &Tenant,
    user: &User,
    new_password: &str,
    old_password: &str,
) -> Result<User, DirectoryError> {
    if new_password == old_password {
        return Err(DirectoryError::BadRequest(
            "The new password must be different from the current one.".into(),
        ));
    }
    check_password_policy(new_password, &tenant.settings.password_policy)
        .map_err(DirectoryError::BadRequest)?;
    let mut u = user.clone();
    u.password_hash = Some(
        env.hasher
            .hash(new_password)
            .await
            .map_err(DirectoryError::Unavailable)?,
    );
    u.force_change_password_next_sign_in = false;
    let audit = env.audit(
        tenant,
        "UserManagement",
        "Change user password",
        "Update",
        vec![target(
            u.id,
            "User",
            Some(&u.display_name),
            Some(&u.user_principal_name),
            vec![modified("passwordProfile", None, Some("<redacted>".into()))],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::UpdateUser(u.clone()))
        .push(Change::RevokeGrants(crate::model::RevokeScope::User(
            tenant.id, u.id,
        )))
        .audit(audit);
    env.store
        .commit(set)
        .await
        .map_err(|e| DirectoryError::Unavailable(e.to_string()))?;
    Ok(u)
}

/// Deletes a user (soft: into the recycle bin for 30 days, `ops::deleted_items`).
pub async fn delete(env: &mut Env<'_>, tenant: &Tenant, key: &str) -> Result<(), DirectoryError> {
    let u = find(env, tenant, key).await?;
    let audit = env.audit(
        tenant,
        "UserManagement",
        "Delete user",
        "Delete",
        vec![target(
            u.id,
            "User",
            Some(&u.display_name),
            Some(&u.user_principal_name),
            vec![],
        )],
    );
    // Soft delete: the snapshot goes to the recycle bin with the delete, in one commit; the
    // user's refresh tokens and sessions die with it (a restore does not revive them).
    let item = super::deleted_items::snapshot(
        env,
        tenant,
        crate::deleted_items::DeletedObject::User(u.clone()),
    )
    .await?;
    let mut set = ChangeSet::new();
    set.push(Change::InsertDeletedItem(Box::new(item)))
        .push(Change::RevokeGrants(crate::model::RevokeScope::User(
            tenant.id, u.id,
        )))
        .push(Change::DeleteUser(tenant.id, u.id))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(())
}

/// Sets (`Some`) or removes (`None`) a user's manager.
pub async fn set_manager(
    env: &mut Env<'_>,
    tenant: &Tenant,
    key: &str,
    manager: Option<ObjectId>,
) -> Result<(), DirectoryError> {
    let old = find(env, tenant, key).await?;
    if let Some(m) = manager {
        if m == old.id {
            return Err(DirectoryError::BadRequest(
                "A user cannot be their own manager.".into(),
            ));
        }
        match env.store.object_kind(tenant.id, m).await? {
            Some(ObjectKind::User) => {}
            Some(_) => {
                return Err(DirectoryError::BadRequest(format!(
                    "Object '{m}' is not a user; a manager must be a user."
                )))
            }
            None => return Err(not_found(m)),
        }
    } else if old.manager_id.is_none() {
        return Err(DirectoryError::NotFound(format!(
            "User '{}' has no manager.",
            old.user_principal_name
        )));
    }
    let mut u = old.clone();
    u.manager_id = manager;
    let audit = env.audit(
        tenant,
        "UserManagement",
        if manager.is_some() {
            "Set user manager"
        } else {
            "Remove user manager"
        },
        "Update",
        vec![target(
            u.id,
            "User",
            Some(&u.display_name),
            Some(&u.user_principal_name),
            vec![modified(
                "manager",
                old.manager_id.map(|i| i.to_string()),
                manager.map(|i| i.to_string()),
            )],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::UpdateUser(u.clone())).audit(audit);
    let changed = super::dynamic_groups::changed_properties(&["manager"]);
    super::dynamic_groups::reconcile_user(env, tenant, &u, Some(&changed), &[], &mut set).await?;
    env.store.commit(set).await?;
    Ok(())
}

#[cfg(test)]
mod memory_store_tests {
    //! `create` against the in-memory store, fixed clock, seeded ids.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::ops::testing::{env, store_with_tenant, Seeded, NOW};
    use crate::store::memory::block_on;
    use crate::store::prelude::*;
    use crate::store::AuditQuery;

    fn alice(upn: &str) -> UserInput {
        UserInput {
            display_name: Field::Value("Alice".into()),
            user_principal_name: Field::Value(upn.into()),
            account_enabled: Field::Value(true),
            password: Field::Value("Correct-horse-9".into()),
            ..UserInput::default()
        }
    }

    #[test]
    fn create_stores_the_user_with_its_audit_record_and_a_taken_upn_changes_nothing() {
        let (store, t) = store_with_tenant(1);
        let mut entropy = Seeded(7);
        let mut e = env(&store, &mut entropy);
        let upn = "alice@usecase.onmicrosoft.test";
        let u = block_on(create(&mut e, &t, alice(upn))).unwrap();
        assert_eq!(u.created, NOW, "the clock comes from Env");
        assert_eq!(u.password_hash.as_deref(), Some("plain:Correct-horse-9"));
        assert_eq!(block_on(store.user(t.id, u.id)).unwrap(), Some(u.clone()));
        let audit = block_on(store.audit_records(t.id, &AuditQuery::default())).unwrap();
        assert_eq!(
            audit
                .iter()
                .map(|a| a.activity.as_str())
                .collect::<Vec<_>>(),
            ["Add user"]
        );
        // The same seed replays the same ids.
        let (store2, t2) = store_with_tenant(1);
        let mut entropy2 = Seeded(7);
        let mut e2 = env(&store2, &mut entropy2);
        assert_eq!(block_on(create(&mut e2, &t2, alice(upn))).unwrap().id, u.id);

        // The UPN in another case is taken: Graph's message, nothing written.
        let err = block_on(create(&mut e, &t, alice(&upn.to_uppercase()))).unwrap_err();
        assert_eq!(
            err,
            DirectoryError::Conflict(format!(
                "Another object with the same value for property userPrincipalName already exists: '{}'. Choose another userPrincipalName.",
                upn.to_uppercase()
            ))
        );
        assert_eq!(block_on(store.users(t.id)).unwrap().len(), 1);
        assert_eq!(
            block_on(store.audit_records(t.id, &AuditQuery::default()))
                .unwrap()
                .len(),
            1,
            "a refused create writes no audit record"
        );
    }
}
