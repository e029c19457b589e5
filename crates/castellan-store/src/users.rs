//! Users (UPN unique per tenant, any case); deleting one clears manager references.

use super::*;

#[derive(Serialize, Deserialize)]
pub(crate) struct UserDoc {
    id: String,
    tenant_id: String,
    display_name: String,
    upn: String,
    mail_nickname: Option<String>,
    mail: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    job_title: Option<String>,
    department: Option<String>,
    office_location: Option<String>,
    company_name: Option<String>,
    employee_id: Option<String>,
    account_enabled: bool,
    guest: bool,
    created: i64,
    password_hash: Option<String>,
    force_change: bool,
    manager_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    other_mails: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    usage_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    external: Option<ExternalDoc>,
}

/// A guest's invitation state (`User::external`).
#[derive(Serialize, Deserialize)]
pub(crate) struct ExternalDoc {
    email: String,
    state: String,
    changed: i64,
    #[serde(default)]
    identities: Vec<(String, String, Option<String>)>,
    #[serde(default)]
    home_tenant: Option<String>,
    #[serde(default)]
    home_oid: Option<String>,
}

impl From<&ExternalUser> for ExternalDoc {
    fn from(e: &ExternalUser) -> Self {
        Self {
            email: e.invited_email.clone(),
            state: e.state.as_str().into(),
            changed: e.state_changed.millis(),
            identities: e
                .identities
                .iter()
                .map(|i| {
                    (
                        i.sign_in_type.clone(),
                        i.issuer.clone(),
                        i.issuer_assigned_id.clone(),
                    )
                })
                .collect(),
            home_tenant: e.home_tenant.map(|t| t.to_string()),
            home_oid: e.home_object_id.map(|o| o.to_string()),
        }
    }
}

impl TryFrom<ExternalDoc> for ExternalUser {
    type Error = StoreError;
    fn try_from(d: ExternalDoc) -> Result<Self, StoreError> {
        Ok(ExternalUser {
            invited_email: d.email,
            state: ExternalUserState::parse(&d.state)
                .ok_or_else(|| backend("bad externalUserState"))?,
            state_changed: Timestamp(d.changed),
            identities: d
                .identities
                .into_iter()
                .map(|(t, i, a)| ObjectIdentity {
                    sign_in_type: t,
                    issuer: i,
                    issuer_assigned_id: a,
                })
                .collect(),
            home_tenant: d
                .home_tenant
                .as_deref()
                .map(|t| TenantId::parse(t).ok_or_else(|| backend("bad home tenant id")))
                .transpose()?,
            home_object_id: d.home_oid.as_deref().map(oid).transpose()?,
        })
    }
}

impl From<&User> for UserDoc {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            tenant_id: u.tenant_id.to_string(),
            display_name: u.display_name.clone(),
            upn: u.user_principal_name.clone(),
            mail_nickname: u.mail_nickname.clone(),
            mail: u.mail.clone(),
            given_name: u.given_name.clone(),
            surname: u.surname.clone(),
            job_title: u.job_title.clone(),
            department: u.department.clone(),
            office_location: u.office_location.clone(),
            company_name: u.company_name.clone(),
            employee_id: u.employee_id.clone(),
            account_enabled: u.account_enabled,
            guest: u.user_type == UserType::Guest,
            created: u.created.millis(),
            password_hash: u.password_hash.clone(),
            force_change: u.force_change_password_next_sign_in,
            manager_id: u.manager_id.map(|m| m.to_string()),
            other_mails: u.other_mails.clone(),
            usage_location: u.usage_location.clone(),
            external: u.external.as_ref().map(ExternalDoc::from),
        }
    }
}

impl TryFrom<UserDoc> for User {
    type Error = StoreError;
    fn try_from(d: UserDoc) -> Result<Self, StoreError> {
        Ok(User {
            id: oid(&d.id)?,
            tenant_id: TenantId::parse(&d.tenant_id).ok_or_else(|| backend("bad tenant id"))?,
            display_name: d.display_name,
            user_principal_name: d.upn,
            mail_nickname: d.mail_nickname,
            mail: d.mail,
            given_name: d.given_name,
            surname: d.surname,
            job_title: d.job_title,
            department: d.department,
            office_location: d.office_location,
            company_name: d.company_name,
            employee_id: d.employee_id,
            account_enabled: d.account_enabled,
            user_type: if d.guest {
                UserType::Guest
            } else {
                UserType::Member
            },
            created: Timestamp(d.created),
            password_hash: d.password_hash,
            force_change_password_next_sign_in: d.force_change,
            manager_id: d.manager_id.as_deref().map(oid).transpose()?,
            other_mails: d.other_mails,
            usage_location: d.usage_location,
            external: d.external.map(ExternalUser::try_from).transpose()?,
        })
    }
}

