//! Directory roles (the identity plane's RBAC): Microsoft's built-in role definitions with their
//! resource actions (`data/directory-roles.tsv`, from the Entra built-in roles reference), the
//! action each Graph operation needs and what every member user may do by default. The decision
//! itself is [`crate::authz::decide`]. Pure: no I/O.

use std::sync::OnceLock;

use crate::graph_rules::{Access, Area};

const TSV: &str = include_str!("../data/directory-roles.tsv");

/// A built-in directory role definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleDefinition {
    /// Microsoft's template id (also the definition id).
    pub template_id: uuid::Uuid,
    /// Display name.
    pub display_name: String,
    /// Privileged role.
    pub is_privileged: bool,
    /// Description.
    pub description: String,
    /// Allowed resource actions (`microsoft.directory/users/basic/update`, ...).
    pub allowed_resource_actions: Vec<String>,
}

/// Every built-in role, by display name.
pub fn built_in_roles() -> &'static [RoleDefinition] {
    static ALL: OnceLock<Vec<RoleDefinition>> = OnceLock::new();
    ALL.get_or_init(|| {
        TSV.lines()
            .skip(1)
            .filter_map(|l| {
                let mut f = l.split('\t');
                let id = uuid::Uuid::parse_str(f.next()?).ok()?;
                Some(RoleDefinition {
                    template_id: id,
                    display_name: f.next()?.to_string(),
                    is_privileged: f.next()? == "true",
                    description: f.next()?.to_string(),
                    allowed_resource_actions: f.next()?.split(' ').map(str::to_string).collect(),
                })
            })
            .collect()
    })
}

/// A built-in role by template id.
pub fn role(template_id: uuid::Uuid) -> Option<&'static RoleDefinition> {
    built_in_roles()
        .iter()
        .find(|r| r.template_id == template_id)
}

/// The tenant-wide (`/`) roles among `(template, directoryScopeId)` assignments.
pub fn tenant_wide(assignments: &[(uuid::Uuid, String)]) -> Vec<uuid::Uuid> {
    assignments
        .iter()
        .filter(|(_, scope)| scope == "/")
        .map(|(r, _)| *r)
        .collect()
}

/// A custom role's id and its allowed resource actions.
pub type CustomActions = (uuid::Uuid, Vec<String>);

/// The actions a role grants: a built-in role, or one of the tenant's custom roles.
pub fn actions_of(id: uuid::Uuid, custom: &[CustomActions]) -> Option<&[String]> {
    role(id)
        .map(|r| r.allowed_resource_actions.as_slice())
        .or_else(|| {
            custom
                .iter()
                .find(|(c, _)| *c == id)
                .map(|(_, a)| a.as_slice())
        })
}

/// Every action some built-in role grants (what custom roles may be built from).
pub fn known_actions() -> &'static [String] {
    static ALL: OnceLock<Vec<String>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v: Vec<String> = built_in_roles()
            .iter()
            .flat_map(|r| r.allowed_resource_actions.iter().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    })
}

/// Whether a granted action pattern covers a required action: exact, or
/// `{ns}/{resource}/allProperties/allTasks` (everything on the resource), or
/// `{ns}/{resource}/allProperties/read` (every read on it).
pub fn covers(granted: &str, required: &str) -> bool {
    if granted.eq_ignore_ascii_case(required) {
        return true;
    }
    let resource_of = |a: &str| -> Option<String> {
        let mut p = a.splitn(3, '/');
        Some(format!("{}/{}", p.next()?, p.next()?).to_ascii_lowercase())
    };
    let (Some(gr), Some(rr)) = (resource_of(granted), resource_of(required)) else {
        return false;
    };
    if gr != rr {
        return false;
    }
    let g = granted.to_ascii_lowercase();
    g.ends_with("/allproperties/alltasks")
        || (g.ends_with("/allproperties/read") && required.to_ascii_lowercase().ends_with("/read"))
}

