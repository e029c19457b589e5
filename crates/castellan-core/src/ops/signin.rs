//! Sign-in use cases that keep state: checking a password under smart lockout, authorization
//! codes (issue, redeem once), refresh tokens (rotate, detect reuse), device codes (start,
//! approve, poll), SSO sessions. Secrets come in from the caller (randomness is the server's);
//! only their SHA-256 is stored.

use crate::error::AadstsError;
use crate::flow::lockout::Lockout;
use crate::flow::refresh_token::{self, RefreshDecision, RefreshState, RefreshToken};
use crate::flow::user_token::UserTokens;
use crate::flow::{auth_code, client_credentials, device, scope, Authn, ClientAuthMethod};
use crate::model::{
    Application, Grant, GrantKind, GrantState, RevokeScope, ServicePrincipal, Tenant, User,
};
use crate::ops::token::{find_resource, load_client, user_assignments, TokenError};
use crate::ops::PasswordHasher;
use crate::secret::{sha256, SecretText};
use crate::store::Store;
use crate::time::Timestamp;
use crate::ObjectId;

/// The stored handle of a secret: lowercase hex SHA-256.
pub fn handle(secret: &str) -> String {
    sha256(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SSO sessions last 24 hours, or 90 days with "stay signed in".
pub const SSO_SECS: i64 = 24 * 3600;
/// Persistent ("stay signed in") SSO lifetime.
pub const SSO_PERSISTENT_SECS: i64 = 90 * 24 * 3600;

const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$Y2FzdGVsbGFuLWR1bW15$2Yy5Qm2m4r3l3cQwTtxOGs3m4e8m0x7c0mY2yqj7zVA";

fn lockout_handle(tenant: &Tenant, user: ObjectId) -> String {
    format!("lockout:{}:{user}", tenant.id)
}

fn lockout_from(g: Option<&Grant>) -> Lockout {
    let Some(g) = g else {
        return Lockout::default();
    };
    let n = |k: &str| g.attr_i64(k).unwrap_or(0);
    let mut l = Lockout::default();
    l.familiar.failures = u32::try_from(n("ff")).unwrap_or(0);
    l.familiar.lockouts = u32::try_from(n("fl")).unwrap_or(0);
    l.familiar.locked_until = Timestamp(n("fu"));
    l.unfamiliar.failures = u32::try_from(n("uf")).unwrap_or(0);
    l.unfamiliar.lockouts = u32::try_from(n("ul")).unwrap_or(0);
    l.unfamiliar.locked_until = Timestamp(n("uu"));
    l.ips = g
        .attr("ips")
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    l
}

fn lockout_grant(tenant: &Tenant, user: ObjectId, l: &Lockout, now: Timestamp) -> Grant {
    Grant {
        handle: lockout_handle(tenant, user),
        kind: GrantKind::Lockout,
        tenant_id: tenant.id,
        family: None,
        user_id: Some(user),
        lookup: None,
        state: GrantState::Active,
        created: now,
        expires: now.plus_secs(90 * 24 * 3600),
        attrs: vec![
            ("ff".into(), l.familiar.failures.to_string()),
            ("fl".into(), l.familiar.lockouts.to_string()),
            ("fu".into(), l.familiar.locked_until.millis().to_string()),
            ("uf".into(), l.unfamiliar.failures.to_string()),
            ("ul".into(), l.unfamiliar.lockouts.to_string()),
            ("uu".into(), l.unfamiliar.locked_until.millis().to_string()),
            ("ips".into(), l.ips.join(",")),
        ],
    }
}

/// The outcome of a password check: the user when one was found (for the sign-in log), and
/// the verdict.
pub struct PasswordOutcome {
    /// The user, if the name matched one.
    pub user: Option<User>,
    /// Ok, or the AADSTS error (50034/50126/50057/50055/50053).
    pub result: Result<(), AadstsError>,
}

/// The tenant of this server (other than `tenant`) that `username` belongs to: its domain is
/// one of that tenant's verified domains and the user exists there.
pub async fn other_home_tenant(
    store: &dyn Store,
    tenant: &Tenant,
    username: &str,
) -> Result<Option<crate::TenantId>, crate::store::StoreError> {
    let Some((_, domain)) = username.rsplit_once('@') else {
        return Ok(None);
    };
    let Some(home) = store.tenant_by_domain(domain).await? else {
        return Ok(None);
    };
    if home.id == tenant.id || store.user_by_upn(home.id, username).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(home.id))
}

/// Checks a user name and password in `tenant` under smart lockout. Unknown users cost the
/// same argon2id verification as known ones. A must-change password (50055) still counts as a
/// correct password.
pub async fn check_password(
    store: &dyn Store,
    hasher: &dyn PasswordHasher,
    tenant: &Tenant,
    username: &str,
    password: &SecretText,
    ip: &str,
    now: Timestamp,
) -> Result<PasswordOutcome, TokenError> {
    let user = store.user_by_upn(tenant.id, username).await?;
    let lock_row = match &user {
        Some(u) => store.grant(&lockout_handle(tenant, u.id)).await?,
        None => None,
    };
    let mut lock = lockout_from(lock_row.as_ref());
    if let Some(secs) = lock.locked(ip, now) {
        return Ok(PasswordOutcome {
            user,
            result: Err(AadstsError::locked_out(secs)),
        });
    }
    let phc = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_PHC.to_string());
    let ok = hasher.verify(password.expose(), &phc).await
        && user.as_ref().is_some_and(|u| u.password_hash.is_some());
    let mut result =
        crate::flow::password::check_user(user.as_ref(), username, &tenant.id.to_string(), ok);
    if user.is_none() {
        if let Some(home) = other_home_tenant(store, tenant, username).await? {
            let lower = username.to_lowercase();
            let is_guest = store
                .users(tenant.id)
                .await?
                .iter()
                .any(|u| u.external.is_some() && crate::invitations::holds_address(u, &lower));
            let idp = crate::invitations::home_issuer(home);
            let t = tenant.id.to_string();
            result = Err(if is_guest {
                AadstsError::guest_uses_home_sign_in(username, &idp, &t)
            } else {
                AadstsError::external_user_not_invited(username, &idp, &t)
            });
        }
    }
    if tenant.settings.hide_account_existence {
        if let Err(e) = &result {
            if e.code == 50034 {
                result = Err(AadstsError::invalid_credentials());
            }
        }
    }
    if let Some(u) = &user {
        if ok {
            if lock_row.is_some() || !lock.ips.iter().any(|i| i == ip) {
                lock.succeed(ip);
                store
                    .upsert_grant(&lockout_grant(tenant, u.id, &lock, now))
                    .await?;
            }
        } else if u.account_enabled {
            if let Some(secs) = lock.fail(ip, now, tenant.settings.lockout_threshold) {
                result = Err(AadstsError::locked_out(secs));
            }
            store
                .upsert_grant(&lockout_grant(tenant, u.id, &lock, now))
                .await?;
        }
    }
    Ok(PasswordOutcome { user, result })
}