/// This area's writes (routed here by `apply_change_inner`).
pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::InsertUser(u) => {
            exec(
                tx,
                "INSERT INTO users (id, tenant_id, upn_lower, data) VALUES ($1, $2, $3, $4)",
                &[
                    s(u.id),
                    s(u.tenant_id),
                    Arg::S(u.user_principal_name.to_lowercase()),
                    Arg::S(json(&UserDoc::from(u))?),
                ],
            )
            .await?;
            bump_list_version(tx, u.tenant_id, "users").await?;
        }
        Change::UpdateUser(u) => {
            must_touch(
                tx,
                "UPDATE users SET upn_lower = $3, data = $4 WHERE id = $1 AND tenant_id = $2",
                &[
                    s(u.id),
                    s(u.tenant_id),
                    Arg::S(u.user_principal_name.to_lowercase()),
                    Arg::S(json(&UserDoc::from(u))?),
                ],
                "user",
            )
            .await?;
            bump_list_version(tx, u.tenant_id, "users").await?;
        }
        Change::DeleteUser(t, id) => {
            must_touch(
                tx,
                "DELETE FROM users WHERE id = $1 AND tenant_id = $2",
                &[s(id), s(t)],
                "user",
            )
            .await?;
            bump_list_version(tx, *t, "users").await?;
            delete_object_refs(tx, *t, *id).await?;
            exec(
                tx,
                "DELETE FROM software_oath_methods WHERE tenant_id = $1 AND user_id = $2",
                &[s(t), s(id)],
            )
            .await?;
            exec(
                tx,
                "DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2",
                &[s(t), s(id)],
            )
            .await?;
            exec(
                tx,
                "DELETE FROM risky_users WHERE tenant_id = $1 AND user_id = $2",
                &[s(t), s(id)],
            )
            .await?;
            exec(
                tx,
                "DELETE FROM mfa_attempts WHERE tenant_id = $1 AND user_id = $2",
                &[s(t), s(id)],
            )
            .await?;
            // Clear manager references (kept inside the JSON document): rewrite affected rows.
            let rows = sqlx::query("SELECT id, data FROM users WHERE tenant_id = $1")
                .bind(t.to_string())
                .fetch_all(&mut **tx)
                .await
                .map_err(backend)?;
            for r in rows {
                let (uid, data): (String, String) = (
                    r.try_get(0).map_err(backend)?,
                    r.try_get(1).map_err(backend)?,
                );
                let mut doc: UserDoc = serde_json::from_str(&data).map_err(backend)?;
                if doc.manager_id.as_deref() == Some(&id.to_string()) {
                    doc.manager_id = None;
                    exec(
                        tx,
                        "UPDATE users SET data = $2 WHERE id = $1",
                        &[Arg::S(uid), Arg::S(json(&doc)?)],
                    )
                    .await?;
                }
            }
        }
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

#[async_trait]
impl UserStore for SqlStore {
    async fn user(&self, t: TenantId, id: ObjectId) -> Result<Option<User>, StoreError> {
        first(
            self.docs::<UserDoc>(
                "SELECT data FROM users WHERE tenant_id = $1 AND id = $2",
                &[&t.to_string(), &id.to_string()],
            )
            .await?,
        )
    }

    async fn user_by_upn(&self, t: TenantId, upn: &str) -> Result<Option<User>, StoreError> {
        first(
            self.docs::<UserDoc>(
                "SELECT data FROM users WHERE tenant_id = $1 AND upn_lower = $2",
                &[&t.to_string(), &upn.to_lowercase()],
            )
            .await?,
        )
    }

    async fn users(&self, t: TenantId) -> Result<Vec<User>, StoreError> {
        all(self
            .docs::<UserDoc>(
                "SELECT data FROM users WHERE tenant_id = $1 ORDER BY id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn users_version(&self, t: TenantId) -> Result<u64, StoreError> {
        self.list_version(t, "users").await
    }

    async fn object_kind(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<ObjectKind>, StoreError> {
        let (t, id) = (t.to_string(), id.to_string());
        for (table, kind) in [
            ("users", ObjectKind::User),
            ("groups_", ObjectKind::Group),
            ("service_principals", ObjectKind::ServicePrincipal),
            ("applications", ObjectKind::Application),
        ] {
            let sql = format!("SELECT id FROM {table} WHERE tenant_id = $1 AND id = $2");
            if sqlx::query(&sql)
                .bind(t.clone())
                .bind(id.clone())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?
                .is_some()
            {
                return Ok(Some(kind));
            }
        }
        Ok(None)
    }
}
