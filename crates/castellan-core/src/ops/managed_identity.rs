//! Managed identities: tokens for a resource's system-assigned or attached user-assigned
//! identity, asked for by a workload that proves which resource it runs as with a per-resource
//! secret (App Service's `IDENTITY_HEADER`). The identity itself has no credential anyone can
//! read; the secret only identifies the resource to the platform, which holds the identity.
//!
//! Secret format: `{base64url(resource id)}.{random}`; the platform keeps SHA-256 hashes of the
//! last [`IDENTITY_SECRETS_KEPT`] issued per resource and compares in constant time.

use base64::Engine as _;

use crate::error::AadstsError;
use crate::flow::{client_credentials, AccessTokenClaims, ClientAuthMethod};
use crate::model::{ArmResource, ServicePrincipal};
use crate::ops::arm::{
    parse_id, require, type_op, ArmCaller, ArmError, IDENTITY_SECRETS_KEPT,
    USER_ASSIGNED_IDENTITY_TYPE,
};
use crate::ops::service_principals::exposed;
use crate::ops::token::{find_resource, resource_version, TokenError};
use crate::ops::{target, Env};
use crate::secret::SecretText;
use crate::store::{Change, ChangeSet, Store};
use crate::time::Timestamp;
use crate::ObjectId;

/// Which identity of the resource a token request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// None given: the system-assigned identity.
    SystemAssigned,
    /// `client_id`: a user-assigned identity by its client id (appId).
    ClientId(String),
    /// `principal_id` / `object_id`: by its service principal's object id.
    PrincipalId(String),
    /// `mi_res_id` / `msi_res_id`: by its ARM resource id.
    ResourceId(String),
}

/// Why a managed-identity token request failed (rendered per endpoint shape by the server).
#[derive(Debug)]
pub enum MiError {
    /// The secret is missing, malformed or not one the platform issued for a live resource (401).
    Unauthorized(String),
    /// The resource has no such identity (400: "identity not found", which clients treat as
    /// "no managed identity here").
    NoIdentity(String),
    /// A bad parameter (400).
    BadRequest(String),
    /// The token service refused (the AADSTS error, e.g. unknown resource).
    Token(AadstsError),
    /// The store failed (500/503).
    Store(crate::store::StoreError),
}

impl From<crate::store::StoreError> for MiError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<TokenError> for MiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Aadsts(a) => Self::Token(a),
            TokenError::Store(s) => Self::Store(s),
        }
    }
}

