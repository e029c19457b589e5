//! B2B invitations: the invited address, the guest's user principal name
//! (`alice_contoso.com#EXT#@<initial domain>`), which invitation a request makes (new guest,
//! re-invite, `resetRedemption`), the redemption ticket's checks (single use, bound to the
//! invited address, expiring, superseded by a reset) and the guest's state change
//! (`PendingAcceptance` → `Accepted`). Pure: `ops::invitations` loads and commits.

use crate::ids::{ObjectId, TenantId};
use crate::model::{
    ExternalUser, ExternalUserState, Grant, GrantKind, GrantState, ObjectIdentity, Tenant, User,
    UserType,
};
use crate::time::Timestamp;

/// How long a redemption link lives unless the operator says otherwise (`--invitation-days`).
pub const DEFAULT_LIFETIME_DAYS: i64 = 90;
/// Entra sends the invitation message to at most one additional recipient.
pub const MAX_CC: usize = 1;
/// Upper bound on `customizedMessageBody`.
pub const MAX_BODY_CHARS: usize = 10_000;

/// `invitedUserMessageInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageInfo {
    /// `customizedMessageBody`.
    pub customized_body: Option<String>,
    /// `ccRecipients[].emailAddress.address`.
    pub cc: Vec<String>,
    /// `messageLanguage` (default `en-US`).
    pub language: Option<String>,
}

/// A parsed `POST /invitations` body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InviteRequest {
    /// `invitedUserEmailAddress`.
    pub email: String,
    /// `inviteRedirectUrl`.
    pub redirect_url: String,
    /// `invitedUserDisplayName`.
    pub display_name: Option<String>,
    /// `invitedUserType` (default `Guest`).
    pub user_type: Option<UserType>,
    /// `sendInvitationMessage` (default false).
    pub send_message: bool,
    /// `invitedUserMessageInfo`.
    pub message: MessageInfo,
    /// `resetRedemption`.
    pub reset_redemption: bool,
    /// `invitedUser.id` (needed by `resetRedemption`).
    pub invited_user_id: Option<ObjectId>,
}

/// An email address as an invitation takes it: trimmed, lower case, `local@domain` with a
/// dotted domain, at most 256 characters. The error names the property.
pub fn normalise_email(property: &str, raw: &str) -> Result<String, String> {
    let e = raw.trim().to_lowercase();
    let bad = || {
        format!("Property '{property}' value '{raw}' is not an email address: use local@domain.")
    };
    if e.is_empty() || e.len() > 256 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let Some((local, domain)) = e.rsplit_once('@') else {
        return Err(bad());
    };
    if local.is_empty()
        || local.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
        || !domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(bad());
    }
    Ok(e)
}

/// The guest's user principal name: the address with `@` as `_`, characters a UPN may not hold
/// as `_`, then `#EXT#@` and the tenant's initial domain (Entra's shape).
pub fn guest_upn(email: &str, initial_domain: &str) -> String {
    let ok = |c: char| c.is_ascii_alphanumeric() || "'.-_!^~".contains(c);
    let alias: String = email.chars().map(|c| if ok(c) { c } else { '_' }).collect();
    format!("{alias}#EXT#@{initial_domain}")
}

