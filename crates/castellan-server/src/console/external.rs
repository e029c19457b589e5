//! The External identities blade (`/admin/external-identities`): B2B guests (invite by email
//! with a redirect URL through `POST /invitations`; the guests listed with their
//! `externalUserState`), cross-tenant access settings (the default and the partners: view, add
//! a partner by tenant id, set inbound MFA trust and allow or block inbound B2B users), and
//! external OpenID Connect identity providers (list, add). All through Graph as the signed-in
//! administrator; `core::cross_tenant`, `core::invitations` and `core::external_idp` decide.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::api::{odata_string, q, Answer};
use super::blades::{after, checked, field, guid, items, page, refused, st};
use super::kit::{signed_in, signed_post};
use super::view::{Cell, Field, Form, Section, Table};
use super::{Admin, Ctx, FormMap};
use crate::state::AppState;

const CTAP: &str = "/v1.0/policies/crossTenantAccessPolicy";
const BLADE: &str = "/admin/external-identities";

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(BLADE, get(blade))
        .route(&format!("{BLADE}/invite"), post(invite))
        .route(&format!("{BLADE}/partners"), post(add_partner))
        .route(&format!("{BLADE}/inbound"), post(set_inbound))
        .route(&format!("{BLADE}/identity-providers"), post(add_idp))
}

/// The inbound B2B collaboration access of a configuration: `allowed`, `blocked`, or ``
/// (inherited from the default).
fn inbound_access(c: &Value) -> String {
    st(
        &c["b2bCollaborationInbound"]["usersAndGroups"],
        "accessType",
    )
}

fn yes_no(v: &Value) -> &'static str {
    if v == &Value::Bool(true) {
        "Yes"
    } else if v.is_null() {
        "Inherited"
    } else {
        "No"
    }
}

