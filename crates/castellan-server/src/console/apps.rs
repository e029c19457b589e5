//! The App registration blade (`/admin/app-registrations/{id}`: the application's definition —
//! overview, authentication, certificates & secrets, API permissions with admin consent, expose
//! an API, app roles, owners, federated credentials) and the Enterprise application blade
//! (`/admin/enterprise-apps/{id}`: the tenant's instance — users and groups assigned,
//! assignment required, permissions granted, sign-ins, SAML setup). Every read and write is a
//! Graph call as the signed-in administrator; what admin consent writes is planned by
//! `core::app_consent::plan`, the expiry markers by `core::app_consent::credential_state`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use castellan_core::app_consent::{self, Granted, Kind, Published};
use serde_json::{json, Value};

use super::api::{odata_string, q, Answer};
use super::blades::{after, checked, field, guid, items, page, refused, resolve_principal, st};
use super::kit::{guid_or_404, object_ref, objects, signed_in, signed_post, strings};
use super::view::{Cell, Field, Form, Section, Table};
use super::{Admin, Ctx, FormMap};
use crate::state::{now, AppState};

/// Microsoft Graph's application id (offered first when adding a permission).
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// The app role id of "Default Access" (an assignment without a specific app role).
pub const DEFAULT_ACCESS: &str = "00000000-0000-0000-0000-000000000000";
/// The default audience of a federated identity credential.
pub const FIC_AUDIENCE: &str = "api://AzureADTokenExchange";
/// The most resources one application's permission table resolves.
const MAX_RESOURCES: usize = 20;

/// The routes of the two blades.
pub fn router() -> Router<AppState> {
    let r = "/admin/app-registrations/{id}";
    let e = "/admin/enterprise-apps/{id}";
    Router::new()
        .route(r, get(app))
        .route(&format!("{r}/secret"), post(add_secret))
        .route(&format!("{r}/secret/remove"), post(remove_secret))
        .route(&format!("{r}/redirects"), post(add_redirect))
        .route(&format!("{r}/redirects/remove"), post(remove_redirect))
        .route(&format!("{r}/permissions"), post(add_permission))
        .route(&format!("{r}/permissions/remove"), post(remove_permission))
        .route(&format!("{r}/consent"), post(grant_consent))
        .route(&format!("{r}/identifier-uris"), post(add_identifier_uri))
        .route(&format!("{r}/scopes"), post(add_scope))
        .route(&format!("{r}/roles"), post(add_app_role))
        .route(&format!("{r}/owners"), post(add_owner))
        .route(&format!("{r}/owners/remove"), post(remove_owner))
        .route(&format!("{r}/federated"), post(add_fic))
        .route(&format!("{r}/federated/remove"), post(remove_fic))
        .route(e, get(sp))
        .route(&format!("{e}/assign"), post(assign))
        .route(&format!("{e}/assign/remove"), post(unassign))
        .route(
            &format!("{e}/assignment-required"),
            post(assignment_required),
        )
        .route(&format!("{e}/signing-certificate"), post(add_signing_cert))
}

type Q = Query<HashMap<String, String>>;

/// The platforms of redirect URIs: (Graph property, label).
pub const PLATFORMS: &[(&str, &str)] = &[
    ("web", "Web"),
    ("spa", "Single-page application"),
    ("publicClient", "Mobile and desktop"),
];

fn platform_label(key: &str) -> &'static str {
    PLATFORMS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("Unknown", |(_, l)| l)
}

/// The expiry marker of a credential's `endDateTime` now.
pub fn expiry_marker(end: &str) -> String {
    castellan_wire::time::parse_graph_datetime(end).map_or_else(
        || "No end date".to_string(),
        |t| app_consent::credential_state(t, now()).marker().to_string(),
    )
}

/// What a resource's service principal publishes (enabled permissions only).
pub fn published(sp: &Value) -> Published {
    let list = |k: &str| {
        objects(&sp[k])
            .iter()
            .filter(|x| x["isEnabled"] != false)
            .filter_map(|x| {
                Some((
                    uuid::Uuid::parse_str(x["id"].as_str()?).ok()?,
                    x["value"].as_str()?.to_string(),
                ))
            })
            .collect::<Vec<_>>()
    };
    Published {
        scopes: list("oauth2PermissionScopes"),
        roles: list("appRoles"),
    }
}

/// `requiredResourceAccess` of an application: (resourceAppId, [(kind, id)]).
pub fn requested(app: &Value) -> Vec<(String, Vec<(Kind, uuid::Uuid)>)> {
    objects(&app["requiredResourceAccess"])
        .iter()
        .map(|rra| {
            let perms = objects(&rra["resourceAccess"])
                .iter()
                .filter_map(|ra| {
                    let kind = if ra["type"] == "Role" {
                        Kind::Application
                    } else {
                        Kind::Delegated
                    };
                    Some((kind, uuid::Uuid::parse_str(ra["id"].as_str()?).ok()?))
                })
                .collect();
            (st(rra, "resourceAppId").to_ascii_lowercase(), perms)
        })
        .collect()
}

fn kind_label(k: Kind) -> &'static str {
    match k {
        Kind::Delegated => "Delegated",
        Kind::Application => "Application",
    }
}

/// The service principal of `app_id` in this tenant, read as the administrator.
async fn sp_by_app_id(a: &mut Admin, app_id: &str) -> Result<Option<Value>, Answer> {
    let r = a
        .graph(
            Method::GET,
            &format!(
                "/v1.0/servicePrincipals?$filter={}",
                q(&format!("appId eq {}", odata_string(app_id)))
            ),
            None,
        )
        .await;
    if !r.ok() {
        return Err(r);
    }
    Ok(items(&r.body).first().cloned())
}

/// A section of links (the page model's tables carry links).
fn links(id: &str, caption: &str, rows: Vec<(String, Cell)>) -> Table {
    let mut t = Table::new(id, caption, &["What", "Where"], "None.");
    for (what, c) in rows {
        t.rows.push(vec![Cell::text(what), c]);
    }
    t
}

fn bad_input(a: &mut Admin, title: &str, text: &str, back: &str) -> Response {
    let r = Answer {
        status: StatusCode::BAD_REQUEST,
        body: json!({"error": {"message": text}}),
    };
    a.api_error(title, &r, back)
}

// ---------------------------------------------------------------- App registration blade

