//! Which Graph application permissions allow which directory operations (app-only calls).

/// What kind of directory data a call touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// Users.
    Users,
    /// Groups and memberships.
    Groups,
    /// Applications and service principals.
    Applications,
    /// Audit logs.
    AuditLogs,
    /// Directory role assignments.
    RoleManagement,
    /// Conditional Access policies and named locations.
    ConditionalAccess,
    /// The signed-in user's own profile (`/me`).
    Me,
    /// Devices and their registered owners.
    Devices,
    /// Identity Protection's risk detections (`/identityProtection/riskDetections`).
    RiskDetections,
    /// Identity Protection's risky users (`/identityProtection/riskyUsers`).
    RiskyUsers,
    /// The tenant's domains (`/domains`).
    Domains,
    /// Subscriptions and licence assignments (`/subscribedSkus`, `licenseDetails`).
    Licenses,
    /// PIM for groups (`/identityGovernance/privilegedAccess/group/…`, group policies).
    PimGroups,
    /// Cross-tenant access settings (`/policies/crossTenantAccessPolicy`, its default and
    /// partners).
    CrossTenantAccess,
    /// External identity providers (`/identity/identityProviders`).
    IdentityProviders,
}

/// Read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// GET.
    Read,
    /// POST / PATCH / DELETE.
    Write,
}

