//! `/v1.0/auditLogs/directoryAudits`, `/v1.0/organization`, `/v1.0/directoryObjects/{id}`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use castellan_core::graph_rules::{Access, Area};
use castellan_core::store::AuditQuery;
use castellan_wire::errors::GraphError;
use castellan_wire::graph::audit as wire;
use castellan_wire::odata::EntitySpec;
use serde_json::json;

use super::users::with_context;
use super::{list, parse_id, render_object, store_err, ApiError, Caller};
use crate::state::AppState;
use castellan_wire::graph::roles::render_consent_request;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1.0/auditLogs/directoryAudits", get(directory_audits))
        .route("/v1.0/auditLogs/signIns", get(sign_ins))
        .route(
            "/v1.0/auditLogs/troubleshoot",
            get(troubleshoot).post(troubleshoot_question),
        )
        .route("/v1.0/organization", get(organization))
        .route(
            "/v1.0/policies/authorizationPolicy",
            get(authorization_policy).patch(patch_authorization_policy),
        )
        .route(
            "/v1.0/policies/adminConsentRequestPolicy",
            get(consent_request_policy)
                .put(put_consent_request_policy)
                .patch(put_consent_request_policy),
        )
        .route(
            "/v1.0/identityGovernance/appConsent/appConsentRequests",
            get(consent_requests),
        )
        .route(
            "/v1.0/identityGovernance/appConsent/appConsentRequests/{id}/userConsentRequests/{ucr}/approval/steps/{step}",
            axum::routing::patch(review_consent_request),
        )
        .route("/v1.0/directoryObjects/{id}", get(directory_object))
}

fn spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.directoryAudit",
        wire::PROPERTIES,
        &["activityDateTime"],
        "id",
    )
}

async fn directory_audits(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::AuditLogs, Access::Read)?;
    let all = s
        .store
        .audit_records(c.tenant.id, &AuditQuery::default())
        .await
        .map_err(store_err(&c))?;
    list(
        &c,
        &uri,
        &headers,
        &spec(),
        "auditLogs/directoryAudits",
        all.iter().map(wire::render).collect(),
    )
}

/// `GET /v1.0/auditLogs/signIns` (newest first; `$filter` on createdDateTime, userPrincipalName,
/// appId, status/errorCode and every other rendered property).
async fn sign_ins(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::AuditLogs, Access::Read)?;
    let all = s
        .store
        .sign_ins(c.tenant.id, &castellan_core::model::SignInQuery::default())
        .await
        .map_err(store_err(&c))?;
    let all_users = s.store.users(c.tenant.id).await.map_err(store_err(&c))?;
    let users: std::collections::HashMap<castellan_core::ObjectId, &castellan_core::model::User> =
        all_users.iter().map(|u| (u.id, u)).collect();
    // Newest first unless the caller orders otherwise (as Graph lists sign-ins).
    let uri = match uri.query() {
        Some(q) if q.contains("$orderby") || q.contains("%24orderby") => uri,
        q => {
            let pq = format!(
                "{}?{}{}%24orderby=createdDateTime%20desc",
                uri.path(),
                q.unwrap_or(""),
                if q.is_some_and(|q| !q.is_empty()) {
                    "&"
                } else {
                    ""
                }
            );
            pq.parse().unwrap_or(uri)
        }
    };
    let spec = EntitySpec::new(
        "microsoft.graph.signIn",
        wire::SIGN_IN_PROPERTIES,
        &["createdDateTime"],
        "id",
    );
    list(
        &c,
        &uri,
        &headers,
        &spec,
        "auditLogs/signIns",
        all.iter()
            .map(|r| {
                let mut v = wire::render_sign_in(r);
                let u = r.user_id.and_then(|id| users.get(&id).copied());
                wire::add_b2b_fields(&mut v, r, u);
                v
            })
            .collect(),
    )
}