async fn app(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>, Query(p): Q) -> Response {
    let mut a = signed_in!(s, ctx);
    let id = guid_or_404!(id);
    let r = a
        .graph(Method::GET, &format!("/v1.0/applications/{id}"), None)
        .await;
    if !r.ok() {
        return a.api_error("App registration", &r, "/admin/app-registrations");
    }
    let x = r.body.clone();
    let app_id = st(&x, "appId");
    let csrf = a.session.csrf.clone();
    let base = format!("/admin/app-registrations/{id}");

    // Overview.
    let mut ov = Section::new("essentials", "Overview");
    for (k, label) in [
        ("displayName", "Display name"),
        ("appId", "Application (client) ID"),
        ("id", "Object ID"),
        (
            "signInAudience",
            "Supported account types (sign-in audience)",
        ),
        ("publisherDomain", "Publisher domain"),
        ("createdDateTime", "Created"),
    ] {
        ov.props.push((label.into(), st(&x, k)));
    }
    let client_sp = sp_by_app_id(&mut a, &app_id).await.ok().flatten();
    ov.note = Some("This is the application's registration: its definition, kept in its home tenant. Its instance in this tenant — who may use it, which permissions were granted — is its enterprise application.".into());
    let mut rel = vec![];
    match &client_sp {
        Some(spx) => rel.push((
            "Enterprise application in this tenant".to_string(),
            Cell::link(
                st(spx, "displayName"),
                format!("/admin/enterprise-apps/{}", st(spx, "id")),
            ),
        )),
        None => rel.push((
            "Enterprise application in this tenant".to_string(),
            Cell::text("None yet (Grant admin consent creates it)"),
        )),
    }
    rel.push((
        "Sign-ins of this application".into(),
        Cell::link(
            "Sign-in logs",
            format!("/admin/sign-ins?appId={}", q(&app_id)),
        ),
    ));
    ov.table = Some(links("app-links", "Related", rel));
    let mut sections = vec![ov];

    // Authentication.
    let mut auth = Section::new("authentication", "Authentication");
    auth.note = Some("Redirect URIs compare exactly with what a sign-in sends, per platform: web apps (https, or http on localhost), single-page applications (PKCE, https) and mobile and desktop apps (loopback, custom schemes).".into());
    let mut t = Table::new(
        "redirects",
        "Redirect URIs",
        &["Platform", "URI"],
        "No redirect URIs.",
    );
    let mut remove_opts = vec![];
    for (key, label) in PLATFORMS {
        for u in strings(&x[*key]["redirectUris"]) {
            remove_opts.push((format!("{key} {u}"), format!("{label}: {u}")));
            t.rows.push(vec![Cell::text(*label), Cell::text(u)]);
        }
    }
    auth.table = Some(t);
    auth.forms.push(
        Form::post(
            "add-redirect",
            format!("{base}/redirects"),
            "Add a redirect URI",
            "Add URI",
            &csrf,
        )
        .fields(vec![
            Field::new("select", "platform", "Platform")
                .value("web")
                .options(
                    PLATFORMS
                        .iter()
                        .map(|(k, l)| ((*k).to_string(), (*l).to_string()))
                        .collect(),
                ),
            Field::new("text", "uri", "Redirect URI").required(),
        ]),
    );
    if !remove_opts.is_empty() {
        auth.forms.push(
            Form::post(
                "remove-redirect",
                format!("{base}/redirects/remove"),
                "Remove a redirect URI",
                "Remove URI",
                &csrf,
            )
            .danger()
            .fields(vec![Field::new("select", "which", "Redirect URI")
                .required()
                .options(remove_opts)]),
        );
    }
    sections.push(auth);

    // Certificates & secrets.
    let mut creds = Section::new("credentials", "Certificates & secrets");
    let mut t = Table::new(
        "secrets",
        "Client secrets and certificates",
        &[
            "Kind",
            "Description",
            "Hint or thumbprint",
            "Expires",
            "Status",
        ],
        "No credentials.",
    );
    let mut secret_opts = vec![];
    for c in objects(&x["passwordCredentials"]) {
        secret_opts.push((
            st(&c, "keyId"),
            format!("{} ({}…)", st(&c, "displayName"), st(&c, "hint")),
        ));
        t.rows.push(vec![
            Cell::text("Secret"),
            Cell::text(st(&c, "displayName")),
            Cell::text(st(&c, "hint")),
            Cell::text(st(&c, "endDateTime")),
            Cell::text(expiry_marker(&st(&c, "endDateTime"))),
        ]);
    }
    for c in objects(&x["keyCredentials"]) {
        t.rows.push(vec![
            Cell::text("Certificate"),
            Cell::text(st(&c, "displayName")),
            Cell::text(st(&c, "customKeyIdentifier")),
            Cell::text(st(&c, "endDateTime")),
            Cell::text(expiry_marker(&st(&c, "endDateTime"))),
        ]);
    }
    creds.table = Some(t);
    creds.forms.push(
        Form::post(
            "add-secret",
            format!("{base}/secret"),
            "New client secret",
            "Add secret",
            &csrf,
        )
        .hint("The secret's value is shown once, on the next page.")
        .fields(vec![
            Field::new("text", "displayName", "Description").required(),
            Field::new("select", "days", "Expires")
                .value("180")
                .options(vec![
                    ("90".into(), "In 90 days".into()),
                    ("180".into(), "In 180 days (recommended)".into()),
                    ("365".into(), "In 12 months".into()),
                    ("730".into(), "In 24 months".into()),
                ]),
        ]),
    );
    if !secret_opts.is_empty() {
        creds.forms.push(
            Form::post(
                "remove-secret",
                format!("{base}/secret/remove"),
                "Remove a client secret",
                "Remove secret",
                &csrf,
            )
            .danger()
            .hint("Clients still using it fail to sign in (AADSTS7000215) from now on.")
            .fields(vec![Field::new("select", "keyId", "Secret")
                .required()
                .options(secret_opts)]),
        );
    }
    sections.push(creds);

    sections.push(permissions_section(&mut a, &x, client_sp.as_ref(), &base, &csrf, &p).await);
    sections.push(expose_section(&x, &base, &csrf));
    sections.push(roles_section(&x, &base, &csrf));

    // Owners.
    let o = a
        .graph(
            Method::GET,
            &format!("/v1.0/applications/{id}/owners"),
            None,
        )
        .await;
    let mut owners = if o.ok() {
        Section::new("owners", "Owners")
    } else {
        refused("owners", "Owners", &o)
    };
    let mut t = Table::new(
        "owners-table",
        "Owners",
        &["Name", "User principal name"],
        "No owners.",
    );
    let mut owner_opts = vec![];
    for w in items(&o.body) {
        owner_opts.push((
            st(w, "id"),
            format!("{} ({})", st(w, "displayName"), st(w, "userPrincipalName")),
        ));
        t.rows.push(vec![
            Cell::link(
                st(w, "displayName"),
                format!("/admin/users/{}", st(w, "id")),
            ),
            Cell::text(st(w, "userPrincipalName")),
        ]);
    }
    owners.table = Some(t);
    owners.forms.push(
        Form::post(
            "add-owner",
            format!("{base}/owners"),
            "Add an owner",
            "Add owner",
            &csrf,
        )
        .hint("Owners manage this registration without a directory role.")
        .fields(vec![Field::new(
            "text",
            "owner",
            "User principal name or object ID",
        )
        .required()]),
    );
    if !owner_opts.is_empty() {
        owners.forms.push(
            Form::post(
                "remove-owner",
                format!("{base}/owners/remove"),
                "Remove an owner",
                "Remove owner",
                &csrf,
            )
            .danger()
            .fields(vec![Field::new("select", "owner", "Owner")
                .required()
                .options(owner_opts)]),
        );
    }
    sections.push(owners);

    // Federated credentials.
    let fic = a
        .graph(
            Method::GET,
            &format!("/v1.0/applications/{id}/federatedIdentityCredentials"),
            None,
        )
        .await;
    let mut fs = if fic.ok() {
        Section::new("federated", "Federated credentials")
    } else {
        refused("federated", "Federated credentials", &fic)
    };
    fs.note = Some("A workload outside Entra (a CI pipeline, a Kubernetes service account) exchanges its own token for this application's, with no secret: its issuer, subject and audience must match one of these exactly.".into());
    let mut t = Table::new(
        "fic-table",
        "Federated credentials",
        &["Name", "Issuer", "Subject", "Audiences"],
        "No federated credentials.",
    );
    let mut fic_opts = vec![];
    for w in items(&fic.body) {
        fic_opts.push((st(w, "id"), st(w, "name")));
        t.rows.push(vec![
            Cell::text(st(w, "name")),
            Cell::text(st(w, "issuer")),
            Cell::text(st(w, "subject")),
            Cell::text(strings(&w["audiences"]).join(", ")),
        ]);
    }
    fs.table = Some(t);
    fs.forms.push(
        Form::post(
            "add-fic",
            format!("{base}/federated"),
            "Add a federated credential",
            "Add credential",
            &csrf,
        )
        .fields(vec![
            Field::new("text", "name", "Name").required(),
            Field::new("text", "issuer", "Issuer (https URL)").required(),
            Field::new("text", "subject", "Subject identifier").required(),
            Field::new("text", "audience", "Audience").value(FIC_AUDIENCE),
        ]),
    );
    if !fic_opts.is_empty() {
        fs.forms.push(
            Form::post(
                "remove-fic",
                format!("{base}/federated/remove"),
                "Remove a federated credential",
                "Remove credential",
                &csrf,
            )
            .danger()
            .fields(vec![Field::new("select", "fic", "Federated credential")
                .required()
                .options(fic_opts)]),
        );
    }
    sections.push(fs);
    page(
        &mut a,
        &st(&x, "displayName"),
        "/admin/app-registrations",
        None,
        sections,
    )
}