/// Other resource actions that grant a Graph area as well as [`required_action`] (any one).
///
/// Reading cross-tenant access settings: Microsoft lists Security Reader among the roles that
/// may (`crosstenantaccesspolicy-get`), and the only cross-tenant action that role holds is the
/// read of the partner templates; Teams Administrator and Global Secure Access Administrator hold
/// the partner and default reads. `policies/standard/read` is deliberately not one of them: User
/// Administrator holds it and may not read these settings.
pub fn also_actions(area: Area, access: Access) -> &'static [&'static str] {
    match (area, access) {
        (Area::CrossTenantAccess, Access::Read) => &[
            "microsoft.directory/crossTenantAccessPolicy/default/standard/read",
            "microsoft.directory/crossTenantAccessPolicy/partners/standard/read",
            "microsoft.directory/crossTenantAccessPolicy/partners/templates/multiTenantOrganizationPartnerConfiguration/standard/read",
        ],
        _ => &[],
    }
}

/// The resource action a Graph operation needs from a signed-in user, or `None` when every
/// member user may do it by default (Entra's default user permissions: read users, groups and
/// applications, create groups and applications, read roles).
pub fn required_action(area: Area, access: Access) -> Option<&'static str> {
    use {Access::*, Area::*};
    match (area, access) {
        (Me, _) | (Users | Groups | Applications | RoleManagement, Read) => None,
        (Groups | Applications, Write) => None,
        (Users, Write) => Some("microsoft.directory/users/basic/update"),
        (AuditLogs, _) => Some("microsoft.directory/auditLogs/allProperties/read"),
        (RoleManagement, Write) => {
            Some("microsoft.directory/roleAssignments/allProperties/allTasks")
        }
        (ConditionalAccess, Read) => {
            Some("microsoft.directory/conditionalAccessPolicies/standard/read")
        }
        (ConditionalAccess, Write) => Some("microsoft.directory/conditionalAccessPolicies/create"),
        // Members read devices by default. Every device write (register, compliance and
        // enablement, owners, delete) needs a device-administering role: Cloud Device
        // Administrator, Intune Administrator, Global Administrator — the roles that hold
        // `devices/enable` (or `devices/allProperties/allTasks`).
        (Devices, Read) => None,
        (Devices, Write) => Some("microsoft.directory/devices/enable"),
        (RiskDetections | RiskyUsers, Read) => {
            Some("microsoft.directory/identityProtection/allProperties/read")
        }
        (RiskDetections | RiskyUsers, Write) => {
            Some("microsoft.directory/identityProtection/allProperties/update")
        }
        // Members read the tenant's domains by default; adding, verifying, updating and
        // deleting one is Domain Name Administrator's (and Global Administrator's) action.
        (Domains, Read) => None,
        (Domains, Write) => Some("microsoft.directory/domains/allProperties/allTasks"),
        // Members read the tenant's subscriptions; writes go through `Op::*AssignLicense`.
        (Licenses, Read) => None,
        (Licenses, Write) => Some("microsoft.directory/users/assignLicense"),
        // PIM for groups: reading needs only the scope (the lists are the tenant's, as for
        // directory-role PIM); writes go through `Op::PimGroup*`.
        (PimGroups, Read) => None,
        (PimGroups, Write) => Some("microsoft.directory/groups/members/update"),
        // Cross-tenant access settings: read by Global Reader, Security Administrator and the
        // other roles holding `crossTenantAccessPolicy/standard/read`; changed by Security
        // Administrator and Global Administrator (`partners/b2bCollaboration/update`).
        (CrossTenantAccess, Read) => {
            Some("microsoft.directory/crossTenantAccessPolicy/standard/read")
        }
        (CrossTenantAccess, Write) => {
            Some("microsoft.directory/crossTenantAccessPolicy/partners/b2bCollaboration/update")
        }
        // External Identity Provider Administrator and Global Administrator.
        (IdentityProviders, Read) => {
            Some("microsoft.directory/identityProviders/allProperties/read")
        }
        (IdentityProviders, Write) => {
            Some("microsoft.directory/identityProviders/allProperties/allTasks")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::{decide, Op, Principal, Target, Via};

    /// A signed-in user's own right (no client between: the `Interactive` decision) to an
    /// operation decided by area and access, through core's one decision.
    fn user_may_on(
        area: Area,
        access: Access,
        assignments: &[(uuid::Uuid, String)],
        target_aus: &[crate::ObjectId],
        is_guest: bool,
        custom: &[CustomActions],
    ) -> Result<(), String> {
        let p = Principal {
            id: crate::ObjectId::from_random([9; 16]),
            via: Via::Interactive,
            permissions: &[],
            assignments,
            custom,
            is_guest,
            guest_role: crate::model::GuestRole::Restricted,
        };
        let target = Target {
            units: target_aus.to_vec(),
            ..Target::default()
        };
        decide(&p, Op::Area(area, access), &target).map_err(|d| d.0)
    }

    fn user_may(
        area: Area,
        access: Access,
        roles: &[uuid::Uuid],
        is_guest: bool,
        custom: &[CustomActions],
    ) -> Result<(), String> {
        let wide: Vec<(uuid::Uuid, String)> = roles.iter().map(|r| (*r, "/".into())).collect();
        user_may_on(area, access, &wide, &[], is_guest, custom)
    }

    fn user_may_create_apps(
        roles: &[uuid::Uuid],
        custom: &[CustomActions],
        tenant_allows: bool,
        is_guest: bool,
    ) -> Result<(), String> {
        let wide: Vec<(uuid::Uuid, String)> = roles.iter().map(|r| (*r, "/".into())).collect();
        let p = Principal {
            id: crate::ObjectId::from_random([9; 16]),
            via: Via::Interactive,
            permissions: &[],
            assignments: &wide,
            custom,
            is_guest,
            guest_role: crate::model::GuestRole::Restricted,
        };
        let target = Target {
            members_may_create: tenant_allows,
            ..Target::default()
        };
        decide(&p, Op::AppCreate, &target).map_err(|d| d.0)
    }

    fn id(name: &str) -> uuid::Uuid {
        built_in_roles()
            .iter()
            .find(|r| r.display_name == name)
            .map(|r| r.template_id)
            .unwrap_or_else(|| panic!("no role {name}"))
    }

    /// External identity providers are External Identity Provider Administrator's and Global
    /// Administrator's, to read and to write; other roles and members neither.
    #[test]
    fn identity_providers_need_the_external_identity_provider_role() {
        for access in [Access::Read, Access::Write] {
            for ok in [
                "External Identity Provider Administrator",
                "Global Administrator",
            ] {
                assert!(
                    user_may(Area::IdentityProviders, access, &[id(ok)], false, &[]).is_ok(),
                    "{ok} {access:?}"
                );
            }
            for no in ["User Administrator", "Application Administrator"] {
                let e =
                    user_may(Area::IdentityProviders, access, &[id(no)], false, &[]).unwrap_err();
                assert!(e.contains("identityProviders"), "{no}: {e}");
            }
            assert!(user_may(Area::IdentityProviders, access, &[], false, &[]).is_err());
        }
    }

    /// Domain writes are Domain Name Administrator's and Global Administrator's; every member
    /// reads domains.
    #[test]
    fn domain_writes_need_a_domain_administering_role() {
        for ok in ["Domain Name Administrator", "Global Administrator"] {
            assert!(
                user_may(Area::Domains, Access::Write, &[id(ok)], false, &[]).is_ok(),
                "{ok}"
            );
        }
        for no in [
            "User Administrator",
            "Global Reader",
            "Application Administrator",
        ] {
            let e = user_may(Area::Domains, Access::Write, &[id(no)], false, &[]).unwrap_err();
            assert!(e.contains("domains/allProperties/allTasks"), "{no}: {e}");
        }
        assert!(user_may(Area::Domains, Access::Write, &[], false, &[]).is_err());
        assert!(user_may(Area::Domains, Access::Read, &[], false, &[]).is_ok());
    }

    #[test]
    fn the_catalogue_has_the_roles_the_issue_names_with_microsofts_ids() {
        for name in [
            "Global Administrator",
            "Global Reader",
            "User Administrator",
            "Groups Administrator",
            "Helpdesk Administrator",
            "Authentication Administrator",
            "Application Administrator",
            "Cloud Application Administrator",
            "Application Developer",
            "Privileged Role Administrator",
            "Conditional Access Administrator",
            "Security Administrator",
            "Security Reader",
        ] {
            assert!(
                !role(id(name))
                    .map(|r| r.allowed_resource_actions.is_empty())
                    .unwrap_or(true),
                "{name}"
            );
        }
        assert_eq!(
            id("Global Administrator").to_string(),
            "62e90394-69f5-4237-9190-012177145e10"
        );
        assert_eq!(
            id("User Administrator").to_string(),
            "fe930be7-5e62-47db-91af-98c3a49a38b1"
        );
    }

    #[test]
    fn identity_protection_roles() {
        use {Access::*, Area::*};
        for (role, read, write) in [
            ("Security Administrator", true, true),
            ("Security Operator", true, true),
            ("Security Reader", true, false),
            ("Global Reader", true, false),
            ("Global Administrator", true, true),
            ("User Administrator", false, false),
        ] {
            let r = [id(role)];
            for area in [RiskyUsers, RiskDetections] {
                assert_eq!(
                    user_may(area, Read, &r, false, &[]).is_ok(),
                    read,
                    "{role} read"
                );
                assert_eq!(
                    user_may(area, Write, &r, false, &[]).is_ok(),
                    write,
                    "{role} write"
                );
            }
        }
        assert!(user_may(RiskyUsers, Read, &[], false, &[]).is_err());
    }

    #[test]
    fn cross_tenant_access_roles() {
        use {Access::*, Area::*};
        for (role, read, write) in [
            ("Security Administrator", true, true),
            ("Global Administrator", true, true),
            ("Global Reader", true, false),
            ("Security Reader", true, false),
            ("Teams Administrator", true, false),
            ("Conditional Access Administrator", false, false),
            ("User Administrator", false, false),
        ] {
            let r = [id(role)];
            assert_eq!(
                user_may(CrossTenantAccess, Read, &r, false, &[]).is_ok(),
                read,
                "{role} read"
            );
            assert_eq!(
                user_may(CrossTenantAccess, Write, &r, false, &[]).is_ok(),
                write,
                "{role} write"
            );
        }
        assert!(user_may(CrossTenantAccess, Read, &[], false, &[]).is_err());
    }

    #[test]
    fn au_scoped_roles_reach_only_members_of_their_unit() {
        use {Access::*, Area::*};
        let au = crate::ObjectId::from_random([5; 16]);
        let other = crate::ObjectId::from_random([6; 16]);
        let ua = (
            id("User Administrator"),
            format!("/administrativeUnits/{au}"),
        );
        assert!(user_may_on(Users, Write, std::slice::from_ref(&ua), &[au], false, &[]).is_ok());
        assert!(user_may_on(
            Users,
            Write,
            std::slice::from_ref(&ua),
            &[other],
            false,
            &[]
        )
        .is_err());
        assert!(user_may_on(Users, Write, std::slice::from_ref(&ua), &[], false, &[]).is_err());
        assert!(user_may_on(Users, Write, std::slice::from_ref(&ua), &[au], true, &[]).is_err());
        let wide = (id("User Administrator"), "/".to_string());
        assert!(user_may_on(Users, Write, &[wide], &[], false, &[]).is_ok());
        let reader = (id("Global Reader"), format!("/administrativeUnits/{au}"));
        assert!(user_may_on(Users, Write, &[reader], &[au], false, &[]).is_err());
    }

    #[test]
    fn custom_roles_grant_their_actions() {
        use {Access::*, Area::*};
        let mine = uuid::Uuid::from_u128(42);
        let custom = vec![(
            mine,
            vec!["microsoft.directory/users/basic/update".to_string()],
        )];
        assert!(user_may(Users, Write, &[mine], false, &custom).is_ok());
        assert!(user_may(Users, Write, &[mine], false, &[]).is_err());
        assert!(user_may(RoleManagement, Write, &[mine], false, &custom).is_err());
        assert!(known_actions()
            .iter()
            .any(|a| a == "microsoft.directory/users/basic/update"));
    }

    #[test]
    fn creating_apps_follows_the_tenant_switch_and_roles() {
        assert!(user_may_create_apps(&[], &[], true, false).is_ok());
        assert!(user_may_create_apps(&[], &[], true, true).is_err());
        assert!(user_may_create_apps(&[], &[], false, false).is_err());
        assert!(user_may_create_apps(&[id("Application Developer")], &[], false, false).is_ok());
        assert!(user_may_create_apps(&[id("Global Reader")], &[], false, false).is_err());
    }

    #[test]
    fn pattern_matching() {
        assert!(covers(
            "microsoft.directory/users/allProperties/allTasks",
            "microsoft.directory/users/basic/update"
        ));
        assert!(covers(
            "microsoft.directory/users/allProperties/read",
            "microsoft.directory/users/standard/read"
        ));
        assert!(!covers(
            "microsoft.directory/users/allProperties/read",
            "microsoft.directory/users/basic/update"
        ));
        assert!(!covers(
            "microsoft.directory/groups/allProperties/allTasks",
            "microsoft.directory/users/basic/update"
        ));
        assert!(covers(
            "microsoft.directory/users/basic/update",
            "microsoft.directory/users/basic/update"
        ));
    }

    #[test]
    fn every_role_against_the_table_of_operations() {
        use {Access::*, Area::*};
        // (role, operation, allowed)
        let table = [
            ("Global Administrator", Users, Write, true),
            ("Global Administrator", RoleManagement, Write, true),
            ("Global Administrator", AuditLogs, Read, true),
            ("User Administrator", Users, Write, true),
            ("User Administrator", RoleManagement, Write, false),
            ("Helpdesk Administrator", Users, Write, false),
            ("Global Reader", Users, Write, false),
            ("Global Reader", AuditLogs, Read, true),
            ("Security Reader", AuditLogs, Read, true),
            ("Groups Administrator", Users, Write, false),
            ("Application Administrator", Users, Write, false),
            ("Privileged Role Administrator", RoleManagement, Write, true),
            ("Privileged Role Administrator", Users, Write, false),
            ("Conditional Access Administrator", Users, Write, false),
            ("Global Administrator", Devices, Write, true),
            ("Cloud Device Administrator", Devices, Write, true),
            ("Intune Administrator", Devices, Write, true),
            ("User Administrator", Devices, Write, false),
            ("Global Reader", Devices, Write, false),
            ("Helpdesk Administrator", Devices, Write, false),
        ];
        for (name, area, access, allowed) in table {
            assert_eq!(
                user_may(area, access, &[id(name)], false, &[]).is_ok(),
                allowed,
                "{name} {area:?} {access:?}"
            );
        }
        // Every built-in role is evaluated without panicking, and none grants to guests.
        for r in built_in_roles() {
            let _ = user_may(Users, Write, &[r.template_id], false, &[]);
            assert!(user_may(Users, Read, &[r.template_id], true, &[]).is_err());
        }
    }

    #[test]
    fn default_member_rights_and_denials_name_the_roles() {
        use {Access::*, Area::*};
        assert!(user_may(Users, Read, &[], false, &[]).is_ok());
        // Members create groups, but writing one is the owners' (issue 12): not a default right.
        assert!(user_may(Groups, Write, &[], false, &[]).is_err());
        assert!(user_may(Me, Write, &[], true, &[]).is_ok());
        assert!(user_may(Devices, Read, &[], false, &[]).is_ok());
        assert!(user_may(Devices, Read, &[], true, &[]).is_err());
        let d = user_may(Devices, Write, &[], false, &[])
            .err()
            .unwrap_or_default();
        assert!(d.contains("Cloud Device Administrator"), "{d}");
        let e = user_may(Users, Write, &[], false, &[])
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("microsoft.directory/users/basic/update")
                && e.contains("User Administrator"),
            "{e}"
        );
    }
}
