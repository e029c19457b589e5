//! Service principals (an app's instance in one tenant) and app-role assignments.

use crate::ids::{AppId, ObjectId, TenantId};
use crate::model::ObjectKind;
use crate::time::Timestamp;

/// What the service principal stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServicePrincipalType {
    /// An application.
    Application,
    /// A managed identity.
    ManagedIdentity,
}

impl ServicePrincipalType {
    /// Graph's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Application => "Application",
            Self::ManagedIdentity => "ManagedIdentity",
        }
    }
}

/// A service principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePrincipal {
    /// Object id.
    pub id: ObjectId,
    /// Tenant it lives in.
    pub tenant_id: TenantId,
    /// The application it instantiates.
    pub app_id: AppId,
    /// Tenant that owns the application object (for built-ins: the platform's own tenant id).
    pub app_owner_tenant_id: Option<TenantId>,
    /// Display name.
    pub display_name: String,
    /// Kind.
    pub service_principal_type: ServicePrincipalType,
    /// Names the resource is known by (appId and identifier URIs).
    pub service_principal_names: Vec<String>,
    /// Graph's `alternativeNames`: for a managed identity, `isExplicit=…` and its ARM resource id.
    pub alternative_names: Vec<String>,
    /// Only assigned principals may get tokens.
    pub app_role_assignment_required: bool,
    /// Enabled.
    pub account_enabled: bool,
    /// Creation time.
    pub created: Timestamp,
    /// SAML single sign-on (`preferredSingleSignOnMode`, `samlSingleSignOnSettings`, the token
    /// signing certificates and `preferredTokenSigningKeyThumbprint`).
    pub saml: SamlSettings,
}

/// A service principal's SAML single sign-on configuration (Graph: `preferredSingleSignOnMode`,
/// `samlSingleSignOnSettings.relayState`, `preferredTokenSigningKeyThumbprint`, the
/// `keyCredentials` made by `addTokenSigningCertificate`, `notificationEmailAddresses` aside).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SamlSettings {
    /// `preferredSingleSignOnMode` (`saml`, `password`, `notSupported`, `oidc`), as set.
    pub preferred_single_sign_on_mode: Option<String>,
    /// `samlSingleSignOnSettings.relayState`: the relay state of IdP-initiated sign-on.
    pub relay_state: Option<String>,
    /// `preferredTokenSigningKeyThumbprint`: the certificate that signs (hex SHA-1, upper case).
    pub preferred_token_signing_key_thumbprint: Option<String>,
    /// Token signing certificates (`addTokenSigningCertificate`), oldest first.
    pub signing_certificates: Vec<SamlSigningCertificate>,
    /// The NameID format the app is configured with (a full URN), when not the default
    /// (`emailAddress`); a request's `NameIDPolicy` wins when it names one.
    pub name_id_format: Option<String>,
    /// Castellan extension (`samlSingleSignOnSettings.castellanRequireSignedRequests`): only
    /// signed AuthnRequests are accepted (Entra: "Require verification certificates").
    pub require_signed_requests: bool,
    /// Certificates (DER) that verify the app's signed requests and logout messages (Entra:
    /// the service principal's `keyCredentials` with usage `Verify` the app uploaded).
    pub verification_certificates: Vec<Vec<u8>>,
    /// The app's logout URL (`logoutUrl`): where logout responses and requests go.
    pub logout_url: Option<String>,
    /// Claims mapping: extra or replaced attributes, (claim URI, source user property).
    pub claims: Vec<(String, String)>,
    /// What is signed (Entra's "Signing Option"): `SignAssertion` (the default),
    /// `SignResponse` or `SignResponseAndAssertion`.
    pub signing_option: Option<String>,
}

/// Entra's SAML signing options, the first one the default.
pub const SAML_SIGNING_OPTIONS: &[&str] =
    &["SignAssertion", "SignResponse", "SignResponseAndAssertion"];

impl SamlSettings {
    /// Whether SAML is the app's single sign-on mode.
    pub fn enabled(&self) -> bool {
        self.preferred_single_sign_on_mode.as_deref() == Some("saml")
    }