/// `GET /v1.0/auditLogs/troubleshoot?correlationId={guid}` (a Castellan extension): every
/// sign-in with that correlation id with its failure family and fix
/// (`core::troubleshoot::diagnose`) — the answer the console and `castellan troubleshoot`
/// show. Permission: reading sign-in logs.
async fn troubleshoot(
    State(s): State<AppState>,
    c: Caller,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    c.require(Area::AuditLogs, Access::Read)?;
    let Some(cid) = q
        .get("correlationId")
        .and_then(|v| uuid::Uuid::parse_str(v.trim()).ok())
        .map(|u| u.to_string())
    else {
        return Err(c.err(GraphError::bad_request(
            "Pass correlationId=<GUID>: the failed request's client-request-id or its error's correlation_id.",
        )));
    };
    let all = s
        .store
        .sign_ins(c.tenant.id, &castellan_core::model::SignInQuery::default())
        .await
        .map_err(store_err(&c))?;
    let value: Vec<_> = all
        .iter()
        .filter(|r| r.correlation_id.eq_ignore_ascii_case(&cid))
        .map(|r| {
            castellan_wire::troubleshoot::render(
                wire::render_sign_in(r),
                &castellan_core::troubleshoot::diagnose(r.error_code),
            )
        })
        .collect();
    Ok(Json(json!({"correlationId": cid, "value": value})).into_response())
}

/// The API a pasted token was meant for, from the request's `resource`: Microsoft Graph, Azure
/// Resource Manager, or one of this tenant's APIs by appId or identifier URI (its accepted
/// token version from `api.requestedAccessTokenVersion`).
async fn intended(
    s: &AppState,
    c: &Caller,
    resource: &str,
    permission: Option<String>,
) -> Result<castellan_core::troubleshoot::Intended, ApiError> {
    use castellan_core::troubleshoot::Intended;
    let r = resource.trim().trim_end_matches('/');
    let lower = r.to_ascii_lowercase();
    let fixed = |name: &str, audiences: &[&str]| Intended {
        name: name.into(),
        audiences: audiences.iter().map(|a| (*a).to_string()).collect(),
        accepted_version: None,
        permission: permission.clone(),
    };
    let (graph, arm) = (
        castellan_core::ids::GRAPH_APP_ID.to_string(),
        castellan_core::catalog::ARM_APP_ID.to_string(),
    );
    if lower == "graph" || lower == "https://graph.microsoft.com" || lower == graph {
        return Ok(fixed(
            "Microsoft Graph",
            &["https://graph.microsoft.com", &graph],
        ));
    }
    let arm_names = [
        "arm",
        "https://management.azure.com",
        "https://management.core.windows.net",
    ];
    if arm_names.contains(&lower.as_str()) || lower == arm {
        return Ok(fixed(
            "Azure Resource Manager",
            &[
                "https://management.azure.com",
                "https://management.core.windows.net",
                &arm,
            ],
        ));
    }
    let app = match castellan_core::AppId::parse(r) {
        Some(id) => s
            .store
            .application_by_app_id(id)
            .await
            .map_err(store_err(c))?,
        None => s
            .store
            .application_by_identifier_uri(r)
            .await
            .map_err(store_err(c))?,
    }
    .filter(|a| a.tenant_id == c.tenant.id);
    let Some(app) = app else {
        return Err(c.err(GraphError::bad_request(format!(
            "resource '{resource}' is neither Microsoft Graph ('graph'), Azure Resource Manager ('arm') nor an appId or identifier URI of an application registered in this tenant."
        ))));
    };
    let mut audiences = vec![app.app_id.to_string()];
    audiences.extend(app.identifier_uris.iter().cloned());
    Ok(Intended {
        name: app.display_name.clone(),
        audiences,
        accepted_version: Some(app.requested_access_token_version.unwrap_or(1)),
        permission,
    })
}

