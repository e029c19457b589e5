//! Applications: create, update, delete, client secrets.

use crate::error::DirectoryError;
use crate::ids::{AppId, ObjectId};
use crate::model::{
    check_identifier_uri_holder, validate_identifier_uri, validate_redirect_uri, AppRole,
    Application, PasswordCredential, PermissionScope, RequiredResourceAccess, SignInAudience,
    Tenant,
};
use crate::ops::{modified, not_found, required, target, Env, Field};
use crate::secret::SecretText;
use crate::store::{Change, ChangeSet};
use crate::time::Timestamp;

/// The settable properties of an application.
#[derive(Clone, Debug, Default)]
pub struct ApplicationInput {
    /// displayName
    pub display_name: Field<String>,
    /// signInAudience
    pub sign_in_audience: Field<SignInAudience>,
    /// identifierUris
    pub identifier_uris: Field<Vec<String>>,
    /// web.redirectUris
    pub web_redirect_uris: Field<Vec<String>>,
    /// spa.redirectUris
    pub spa_redirect_uris: Field<Vec<String>>,
    /// publicClient.redirectUris
    pub public_client_redirect_uris: Field<Vec<String>>,
    /// isFallbackPublicClient
    pub is_fallback_public_client: Field<bool>,
    /// requiredResourceAccess
    pub required_resource_access: Field<Vec<RequiredResourceAccess>>,
    /// api.oauth2PermissionScopes
    pub oauth2_permission_scopes: Field<Vec<PermissionScope>>,
    /// appRoles
    pub app_roles: Field<Vec<AppRole>>,
    /// optionalClaims as (token kind, name)
    pub optional_claims: Field<Vec<(String, String)>>,
    /// groupMembershipClaims (`Value(None)` = null)
    pub group_membership_claims: Field<Option<String>>,
    /// api.requestedAccessTokenVersion (`Value(None)` = null)
    pub requested_access_token_version: Field<Option<u8>>,
    /// keyCredentials (certificates; the caller has checked each parses as X.509)
    pub key_credentials: Field<Vec<crate::model::KeyCredential>>,
}

/// A new client secret: what `addPassword` returns (the only time the text is shown).
#[derive(Debug)]
pub struct NewSecret {
    /// The stored credential.
    pub credential: PasswordCredential,
    /// The secret text.
    pub secret_text: SecretText,
}

fn validate(input: &ApplicationInput) -> Result<(), DirectoryError> {
    if let Some(keys) = input.key_credentials.value() {
        if keys.len() > 16 {
            return Err(DirectoryError::BadRequest(
                "keyCredentials: at most 16 certificates per application.".into(),
            ));
        }
        let mut ids: Vec<_> = keys.iter().map(|k| k.key_id).collect();
        ids.sort();
        ids.dedup();
        if ids.len() != keys.len() {
            return Err(DirectoryError::BadRequest(
                "keyCredentials: two credentials have the same keyId.".into(),
            ));
        }
    }
    for (f, platform) in [
        (&input.web_redirect_uris, "web"),
        (&input.spa_redirect_uris, "spa"),
        (&input.public_client_redirect_uris, "publicClient"),
    ] {
        if let Some(uris) = f.value() {
            if uris.len() > 256 {
                return Err(DirectoryError::BadRequest(format!(
                    "Too many {platform} redirect URIs: at most 256."
                )));
            }
            for u in uris {
                validate_redirect_uri(u, platform).map_err(|e| {
                    DirectoryError::BadRequest(format!("{platform}.redirectUris: {e}"))
                })?;
            }
        }
    }
    if let Some(uris) = input.identifier_uris.value() {
        for u in uris {
            validate_identifier_uri(u).map_err(DirectoryError::BadRequest)?;
        }
    }
    if let Some(d) = input.display_name.value() {
        if d.trim().is_empty() || d.chars().count() > 256 {
            return Err(DirectoryError::BadRequest(
                "Property 'displayName' must be 1 to 256 characters.".into(),
            ));
        }
    }
    if let Some(roles) = input.app_roles.value() {
        for r in roles {
            if r.allowed_member_types.is_empty()
                || r.allowed_member_types.iter().any(|t| {
                    !t.eq_ignore_ascii_case("User") && !t.eq_ignore_ascii_case("Application")
                })
            {
                return Err(DirectoryError::BadRequest(format!(
                    "appRole '{}': allowedMemberTypes must contain 'User' and/or 'Application'.",
                    r.value
                )));
            }
            if r.value.is_empty() || r.value.contains(' ') {
                return Err(DirectoryError::BadRequest(format!(
                    "appRole value '{}' must be non-empty and contain no spaces.",
                    r.value
                )));
            }
        }
        dup_check(roles.iter().map(|r| (r.id, r.value.as_str())), "appRoles")?;
    }
    if let Some(scopes) = input.oauth2_permission_scopes.value() {
        for s in scopes {
            if s.value.is_empty() || s.value.contains(' ') {
                return Err(DirectoryError::BadRequest(format!(
                    "oauth2PermissionScope value '{}' must be non-empty and contain no spaces.",
                    s.value
                )));
            }
            if !s.consent_type.eq_ignore_ascii_case("User")
                && !s.consent_type.eq_ignore_ascii_case("Admin")
            {
                return Err(DirectoryError::BadRequest(format!(
                    "oauth2PermissionScope '{}': type must be 'User' or 'Admin'.",
                    s.value
                )));
            }
        }
        dup_check(
            scopes.iter().map(|s| (s.id, s.value.as_str())),
            "oauth2PermissionScopes",
        )?;
    }
    Ok(())
}

