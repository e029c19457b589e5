//! Consent decisions (Microsoft identity platform "permissions and consent", "configure how
//! users consent"): which requested delegated permissions are not yet granted to this client
//! for this user, whether the user may grant them, and whether an administrator may grant them
//! for the whole tenant.

use crate::flow::scope::DelegatedScopes;
pub use crate::model::tenant::UserConsentPolicy;
use crate::model::{OAuth2PermissionGrant, PermissionScope};
use crate::ObjectId;

/// Permissions Entra classifies as low impact by default.
pub const LOW_RISK: &[&str] = &["User.Read", "openid", "profile", "email", "offline_access"];

/// Directory roles that may grant tenant-wide consent: Global Administrator, Privileged Role
/// Administrator, Cloud Application Administrator, Application Administrator.
pub const CONSENT_ADMIN_ROLES: &[uuid::Uuid] = &[
    uuid::uuid!("62e90394-69f5-4237-9190-012177145e10"),
    uuid::uuid!("e8611ab8-c189-46e8-94e1-60213ab1f814"),
    uuid::uuid!("158c047a-c907-4556-b7ef-446551a6b5f7"),
    uuid::uuid!("9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"),
];

/// The requested permissions (as the resource defines them) not yet granted to the client for
/// this user. `.default` asks for nothing new.
pub fn missing(
    requested: &DelegatedScopes,
    resource_scopes: &[PermissionScope],
    grants: &[OAuth2PermissionGrant],
    client_sp: ObjectId,
    resource_sp: ObjectId,
    user: ObjectId,
) -> Vec<PermissionScope> {
    if requested.default {
        return vec![];
    }
    let granted: Vec<String> = grants
        .iter()
        .filter(|g| g.client_id == client_sp && g.resource_id == resource_sp)
        .filter(|g| g.consent_type == "AllPrincipals" || g.principal_id == Some(user))
        .flat_map(|g| {
            g.scope
                .split_whitespace()
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut out: Vec<PermissionScope> = Vec::new();
    for p in &requested.permissions {
        if granted.contains(&p.to_ascii_lowercase()) {
            continue;
        }
        if let Some(s) = resource_scopes
            .iter()
            .find(|s| s.is_enabled && s.value.eq_ignore_ascii_case(p))
        {
            if !out.iter().any(|o| o.id == s.id) {
                out.push(s.clone());
            }
        }
    }
    out
}

/// Why a user may not consent, or `Ok` if they may (an administrator always may).
pub fn user_may_consent(
    missing: &[PermissionScope],
    policy: UserConsentPolicy,
    app_registered_here: bool,
    is_admin: bool,
) -> Result<(), String> {
    if is_admin {
        return Ok(());
    }
    if let Some(a) = missing
        .iter()
        .find(|s| s.consent_type.eq_ignore_ascii_case("Admin"))
    {
        return Err(format!(
            "The permission '{}' needs an administrator's consent.",
            a.value
        ));
    }
    match policy {
        UserConsentPolicy::AllowAll => Ok(()),
        UserConsentPolicy::None => {
            Err("This organization does not allow users to consent to applications.".into())
        }
        UserConsentPolicy::LowRiskVerifiedOrOwn => {
            if !app_registered_here {
                return Err("This organization lets users consent only to apps registered in it or from verified publishers.".into());
            }
            match missing.iter().find(|s| !LOW_RISK.iter().any(|l| l.eq_ignore_ascii_case(&s.value))) {
                Some(s) => Err(format!("This organization lets users consent only to low-impact permissions; '{}' is not one.", s.value)),
                None => Ok(()),
            }
        }
    }
}

/// Whether a user holding these directory role templates may consent for the whole tenant.
pub fn is_consent_admin(role_templates: &[uuid::Uuid]) -> bool {
    role_templates
        .iter()
        .any(|r| CONSENT_ADMIN_ROLES.contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::scope::parse_delegated;
    use crate::TenantId;

    fn scope(value: &str, admin: bool) -> PermissionScope {
        PermissionScope {
            id: {
                let d = crate::secret::sha256(value.as_bytes());
                let mut b = [0u8; 16];
                b.copy_from_slice(&d[..16]);
                uuid::Uuid::from_bytes(b)
            },
            value: value.into(),
            consent_type: if admin { "Admin" } else { "User" }.into(),
            is_enabled: true,
            admin_consent_display_name: None,
            admin_consent_description: None,
            user_consent_display_name: None,
            user_consent_description: None,
        }
    }

    fn grant(
        client: ObjectId,
        resource: ObjectId,
        who: Option<ObjectId>,
        s: &str,
    ) -> OAuth2PermissionGrant {
        OAuth2PermissionGrant {
            id: ObjectId::from_random([9; 16]),
            tenant_id: TenantId::from_random([8; 16]),
            client_id: client,
            consent_type: if who.is_some() {
                "Principal"
            } else {
                "AllPrincipals"
            }
            .into(),
            principal_id: who,
            resource_id: resource,
            scope: s.into(),
        }
    }

    #[test]
    fn missing_counts_tenant_wide_and_own_grants_only() {
        let (c, r, u, other) = (
            ObjectId::from_random([1; 16]),
            ObjectId::from_random([2; 16]),
            ObjectId::from_random([3; 16]),
            ObjectId::from_random([4; 16]),
        );
        let exposed = vec![
            scope("User.Read", false),
            scope("Mail.Read", false),
            scope("Files.Read", false),
        ];
        let grants = vec![
            grant(c, r, None, "User.Read"),
            grant(c, r, Some(u), "Mail.Read"),
            grant(c, r, Some(other), "Files.Read"),
        ];
        let req = parse_delegated("User.Read Mail.Read Files.Read openid")
            .unwrap_or_else(|e| panic!("{e}"));
        let m = missing(&req, &exposed, &grants, c, r, u);
        assert_eq!(
            m.iter().map(|s| s.value.as_str()).collect::<Vec<_>>(),
            vec!["Files.Read"]
        );
        let default = parse_delegated("https://graph.microsoft.com/.default")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(missing(&default, &exposed, &[], c, r, u).is_empty());
    }

    #[test]
    fn policy_and_admin_only_permissions() {
        let user = [scope("Mail.Read", false)];
        let low = [scope("User.Read", false)];
        let admin_only = [scope("User.ReadWrite.All", true)];
        use UserConsentPolicy::*;
        assert!(user_may_consent(&user, AllowAll, false, false).is_ok());
        assert!(user_may_consent(&admin_only, AllowAll, true, false).is_err());
        assert!(user_may_consent(&admin_only, None, false, true).is_ok());
        assert!(user_may_consent(&user, None, true, false).is_err());
        assert!(user_may_consent(&low, LowRiskVerifiedOrOwn, true, false).is_ok());
        assert!(user_may_consent(&low, LowRiskVerifiedOrOwn, false, false).is_err());
        assert!(user_may_consent(&user, LowRiskVerifiedOrOwn, true, false).is_err());
    }

    #[test]
    fn consent_admins_and_graph_ids_round_trip() {
        assert!(is_consent_admin(&[uuid::uuid!(
            "62e90394-69f5-4237-9190-012177145e10"
        )]));
        assert!(!is_consent_admin(&[uuid::uuid!(
            "fe930be7-5e62-47db-91af-98c3a49a38b1"
        )]));
        for p in [
            UserConsentPolicy::AllowAll,
            UserConsentPolicy::LowRiskVerifiedOrOwn,
            UserConsentPolicy::None,
        ] {
            let ids: Vec<String> = p.graph_ids().iter().map(|s| (*s).to_string()).collect();
            assert_eq!(UserConsentPolicy::from_graph_ids(&ids), Some(p));
        }
        assert_eq!(
            UserConsentPolicy::from_graph_ids(&["x".into()]),
            Option::None
        );
    }
}
