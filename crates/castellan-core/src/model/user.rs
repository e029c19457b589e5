//! Users and the rules for their names and passwords.

use crate::ids::{ObjectId, TenantId};
use crate::model::tenant::{PasswordPolicy, Tenant};
use crate::time::Timestamp;

/// Member or guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserType {
    /// A member of the tenant.
    Member,
    /// An external guest.
    Guest,
}

impl UserType {
    /// Graph's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Member => "Member",
            Self::Guest => "Guest",
        }
    }
    /// Graph's spelling, case-insensitive.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "member" => Some(Self::Member),
            "guest" => Some(Self::Guest),
            _ => None,
        }
    }
}

/// A user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Object id.
    pub id: ObjectId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Display name.
    pub display_name: String,
    /// `alias@domain`, unique per tenant ignoring case.
    pub user_principal_name: String,
    /// Mail nickname.
    pub mail_nickname: Option<String>,
    /// Mail address.
    pub mail: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Surname.
    pub surname: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Office location.
    pub office_location: Option<String>,
    /// Company name.
    pub company_name: Option<String>,
    /// Employee id.
    pub employee_id: Option<String>,
    /// Whether the account may sign in.
    pub account_enabled: bool,
    /// Member or guest.
    pub user_type: UserType,
    /// Creation time.
    pub created: Timestamp,
    /// argon2id PHC string; `None` for accounts without a password.
    pub password_hash: Option<String>,
    /// The user must choose a new password at next sign-in.
    pub force_change_password_next_sign_in: bool,
    /// Manager (a user in the same tenant).
    pub manager_id: Option<ObjectId>,
    /// `otherMails`: additional email addresses (read by dynamic membership rules).
    pub other_mails: Vec<String>,
    /// `usageLocation`: ISO 3166-1 alpha-2 (upper case); needed before a licence is assigned.
    pub usage_location: Option<String>,
    /// B2B: set on a guest made by an invitation (`creationType: Invitation`).
    pub external: Option<ExternalUser>,
}

/// Graph's `externalUserState`: an invited guest before and after redemption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalUserState {
    /// Invited, not yet redeemed (or `resetRedemption`).
    PendingAcceptance,
    /// Redeemed.
    Accepted,
}

impl ExternalUserState {
    /// Graph's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PendingAcceptance => "PendingAcceptance",
            Self::Accepted => "Accepted",
        }
    }
    /// Parses [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [Self::PendingAcceptance, Self::Accepted]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One of Graph's `objectIdentity` values (`signInType`, `issuer`, `issuerAssignedId`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectIdentity {
    /// `userPrincipalName`, `emailAddress`, `federated`.
    pub sign_in_type: String,
    /// The issuer: a domain, `mail`, `ExternalAzureAD` or a home tenant's issuer.
    pub issuer: String,
    /// The id the issuer gave (absent for federated identities).
    pub issuer_assigned_id: Option<String>,
}

/// What an invitation made of a guest: the address it was sent to, its redemption state and
/// the home identity that redeemed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalUser {
    /// The invited address, lower case: only its owner may redeem.
    pub invited_email: String,
    /// `externalUserState`.
    pub state: ExternalUserState,
    /// `externalUserStateChangeDateTime`.
    pub state_changed: Timestamp,
    /// The identities the guest signs in with (filled at redemption).
    pub identities: Vec<ObjectIdentity>,
    /// The home tenant when it is a tenant of this server (filled at redemption).
    pub home_tenant: Option<TenantId>,
    /// The home account's object id in that tenant (filled at redemption).
    pub home_object_id: Option<ObjectId>,
}

/// Why a user principal name was refused.
pub fn validate_upn(upn: &str, tenant: &Tenant) -> Result<(), String> {
    let Some((alias, domain)) = upn.rsplit_once('@') else {
        return Err(format!(
            "userPrincipalName '{upn}' must have the form alias@domain"
        ));
    };
    if alias.is_empty() || alias.len() > 64 {
        return Err(format!(
            "userPrincipalName '{upn}' must have an alias of 1 to 64 characters before '@'"
        ));
    }
    if alias.starts_with('.') || alias.ends_with('.') || alias.contains("..") {
        return Err(format!(
            "userPrincipalName '{upn}' must not start or end with '.' or contain '..' before '@'"
        ));
    }
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "'.-_!#^~".contains(c);
    if let Some(c) = alias.chars().find(|c| !ok_char(*c)) {
        return Err(format!(
            "userPrincipalName '{upn}' contains the character '{c}', which is not allowed"
        ));
    }
    if !tenant.owns_domain(domain) {
        if let Some(m) = crate::domains::unverified_use(tenant, domain, "userPrincipalName", upn) {
            return Err(m);
        }
        let names: Vec<&str> = tenant
            .domains
            .iter()
            .filter(|d| d.is_verified)
            .map(|d| d.name.as_str())
            .collect();
        return Err(format!(
            "The domain portion of the userPrincipalName property is invalid: '{domain}' is not a verified domain of this tenant. Use one of: {}",
            names.join(", ")
        ));
    }
    Ok(())
}

