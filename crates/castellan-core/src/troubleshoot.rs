//! The access troubleshooter's judgement. From a failed sign-in's AADSTS code ([`diagnose`]),
//! a pasted token ([`diagnose_token`]) or a question "may this user do this action here"
//! ([`diagnose_access`]): the failure family (Castellan's grouping of Entra's errors into the
//! handful of mistakes people make), the evidence, what it means and which setting fixes it.
//! Pure; the console, `castellan troubleshoot` and `/v1.0/auditLogs/troubleshoot` render it.
//! Codes not listed are "Other" with the record's own failure reason.

/// The failure families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// The sign-in succeeded.
    Success,
    /// The redirect URI is not registered for the app (AADSTS50011).
    RedirectUriMismatch,
    /// Consent or admin approval is needed (65001, 90094, 90095).
    ConsentNeeded,
    /// The application (or resource) is not in this tenant (700016, 500011, 7000112).
    AppNotInTenant,
    /// A client secret, certificate or federated credential is expired or wrong.
    ClientCredential,
    /// The user's password, account state or lockout.
    UserCredential,
    /// The user is not assigned to an app that requires assignment (50105).
    NotAssigned,
    /// A Conditional Access policy or security defaults blocked the sign-in.
    ConditionalAccessBlock,
    /// Multifactor authentication (or its registration) is owed.
    MfaOwed,
    /// The scope, audience or token version does not fit the resource.
    ScopeOrAudience,
    /// A code or refresh token was expired, revoked or replayed (or a pasted token expired).
    ExpiredGrant,
    /// A token's audience, issuer, tenant, signature or version does not fit where it is used.
    TokenMismatch,
    /// A directory role where Azure RBAC is needed, or an Azure role where a directory role is.
    WrongPlane,
    /// No role or permission of the right plane grants the action.
    MissingPermission,
    /// Anything else.
    Other,
}

impl Family {
    /// The family's name on the wire (`GET /v1.0/auditLogs/troubleshoot`, the CLI's `--json`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::RedirectUriMismatch => "redirectUriMismatch",
            Self::ConsentNeeded => "consentNeeded",
            Self::AppNotInTenant => "applicationNotInTenant",
            Self::ClientCredential => "clientCredential",
            Self::UserCredential => "userCredential",
            Self::NotAssigned => "notAssigned",
            Self::ConditionalAccessBlock => "conditionalAccessBlock",
            Self::MfaOwed => "mfaOwed",
            Self::ScopeOrAudience => "scopeOrAudience",
            Self::ExpiredGrant => "expiredGrant",
            Self::TokenMismatch => "tokenMismatch",
            Self::WrongPlane => "wrongPlane",
            Self::MissingPermission => "missingPermission",
            Self::Other => "other",
        }
    }
}

/// A diagnosis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnosis {
    /// The family.
    pub family: Family,
    /// Its name, as the console shows it.
    pub title: &'static str,
    /// What it means and what to change.
    pub fix: &'static str,
    /// The console blade where the fix is made (path), when there is one.
    pub blade: Option<&'static str>,
}

const fn d(
    family: Family,
    title: &'static str,
    fix: &'static str,
    blade: Option<&'static str>,
) -> Diagnosis {
    Diagnosis {
        family,
        title,
        fix,
        blade,
    }
}