/// API permissions: what the app asks for, resolved to names, whether the tenant granted it,
/// the picker to add one and the admin-consent button.
async fn permissions_section(
    a: &mut Admin,
    x: &Value,
    client_sp: Option<&Value>,
    base: &str,
    csrf: &str,
    p: &HashMap<String, String>,
) -> Section {
    let mut perms = Section::new("api-permissions", "API permissions");
    perms.note = Some("The permissions this application asks for. Delegated permissions act for a signed-in user; application permissions act as the application itself. Admin consent grants them for every user of this tenant.".into());
    let mut t = Table::new(
        "required",
        "Requested permissions",
        &["API", "Permission", "Type", "Granted for this tenant"],
        "No permissions requested.",
    );
    // What the client already holds (when it has a service principal here).
    let mut grants: Vec<Value> = vec![];
    let mut roles_held: Vec<Value> = vec![];
    if let Some(c) = client_sp {
        let cid = st(c, "id");
        let g = a
            .graph(
                Method::GET,
                &format!(
                    "/v1.0/oauth2PermissionGrants?$filter={}",
                    q(&format!("clientId eq '{cid}'"))
                ),
                None,
            )
            .await;
        grants = items(&g.body).to_vec();
        let r = a
            .graph(
                Method::GET,
                &format!("/v1.0/servicePrincipals/{cid}/appRoleAssignments"),
                None,
            )
            .await;
        roles_held = items(&r.body).to_vec();
    }
    let mut remove_opts: Vec<(String, String)> = vec![];
    for (resource, list) in requested(x).into_iter().take(MAX_RESOURCES) {
        let rsp = sp_by_app_id(a, &resource).await.ok().flatten();
        let pubd = rsp.as_ref().map(published).unwrap_or_default();
        let rname = rsp
            .as_ref()
            .map_or_else(|| resource.clone(), |r| st(r, "displayName"));
        let rid = rsp.as_ref().map(|r| st(r, "id")).unwrap_or_default();
        let scope: Vec<String> = grants
            .iter()
            .filter(|g| st(g, "resourceId") == rid && st(g, "consentType") == "AllPrincipals")
            .flat_map(|g| {
                st(g, "scope")
                    .split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        for (kind, pid) in list {
            let name = pubd.name_of(kind, pid).map_or_else(
                || format!("{pid} (not published by this API)"),
                str::to_string,
            );
            let granted = match kind {
                Kind::Delegated => scope.iter().any(|s| s.eq_ignore_ascii_case(&name)),
                Kind::Application => roles_held
                    .iter()
                    .any(|r| st(r, "resourceId") == rid && st(r, "appRoleId") == pid.to_string()),
            };
            remove_opts.push((
                format!("{resource}|{}|{pid}", kind_label(kind)),
                format!(
                    "{rname}: {name} ({})",
                    kind_label(kind).to_ascii_lowercase()
                ),
            ));
            t.rows.push(vec![
                Cell::text(rname.clone()),
                Cell::text(name),
                Cell::text(kind_label(kind)),
                Cell::text(if granted { "Granted" } else { "Not granted" }),
            ]);
        }
    }
    perms.table = Some(t);
    // The picker: choose an API, then one of its permissions.
    let chosen = p
        .get("api")
        .and_then(|v| guid(v.trim()))
        .unwrap_or_default();
    let mut apis = vec![(GRAPH_APP_ID.to_string(), "Microsoft Graph".to_string())];
    let list = a
        .graph(Method::GET, "/v1.0/servicePrincipals?$top=50", None)
        .await;
    for spx in items(&list.body) {
        let pb = published(spx);
        let aid = st(spx, "appId").to_ascii_lowercase();
        if aid != GRAPH_APP_ID && (!pb.scopes.is_empty() || !pb.roles.is_empty()) {
            apis.push((aid, st(spx, "displayName")));
        }
    }
    let mut choose = Form::get(
        base,
        "Show its permissions",
        vec![Field::new("select", "api", "API")
            .value(chosen.clone())
            .options(apis)],
    );
    choose.id = "choose-api".into();
    choose.title = "Add a permission: choose an API".into();
    perms.forms.push(choose);
    if !chosen.is_empty() {
        match sp_by_app_id(a, &chosen).await {
            Ok(Some(rsp)) => {
                let pb = published(&rsp);
                let mut opts: Vec<(String, String)> = vec![];
                for (i, v) in &pb.scopes {
                    opts.push((format!("Scope:{i}"), format!("Delegated: {v}")));
                }
                for (i, v) in &pb.roles {
                    opts.push((format!("Role:{i}"), format!("Application: {v}")));
                }
                perms.forms.push(
                    Form::post(
                        "add-permission",
                        format!("{base}/permissions"),
                        &format!("Add a permission of {}", st(&rsp, "displayName")),
                        "Add permission",
                        csrf,
                    )
                    .fields(vec![
                        Field::new("hidden", "api", "API").value(chosen.clone()),
                        Field::new("select", "permission", "Permission")
                            .required()
                            .options(opts),
                    ]),
                );
            }
            Ok(None) => {
                perms.note = Some(format!(
                    "{} The API {chosen} has no service principal in this tenant, so its permissions cannot be listed.",
                    perms.note.unwrap_or_default()
                ));
            }
            Err(r) => {
                perms.note = Some(format!("Its permissions are not shown: {}", r.message()));
            }
        }
    }
    if !remove_opts.is_empty() {
        perms.forms.push(
            Form::post(
                "remove-permission",
                format!("{base}/permissions/remove"),
                "Remove a requested permission",
                "Remove permission",
                csrf,
            )
            .danger()
            .hint("Removing it from the request does not revoke a grant already made: revoke that on the enterprise application.")
            .fields(vec![Field::new("select", "which", "Permission")
                .required()
                .options(remove_opts)]),
        );
    }
    let tenant = a.session.tenant_name.clone();
    perms.forms.push(
        Form::post(
            "grant-consent",
            format!("{base}/consent"),
            &format!("Grant admin consent for {tenant}"),
            "Grant admin consent",
            csrf,
        )
        .hint("Creates the tenant-wide delegated grant and assigns the application permissions, as the admin center's button does. Application permissions of Microsoft Graph need a Privileged Role Administrator or Global Administrator."),
    );
    perms
}

fn expose_section(x: &Value, base: &str, csrf: &str) -> Section {
    let app_id = st(x, "appId");
    let mut s = Section::new("expose-api", "Expose an API");
    let uris = strings(&x["identifierUris"]);
    s.props.push((
        "Application ID URI".into(),
        if uris.is_empty() {
            "None".into()
        } else {
            uris.join(", ")
        },
    ));
    let mut t = Table::new(
        "scopes-table",
        "Scopes defined by this API",
        &["Scope", "Who can consent", "Admin consent name", "Enabled"],
        "No scopes defined.",
    );
    for r in objects(&x["api"]["oauth2PermissionScopes"]) {
        t.rows.push(vec![
            Cell::text(st(&r, "value")),
            Cell::text(if st(&r, "type") == "Admin" {
                "Admins only"
            } else {
                "Admins and users"
            }),
            Cell::text(st(&r, "adminConsentDisplayName")),
            Cell::text(st(&r, "isEnabled")),
        ]);
    }
    s.table = Some(t);
    s.forms.push(
        Form::post(
            "add-identifier-uri",
            format!("{base}/identifier-uris"),
            "Add an Application ID URI",
            "Add URI",
            csrf,
        )
        .hint("Entra's rule: api://{appId}, api://{tenant id}/…, or a URI on one of the tenant's verified domains.")
        .fields(vec![Field::new("text", "uri", "Application ID URI")
            .required()
            .value(format!("api://{app_id}"))]),
    );
    s.forms.push(
        Form::post(
            "add-scope",
            format!("{base}/scopes"),
            "Add a scope",
            "Add scope",
            csrf,
        )
        .fields(vec![
            Field::new("text", "value", "Scope name (for example access_as_user)").required(),
            Field::new("select", "type", "Who can consent")
                .value("User")
                .options(vec![
                    ("User".into(), "Admins and users".into()),
                    ("Admin".into(), "Admins only".into()),
                ]),
            Field::new(
                "text",
                "adminConsentDisplayName",
                "Admin consent display name",
            )
            .required(),
            Field::new(
                "text",
                "adminConsentDescription",
                "Admin consent description",
            ),
        ]),
    );
    s
}

fn roles_section(x: &Value, base: &str, csrf: &str) -> Section {
    let mut s = Section::new("app-roles", "App roles");
    let mut t = Table::new(
        "app-roles-table",
        "App roles",
        &["Display name", "Value", "Allowed member types", "Enabled"],
        "No app roles.",
    );
    for r in objects(&x["appRoles"]) {
        t.rows.push(vec![
            Cell::text(st(&r, "displayName")),
            Cell::text(st(&r, "value")),
            Cell::text(strings(&r["allowedMemberTypes"]).join(", ")),
            Cell::text(st(&r, "isEnabled")),
        ]);
    }
    s.table = Some(t);
    s.forms.push(
        Form::post(
            "add-app-role",
            format!("{base}/roles"),
            "Create an app role",
            "Create role",
            csrf,
        )
        .fields(vec![
            Field::new("text", "displayName", "Display name").required(),
            Field::new("text", "value", "Value (in the roles claim)").required(),
            Field::new("text", "description", "Description"),
            Field::new("select", "members", "Allowed member types")
                .value("User")
                .options(vec![
                    ("User".into(), "Users and groups".into()),
                    ("Application".into(), "Applications".into()),
                    ("Both".into(), "Both".into()),
                ]),
        ]),
    );
    s
}

/// The application as stored, for a read-modify-write (or the page saying why not).
async fn load_app(a: &mut Admin, id: &str, title: &str) -> Result<Value, Response> {
    let r = a
        .graph(Method::GET, &format!("/v1.0/applications/{id}"), None)
        .await;
    if r.ok() {
        Ok(r.body)
    } else {
        Err(a.api_error(title, &r, &format!("/admin/app-registrations/{id}")))
    }
}

async fn patch_app(a: &mut Admin, id: &str, body: Value) -> Answer {
    a.graph(
        Method::PATCH,
        &format!("/v1.0/applications/{id}"),
        Some(body),
    )
    .await
}

async fn add_secret(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let back = format!("/admin/app-registrations/{id}");
    let days: i64 = match field(&f, "days").as_str() {
        "" => 180,
        d => match d.parse::<i64>() {
            Ok(n) if (1..=730).contains(&n) => n,
            _ => {
                return bad_input(
                    &mut a,
                    "The secret was not added",
                    "The expiry must be between 1 and 730 days.",
                    &back,
                )
            }
        },
    };
    let end = castellan_wire::time::graph_datetime(now().plus_secs(days * 86_400));
    let r = a
        .graph(
            Method::POST,
            &format!("/v1.0/applications/{id}/addPassword"),
            Some(json!({"passwordCredential": {"displayName": field(&f, "displayName"), "endDateTime": end}})),
        )
        .await;
    let done = format!(
        "Secret added. Copy its value now, it is not shown again: {}",
        st(&r.body, "secretText")
    );
    after(&mut a, &r, &done, &back)
}

async fn remove_secret(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let key = guid_or_404!(field(&f, "keyId"));
    let r = a
        .graph(
            Method::POST,
            &format!("/v1.0/applications/{id}/removePassword"),
            Some(json!({"keyId": key})),
        )
        .await;
    after(
        &mut a,
        &r,
        "Secret removed.",
        &format!("/admin/app-registrations/{id}"),
    )
}

async fn add_redirect(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let back = format!("/admin/app-registrations/{id}");
    let platform = field(&f, "platform");
    let uri = field(&f, "uri");
    if !PLATFORMS.iter().any(|(k, _)| *k == platform) {
        return bad_input(
            &mut a,
            "The redirect URI was not added",
            "Choose a platform: web, spa or publicClient.",
            &back,
        );
    }
    if uri.is_empty() || uri.len() > 2048 {
        return bad_input(
            &mut a,
            "The redirect URI was not added",
            "Give a redirect URI of at most 2048 characters.",
            &back,
        );
    }
    let x = match load_app(&mut a, &id, "The redirect URI was not added").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut list = strings(&x[platform.as_str()]["redirectUris"]);
    if list.contains(&uri) {
        a.flash(format!("{uri} is already a redirect URI of this platform."));
        return Redirect::to(&back).into_response();
    }
    list.push(uri.clone());
    let r = patch_app(
        &mut a,
        &id,
        json!({ platform.as_str(): {"redirectUris": list} }),
    )
    .await;
    if !r.ok() {
        return a.api_error("The redirect URI was not added", &r, &back);
    }
    after(
        &mut a,
        &r,
        &format!("Redirect URI {uri} added ({}).", platform_label(&platform)),
        &back,
    )
}

async fn remove_redirect(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let back = format!("/admin/app-registrations/{id}");
    let which = field(&f, "which");
    let Some((platform, uri)) = which
        .split_once(' ')
        .filter(|(p, _)| PLATFORMS.iter().any(|(k, _)| k == p))
    else {
        return bad_input(
            &mut a,
            "The redirect URI was not removed",
            "Choose one of the listed redirect URIs.",
            &back,
        );
    };
    let x = match load_app(&mut a, &id, "The redirect URI was not removed").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let list = strings(&x[platform]["redirectUris"]);
    if !list.iter().any(|u| u == uri) {
        return bad_input(
            &mut a,
            "The redirect URI was not removed",
            &format!("{uri} is not a redirect URI of this platform (any more)."),
            &back,
        );
    }
    let kept: Vec<&String> = list.iter().filter(|u| *u != uri).collect();
    let r = patch_app(&mut a, &id, json!({ platform: {"redirectUris": kept} })).await;
    after(&mut a, &r, &format!("Redirect URI {uri} removed."), &back)
}

async fn add_permission(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let back = format!("/admin/app-registrations/{id}");
    let title = "The permission was not added";
    let api = guid_or_404!(field(&f, "api"));
    let perm = field(&f, "permission");
    let parsed = perm.split_once(':').and_then(|(k, v)| {
        let kind = match k {
            "Scope" => Kind::Delegated,
            "Role" => Kind::Application,
            _ => return None,
        };
        Some((kind, uuid::Uuid::parse_str(v).ok()?))
    });
    let Some((kind, pid)) = parsed else {
        return bad_input(&mut a, title, "Choose one of the API's permissions.", &back);
    };
    let rsp = match sp_by_app_id(&mut a, &api).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return bad_input(
                &mut a,
                title,
                &format!("The API {api} has no service principal in this tenant."),
                &back,
            )
        }
        Err(r) => return a.api_error(title, &r, &back),
    };
    let Some(name) = published(&rsp).name_of(kind, pid).map(str::to_string) else {
        return bad_input(
            &mut a,
            title,
            &format!(
                "{} does not publish that {} permission.",
                st(&rsp, "displayName"),
                kind_label(kind).to_ascii_lowercase()
            ),
            &back,
        );
    };
    let x = match load_app(&mut a, &id, title).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let ty = if kind == Kind::Application {
        "Role"
    } else {
        "Scope"
    };
    let mut rra = objects(&x["requiredResourceAccess"]);
    let entry = rra
        .iter_mut()
        .find(|e| st(e, "resourceAppId").eq_ignore_ascii_case(&api));
    let item = json!({"id": pid.to_string(), "type": ty});
    match entry {
        Some(e) => {
            let mut list = objects(&e["resourceAccess"]);
            if list
                .iter()
                .any(|r| st(r, "id") == pid.to_string() && st(r, "type") == ty)
            {
                a.flash(format!("{name} is already requested."));
                return Redirect::to(&back).into_response();
            }
            list.push(item);
            e["resourceAccess"] = Value::Array(list);
        }
        None => rra.push(json!({"resourceAppId": api, "resourceAccess": [item]})),
    }
    let r = patch_app(&mut a, &id, json!({"requiredResourceAccess": rra})).await;
    after(
        &mut a,
        &r,
        &format!(
            "{name} ({}) of {} added. It is not granted until admin consent (or a user's consent).",
            kind_label(kind),
            st(&rsp, "displayName")
        ),
        &back,
    )
}

