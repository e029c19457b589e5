//! `serve --demo`: seeds a demo tenant on first start and writes `<data-dir>/demo.json` with
//! the keys the design lists (and a few more). On later starts the file is kept and its URLs
//! are refreshed for the current port.

use std::path::Path;

use castellan_core::audit::Actor;
use castellan_core::catalog;
use castellan_core::model::LicenseTier;
use castellan_core::ops::applications::{self, ApplicationInput};
use castellan_core::ops::groups::{self, GroupInput};
use castellan_core::ops::service_principals;
use castellan_core::ops::tenants::{self, NewTenant};
use castellan_core::ops::users::{self, UserInput};
use castellan_core::ops::{arm, managed_identity, Entropy};
use castellan_core::ops::{Env, Field};
use serde_json::{json, Value};

use crate::crypto::{random_secret, OsEntropy};
use crate::keys::anyhow_lite;
use crate::state::{now, AppState};

/// The Graph application permissions the demo confidential client holds.
pub const DEMO_APP_PERMISSIONS: &[&str] = &[
    "Directory.ReadWrite.All",
    "Application.ReadWrite.All",
    "RoleManagement.ReadWrite.Directory",
    "AuditLog.Read.All",
    "Policy.ReadWrite.ConditionalAccess",
    "Policy.ReadWrite.CrossTenantAccess",
    "Policy.Read.All",
    "IdentityRiskyUser.ReadWrite.All",
    "Device.ReadWrite.All",
    "IdentityRiskEvent.Read.All",
    "Domain.ReadWrite.All",
    "PrivilegedAccess.ReadWrite.AzureADGroup",
    "RoleManagementPolicy.ReadWrite.AzureADGroup",
];

fn e(x: impl std::fmt::Display) -> anyhow_lite::Error {
    anyhow_lite::err(format!("seeding the demo tenant failed: {x}"))
}

fn arm_e(x: castellan_core::ops::arm::ArmError) -> anyhow_lite::Error {
    e(format!("{}: {}", x.code, x.message))
}

fn strong_password() -> String {
    format!("Demo-{}-1a", random_secret().replace('~', "x"))
}