/// `POST /v1.0/auditLogs/troubleshoot` (a Castellan extension): the troubleshooter's other
/// two questions. `{"token": "<JWT>", "resource"?: "graph" | "arm" | <appId or identifier URI>,
/// "permission"?: "<scope or app role>"}` — what is wrong with a token for that API (signature,
/// tenant, issuer, expiry, audience, version, a missing permission), with its decoded claims;
/// or `{"principalId": "<object id>", "action": "<action>", "scope"?: "<ARM scope>"}` — may
/// that principal do it (`microsoft.directory/…` actions ask the directory, any other action
/// Azure RBAC at `scope`), naming a wrong plane. Same permission as reading sign-in logs.
async fn troubleshoot_question(
    State(s): State<AppState>,
    c: Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    use castellan_core::troubleshoot as ts;
    c.require(Area::AuditLogs, Access::Read)?;
    let v = super::json_body(&c, &body)?;
    let text = |k: &str| v[k].as_str().map(str::trim).filter(|x| !x.is_empty());
    let now = crate::state::now();
    if let Some(token) = text("token") {
        let (kid, claims) = castellan_wire::troubleshoot::split_token(token)
            .map_err(|e| c.err(GraphError::bad_request(format!("token: {e}."))))?;
        let signature = match kid.as_deref().and_then(|k| s.keys.decoding_key(k, now)) {
            None => ts::Signature::UnknownKey,
            Some(key) => {
                let mut val = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
                val.validate_exp = false;
                val.validate_nbf = false;
                val.validate_aud = false;
                val.required_spec_claims.clear();
                match jsonwebtoken::decode::<serde_json::Value>(
                    token.trim().trim_start_matches("Bearer ").trim(),
                    &key,
                    &val,
                ) {
                    Ok(_) => ts::Signature::Valid,
                    Err(_) => ts::Signature::Invalid,
                }
            }
        };
        let tid = c.tenant.id.to_string();
        let mut issuers = s.origins.issuers(&tid);
        let v1: Vec<String> = issuers
            .iter()
            .filter_map(|i| i.strip_suffix("v2.0").map(str::to_string))
            .collect();
        issuers.extend(v1);
        let intended = match text("resource") {
            Some(r) => Some(intended(&s, &c, r, text("permission").map(str::to_string)).await?),
            None => None,
        };
        let ctx = ts::TokenContext {
            tenant: tid,
            issuers,
            now: now.secs(),
            intended,
        };
        let findings = ts::diagnose_token(
            &castellan_wire::troubleshoot::token_facts(&claims),
            &ctx,
            signature,
        );
        let value: Vec<_> = findings
            .iter()
            .map(castellan_wire::troubleshoot::render_finding)
            .collect();
        return Ok(Json(json!({"findings": value, "claims": claims})).into_response());
    }
    let (Some(principal), Some(action)) = (text("principalId"), text("action")) else {
        return Err(c.err(GraphError::bad_request(
            "Send {\"token\": \"<JWT>\", \"resource\"?: \"graph|arm|<appId>\", \"permission\"?: \"<scope>\"} to check a token, or {\"principalId\": \"<object id>\", \"action\": \"<action>\", \"scope\"?: \"<ARM scope>\"} to check an access; for a failed sign-in use GET ?correlationId=<GUID>.",
        )));
    };
    let oid = parse_id(&c, principal)?;
    if s.store
        .object_kind(c.tenant.id, oid)
        .await
        .map_err(store_err(&c))?
        .is_none()
    {
        return Err(c.err(GraphError::not_found(format!(
            "principalId '{principal}' is no user, group or service principal of this tenant."
        ))));
    }
    let plane =
        ts::Plane::of(action, text("scope")).map_err(|e| c.err(GraphError::bad_request(e)))?;
    if let ts::Plane::Azure { scope, .. } = &plane {
        castellan_core::ops::arm::check_scope(scope)
            .map_err(|e| c.err(GraphError::bad_request(format!("scope: {}", e.message))))?;
    }
    let facts =
        castellan_core::ops::troubleshoot::access(s.store.as_ref(), c.tenant.id, oid, &plane, now)
            .await
            .map_err(store_err(&c))?;
    let f = ts::diagnose_access(&plane, &facts);
    Ok(
        Json(json!({"findings": [castellan_wire::troubleshoot::render_finding(&f)]}))
            .into_response(),
    )
}