/// A `resourceAppId|Delegated|id` choice of the remove form.
pub fn parse_choice(v: &str) -> Option<(String, &'static str, String)> {
    let mut p = v.splitn(3, '|');
    let res = guid(p.next()?)?;
    let ty = match p.next()? {
        "Delegated" => "Scope",
        "Application" => "Role",
        _ => return None,
    };
    Some((res, ty, guid(p.next()?)?))
}

async fn remove_permission(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let back = format!("/admin/app-registrations/{id}");
    let title = "The permission was not removed";
    let Some((res, ty, pid)) = parse_choice(&field(&f, "which")) else {
        return bad_input(
            &mut a,
            title,
            "Choose one of the requested permissions.",
            &back,
        );
    };
    let x = match load_app(&mut a, &id, title).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut found = false;
    let rra: Vec<Value> = objects(&x["requiredResourceAccess"])
        .into_iter()
        .filter_map(|mut e| {
            if !st(&e, "resourceAppId").eq_ignore_ascii_case(&res) {
                return Some(e);
            }
            let before = objects(&e["resourceAccess"]);
            let kept: Vec<Value> = before
                .iter()
                .filter(|r| !(st(r, "id").eq_ignore_ascii_case(&pid) && st(r, "type") == ty))
                .cloned()
                .collect();
            found |= kept.len() != before.len();
            if kept.is_empty() {
                return None;
            }
            e["resourceAccess"] = Value::Array(kept);
            Some(e)
        })
        .collect();
    if !found {
        return bad_input(
            &mut a,
            title,
            "That permission is not requested (any more).",
            &back,
        );
    }
    let r = patch_app(&mut a, &id, json!({"requiredResourceAccess": rra})).await;
    after(&mut a, &r, "Permission removed from the request.", &back)
}