/// Checks a request before anything is loaded: the redirect URL, the type, the message.
pub fn check_request(r: &InviteRequest) -> Result<(), String> {
    let url = r.redirect_url.trim();
    let lower = url.to_ascii_lowercase();
    if url.is_empty() {
        return Err("Property 'inviteRedirectUrl' is required: the address the guest lands on after redeeming (for example https://myapps.microsoft.com).".into());
    }
    if !(lower.starts_with("https://") || lower.starts_with("http://"))
        || url.len() > 2048
        || url.chars().any(char::is_whitespace)
    {
        return Err(format!(
            "Property 'inviteRedirectUrl' value '{url}' is not an absolute http(s) URL."
        ));
    }
    if r.message.cc.len() > MAX_CC {
        return Err(format!(
            "invitedUserMessageInfo.ccRecipients holds {} addresses; at most {MAX_CC} additional recipient is supported.",
            r.message.cc.len()
        ));
    }
    if let Some(b) = &r.message.customized_body {
        if b.chars().count() > MAX_BODY_CHARS {
            return Err(format!(
                "invitedUserMessageInfo.customizedMessageBody is longer than {MAX_BODY_CHARS} characters."
            ));
        }
    }
    if let Some(d) = &r.display_name {
        if d.trim().is_empty() || d.chars().count() > 256 {
            return Err("Property 'invitedUserDisplayName' must hold 1 to 256 characters.".into());
        }
    }
    if r.reset_redemption && r.invited_user_id.is_none() {
        return Err("resetRedemption needs invitedUser: {\"id\": \"<the guest's object id>\"} naming the user whose redemption is reset.".into());
    }
    Ok(())
}

/// What the invitation does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Make a new guest.
    New,
    /// Invite an existing guest again: a new link, the older ones stop working; the state
    /// stays (an accepted guest's invitation is `Completed`).
    Reinvite(ObjectId),
    /// `resetRedemption`: a new link, the guest back to `PendingAcceptance`, the identities
    /// of the last redemption forgotten.
    Reset(ObjectId),
}

/// Decides what `r` (already normalised, `email` lower case) does in `tenant`, given the user
/// of this tenant holding the address as mail, UPN or invited address (`holder`) and, for a
/// reset, the user it names (`named`).
pub fn plan(
    tenant: &Tenant,
    r: &InviteRequest,
    holder: Option<&User>,
    named: Option<&User>,
) -> Result<Plan, String> {
    let domain = r.email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    if r.reset_redemption {
        let id = r.invited_user_id.map(|i| i.to_string()).unwrap_or_default();
        let Some(u) = named else {
            return Err(format!("invitedUser '{id}' does not exist in this tenant."));
        };
        if u.external.is_none() {
            return Err(format!("invitedUser '{id}' ({}) was not made by an invitation; resetRedemption applies to invited guests only.", u.user_principal_name));
        }
        if let Some(h) = holder {
            if h.id != u.id {
                return Err(format!("The invited user already exists in the directory as object ID '{}'; '{}' cannot also be the address of invitedUser '{id}'.", h.id, r.email));
            }
        }
        return Ok(Plan::Reset(u.id));
    }
    if tenant.owns_domain(domain) {
        return Err(format!("The invited user's address '{}' is in '{domain}', a verified domain of this tenant: people there are members, not guests. Create them as users (POST /users) instead.", r.email));
    }
    match holder {
        None => Ok(Plan::New),
        Some(u) if u.external.is_some() => Ok(Plan::Reinvite(u.id)),
        Some(u) => Err(format!("The invited user already exists in the directory as object ID '{}' ({}), a user not made by an invitation. Use that account, or pick another address.", u.id, u.user_principal_name)),
    }
}

/// Whether `u` holds `email` (lower case) as its invited address, mail, UPN or other mail.
pub fn holds_address(u: &User, email: &str) -> bool {
    let eq = |s: &str| s.eq_ignore_ascii_case(email);
    u.external.as_ref().is_some_and(|e| eq(&e.invited_email))
        || u.mail.as_deref().is_some_and(eq)
        || eq(&u.user_principal_name)
        || u.other_mails.iter().any(|m| eq(m))
}

