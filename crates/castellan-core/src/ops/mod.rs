//! Use cases: load through the `Store` port, decide with pure functions, return or commit the
//! intended writes with their audit records. Time, randomness and password hashing come in
//! through [`Env`], so every op replays in a test with fixed values.

pub mod admin_units;
pub mod applications;
pub mod arm;
pub mod arm_pim;
pub mod auth_methods;
pub mod authz;
pub mod conditional_access;
pub mod consent;
pub mod console;
pub mod cross_tenant;
pub mod deleted_items;
pub mod devices;
pub mod directory_roles;
pub mod domains;
pub mod dynamic_groups;
pub mod external_idp;
pub mod federated_credentials;
pub mod group_pim;
pub mod groups;
pub mod identity_protection;
pub mod invitations;
pub mod licenses;
pub mod managed_identity;
pub mod pim;
pub mod pipeline;
pub mod reports;
pub mod service_principals;
pub mod signin;
pub mod tenant_choice;
pub mod tenants;
pub mod token;
pub mod troubleshoot;
pub mod users;

#[cfg(test)]
pub(crate) mod testing;

use async_trait::async_trait;

use crate::audit::{Actor, AuditRecord, AuditTarget, ModifiedProperty};
use crate::error::DirectoryError;
use crate::ids::ObjectId;
use crate::model::Tenant;
use crate::store::Store;
use crate::time::Timestamp;

/// Randomness comes in from the caller (core never reads it itself).
pub trait Entropy: Send + Sync {
    /// 16 random bytes (for GUIDs).
    fn bytes16(&mut self) -> [u8; 16];
    /// A high-entropy secret string (≥ 256 bits).
    fn secret(&mut self) -> String;
}

/// Password hashing (argon2id in the server; a bounded pool keeps it from starving requests).
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a password into a PHC string.
    async fn hash(&self, password: &str) -> Result<String, String>;
    /// Checks a password against a PHC string (constant-time inside the algorithm).
    async fn verify(&self, password: &str, phc: &str) -> bool;
}

/// The effects an op may use: the store, the clock value, randomness, hashing.
pub struct Env<'a> {
    /// The store.
    pub store: &'a dyn Store,
    /// Now.
    pub now: Timestamp,
    /// Randomness.
    pub entropy: &'a mut dyn Entropy,
    /// Password hashing.
    pub hasher: &'a dyn PasswordHasher,
    /// Who is acting.
    pub actor: Actor,
    /// The request's correlation id (goes into audit records).
    pub correlation_id: String,
}

impl Env<'_> {
    /// A fresh object id.
    pub fn new_id(&mut self) -> ObjectId {
        ObjectId::from_random(self.entropy.bytes16())
    }

    /// An audit record for a successful change in `tenant`.
    pub fn audit(
        &mut self,
        tenant: &Tenant,
        category: &str,
        activity: &str,
        operation: &str,
        targets: Vec<AuditTarget>,
    ) -> AuditRecord {
        AuditRecord {
            id: self.new_id(),
            tenant_id: tenant.id,
            time: self.now,
            category: category.into(),
            activity: activity.into(),
            operation_type: operation.into(),
            actor: self.actor.clone(),
            targets,
            result: "success".into(),
            result_reason: String::new(),
            correlation_id: self.correlation_id.clone(),
        }
    }
}

/// An audit target.
pub fn target(
    id: impl ToString,
    kind: &str,
    display: Option<&str>,
    upn: Option<&str>,
    props: Vec<ModifiedProperty>,
) -> AuditTarget {
    AuditTarget {
        id: id.to_string(),
        kind: kind.into(),
        display_name: display.map(str::to_string),
        user_principal_name: upn.map(str::to_string),
        modified_properties: props,
    }
}

/// A modified property, from old and new renderings.
pub fn modified(name: &str, old: Option<String>, new: Option<String>) -> ModifiedProperty {
    ModifiedProperty {
        name: name.into(),
        old_value: old,
        new_value: new,
    }
}

/// A field in a create/update body: absent (leave alone), null (clear), or a value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Field<T> {
    /// Not in the body.
    #[default]
    Absent,
    /// Explicit `null`.
    Null,
    /// A value.
    Value(T),
}

impl<T: Clone> Field<T> {
    /// Applies this field to an optional slot; returns true when it changed something.
    pub fn apply_opt(&self, slot: &mut Option<T>) -> bool {
        match self {
            Field::Absent => false,
            Field::Null => slot.take().is_some(),
            Field::Value(v) => {
                *slot = Some(v.clone());
                true
            }
        }
    }
    /// The value, if one was given.
    pub fn value(&self) -> Option<&T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }
    /// Whether the body mentioned it.
    pub fn is_present(&self) -> bool {
        !matches!(self, Field::Absent)
    }
}

/// `NotFound` for an object of `kind` with `id`, in Graph's words.
pub fn not_found(id: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::NotFound(format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."))
}

/// Requires a non-null value for a mandatory property.
pub fn required<T: Clone>(f: &Field<T>, name: &str) -> Result<T, DirectoryError> {
    f.value().cloned().ok_or_else(|| {
        DirectoryError::BadRequest(format!(
            "Property '{name}' is required but was not supplied (or was null)."
        ))
    })
}