/// "Grant admin consent": the client's service principal (created when missing), then per
/// resource the writes `app_consent::plan` names, each a Graph call Graph authorises.
async fn grant_consent(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let back = format!("/admin/app-registrations/{id}");
    let title = "Admin consent was not granted";
    let x = match load_app(&mut a, &id, title).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let wanted = requested(&x);
    if wanted.iter().all(|(_, l)| l.is_empty()) {
        return bad_input(
            &mut a,
            title,
            "This application requests no permissions: add one under API permissions first.",
            &back,
        );
    }
    let client = match sp_by_app_id(&mut a, &st(&x, "appId")).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            let r = a
                .graph(
                    Method::POST,
                    "/v1.0/servicePrincipals",
                    Some(json!({"appId": st(&x, "appId")})),
                )
                .await;
            if !r.ok() {
                return a.api_error(title, &r, &back);
            }
            r.body
        }
        Err(r) => return a.api_error(title, &r, &back),
    };
    let cid = st(&client, "id");
    let g = a
        .graph(
            Method::GET,
            &format!(
                "/v1.0/oauth2PermissionGrants?$filter={}",
                q(&format!("clientId eq '{cid}'"))
            ),
            None,
        )
        .await;
    if !g.ok() {
        return a.api_error(title, &g, &back);
    }
    let grants = items(&g.body).to_vec();
    let held = a
        .graph(
            Method::GET,
            &format!("/v1.0/servicePrincipals/{cid}/appRoleAssignments"),
            None,
        )
        .await;
    if !held.ok() {
        return a.api_error(title, &held, &back);
    }
    let held = items(&held.body).to_vec();
    let mut done: Vec<String> = vec![];
    let mut notes: Vec<String> = vec![];
    for (resource, list) in wanted.into_iter().take(MAX_RESOURCES) {
        let rsp = match sp_by_app_id(&mut a, &resource).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                notes.push(format!(
                    "{resource} has no service principal in this tenant, so nothing of it was granted"
                ));
                continue;
            }
            Err(r) => return a.api_error(title, &r, &back),
        };
        let rid = st(&rsp, "id");
        let rname = st(&rsp, "displayName");
        let pubd = published(&rsp);
        let existing = grants
            .iter()
            .find(|g| st(g, "resourceId") == rid && st(g, "consentType") == "AllPrincipals");
        let granted = Granted {
            tenant_wide_scope: existing.map(|g| st(g, "scope")),
            roles: held
                .iter()
                .filter(|h| st(h, "resourceId") == rid)
                .filter_map(|h| uuid::Uuid::parse_str(&st(h, "appRoleId")).ok())
                .collect(),
        };
        let plan = app_consent::plan(&list, &pubd, &granted);
        for (k, u) in &plan.unknown {
            notes.push(format!(
                "{rname} does not publish the {} permission {u}",
                kind_label(*k).to_ascii_lowercase()
            ));
        }
        if let Some(scope) = &plan.scope {
            // Graph has no PATCH of a grant here: the wider grant replaces the old one.
            if let Some(old) = existing {
                let r = a
                    .graph(
                        Method::DELETE,
                        &format!("/v1.0/oauth2PermissionGrants/{}", st(old, "id")),
                        None,
                    )
                    .await;
                if !r.ok() {
                    return a.api_error(title, &r, &back);
                }
            }
            let r = a
                .graph(
                    Method::POST,
                    "/v1.0/oauth2PermissionGrants",
                    Some(json!({"clientId": cid, "consentType": "AllPrincipals", "resourceId": rid, "scope": scope})),
                )
                .await;
            if !r.ok() {
                // Put the replaced grant back, so a refusal leaves what was granted before.
                if let Some(old) = existing {
                    let _ = a
                        .graph(
                            Method::POST,
                            "/v1.0/oauth2PermissionGrants",
                            Some(json!({"clientId": cid, "consentType": "AllPrincipals", "resourceId": rid, "scope": st(old, "scope")})),
                        )
                        .await;
                }
                return partial(&mut a, title, &r, &done, &back);
            }
            done.push(format!("{rname}: {scope} (delegated)"));
        }
        for role in &plan.roles {
            let r = a
                .graph(
                    Method::POST,
                    &format!("/v1.0/servicePrincipals/{cid}/appRoleAssignments"),
                    Some(json!({"principalId": cid, "resourceId": rid, "appRoleId": role.to_string()})),
                )
                .await;
            if !r.ok() {
                return partial(&mut a, title, &r, &done, &back);
            }
            let name = pubd
                .name_of(Kind::Application, *role)
                .unwrap_or_default()
                .to_string();
            done.push(format!("{rname}: {name} (application)"));
        }
    }
    let mut msg = if done.is_empty() {
        "Admin consent: everything requested was already granted.".to_string()
    } else {
        format!("Admin consent granted for {}.", done.join("; "))
    };
    if !notes.is_empty() {
        msg.push_str(&format!(" Not granted: {}.", notes.join("; ")));
    }
    a.flash(msg);
    Redirect::to(&back).into_response()
}

/// A refusal part-way through admin consent: what was granted before it, and Graph's reason.
fn partial(a: &mut Admin, title: &str, r: &Answer, done: &[String], back: &str) -> Response {
    let mut r = r.clone();
    if !done.is_empty() {
        let m = format!(
            "{} Granted before this refusal: {}.",
            r.message(),
            done.join("; ")
        );
        r.body = json!({"error": {"message": m}});
    }
    a.api_error(title, &r, back)
}