/// The new guest object (`creationType: Invitation`, `PendingAcceptance`).
pub fn new_guest(id: ObjectId, tenant: &Tenant, r: &InviteRequest, now: Timestamp) -> User {
    let local = r.email.split('@').next().unwrap_or_default().to_string();
    User {
        id,
        tenant_id: tenant.id,
        display_name: r.display_name.clone().unwrap_or_else(|| local.clone()),
        user_principal_name: guest_upn(&r.email, tenant.initial_domain()),
        mail_nickname: Some(guest_upn(&r.email, "").trim_end_matches('@').to_string()),
        mail: Some(r.email.clone()),
        given_name: None,
        surname: None,
        job_title: None,
        department: None,
        office_location: None,
        company_name: None,
        employee_id: None,
        account_enabled: true,
        user_type: r.user_type.unwrap_or(UserType::Guest),
        created: now,
        password_hash: None,
        force_change_password_next_sign_in: false,
        manager_id: None,
        other_mails: vec![r.email.clone()],
        usage_location: None,
        external: Some(ExternalUser {
            invited_email: r.email.clone(),
            state: ExternalUserState::PendingAcceptance,
            state_changed: now,
            identities: Vec::new(),
            home_tenant: None,
            home_object_id: None,
        }),
    }
}

/// The guest after `resetRedemption`: pending again, the last redemption's identities gone,
/// the address possibly changed (Entra lets a reset move the invitation to a new address).
pub fn reset(u: &User, email: &str, now: Timestamp) -> User {
    let mut u = u.clone();
    if let Some(e) = u.external.as_mut() {
        e.invited_email = email.to_string();
        e.state = ExternalUserState::PendingAcceptance;
        e.state_changed = now;
        e.identities.clear();
        e.home_tenant = None;
        e.home_object_id = None;
    }
    u.mail = Some(email.to_string());
    if !u.other_mails.iter().any(|m| m.eq_ignore_ascii_case(email)) {
        u.other_mails = vec![email.to_string()];
    }
    u
}

/// The redemption ticket to store: its handle is the SHA-256 (hex) of the link's secret, so
/// the store never holds the secret itself.
pub fn ticket(
    handle: String,
    u: &User,
    redirect_url: &str,
    now: Timestamp,
    lifetime_days: i64,
) -> Grant {
    let email = u
        .external
        .as_ref()
        .map(|e| e.invited_email.clone())
        .unwrap_or_default();
    Grant {
        handle,
        kind: GrantKind::Invitation,
        tenant_id: u.tenant_id,
        family: None,
        user_id: Some(u.id),
        lookup: None,
        state: GrantState::Active,
        created: now,
        expires: Timestamp(now.millis() + lifetime_days.max(1) * 86_400_000),
        attrs: vec![
            ("email".into(), email),
            ("redirect".into(), redirect_url.to_string()),
        ],
    }
}

/// Why a redemption link is refused; each renders a page naming the cause and the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedeemRefusal {
    /// No such link (mistyped, or of another tenant).
    Unknown,
    /// Used already (replay).
    Used,
    /// Replaced by a newer invitation or a `resetRedemption`.
    Superseded,
    /// Past its expiry.
    Expired,
    /// The guest was deleted.
    GuestGone,
    /// The person proved another address than the invited one.
    WrongAddress {
        /// The address the link is bound to.
        invited: String,
        /// The address proven.
        proven: String,
    },
}

impl RedeemRefusal {
    /// The page's sentence: cause and fix.
    pub fn message(&self) -> String {
        match self {
            Self::Unknown => "This invitation link is not valid for this organization. Open the link from the invitation message exactly as it was sent, or ask the person who invited you to invite you again.".into(),
            Self::Used => "This invitation link was used already: each link works once. Sign in to the organization's apps with the account that redeemed it, or ask an administrator to reset your redemption status.".into(),
            Self::Superseded => "This invitation link was replaced by a newer invitation. Use the link in the most recent invitation message.".into(),
            Self::Expired => "This invitation link has expired. Ask the person who invited you to send the invitation again.".into(),
            Self::GuestGone => "The guest account this invitation was for no longer exists. Ask the person who invited you to invite you again.".into(),
            Self::WrongAddress { invited, proven } => format!("This invitation was sent to {invited}, but you signed in as {proven}. Sign in with the invited address, or ask for an invitation to {proven}."),
        }
    }
}

