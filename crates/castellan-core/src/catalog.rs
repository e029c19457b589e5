//! Built-in resource applications and their permissions, loaded from data (never retyped):
//! Microsoft Graph's app roles and delegated scopes with Microsoft's real GUIDs, from
//! `data/graph-permissions.tsv` (a copy of `shared/reference/graph-permissions.tsv`); and
//! Microsoft's first-party public clients (the Azure CLI, Azure PowerShell, Microsoft Graph
//! Command Line Tools, Visual Studio) that every Entra tenant has.

use std::sync::OnceLock;

use crate::ids::GRAPH_APP_ID;
use crate::model::{AppRole, Application, PermissionScope, SignInAudience};
use crate::{AppId, ObjectId, TenantId, Timestamp};

/// A built-in resource service principal every tenant has.
#[derive(Debug)]
pub struct BuiltInResource {
    /// The appId.
    pub app_id: AppId,
    /// Display name.
    pub display_name: &'static str,
    /// Names it is known by (identifier URIs), besides the appId.
    pub service_principal_names: &'static [&'static str],
    /// Application permissions.
    pub app_roles: Vec<AppRole>,
    /// Delegated permissions.
    pub scopes: Vec<PermissionScope>,
}

const GRAPH_TSV: &str = include_str!("../data/graph-permissions.tsv");

fn parse_graph() -> BuiltInResource {
    let mut app_roles = Vec::new();
    let mut scopes = Vec::new();
    for line in GRAPH_TSV.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (Some(name), Some(kind), Some(id), Some(admin), Some(display)) = (
            cols.first(),
            cols.get(1),
            cols.get(2),
            cols.get(3),
            cols.get(4),
        ) else {
            continue;
        };
        let Ok(id) = uuid::Uuid::parse_str(id) else {
            continue;
        };
        match *kind {
            "Role" => app_roles.push(AppRole {
                id,
                value: (*name).to_string(),
                display_name: (*display).to_string(),
                description: (*display).to_string(),
                allowed_member_types: vec!["Application".into()],
                is_enabled: true,
            }),
            "Scope" => scopes.push(PermissionScope {
                id,
                value: (*name).to_string(),
                consent_type: if *admin == "true" {
                    "Admin".into()
                } else {
                    "User".into()
                },
                is_enabled: true,
                admin_consent_display_name: Some((*display).to_string()),
                admin_consent_description: Some((*display).to_string()),
                user_consent_display_name: Some((*display).to_string()),
                user_consent_description: Some((*display).to_string()),
            }),
            _ => {}
        }
    }
    BuiltInResource {
        app_id: GRAPH_APP_ID,
        display_name: "Microsoft Graph",
        service_principal_names: &[
            "https://graph.microsoft.com",
            "https://graph.microsoft.com/",
            "https://canary.graph.microsoft.com",
            "https://dod-graph.microsoft.us",
            "https://graph.microsoft.us",
            "https://ags.windows.net",
        ],
        app_roles,
        scopes,
    }
}

/// Azure Resource Manager's appId ("Windows Azure Service Management API").
pub const ARM_APP_ID: AppId = AppId::from_uuid(uuid::Uuid::from_u128(
    0x797f4846_ba00_4fd7_ba43_dac1f8f63013,
));
/// Azure Storage's appId.
pub const STORAGE_APP_ID: AppId = AppId::from_uuid(uuid::Uuid::from_u128(
    0xe406a681_f3d4_42a8_90b6_c2b029497af1,
));

/// A resource whose only delegated permission is `user_impersonation` and which has no app
/// roles: access is decided by Azure RBAC, not by the token's permissions.
fn impersonation_only(
    app_id: AppId,
    display_name: &'static str,
    names: &'static [&'static str],
    scope_id: uuid::Uuid,
    what: &str,
) -> BuiltInResource {
    BuiltInResource {
        app_id,
        display_name,
        service_principal_names: names,
        app_roles: vec![],
        scopes: vec![PermissionScope {
            id: scope_id,
            value: "user_impersonation".into(),
            consent_type: "User".into(),
            is_enabled: true,
            admin_consent_display_name: Some(format!("Access {what}")),
            admin_consent_description: Some(format!(
                "Allows the application to access {what} on behalf of the signed-in user."
            )),
            user_consent_display_name: Some(format!("Access {what}")),
            user_consent_description: Some(format!(
                "Allows the application to access {what} on your behalf."
            )),
        }],
    }
}