pub use crate::flow::client_credentials::authenticate_client;

/// Issues a signed-in user's tokens for `scope_text` (consent enforced).
#[allow(clippy::too_many_arguments)]
pub async fn user_tokens(
    store: &dyn Store,
    tenant: &Tenant,
    app: &Application,
    client_sp: &ServicePrincipal,
    auth: ClientAuthMethod,
    user: &User,
    scope_text: &str,
    nonce: Option<String>,
    now: Timestamp,
    uti: (String, String),
) -> Result<UserTokens, TokenError> {
    let scopes = scope::parse_delegated(scope_text)?;
    let resource_sp = find_resource(store, tenant, &scopes.resource).await?;
    let exposed = crate::ops::service_principals::exposed_shared(store, &resource_sp).await?;
    let grants = store.permission_grants(tenant.id).await?;
    let assignments = user_assignments(store, tenant, user.id, now).await?;
    if client_sp.app_role_assignment_required
        && !assignments.iter().any(|a| a.resource_id == client_sp.id)
    {
        return Err(crate::error::Code::UserNotAssigned
            .aadsts(&[
                ("app_name", &app.display_name),
                ("app_id", &app.app_id),
                ("upn", &user.user_principal_name),
                ("sp_id", &client_sp.id),
            ])
            .into());
    }
    let builtin = crate::catalog::built_in(resource_sp.app_id).is_some();
    let version = if builtin {
        crate::ops::token::BUILT_IN_TOKEN_VERSION
    } else {
        crate::flow::resource_token_version(exposed.application())
    };
    let mut tokens = crate::flow::user_token::issue(&crate::flow::user_token::UserTokenInput {
        tenant,
        client_app: app,
        client_sp,
        auth,
        user,
        scopes: &scopes,
        resource_sp: &resource_sp,
        resource_scopes: exposed.scopes(),
        resource_roles: exposed.roles(),
        grants: &grants,
        user_assignments: &assignments,
        now,
        uti,
        nonce,
    })?;
    tokens.access =
        crate::flow::for_token_version(tokens.access, version, &scopes.requested_resource());
    let mut wids: Vec<String> =
        crate::ops::directory_roles::tenant_wide_roles(store, tenant.id, user.id, now)
            .await?
            .into_iter()
            .map(|r| r.to_string())
            .collect();
    wids.sort();
    wids.dedup();
    // groups: the resource's setting for the access token, the client's for the ID token.
    let resource_app = exposed.application();
    let wants_groups = app.group_membership_claims.is_some()
        || resource_app
            .as_ref()
            .is_some_and(|a| a.group_membership_claims.is_some());
    if wants_groups {
        let graph = crate::model::MembershipGraph::new(
            &crate::ops::groups::memberships_at(store, tenant.id, now).await?,
        );
        let ids = graph.transitive_member_of(user.id);
        let all = store.groups(tenant.id).await?;
        let groups: Vec<(crate::ObjectId, bool)> = all
            .iter()
            .filter(|g| ids.contains(&g.id))
            .map(|g| (g.id, g.security_enabled))
            .collect();
        let app_assigned: Vec<crate::ObjectId> = store
            .app_role_assignments_to(tenant.id, client_sp.id)
            .await?
            .into_iter()
            .map(|a| a.principal_id)
            .collect();
        tokens.access.groups = crate::flow::groups_claim(
            resource_app
                .as_ref()
                .and_then(|a| a.group_membership_claims.as_deref()),
            &groups,
            &wids,
            &app_assigned,
        );
        if let Some(id) = tokens.id.as_mut() {
            id.groups = crate::flow::groups_claim(
                app.group_membership_claims.as_deref(),
                &groups,
                &wids,
                &app_assigned,
            );
        }
    }
    tokens.access.wids = wids;
    // A token minted under a PIM activation (or any time-bound assignment) never outlives it.
    if let Some(end) =
        crate::ops::directory_roles::roles_end(store, tenant.id, user.id, now).await?
    {
        if end < tokens.access.exp {
            tokens.access.exp = end.max(now.plus_secs(1));
        }
    }
    // Optional claims: the resource's for the access token, the client's for the ID token.
    let value_of = |name: &str| -> Option<String> {
        match name {
            "email" => user.mail.clone(),
            "upn" | "login_hint" => Some(user.user_principal_name.clone()),
            "given_name" => user.given_name.clone(),
            "family_name" => user.surname.clone(),
            _ => None,
        }
    };
    let pick = |a: Option<&Application>, kind: &str| -> Vec<(String, String)> {
        a.map(|a| {
            a.optional_claims
                .iter()
                .filter(|(k, _)| k == kind)
                .filter_map(|(_, n)| value_of(n).map(|v| (n.clone(), v)))
                .collect()
        })
        .unwrap_or_default()
    };
    let resource_app_for_claims = if crate::catalog::built_in(resource_sp.app_id).is_some() {
        None
    } else {
        store.application_by_app_id(resource_sp.app_id).await?
    };
    tokens.access.extra = pick(resource_app_for_claims.as_ref(), "accessToken");
    tokens
        .access
        .extra
        .extend(crate::invitations::guest_claims(user));
    if let Some(id) = tokens.id.as_mut() {
        id.extra = pick(Some(app), "idToken");
        id.extra.extend(crate::invitations::guest_claims(user));
    }
    Ok(tokens)
}