/// Checks a presented ticket (looked up by the secret's hash) for `tenant`.
pub fn check_ticket(
    g: Option<&Grant>,
    tenant: TenantId,
    now: Timestamp,
) -> Result<(), RedeemRefusal> {
    let Some(g) = g.filter(|g| g.kind == GrantKind::Invitation && g.tenant_id == tenant) else {
        return Err(RedeemRefusal::Unknown);
    };
    match g.state {
        GrantState::Active => {}
        GrantState::Used => return Err(RedeemRefusal::Used),
        _ => return Err(RedeemRefusal::Superseded),
    }
    if now.millis() >= g.expires.millis() {
        return Err(RedeemRefusal::Expired);
    }
    Ok(())
}

/// The issuer naming a Castellan home tenant in `idp` (Entra's v1 issuer form).
pub fn home_issuer(home: TenantId) -> String {
    format!("https://sts.windows.net/{home}/")
}

/// The claims a guest's tokens carry (Entra's): `idp` names the home — the home tenant's
/// issuer, the external OpenID Connect provider's issuer, or `mail` for a passcode guest —
/// and `acct` is 1 (a guest). Members: none.
pub fn guest_claims(u: &User) -> Vec<(String, String)> {
    let Some(e) = u.external.as_ref() else {
        return Vec::new();
    };
    if e.state != ExternalUserState::Accepted {
        return Vec::new();
    }
    let idp = match (e.home_tenant, external_issuer(u)) {
        (Some(h), _) => home_issuer(h),
        (None, Some(iss)) => iss.to_string(),
        (None, None) => "mail".to_string(),
    };
    vec![("idp".into(), idp), ("acct".into(), "1".into())]
}

/// The external OpenID Connect issuer an accepted guest signs in at (its federated identity
/// with an issuer URL, as redemption at an external provider records it), if any.
pub fn external_issuer(u: &User) -> Option<&str> {
    u.external
        .as_ref()?
        .identities
        .iter()
        .find(|i| i.sign_in_type == "federated" && i.issuer.starts_with("https://"))
        .map(|i| i.issuer.as_str())
}

/// Who the invited person proved to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Proof {
    /// A user of another tenant on this server, signed in there through the pipeline.
    HomeTenant {
        /// The home tenant.
        tenant: TenantId,
        /// The home user.
        user: ObjectId,
        /// The address the home account holds (mail, or UPN).
        email: String,
        /// The home tenant's issuer, `https://sts.windows.net/{tid}/`.
        issuer: String,
    },
    /// An email one-time passcode sent to the address.
    EmailOtp {
        /// The address that received the code.
        email: String,
    },
    /// A sign-in at an external OpenID Connect provider the tenant configured
    /// (`crate::external_idp`), its ID token verified.
    ExternalIdp(crate::external_idp::ExternalIdentity),
}

impl Proof {
    /// The proven address.
    pub fn email(&self) -> &str {
        match self {
            Self::HomeTenant { email, .. } | Self::EmailOtp { email } => email,
            Self::ExternalIdp(x) => &x.email,
        }
    }
    /// The token's `idp`: the home issuer, or `mail` for a passcode guest (Entra's values).
    pub fn idp(&self) -> &str {
        match self {
            Self::HomeTenant { issuer, .. } => issuer,
            Self::EmailOtp { .. } => "mail",
            Self::ExternalIdp(x) => &x.issuer,
        }
    }
}

