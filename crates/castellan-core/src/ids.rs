//! Typed identifiers. Every id is a GUID; the type says what it names so a tenant id can never
//! be passed where an object id is expected.

use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! guid_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a GUID.
            pub const fn from_uuid(u: Uuid) -> Self { Self(u) }
            /// Builds the id from 16 random bytes supplied by the caller (core has no randomness).
            pub fn from_random(bytes: [u8; 16]) -> Self {
                Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
            }
            /// The GUID inside.
            pub const fn uuid(&self) -> Uuid { self.0 }
            /// Parses a GUID in any of the usual textual forms; `None` if it is not one.
            pub fn parse(s: &str) -> Option<Self> { Uuid::parse_str(s.trim()).ok().map(Self) }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { self.0.hyphenated().fmt(f) }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { write!(f, "{}({})", stringify!($name), self.0) }
        }
        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> { Uuid::parse_str(s).map(Self) }
        }
    };
}

guid_id!(
    /// A tenant's GUID (`tid`).
    TenantId
);
guid_id!(
    /// A directory object's id (`id` / `oid`): users, groups, applications, service principals,
    /// assignments, credentials.
    ObjectId
);
guid_id!(
    /// An application's client id (`appId`), shared by the application object and every
    /// service principal made from it.
    AppId
);

/// Microsoft Graph's well-known application id.
pub const GRAPH_APP_ID: AppId =
    AppId::from_uuid(Uuid::from_u128(0x00000003_0000_0000_c000_000000000000));
