//! Applications (with their identifier-URI index) and service principals: rows, documents, writes
//! and reads.

use super::*;

/// An application's identifier URIs as unique keys (duplicates within the app collapse).
pub(crate) fn identifier_uri_keys(a: &Application) -> Vec<String> {
    let mut keys: Vec<String> = a
        .identifier_uris
        .iter()
        .map(|u| castellan_core::model::identifier_uri_key(u))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Rewrites the rows of an application's identifier URIs (a URI held by another application
/// in any tenant is a unique violation → `Conflict`).
pub(crate) async fn write_identifier_uris(tx: &mut Tx, a: &Application) -> Result<(), StoreError> {
    exec(
        tx,
        "DELETE FROM identifier_uris WHERE app_object_id = $1",
        &[s(a.id)],
    )
    .await?;
    for key in identifier_uri_keys(a) {
        exec(
            tx,
            "INSERT INTO identifier_uris (uri_key, tenant_id, app_object_id) VALUES ($1, $2, $3)",
            &[Arg::S(key), s(a.tenant_id), s(a.id)],
        )
        .await?;
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
pub(crate) struct RoleDoc {
    id: String,
    value: String,
    display_name: String,
    description: String,
    allowed: Vec<String>,
    enabled: bool,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ScopeDoc {
    id: String,
    value: String,
    consent_type: String,
    enabled: bool,
    admin_name: Option<String>,
    admin_desc: Option<String>,
    user_name: Option<String>,
    user_desc: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct RraDoc {
    resource_app_id: String,
    access: Vec<(String, bool)>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct SecretDoc {
    key_id: String,
    display_name: Option<String>,
    hint: String,
    sha256_hex: String,
    start: i64,
    end: i64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct AppDoc {
    id: String,
    app_id: String,
    tenant_id: String,
    display_name: String,
    audience: String,
    identifier_uris: Vec<String>,
    web: Vec<String>,
    spa: Vec<String>,
    public: Vec<String>,
    fallback_public: bool,
    rra: Vec<RraDoc>,
    scopes: Vec<ScopeDoc>,
    roles: Vec<RoleDoc>,
    secrets: Vec<SecretDoc>,
    #[serde(default)]
    certs: Vec<CertDoc>,
    #[serde(default)]
    atv: Option<u8>,
    #[serde(default)]
    gmc: Option<String>,
    #[serde(default)]
    optional_claims: Vec<(String, String)>,
    #[serde(default)]
    fics: Vec<FicDoc>,
    created: i64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct FicDoc {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) description: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct CertDoc {
    key_id: String,
    display_name: Option<String>,
    der_hex: String,
    start: Option<i64>,
    end: Option<i64>,
}

pub(crate) fn unhex(s: &str) -> Result<Vec<u8>, StoreError> {
    if !s.len().is_multiple_of(2) {
        return Err(backend("bad hex"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| backend("bad hex"))
        })
        .collect()
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn unhex32(s: &str) -> Result<[u8; 32], StoreError> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return Err(backend("bad secret hash"));
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(i * 2..i * 2 + 2).unwrap_or(""), 16).map_err(backend)?;
    }
    Ok(out)
}

impl From<&Application> for AppDoc {
    fn from(a: &Application) -> Self {
        Self {
            id: a.id.to_string(),
            app_id: a.app_id.to_string(),
            tenant_id: a.tenant_id.to_string(),
            display_name: a.display_name.clone(),
            audience: a.sign_in_audience.as_str().into(),
            identifier_uris: a.identifier_uris.clone(),
            web: a.web_redirect_uris.clone(),
            spa: a.spa_redirect_uris.clone(),
            public: a.public_client_redirect_uris.clone(),
            fallback_public: a.is_fallback_public_client,
            rra: a
                .required_resource_access
                .iter()
                .map(|r| RraDoc {
                    resource_app_id: r.resource_app_id.to_string(),
                    access: r
                        .resource_access
                        .iter()
                        .map(|x| (x.id.to_string(), x.kind == PermissionKind::Role))
                        .collect(),
                })
                .collect(),
            scopes: a
                .oauth2_permission_scopes
                .iter()
                .map(|s| ScopeDoc {
                    id: s.id.to_string(),
                    value: s.value.clone(),
                    consent_type: s.consent_type.clone(),
                    enabled: s.is_enabled,
                    admin_name: s.admin_consent_display_name.clone(),
                    admin_desc: s.admin_consent_description.clone(),
                    user_name: s.user_consent_display_name.clone(),
                    user_desc: s.user_consent_description.clone(),
                })
                .collect(),
            roles: a
                .app_roles
                .iter()
                .map(|r| RoleDoc {
                    id: r.id.to_string(),
                    value: r.value.clone(),
                    display_name: r.display_name.clone(),
                    description: r.description.clone(),
                    allowed: r.allowed_member_types.clone(),
                    enabled: r.is_enabled,
                })
                .collect(),
            secrets: a
                .password_credentials
                .iter()
                .map(|c| SecretDoc {
                    key_id: c.key_id.to_string(),
                    display_name: c.display_name.clone(),
                    hint: c.hint.clone(),
                    sha256_hex: hex(&c.secret_sha256),
                    start: c.start.millis(),
                    end: c.end.millis(),
                })
                .collect(),
            atv: a.requested_access_token_version,
            gmc: a.group_membership_claims.clone(),
            optional_claims: a.optional_claims.clone(),
            fics: a
                .federated_identity_credentials
                .iter()
                .map(|f| FicDoc {
                    id: f.id.to_string(),
                    name: f.name.clone(),
                    issuer: f.issuer.clone(),
                    subject: f.subject.clone(),
                    audiences: f.audiences.clone(),
                    description: f.description.clone(),
                })
                .collect(),
            certs: a
                .key_credentials
                .iter()
                .map(|k| CertDoc {
                    key_id: k.key_id.to_string(),
                    display_name: k.display_name.clone(),
                    der_hex: hex(&k.certificate_der),
                    start: k.start.map(Timestamp::millis),
                    end: k.end.map(Timestamp::millis),
                })
                .collect(),
            created: a.created.millis(),
        }
    }
}

impl TryFrom<AppDoc> for Application {
    type Error = StoreError;
    fn try_from(d: AppDoc) -> Result<Self, StoreError> {
        Ok(Application {
            id: oid(&d.id)?,
            app_id: AppId::parse(&d.app_id).ok_or_else(|| backend("bad app id"))?,
            tenant_id: TenantId::parse(&d.tenant_id).ok_or_else(|| backend("bad tenant id"))?,
            display_name: d.display_name,
            sign_in_audience: SignInAudience::parse(&d.audience)
                .ok_or_else(|| backend("bad audience"))?,
            identifier_uris: d.identifier_uris,
            web_redirect_uris: d.web,
            spa_redirect_uris: d.spa,
            public_client_redirect_uris: d.public,
            is_fallback_public_client: d.fallback_public,
            required_resource_access: d
                .rra
                .into_iter()
                .map(|r| {
                    Ok(RequiredResourceAccess {
                        resource_app_id: AppId::parse(&r.resource_app_id)
                            .ok_or_else(|| backend("bad resource app id"))?,
                        resource_access: r
                            .access
                            .into_iter()
                            .map(|(id, role)| {
                                Ok(ResourceAccess {
                                    id: guid(&id)?,
                                    kind: if role {
                                        PermissionKind::Role
                                    } else {
                                        PermissionKind::Scope
                                    },
                                })
                            })
                            .collect::<Result<_, StoreError>>()?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            oauth2_permission_scopes: d
                .scopes
                .into_iter()
                .map(|s| {
                    Ok(PermissionScope {
                        id: guid(&s.id)?,
                        value: s.value,
                        consent_type: s.consent_type,
                        is_enabled: s.enabled,
                        admin_consent_display_name: s.admin_name,
                        admin_consent_description: s.admin_desc,
                        user_consent_display_name: s.user_name,
                        user_consent_description: s.user_desc,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            app_roles: d
                .roles
                .into_iter()
                .map(|r| {
                    Ok(AppRole {
                        id: guid(&r.id)?,
                        value: r.value,
                        display_name: r.display_name,
                        description: r.description,
                        allowed_member_types: r.allowed,
                        is_enabled: r.enabled,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            password_credentials: d
                .secrets
                .into_iter()
                .map(|c| {
                    Ok(PasswordCredential {
                        key_id: guid(&c.key_id)?,
                        display_name: c.display_name,
                        hint: c.hint,
                        secret_sha256: unhex32(&c.sha256_hex)?,
                        start: Timestamp(c.start),
                        end: Timestamp(c.end),
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            requested_access_token_version: d.atv,
            group_membership_claims: d.gmc,
            optional_claims: d.optional_claims,
            federated_identity_credentials: d
                .fics
                .into_iter()
                .map(|f| {
                    Ok(FederatedIdentityCredential {
                        id: guid(&f.id)?,
                        name: f.name,
                        issuer: f.issuer,
                        subject: f.subject,
                        audiences: f.audiences,
                        description: f.description,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            key_credentials: d
                .certs
                .into_iter()
                .map(|c| {
                    Ok(KeyCredential::new(
                        guid(&c.key_id)?,
                        c.display_name,
                        unhex(&c.der_hex)?,
                        c.start.map(Timestamp),
                        c.end.map(Timestamp),
                    ))
                })
                .collect::<Result<_, StoreError>>()?,
            created: Timestamp(d.created),
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct SpDoc {
    id: String,
    tenant_id: String,
    app_id: String,
    owner_tenant: Option<String>,
    display_name: String,
    managed_identity: bool,
    names: Vec<String>,
    #[serde(default)]
    alternative_names: Vec<String>,
    assignment_required: bool,
    enabled: bool,
    created: i64,
    /// SAML single sign-on (absent in rows written before SAML existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    saml: Option<SamlDoc>,
}

/// A service principal's SAML settings, as stored in its row document.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct SamlDoc {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    relay_state: Option<String>,
    #[serde(default)]
    preferred_thumbprint: Option<String>,
    #[serde(default)]
    certs: Vec<SamlCertDoc>,
    #[serde(default)]
    name_id_format: Option<String>,
    #[serde(default)]
    require_signed_requests: bool,
    #[serde(default)]
    verification_certs: Vec<Vec<u8>>,
    #[serde(default)]
    logout_url: Option<String>,
    #[serde(default)]
    claims: Vec<(String, String)>,
    #[serde(default)]
    signing_option: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct SamlCertDoc {
    key_id: String,
    display_name: String,
    thumbprint: String,
    cert: Vec<u8>,
    key_sealed: Vec<u8>,
    start: i64,
    end: i64,
}

impl From<&castellan_core::model::SamlSettings> for SamlDoc {
    fn from(s: &castellan_core::model::SamlSettings) -> Self {
        Self {
            mode: s.preferred_single_sign_on_mode.clone(),
            relay_state: s.relay_state.clone(),
            preferred_thumbprint: s.preferred_token_signing_key_thumbprint.clone(),
            certs: s
                .signing_certificates
                .iter()
                .map(|c| SamlCertDoc {
                    key_id: c.key_id.to_string(),
                    display_name: c.display_name.clone(),
                    thumbprint: c.thumbprint.clone(),
                    cert: c.cert_der.clone(),
                    key_sealed: c.private_key_sealed.clone(),
                    start: c.start.millis(),
                    end: c.end.millis(),
                })
                .collect(),
            name_id_format: s.name_id_format.clone(),
            require_signed_requests: s.require_signed_requests,
            verification_certs: s.verification_certificates.clone(),
            logout_url: s.logout_url.clone(),
            claims: s.claims.clone(),
            signing_option: s.signing_option.clone(),
        }
    }
}

impl TryFrom<SamlDoc> for castellan_core::model::SamlSettings {
    type Error = StoreError;
    fn try_from(d: SamlDoc) -> Result<Self, StoreError> {
        Ok(Self {
            preferred_single_sign_on_mode: d.mode,
            relay_state: d.relay_state,
            preferred_token_signing_key_thumbprint: d.preferred_thumbprint,
            signing_certificates: d
                .certs
                .into_iter()
                .map(|c| {
                    Ok(castellan_core::model::SamlSigningCertificate {
                        key_id: uuid::Uuid::parse_str(&c.key_id)
                            .map_err(|_| backend("bad SAML certificate key id"))?,
                        display_name: c.display_name,
                        thumbprint: c.thumbprint,
                        cert_der: c.cert,
                        private_key_sealed: c.key_sealed,
                        start: Timestamp(c.start),
                        end: Timestamp(c.end),
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            name_id_format: d.name_id_format,
            require_signed_requests: d.require_signed_requests,
            verification_certificates: d.verification_certs,
            logout_url: d.logout_url,
            claims: d.claims,
            signing_option: d.signing_option,
        })
    }
}

impl From<&ServicePrincipal> for SpDoc {
    fn from(s: &ServicePrincipal) -> Self {
        Self {
            id: s.id.to_string(),
            tenant_id: s.tenant_id.to_string(),
            app_id: s.app_id.to_string(),
            owner_tenant: s.app_owner_tenant_id.map(|t| t.to_string()),
            display_name: s.display_name.clone(),
            managed_identity: s.service_principal_type == ServicePrincipalType::ManagedIdentity,
            names: s.service_principal_names.clone(),
            alternative_names: s.alternative_names.clone(),
            assignment_required: s.app_role_assignment_required,
            enabled: s.account_enabled,
            created: s.created.millis(),
            saml: (s.saml != castellan_core::model::SamlSettings::default())
                .then(|| SamlDoc::from(&s.saml)),
        }
    }
}

impl TryFrom<SpDoc> for ServicePrincipal {
    type Error = StoreError;
    fn try_from(d: SpDoc) -> Result<Self, StoreError> {
        Ok(ServicePrincipal {
            id: oid(&d.id)?,
            tenant_id: TenantId::parse(&d.tenant_id).ok_or_else(|| backend("bad tenant id"))?,
            app_id: AppId::parse(&d.app_id).ok_or_else(|| backend("bad app id"))?,
            app_owner_tenant_id: d.owner_tenant.as_deref().and_then(TenantId::parse),
            display_name: d.display_name,
            service_principal_type: if d.managed_identity {
                ServicePrincipalType::ManagedIdentity
            } else {
                ServicePrincipalType::Application
            },
            service_principal_names: d.names,
            alternative_names: d.alternative_names,
            app_role_assignment_required: d.assignment_required,
            account_enabled: d.enabled,
            created: Timestamp(d.created),
            saml: d
                .saml
                .map(TryInto::try_into)
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

/// This area's writes (routed here by `apply_change_inner`).
pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::InsertApplication(a) => {
            exec(
                tx,
                "INSERT INTO applications (id, tenant_id, app_id, data) VALUES ($1, $2, $3, $4)",
                &[
                    s(a.id),
                    s(a.tenant_id),
                    s(a.app_id),
                    Arg::S(json(&AppDoc::from(a))?),
                ],
            )
            .await?;
            write_identifier_uris(tx, a).await?;
        }
        Change::UpdateApplication(a) => {
            must_touch(
                tx,
                "UPDATE applications SET data = $3 WHERE id = $1 AND tenant_id = $2",
                &[s(a.id), s(a.tenant_id), Arg::S(json(&AppDoc::from(a))?)],
                "application",
            )
            .await?;
            write_identifier_uris(tx, a).await?;
        }
        Change::ReplaceApplication(expected, next) => {
            let row = sqlx::query("SELECT data FROM applications WHERE id = $1 AND tenant_id = $2")
                .bind(expected.id.to_string())
                .bind(expected.tenant_id.to_string())
                .fetch_optional(&mut **tx)
                .await
                .map_err(backend)?;
            let Some(row) = row else {
                return Err(StoreError::NotFound("application".into()));
            };
            let raw: String = row.try_get(0).map_err(backend)?;
            let current: Application = serde_json::from_str::<AppDoc>(&raw)
                .map_err(backend)?
                .try_into()?;
            let changed = || StoreError::conflict(UniqueRule::ApplicationChanged);
            if current != **expected {
                return Err(changed());
            }
            // The data column is compared too, so a concurrent writer that committed after our
            // read (PostgreSQL READ COMMITTED re-checks the row after the lock) makes this a no-op.
            let n = exec(
                tx,
                "UPDATE applications SET data = $3 WHERE id = $1 AND tenant_id = $2 AND data = $4",
                &[
                    s(next.id),
                    s(next.tenant_id),
                    Arg::S(json(&AppDoc::from(&**next))?),
                    Arg::S(raw),
                ],
            )
            .await?;
            if n == 0 {
                return Err(changed());
            }
            if current.identifier_uris != next.identifier_uris {
                write_identifier_uris(tx, next).await?;
            }
        }
        Change::DeleteApplication(t, id) => {
            let row =
                sqlx::query("SELECT app_id FROM applications WHERE id = $1 AND tenant_id = $2")
                    .bind(id.to_string())
                    .bind(t.to_string())
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(backend)?;
            let Some(row) = row else {
                return Err(StoreError::NotFound("application".into()));
            };
            let app_id: String = row.try_get(0).map_err(backend)?;
            let sps = sqlx::query("SELECT id, tenant_id FROM service_principals WHERE app_id = $1")
                .bind(app_id.clone())
                .fetch_all(&mut **tx)
                .await
                .map_err(backend)?;
            for sp in sps {
                let (spid, tid): (String, String) = (
                    sp.try_get(0).map_err(backend)?,
                    sp.try_get(1).map_err(backend)?,
                );
                if let (Some(spid), Some(tid)) = (ObjectId::parse(&spid), TenantId::parse(&tid)) {
                    delete_object_refs(tx, tid, spid).await?;
                }
            }
            exec(
                tx,
                "DELETE FROM service_principals WHERE app_id = $1",
                &[Arg::S(app_id)],
            )
            .await?;
            exec(
                tx,
                "DELETE FROM identifier_uris WHERE app_object_id = $1",
                &[s(id)],
            )
            .await?;
            exec(tx, "DELETE FROM applications WHERE id = $1", &[s(id)]).await?;
            delete_object_refs(tx, *t, *id).await?;
        }
        Change::InsertServicePrincipal(sp) => {
            exec(tx, "INSERT INTO service_principals (id, tenant_id, app_id, data) VALUES ($1, $2, $3, $4)", &[s(sp.id), s(sp.tenant_id), s(sp.app_id), Arg::S(json(&SpDoc::from(sp))?)]).await?;
        }
        Change::UpdateServicePrincipal(sp) => {
            must_touch(
                tx,
                "UPDATE service_principals SET data = $3 WHERE id = $1 AND tenant_id = $2",
                &[s(sp.id), s(sp.tenant_id), Arg::S(json(&SpDoc::from(sp))?)],
                "service principal",
            )
            .await?;
        }
        Change::DeleteServicePrincipal(t, id) => {
            must_touch(
                tx,
                "DELETE FROM service_principals WHERE id = $1 AND tenant_id = $2",
                &[s(id), s(t)],
                "service principal",
            )
            .await?;
            delete_object_refs(tx, *t, *id).await?;
        }
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

#[async_trait]
impl ApplicationStore for SqlStore {
    async fn application(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<Application>, StoreError> {
        first(
            self.docs::<AppDoc>(
                "SELECT data FROM applications WHERE tenant_id = $1 AND id = $2",
                &[&t.to_string(), &id.to_string()],
            )
            .await?,
        )
    }

    async fn application_by_app_id(
        &self,
        app_id: AppId,
    ) -> Result<Option<Application>, StoreError> {
        first(
            self.docs::<AppDoc>(
                "SELECT data FROM applications WHERE app_id = $1",
                &[&app_id.to_string()],
            )
            .await?,
        )
    }

    async fn applications(&self, t: TenantId) -> Result<Vec<Application>, StoreError> {
        all(self
            .docs::<AppDoc>(
                "SELECT data FROM applications WHERE tenant_id = $1 ORDER BY id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn application_by_identifier_uri(
        &self,
        uri: &str,
    ) -> Result<Option<Application>, StoreError> {
        first(
            self.docs::<AppDoc>(
                "SELECT a.data FROM applications a JOIN identifier_uris u ON u.app_object_id = a.id WHERE u.uri_key = $1",
                &[&castellan_core::model::identifier_uri_key(uri)],
            )
            .await?,
        )
    }

    async fn service_principal(
        &self,
        t: TenantId,
        id: ObjectId,
    ) -> Result<Option<ServicePrincipal>, StoreError> {
        first(
            self.docs::<SpDoc>(
                "SELECT data FROM service_principals WHERE tenant_id = $1 AND id = $2",
                &[&t.to_string(), &id.to_string()],
            )
            .await?,
        )
    }

    async fn service_principal_by_app_id(
        &self,
        t: TenantId,
        app_id: AppId,
    ) -> Result<Option<ServicePrincipal>, StoreError> {
        first(
            self.docs::<SpDoc>(
                "SELECT data FROM service_principals WHERE tenant_id = $1 AND app_id = $2",
                &[&t.to_string(), &app_id.to_string()],
            )
            .await?,
        )
    }

    async fn service_principals(&self, t: TenantId) -> Result<Vec<ServicePrincipal>, StoreError> {
        all(self
            .docs::<SpDoc>(
                "SELECT data FROM service_principals WHERE tenant_id = $1 ORDER BY id",
                &[&t.to_string()],
            )
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Application documents written before federated identity credentials existed (no `fics`
    /// key) still load, with no credentials; new documents round-trip them.
    #[test]
    fn application_documents_without_fics_still_load() {
        let mut ids = castellan_core::conformance::Ids::new(7);
        let t = castellan_core::conformance::tenant(&mut ids, "old");
        let app = castellan_core::conformance::application(&mut ids, &t);
        assert!(!app.federated_identity_credentials.is_empty());
        let mut doc: serde_json::Value =
            serde_json::to_value(AppDoc::from(&app)).unwrap_or_default();
        let back: Application = serde_json::from_value::<AppDoc>(doc.clone())
            .map_err(backend)
            .and_then(Application::try_from)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, app);
        if let Some(o) = doc.as_object_mut() {
            o.remove("fics");
        }
        let old: Application = serde_json::from_value::<AppDoc>(doc)
            .map_err(backend)
            .and_then(Application::try_from)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(old.federated_identity_credentials.is_empty());
        assert_eq!(old.app_id, app.app_id);
    }
}