/// The resource a secret claims to belong to (no verification yet).
pub fn resource_of_secret(secret: &str) -> Option<String> {
    let (head, _) = secret.split_once('.')?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Issues a fresh identity-endpoint secret for a resource with a managed identity (the caller
/// needs write access to the resource). The plaintext is returned once; the oldest of more than
/// [`IDENTITY_SECRETS_KEPT`] stops working.
pub async fn issue_secret(
    env: &mut Env<'_>,
    c: &ArmCaller,
    resource_id: &str,
) -> Result<(ArmResource, String), ArmError> {
    parse_id(resource_id)?;
    let Some(mut r) = env
        .store
        .arm_resource(resource_id)
        .await?
        .filter(|r| r.tenant_id == c.tenant.id)
    else {
        return Err(crate::error::Code::ArmResourceNotFound.arm(&[("resource_id", &resource_id)]));
    };
    require(env.store, c, &type_op(&r.resource_type, "write"), &r.id).await?;
    if r.identity.system_assigned.is_none() && r.identity.user_assigned.is_empty() {
        return Err(crate::error::Code::ArmNoManagedIdentity.arm(&[("id", &r.id)]));
    }
    let head = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r.id.as_bytes());
    let secret = format!("{head}.{}", env.entropy.secret());
    r.identity
        .secrets_sha256
        .push(SecretText::new(secret.clone()).sha256());
    while r.identity.secrets_sha256.len() > IDENTITY_SECRETS_KEPT {
        r.identity.secrets_sha256.remove(0);
    }
    let a = env.audit(
        &c.tenant,
        "ResourceManagement",
        "Issue managed identity endpoint secret",
        "Update",
        vec![target(&r.id, &r.resource_type, Some(&r.name), None, vec![])],
    );
    let mut set = ChangeSet::new();
    set.push(Change::UpdateArmResource(r.clone())).audit(a);
    env.store.commit(set).await?;
    Ok((r, secret))
}

/// A managed identity's token for `resource_uri` (no `/.default`; a trailing `/.default` is
/// accepted). Returns the claims and the identity's ARM resource id (`xms_mirid`).
pub async fn token(
    store: &dyn Store,
    secret: &str,
    selector: &Selector,
    resource_uri: &str,
    now: Timestamp,
    uti: String,
) -> Result<AccessTokenClaims, MiError> {
    let unauthorized = || {
        MiError::Unauthorized("The identity header is missing, malformed or no longer valid; get a fresh one with `castellan resource env <resource-id>`.".into())
    };
    let id = resource_of_secret(secret).ok_or_else(unauthorized)?;
    let Some(r) = store.arm_resource(&id).await? else {
        return Err(unauthorized());
    };
    let presented = SecretText::new(secret.to_string());
    // Compare against every kept hash so timing does not tell which one matched.
    let mut ok = false;
    for h in &r.identity.secrets_sha256 {
        ok |= presented.matches_sha256(h);
    }
    if !ok {
        return Err(unauthorized());
    }
    let Some(tenant) = store.tenant(r.tenant_id).await? else {
        return Err(unauthorized());
    };
    let (sp, identity_resource) = select(store, &r, selector).await?;
    if resource_uri.trim().is_empty() {
        return Err(MiError::BadRequest(
            "The 'resource' parameter is required (e.g. resource=https://management.azure.com/)."
                .into(),
        ));
    }
    Ok(token_for_identity(
        store,
        &tenant,
        &sp,
        &identity_resource,
        resource_uri,
        now,
        uti,
    )
    .await?)
}

async fn select(
    store: &dyn Store,
    r: &ArmResource,
    selector: &Selector,
) -> Result<(ServicePrincipal, String), MiError> {
    let load = |id: ObjectId| async move { store.service_principal(r.tenant_id, id).await };
    match selector {
        Selector::SystemAssigned => {
            if let Some(id) = r.identity.system_assigned {
                if let Some(sp) = load(id).await? {
                    return Ok((sp, r.id.clone()));
                }
            }
            // A user-assigned identity resource acting as itself (e.g. the IMDS agent for it).
            if r.resource_type
                .eq_ignore_ascii_case(USER_ASSIGNED_IDENTITY_TYPE)
            {
                if let Some(id) = r.identity_principal {
                    if let Some(sp) = load(id).await? {
                        return Ok((sp, r.id.clone()));
                    }
                }
            }
            Err(MiError::NoIdentity(format!("Identity not found: the resource '{}' has no system-assigned managed identity. Enable one, or pass client_id / principal_id / mi_res_id to pick an attached user-assigned identity.", r.id)))
        }
        other => {
            for ua in &r.identity.user_assigned {
                let Some(mi) = store.arm_resource(ua).await? else {
                    continue;
                };
                let Some(pid) = mi.identity_principal else {
                    continue;
                };
                let Some(sp) = load(pid).await? else {
                    continue;
                };
                let hit = match other {
                    Selector::ClientId(c) => sp.app_id.to_string().eq_ignore_ascii_case(c.trim()),
                    Selector::PrincipalId(p) => sp.id.to_string().eq_ignore_ascii_case(p.trim()),
                    Selector::ResourceId(id) => mi.id.eq_ignore_ascii_case(id.trim()),
                    Selector::SystemAssigned => false,
                };
                if hit {
                    return Ok((sp, mi.id.clone()));
                }
            }
            Err(MiError::NoIdentity(format!(
                "Identity not found: no user-assigned identity matching {other:?} is attached to '{}'.",
                r.id
            )))
        }
    }
}

/// The ARM type of a user-assigned identity's federated credential.
pub const FIC_TYPE: &str =
    "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials";

async fn uami_in_tenant(
    store: &dyn Store,
    c: &ArmCaller,
    id: &str,
) -> Result<ArmResource, ArmError> {
    match store.arm_resource(id).await? {
        Some(r)
            if r.tenant_id == c.tenant.id
                && r.resource_type
                    .eq_ignore_ascii_case(USER_ASSIGNED_IDENTITY_TYPE) =>
        {
            Ok(r)
        }
        _ => Err(crate::error::Code::ArmResourceNotFound2.arm(&[("id", &id)])),
    }
}

/// The federated credentials of a user-assigned identity (needs read on it).
pub async fn list_fics(
    store: &dyn Store,
    c: &ArmCaller,
    uami_id: &str,
) -> Result<Vec<ArmResource>, ArmError> {
    let uami = uami_in_tenant(store, c, uami_id).await?;
    require(store, c, &format!("{FIC_TYPE}/read"), &uami.id).await?;
    Ok(store
        .arm_children(c.tenant.id, &uami.id)
        .await?
        .into_iter()
        .filter(|r| r.federated_credential.is_some())
        .collect())
}

/// Creates or replaces a federated credential on a user-assigned identity (ARM
/// `PUT {identity}/federatedIdentityCredentials/{name}`), with the same rules as on
/// applications: https issuer, one audience, unique issuer+subject, at most 20.
pub async fn put_fic(
    env: &mut Env<'_>,
    c: &ArmCaller,
    id: &str,
    patch: crate::flow::federated_assertion::FicPatch,
) -> Result<(ArmResource, bool), ArmError> {
    use crate::flow::federated_assertion as fa;
    let parsed = parse_id(id)?;
    let parent = parsed.parent.clone().unwrap_or_default();
    let uami = uami_in_tenant(env.store, c, &parent).await?;
    require(env.store, c, &format!("{FIC_TYPE}/write"), &uami.id).await?;
    let siblings = env.store.arm_children(c.tenant.id, &uami.id).await?;
    let existing: Vec<fa::FederatedIdentityCredential> = siblings
        .iter()
        .filter_map(|r| r.federated_credential.clone())
        .collect();
    let current = siblings
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(&parsed.name) && r.federated_credential.is_some());
    let mut patch = patch;
    if patch.name.as_deref().is_some_and(|n| n != parsed.name) {
        return Err(crate::error::Code::ArmInvalidRequestContent3.arm(&[("name", &parsed.name)]));
    }
    patch.name = Some(parsed.name.clone());
    let (fic, created) = match current.and_then(|r| r.federated_credential.clone()) {
        Some(old) => {
            let next = fa::apply_patch(&old, patch)?;
            fa::check_replace(&existing, &next)?;
            (next, false)
        }
        None => {
            let next = fa::new_credential(uuid::Uuid::from_bytes(env.entropy.bytes16()), patch)?;
            fa::check_add(&existing, &next)?;
            (next, true)
        }
    };
    let r = ArmResource {
        tenant_id: c.tenant.id,
        id: current.map_or_else(|| id.trim_end_matches('/').to_string(), |r| r.id.clone()),
        kind: crate::model::ScopeKind::Resource,
        name: parsed.name.clone(),
        resource_type: FIC_TYPE.to_string(),
        parent: Some(uami.id.clone()),
        display_name: parsed.name.clone(),
        location: None,
        tags: vec![],
        properties: "{}".into(),
        identity_principal: None,
        identity: crate::model::ResourceIdentity::default(),
        federated_credential: Some(fic),
        created: current.map_or(env.now, |r| r.created),
    };
    let a = env.audit(
        &c.tenant,
        "ResourceManagement",
        if created {
            "Add federated identity credential to a user-assigned identity"
        } else {
            "Update federated identity credential of a user-assigned identity"
        },
        if created { "Add" } else { "Update" },
        vec![target(&r.id, FIC_TYPE, Some(&r.name), None, vec![])],
    );
    let mut set = ChangeSet::new();
    set.push(if created {
        Change::InsertArmResource(r.clone())
    } else {
        Change::UpdateArmResource(r.clone())
    })
    .audit(a);
    env.store.commit(set).await?;
    Ok((r, created))
}