/// What an authorization code remembers.
pub struct NewCode<'a> {
    /// The client.
    pub client_id: &'a str,
    /// The exact redirect URI of the request.
    pub redirect_uri: &'a str,
    /// Whether the redirect is a SPA or native one (no client credential at redemption).
    pub public: bool,
    /// Whether the redirect is a SPA one (24-hour refresh tokens).
    pub spa: bool,
    /// The requested scope.
    pub scope: &'a str,
    /// The OIDC nonce.
    pub nonce: Option<&'a str>,
    /// The PKCE challenge.
    pub code_challenge: Option<&'a str>,
    /// How and when the user authenticated.
    pub authn: Authn,
    /// The user.
    pub user: ObjectId,
    /// The `deviceId` of the device the sign-in proved, if any (the tokens' `deviceid`).
    pub device_id: Option<uuid::Uuid>,
}

/// The session facts a grant carries (`auth_time`, `mfa_at`); `default` when it has none.
fn authn_of(g: &Grant, default: Timestamp) -> Authn {
    Authn {
        auth_time: Timestamp(g.attr_i64("auth_time").unwrap_or(default.millis())),
        mfa_at: g.attr_i64("mfa_at").map(Timestamp),
    }
}

/// The attributes that store an [`Authn`] on a grant.
fn authn_attrs(a: &Authn) -> Vec<(String, String)> {
    let mut v = vec![("auth_time".to_string(), a.auth_time.millis().to_string())];
    if let Some(m) = a.mfa_at {
        v.push(("mfa_at".into(), m.millis().to_string()));
    }
    v
}

/// Stores a new code (the caller generated `secret`, which goes to the client).
pub async fn issue_code(
    store: &dyn Store,
    tenant: &Tenant,
    c: &NewCode<'_>,
    secret: &str,
    now: Timestamp,
) -> Result<(), TokenError> {
    let h = handle(secret);
    let mut attrs = vec![
        ("client_id".to_string(), c.client_id.to_string()),
        ("redirect_uri".into(), c.redirect_uri.to_string()),
        ("scope".into(), c.scope.to_string()),
        ("public".into(), u8::from(c.public).to_string()),
        ("spa".into(), u8::from(c.spa).to_string()),
    ];
    attrs.extend(authn_attrs(&c.authn));
    if let Some(n) = c.nonce {
        attrs.push(("nonce".into(), n.to_string()));
    }
    if let Some(ch) = c.code_challenge {
        attrs.push(("code_challenge".into(), ch.to_string()));
    }
    if let Some(d) = c.device_id {
        attrs.push(("device_id".into(), d.to_string()));
    }
    store
        .insert_grant(&Grant {
            family: Some(h.clone()),
            handle: h,
            kind: GrantKind::Code,
            tenant_id: tenant.id,
            user_id: Some(c.user),
            lookup: None,
            state: GrantState::Active,
            created: now,
            expires: now.plus_secs(auth_code::CODE_LIFETIME_SECS),
            attrs,
        })
        .await?;
    Ok(())
}

/// The client side of a token request for a user grant.
pub struct ClientProof<'a> {
    /// `client_id`.
    pub client_id: &'a str,
    /// `client_secret`.
    pub secret: Option<&'a SecretText>,
    /// A `client_assertion` was sent and verified by the server (which kind).
    pub assertion_verified: Option<crate::flow::VerifiedAssertion>,
    /// The request came cross-origin from a browser (it had an `Origin` header).
    pub cross_origin: bool,
}

