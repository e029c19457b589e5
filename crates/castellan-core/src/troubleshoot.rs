//! The access troubleshooter's judgement: from a failed sign-in's AADSTS code, the failure
//! family (Castellan's grouping of Entra's errors into the handful of mistakes people make),
//! what it means and which setting fixes it. Pure; the console renders it next to the sign-in
//! record it came from. Codes not listed are "Other" with the record's own failure reason.

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
    /// A code or refresh token was expired, revoked or replayed.
    ExpiredGrant,
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
}