/// The guest once `proof` redeemed `g` (already checked): `Accepted` with the change time and
/// the identity, or the refusal when the proof is for another address.
pub fn accept(u: &User, g: &Grant, proof: &Proof, now: Timestamp) -> Result<User, RedeemRefusal> {
    let Some(ext) = u.external.as_ref() else {
        return Err(RedeemRefusal::GuestGone);
    };
    let invited = g.attr("email").unwrap_or(&ext.invited_email);
    if !proof.email().eq_ignore_ascii_case(invited) {
        return Err(RedeemRefusal::WrongAddress {
            invited: invited.to_string(),
            proven: proof.email().to_string(),
        });
    }
    let mut next = u.clone();
    let Some(e) = next.external.as_mut() else {
        return Err(RedeemRefusal::GuestGone);
    };
    e.state = ExternalUserState::Accepted;
    e.state_changed = now;
    match proof {
        Proof::HomeTenant { tenant, user, .. } => {
            e.identities = vec![ObjectIdentity {
                sign_in_type: "federated".into(),
                issuer: "ExternalAzureAD".into(),
                issuer_assigned_id: None,
            }];
            e.home_tenant = Some(*tenant);
            e.home_object_id = Some(*user);
        }
        Proof::EmailOtp { email } => {
            e.identities = vec![ObjectIdentity {
                sign_in_type: "emailAddress".into(),
                issuer: "mail".into(),
                issuer_assigned_id: Some(email.clone()),
            }];
            e.home_tenant = None;
            e.home_object_id = None;
        }
        Proof::ExternalIdp(x) => {
            e.identities = vec![ObjectIdentity {
                sign_in_type: "federated".into(),
                issuer: x.issuer.clone(),
                issuer_assigned_id: Some(x.subject.clone()),
            }];
            e.home_tenant = None;
            e.home_object_id = None;
        }
    }
    Ok(next)
}

/// Minutes an email one-time passcode stays valid.
pub const PASSCODE_MINUTES: i64 = 10;
/// Wrong passcodes before the code is spent (as for MFA codes).
pub const PASSCODE_ATTEMPTS: u32 = 3;

/// The passcode record for the link whose ticket handle is `ticket`: its own handle (derived,
/// one live code per link), the code's SHA-256 hex and no wrong attempts yet.
pub fn passcode(handle: String, ticket: &Grant, code_sha256_hex: String, now: Timestamp) -> Grant {
    Grant {
        handle,
        kind: GrantKind::EmailOtp,
        tenant_id: ticket.tenant_id,
        family: Some(ticket.handle.clone()),
        user_id: ticket.user_id,
        lookup: None,
        state: GrantState::Active,
        created: now,
        expires: Timestamp(now.millis() + PASSCODE_MINUTES * 60_000),
        attrs: vec![
            ("code".into(), code_sha256_hex),
            ("attempts".into(), "0".into()),
        ],
    }
}

/// What a typed passcode does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasscodeVerdict {
    /// Right: spend the code (`Used`).
    Right(Grant),
    /// Wrong: store the count; `left` more tries (0: the code is spent, `Revoked`).
    Wrong {
        /// The record to store.
        next: Grant,
        /// Tries left.
        left: u32,
    },
    /// No live code (never sent, expired, spent or used up): send a new one.
    NoCode,
}

/// Checks a typed passcode (its SHA-256 hex) against the record, in constant shape.
pub fn check_passcode(
    g: Option<&Grant>,
    typed_sha256_hex: &str,
    now: Timestamp,
) -> PasscodeVerdict {
    let Some(g) = g.filter(|g| {
        g.kind == GrantKind::EmailOtp
            && g.state == GrantState::Active
            && now.millis() < g.expires.millis()
    }) else {
        return PasscodeVerdict::NoCode;
    };
    let stored = g.attr("code").unwrap_or_default();
    let same = stored.len() == typed_sha256_hex.len()
        && stored
            .bytes()
            .zip(typed_sha256_hex.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        return PasscodeVerdict::Right(Grant {
            state: GrantState::Used,
            ..g.clone()
        });
    }
    let attempts = g
        .attr("attempts")
        .and_then(|a| a.parse::<u32>().ok())
        .unwrap_or(0)
        + 1;
    let left = PASSCODE_ATTEMPTS.saturating_sub(attempts);
    let mut next = g.clone();
    next.attrs.retain(|(k, _)| k != "attempts");
    next.attrs.push(("attempts".into(), attempts.to_string()));
    if left == 0 {
        next.state = GrantState::Revoked;
    }
    PasscodeVerdict::Wrong { next, left }
}

#[cfg(test)]
mod tests;