    /// The certificate that signs at `now`: the preferred thumbprint's (if still valid), else
    /// the newest valid one. Rollover: add a certificate, publish it in the metadata, then move
    /// `preferredTokenSigningKeyThumbprint` to it.
    pub fn signing_certificate(&self, now: Timestamp) -> Option<&SamlSigningCertificate> {
        let valid = |c: &&SamlSigningCertificate| c.start <= now && now < c.end;
        self.preferred_token_signing_key_thumbprint
            .as_deref()
            .and_then(|t| {
                self.signing_certificates
                    .iter()
                    .filter(valid)
                    .find(|c| c.thumbprint.eq_ignore_ascii_case(t))
            })
            .or_else(|| self.signing_certificates.iter().rfind(valid))
    }

    /// (sign the assertion, sign the response) for the signing option.
    pub fn signs(&self) -> (bool, bool) {
        match self.signing_option.as_deref() {
            Some("SignResponse") => (false, true),
            Some("SignResponseAndAssertion") => (true, true),
            _ => (true, false),
        }
    }

    /// The certificates the metadata publishes at `now` (every one not yet expired).
    pub fn published_certificates(&self, now: Timestamp) -> Vec<&SamlSigningCertificate> {
        self.signing_certificates
            .iter()
            .filter(|c| now < c.end)
            .collect()
    }
}

/// One SAML token signing certificate (self-signed X.509, RSA-2048).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamlSigningCertificate {
    /// `keyId`.
    pub key_id: uuid::Uuid,
    /// `displayName` (`CN=…`).
    pub display_name: String,
    /// Hex SHA-1 of the DER certificate, upper case (Graph's `thumbprint`).
    pub thumbprint: String,
    /// The certificate (DER).
    pub cert_der: Vec<u8>,
    /// The PKCS#8 private key sealed with the master key.
    pub private_key_sealed: Vec<u8>,
    /// Valid from.
    pub start: Timestamp,
    /// Valid until.
    pub end: Timestamp,
}

/// An app-role assignment: `principal` holds `app_role_id` on the resource service principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppRoleAssignment {
    /// Id.
    pub id: ObjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Who holds the role.
    pub principal_id: ObjectId,
    /// What the principal is.
    pub principal_type: ObjectKind,
    /// The resource's service principal.
    pub resource_id: ObjectId,
    /// The app role (`00000000-…` is default access).
    pub app_role_id: uuid::Uuid,
    /// When.
    pub created: Timestamp,
}

/// A delegated permission grant (`oAuth2PermissionGrant`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuth2PermissionGrant {
    /// Id.
    pub id: ObjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Client service principal.
    pub client_id: ObjectId,
    /// `AllPrincipals` or `Principal`.
    pub consent_type: String,
    /// The user for `Principal` grants.
    pub principal_id: Option<ObjectId>,
    /// Resource service principal.
    pub resource_id: ObjectId,
    /// Space-separated scope values.
    pub scope: String,
}

/// A directory role held by a principal (tenant-wide scope only, for now).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryRoleAssignment {
    /// Id.
    pub id: ObjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Principal.
    pub principal_id: ObjectId,
    /// Role template id (e.g. Global Administrator `62e90394-…`).
    pub role_template_id: uuid::Uuid,
    /// `/` (tenant-wide) or `/administrativeUnits/{id}`.
    pub directory_scope_id: String,
}

/// A custom directory role (P1/P2 tenants): a tenant's own set of resource actions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomRoleDefinition {
    /// Id (also what role assignments name as `roleDefinitionId`).
    pub id: ObjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Display name (unique in the tenant, and not a built-in role's name).
    pub display_name: String,
    /// Description.
    pub description: Option<String>,
    /// Allowed resource actions.
    pub allowed_resource_actions: Vec<String>,
    /// Enabled.
    pub is_enabled: bool,
    /// Created.
    pub created: crate::time::Timestamp,
}

/// An administrative unit: a container of users (and groups) that scopes directory roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdministrativeUnit {
    /// Object id.
    pub id: ObjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: Option<String>,
    /// Created.
    pub created: crate::time::Timestamp,
}

/// Global Administrator's role template id.
pub const GLOBAL_ADMINISTRATOR: uuid::Uuid =
    uuid::Uuid::from_u128(0x62e90394_69f5_4237_9190_012177145e10);