/// The family of AADSTS `code` (0 = success).
pub fn diagnose(code: u32) -> Diagnosis {
    use Family::*;
    match code {
        0 => d(Success, "Success", "The sign-in succeeded; nothing to fix.", None),
        50011 => d(RedirectUriMismatch, "Redirect URI mismatch", "The redirect URI the app sent is not registered for it on the right platform. Add the exact URI (scheme, host, port, path) under the app registration's Authentication, or fix the app's configuration.", Some("/admin/app-registrations")),
        65001 | 90094 | 90095 => d(ConsentNeeded, "Consent or admin approval needed", "The app asked for permissions nobody consented to, or that only an administrator may grant. Grant admin consent for the app's API permissions, or let the user consent if the tenant's consent policy allows it.", Some("/admin/enterprise-apps")),
        700016 | 500011 | 7000112 => d(AppNotInTenant, "Application not found in this tenant", "The client id (or the resource) has no enabled enterprise application in this tenant: the app is registered in another tenant, was deleted or disabled, or the authority names the wrong tenant. Create its enterprise application (consent does that for multi-tenant apps) or use the app's home tenant.", Some("/admin/enterprise-apps")),
        7000215 | 7000222 | 7000218 | 700027 | 700024 | 700211 | 700212 | 700213 | 70021 | 700025 => d(ClientCredential, "Expired or wrong client credential", "The app's secret, certificate or federated token did not prove the client: wrong value (send the secret's value, not its id), expired, or a federated token whose issuer, subject or audience matches none of the app's federated credentials. Add a new secret or fix the credential under the app registration.", Some("/admin/app-registrations")),
        50126 | 50034 | 50057 | 50055 | 50053 | 50144 => d(UserCredential, "User credential or account state", "The user's name or password was wrong, the account is disabled or locked, or the password must change. Check the account, reset the password, or wait out the lockout.", Some("/admin/users")),
        50105 => d(NotAssigned, "User not assigned to the application", "The enterprise application requires assignment and neither the user nor a group of theirs is assigned. Assign them under the enterprise application's Users and groups, or turn assignment off.", Some("/admin/enterprise-apps")),
        53003 | 530035 | 53000 | 53001 | 53002 | 50142 => d(ConditionalAccessBlock, "Blocked by Conditional Access", "A Conditional Access policy (or security defaults) refused the sign-in: see the applied policies on the sign-in record. Change the policy's conditions, exclude the user, or meet its grant control (compliant device, approved app).", Some("/admin/conditional-access")),
        50076 | 50079 | 50074 | 500121 | 70043 => d(MfaOwed, "Multifactor authentication owed", "A policy requires MFA (or a fresh sign-in) and the session had not done it, or the user has no method registered. The user completes MFA interactively or registers an authenticator app; an app receiving this must send an interactive request with the claims challenge.", Some("/admin/conditional-access")),
        70011 | 65002 | 90009 | 9002313 => d(ScopeOrAudience, "Scope, audience or version mismatch", "The requested scope names a permission or resource this tenant does not have, or mixes resources. Request '<resource>/.default' or permissions the resource exposes, for one resource per token.", Some("/admin/app-registrations")),
        70008 | 54005 | 9002327 => d(ExpiredGrant, "Expired, revoked or reused code or token", "The authorization code or refresh token was expired, revoked (password change, revoked sessions) or already used. Sign in again; a code is redeemed once.", None),
        _ => d(Other, "Other", "See the failure reason on the sign-in record.", None),
    }
}

/// One finding about a token or an access question: the family, what was seen (the evidence),
/// the fix, and the console blade where it is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The family.
    pub family: Family,
    /// A short title.
    pub title: String,
    /// What was seen: the claims or the decision behind the family.
    pub evidence: String,
    /// What to change.
    pub fix: String,
    /// The console blade (path) where the fix is made.
    pub blade: Option<String>,
}

fn finding(
    family: Family,
    title: &str,
    evidence: String,
    fix: String,
    blade: Option<String>,
) -> Finding {
    Finding {
        family,
        title: title.to_string(),
        evidence,
        fix,
        blade,
    }
}

/// Whether a pasted token's signature is this server's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signature {
    /// Verified with one of this server's published keys.
    Valid,
    /// A `kid` this server does not publish (another issuer's, or a retired key).
    UnknownKey,
    /// The key is this server's but the signature does not verify (the token was changed).
    Invalid,
}

/// What a pasted token says (decoded by the wire layer; nothing here is trusted unless
/// `signature` is `Valid`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenFacts {
    /// `iss`.
    pub iss: Option<String>,
    /// `aud`.
    pub aud: Option<String>,
    /// `ver` ("1.0" / "2.0").
    pub ver: Option<String>,
    /// `tid`.
    pub tid: Option<String>,
    /// `exp` (seconds).
    pub exp: Option<i64>,
    /// `nbf` (seconds).
    pub nbf: Option<i64>,
    /// `scp`, split.
    pub scopes: Vec<String>,
    /// `roles`.
    pub roles: Vec<String>,
    /// `wids` (directory role template ids).
    pub wids: Vec<String>,
}

