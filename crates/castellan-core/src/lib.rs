//! Castellan's domain model and its decisions, with no I/O.
//!
//! Invariants (enforced by `Cargo.toml` and `tests/tidy.rs`): this crate never reads the clock,
//! randomness, files, the network or a database, and knows no wire shape. Time and random
//! values come in as arguments; decisions and intended writes go out as values.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod abac;
pub mod app_consent;
pub mod arm_view;
pub mod audit;
pub mod authz;
pub mod azure_rbac;
pub mod catalog;
pub mod console;
pub mod cross_tenant;
pub mod deleted_items;
pub mod directory_roles;
pub mod domains;
pub mod dynamic_rule;
pub mod error;
pub mod external_idp;
pub mod flow;
pub mod graph_rules;
pub mod ids;
pub mod invitations;
pub mod licenses;
pub mod model;
pub mod ops;
pub mod pim;
pub mod policy;
pub mod report;
pub mod secret;
pub mod store;
pub mod tenant_choice;
pub mod throttle;
pub mod time;
pub mod troubleshoot;
pub mod vocab;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use error::{AadstsError, DirectoryError};
pub use ids::{AppId, ObjectId, TenantId};
pub use time::Timestamp;