async fn organization(State(_s): State<AppState>, c: Caller) -> Result<Response, ApiError> {
    let t = &c.tenant;
    let domains: Vec<_> = t
        .domains
        .iter()
        .map(|d| json!({"name": d.name, "isInitial": d.is_initial, "isDefault": d.is_default, "type": "Managed", "capabilities": "Email, OfficeCommunicationsOnline"}))
        .collect();
    let org = json!({
        "id": t.id.to_string(),
        "displayName": t.display_name,
        "verifiedDomains": domains,
        "createdDateTime": castellan_wire::time::graph_datetime(t.created),
        "tenantType": "AAD",
        "assignedPlans": [],
        "castellanLicenseTier": t.license.as_str(),
    });
    Ok(Json(with_context(&c, "organization", json!({"value": [org]}))).into_response())
}

async fn directory_object(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require(Area::Users, Access::Read)
        .or_else(|_| c.require(Area::Groups, Access::Read))
        .or_else(|_| c.require(Area::Applications, Access::Read))?;
    let oid = parse_id(&c, &id)?;
    let kind = s
        .store
        .object_kind(c.tenant.id, oid)
        .await
        .map_err(store_err(&c))?;
    let v = match kind {
        Some(k) => render_object(&s, &c.tenant, oid, k)
            .await
            .map_err(store_err(&c))?,
        None => None,
    };
    v.map(|v| Json(with_context(&c, "directoryObjects/$entity", v)).into_response())
        .ok_or_else(|| c.err(GraphError::not_found(format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."))))
}

fn render_authorization_policy(c: &Caller, t: &castellan_core::model::Tenant) -> serde_json::Value {
    with_context(
        c,
        "policies/authorizationPolicy/$entity",
        json!({
            "id": "authorizationPolicy",
            "displayName": "Authorization Policy",
            "description": "Used to manage authorization related settings across the company.",
            "allowInvitesFrom": t.settings.allow_invites_from.as_str(),
            "allowedToSignUpEmailBasedSubscriptions": false,
            "allowEmailVerifiedUsersToJoinOrganization": false,
            "blockMsolPowerShell": false,
            "guestUserRoleId": t.settings.guest_user_role.as_str(),
            "defaultUserRolePermissions": {
                "allowedToCreateApps": t.settings.users_can_create_apps,
                "allowedToCreateSecurityGroups": true,
                "allowedToReadOtherUsers": true,
                "allowedToReadBitlockerKeysForOwnedDevice": true,
                "permissionGrantPoliciesAssigned": t.settings.user_consent.graph_ids(),
            },
        }),
    )
}

/// `GET /v1.0/policies/authorizationPolicy`.
async fn authorization_policy(c: Caller) -> Result<Response, ApiError> {
    c.require(Area::Users, Access::Read)?;
    Ok(Json(render_authorization_policy(&c, &c.tenant)).into_response())
}

/// `PATCH /v1.0/policies/authorizationPolicy`: today only
/// `defaultUserRolePermissions.permissionGrantPoliciesAssigned` (the user-consent setting).
async fn patch_authorization_policy(
    State(s): State<AppState>,
    c: Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Write)?;
    let v = super::json_body(&c, &body)?;
    let bad = |m: String| c.err(GraphError::bad_request(m));
    let Some(obj) = v.as_object() else {
        return Err(bad("The body must be a JSON object.".into()));
    };
    if let Some(k) = obj.keys().find(|k| {
        !k.starts_with("@odata.")
            && ![
                "defaultUserRolePermissions",
                "allowInvitesFrom",
                "guestUserRoleId",
            ]
            .contains(&k.as_str())
    }) {
        return Err(bad(format!("Property '{k}' of authorizationPolicy cannot be changed on this server; only allowInvitesFrom, guestUserRoleId and defaultUserRolePermissions (permissionGrantPoliciesAssigned, allowedToCreateApps) can.")));
    }
    let enum_field = |name: &str, allowed: &str| -> Result<Option<String>, ApiError> {
        match obj.get(name) {
            None => Ok(None),
            Some(serde_json::Value::String(v)) => Ok(Some(v.clone())),
            Some(_) => Err(bad(format!("{name} must be a string: one of {allowed}."))),
        }
    };
    let invites_allowed =
        "none, adminsAndGuestInviters, adminsGuestInvitersAndAllMembers, everyone";
    let allow_invites_from = enum_field("allowInvitesFrom", invites_allowed)?
        .map(|v| {
            castellan_core::model::InvitesFrom::parse(&v).ok_or_else(|| {
                bad(format!(
                    "Invalid value '{v}' for allowInvitesFrom: use one of {invites_allowed}."
                ))
            })
        })
        .transpose()?;
    let roles_allowed = "a0b1b346-4d3e-4e8b-98f8-753987be4970 (same as members), 10dae51f-b6af-4016-8d66-8c2a99b929b3 (limited), 2af84b1e-32c8-42b7-82bc-daa82404023b (restricted)";
    let guest_user_role = enum_field("guestUserRoleId", roles_allowed)?
        .map(|v| {
            castellan_core::model::GuestRole::parse(&v).ok_or_else(|| {
                bad(format!(
                    "Invalid value '{v}' for guestUserRoleId: use {roles_allowed}."
                ))
            })
        })
        .transpose()?;
    let empty = serde_json::Map::new();
    let perms = match obj.get("defaultUserRolePermissions") {
        None => &empty,
        Some(v) => v.as_object().ok_or_else(|| bad("Send {\"defaultUserRolePermissions\": {\"permissionGrantPoliciesAssigned\": [...]}}.".into()))?,
    };
    if let Some(k) = perms
        .keys()
        .find(|k| !["permissionGrantPoliciesAssigned", "allowedToCreateApps"].contains(&k.as_str()))
    {
        return Err(bad(format!(
            "Property 'defaultUserRolePermissions.{k}' cannot be changed on this server."
        )));
    }
    let create_apps = match perms.get("allowedToCreateApps") {
        None => None,
        Some(serde_json::Value::Bool(b)) => Some(*b),
        Some(_) => return Err(bad("allowedToCreateApps must be true or false.".into())),
    };
    let policy = match perms.get("permissionGrantPoliciesAssigned") {
        None => None,
        Some(list) => {
            let ids: Vec<String> = list
                .as_array()
                .ok_or_else(|| {
                    bad("permissionGrantPoliciesAssigned must be an array of policy ids.".into())
                })?
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad("permissionGrantPoliciesAssigned holds strings.".into()))
                })
                .collect::<Result<_, _>>()?;
            Some(castellan_core::flow::consent::UserConsentPolicy::from_graph_ids(&ids).ok_or_else(|| bad(format!("Unsupported permissionGrantPoliciesAssigned {ids:?}: use [\"ManagePermissionGrantsForSelf.microsoft-user-default-legacy\"] (users may consent), [\"ManagePermissionGrantsForSelf.microsoft-user-default-low\"] (low-impact permissions, apps from this tenant) or [] (no user consent).")))?)
        }
    };
    let mut ent = crate::crypto::OsEntropy;
    let req = castellan_core::ops::tenants::SignInSettings {
        user_consent: policy,
        users_can_create_apps: create_apps,
        allow_invites_from,
        guest_user_role,
        ..Default::default()
    };
    castellan_core::ops::tenants::update_sign_in_settings(
        &mut c.env(&s, &mut ent),
        &c.tenant,
        &req,
    )
    .await
    .map_err(|e| c.err(e))?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