/// Every built-in resource.
pub fn built_in_resources() -> &'static [BuiltInResource] {
    static ALL: OnceLock<Vec<BuiltInResource>> = OnceLock::new();
    ALL.get_or_init(|| {
        vec![
            parse_graph(),
            impersonation_only(
                ARM_APP_ID,
                "Windows Azure Service Management API",
                &[
                    "https://management.azure.com/",
                    "https://management.azure.com",
                    "https://management.core.windows.net/",
                ],
                uuid::Uuid::from_u128(0x41094075_9dad_400e_a0bd_54e686782033),
                "Azure Resource Manager",
            ),
            impersonation_only(
                STORAGE_APP_ID,
                "Azure Storage",
                &["https://storage.azure.com/", "https://storage.azure.com"],
                uuid::Uuid::from_u128(0x03e0da56_190b_40ad_a80c_ea378c433f7f),
                "Azure Storage",
            ),
        ]
    })
}

/// The built-in resource with this appId, if any.
pub fn built_in(app_id: AppId) -> Option<&'static BuiltInResource> {
    built_in_resources().iter().find(|r| r.app_id == app_id)
}

/// Microsoft Graph.
pub fn graph() -> &'static BuiltInResource {
    #[allow(clippy::expect_used)]
    built_in(GRAPH_APP_ID).expect("graph is always in the catalogue")
}

/// The tenant Microsoft's first-party applications live in ("Microsoft Services").
pub const MICROSOFT_SERVICES_TENANT: TenantId = TenantId::from_uuid(uuid::Uuid::from_u128(
    0xf8cdef31_a31e_4b4a_93e4_5f571e91255a,
));

/// A Microsoft first-party public client every tenant has: a native app with a loopback
/// redirect (any port, RFC 8252 §7.3), allowed the device-code and ROPC flows, and
/// pre-authorised on the resources listed — in Entra Microsoft pre-authorises these clients,
/// so users see no consent prompt. Castellan records the pre-authorisation as tenant-wide
/// (`AllPrincipals`) delegated grants, visible and auditable in `oauth2PermissionGrants`.
#[derive(Debug)]
pub struct FirstPartyClient {
    /// The real client id.
    pub app_id: AppId,
    /// Display name, as Entra shows it.
    pub display_name: &'static str,
    /// `(resource appId, space-separated delegated permissions)` granted without consent.
    pub pre_authorized: &'static [(AppId, &'static str)],
}

/// Delegated Graph permissions the Azure CLI and Azure PowerShell hold in Entra (what their
/// `.default` Graph tokens carry: `az ad …` manages users, groups, applications and grants).
const AZURE_TOOLS_GRAPH: &str = "Application.ReadWrite.All AppRoleAssignment.ReadWrite.All AuditLog.Read.All DelegatedPermissionGrant.ReadWrite.All Directory.AccessAsUser.All Group.ReadWrite.All User.ReadWrite.All User.Read openid profile email offline_access";

/// The Azure CLI.
pub const AZURE_CLI_APP_ID: AppId = AppId::from_uuid(uuid::Uuid::from_u128(
    0x04b07795_8ddb_461a_bbee_02f9e1bf7b46,
));
/// Azure PowerShell.
pub const AZURE_POWERSHELL_APP_ID: AppId = AppId::from_uuid(uuid::Uuid::from_u128(
    0x1950a258_227b_4e31_a9cf_717495945fc2,
));
/// Microsoft Graph Command Line Tools (the Graph PowerShell SDK and Graph CLI).
pub const GRAPH_CLI_TOOLS_APP_ID: AppId = AppId::from_uuid(uuid::Uuid::from_u128(
    0x14d82eec_204b_4c2f_b7e8_296a70dab67e,
));
/// Visual Studio.
pub const VISUAL_STUDIO_APP_ID: AppId = AppId::from_uuid(uuid::Uuid::from_u128(
    0x04f0c124_f2bc_4f59_8241_bf6df9866bbd,
));

