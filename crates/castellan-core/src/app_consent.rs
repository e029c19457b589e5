//! What the admin console's App registration and Enterprise application blades decide before
//! they call Graph: a credential's expiry marker, the names of requested permissions, and
//! "Grant admin consent" — which delegated grant (`oauth2PermissionGrant`, `AllPrincipals`)
//! and which application permissions (`appRoleAssignment`s to the client's service principal)
//! an application's `requiredResourceAccess` calls for, given what the resource publishes and
//! what is already granted (the Entra admin center's button, documented under "Grant
//! tenant-wide admin consent to an application"). Pure: the server loads the pieces through
//! Graph as the signed-in administrator and sends the writes this plan names, so Graph's
//! rules (Privileged Role Administrator for Microsoft Graph's application permissions, …)
//! decide each one.

use crate::Timestamp;

const DAY_MS: i64 = 86_400_000;

/// How many days before its end a credential counts as expiring soon (the admin center's
/// marker uses 30 days).
pub const EXPIRES_SOON_DAYS: i64 = 30;

/// A credential's state at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialState {
    /// Its end has passed: sign-ins with it fail (AADSTS7000222).
    Expired,
    /// It ends within [`EXPIRES_SOON_DAYS`].
    ExpiresSoon,
    /// Further out.
    Valid,
}

impl CredentialState {
    /// The marker the console shows ("" for a valid one).
    pub fn marker(self) -> &'static str {
        match self {
            Self::Expired => "Expired",
            Self::ExpiresSoon => "Expires soon",
            Self::Valid => "Valid",
        }
    }
}

/// The state of a credential ending at `end`, seen at `now`.
pub fn credential_state(end: Timestamp, now: Timestamp) -> CredentialState {
    if end <= now {
        CredentialState::Expired
    } else if end.0 - now.0 <= EXPIRES_SOON_DAYS * DAY_MS {
        CredentialState::ExpiresSoon
    } else {
        CredentialState::Valid
    }
}

/// What a resource's service principal publishes: `(id, value)` of its delegated scopes
/// (`oauth2PermissionScopes`) and of its app roles (`appRoles`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Delegated permissions.
    pub scopes: Vec<(uuid::Uuid, String)>,
    /// Application permissions (app roles).
    pub roles: Vec<(uuid::Uuid, String)>,
}

/// A requested permission's kind (`resourceAccess.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Scope`: delegated.
    Delegated,
    /// `Role`: application.
    Application,
}

impl Published {
    /// The value (`User.Read`) of a requested permission, if the resource publishes it.
    pub fn name_of(&self, kind: Kind, id: uuid::Uuid) -> Option<&str> {
        let list = match kind {
            Kind::Delegated => &self.scopes,
            Kind::Application => &self.roles,
        };
        list.iter().find(|(i, _)| *i == id).map(|(_, v)| v.as_str())
    }
}

/// What is already granted to the client on one resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Granted {
    /// The scope string of the client's `AllPrincipals` grant on the resource, if any.
    pub tenant_wide_scope: Option<String>,
    /// The app roles of the resource already assigned to the client's service principal.
    pub roles: Vec<uuid::Uuid>,
}

/// The writes admin consent needs on one resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsentPlan {
    /// The delegated grant's new scope string, when it must be created or grow (the existing
    /// values first, in their order, then the new ones); `None` when nothing is missing.
    pub scope: Option<String>,
    /// App roles to assign to the client's service principal (not yet assigned).
    pub roles: Vec<uuid::Uuid>,
    /// Requested ids the resource does not publish (named in the console, not granted).
    pub unknown: Vec<(Kind, uuid::Uuid)>,
}

impl ConsentPlan {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.scope.is_none() && self.roles.is_empty()
    }
}