async fn add_identifier_uri(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let back = format!("/admin/app-registrations/{id}");
    let title = "The Application ID URI was not added";
    let uri = field(&f, "uri");
    if uri.is_empty() || uri.len() > 1024 {
        return bad_input(
            &mut a,
            title,
            "Give a URI of at most 1024 characters.",
            &back,
        );
    }
    let x = match load_app(&mut a, &id, title).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut uris = strings(&x["identifierUris"]);
    if !uris.contains(&uri) {
        uris.push(uri.clone());
    }
    let r = patch_app(&mut a, &id, json!({"identifierUris": uris})).await;
    after(
        &mut a,
        &r,
        &format!("Application ID URI {uri} added."),
        &back,
    )
}

/// A scope or role value: 1–120 characters, no spaces (it travels in `scp` / `roles`).
pub fn valid_value(v: &str) -> bool {
    !v.is_empty() && v.len() <= 120 && !v.chars().any(char::is_whitespace) && !v.starts_with('.')
}

async fn add_scope(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let back = format!("/admin/app-registrations/{id}");
    let title = "The scope was not added";
    let value = field(&f, "value");
    let name = field(&f, "adminConsentDisplayName");
    let ty = field(&f, "type");
    if !valid_value(&value) || name.is_empty() || !matches!(ty.as_str(), "User" | "Admin") {
        return bad_input(&mut a, title, "A scope needs a name without spaces (at most 120 characters), an admin consent display name, and who can consent (Admins and users, or Admins only).", &back);
    }
    let x = match load_app(&mut a, &id, title).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut scopes = objects(&x["api"]["oauth2PermissionScopes"]);
    if scopes.iter().any(|s| st(s, "value") == value) {
        return bad_input(
            &mut a,
            title,
            &format!("This API already defines the scope {value}."),
            &back,
        );
    }
    let desc = field(&f, "adminConsentDescription");
    scopes.push(json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "value": value,
        "type": ty,
        "isEnabled": true,
        "adminConsentDisplayName": name,
        "adminConsentDescription": if desc.is_empty() { name.clone() } else { desc },
    }));
    let mut api = json!({"oauth2PermissionScopes": scopes});
    if let Some(v) = x["api"]
        .get("requestedAccessTokenVersion")
        .filter(|v| !v.is_null())
    {
        api["requestedAccessTokenVersion"] = v.clone();
    }
    let r = patch_app(&mut a, &id, json!({ "api": api })).await;
    after(&mut a, &r, &format!("Scope {value} added."), &back)
}

async fn add_app_role(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let back = format!("/admin/app-registrations/{id}");
    let title = "The app role was not created";
    let value = field(&f, "value");
    let name = field(&f, "displayName");
    let members = match field(&f, "members").as_str() {
        "User" => vec!["User"],
        "Application" => vec!["Application"],
        "Both" => vec!["User", "Application"],
        _ => vec![],
    };
    if !valid_value(&value) || name.is_empty() || members.is_empty() {
        return bad_input(&mut a, title, "An app role needs a display name, a value without spaces (at most 120 characters) and its allowed member types.", &back);
    }
    let x = match load_app(&mut a, &id, title).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut roles = objects(&x["appRoles"]);
    if roles.iter().any(|r| st(r, "value") == value) {
        return bad_input(
            &mut a,
            title,
            &format!("This application already has an app role with the value {value}."),
            &back,
        );
    }
    let desc = field(&f, "description");
    roles.push(json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "value": value,
        "displayName": name,
        "description": if desc.is_empty() { name.clone() } else { desc },
        "allowedMemberTypes": members,
        "isEnabled": true,
    }));
    let r = patch_app(&mut a, &id, json!({ "appRoles": roles })).await;
    after(&mut a, &r, &format!("App role {name} created."), &back)
}

async fn add_owner(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let back = format!("/admin/app-registrations/{id}");
    let who = field(&f, "owner");
    let owner = match resolve_principal(&mut a, &who).await {
        Ok(o) => o,
        Err(r) => return a.api_error("The owner was not added", &r, &back),
    };
    let r = a
        .graph(
            Method::POST,
            &format!("/v1.0/applications/{id}/owners/$ref"),
            Some(object_ref(&owner)),
        )
        .await;
    after(&mut a, &r, &format!("{who} is now an owner."), &back)
}

async fn remove_owner(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let owner = guid_or_404!(field(&f, "owner"));
    let r = a
        .graph(
            Method::DELETE,
            &format!("/v1.0/applications/{id}/owners/{owner}/$ref"),
            None,
        )
        .await;
    after(
        &mut a,
        &r,
        "Owner removed.",
        &format!("/admin/app-registrations/{id}"),
    )
}

async fn add_fic(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let back = format!("/admin/app-registrations/{id}");
    let mut audience = field(&f, "audience");
    if audience.is_empty() {
        audience = FIC_AUDIENCE.into();
    }
    let name = field(&f, "name");
    let r = a
        .graph(
            Method::POST,
            &format!("/v1.0/applications/{id}/federatedIdentityCredentials"),
            Some(json!({"name": name, "issuer": field(&f, "issuer"), "subject": field(&f, "subject"), "audiences": [audience]})),
        )
        .await;
    after(
        &mut a,
        &r,
        &format!("Federated credential {name} added."),
        &back,
    )
}

async fn remove_fic(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let fic = guid_or_404!(field(&f, "fic"));
    let r = a
        .graph(
            Method::DELETE,
            &format!("/v1.0/applications/{id}/federatedIdentityCredentials/{fic}"),
            None,
        )
        .await;
    after(
        &mut a,
        &r,
        "Federated credential removed.",
        &format!("/admin/app-registrations/{id}"),
    )
}

// ---------------------------------------------------------------- Enterprise application blade

/// The display name of an app role of `sp` (or "Default Access").
fn role_name(sp: &Value, role: &str) -> String {
    if role == DEFAULT_ACCESS {
        return "Default Access".into();
    }
    objects(&sp["appRoles"])
        .iter()
        .find(|r| st(r, "id") == role)
        .map_or_else(|| role.to_string(), |r| st(r, "displayName"))
}