/// The API a pasted token was sent to (when the person says which).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intended {
    /// Its name, for the sentences ("Microsoft Graph", "Azure Resource Manager", an app's name).
    pub name: String,
    /// The audiences it accepts (its appId and identifier URIs).
    pub audiences: Vec<String>,
    /// The access-token version it accepts (`api.requestedAccessTokenVersion`), if it says.
    pub accepted_version: Option<u8>,
    /// The scope or app role the call needs, if the person names one.
    pub permission: Option<String>,
}

/// Where the token is judged: this tenant, its issuers, the time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenContext {
    /// The tenant (id).
    pub tenant: String,
    /// This tenant's issuers (v1 `https://sts.windows.net/{tid}/` and v2 `{origin}/{tid}/v2.0`).
    pub issuers: Vec<String>,
    /// Now, in seconds.
    pub now: i64,
    /// Where it was sent.
    pub intended: Option<Intended>,
}

const APPS: &str = "/admin/app-registrations";

/// Every finding about a pasted token; one `Success` finding when it fits.
pub fn diagnose_token(t: &TokenFacts, c: &TokenContext, signature: Signature) -> Vec<Finding> {
    use Family::*;
    let mut out = Vec::new();
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
    match signature {
        Signature::Valid => {}
        Signature::UnknownKey => out.push(finding(TokenMismatch, "Not signed by this server", format!("The token's signing key is not one this server publishes (iss {}).", text(&t.iss)), "A token from another issuer (or signed with a retired key) is not accepted here. Get a token from this tenant's authority: /{tenant}/oauth2/v2.0/token.".to_string(), None)),
        Signature::Invalid => out.push(finding(TokenMismatch, "Signature does not verify", "The token names one of this server's keys but its signature does not verify: it was changed after it was issued.".to_string(), "Use the token exactly as the token endpoint returned it; a token cannot be edited.".to_string(), None)),
    }
    if t.tid
        .as_deref()
        .is_some_and(|x| !x.eq_ignore_ascii_case(&c.tenant))
    {
        out.push(finding(TokenMismatch, "Issued by another tenant", format!("tid is {}, not this tenant ({}).", text(&t.tid), c.tenant), "Sign in through this tenant's authority (its id or a verified domain in the URL), or invite the user as a guest if they belong to the other tenant.".to_string(), None));
    } else if t
        .iss
        .as_ref()
        .is_some_and(|i| !c.issuers.iter().any(|x| x == i))
    {
        out.push(finding(TokenMismatch, "Issuer does not match", format!("iss is {}; this tenant's issuers are {}.", text(&t.iss), c.issuers.join(" and ")), "The validating API must accept this tenant's issuer for the token version it receives (v1: sts.windows.net, v2: the authority's /v2.0), or the client must use this tenant's authority.".to_string(), None));
    }
    if let Some(exp) = t.exp.filter(|e| *e <= c.now) {
        out.push(finding(ExpiredGrant, "Token expired", format!("exp {exp} is {} s ago.", c.now - exp), "Acquire a new token (MSAL does it silently with the cached refresh token); never cache access tokens past exp.".to_string(), None));
    }
    if let Some(nbf) = t.nbf.filter(|n| *n > c.now + 300) {
        out.push(finding(
            TokenMismatch,
            "Token not valid yet",
            format!("nbf {nbf} is {} s in the future.", nbf - c.now),
            "Check the clocks of the client, the API and this server.".to_string(),
            None,
        ));
    }
    if let Some(i) = &c.intended {
        let aud = t.aud.clone().unwrap_or_default();
        if !i.audiences.iter().any(|a| {
            a.eq_ignore_ascii_case(aud.trim_end_matches('/')) || a.eq_ignore_ascii_case(&aud)
        }) {
            out.push(finding(TokenMismatch, "Audience does not match", format!("aud is {}; {} accepts {}.", text(&t.aud), i.name, i.audiences.join(", ")), format!("Request the token for {} (scope '{}/.default' or one of its permissions): a token is for one resource only.", i.name, i.audiences.first().map_or("", String::as_str)), Some(APPS.into())));
        } else if let (Some(want), Some(ver)) = (i.accepted_version, t.ver.as_deref()) {
            let got = if ver.starts_with('2') { 2 } else { 1 };
            if got != want {
                out.push(finding(TokenMismatch, "Token version does not match", format!("The token is v{got}.0; {} accepts v{want}.0 tokens.", i.name), format!("Set api.requestedAccessTokenVersion to {got} on {}'s app registration, or validate v{want}.0 tokens in the API (issuer and claims differ by version).", i.name), Some(APPS.into())));
            }
        }
        if let Some(p) = &i.permission {
            let has = t
                .scopes
                .iter()
                .chain(t.roles.iter())
                .any(|x| x.eq_ignore_ascii_case(p));
            if !has {
                out.push(finding(ConsentNeeded, "Permission missing from the token", format!("The call needs '{p}'; the token has scp [{}] and roles [{}].", t.scopes.join(" "), t.roles.join(", ")), format!("Add '{p}' to the client's API permissions and grant consent (admin consent for application permissions), then acquire a new token."), Some("/admin/enterprise-apps".into())));
            }
        }
    }
    if out.is_empty() {
        out.push(finding(Success, "The token fits", format!("Signed by this server for tenant {}, aud {}, v{}, valid for {} more s.", c.tenant, text(&t.aud), text(&t.ver), t.exp.map_or(0, |e| e - c.now)), "Nothing to fix in the token; if the call still fails, check the caller's role or permission for the action (access check).".to_string(), None));
    }
    out
}