/// Tokens for a user, plus the refresh token's secret if one was issued.
pub struct Issued {
    /// The tokens.
    pub tokens: UserTokens,
    /// The user.
    pub user: User,
    /// The client application (shared with the read model).
    pub app: std::sync::Arc<Application>,
    /// The refresh token to hand out, when `offline_access` was granted.
    pub refresh_token: Option<String>,
    /// How and when the user authenticated (`auth_time`, `amr`, Conditional Access).
    pub authn: Authn,
    /// The sign-in risk Identity Protection assessed where the user proved the first factor,
    /// when that was not this request (the device-login page: attribute `sign_in_risk` of the
    /// device authorization), as Graph's level word.
    pub carried_sign_in_risk: Option<String>,
}

/// Issues a signed-in user's tokens and, with `offline_access`, stores the refresh token in
/// `family` (id, started, SPA). Every user grant ends here.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn finish(
    store: &dyn Store,
    tenant: &Tenant,
    app: std::sync::Arc<Application>,
    client_sp: &ServicePrincipal,
    auth: ClientAuthMethod,
    user: User,
    scope_text: &str,
    nonce: Option<String>,
    family: (String, Timestamp, bool),
    authn: Authn,
    now: Timestamp,
    uti: (String, String),
    new_refresh: String,
    spend: Option<Spend>,
) -> Result<Issued, TokenError> {
    if !user.account_enabled {
        store
            .revoke_grants(&RevokeScope::User(tenant.id, user.id))
            .await?;
        return Err(AadstsError::user_disabled().into());
    }
    let built = user_tokens(
        store, tenant, &app, client_sp, auth, &user, scope_text, nonce, now, uti,
    )
    .await;
    let mut tokens = match built {
        Ok(t) => t,
        Err(e) => {
            if let Some(s) = &spend {
                s.burn(store).await?;
            }
            return Err(e);
        }
    };
    tokens.set_amr(&authn);
    let successor = tokens.refresh.then(|| {
        let r = NewRefresh {
            client_id: &app.app_id.to_string(),
            user: user.id,
            scope: scope_text,
            public: auth == ClientAuthMethod::None,
            family,
            authn,
        };
        refresh_grant(tenant, &r, &new_refresh, now)
    });
    let refresh_token = successor.is_some().then_some(new_refresh);
    match spend {
        Some(s) => s.commit(store, successor).await?,
        None => {
            if let Some(g) = &successor {
                store.insert_grant(g).await?;
            }
        }
    }
    Ok(Issued {
        tokens,
        user,
        app,
        refresh_token,
        authn,
        carried_sign_in_risk: None,
    })
}

async fn load_user(
    store: &dyn Store,
    tenant: &Tenant,
    id: Option<ObjectId>,
) -> Result<User, TokenError> {
    match id {
        Some(id) => store
            .user(tenant.id, id)
            .await?
            .ok_or_else(|| AadstsError::expired_grant("the user no longer exists").into()),
        None => Err(AadstsError::malformed_grant("grant").into()),
    }
}

/// A refresh token to store.
pub struct NewRefresh<'a> {
    /// The client.
    pub client_id: &'a str,
    /// The user.
    pub user: ObjectId,
    /// The scope granted (a refresh cannot widen it).
    pub scope: &'a str,
    /// Issued to a public client (no credential needed to redeem).
    pub public: bool,
    /// (family id, family start, SPA).
    pub family: (String, Timestamp, bool),
    /// How and when the user authenticated (kept by every successor in the family).
    pub authn: Authn,
}

/// Stores a refresh token (the caller generated `secret`, which goes to the client).
pub async fn issue_refresh(
    store: &dyn Store,
    tenant: &Tenant,
    r: &NewRefresh<'_>,
    secret: &str,
    now: Timestamp,
) -> Result<(), TokenError> {
    store
        .insert_grant(&refresh_grant(tenant, r, secret, now))
        .await?;
    Ok(())
}

/// The grant that stores refresh token `secret`.
fn refresh_grant(tenant: &Tenant, r: &NewRefresh<'_>, secret: &str, now: Timestamp) -> Grant {
    let (family_id, started, spa) = r.family.clone();
    let mut attrs = vec![
        ("client_id".to_string(), r.client_id.to_string()),
        ("scope".into(), r.scope.to_string()),
        ("spa".into(), u8::from(spa).to_string()),
        ("public".into(), u8::from(r.public).to_string()),
        ("family_started".into(), started.millis().to_string()),
    ];
    attrs.extend(authn_attrs(&r.authn));
    let expires = if spa {
        started.plus_secs(refresh_token::SPA_LIFETIME_SECS)
    } else {
        now.plus_secs(refresh_token::INACTIVITY_SECS)
    };
    Grant {
        handle: handle(secret),
        kind: GrantKind::Refresh,
        tenant_id: tenant.id,
        family: Some(family_id),
        user_id: Some(r.user),
        lookup: None,
        state: GrantState::Active,
        created: now,
        expires,
        attrs,
    }
}