/// Seeds (first start) or refreshes (later starts) the demo tenant and `demo.json`.
pub async fn ensure(s: &AppState, data_dir: &Path) -> anyhow_lite::Result<Value> {
    let path = data_dir.join("demo.json");
    let origin = s.origins.canonical.clone();
    // Graph's base: its own port (`--graph-port`) or `/graph/` — also its token resource, so
    // clients that derive the resource from the Graph URL (the Azure CLI) get a Graph token.
    let graph_base = s.origins.graph_base(&origin);
    let ca = data_dir.join("tls").join("ca.pem");
    let ca = std::fs::canonicalize(&ca).unwrap_or(ca);
    if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(e)?;
        let mut v: Value = serde_json::from_str(&text).map_err(|x| {
            e(format!(
                "{} is not valid JSON ({x}); delete it and the data dir to reseed",
                path.display()
            ))
        })?;
        let tid = v["tenant_id"].as_str().unwrap_or_default().to_string();
        if castellan_core::TenantId::parse(&tid).is_some() {
            v["authority"] = json!(format!("{origin}/{tid}"));
            v["graph_url"] = json!(format!("{graph_base}/v1.0"));
            v["graph_resource"] = json!(format!("{graph_base}/"));
            v["ca_file"] = json!(ca.display().to_string());
            v["origin"] = json!(origin);
            v["arm_url"] = json!(origin);
            if let (Some(acct), Some(c), Some(b)) = (
                v["storage"]["account"].as_str().map(str::to_string),
                v["storage"]["container"].as_str().map(str::to_string),
                v["storage"]["blob"].as_str().map(str::to_string),
            ) {
                v["storage"]["blob_url"] = json!(format!("{origin}/sample/blob/{acct}/{c}/{b}"));
            }
            if v["web_app"]["env"].is_object() {
                v["web_app"]["env"]["IDENTITY_ENDPOINT"] = json!(format!("{origin}/msi/token"));
            }
            if let Some(fab) = v["second_tenant"]["tenant_id"].as_str().map(str::to_string) {
                v["second_tenant"]["authority"] = json!(format!("{origin}/{fab}"));
            }
            crate::keys::write_secret_file(
                &path,
                serde_json::to_string_pretty(&v).map_err(e)?.as_bytes(),
            )?;
            return Ok(v);
        }
    }
    let mut ent = OsEntropy;
    let mut env = Env {
        store: s.store.as_ref(),
        now: now(),
        entropy: &mut ent,
        hasher: &s.hasher,
        actor: Actor::Operator,
        correlation_id: "demo-seed".into(),
    };
    let admin_pw = strong_password();
    let created = tenants::create(
        &mut env,
        NewTenant {
            name: "demo".into(),
            display_name: Some("Castellan Demo".into()),
            domain_suffix: s.config.domain_suffix.clone(),
            license: LicenseTier::P2,
            admin_upn: "admin".into(),
            admin_password: admin_pw.clone(),
        },
    )
    .await
    .map_err(e)?;
    // Security defaults are on for new tenants; the demo turns them off (audited like any
    // change) so custom Conditional Access policies can be created and enabled at once.
    let t = castellan_core::ops::conditional_access::set_security_defaults(
        &mut env,
        &created.tenant,
        false,
        &[],
    )
    .await
    .map_err(e)?;
    let domain = t.initial_domain().to_string();
    let user_pw = strong_password();
    let person = |display: &str, alias: &str, dept: &str, title: &str, pw: &str| UserInput {
        display_name: Field::Value(display.into()),
        user_principal_name: Field::Value(format!("{alias}@{domain}")),
        given_name: Field::Value(display.split(' ').next().unwrap_or(display).into()),
        surname: Field::Value(display.split(' ').nth(1).unwrap_or("").into()),
        department: Field::Value(dept.into()),
        job_title: Field::Value(title.into()),
        mail: Field::Value(format!("{alias}@{domain}")),
        account_enabled: Field::Value(true),
        password: Field::Value(pw.into()),
        ..Default::default()
    };
    let user = users::create(
        &mut env,
        &t,
        person(
            "Alex Wilber",
            "alex",
            "Engineering",
            "Software Engineer",
            &user_pw,
        ),
    )
    .await
    .map_err(e)?;
    let others = [
        ("Megan Bowen", "megan", "Engineering", "Engineering Manager"),
        ("Lee Gu", "lee", "Engineering", "Site Reliability Engineer"),
        ("Diego Siciliani", "diego", "Sales", "Account Executive"),
        ("Isaiah Langer", "isaiah", "Sales", "Sales Manager"),
        ("Nestor Wilke", "nestor", "Finance", "Controller"),
        ("Patti Fernandez", "patti", "Finance", "Financial Analyst"),
    ];
    let mut people = Vec::new();
    for (d, a, dept, title) in others {
        people.push(
            users::create(&mut env, &t, person(d, a, dept, title, &strong_password()))
                .await
                .map_err(e)?,
        );
    }
    let group = |name: &str, nick: &str, desc: &str| GroupInput {
        display_name: Field::Value(name.into()),
        description: Field::Value(desc.into()),
        mail_enabled: Field::Value(false),
        security_enabled: Field::Value(true),
        mail_nickname: Field::Value(nick.into()),
        ..Default::default()
    };
    let all = groups::create(
        &mut env,
        &t,
        group(
            "All Staff",
            "allstaff",
            "Everyone; contains the department groups",
        ),
    )
    .await
    .map_err(e)?;
    let eng = groups::create(
        &mut env,
        &t,
        group("Engineering", "engineering", "Engineering department"),
    )
    .await
    .map_err(e)?;
    let sre = groups::create(
        &mut env,
        &t,
        group("SRE", "sre", "Site reliability, nested in Engineering"),
    )
    .await
    .map_err(e)?;
    let sales = groups::create(&mut env, &t, group("Sales", "sales", "Sales department"))
        .await
        .map_err(e)?;
    let finance = groups::create(
        &mut env,
        &t,
        group("Finance", "finance", "Finance department"),
    )
    .await
    .map_err(e)?;
    for g in [&eng, &sales, &finance] {
        groups::add_member(&mut env, &t, &all.id.to_string(), g.id)
            .await
            .map_err(e)?;
    }
    groups::add_member(&mut env, &t, &eng.id.to_string(), sre.id)
        .await
        .map_err(e)?;
    groups::add_member(&mut env, &t, &eng.id.to_string(), user.id)
        .await
        .map_err(e)?;
    for p in &people {
        let g = match p.department.as_deref() {
            Some("Engineering") if p.job_title.as_deref() == Some("Site Reliability Engineer") => {
                &sre
            }
            Some("Engineering") => &eng,
            Some("Sales") => &sales,
            _ => &finance,
        };
        groups::add_member(&mut env, &t, &g.id.to_string(), p.id)
            .await
            .map_err(e)?;
    }
    if let Some(m) = people.first() {
        users::set_manager(&mut env, &t, &user.id.to_string(), Some(m.id))
            .await
            .map_err(e)?;
    }

    let redirect = "https://localhost:44321/signin-oidc".to_string();
    let conf = applications::create(
        &mut env,
        &t,
        ApplicationInput {
            display_name: Field::Value("Castellan Demo Web App".into()),
            web_redirect_uris: Field::Value(vec![redirect.clone()]),
            ..Default::default()
        },
    )
    .await
    .map_err(e)?;
    let secret = applications::add_password(
        &mut env,
        &t,
        &conf.id.to_string(),
        Some("demo".into()),
        None,
    )
    .await
    .map_err(e)?;
    let conf_sp = service_principals::create(&mut env, &t, &conf.app_id.to_string())
        .await
        .map_err(e)?;
    let graph_sp = s
        .store
        .service_principal_by_app_id(t.id, castellan_core::ids::GRAPH_APP_ID)
        .await
        .map_err(e)?
        .ok_or_else(|| e("the Graph service principal is missing"))?;
    let graph = catalog::graph();
    for p in DEMO_APP_PERMISSIONS {
        let role = graph
            .app_roles
            .iter()
            .find(|r| r.value == *p)
            .ok_or_else(|| e(format!("{p} not in the catalogue")))?;
        service_principals::assign_app_role(&mut env, &t, conf_sp.id, graph_sp.id, role.id)
            .await
            .map_err(e)?;
    }
    service_principals::grant_delegated(&mut env, &t, &conf_sp, &graph_sp, "User.Read")
        .await
        .map_err(e)?;
    let public = applications::create(
        &mut env,
        &t,
        ApplicationInput {
            display_name: Field::Value("Castellan Demo CLI".into()),
            public_client_redirect_uris: Field::Value(vec!["http://localhost".into()]),
            is_fallback_public_client: Field::Value(true),
            ..Default::default()
        },
    )
    .await
    .map_err(e)?;
    let public_sp = service_principals::create(&mut env, &t, &public.app_id.to_string())
        .await
        .map_err(e)?;
    service_principals::grant_delegated(
        &mut env,
        &t,
        &public_sp,
        &graph_sp,
        "User.Read openid profile email offline_access",
    )
    .await
    .map_err(e)?;
    service_principals::grant_delegated(&mut env, &t, &public_sp, &graph_sp, "User.ReadWrite.All")
        .await
        .map_err(e)?;

    // An API: a user-consentable scope, an admin-only scope and an app role.
    let scope = |env: &mut Env<'_>, value: &str, admin: bool, what: &str| {
        castellan_core::model::PermissionScope {
            id: env.new_id().uuid(),
            value: value.into(),
            consent_type: if admin { "Admin" } else { "User" }.into(),
            is_enabled: true,
            admin_consent_display_name: Some(what.into()),
            admin_consent_description: Some(what.into()),
            user_consent_display_name: Some(what.into()),
            user_consent_description: Some(what.into()),
        }
    };
    let orders_scopes = vec![
        scope(&mut env, "Orders.Read", false, "Read your orders"),
        scope(
            &mut env,
            "Orders.ReadWrite.All",
            true,
            "Read and write all orders",
        ),
    ];
    let manage = castellan_core::model::AppRole {
        id: env.new_id().uuid(),
        value: "Orders.Manage".into(),
        display_name: "Manage orders".into(),
        description: "Manage every order (daemons and administrators).".into(),
        allowed_member_types: vec!["User".into(), "Application".into()],
        is_enabled: true,
    };
    let api = applications::create(
        &mut env,
        &t,
        ApplicationInput {
            display_name: Field::Value("Orders API".into()),
            oauth2_permission_scopes: Field::Value(orders_scopes),
            app_roles: Field::Value(vec![manage]),
            ..Default::default()
        },
    )
    .await
    .map_err(e)?;
    let api_uri = format!("api://{}", api.app_id);
    applications::update(
        &mut env,
        &t,
        &api.id.to_string(),
        ApplicationInput {
            identifier_uris: Field::Value(vec![api_uri.clone()]),
            ..Default::default()
        },
    )
    .await
    .map_err(e)?;
    service_principals::create(&mut env, &t, &api.app_id.to_string())
        .await
        .map_err(e)?;

    // A multi-tenant web app, consented nowhere but here.
    let mt_redirect = "https://localhost:44322/signin-oidc".to_string();
    let mt = applications::create(
        &mut env,
        &t,
        ApplicationInput {
            display_name: Field::Value("Castellan Demo Multi-tenant App".into()),
            sign_in_audience: Field::Value(
                castellan_core::model::SignInAudience::AzureAdMultipleOrgs,
            ),
            web_redirect_uris: Field::Value(vec![mt_redirect.clone()]),
            ..Default::default()
        },
    )
    .await
    .map_err(e)?;
    let mt_secret =
        applications::add_password(&mut env, &t, &mt.id.to_string(), Some("demo".into()), None)
            .await
            .map_err(e)?;
    service_principals::create(&mut env, &t, &mt.app_id.to_string())
        .await
        .map_err(e)?;

    // The resource plane: a subscription under the root management group, a resource group,
    // a storage account with a container and one blob (served by the sample data plane), a web
    // app whose system-assigned identity reads that container, and the sample blob store's own
    // application (Reader, so it may ask check-access about its callers).
    let plat = arm::ArmCaller::platform(t.clone());
    let sub_guid = uuid::Builder::from_random_bytes(env.entropy.bytes16()).into_uuid();
    let sub_id = format!("/subscriptions/{sub_guid}");
    let put = |name: Option<&str>, location: Option<&str>, system: bool| arm::PutResource {
        display_name: name.map(str::to_string),
        location: location.map(str::to_string),
        system_assigned: system,
        identity_given: system,
        ..Default::default()
    };
    arm::put_resource(
        &mut env,
        &plat,
        &sub_id,
        put(Some("Castellan Demo Subscription"), None, false),
    )
    .await
    .map_err(arm_e)?;
    let rg_name = "demo-rg";
    let rg_id = format!("{sub_id}/resourceGroups/{rg_name}");
    arm::put_resource(
        &mut env,
        &plat,
        &rg_id,
        put(None, Some("westeurope"), false),
    )
    .await
    .map_err(arm_e)?;
    let account = "castellandemo";
    let account_id = format!("{rg_id}/providers/Microsoft.Storage/storageAccounts/{account}");
    arm::put_resource(
        &mut env,
        &plat,
        &account_id,
        put(None, Some("westeurope"), false),
    )
    .await
    .map_err(arm_e)?;
    let container_id = format!("{account_id}/blobServices/default/containers/docs");
    arm::put_resource(&mut env, &plat, &container_id, put(None, None, false))
        .await
        .map_err(arm_e)?;
    let web_id = format!("{rg_id}/providers/Microsoft.Web/sites/castellan-demo-web");
    let (web, _) = arm::put_resource(
        &mut env,
        &plat,
        &web_id,
        put(None, Some("westeurope"), true),
    )
    .await
    .map_err(arm_e)?;
    let web_principal = web
        .identity
        .system_assigned
        .ok_or_else(|| e("the web app has no identity"))?;
    let role_id = |name: &str| {
        castellan_core::azure_rbac::built_in_by_name(name)
            .map(|r| {
                format!(
                    "/providers/Microsoft.Authorization/roleDefinitions/{}",
                    r.id
                )
            })
            .ok_or_else(|| e(format!("built-in role {name} missing")))
    };
    let assign = |principal: String, role: String| arm::PutAssignment {
        role_definition_id: role,
        principal_id: principal,
        ..Default::default()
    };
    let guid = || uuid::Builder::from_random_bytes(OsEntropy.bytes16()).into_uuid();
    arm::put_assignment(
        &mut env,
        &plat,
        &container_id,
        guid(),
        assign(
            web_principal.to_string(),
            role_id("Storage Blob Data Reader")?,
        ),
    )
    .await
    .map_err(arm_e)?;
    arm::put_assignment(
        &mut env,
        &plat,
        &sub_id,
        guid(),
        assign(conf_sp.id.to_string(), role_id("Owner")?),
    )
    .await
    .map_err(arm_e)?;
    let blob_app = applications::create(
        &mut env,
        &t,
        ApplicationInput {
            display_name: Field::Value("Castellan Sample Blob Store".into()),
            ..Default::default()
        },
    )
    .await
    .map_err(e)?;
    let blob_secret = applications::add_password(
        &mut env,
        &t,
        &blob_app.id.to_string(),
        Some("check-access".into()),
        None,
    )
    .await
    .map_err(e)?;
    let blob_sp = service_principals::create(&mut env, &t, &blob_app.app_id.to_string())
        .await
        .map_err(e)?;
    arm::put_assignment(
        &mut env,
        &plat,
        &sub_id,
        guid(),
        assign(blob_sp.id.to_string(), role_id("Reader")?),
    )
    .await
    .map_err(arm_e)?;
    let (_, web_secret) = managed_identity::issue_secret(&mut env, &plat, &web_id)
        .await
        .map_err(arm_e)?;
    // The demo CLI (public client) may call ARM and Storage for its users (RBAC decides what
    // they may touch).
    for app_id in [catalog::ARM_APP_ID, catalog::STORAGE_APP_ID] {
        let res = s
            .store
            .service_principal_by_app_id(t.id, app_id)
            .await
            .map_err(e)?
            .ok_or_else(|| {
                e(format!(
                    "the built-in service principal {app_id} is missing"
                ))
            })?;
        service_principals::grant_delegated(&mut env, &t, &public_sp, &res, "user_impersonation")
            .await
            .map_err(e)?;
    }
    // Conditional Access: a trusted "Office" named location and a report-only example policy
    // (nothing enforced: the demo must work out of the box).
    let office = castellan_core::policy::NamedLocation {
        id: env.new_id(),
        display_name: "Office (demo)".into(),
        kind: castellan_core::policy::NamedLocationKind::Ip {
            ranges: vec![castellan_core::policy::parse_cidr("10.20.0.0/16").map_err(e)?],
            is_trusted: true,
        },
    };
    let office_doc =
        castellan_wire::graph::conditional_access::render_named_location(&office, "", "")
            .to_string();
    castellan_core::ops::conditional_access::put_named_location(&mut env, &t, &office, office_doc)
        .await
        .map_err(e)?;
    let example = serde_json::json!({
        "displayName": "Require MFA outside the office (report-only example)",
        "state": "enabledForReportingButNotEnforced",
        "conditions": {
            "users": {"includeUsers": ["All"], "excludeUsers": [created.admin.id.to_string()]},
            "applications": {"includeApplications": ["All"]},
            "clientAppTypes": ["all"],
            "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    });
    let policy_id = env.new_id();
    let policy = castellan_wire::graph::conditional_access::parse_policy(&example, policy_id)
        .map_err(|x| e(x.message))?;
    let policy_doc =
        castellan_wire::graph::conditional_access::render_policy(&policy, "", "").to_string();
    castellan_core::ops::conditional_access::put_policy(
        &mut env, &t, &policy, None, policy_doc, false,
    )
    .await
    .map_err(e)?;
    let blob_dir = data_dir.join("sample-blobs").join(account).join("docs");
    std::fs::create_dir_all(&blob_dir).map_err(e)?;
    std::fs::write(
        blob_dir.join("hello.txt"),
        b"Hello from Castellan's sample blob store.\n",
    )
    .map_err(e)?;

    // A second tenant with its own administrator and user.
    let fab_admin_pw = strong_password();
    let mut fab = tenants::create(
        &mut env,
        NewTenant {
            name: "fabrikam".into(),
            display_name: Some("Fabrikam".into()),
            domain_suffix: s.config.domain_suffix.clone(),
            license: LicenseTier::P2,
            admin_upn: "admin".into(),
            admin_password: fab_admin_pw.clone(),
        },
    )
    .await
    .map_err(e)?;
    // Off here too: the demo's second tenant is for multi-tenant sign-ins, not MFA set-up.
    fab.tenant = castellan_core::ops::conditional_access::set_security_defaults(
        &mut env,
        &fab.tenant,
        false,
        &[],
    )
    .await
    .map_err(e)?;
    let fab_domain = fab.tenant.initial_domain().to_string();
    let fab_user_pw = strong_password();
    let fab_user = users::create(
        &mut env,
        &fab.tenant,
        UserInput {
            display_name: Field::Value("Ben Walters".into()),
            user_principal_name: Field::Value(format!("ben@{fab_domain}")),
            account_enabled: Field::Value(true),
            password: Field::Value(fab_user_pw.clone()),
            ..Default::default()
        },
    )
    .await
    .map_err(e)?;

    let v = json!({
        "authority": format!("{origin}/{}", t.id),
        "origin": origin,
        "tenant_id": t.id.to_string(),
        "domain": domain,
        "graph_url": format!("{graph_base}/v1.0"),
        "graph_resource": format!("{graph_base}/"),
        "ca_file": ca.display().to_string(),
        "admin": {"upn": created.admin.user_principal_name, "password": admin_pw, "id": created.admin.id.to_string()},
        "user": {"upn": user.user_principal_name, "password": user_pw, "id": user.id.to_string()},
        "confidential_client": {
            "app_id": conf.app_id.to_string(), "object_id": conf.id.to_string(), "service_principal_id": conf_sp.id.to_string(),
            "secret": secret.secret_text.expose(), "redirect_uri": redirect, "app_permissions": DEMO_APP_PERMISSIONS, "delegated_grants": ["User.Read"],
        },
        "public_client": {"app_id": public.app_id.to_string(), "object_id": public.id.to_string(), "service_principal_id": public_sp.id.to_string(), "redirect_uri": "http://localhost", "delegated_grants": ["User.Read", "openid", "profile", "email", "offline_access"]},
        "api_app": {"app_id": api.app_id.to_string(), "object_id": api.id.to_string(), "identifier_uri": api_uri, "scopes": ["Orders.Read", "Orders.ReadWrite.All"], "app_roles": ["Orders.Manage"]},
        "multi_tenant_app": {"app_id": mt.app_id.to_string(), "object_id": mt.id.to_string(), "secret": mt_secret.secret_text.expose(), "redirect_uri": mt_redirect},
        "second_tenant": {
            "tenant_id": fab.tenant.id.to_string(), "domain": fab_domain, "authority": format!("{origin}/{}", fab.tenant.id),
            "admin": {"upn": fab.admin.user_principal_name, "password": fab_admin_pw, "id": fab.admin.id.to_string()},
            "user": {"upn": fab_user.user_principal_name, "password": fab_user_pw, "id": fab_user.id.to_string()},
        },
        "arm_url": origin,
        "subscription_id": sub_guid.to_string(),
        "subscription_scope": sub_id,
        "resource_group": rg_name,
        "resource_group_scope": rg_id,
        "storage": {
            "account": account,
            "account_scope": account_id,
            "container": "docs",
            "container_scope": container_id,
            "blob": "hello.txt",
            "blob_url": format!("{origin}/sample/blob/{account}/docs/hello.txt"),
        },
        "web_app": {
            "resource_id": web_id,
            "principal_id": web_principal.to_string(),
            "env": {"IDENTITY_ENDPOINT": format!("{origin}/msi/token"), "IDENTITY_HEADER": web_secret},
        },
        "conditional_access": {"office_location_id": office.id.to_string(), "example_policy_id": policy_id.to_string()},
        "blob_store_app": {"app_id": blob_app.app_id.to_string(), "secret": blob_secret.secret_text.expose(), "service_principal_id": blob_sp.id.to_string()},
        "groups": {"all_staff": all.id.to_string(), "engineering": eng.id.to_string(), "sre": sre.id.to_string(), "sales": sales.id.to_string(), "finance": finance.id.to_string()},
    });
    crate::keys::write_secret_file(
        &path,
        serde_json::to_string_pretty(&v).map_err(e)?.as_bytes(),
    )?;
    Ok(v)
}