/// Applies the tenant's password policy. The message says what is missing.
pub fn check_password_policy(password: &str, policy: &PasswordPolicy) -> Result<(), String> {
    let len = password.chars().count();
    if len < policy.min_length || len > policy.max_length {
        return Err(format!(
            "The specified password does not comply with password complexity requirements: it must be {} to {} characters long (it has {len}).",
            policy.min_length, policy.max_length
        ));
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if classes < policy.required_classes {
        return Err(format!(
            "The specified password does not comply with password complexity requirements: use at least {} of lowercase letters, uppercase letters, digits and symbols.",
            policy.required_classes
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tenant::{Domain, LicenseTier, TenantSettings};
    use crate::{TenantId, Timestamp};

    fn tenant() -> Tenant {
        Tenant {
            id: TenantId::from_random([1; 16]),
            display_name: "c".into(),
            domains: vec![
                Domain {
                    name: "contoso.onmicrosoft.test".into(),
                    is_initial: true,
                    is_default: true,
                    is_verified: true,
                    ..Default::default()
                },
                Domain {
                    name: "pending.example".into(),
                    is_initial: false,
                    is_default: false,
                    is_verified: false,
                    ..Default::default()
                },
            ],
            license: LicenseTier::Free,
            settings: TenantSettings::default(),
            created: Timestamp(0),
        }
    }

    #[test]
    fn upn_rules() {
        let t = tenant();
        let ok = |u: &str| validate_upn(u, &t).is_ok();
        assert!(ok("alex@contoso.onmicrosoft.test"));
        assert!(ok("Alex.Wilber@CONTOSO.onmicrosoft.test"));
        assert!(ok("o'neil_x-y@contoso.onmicrosoft.test"));
        for bad in [
            "alex",
            "@contoso.onmicrosoft.test",
            "a@pending.example",
            "a@other.test",
            ".a@contoso.onmicrosoft.test",
            "a..b@contoso.onmicrosoft.test",
            "a b@contoso.onmicrosoft.test",
            "a\"b@contoso.onmicrosoft.test",
        ] {
            assert!(!ok(bad), "{bad} should be refused");
        }
        let long = format!("{}@contoso.onmicrosoft.test", "a".repeat(65));
        assert!(!ok(&long));
        assert!(
            validate_upn("a@other.test", &t)
                .unwrap_err()
                .contains("contoso.onmicrosoft.test"),
            "the error lists the valid domains"
        );
        let e = validate_upn("a@Pending.example", &t).unwrap_err();
        assert!(
            e.contains("'pending.example'")
                && e.contains("not verified yet")
                && e.contains("POST /domains/pending.example/verify"),
            "an unverified domain of the tenant says how to verify it: {e}"
        );
    }

    #[test]
    fn password_policy() {
        let p = PasswordPolicy::default();
        for good in ["Passw0rd", "pass word 1", "ÄÖÜabc123", "Correct-Horse"] {
            assert!(check_password_policy(good, &p).is_ok(), "{good}");
        }
        for bad in [
            "Pa1!",
            "password",
            "PASSWORD1",
            "12345678!",
            &"Aa1".repeat(90),
        ] {
            assert!(check_password_policy(bad, &p).is_err(), "{bad}");
        }
        let strict = PasswordPolicy {
            min_length: 12,
            max_length: 64,
            required_classes: 4,
        };
        assert!(check_password_policy("Passw0rd!", &strict)
            .unwrap_err()
            .contains("12 to 64"));
        assert!(check_password_policy("Passw0rdPassw0rd", &strict)
            .unwrap_err()
            .contains("at least 4"));
    }
}