/// A code or refresh token a redemption spends: its compare-and-set commits in one transaction
/// with the successor refresh token, once the tokens are built. Losing it means another
/// redemption got there first — a replay: the family is revoked.
pub(crate) struct Spend {
    /// The grant as it is to be stored (state `Used`); the set requires it still `Active`.
    used: Grant,
    /// The family to revoke on a lost race.
    family: Option<String>,
    /// The error a lost race answers.
    lost: fn() -> TokenError,
}

impl Spend {
    fn of(g: &Grant, family: Option<String>, lost: fn() -> TokenError) -> Self {
        let mut used = g.clone();
        used.state = GrantState::Used;
        Self { used, family, lost }
    }

    /// Spends the grant without tokens: the redemption was refused after the grant was
    /// accepted (the user is gone, consent or policy refused), and the grant is spent all the
    /// same. A lost race here changes nothing: the grant is spent either way.
    async fn burn(&self, store: &dyn Store) -> Result<(), TokenError> {
        store.update_grant(GrantState::Active, &self.used).await?;
        Ok(())
    }

    async fn commit(self, store: &dyn Store, successor: Option<Grant>) -> Result<(), TokenError> {
        if store
            .rotate_grant(GrantState::Active, self.used, successor)
            .await?
        {
            return Ok(());
        }
        if let Some(f) = self.family {
            store.revoke_grants(&RevokeScope::Family(f)).await?;
        }
        Err((self.lost)())
    }
}

/// Spends a live code after a failed redemption attempt (`auth_code::burned`), with the same
/// compare-and-set a redemption uses. Losing it means another attempt got there first — a
/// redemption or another failed attempt — so this one was a replay: the family is revoked.
async fn spend(store: &dyn Store, g: &Grant, now: Timestamp) -> Result<(), TokenError> {
    let Some(spent) = auth_code::burned(g, now) else {
        return Ok(());
    };
    if !store.update_grant(GrantState::Active, &spent).await? {
        if let Some(f) = &g.family {
            store.revoke_grants(&RevokeScope::Family(f.clone())).await?;
        }
        return Err(AadstsError::code_already_redeemed().into());
    }
    Ok(())
}