fn dup_check<'a>(
    items: impl Iterator<Item = (uuid::Uuid, &'a str)>,
    what: &str,
) -> Result<(), DirectoryError> {
    let mut ids = std::collections::HashSet::new();
    let mut values = std::collections::HashSet::new();
    for (id, v) in items {
        if !ids.insert(id) || !values.insert(v.to_ascii_lowercase()) {
            return Err(DirectoryError::BadRequest(format!(
                "{what}: id '{id}' or value '{v}' is used twice."
            )));
        }
    }
    Ok(())
}

/// Entra's holder rules for every identifier URI of the application as it would be stored
/// (`model::check_identifier_uri_holder`), then uniqueness across *all* tenants: a URI another
/// application holds — here or in any other tenant — is refused (the store's unique index
/// closes the race between two writers).
async fn check_identifier_uris(
    env: &Env<'_>,
    tenant: &Tenant,
    app: &Application,
) -> Result<(), DirectoryError> {
    for u in &app.identifier_uris {
        check_identifier_uri_holder(u, app.app_id, tenant, app.sign_in_audience)
            .map_err(DirectoryError::BadRequest)?;
    }
    for u in &app.identifier_uris {
        match env.store.application_by_identifier_uri(u).await? {
            Some(other) if other.id != app.id && other.tenant_id == tenant.id => {
                return Err(DirectoryError::Conflict(format!(
                    "Another object with the same value for property identifierUris already exists: '{u}' is used by application '{}'.",
                    other.app_id
                )));
            }
            Some(other) if other.id != app.id => {
                return Err(DirectoryError::Conflict(format!(
                    "Another object with the same value for property identifierUris already exists: '{u}' is held by an application of another tenant (identifier URIs are unique across all tenants)."
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Creates an application in `tenant` (its home tenant).
pub async fn create(
    env: &mut Env<'_>,
    tenant: &Tenant,
    input: ApplicationInput,
) -> Result<Application, DirectoryError> {
    let display_name = required(&input.display_name, "displayName")?;
    validate(&input)?;
    let identifier_uris = input.identifier_uris.value().cloned().unwrap_or_default();
    let app = Application {
        id: env.new_id(),
        app_id: AppId::from_random(env.entropy.bytes16()),
        tenant_id: tenant.id,
        display_name,
        sign_in_audience: input
            .sign_in_audience
            .value()
            .copied()
            .unwrap_or(SignInAudience::AzureAdMyOrg),
        identifier_uris,
        web_redirect_uris: input.web_redirect_uris.value().cloned().unwrap_or_default(),
        spa_redirect_uris: input.spa_redirect_uris.value().cloned().unwrap_or_default(),
        public_client_redirect_uris: input
            .public_client_redirect_uris
            .value()
            .cloned()
            .unwrap_or_default(),
        is_fallback_public_client: input
            .is_fallback_public_client
            .value()
            .copied()
            .unwrap_or(false),
        required_resource_access: input
            .required_resource_access
            .value()
            .cloned()
            .unwrap_or_default(),
        oauth2_permission_scopes: input
            .oauth2_permission_scopes
            .value()
            .cloned()
            .unwrap_or_default(),
        app_roles: input.app_roles.value().cloned().unwrap_or_default(),
        password_credentials: vec![],
        key_credentials: input.key_credentials.value().cloned().unwrap_or_default(),
        requested_access_token_version: input
            .requested_access_token_version
            .value()
            .copied()
            .flatten(),
        group_membership_claims: input.group_membership_claims.value().cloned().flatten(),
        optional_claims: input.optional_claims.value().cloned().unwrap_or_default(),
        federated_identity_credentials: vec![],
        created: env.now,
    };
    check_identifier_uris(env, tenant, &app).await?;
    let audit = env.audit(
        tenant,
        "ApplicationManagement",
        "Add application",
        "Add",
        vec![target(
            app.id,
            "Application",
            Some(&app.display_name),
            None,
            vec![modified("AppId", None, Some(app.app_id.to_string()))],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::InsertApplication(app.clone()))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(app)
}

/// Loads an application of this tenant by object id.
pub async fn find(env: &Env<'_>, tenant: &Tenant, id: &str) -> Result<Application, DirectoryError> {
    let Some(oid) = ObjectId::parse(id) else {
        return Err(DirectoryError::BadRequest(format!(
            "Invalid object identifier '{id}'."
        )));
    };
    env.store
        .application(tenant.id, oid)
        .await?
        .ok_or_else(|| not_found(id))
}

/// Applies a PATCH.
pub async fn update(
    env: &mut Env<'_>,
    tenant: &Tenant,
    id: &str,
    input: ApplicationInput,
) -> Result<Application, DirectoryError> {
    let old = find(env, tenant, id).await?;
    validate(&input)?;
    let mut a = old.clone();
    let mut props = Vec::new();
    macro_rules! set {
        ($field:ident, $name:expr) => {
            if input.$field.is_present() {
                a.$field = required(&input.$field, $name)?;
                props.push(modified(
                    $name,
                    Some(format!("{:?}", old.$field)),
                    Some(format!("{:?}", a.$field)),
                ));
            }
        };
    }
    set!(display_name, "displayName");
    set!(sign_in_audience, "signInAudience");
    set!(identifier_uris, "identifierUris");
    set!(web_redirect_uris, "web.redirectUris");
    set!(spa_redirect_uris, "spa.redirectUris");
    set!(public_client_redirect_uris, "publicClient.redirectUris");
    set!(is_fallback_public_client, "isFallbackPublicClient");
    set!(required_resource_access, "requiredResourceAccess");
    set!(oauth2_permission_scopes, "api.oauth2PermissionScopes");
    set!(app_roles, "appRoles");
    set!(key_credentials, "keyCredentials");
    set!(optional_claims, "optionalClaims");
    if let Some(v) = input.group_membership_claims.value() {
        if a.group_membership_claims != *v {
            props.push(modified(
                "groupMembershipClaims",
                a.group_membership_claims.clone(),
                v.clone(),
            ));
            a.group_membership_claims = v.clone();
        }
    }
    if let Some(v) = input.requested_access_token_version.value() {
        if a.requested_access_token_version != *v {
            props.push(modified(
                "api.requestedAccessTokenVersion",
                Some(format!("{:?}", a.requested_access_token_version)),
                Some(format!("{v:?}")),
            ));
            a.requested_access_token_version = *v;
        }
    }
    if input.identifier_uris.is_present() || input.sign_in_audience.is_present() {
        check_identifier_uris(env, tenant, &a).await?;
    }
    if props.is_empty() {
        return Ok(old);
    }
    let audit = env.audit(
        tenant,
        "ApplicationManagement",
        "Update application",
        "Update",
        vec![target(
            a.id,
            "Application",
            Some(&a.display_name),
            None,
            props,
        )],
    );
    let mut set = ChangeSet::new();
    // Compare-and-set: a concurrent change (a federated credential added meanwhile) is not
    // silently overwritten; the caller gets a retryable error instead.
    set.push(Change::ReplaceApplication(
        Box::new(old),
        Box::new(a.clone()),
    ))
    .audit(audit);
    env.store.commit(set).await?;
    Ok(a)
}

/// Deletes an application and its service principals in every tenant (soft: the application
/// and its home tenant's service principal go to the recycle bin for 30 days).
pub async fn delete(env: &mut Env<'_>, tenant: &Tenant, id: &str) -> Result<(), DirectoryError> {
    let a = find(env, tenant, id).await?;
    let audit = env.audit(
        tenant,
        "ApplicationManagement",
        "Delete application",
        "Delete",
        vec![target(
            a.id,
            "Application",
            Some(&a.display_name),
            None,
            vec![],
        )],
    );
    // Soft delete: the application and its service principal in the home tenant go to the
    // recycle bin with the delete, in one commit (other tenants' instances are deleted).
    let sps = env
        .store
        .service_principal_by_app_id(tenant.id, a.app_id)
        .await?
        .into_iter()
        .collect();
    let item = super::deleted_items::snapshot(
        env,
        tenant,
        crate::deleted_items::DeletedObject::Application(Box::new(a.clone()), sps),
    )
    .await?;
    let mut set = ChangeSet::new();
    set.push(Change::InsertDeletedItem(Box::new(item)))
        .push(Change::DeleteApplication(tenant.id, a.id))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(())
}

/// Adds a client secret (`addPassword`). Default lifetime two years; at most two years... up to
/// the requested end, which must be in the future.
pub async fn add_password(
    env: &mut Env<'_>,
    tenant: &Tenant,
    id: &str,
    display_name: Option<String>,
    end: Option<Timestamp>,
) -> Result<NewSecret, DirectoryError> {
    let mut a = find(env, tenant, id).await?;
    let before = a.clone();
    let end = end.unwrap_or(env.now.plus_secs(2 * 365 * 24 * 3600));
    if end <= env.now {
        return Err(DirectoryError::BadRequest(
            "passwordCredential.endDateTime must be in the future.".into(),
        ));
    }
    if a.password_credentials.len() >= 16 {
        return Err(DirectoryError::BadRequest("An application can have at most 16 client secrets; remove one with removePassword first.".into()));
    }
    let secret_text = SecretText::new(env.entropy.secret());
    let credential = PasswordCredential {
        key_id: uuid::Builder::from_random_bytes(env.entropy.bytes16()).into_uuid(),
        display_name,
        hint: secret_text.hint(),
        secret_sha256: secret_text.sha256(),
        start: env.now,
        end,
    };
    a.password_credentials.push(credential.clone());
    let audit = env.audit(
        tenant,
        "ApplicationManagement",
        "Update application – Certificates and secrets management",
        "Update",
        vec![target(
            a.id,
            "Application",
            Some(&a.display_name),
            None,
            vec![modified(
                "KeyDescription",
                None,
                Some(format!(
                    "[KeyIdentifier={}, KeyType=Password, KeyUsage=Verify]",
                    credential.key_id
                )),
            )],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::ReplaceApplication(Box::new(before), Box::new(a)))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(NewSecret {
        credential,
        secret_text,
    })
}

/// Removes a client secret by key id.
pub async fn remove_password(
    env: &mut Env<'_>,
    tenant: &Tenant,
    id: &str,
    key_id: uuid::Uuid,
) -> Result<(), DirectoryError> {
    let mut a = find(env, tenant, id).await?;
    let old = a.clone();
    a.password_credentials.retain(|c| c.key_id != key_id);
    if a.password_credentials.len() == old.password_credentials.len() {
        return Err(DirectoryError::NotFound(format!(
            "No password credential with keyId '{key_id}' on application '{}'.",
            a.app_id
        )));
    }
    let audit = env.audit(
        tenant,
        "ApplicationManagement",
        "Update application – Certificates and secrets management",
        "Update",
        vec![target(
            a.id,
            "Application",
            Some(&a.display_name),
            None,
            vec![modified(
                "KeyDescription",
                Some(format!(
                    "[KeyIdentifier={key_id}, KeyType=Password, KeyUsage=Verify]"
                )),
                None,
            )],
        )],
    );
    let mut set = ChangeSet::new();
    set.push(Change::ReplaceApplication(Box::new(old), Box::new(a)))
        .audit(audit);
    env.store.commit(set).await?;
    Ok(())
}

/// Adds an owner (a user or service principal) to an application.
pub async fn add_owner(
    env: &mut Env<'_>,
    tenant: &Tenant,
    id: &str,
    owner: ObjectId,
) -> Result<(), DirectoryError> {
    let a = find(env, tenant, id).await?;
    match env.store.object_kind(tenant.id, owner).await? {
        Some(crate::model::ObjectKind::User | crate::model::ObjectKind::ServicePrincipal) => {}
        Some(_) => {
            return Err(DirectoryError::BadRequest(format!(
            "Object '{owner}' cannot own an application: owners are users or service principals."
        )))
        }
        None => return Err(not_found(owner)),
    }
    let audit = env.audit(
        tenant,
        "ApplicationManagement",
        "Add owner to application",
        "Assign",
        vec![
            target(a.id, "Application", Some(&a.display_name), None, vec![]),
            target(owner, "Other", None, None, vec![]),
        ],
    );
    let mut set = ChangeSet::new();
    set.push(Change::AddOwner(tenant.id, a.id, owner))
        .audit(audit);
    env.store.commit(set).await.map_err(|e| match e {
        crate::store::StoreError::Conflict(_) => DirectoryError::Conflict("One or more added object references already exist for the following modified properties: 'owners'.".into()),
        other => other.into(),
    })
}

/// Removes an owner from an application.
pub async fn remove_owner(
    env: &mut Env<'_>,
    tenant: &Tenant,
    id: &str,
    owner: ObjectId,
) -> Result<(), DirectoryError> {
    let a = find(env, tenant, id).await?;
    let audit = env.audit(
        tenant,
        "ApplicationManagement",
        "Remove owner from application",
        "Unassign",
        vec![
            target(a.id, "Application", Some(&a.display_name), None, vec![]),
            target(owner, "Other", None, None, vec![]),
        ],
    );
    let mut set = ChangeSet::new();
    set.push(Change::RemoveOwner(tenant.id, a.id, owner))
        .audit(audit);
    env.store.commit(set).await.map_err(|e| match e {
        crate::store::StoreError::NotFound(_) => not_found(owner),
        other => other.into(),
    })
}