async fn blade(State(s): State<AppState>, ctx: Ctx) -> Response {
    let mut a = signed_in!(s, ctx);
    let csrf = a.session.csrf.clone();

    // Guests.
    let g = a
        .graph(
            Method::GET,
            &format!(
                "/v1.0/users?$top=25&$filter={}",
                q(&format!("userType eq {}", odata_string("Guest")))
            ),
            None,
        )
        .await;
    let mut guests = if g.ok() {
        Section::new("guests", "Guests (B2B collaboration)")
    } else {
        refused("guests", "Guests (B2B collaboration)", &g)
    };
    guests.note = Some("Guests are users of other organisations invited into this tenant. An invitation stays PendingAcceptance until the guest redeems it.".into());
    let mut t = Table::new(
        "guests-table",
        "Guests",
        &["Name", "Email", "Invitation state", "Since"],
        "No guests yet.",
    );
    for u in items(&g.body) {
        t.rows.push(vec![
            Cell::link(
                st(u, "displayName"),
                format!("/admin/users/{}", st(u, "id")),
            ),
            Cell::text(st(u, "mail")),
            Cell::text(st(u, "externalUserState")),
            Cell::text(st(u, "externalUserStateChangeDateTime")),
        ]);
    }
    guests.table = Some(t);
    guests.forms.push(
        Form::post(
            "invite",
            format!("{BLADE}/invite"),
            "Invite a guest",
            "Invite",
            &csrf,
        )
        .hint("The invitation's redemption link is shown on the next page, to send the guest yourself.")
        .fields(vec![
            Field::new("email", "email", "Guest's email address").required(),
            Field::new("text", "displayName", "Display name (optional)"),
            Field::new("text", "redirect", "Redirect URL after redemption (https)")
                .required()
                .value(format!("{}/", a.ctx.base)),
        ]),
    );
    let mut sections = vec![guests];

    // Cross-tenant access settings.
    let d = a.graph(Method::GET, &format!("{CTAP}/default"), None).await;
    let p = a
        .graph(Method::GET, &format!("{CTAP}/partners"), None)
        .await;
    let mut ct = if d.ok() {
        Section::new("cross-tenant", "Cross-tenant access settings")
    } else {
        refused("cross-tenant", "Cross-tenant access settings", &d)
    };
    ct.note = Some("Inbound settings decide whether users of another tenant may come in as B2B guests and whether their home tenant's MFA is trusted here; a partner's settings override the default part by part.".into());
    let mut targets = vec![("default".to_string(), "Default settings".to_string())];
    let mut t = Table::new(
        "cross-tenant-table",
        "Default and partner settings",
        &[
            "Organisation",
            "Inbound B2B users",
            "Trust MFA from their tenant",
        ],
        "No settings.",
    );
    if d.ok() {
        t.rows.push(vec![
            Cell::text("Default (every other tenant)"),
            Cell::text(inbound_access(&d.body)),
            Cell::text(yes_no(&d.body["inboundTrust"]["isMfaAccepted"])),
        ]);
    }
    for x in items(&p.body) {
        let tid = st(x, "tenantId");
        targets.push((tid.clone(), format!("Partner {tid}")));
        let acc = inbound_access(x);
        t.rows.push(vec![
            Cell::text(format!("Partner {tid}")),
            Cell::text(if acc.is_empty() {
                "Inherited".into()
            } else {
                acc
            }),
            Cell::text(yes_no(&x["inboundTrust"]["isMfaAccepted"])),
        ]);
    }
    ct.table = Some(t);
    ct.forms.push(
        Form::post(
            "add-partner",
            format!("{BLADE}/partners"),
            "Add an organisation",
            "Add partner",
            &csrf,
        )
        .fields(vec![Field::new("text", "tenantId", "Tenant ID").required()]),
    );
    ct.forms.push(
        Form::post(
            "inbound",
            format!("{BLADE}/inbound"),
            "Inbound settings",
            "Save inbound settings",
            &csrf,
        )
        .fields(vec![
            Field::new("select", "target", "Organisation")
                .value("default")
                .options(targets),
            Field::new("select", "access", "Inbound B2B users")
                .value("allowed")
                .options(vec![
                    ("allowed".into(), "Allow".into()),
                    ("blocked".into(), "Block".into()),
                    (
                        "inherit".into(),
                        "Inherit from default (partners only)".into(),
                    ),
                ]),
            Field::new(
                "checkbox",
                "mfa",
                "Trust multifactor authentication from their tenant",
            ),
        ]),
    );
    sections.push(ct);

    // Identity providers.
    let i = a
        .graph(Method::GET, "/v1.0/identity/identityProviders", None)
        .await;
    let mut idp = if i.ok() {
        Section::new("identity-providers", "Identity providers")
    } else {
        refused("identity-providers", "Identity providers", &i)
    };
    idp.note = Some("Guests whose email domain is served by an external OpenID Connect provider sign in there instead of with a one-time passcode.".into());
    let mut t = Table::new(
        "idp-table",
        "External identity providers",
        &["Name", "Issuer", "Client ID", "Domains"],
        "No external identity providers.",
    );
    for x in items(&i.body) {
        let domains: Vec<String> = x["domains"]
            .as_array()
            .map(|d| d.iter().map(|v| st(v, "id")).collect())
            .unwrap_or_default();
        t.rows.push(vec![
            Cell::text(st(x, "displayName")),
            Cell::text(st(x, "issuer")),
            Cell::text(st(x, "clientId")),
            Cell::text(domains.join(", ")),
        ]);
    }
    idp.table = Some(t);
    idp.forms.push(
        Form::post(
            "add-idp",
            format!("{BLADE}/identity-providers"),
            "Add an OpenID Connect provider",
            "Add provider",
            &csrf,
        )
        .fields(vec![
            Field::new("text", "displayName", "Name").required(),
            Field::new(
                "text",
                "issuer",
                "Issuer (https, as its discovery document states it)",
            )
            .required(),
            Field::new("text", "clientId", "Client ID").required(),
            Field::new("password", "clientSecret", "Client secret").required(),
            Field::new(
                "text",
                "domains",
                "Email domains it serves (comma-separated)",
            )
            .required(),
        ]),
    );
    sections.push(idp);
    page(&mut a, "External identities", BLADE, None, sections)
}

fn bad(a: &mut Admin, title: &str, m: &str) -> Response {
    let r = Answer {
        status: StatusCode::BAD_REQUEST,
        body: json!({"error": {"message": m}}),
    };
    a.api_error(title, &r, BLADE)
}

async fn invite(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let mut body = json!({
        "invitedUserEmailAddress": field(&f, "email"),
        "inviteRedirectUrl": field(&f, "redirect"),
        "sendInvitationMessage": false,
    });
    let name = field(&f, "displayName");
    if !name.is_empty() {
        body["invitedUserDisplayName"] = json!(name);
    }
    let r = a.graph(Method::POST, "/v1.0/invitations", Some(body)).await;
    let done = format!(
        "Invitation created for {}. Send the guest this redemption link: {}",
        field(&f, "email"),
        st(&r.body, "inviteRedeemUrl")
    );
    after(&mut a, &r, &done, BLADE)
}