/// The plane an access question is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plane {
    /// Azure RBAC: an ARM action at a scope.
    Azure {
        /// The scope.
        scope: String,
        /// The action (`Microsoft.Compute/virtualMachines/write`).
        action: String,
    },
    /// The directory: a directory action (`microsoft.directory/users/create`).
    Directory {
        /// The action.
        action: String,
    },
}

impl Plane {
    /// The plane an action belongs to: `microsoft.directory/…` is the directory's, any other
    /// action Azure RBAC's, which needs the ARM `scope` it is done at.
    pub fn of(action: &str, scope: Option<&str>) -> Result<Plane, String> {
        if action
            .to_ascii_lowercase()
            .starts_with("microsoft.directory/")
        {
            return Ok(Plane::Directory {
                action: action.to_string(),
            });
        }
        match scope {
            Some(s) => Ok(Plane::Azure {
                scope: s.to_string(),
                action: action.to_string(),
            }),
            None => Err(format!("'{action}' is an Azure action: send the ARM scope it is done at as 'scope' (e.g. /subscriptions/<id>/resourceGroups/<name>); directory actions start with microsoft.directory/.")),
        }
    }
}

/// What the engines said about an access question, and what the principal holds on the other
/// plane (the evidence of a wrong-plane mistake).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessFacts {
    /// The question's plane's engine allowed it.
    pub allowed: bool,
    /// Its explanation (the granting assignment, or why none covers it).
    pub explanation: String,
    /// The principal's directory roles (names).
    pub directory_roles: Vec<String>,
    /// The principal's Azure role assignments (role name and scope).
    pub azure_roles: Vec<(String, String)>,
}