/// Plans admin consent for the permissions `requested` of one resource (`(kind, id)` from
/// `requiredResourceAccess`), against what it publishes and what is already `granted`.
/// Disabled or unknown permissions are not granted; granting is idempotent (a second run
/// plans nothing).
pub fn plan(
    requested: &[(Kind, uuid::Uuid)],
    published: &Published,
    granted: &Granted,
) -> ConsentPlan {
    let mut out = ConsentPlan::default();
    let have: Vec<&str> = granted
        .tenant_wide_scope
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let mut add: Vec<&str> = Vec::new();
    for (kind, id) in requested {
        match (kind, published.name_of(*kind, *id)) {
            (_, None) => {
                if !out.unknown.contains(&(*kind, *id)) {
                    out.unknown.push((*kind, *id));
                }
            }
            (Kind::Delegated, Some(v)) => {
                if !have.iter().any(|h| h.eq_ignore_ascii_case(v))
                    && !add.iter().any(|h| h.eq_ignore_ascii_case(v))
                {
                    add.push(v);
                }
            }
            (Kind::Application, Some(_)) => {
                if !granted.roles.contains(id) && !out.roles.contains(id) {
                    out.roles.push(*id);
                }
            }
        }
    }
    if !add.is_empty() {
        let all: Vec<&str> = have.into_iter().chain(add).collect();
        out.scope = Some(all.join(" "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> uuid::Uuid {
        uuid::Uuid::from_u128(n)
    }

    fn graph() -> Published {
        Published {
            scopes: vec![(id(1), "User.Read".into()), (id(2), "Mail.Read".into())],
            roles: vec![(id(10), "User.Read.All".into())],
        }
    }

    #[test]
    fn expiry_markers_follow_the_clock_given() {
        let now = Timestamp(1_000 * DAY_MS);
        assert_eq!(
            credential_state(Timestamp(now.0 - 1), now),
            CredentialState::Expired
        );
        assert_eq!(credential_state(now, now), CredentialState::Expired);
        assert_eq!(
            credential_state(Timestamp(now.0 + 29 * DAY_MS), now),
            CredentialState::ExpiresSoon
        );
        assert_eq!(
            credential_state(Timestamp(now.0 + 30 * DAY_MS), now),
            CredentialState::ExpiresSoon
        );
        // Positive control: further out is valid.
        assert_eq!(
            credential_state(Timestamp(now.0 + 31 * DAY_MS), now),
            CredentialState::Valid
        );
        assert_eq!(CredentialState::Expired.marker(), "Expired");
    }

    #[test]
    fn consent_creates_the_grant_and_assigns_the_roles() {
        let p = plan(
            &[(Kind::Delegated, id(1)), (Kind::Application, id(10))],
            &graph(),
            &Granted::default(),
        );
        assert_eq!(p.scope.as_deref(), Some("User.Read"));
        assert_eq!(p.roles, vec![id(10)]);
        assert!(p.unknown.is_empty());
        assert!(!p.is_empty());
    }

    #[test]
    fn consent_grows_an_existing_grant_and_is_idempotent() {
        let granted = Granted {
            tenant_wide_scope: Some("openid user.read".into()),
            roles: vec![id(10)],
        };
        let p = plan(
            &[
                (Kind::Delegated, id(1)),
                (Kind::Delegated, id(2)),
                (Kind::Delegated, id(2)),
                (Kind::Application, id(10)),
            ],
            &graph(),
            &granted,
        );
        assert_eq!(p.scope.as_deref(), Some("openid user.read Mail.Read"));
        assert!(p.roles.is_empty());
        // Once granted, nothing more.
        let again = plan(
            &[(Kind::Delegated, id(1)), (Kind::Delegated, id(2))],
            &graph(),
            &Granted {
                tenant_wide_scope: p.scope.clone(),
                roles: vec![],
            },
        );
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn unpublished_permissions_are_named_not_granted() {
        let p = plan(
            &[(Kind::Delegated, id(99)), (Kind::Application, id(1))],
            &graph(),
            &Granted::default(),
        );
        // id(1) is a scope, not a role: asking for it as an application permission is unknown.
        assert_eq!(
            p.unknown,
            vec![(Kind::Delegated, id(99)), (Kind::Application, id(1))]
        );
        assert!(p.is_empty());
        assert_eq!(graph().name_of(Kind::Delegated, id(2)), Some("Mail.Read"));
        assert_eq!(graph().name_of(Kind::Application, id(2)), None);
    }
}
