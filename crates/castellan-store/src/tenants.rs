//! Tenants and their domains.

use super::*;

pub(crate) fn default_true() -> bool {
    true
}

pub(crate) fn default_at_lifetime() -> i64 {
    castellan_core::flow::ACCESS_TOKEN_LIFETIME_SECS
}

pub(crate) fn default_lockout() -> u32 {
    castellan_core::flow::lockout::DEFAULT_THRESHOLD
}

#[derive(Serialize, Deserialize)]
pub(crate) struct DomainDoc {
    name: String,
    initial: bool,
    default: bool,
    verified: bool,
    /// `supportedServices`; absent in documents written before custom domains (the initial
    /// domain then loads with Entra's initial services).
    #[serde(default)]
    services: Option<Vec<String>>,
    /// The verification code; absent before custom domains (initial domains have none).
    #[serde(default)]
    code: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct TenantDoc {
    id: String,
    display_name: String,
    domains: Vec<DomainDoc>,
    license: String,
    pw_min: usize,
    pw_max: usize,
    pw_classes: usize,
    #[serde(default)]
    hide_account_existence: bool,
    #[serde(default = "default_lockout")]
    lockout_threshold: u32,
    #[serde(default = "default_at_lifetime")]
    at_lifetime: i64,
    #[serde(default)]
    user_consent: Vec<String>,
    #[serde(default)]
    user_consent_set: bool,
    #[serde(default)]
    admin_consent_workflow: bool,
    #[serde(default = "default_true")]
    users_can_create_apps: bool,
    /// Off for rows written before the setting existed.
    #[serde(default)]
    security_defaults: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    invites_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    guest_role: Option<String>,
    created: i64,
}

impl From<&Tenant> for TenantDoc {
    fn from(t: &Tenant) -> Self {
        Self {
            id: t.id.to_string(),
            display_name: t.display_name.clone(),
            domains: t
                .domains
                .iter()
                .map(|d| DomainDoc {
                    name: d.name.clone(),
                    initial: d.is_initial,
                    default: d.is_default,
                    verified: d.is_verified,
                    services: Some(d.supported_services.clone()),
                    code: d.verification_code.clone(),
                })
                .collect(),
            license: t.license.as_str().into(),
            pw_min: t.settings.password_policy.min_length,
            pw_max: t.settings.password_policy.max_length,
            pw_classes: t.settings.password_policy.required_classes,
            hide_account_existence: t.settings.hide_account_existence,
            lockout_threshold: t.settings.lockout_threshold,
            at_lifetime: t.settings.access_token_lifetime_secs,
            user_consent: t
                .settings
                .user_consent
                .graph_ids()
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            user_consent_set: true,
            admin_consent_workflow: t.settings.admin_consent_workflow,
            users_can_create_apps: t.settings.users_can_create_apps,
            security_defaults: t.settings.security_defaults,
            invites_from: Some(t.settings.allow_invites_from.as_str().into()),
            guest_role: Some(t.settings.guest_user_role.as_str().into()),
            created: t.created.millis(),
        }
    }
}

impl TryFrom<TenantDoc> for Tenant {
    type Error = StoreError;
    fn try_from(d: TenantDoc) -> Result<Self, StoreError> {
        Ok(Tenant {
            id: TenantId::parse(&d.id).ok_or_else(|| backend("bad tenant id"))?,
            display_name: d.display_name,
            domains: d
                .domains
                .into_iter()
                .map(|x| Domain {
                    name: x.name,
                    is_initial: x.initial,
                    is_default: x.default,
                    is_verified: x.verified,
                    supported_services: x.services.unwrap_or_else(|| {
                        if x.initial {
                            castellan_core::domains::INITIAL_SERVICES
                                .iter()
                                .map(|s| (*s).to_string())
                                .collect()
                        } else {
                            Vec::new()
                        }
                    }),
                    verification_code: x.code,
                })
                .collect(),
            license: LicenseTier::parse(&d.license).ok_or_else(|| backend("bad license"))?,
            settings: TenantSettings {
                password_policy: PasswordPolicy {
                    min_length: d.pw_min,
                    max_length: d.pw_max,
                    required_classes: d.pw_classes,
                },
                hide_account_existence: d.hide_account_existence,
                lockout_threshold: d.lockout_threshold,
                access_token_lifetime_secs: d.at_lifetime,
                user_consent: if d.user_consent_set {
                    castellan_core::flow::consent::UserConsentPolicy::from_graph_ids(
                        &d.user_consent,
                    )
                    .ok_or_else(|| backend("bad user consent policy"))?
                } else {
                    castellan_core::flow::consent::UserConsentPolicy::AllowAll
                },
                admin_consent_workflow: d.admin_consent_workflow,
                users_can_create_apps: d.users_can_create_apps,
                security_defaults: d.security_defaults,
                allow_invites_from: match d.invites_from.as_deref() {
                    None => InvitesFrom::Everyone,
                    Some(v) => {
                        InvitesFrom::parse(v).ok_or_else(|| backend("bad allowInvitesFrom"))?
                    }
                },
                guest_user_role: match d.guest_role.as_deref() {
                    None => GuestRole::Limited,
                    Some(v) => GuestRole::parse(v).ok_or_else(|| backend("bad guestUserRoleId"))?,
                },
            },
            created: Timestamp(d.created),
        })
    }
}

/// Writes the tenant's rows in `tenant_domains` (every name; verified ones claimed across
/// tenants by the partial unique index `tenant_domains_verified`).
async fn write_domains(tx: &mut Tx, t: &Tenant) -> Result<(), StoreError> {
    exec(
        tx,
        "DELETE FROM tenant_domains WHERE tenant_id = $1",
        &[s(t.id)],
    )
    .await?;
    for d in &t.domains {
        exec(
            tx,
            "INSERT INTO tenant_domains (tenant_id, name_lower, verified) VALUES ($1, $2, $3)",
            &[
                s(t.id),
                Arg::S(d.name.to_ascii_lowercase()),
                Arg::I(i64::from(d.is_verified)),
            ],
        )
        .await?;
    }
    Ok(())
}

/// This area's writes (routed here by `apply_change_inner`).
pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::InsertTenant(t) => {
            exec(
                tx,
                "INSERT INTO tenants (id, data) VALUES ($1, $2)",
                &[s(t.id), Arg::S(json(&TenantDoc::from(t))?)],
            )
            .await?;
            write_domains(tx, t).await?;
        }
        Change::UpdateTenant(t) => {
            must_touch(
                tx,
                "UPDATE tenants SET data = $2 WHERE id = $1",
                &[s(t.id), Arg::S(json(&TenantDoc::from(t))?)],
                "tenant",
            )
            .await?;
            write_domains(tx, t).await?;
        }
        Change::ReplaceTenant(expected, next) => {
            let changed = || StoreError::conflict(UniqueRule::TenantChanged);
            if next.id != expected.id {
                return Err(changed());
            }
            let row = sqlx::query("SELECT data FROM tenants WHERE id = $1")
                .bind(expected.id.to_string())
                .fetch_optional(&mut **tx)
                .await
                .map_err(backend)?;
            let Some(row) = row else {
                return Err(StoreError::NotFound("tenant".into()));
            };
            let raw: String = row.try_get(0).map_err(backend)?;
            let current: Tenant = serde_json::from_str::<TenantDoc>(&raw)
                .map_err(backend)?
                .try_into()?;
            if current != **expected {
                return Err(changed());
            }
            // The data column is compared too: a writer that committed after our read
            // (PostgreSQL READ COMMITTED re-checks the row after the lock) makes this a no-op.
            let n = exec(
                tx,
                "UPDATE tenants SET data = $2 WHERE id = $1 AND data = $3",
                &[
                    s(next.id),
                    Arg::S(json(&TenantDoc::from(&**next))?),
                    Arg::S(raw),
                ],
            )
            .await?;
            if n != 1 {
                return Err(changed());
            }
            write_domains(tx, next).await?;
        }
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

#[async_trait]
impl TenantStore for SqlStore {
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        first(
            self.docs::<TenantDoc>("SELECT data FROM tenants WHERE id = $1", &[&id.to_string()])
                .await?,
        )
    }