/// Spends the authorization code `code` (if it is a live code of `tenant`) for a redemption
/// attempt refused before it reached [`redeem_code`] — a client assertion that failed
/// verification. The attempt's own error is the caller's to answer.
pub async fn spend_presented_code(
    store: &dyn Store,
    tenant: &Tenant,
    code: &str,
    now: Timestamp,
) -> Result<(), TokenError> {
    if let Some(g) = store
        .grant(&handle(code))
        .await?
        .filter(|g| g.tenant_id == tenant.id)
    {
        match spend(store, &g, now).await {
            Ok(()) | Err(TokenError::Aadsts(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `grant_type=authorization_code`.
#[allow(clippy::too_many_arguments)]
pub async fn redeem_code(
    store: &dyn Store,
    tenant: &Tenant,
    client: &ClientProof<'_>,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    now: Timestamp,
    uti: (String, String),
    new_refresh: String,
) -> Result<Issued, TokenError> {
    let loaded = load_client(store, tenant, client.client_id).await;
    let Some(g) = store
        .grant(&handle(code))
        .await?
        .filter(|g| g.tenant_id == tenant.id)
    else {
        loaded?;
        return Err(AadstsError::malformed_grant("authorization code").into());
    };
    // Every attempt at a live code spends it, also one naming a client that does not exist
    // here (the error stays the client's: 700016).
    let (app, client_sp) = match loaded {
        Ok(x) => x,
        Err(e) => {
            spend(store, &g, now).await?;
            return Err(e);
        }
    };
    let decision = auth_code::decide_request(
        &g,
        client.client_id,
        redirect_uri,
        verifier,
        client.cross_origin,
        now,
    );
    let public = g.attr("public") == Some("1");
    let proof = authenticate_client(&app, client.secret, client.assertion_verified, public, now);
    let auth = match (decision, proof) {
        (auth_code::CodeDecision::Redeem, Ok(auth)) => auth,
        (auth_code::CodeDecision::Refuse(e), _) => return Err(e.into()),
        (auth_code::CodeDecision::RevokeFamily(e), _) => {
            if let Some(f) = &g.family {
                store.revoke_grants(&RevokeScope::Family(f.clone())).await?;
            }
            return Err(e.into());
        }
        // A wrong parameter or a wrong client credential: the attempt spends the code.
        (auth_code::CodeDecision::Burn(e), _) | (auth_code::CodeDecision::Redeem, Err(e)) => {
            spend(store, &g, now).await?;
            return Err(e.into());
        }
    };
    // Lost to another redemption of the same code: that is a replay.
    let spent = Spend::of(&g, g.family.clone(), || {
        AadstsError::code_already_redeemed().into()
    });
    let user = match load_user(store, tenant, g.user_id).await {
        Ok(u) => u,
        Err(e) => {
            spent.burn(store).await?;
            return Err(e);
        }
    };
    let authn = authn_of(&g, now);
    let family = (
        g.family.clone().unwrap_or_else(|| g.handle.clone()),
        now,
        g.attr("spa") == Some("1"),
    );
    let mut issued = finish(
        store,
        tenant,
        app,
        &client_sp,
        auth,
        user,
        g.attr("scope").unwrap_or(""),
        g.attr("nonce").map(str::to_string),
        family,
        authn,
        now,
        uti,
        new_refresh,
        Some(spent),
    )
    .await?;
    // The device the sign-in proved: Entra's `deviceid` claim (a guest's resource tenant reads
    // it from the home tenant's ID token to apply its inbound device trust).
    if let Some(d) = g.attr("device_id") {
        let claim = ("deviceid".to_string(), d.to_string());
        issued.tokens.access.extra.push(claim.clone());
        if let Some(id) = issued.tokens.id.as_mut() {
            id.extra.push(claim);
        }
    }
    Ok(issued)
}

fn as_refresh(g: &Grant) -> RefreshToken {
    RefreshToken {
        hash: [0; 32],
        family: ObjectId::from_random([0; 16]),
        tenant_id: g.tenant_id,
        client_id: g.attr("client_id").unwrap_or("").to_string(),
        user_id: g.user_id.unwrap_or_else(|| ObjectId::from_random([0; 16])),
        scope: g.attr("scope").unwrap_or("").to_string(),
        spa: g.attr("spa") == Some("1"),
        family_started: Timestamp(g.attr_i64("family_started").unwrap_or(g.created.millis())),
        issued: g.created,
        state: match g.state {
            GrantState::Active => RefreshState::Active,
            GrantState::Used => RefreshState::Rotated,
            _ => RefreshState::Revoked,
        },
    }
}

/// `grant_type=refresh_token`: rotate, or detect reuse and revoke the family.
#[allow(clippy::too_many_arguments)]
pub async fn redeem_refresh(
    store: &dyn Store,
    tenant: &Tenant,
    client: &ClientProof<'_>,
    refresh: &str,
    scope_text: Option<&str>,
    now: Timestamp,
    uti: (String, String),
    new_refresh: String,
) -> Result<Issued, TokenError> {
    let (app, client_sp) = load_client(store, tenant, client.client_id).await?;
    let Some(g) = store
        .grant(&handle(refresh))
        .await?
        .filter(|g| g.tenant_id == tenant.id && g.kind == GrantKind::Refresh)
    else {
        return Err(AadstsError::malformed_grant("refresh token").into());
    };
    // A refresh token is multi-resource (Entra's MRRT): a request for another resource is
    // bounded by consent at issuance, not by the original scope; for the same resource the
    // scope may not widen.
    let resource_of = |t: &str| scope::parse_delegated(t).ok().map(|d| d.resource);
    let same_resource = match scope_text {
        Some(t) => resource_of(t) == resource_of(g.attr("scope").unwrap_or("")),
        None => true,
    };
    let requested: Option<Vec<String>> = scope_text.filter(|_| same_resource).map(|s| {
        s.split_whitespace()
            .filter(|w| !w.eq_ignore_ascii_case("offline_access"))
            .map(str::to_string)
            .collect()
    });
    let family = g.family.clone().unwrap_or_else(|| g.handle.clone());
    match refresh_token::decide(&as_refresh(&g), client.client_id, requested.as_deref(), now) {
        RefreshDecision::Refuse(e) => return Err(e.into()),
        RefreshDecision::RevokeFamily(e) => {
            store.revoke_grants(&RevokeScope::Family(family)).await?;
            return Err(e.into());
        }
        RefreshDecision::Rotate => {}
    }
    let public = g.attr("public") == Some("1");
    let auth = authenticate_client(&app, client.secret, client.assertion_verified, public, now)?;
    let spent = Spend::of(&g, Some(family.clone()), || {
        crate::error::Code::RefreshTokenReused.aadsts(&[]).into()
    });
    let user = match load_user(store, tenant, g.user_id).await {
        Ok(u) => u,
        Err(e) => {
            spent.burn(store).await?;
            return Err(e);
        }
    };
    // Keep offline_access so the successor is a refresh token too.
    let stored = g.attr("scope").unwrap_or("").to_string();
    let scope_text = match scope_text {
        Some(s) if !s.trim().is_empty() => {
            let mut s = s.to_string();
            if stored
                .split_whitespace()
                .any(|w| w.eq_ignore_ascii_case("offline_access"))
                && !s
                    .split_whitespace()
                    .any(|w| w.eq_ignore_ascii_case("offline_access"))
            {
                s.push_str(" offline_access");
            }
            s
        }
        _ => stored,
    };
    let started = Timestamp(g.attr_i64("family_started").unwrap_or(g.created.millis()));
    let authn = authn_of(&g, started);
    finish(
        store,
        tenant,
        app,
        &client_sp,
        auth,
        user,
        &scope_text,
        None,
        (family, started, g.attr("spa") == Some("1")),
        authn,
        now,
        uti,
        new_refresh,
        Some(spent),
    )
    .await
}

/// What `/devicecode` returns (the caller renders it).
pub struct DeviceStart {
    /// The user code to show.
    pub user_code: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// Seconds between polls.
    pub interval: i64,
}

/// `/devicecode`: registers a pending device authorization. The client must be allowed public
/// client flows (AADSTS7000218 otherwise, as Entra answers at polling time).
pub async fn start_device(
    store: &dyn Store,
    tenant: &Tenant,
    client_id: &str,
    scope_text: &str,
    device_secret: &str,
    user_code: &str,
    now: Timestamp,
) -> Result<DeviceStart, TokenError> {
    let (app, _) = load_client(store, tenant, client_id).await?;
    if !app.is_fallback_public_client {
        return Err(AadstsError::missing_client_credential().into());
    }
    scope::parse_delegated(scope_text)?;
    store
        .insert_grant(&Grant {
            handle: handle(device_secret),
            kind: GrantKind::Device,
            tenant_id: tenant.id,
            family: Some(handle(device_secret)),
            user_id: None,
            lookup: Some(user_code.to_string()),
            state: GrantState::Pending,
            created: now,
            expires: now.plus_secs(device::DEVICE_CODE_LIFETIME_SECS),
            attrs: vec![
                ("client_id".into(), client_id.to_string()),
                ("scope".into(), scope_text.to_string()),
            ],
        })
        .await?;
    Ok(DeviceStart {
        user_code: user_code.to_string(),
        expires_in: device::DEVICE_CODE_LIFETIME_SECS,
        interval: device::POLL_INTERVAL_SECS,
    })
}

/// Finds a pending device authorization by what the person typed (90119 if none, 70019 if
/// expired, 90120 if already used).
pub async fn find_device(
    store: &dyn Store,
    typed: &str,
    now: Timestamp,
) -> Result<Grant, TokenError> {
    let code = device::normalise_user_code(typed);
    let Some(g) = store.grant_by_lookup(GrantKind::Device, &code).await? else {
        return Err(crate::error::Code::UserCodeUnknown
            .aadsts(&[("code", &typed)])
            .into());
    };
    if now >= g.expires {
        return Err(crate::error::Code::UserCodeExpired.aadsts(&[]).into());
    }
    if g.state != GrantState::Pending {
        return Err(crate::error::Code::UserCodeUsed.aadsts(&[]).into());
    }
    Ok(g)
}

/// The user on the device-login page approves (`Some((user, how they authenticated))`) or
/// declines (`None`).
pub async fn decide_device(
    store: &dyn Store,
    g: &Grant,
    user: Option<(&User, Authn)>,
) -> Result<bool, TokenError> {
    let mut next = g.clone();
    match user {
        Some((u, authn)) => {
            next.state = GrantState::Approved;
            next.user_id = Some(u.id);
            for (k, v) in authn_attrs(&authn) {
                next.set(&k, v);
            }
        }
        None => next.state = GrantState::Declined,
    }
    Ok(store.update_grant(GrantState::Pending, &next).await?)
}

/// Token-endpoint poll with `device_code`.
pub async fn poll_device(
    store: &dyn Store,
    tenant: &Tenant,
    client_id: &str,
    device_code: &str,
    now: Timestamp,
    uti: (String, String),
    new_refresh: String,
) -> Result<Issued, TokenError> {
    let (app, client_sp) = load_client(store, tenant, client_id).await?;
    let Some(g) = store
        .grant(&handle(device_code))
        .await?
        .filter(|g| g.tenant_id == tenant.id)
    else {
        return Err(crate::error::Code::DeviceCodeUnknown.aadsts(&[]).into());
    };
    match device::poll(&g, client_id, now) {
        device::Poll::Wait { error, touch } => {
            if touch {
                let mut next = g.clone();
                next.set("last_poll", now.millis().to_string());
                // A lost race only means the poll time was not recorded.
                store.update_grant(g.state, &next).await?;
            }
            Err(error.into())
        }
        device::Poll::Issue(user_id) => {
            let mut used = g.clone();
            used.state = GrantState::Used;
            if !store.update_grant(GrantState::Approved, &used).await? {
                return Err(crate::error::Code::DeviceCodeRedeemedRace
                    .aadsts(&[])
                    .into());
            }
            let user = load_user(store, tenant, Some(user_id)).await?;
            let authn = authn_of(&g, now);
            let family = (g.handle.clone(), now, false);
            let carried = g.attr("sign_in_risk").map(str::to_string);
            let mut issued = finish(
                store,
                tenant,
                app,
                &client_sp,
                ClientAuthMethod::None,
                user,
                g.attr("scope").unwrap_or(""),
                None,
                family,
                authn,
                now,
                uti,
                new_refresh,
                None,
            )
            .await?;
            issued.carried_sign_in_risk = carried;
            Ok(issued)
        }
    }
}

/// Starts an SSO session for a user (the caller sets the cookie to `secret`).
pub async fn start_session(
    store: &dyn Store,
    tenant: &Tenant,
    user: &User,
    persistent: bool,
    secret: &str,
    now: Timestamp,
) -> Result<(), TokenError> {
    let life = if persistent {
        SSO_PERSISTENT_SECS
    } else {
        SSO_SECS
    };
    store
        .insert_grant(&Grant {
            handle: handle(secret),
            kind: GrantKind::Sso,
            tenant_id: tenant.id,
            family: None,
            user_id: Some(user.id),
            lookup: None,
            state: GrantState::Active,
            created: now,
            expires: now.plus_secs(life),
            attrs: vec![("auth_time".into(), now.millis().to_string())],
        })
        .await?;
    Ok(())
}

/// The live session a cookie names in `tenant`, with its user (disabled users have none).
pub async fn session(
    store: &dyn Store,
    tenant: &Tenant,
    secret: &str,
    now: Timestamp,
) -> Result<Option<(Grant, User)>, TokenError> {
    let Some(g) = store.grant(&handle(secret)).await?.filter(|g| {
        g.kind == GrantKind::Sso
            && g.tenant_id == tenant.id
            && g.state == GrantState::Active
            && now < g.expires
    }) else {
        return Ok(None);
    };
    let Some(uid) = g.user_id else {
        return Ok(None);
    };
    Ok(store
        .user(tenant.id, uid)
        .await?
        .filter(|u| u.account_enabled)
        .map(|u| (g, u)))
}

/// Records that the user of the SSO session `secret` completed multifactor authentication at
/// `at` (the sign-in's challenge page); later sign-ins in the session count it, within the
/// sign-in frequency Conditional Access sets. Returns false when the session is gone.
pub async fn mark_session_mfa(
    store: &dyn Store,
    tenant: &Tenant,
    secret: &str,
    at: Timestamp,
) -> Result<bool, TokenError> {
    let Some((g, _)) = session(store, tenant, secret, at).await? else {
        return Ok(false);
    };
    let mut next = g.clone();
    next.set("mfa_at", at.millis().to_string());
    Ok(store.update_grant(GrantState::Active, &next).await?)
}

/// How and when the user of a live SSO session authenticated.
pub fn session_authn(g: &Grant) -> Authn {
    authn_of(g, g.created)
}

/// Ends a session (sign-out).
pub async fn end_session(store: &dyn Store, secret: &str) -> Result<(), TokenError> {
    if let Some(g) = store.grant(&handle(secret)).await? {
        if g.kind == GrantKind::Sso && g.state == GrantState::Active {
            let mut next = g.clone();
            next.state = GrantState::Revoked;
            store.update_grant(GrantState::Active, &next).await?;
        }
    }
    Ok(())
}

/// On-behalf-of (`urn:ietf:params:oauth:grant-type:jwt-bearer`): the calling API (a confidential
/// client) exchanges a user's token addressed to it — validated by the server — for a token to
/// a downstream resource, bounded by the consent granted to the API.
#[allow(clippy::too_many_arguments)]
pub async fn on_behalf_of(
    store: &dyn Store,
    tenant: &Tenant,
    client: &ClientProof<'_>,
    user_id: ObjectId,
    upstream: Authn,
    scope_text: &str,
    now: Timestamp,
    uti: (String, String),
    new_refresh: String,
) -> Result<Issued, TokenError> {
    let (app, client_sp) = load_client(store, tenant, client.client_id).await?;
    let auth = authenticate_client(&app, client.secret, client.assertion_verified, false, now)?;
    let user = load_user(store, tenant, Some(user_id)).await?;
    let family = handle(&new_refresh);
    finish(
        store,
        tenant,
        app,
        &client_sp,
        auth,
        user,
        scope_text,
        None,
        (family, now, false),
        upstream,
        now,
        uti,
        new_refresh,
        None,
    )
    .await
}

/// A resource-owner password request, as parsed by wire.
pub struct PasswordRequest {
    /// `client_id`.
    pub client_id: Option<String>,
    /// `client_secret`, for confidential clients.
    pub client_secret: Option<SecretText>,
    /// `username`.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<SecretText>,
    /// `scope`.
    pub scope: Option<String>,
    /// The client's IP (smart lockout counts familiar IPs apart).
    pub ip: String,
}

/// `grant_type=password`.
pub async fn password(
    store: &dyn Store,
    hasher: &dyn crate::ops::PasswordHasher,
    tenant: &Tenant,
    req: PasswordRequest,
    now: Timestamp,
    uti: (String, String),
    new_refresh: String,
) -> Result<Issued, TokenError> {
    let client_id = req
        .client_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AadstsError::missing_parameter("client_id"))?;
    let username = req
        .username
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AadstsError::missing_parameter("username"))?;
    let password = req
        .password
        .as_ref()
        .ok_or_else(|| AadstsError::missing_parameter("password"))?;
    let scope_text = req
        .scope
        .as_deref()
        .ok_or_else(|| AadstsError::missing_parameter("scope"))?;
    let (app, client_sp) = load_client(store, tenant, client_id).await?;
    let auth = match &req.client_secret {
        Some(secret) => {
            client_credentials::authenticate_secret(&app, secret, now)?;
            ClientAuthMethod::Secret
        }
        None if app.is_fallback_public_client => ClientAuthMethod::None,
        None => return Err(AadstsError::missing_client_credential().into()),
    };
    // Scope errors come before credential errors, as Entra orders them.
    scope::parse_delegated(scope_text)?;
    let outcome = check_password(store, hasher, tenant, username, password, &req.ip, now).await?;
    outcome.result?;
    let Some(user) = outcome.user else {
        return Err(AadstsError::invalid_credentials().into());
    };
    let family = (handle(&new_refresh), now, false);
    finish(
        store,
        tenant,
        app,
        &client_sp,
        auth,
        user,
        scope_text,
        None,
        family,
        crate::flow::Authn::password(now),
        now,
        uti,
        new_refresh,
        None,
    )
    .await
}
