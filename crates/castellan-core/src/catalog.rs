//! Built-in resource applications and their permissions, loaded from data (never retyped):
//! Microsoft Graph's app roles and delegated scopes with Microsoft's real GUIDs, from
//! `data/graph-permissions.tsv` (a copy of `shared/reference/graph-permissions.tsv`).

use std::sync::OnceLock;

use crate::ids::GRAPH_APP_ID;
use crate::model::{AppRole, PermissionScope};
use crate::AppId;

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
}
