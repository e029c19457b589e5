//! Conditional Access policies, named locations and external identity providers as stored: their validated Graph document
//! (opaque JSON text rendered by `castellan-wire`) with the keys the store indexes. The policy
//! model itself (`crate::policy`) is a large tree mirroring Graph's; keeping the canonical
//! document instead of a second row layout means one shape to evolve (wire parses it back).

use crate::ids::{ObjectId, TenantId};
use crate::time::Timestamp;

/// Which kind of document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyDocumentKind {
    /// `conditionalAccessPolicy`.
    ConditionalAccessPolicy,
    /// `ipNamedLocation` / `countryNamedLocation`.
    NamedLocation,
    /// An external identity provider (`openIdConnectIdentityProvider`, `crate::external_idp`).
    IdentityProvider,
}

impl PolicyDocumentKind {
    /// Stable name (store).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ConditionalAccessPolicy => "caPolicy",
            Self::NamedLocation => "namedLocation",
            Self::IdentityProvider => "identityProvider",
        }
    }
    /// Inverse of [`PolicyDocumentKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "caPolicy" => Some(Self::ConditionalAccessPolicy),
            "namedLocation" => Some(Self::NamedLocation),
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