async fn sp(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let mut a = signed_in!(s, ctx);
    let id = guid_or_404!(id);
    let r = a
        .graph(Method::GET, &format!("/v1.0/servicePrincipals/{id}"), None)
        .await;
    if !r.ok() {
        return a.api_error("Enterprise application", &r, "/admin/enterprise-apps");
    }
    let x = r.body.clone();
    let app_id = st(&x, "appId");
    let csrf = a.session.csrf.clone();
    let base = format!("/admin/enterprise-apps/{id}");
    let home = st(&x, "appOwnerOrganizationId");
    let ours = home.eq_ignore_ascii_case(&a.session.tenant);

    // Properties.
    let mut ov = Section::new("sp-props", "Properties");
    for (k, label) in [
        ("appId", "Application ID"),
        ("id", "Object ID"),
        ("servicePrincipalType", "Type"),
        ("appOwnerOrganizationId", "Home tenant"),
        ("accountEnabled", "Enabled for sign-in"),
        ("appRoleAssignmentRequired", "Assignment required"),
        ("preferredSingleSignOnMode", "Single sign-on mode"),
    ] {
        let v = st(&x, k);
        ov.props.push((
            label.into(),
            if v.is_empty() { "Not set".into() } else { v },
        ));
    }
    ov.note = Some(if ours {
        "This is this tenant's instance of the application (its service principal): who may use it here and what was granted. The application is registered in this tenant; its definition (credentials, redirect URIs, requested permissions) is the app registration.".into()
    } else {
        format!("This is this tenant's instance of the application (its service principal): who may use it here and what was granted. Its registration lives in its home tenant ({}), not here.", if home.is_empty() { "Microsoft" } else { home.as_str() })
    });
    let mut rel = vec![];
    let mut registration: Option<Value> = None;
    if ours {
        let ar = a
            .graph(
                Method::GET,
                &format!(
                    "/v1.0/applications?$filter={}",
                    q(&format!("appId eq {}", odata_string(&app_id)))
                ),
                None,
            )
            .await;
        if let Some(reg) = items(&ar.body).first() {
            rel.push((
                "App registration".to_string(),
                Cell::link(
                    st(reg, "displayName"),
                    format!("/admin/app-registrations/{}", st(reg, "id")),
                ),
            ));
            registration = Some(reg.clone());
        }
    }
    rel.push((
        "All sign-ins of this application".into(),
        Cell::link(
            "Sign-in logs",
            format!("/admin/sign-ins?appId={}", q(&app_id)),
        ),
    ));
    ov.table = Some(links("sp-links", "Related", rel));
    let mut sections = vec![ov];

    // Users and groups.
    let ar = a
        .graph(
            Method::GET,
            &format!("/v1.0/servicePrincipals/{id}/appRoleAssignedTo"),
            None,
        )
        .await;
    let mut users = if ar.ok() {
        Section::new("assigned", "Users and groups")
    } else {
        refused("assigned", "Users and groups", &ar)
    };
    let mut t = Table::new(
        "assigned-table",
        "Users and groups assigned",
        &["Principal", "Type", "App role", "Assigned"],
        "Nobody is assigned.",
    );
    let mut remove_opts = vec![];
    for w in items(&ar.body) {
        let pid = st(w, "principalId");
        let href = match st(w, "principalType").as_str() {
            "User" => Some(format!("/admin/users/{pid}")),
            "Group" => Some(format!("/admin/groups/{pid}")),
            _ => None,
        };
        let role = role_name(&x, &st(w, "appRoleId"));
        remove_opts.push((
            st(w, "id"),
            format!("{} — {role}", st(w, "principalDisplayName")),
        ));
        t.rows.push(vec![
            Cell {
                text: st(w, "principalDisplayName"),
                href,
            },
            Cell::text(st(w, "principalType")),
            Cell::text(role),
            Cell::text(st(w, "createdDateTime")),
        ]);
    }
    users.table = Some(t);
    users.forms.push(
        Form::post(
            "assignment-required",
            format!("{base}/assignment-required"),
            "Assignment required?",
            "Save",
            &csrf,
        )
        .hint("When on, only the users and groups assigned here can sign in to the application (others get AADSTS50105).")
        .fields(vec![Field::new(
            "checkbox",
            "required",
            "Require assignment",
        )
        .value(if x["appRoleAssignmentRequired"] == true {
            "true"
        } else {
            ""
        })]),
    );
    let mut role_opts = vec![(DEFAULT_ACCESS.to_string(), "Default Access".to_string())];
    for r in objects(&x["appRoles"]) {
        if strings(&r["allowedMemberTypes"])
            .iter()
            .any(|m| m == "User")
        {
            role_opts.push((st(&r, "id"), st(&r, "displayName")));
        }
    }
    users.forms.push(
        Form::post(
            "assign-user",
            format!("{base}/assign"),
            "Add a user or group",
            "Assign",
            &csrf,
        )
        .fields(vec![
            Field::new(
                "text",
                "principal",
                "User principal name, or user or group object ID",
            )
            .required(),
            Field::new("select", "appRoleId", "App role")
                .value(DEFAULT_ACCESS)
                .options(role_opts),
        ]),
    );
    if !remove_opts.is_empty() {
        users.forms.push(
            Form::post(
                "unassign-user",
                format!("{base}/assign/remove"),
                "Remove an assignment",
                "Remove assignment",
                &csrf,
            )
            .danger()
            .fields(vec![Field::new("select", "assignment", "Assignment")
                .required()
                .options(remove_opts)]),
        );
    }
    sections.push(users);

    // Permissions granted: delegated, then application.
    let mut names: HashMap<String, Value> = HashMap::new();
    let g = a
        .graph(
            Method::GET,
            &format!(
                "/v1.0/oauth2PermissionGrants?$filter={}",
                q(&format!("clientId eq '{id}'"))
            ),
            None,
        )
        .await;
    let mut grants = if g.ok() {
        Section::new("granted", "Permissions granted: delegated")
    } else {
        refused("granted", "Permissions granted: delegated", &g)
    };
    let mut t = Table::new(
        "grants-table",
        "Delegated permissions granted",
        &["API", "Consent", "Permissions"],
        "No delegated permissions granted.",
    );
    for w in items(&g.body) {
        let rid = st(w, "resourceId");
        let rsp = resource(&mut a, &mut names, &rid).await;
        t.rows.push(vec![
            Cell::link(
                rsp.as_ref()
                    .map_or_else(|| rid.clone(), |r| st(r, "displayName")),
                format!("/admin/enterprise-apps/{rid}"),
            ),
            Cell::text(if st(w, "consentType") == "AllPrincipals" {
                "Admin consent (all users)".to_string()
            } else {
                format!("User consent ({})", st(w, "principalId"))
            }),
            Cell::text(st(w, "scope")),
        ]);
    }
    grants.table = Some(t);
    sections.push(grants);
    let h = a
        .graph(
            Method::GET,
            &format!("/v1.0/servicePrincipals/{id}/appRoleAssignments"),
            None,
        )
        .await;
    let mut app_perms = if h.ok() {
        Section::new("granted-app", "Permissions granted: application")
    } else {
        refused("granted-app", "Permissions granted: application", &h)
    };
    let mut t = Table::new(
        "app-perms-table",
        "Application permissions granted",
        &["API", "Permission", "Granted"],
        "No application permissions granted.",
    );
    for w in items(&h.body) {
        let rid = st(w, "resourceId");
        let rsp = resource(&mut a, &mut names, &rid).await;
        let role = st(w, "appRoleId");
        let perm = rsp
            .as_ref()
            .and_then(|r| {
                objects(&r["appRoles"])
                    .iter()
                    .find(|x| st(x, "id") == role)
                    .map(|x| st(x, "value"))
            })
            .unwrap_or(role);
        t.rows.push(vec![
            Cell::link(
                rsp.as_ref()
                    .map_or_else(|| rid.clone(), |r| st(r, "displayName")),
                format!("/admin/enterprise-apps/{rid}"),
            ),
            Cell::text(perm),
            Cell::text(st(w, "createdDateTime")),
        ]);
    }
    app_perms.table = Some(t);
    sections.push(app_perms);

    // Sign-ins.
    let mut si = super::blades::sign_in_section(
        &mut a,
        "sp-sign-ins",
        "Sign-ins",
        &format!("appId eq '{app_id}'"),
    )
    .await;
    si.note = Some(format!(
        "{}The ten most recent; the sign-in logs filter by this application (see Related above).",
        si.note.map(|n| format!("{n} ")).unwrap_or_default()
    ));
    sections.push(si);

    if st(&x, "preferredSingleSignOnMode") == "saml" {
        sections.push(saml_section(&a, &x, registration.as_ref(), &base, &csrf));
    }
    page(
        &mut a,
        &st(&x, "displayName"),
        "/admin/enterprise-apps",
        None,
        sections,
    )
}

/// A resource service principal by object id, read once per page.
async fn resource(a: &mut Admin, cache: &mut HashMap<String, Value>, rid: &str) -> Option<Value> {
    if let Some(v) = cache.get(rid) {
        return Some(v.clone());
    }
    let g = guid(rid)?;
    let r = a
        .graph(Method::GET, &format!("/v1.0/servicePrincipals/{g}"), None)
        .await;
    if !r.ok() {
        return None;
    }
    cache.insert(rid.to_string(), r.body.clone());
    Some(r.body)
}