/// The finding for an access question.
pub fn diagnose_access(q: &Plane, f: &AccessFacts) -> Finding {
    use Family::*;
    match q {
        Plane::Azure { scope, action } => {
            let iam = Some(format!("/admin/azure/iam?scope={scope}"));
            if f.allowed {
                return finding(
                    Success,
                    "Allowed",
                    f.explanation.clone(),
                    "Nothing to fix: Azure RBAC allows it.".into(),
                    iam,
                );
            }
            if f.directory_roles.is_empty() {
                return finding(MissingPermission, "No Azure role assignment covers it", f.explanation.clone(), format!("Assign an Azure role that includes '{action}' at '{scope}' or above (Access control (IAM)); a directory role would not help."), iam);
            }
            finding(WrongPlane, "A directory role is not an Azure role", format!("{} The principal holds the directory role(s) {}, which govern the directory (users, groups, applications, policies) and grant nothing on Azure resources.", f.explanation, f.directory_roles.join(", ")), format!("Assign an Azure role that includes '{action}' at '{scope}' or above (Access control (IAM)). A Global Administrator who needs it can elevate access (User Access Administrator at the root scope, audited) and then assign the role."), iam)
        }
        Plane::Directory { action } => {
            let roles = Some("/admin/roles".to_string());
            if f.allowed {
                return finding(
                    Success,
                    "Allowed",
                    f.explanation.clone(),
                    "Nothing to fix: a directory role grants it.".into(),
                    roles,
                );
            }
            if f.azure_roles.is_empty() {
                return finding(MissingPermission, "No directory role grants it", f.explanation.clone(), format!("Assign a directory role that includes '{action}' (Roles and administrators); an Azure role would not help."), roles);
            }
            let held: Vec<String> = f
                .azure_roles
                .iter()
                .map(|(r, s)| format!("{r} at {s}"))
                .collect();
            finding(WrongPlane, "An Azure role is not a directory role", format!("{} The principal holds the Azure role(s) {}, which govern Azure resources and grant nothing in the directory.", f.explanation, held.join(", ")), format!("Assign a directory role that includes '{action}' (Roles and administrators)."), roles)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_failures_have_their_family_and_fix() {
        for (code, family) in [
            (50011, Family::RedirectUriMismatch),
            (65001, Family::ConsentNeeded),
            (700016, Family::AppNotInTenant),
            (7000222, Family::ClientCredential),
            (7000215, Family::ClientCredential),
            (53003, Family::ConditionalAccessBlock),
            (50076, Family::MfaOwed),
            (50079, Family::MfaOwed),
            (70011, Family::ScopeOrAudience),
            (50126, Family::UserCredential),
            (50105, Family::NotAssigned),
        ] {
            let d = diagnose(code);
            assert_eq!(d.family, family, "{code}");
            assert!(d.fix.len() > 40, "{code}");
        }
        assert_eq!(diagnose(0).family, Family::Success);
        assert_eq!(diagnose(12_345).family, Family::Other);
        assert_eq!(diagnose(53003).blade, Some("/admin/conditional-access"));
    }

    fn ctx(intended: Option<Intended>) -> TokenContext {
        TokenContext {
            tenant: "t1".into(),
            issuers: vec![
                "https://sts.windows.net/t1/".into(),
                "https://h/t1/v2.0".into(),
            ],
            now: 1_000,
            intended,
        }
    }

    fn good() -> TokenFacts {
        TokenFacts {
            iss: Some("https://h/t1/v2.0".into()),
            aud: Some("00000003-0000-0000-c000-000000000000".into()),
            ver: Some("2.0".into()),
            tid: Some("t1".into()),
            exp: Some(4_000),
            nbf: Some(900),
            scopes: vec!["User.Read".into()],
            roles: vec![],
            wids: vec![],
        }
    }

    fn graph(permission: Option<&str>) -> Intended {
        Intended {
            name: "Microsoft Graph".into(),
            audiences: vec![
                "https://graph.microsoft.com".into(),
                "00000003-0000-0000-c000-000000000000".into(),
            ],
            accepted_version: None,
            permission: permission.map(str::to_string),
        }
    }

    fn families(v: &[Finding]) -> Vec<Family> {
        v.iter().map(|f| f.family).collect()
    }

    #[test]
    fn a_fitting_token_is_a_success_and_each_mismatch_is_named() {
        let ok = diagnose_token(
            &good(),
            &ctx(Some(graph(Some("User.Read")))),
            Signature::Valid,
        );
        assert_eq!(families(&ok), vec![Family::Success]);
        // another tenant, an unknown issuer, expiry, a changed or foreign signature
        let mut t = good();
        t.tid = Some("t2".into());
        assert_eq!(
            families(&diagnose_token(&t, &ctx(None), Signature::Valid)),
            vec![Family::TokenMismatch]
        );
        let mut t = good();
        t.iss = Some("https://elsewhere/".into());
        let f = diagnose_token(&t, &ctx(None), Signature::Valid);
        assert!(f[0].evidence.contains("https://elsewhere/"), "{f:?}");
        let mut t = good();
        t.exp = Some(999);
        assert_eq!(
            families(&diagnose_token(&t, &ctx(None), Signature::Valid)),
            vec![Family::ExpiredGrant]
        );
        assert_eq!(
            families(&diagnose_token(&good(), &ctx(None), Signature::Invalid)),
            vec![Family::TokenMismatch]
        );
        assert_eq!(
            families(&diagnose_token(&good(), &ctx(None), Signature::UnknownKey)),
            vec![Family::TokenMismatch]
        );
    }

    #[test]
    fn audience_version_and_permission_against_the_intended_api() {
        let arm = Intended {
            name: "Azure Resource Manager".into(),
            audiences: vec!["https://management.azure.com".into()],
            accepted_version: None,
            permission: None,
        };
        let f = diagnose_token(&good(), &ctx(Some(arm)), Signature::Valid);
        assert_eq!(families(&f), vec![Family::TokenMismatch]);
        assert!(
            f[0].fix.contains("https://management.azure.com/.default"),
            "{f:?}"
        );
        let mut api = graph(None);
        api.accepted_version = Some(1);
        let f = diagnose_token(&good(), &ctx(Some(api)), Signature::Valid);
        assert_eq!(f[0].title, "Token version does not match");
        let f = diagnose_token(
            &good(),
            &ctx(Some(graph(Some("User.ReadWrite.All")))),
            Signature::Valid,
        );
        assert_eq!(families(&f), vec![Family::ConsentNeeded]);
        assert!(f[0].evidence.contains("User.Read"), "{f:?}");
    }

    #[test]
    fn an_action_names_its_plane_and_an_azure_one_needs_a_scope() {
        assert!(matches!(
            Plane::of("Microsoft.Directory/users/create", None),
            Ok(Plane::Directory { .. })
        ));
        assert!(matches!(
            Plane::of(
                "Microsoft.Compute/virtualMachines/write",
                Some("/subscriptions/s")
            ),
            Ok(Plane::Azure { .. })
        ));
        assert!(Plane::of("Microsoft.Compute/virtualMachines/write", None)
            .unwrap_err()
            .contains("scope"));
    }

    #[test]
    fn the_wrong_plane_is_named_both_ways_and_a_plain_gap_is_not() {
        let azure = Plane::Azure {
            scope: "/subscriptions/s".into(),
            action: "Microsoft.Compute/virtualMachines/write".into(),
        };
        let directory = Plane::Directory {
            action: "microsoft.directory/users/create".into(),
        };
        let facts = |allowed, dir: &[&str], az: &[(&str, &str)]| AccessFacts {
            allowed,
            explanation: "engine says".into(),
            directory_roles: dir.iter().map(|s| (*s).to_string()).collect(),
            azure_roles: az
                .iter()
                .map(|(r, s)| ((*r).to_string(), (*s).to_string()))
                .collect(),
        };
        let f = diagnose_access(&azure, &facts(false, &["Global Administrator"], &[]));
        assert_eq!(f.family, Family::WrongPlane);
        assert!(
            f.evidence.contains("Global Administrator") && f.fix.contains("elevate access"),
            "{f:?}"
        );
        assert_eq!(
            f.blade.as_deref(),
            Some("/admin/azure/iam?scope=/subscriptions/s")
        );
        assert_eq!(
            diagnose_access(&azure, &facts(false, &[], &[])).family,
            Family::MissingPermission
        );
        assert_eq!(
            diagnose_access(&azure, &facts(true, &["Global Administrator"], &[])).family,
            Family::Success
        );
        let f = diagnose_access(
            &directory,
            &facts(false, &[], &[("Owner", "/subscriptions/s")]),
        );
        assert_eq!(f.family, Family::WrongPlane);
        assert!(f.evidence.contains("Owner at /subscriptions/s"), "{f:?}");
        assert_eq!(
            diagnose_access(&directory, &facts(false, &[], &[])).family,
            Family::MissingPermission
        );
        assert_eq!(
            diagnose_access(&directory, &facts(true, &[], &[])).family,
            Family::Success
        );
    }
}