    async fn tenant_by_domain(&self, domain: &str) -> Result<Option<Tenant>, StoreError> {
        first(self.docs::<TenantDoc>("SELECT t.data FROM tenants t JOIN tenant_domains d ON d.tenant_id = t.id WHERE d.name_lower = $1 AND d.verified = 1", &[&domain.to_ascii_lowercase()]).await?)
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        all(self
            .docs::<TenantDoc>("SELECT data FROM tenants ORDER BY id", &[])
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tenant documents written before security defaults existed load with them off; new
    /// documents round-trip the setting.
    #[test]
    fn tenant_documents_without_security_defaults_load_with_them_off() {
        let mut ids = castellan_core::conformance::Ids::new(8);
        let t = castellan_core::conformance::tenant(&mut ids, "old");
        assert!(t.settings.security_defaults);
        let mut doc: serde_json::Value =
            serde_json::to_value(TenantDoc::from(&t)).unwrap_or_default();
        let load = |d: serde_json::Value| -> Tenant {
            serde_json::from_value::<TenantDoc>(d)
                .map_err(backend)
                .and_then(Tenant::try_from)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(load(doc.clone()), t);
        if let Some(o) = doc.as_object_mut() {
            assert!(o.remove("security_defaults").is_some());
        }
        let old = load(doc);
        assert!(!old.settings.security_defaults);
        assert_eq!(old.id, t.id);
    }
}