/// Every first-party public client.
pub fn first_party_clients() -> &'static [FirstPartyClient] {
    const ALL: &[FirstPartyClient] = &[
        FirstPartyClient {
            app_id: AZURE_CLI_APP_ID,
            display_name: "Microsoft Azure CLI",
            pre_authorized: &[
                (ARM_APP_ID, "user_impersonation"),
                (GRAPH_APP_ID, AZURE_TOOLS_GRAPH),
                (STORAGE_APP_ID, "user_impersonation"),
            ],
        },
        FirstPartyClient {
            app_id: AZURE_POWERSHELL_APP_ID,
            display_name: "Microsoft Azure PowerShell",
            pre_authorized: &[
                (ARM_APP_ID, "user_impersonation"),
                (GRAPH_APP_ID, AZURE_TOOLS_GRAPH),
                (STORAGE_APP_ID, "user_impersonation"),
            ],
        },
        // The Graph SDKs' tools ask for the permissions a script needs (`Connect-MgGraph
        // -Scopes`) and the user or an administrator consents to them, as in Entra; only
        // signing in and reading one's profile is pre-authorised.
        FirstPartyClient {
            app_id: GRAPH_CLI_TOOLS_APP_ID,
            display_name: "Microsoft Graph Command Line Tools",
            pre_authorized: &[(
                GRAPH_APP_ID,
                "User.Read openid profile email offline_access",
            )],
        },
        FirstPartyClient {
            app_id: VISUAL_STUDIO_APP_ID,
            display_name: "Visual Studio",
            pre_authorized: &[
                (ARM_APP_ID, "user_impersonation"),
                (
                    GRAPH_APP_ID,
                    "User.Read openid profile email offline_access",
                ),
            ],
        },
    ];
    ALL
}

/// The first-party public client with this client id, if any.
pub fn first_party_client(app_id: AppId) -> Option<&'static FirstPartyClient> {
    first_party_clients().iter().find(|c| c.app_id == app_id)
}

/// Delegated permissions of the admin console: what an administrator does in the Entra admin
/// center. A delegated token is the *intersection* of these with the signed-in user's own
/// rights (`authz::decide`), so a broad list grants nobody anything their roles do not.
const CONSOLE_GRAPH: &str = "User.ReadWrite.All Group.ReadWrite.All Application.ReadWrite.All AppRoleAssignment.ReadWrite.All DelegatedPermissionGrant.ReadWrite.All Directory.AccessAsUser.All Directory.ReadWrite.All RoleManagement.ReadWrite.Directory AuditLog.Read.All Policy.Read.All Policy.ReadWrite.ConditionalAccess Policy.ReadWrite.CrossTenantAccess IdentityProvider.ReadWrite.All User.Invite.All UserAuthenticationMethod.ReadWrite.All IdentityRiskyUser.ReadWrite.All IdentityRiskEvent.Read.All Device.Read.All User.Read openid profile email offline_access";

/// The client id of Castellan's admin console (`/admin`): the Azure portal's real client id,
/// so that a Conditional Access policy written for the portal applies to the console too.
pub const CONSOLE_APP_ID: AppId = AppId::from_uuid(uuid::Uuid::from_u128(
    0xc44b4083_3bb0_49c1_b47d_974e53cbdf3c,
));

/// The path (under each of the server's origins) the console receives its authorization
/// code at.
pub const CONSOLE_REDIRECT_PATH: &str = "/admin/callback";

/// The admin console, a first-party application in every tenant (as the Entra admin center
/// is): seeded with the other first-party clients, pre-authorised on Graph and ARM.
pub fn console_client() -> &'static FirstPartyClient {
    const CONSOLE: FirstPartyClient = FirstPartyClient {
        app_id: CONSOLE_APP_ID,
        display_name: "Castellan admin console",
        pre_authorized: &[
            (ARM_APP_ID, "user_impersonation"),
            (GRAPH_APP_ID, CONSOLE_GRAPH),
        ],
    };
    &CONSOLE
}

/// Every first-party client a tenant is seeded with: [`first_party_clients`] and the console.
pub fn seeded_first_party_clients() -> impl Iterator<Item = &'static FirstPartyClient> {
    first_party_clients()
        .iter()
        .chain(std::iter::once(console_client()))
}

/// The console's application registration. Unlike the other first-party clients its redirect
/// URIs depend on the origins this server answers as, so the server stores it at start
/// (`ops::console::ensure_application`) with `{origin}/admin/callback` for each origin, as
/// public-client (PKCE, no secret) redirects: the code can only reach one of the server's own
/// origins.
pub fn console_application(redirect_uris: Vec<String>) -> Application {
    let mut app = first_party_application(console_client());
    app.public_client_redirect_uris = redirect_uris;
    app.is_fallback_public_client = false;
    app
}