fn render_consent_request_policy(
    c: &Caller,
    t: &castellan_core::model::Tenant,
) -> serde_json::Value {
    with_context(
        c,
        "policies/adminConsentRequestPolicy/$entity",
        json!({
            "isEnabled": t.settings.admin_consent_workflow,
            "notifyReviewers": false,
            "remindersEnabled": false,
            "requestDurationInDays": 30,
            "version": 1,
            "reviewers": [],
        }),
    )
}

/// `GET /v1.0/policies/adminConsentRequestPolicy`.
async fn consent_request_policy(c: Caller) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    Ok(Json(render_consent_request_policy(&c, &c.tenant)).into_response())
}

/// `PUT|PATCH /v1.0/policies/adminConsentRequestPolicy` `{isEnabled}` (reviewers: every
/// administrator who may consent).
async fn put_consent_request_policy(
    State(s): State<AppState>,
    c: Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Write)?;
    let v = super::json_body(&c, &body)?;
    let Some(enabled) = v.get("isEnabled").and_then(serde_json::Value::as_bool) else {
        return Err(c.err(GraphError::bad_request(
            "isEnabled (true or false) is required.",
        )));
    };
    if let Some(k) = v.as_object().and_then(|o| {
        o.keys()
            .find(|k| {
                ![
                    "isEnabled",
                    "notifyReviewers",
                    "remindersEnabled",
                    "requestDurationInDays",
                    "reviewers",
                    "version",
                ]
                .contains(&k.as_str())
            })
            .cloned()
    }) {
        return Err(c.err(GraphError::bad_request(format!(
            "Property '{k}' does not exist on type 'microsoft.graph.adminConsentRequestPolicy'."
        ))));
    }
    let mut ent = crate::crypto::OsEntropy;
    let req = castellan_core::ops::tenants::SignInSettings {
        admin_consent_workflow: Some(enabled),
        ..Default::default()
    };
    castellan_core::ops::tenants::update_sign_in_settings(
        &mut c.env(&s, &mut ent),
        &c.tenant,
        &req,
    )
    .await
    .map_err(|e| c.err(e))?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// `GET /v1.0/identityGovernance/appConsent/appConsentRequests`.
