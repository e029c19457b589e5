//! The admin console's decisions (`server::console` renders them): who may use the console at
//! all, and which actions a signed-in administrator's roles cover, so the console offers only
//! what Graph would allow. These are *hints for the page*: every action the console takes is a
//! Graph or ARM call with the administrator's delegated token, authorised again by
//! [`crate::authz::decide`] and audited like any client's. Pure: no I/O.

use crate::directory_roles;

/// Whether a signed-in user may use the console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsoleAccess {
    /// An administrator: the display names of their tenant-wide directory roles.
    Administrator(Vec<String>),
    /// No directory role: the console refuses, naming why and what to do.
    Refused(String),
}

/// Decides console access from the user's tenant-wide directory roles (the access token's
/// `wids`, template ids). Any directory role admits (a Directory Reader sees, a Global
/// Administrator does); none refuses. Unknown template ids (custom roles) count as a role.
pub fn access(upn: &str, wids: &[uuid::Uuid]) -> ConsoleAccess {
    if wids.is_empty() {
        return ConsoleAccess::Refused(format!(
            "{upn} holds no directory role in this tenant, so the admin console is not available to them. \
             Ask a Global Administrator or Privileged Role Administrator to assign a role \
             (for example User Administrator) under Roles and administrators, then sign in again."
        ));
    }
    let mut names: Vec<String> = wids
        .iter()
        .map(|w| {
            directory_roles::role(*w)
                .map_or_else(|| format!("Custom role {w}"), |r| r.display_name.clone())
        })
        .collect();
    names.sort();
    names.dedup();
    ConsoleAccess::Administrator(names)
}

/// Whether the built-in roles `wids` grant `action` (a `microsoft.directory/...` resource
/// action). Custom roles are not resolved here, so an action they grant is still offered
/// only when a built-in role covers it; Graph remains the judge either way.
pub fn may(wids: &[uuid::Uuid], action: &str) -> bool {
    wids.iter().any(|w| {
        directory_roles::role(*w).is_some_and(|r| {
            r.allowed_resource_actions
                .iter()
                .any(|g| directory_roles::covers(g, action))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GLOBAL_ADMINISTRATOR;

    const USER_ADMINISTRATOR: uuid::Uuid =
        uuid::Uuid::from_u128(0xfe930be7_5e62_47db_91af_98c3a49a38b1);

    #[test]
    fn a_user_without_a_role_is_refused_with_the_fix() {
        let ConsoleAccess::Refused(m) = access("ann@x.test", &[]) else {
            panic!("admitted")
        };
        assert!(
            m.contains("ann@x.test") && m.contains("no directory role"),
            "{m}"
        );
        assert!(m.contains("Roles and administrators"), "{m}");
        // Positive control: a role admits, named.
        assert_eq!(
            access("ann@x.test", &[USER_ADMINISTRATOR]),
            ConsoleAccess::Administrator(vec!["User Administrator".into()])
        );
    }

    #[test]
    fn roles_decide_what_the_console_offers() {
        let create_user = "microsoft.directory/users/create";
        let create_app = "microsoft.directory/applications/create";
        assert!(may(&[USER_ADMINISTRATOR], create_user));
        assert!(!may(&[USER_ADMINISTRATOR], create_app));
        assert!(may(&[GLOBAL_ADMINISTRATOR], create_app));
        assert!(!may(&[], create_user));
    }
}