/// The application registration of a first-party client as the token endpoint sees it (it
/// lives in Microsoft's tenant, not in the store): multi-tenant, public client (no secret),
/// redirect `http://localhost` (any port) plus the native-client URI, public-client flows on.
pub fn first_party_application(c: &FirstPartyClient) -> Application {
    Application {
        id: ObjectId::from_uuid(c.app_id.uuid()),
        app_id: c.app_id,
        tenant_id: MICROSOFT_SERVICES_TENANT,
        display_name: c.display_name.to_string(),
        sign_in_audience: SignInAudience::AzureAdMultipleOrgs,
        identifier_uris: vec![],
        web_redirect_uris: vec![],
        spa_redirect_uris: vec![],
        public_client_redirect_uris: vec![
            "http://localhost".into(),
            "https://login.microsoftonline.com/common/oauth2/nativeclient".into(),
        ],
        is_fallback_public_client: true,
        required_resource_access: vec![],
        oauth2_permission_scopes: vec![],
        app_roles: vec![],
        password_credentials: vec![],
        key_credentials: vec![],
        requested_access_token_version: None,
        group_membership_claims: None,
        optional_claims: vec![],
        federated_identity_credentials: vec![],
        created: Timestamp::from_secs(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_catalogue_has_real_guids() {
        let g = graph();
        let role = |v: &str| {
            g.app_roles
                .iter()
                .find(|r| r.value == v)
                .map(|r| r.id.to_string())
        };
        let scope = |v: &str| {
            g.scopes
                .iter()
                .find(|r| r.value == v)
                .map(|r| r.id.to_string())
        };
        assert_eq!(
            role("User.Read.All").as_deref(),
            Some("df021288-bdef-4463-88db-98f22de89214")
        );
        assert_eq!(
            role("Directory.ReadWrite.All").as_deref(),
            Some("19dbc75e-c2e2-444c-a770-ec69d8559fc7")
        );
        assert_eq!(
            scope("User.Read").as_deref(),
            Some("e1fe6dd8-ba31-4d61-89e7-88639da4683d")
        );
        assert!(g.app_roles.len() > 300, "{}", g.app_roles.len());
        assert!(g.scopes.len() > 300, "{}", g.scopes.len());
    }

    #[test]
    fn first_party_clients_are_public_loopback_clients_pre_authorised_for_arm() {
        let cli = first_party_client(AZURE_CLI_APP_ID).map(first_party_application);
        let cli = cli.as_ref();
        assert_eq!(
            cli.map(|a| a.app_id.to_string()).as_deref(),
            Some("04b07795-8ddb-461a-bbee-02f9e1bf7b46")
        );
        assert!(cli.is_some_and(|a| a.is_fallback_public_client
            && a.password_credentials.is_empty()
            && a.public_client_redirect_uris
                .iter()
                .any(|r| r == "http://localhost")));
        let ids: Vec<String> = first_party_clients()
            .iter()
            .map(|c| c.app_id.to_string())
            .collect();
        assert_eq!(
            ids,
            [
                "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                "1950a258-227b-4e31-a9cf-717495945fc2",
                "14d82eec-204b-4c2f-b7e8-296a70dab67e",
                "04f0c124-f2bc-4f59-8241-bf6df9866bbd"
            ]
        );
        // Every pre-authorised permission is one the resource really exposes.
        for c in first_party_clients() {
            for (res, perms) in c.pre_authorized {
                let r = built_in(*res);
                for p in perms.split_whitespace() {
                    assert!(
                        r.is_some_and(|r| r.scopes.iter().any(|s| s.value == p)),
                        "{} {p}",
                        c.display_name
                    );
                }
            }
        }
        assert!(first_party_client(ARM_APP_ID).is_none());
    }

    #[test]
    fn the_console_is_seeded_but_not_a_loopback_client() {
        let ids: Vec<AppId> = seeded_first_party_clients().map(|c| c.app_id).collect();
        assert_eq!(ids.last(), Some(&CONSOLE_APP_ID));
        assert_eq!(ids.len(), first_party_clients().len() + 1);
        // Its registration comes from the store (origin-dependent), never the loopback
        // synthesis the CLI gets: an unknown console id must not fall back to `http://localhost`.
        assert!(first_party_client(CONSOLE_APP_ID).is_none());
        let app = console_application(vec!["https://id.example/admin/callback".into()]);
        assert_eq!(
            app.public_client_redirect_uris,
            ["https://id.example/admin/callback"]
        );
        assert!(app.password_credentials.is_empty() && !app.is_fallback_public_client);
        for (res, perms) in console_client().pre_authorized {
            let r = built_in(*res);
            for p in perms.split_whitespace() {
                assert!(
                    r.is_some_and(|r| r.scopes.iter().any(|s| s.value == p)),
                    "console {p}"
                );
            }
        }
    }
}