/// For a token request by `client_id`: the user-assigned identity it names in `tenant`, with
/// its service principal and federated credentials (`None` if the client is not one).
pub async fn federated_identity_of_client(
    store: &dyn Store,
    tenant: &crate::model::Tenant,
    client_id: &str,
) -> Result<
    Option<(
        ServicePrincipal,
        ArmResource,
        Vec<crate::flow::federated_assertion::FederatedIdentityCredential>,
    )>,
    crate::store::StoreError,
> {
    let Some(app_id) = crate::AppId::parse(client_id) else {
        return Ok(None);
    };
    let Some(sp) = store.service_principal_by_app_id(tenant.id, app_id).await? else {
        return Ok(None);
    };
    if sp.service_principal_type != crate::model::ServicePrincipalType::ManagedIdentity {
        return Ok(None);
    }
    let Some(resource_id) = sp.alternative_names.get(1).cloned() else {
        return Ok(None);
    };
    let Some(uami) = store.arm_resource(&resource_id).await? else {
        return Ok(None);
    };
    if uami.identity_principal != Some(sp.id) {
        return Ok(None);
    }
    let fics = store
        .arm_children(tenant.id, &uami.id)
        .await?
        .into_iter()
        .filter_map(|r| r.federated_credential)
        .collect();
    Ok(Some((sp, uami, fics)))
}

/// An app-only token for a managed identity's service principal (after the caller proved it
/// may act as it: the resource secret, or a federated assertion matching its credentials).
pub async fn token_for_identity(
    store: &dyn Store,
    tenant: &crate::model::Tenant,
    sp: &ServicePrincipal,
    identity_resource: &str,
    resource_uri: &str,
    now: Timestamp,
    uti: String,
) -> Result<AccessTokenClaims, TokenError> {
    let wanted = resource_uri
        .trim()
        .strip_suffix("/.default")
        .unwrap_or(resource_uri.trim());
    let resource_sp = find_resource(store, tenant, wanted).await?;
    let (roles, _) = exposed(store, &resource_sp).await?;
    let assignments = store.app_role_assignments_of(tenant.id, sp.id).await?;
    let mut claims = client_credentials::issue(&client_credentials::ClientCredentialsInput {
        tenant,
        client_app_id: sp.app_id,
        client_sp: sp,
        auth: ClientAuthMethod::Assertion,
        resource_sp: &resource_sp,
        resource_roles: &roles,
        assignments: &assignments,
        now,
        uti,
    })?;
    claims
        .extra
        .push(("xms_mirid".into(), identity_resource.to_string()));
    let version = resource_version(store, &resource_sp).await?;
    Ok(crate::flow::for_token_version(claims, version, wanted))
}