/// The application permissions (any one suffices) that allow `access` to `area`.
pub fn permissions_for(area: Area, access: Access) -> &'static [&'static str] {
    use {Access::*, Area::*};
    match (area, access) {
        (Users, Read) => &[
            "User.Read.All",
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        (Users, Write) => &["User.ReadWrite.All", "Directory.ReadWrite.All"],
        (Groups, Read) => &[
            "Group.Read.All",
            "Group.ReadWrite.All",
            "GroupMember.Read.All",
            "GroupMember.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        (Groups, Write) => &[
            "Group.ReadWrite.All",
            "GroupMember.ReadWrite.All",
            "Directory.ReadWrite.All",
        ],
        (Applications, Read) => &[
            "Application.Read.All",
            "Application.ReadWrite.All",
            "Application.ReadWrite.OwnedBy",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        (Applications, Write) => &["Application.ReadWrite.All", "Directory.ReadWrite.All"],
        (AuditLogs, Read) => &["AuditLog.Read.All"],
        (AuditLogs, Write) => &[],
        (RoleManagement, Read) => &[
            "RoleManagement.Read.Directory",
            "RoleManagement.ReadWrite.Directory",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        (RoleManagement, Write) => &["RoleManagement.ReadWrite.Directory"],
        (ConditionalAccess, Read) => &["Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"],
        (ConditionalAccess, Write) => &["Policy.ReadWrite.ConditionalAccess"],
        (CrossTenantAccess, Read) => &["Policy.Read.All", "Policy.ReadWrite.CrossTenantAccess"],
        (CrossTenantAccess, Write) => &["Policy.ReadWrite.CrossTenantAccess"],
        (Me, Read) => &[
            "User.Read",
            "User.ReadWrite",
            "User.ReadBasic.All",
            "User.Read.All",
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
            "Directory.AccessAsUser.All",
        ],
        (Devices, Read) => &[
            "Device.Read.All",
            "Device.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
            "Directory.AccessAsUser.All",
        ],
        (Devices, Write) => &[
            "Device.ReadWrite.All",
            "Directory.ReadWrite.All",
            "Directory.AccessAsUser.All",
        ],
        (RiskDetections, Read) => &[
            "IdentityRiskEvent.Read.All",
            "IdentityRiskEvent.ReadWrite.All",
        ],
        (RiskDetections, Write) => &["IdentityRiskEvent.ReadWrite.All"],
        (RiskyUsers, Read) => &[
            "IdentityRiskyUser.Read.All",
            "IdentityRiskyUser.ReadWrite.All",
        ],
        (RiskyUsers, Write) => &["IdentityRiskyUser.ReadWrite.All"],
        (Domains, Read) => &[
            "Domain.Read.All",
            "Domain.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
            "Directory.AccessAsUser.All",
        ],
        // Directory.ReadWrite.All does not cover domains (Graph: "Domain.ReadWrite.All" is
        // the least privileged permission to add, verify, update or delete one).
        (Domains, Write) => &["Domain.ReadWrite.All", "Directory.AccessAsUser.All"],
        (Licenses, Read) => &[
            "LicenseAssignment.Read.All",
            "LicenseAssignment.ReadWrite.All",
            "Organization.Read.All",
            "Organization.ReadWrite.All",
            "User.Read.All",
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        (PimGroups, Read) => &[
            "PrivilegedAccess.Read.AzureADGroup",
            "PrivilegedAccess.ReadWrite.AzureADGroup",
            "PrivilegedEligibilitySchedule.Read.AzureADGroup",
            "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",
            "PrivilegedAssignmentSchedule.Read.AzureADGroup",
            "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
            "RoleManagementPolicy.Read.AzureADGroup",
            "RoleManagementPolicy.ReadWrite.AzureADGroup",
        ],
        (PimGroups, Write) => &[
            "PrivilegedAccess.ReadWrite.AzureADGroup",
            "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",
            "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
            "RoleManagementPolicy.ReadWrite.AzureADGroup",
        ],
        (Licenses, Write) => &[
            "LicenseAssignment.ReadWrite.All",
            "User.ReadWrite.All",
            "Directory.ReadWrite.All",
        ],
        (IdentityProviders, Read) => &[
            "IdentityProvider.Read.All",
            "IdentityProvider.ReadWrite.All",
        ],
        (IdentityProviders, Write) => &["IdentityProvider.ReadWrite.All"],
        (Me, Write) => &[
            "User.ReadWrite",
            "User.ReadWrite.All",
            "Directory.ReadWrite.All",
            "Directory.AccessAsUser.All",
        ],
    }
}

/// Whether the token's `roles` allow the call; on refusal, the permissions that would.
pub fn check(roles: &[String], area: Area, access: Access) -> Result<(), &'static [&'static str]> {
    let needed = permissions_for(area, access);
    if roles
        .iter()
        .any(|r| needed.iter().any(|n| n.eq_ignore_ascii_case(r)))
    {
        Ok(())
    } else {
        Err(needed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn device_rules() {
        for p in [
            "Device.Read.All",
            "Device.ReadWrite.All",
            "Directory.Read.All",
        ] {
            assert!(
                check(&roles(&[p]), Area::Devices, Access::Read).is_ok(),
                "{p}"
            );
        }
        assert!(check(
            &roles(&["Device.ReadWrite.All"]),
            Area::Devices,
            Access::Write
        )
        .is_ok());
        let needed = check(&roles(&["Device.Read.All"]), Area::Devices, Access::Write)
            .err()
            .unwrap_or_default();
        assert!(needed.contains(&"Device.ReadWrite.All"));
        assert!(check(&roles(&["User.ReadWrite.All"]), Area::Devices, Access::Read).is_err());
    }

    #[test]
    fn read_and_write_rules() {
        assert!(check(&roles(&["User.Read.All"]), Area::Users, Access::Read).is_ok());
        assert!(check(&roles(&["User.Read.All"]), Area::Users, Access::Write).is_err());
        assert!(check(
            &roles(&["Directory.ReadWrite.All"]),
            Area::Groups,
            Access::Write
        )
        .is_ok());
        assert!(check(&roles(&["Group.Read.All"]), Area::Users, Access::Read).is_err());
        assert!(check(&roles(&[]), Area::Applications, Access::Read).is_err());
        assert!(check(
            &roles(&["Directory.ReadWrite.All"]),
            Area::AuditLogs,
            Access::Read
        )
        .is_err());
        assert!(check(
            &roles(&["AuditLog.Read.All"]),
            Area::AuditLogs,
            Access::Read
        )
        .is_ok());
    }

    #[test]
    fn domain_rules() {
        for p in [
            "Domain.Read.All",
            "Domain.ReadWrite.All",
            "Directory.Read.All",
        ] {
            assert!(
                check(&roles(&[p]), Area::Domains, Access::Read).is_ok(),
                "{p}"
            );
        }
        assert!(check(
            &roles(&["Domain.ReadWrite.All"]),
            Area::Domains,
            Access::Write
        )
        .is_ok());
        for p in [
            "Domain.Read.All",
            "Directory.ReadWrite.All",
            "User.ReadWrite.All",
        ] {
            assert!(
                check(&roles(&[p]), Area::Domains, Access::Write).is_err(),
                "{p}"
            );
        }
        assert!(check(&roles(&["User.Read.All"]), Area::Domains, Access::Read).is_err());
    }

    #[test]
    fn cross_tenant_access_rules() {
        for p in ["Policy.Read.All", "Policy.ReadWrite.CrossTenantAccess"] {
            assert!(
                check(&roles(&[p]), Area::CrossTenantAccess, Access::Read).is_ok(),
                "{p}"
            );
        }
        assert!(check(
            &roles(&["Policy.ReadWrite.CrossTenantAccess"]),
            Area::CrossTenantAccess,
            Access::Write
        )
        .is_ok());
        for p in [
            "Policy.Read.All",
            "Policy.ReadWrite.ConditionalAccess",
            "Directory.ReadWrite.All",
        ] {
            assert!(
                check(&roles(&[p]), Area::CrossTenantAccess, Access::Write).is_err(),
                "{p}"
            );
        }
        assert!(check(
            &roles(&["Directory.Read.All"]),
            Area::CrossTenantAccess,
            Access::Read
        )
        .is_err());
    }

    #[test]
    fn identity_protection_rules() {
        let rw = roles(&["IdentityRiskyUser.ReadWrite.All"]);
        assert!(check(&rw, Area::RiskyUsers, Access::Write).is_ok());
        assert!(check(&rw, Area::RiskyUsers, Access::Read).is_ok());
        assert!(check(&rw, Area::RiskDetections, Access::Read).is_err());
        let r = roles(&["IdentityRiskyUser.Read.All"]);
        assert!(check(&r, Area::RiskyUsers, Access::Write).is_err());
        assert!(check(
            &roles(&["IdentityRiskEvent.Read.All"]),
            Area::RiskDetections,
            Access::Read
        )
        .is_ok());
        assert!(check(
            &roles(&["Directory.ReadWrite.All"]),
            Area::RiskyUsers,
            Access::Read
        )
        .is_err());
    }
}