async fn add_partner(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let Some(tid) = guid(&field(&f, "tenantId")) else {
        return bad(
            &mut a,
            "The organisation was not added",
            "A tenant ID is a GUID, for example 72f988bf-86f1-41af-91ab-2d7cd011db47.",
        );
    };
    let r = a
        .graph(
            Method::POST,
            &format!("{CTAP}/partners"),
            Some(json!({"tenantId": tid})),
        )
        .await;
    after(
        &mut a,
        &r,
        &format!("Partner {tid} added; it follows the default settings until you change them."),
        BLADE,
    )
}

/// The inbound B2B setting for `access` (`allowed` / `blocked`), users and applications alike.
pub fn inbound_setting(access: &str) -> Value {
    json!({
        "usersAndGroups": {"accessType": access, "targets": [{"target": "AllUsers", "targetType": "user"}]},
        "applications": {"accessType": access, "targets": [{"target": "AllApplications", "targetType": "application"}]},
    })
}

async fn set_inbound(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let title = "The inbound settings were not saved";
    let target = field(&f, "target");
    let path = if target == "default" {
        format!("{CTAP}/default")
    } else if let Some(t) = guid(&target) {
        format!("{CTAP}/partners/{t}")
    } else {
        return bad(
            &mut a,
            title,
            "Choose the default settings or one of the partners.",
        );
    };
    let access = field(&f, "access");
    let setting = match access.as_str() {
        "allowed" | "blocked" => inbound_setting(&access),
        "inherit" if target != "default" => Value::Null,
        "inherit" => {
            return bad(
                &mut a,
                title,
                "The default settings cannot inherit: choose Allow or Block.",
            )
        }
        _ => return bad(&mut a, title, "Choose Allow, Block or Inherit."),
    };
    let r = a
        .graph(
            Method::PATCH,
            &path,
            Some(json!({
                "b2bCollaborationInbound": setting,
                "inboundTrust": {"isMfaAccepted": checked(&f, "mfa")},
            })),
        )
        .await;
    if r.ok() {
        a.flash(format!(
            "Inbound settings saved for {}.",
            if target == "default" {
                "the default".to_string()
            } else {
                format!("partner {target}")
            }
        ));
        return Redirect::to(BLADE).into_response();
    }
    a.api_error(title, &r, BLADE)
}

/// The `domains` of an identity provider from a comma-separated list.
pub fn domain_list(s: &str) -> Vec<Value> {
    s.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .take(50)
        .map(|d| json!({"id": d.to_ascii_lowercase()}))
        .collect()
}

async fn add_idp(State(s): State<AppState>, ctx: Ctx, axum::Form(f): FormMap) -> Response {
    let mut a = signed_post!(s, ctx, f);
    let domains = domain_list(&field(&f, "domains"));
    if domains.is_empty() {
        return bad(
            &mut a,
            "The identity provider was not added",
            "Name at least one email domain the provider serves (for example fabrikam.com).",
        );
    }
    let name = field(&f, "displayName");
    let r = a
        .graph(
            Method::POST,
            "/v1.0/identity/identityProviders",
            Some(json!({
                "@odata.type": castellan_core::external_idp::ODATA_TYPE,
                "displayName": name,
                "issuer": field(&f, "issuer"),
                "clientId": field(&f, "clientId"),
                "clientSecret": field(&f, "clientSecret"),
                "domains": domains,
            })),
        )
        .await;
    after(
        &mut a,
        &r,
        &format!("Identity provider {name} added."),
        BLADE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_split_trimmed_and_bounded() {
        assert_eq!(
            domain_list(" Fabrikam.com, ,contoso.test "),
            vec![json!({"id": "fabrikam.com"}), json!({"id": "contoso.test"})]
        );
        assert!(domain_list(" , ").is_empty());
        assert_eq!(domain_list(&"a.test,".repeat(80)).len(), 50);
    }

    #[test]
    fn inbound_settings_cover_users_and_applications() {
        let v = inbound_setting("blocked");
        assert_eq!(v["usersAndGroups"]["accessType"], "blocked");
        assert_eq!(v["applications"]["accessType"], "blocked");
        assert_eq!(
            inbound_access(&json!({"b2bCollaborationInbound": v})),
            "blocked"
        );
    }
}
