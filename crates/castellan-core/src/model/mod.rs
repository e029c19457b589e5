//! The directory's nouns as plain values. No serialisation here: wire shapes live in
//! `castellan-wire`, row layouts in `castellan-store`.

pub mod application;
pub mod auth_method;
pub mod device;
pub mod group;
pub mod policy_document;
pub mod resource;
pub mod service_principal;
pub mod session;
pub mod signing_key;
pub mod tenant;
pub mod user;

pub use application::*;
pub use auth_method::*;
pub use device::*;
pub use group::*;
pub use policy_document::*;
pub use resource::*;
pub use service_principal::*;
pub use session::*;
pub use signing_key::*;
pub use tenant::*;
pub use user::*;

/// What kind of directory object an id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// A user (member or guest).
    User,
    /// A group.
    Group,
    /// An application object (the global registration).
    Application,
    /// A service principal (an application's instance in one tenant).
    ServicePrincipal,
}

impl ObjectKind {
    /// Stable lowercase name, used by the store and in audit targets.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
            Self::Application => "application",
            Self::ServicePrincipal => "servicePrincipal",
        }
    }
    /// Inverse of [`ObjectKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "user" => Self::User,
            "group" => Self::Group,
            "application" => Self::Application,
            "servicePrincipal" => Self::ServicePrincipal,
            _ => return None,
        })
    }
}