async fn consent_requests(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let all = s
        .store
        .grants_of_kind(
            c.tenant.id,
            castellan_core::model::GrantKind::ConsentRequest,
        )
        .await
        .map_err(store_err(&c))?;
    let spec = EntitySpec::new(
        "microsoft.graph.appConsentRequest",
        &[
            "id",
            "appId",
            "appDisplayName",
            "consentType",
            "pendingScopes",
            "userConsentRequests",
        ],
        &["id", "appDisplayName"],
        "id",
    );
    list(
        &c,
        &uri,
        &headers,
        &spec,
        "identityGovernance/appConsent/appConsentRequests",
        all.iter().map(render_consent_request).collect(),
    )
}

/// `PATCH .../appConsentRequests/{id}/userConsentRequests/{id}/approval/steps/{id}`
/// `{reviewResult: "Approve" | "Deny", justification}`. Delegated reviewers must be able to
/// grant tenant-wide consent.
async fn review_consent_request(
    State(s): State<AppState>,
    c: Caller,
    Path((id, _ucr, _step)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    c.require(Area::Applications, Access::Read)?;
    let (op, target) =
        castellan_core::ops::authz::consent_request(s.store.as_ref(), c.tenant.id, &id)
            .await
            .map_err(super::store_err(&c))?;
    c.authorize(op, &target)?;
    let v = super::json_body(&c, &body)?;
    let approve = match v.get("reviewResult").and_then(serde_json::Value::as_str) {
        Some(r) if r.eq_ignore_ascii_case("Approve") => true,
        Some(r) if r.eq_ignore_ascii_case("Deny") => false,
        other => {
            return Err(c.err(GraphError::bad_request(format!(
                "reviewResult {other:?} is not valid: use Approve or Deny."
            ))))
        }
    };
    let mut ent = crate::crypto::OsEntropy;
    castellan_core::ops::consent::review_request(&mut c.env(&s, &mut ent), &c.tenant, &id, approve)
        .await
        .map_err(|e| c.err(e))?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