fn saml_section(
    a: &Admin,
    x: &Value,
    registration: Option<&Value>,
    base: &str,
    csrf: &str,
) -> Section {
    let mut s = Section::new("saml", "SAML-based sign-on");
    let entity = registration.map_or_else(
        || strings(&x["servicePrincipalNames"]),
        |r| strings(&r["identifierUris"]),
    );
    s.props.push((
        "Identifier (Entity ID)".into(),
        if entity.is_empty() {
            "None".into()
        } else {
            entity.join(", ")
        },
    ));
    s.props.push((
        "Reply URL (Assertion Consumer Service URL)".into(),
        registration.map_or_else(
            || "Set in the app registration (home tenant)".to_string(),
            |r| {
                let u = strings(&r["web"]["redirectUris"]);
                if u.is_empty() {
                    "None".into()
                } else {
                    u.join(", ")
                }
            },
        ),
    ));
    if let Some(rs) = x["samlSingleSignOnSettings"]["relayState"].as_str() {
        s.props.push(("Relay state".into(), rs.to_string()));
    }
    s.props.push((
        "App federation metadata URL".into(),
        format!(
            "{}/{}/federationmetadata/2007-06/federationmetadata.xml?appid={}",
            a.ctx.base,
            a.session.tenant,
            st(x, "appId")
        ),
    ));
    let mut t = Table::new(
        "saml-certs",
        "Token signing certificates",
        &[
            "Name",
            "Thumbprint",
            "Starts",
            "Expires",
            "Status",
            "Active",
        ],
        "No signing certificate: add one before the application can sign in with SAML.",
    );
    let active = st(x, "preferredTokenSigningKeyThumbprint");
    for c in objects(&x["keyCredentials"]) {
        if st(&c, "usage") != "Sign" {
            continue;
        }
        let thumb = st(&c, "customKeyIdentifier");
        t.rows.push(vec![
            Cell::text(st(&c, "displayName")),
            Cell::text(thumb.clone()),
            Cell::text(st(&c, "startDateTime")),
            Cell::text(st(&c, "endDateTime")),
            Cell::text(expiry_marker(&st(&c, "endDateTime"))),
            Cell::text(
                if !thumb.is_empty() && thumb.eq_ignore_ascii_case(&active) {
                    "Yes"
                } else {
                    "No"
                },
            ),
        ]);
    }
    s.table = Some(t);
    s.forms.push(
        Form::post(
            "add-signing-cert",
            format!("{base}/signing-certificate"),
            "Add a token signing certificate",
            "Create certificate",
            csrf,
        )
        .hint("A new self-signed certificate becomes the active one; give its public part to the application.")
        .fields(vec![
            Field::new("text", "displayName", "Subject (CN=…)")
                .required()
                .value("CN=Microsoft Azure Federated SSO Certificate"),
            Field::new("select", "years", "Valid for")
                .value("3")
                .options(vec![
                    ("1".into(), "1 year".into()),
                    ("2".into(), "2 years".into()),
                    ("3".into(), "3 years".into()),
                ]),
        ]),
    );
    s
}

async fn assign(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let back = format!("/admin/enterprise-apps/{id}");
    let role = guid_or_404!(field(&f, "appRoleId"));
    let who = field(&f, "principal");
    let principal = match resolve_principal(&mut a, &who).await {
        Ok(p) => p,
        Err(r) => return a.api_error("The assignment was not made", &r, &back),
    };
    let r = a
        .graph(
            Method::POST,
            &format!("/v1.0/servicePrincipals/{id}/appRoleAssignedTo"),
            Some(json!({"principalId": principal, "resourceId": id, "appRoleId": role})),
        )
        .await;
    after(&mut a, &r, &format!("{who} assigned."), &back)
}

async fn unassign(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let aid = field(&f, "assignment");
    if aid.is_empty()
        || aid.len() > 64
        || !aid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        let back = format!("/admin/enterprise-apps/{id}");
        return bad_input(
            &mut a,
            "The assignment was not removed",
            "Choose one of the listed assignments.",
            &back,
        );
    }
    let r = a
        .graph(
            Method::DELETE,
            &format!("/v1.0/servicePrincipals/{id}/appRoleAssignedTo/{aid}"),
            None,
        )
        .await;
    after(
        &mut a,
        &r,
        "Assignment removed.",
        &format!("/admin/enterprise-apps/{id}"),
    )
}

async fn assignment_required(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let on = checked(&f, "required");
    let r = a
        .graph(
            Method::PATCH,
            &format!("/v1.0/servicePrincipals/{id}"),
            Some(json!({"appRoleAssignmentRequired": on})),
        )
        .await;
    after(
        &mut a,
        &r,
        if on {
            "Assignment is now required: only assigned users and groups can sign in."
        } else {
            "Assignment is no longer required: every user of the tenant can sign in."
        },
        &format!("/admin/enterprise-apps/{id}"),
    )
}

async fn add_signing_cert(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): FormMap,
) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let id = guid_or_404!(id);
    let back = format!("/admin/enterprise-apps/{id}");
    let years: i64 = match field(&f, "years").parse() {
        Ok(n) if (1..=3).contains(&n) => n,
        _ => {
            return bad_input(
                &mut a,
                "The certificate was not created",
                "Choose a validity of 1 to 3 years.",
                &back,
            )
        }
    };
    let end = castellan_wire::time::graph_datetime(now().plus_secs(years * 365 * 86_400));
    let r = a
        .graph(
            Method::POST,
            &format!("/v1.0/servicePrincipals/{id}/addTokenSigningCertificate"),
            Some(json!({"displayName": field(&f, "displayName"), "endDateTime": end})),
        )
        .await;
    let done = format!(
        "Signing certificate created (thumbprint {}).",
        st(&r.body, "thumbprint")
    );
    after(&mut a, &r, &done, &back)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_permissions_are_read_with_their_kind() {
        let app = json!({"requiredResourceAccess": [{"resourceAppId": "00000003-0000-0000-C000-000000000000", "resourceAccess": [
            {"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"},
            {"id": "df021288-bdef-4463-88db-98f22de89214", "type": "Role"},
            {"id": "not-a-guid", "type": "Scope"}]}]});
        let r = requested(&app);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, GRAPH_APP_ID);
        assert_eq!(r[0].1.len(), 2);
        assert_eq!(r[0].1[0].0, Kind::Delegated);
        assert_eq!(r[0].1[1].0, Kind::Application);
    }

    #[test]
    fn published_skips_disabled_permissions() {
        let sp = json!({"oauth2PermissionScopes": [
            {"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "value": "User.Read"},
            {"id": "00000000-0000-0000-0000-000000000001", "value": "Old", "isEnabled": false}],
            "appRoles": []});
        let p = published(&sp);
        assert_eq!(p.scopes.len(), 1);
        assert_eq!(p.scopes[0].1, "User.Read");
    }

    #[test]
    fn remove_choices_are_guids_and_a_kind() {
        let c = parse_choice(&format!(
            "{GRAPH_APP_ID}|Delegated|e1fe6dd8-ba31-4d61-89e7-88639da4683d"
        ));
        assert_eq!(c.unwrap().1, "Scope");
        assert!(parse_choice(&format!(
            "{GRAPH_APP_ID}|Other|e1fe6dd8-ba31-4d61-89e7-88639da4683d"
        ))
        .is_none());
        assert!(parse_choice("x|Delegated|y").is_none());
        assert!(parse_choice("").is_none());
    }

    #[test]
    fn values_have_no_spaces() {
        assert!(valid_value("access_as_user"));
        assert!(!valid_value("two words"));
        assert!(!valid_value(""));
        assert!(!valid_value(&"x".repeat(121)));
    }

    #[test]
    fn markers_read_graph_dates() {
        assert_eq!(expiry_marker("2000-01-01T00:00:00Z"), "Expired");
        assert_eq!(expiry_marker("2999-01-01T00:00:00Z"), "Valid");
        assert_eq!(expiry_marker(""), "No end date");
    }
}
