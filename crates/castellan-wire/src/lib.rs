//! Every Entra-compatible byte format Castellan speaks, and the conversions between them and
//! core values: token forms and responses, AADSTS error bodies, discovery and JWKS documents,
//! Graph JSON, OData queries.
//!
//! Invariant: no HTTP framework and no SQL here; functions take and return values.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod arm;
pub mod arm_pim;
pub mod claims;
pub mod claims_challenge;
pub mod cloud_metadata;
pub mod discovery;
pub mod errors;
pub mod federation;
pub mod form;
pub mod graph;
pub mod jwt;
pub mod mail;
pub mod odata;
pub mod report;
pub mod saml;
pub mod time;
pub mod troubleshoot;
