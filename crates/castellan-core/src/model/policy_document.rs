//! Conditional Access policies, named locations and external identity providers as stored: their validated Graph document
//! (opaque JSON text rendered by `castellan-wire`) with the keys the store indexes. The policy
//! model itself (`crate::policy`) is a large tree mirroring Graph's; keeping the canonical
//! document instead of a second row layout means one shape to evolve (wire parses it back).
//! Cross-tenant access settings (`crate::cross_tenant`) are stored the same way.

use crate::ids::{ObjectId, TenantId};
use crate::time::Timestamp;

/// Which kind of document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyDocumentKind {
    /// `conditionalAccessPolicy`.
    ConditionalAccessPolicy,
    /// `ipNamedLocation` / `countryNamedLocation`.
    NamedLocation,
    /// `crossTenantAccessPolicy` itself (display name, `allowedCloudEndpoints`); one per tenant.
    CrossTenantPolicy,
    /// `crossTenantAccessPolicyConfigurationDefault` once changed from the service default;
    /// one per tenant (none: the service default).
    CrossTenantDefault,
    /// `crossTenantAccessPolicyConfigurationPartner`, named by the partner's tenant id (so a
    /// second one for the same tenant is a uniqueness conflict).
    CrossTenantPartner,
    /// An external identity provider (`openIdConnectIdentityProvider`, `crate::external_idp`).
    IdentityProvider,
}

impl PolicyDocumentKind {
    /// Stable name (store).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ConditionalAccessPolicy => "caPolicy",
            Self::NamedLocation => "namedLocation",
            Self::CrossTenantPolicy => "crossTenantPolicy",
            Self::CrossTenantDefault => "crossTenantDefault",
            Self::CrossTenantPartner => "crossTenantPartner",
            Self::IdentityProvider => "identityProvider",
        }
    }
    /// Inverse of [`PolicyDocumentKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "caPolicy" => Some(Self::ConditionalAccessPolicy),
            "namedLocation" => Some(Self::NamedLocation),
            "crossTenantPolicy" => Some(Self::CrossTenantPolicy),
            "crossTenantDefault" => Some(Self::CrossTenantDefault),
            "crossTenantPartner" => Some(Self::CrossTenantPartner),
            "identityProvider" => Some(Self::IdentityProvider),
            _ => None,
        }
    }
}

/// A stored policy document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyDocument {
    /// Id.
    pub id: ObjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Kind.
    pub kind: PolicyDocumentKind,
    /// Display name (unique per tenant and kind, ignoring case).
    pub display_name: String,
    /// The Graph JSON document.
    pub document: String,
    /// Created.
    pub created: Timestamp,
    /// Last modified.
    pub modified: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::PolicyDocumentKind as K;

    #[test]
    fn every_kind_reads_back_from_its_stored_name() {
        for k in [
            K::ConditionalAccessPolicy,
            K::NamedLocation,
            K::CrossTenantPolicy,
            K::CrossTenantDefault,
            K::CrossTenantPartner,
        ] {
            assert_eq!(K::parse(k.as_str()), Some(k));
        }
        assert_eq!(K::parse("crossTenant"), None);
    }
}
