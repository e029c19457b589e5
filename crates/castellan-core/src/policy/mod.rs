//! Conditional Access and what feeds it, all pure: the policy model (`model`), its validation
//! and the lockout guard (`validate`), named locations and the client address behind proxies
//! (`location`), the evaluator (`evaluate`: `PolicySet::new` once, `PolicySet::evaluate` per
//! sign-in), Identity Protection's risk detections and user-risk state (`risk`), and the TOTP
//! verifier and recovery codes that satisfy the `mfa` control (`totp`), security defaults as
//! built-in policies (`security_defaults`), impact replay of a draft policy over past
//! sign-ins (`replay`), and a sign-in's evaluation as the sign-in log records it (`decision`).
//!
//! Nothing here reads the clock, the network, a GeoIP database or the store: the server
//! resolves the client address, the country and the user's transitive groups and roles, and
//! passes them in (`SignInContext`), with `now`. Wire shapes (Graph JSON) live in
//! `castellan-wire`; the enums here carry Graph's spellings through `as_str`/`parse`.

pub mod decision;
pub mod evaluate;
pub mod location;
pub mod model;
pub mod replay;
pub mod risk;
pub mod risky_user;
pub mod security_defaults;
pub mod totp;
pub mod validate;

#[cfg(test)]
mod tests;

pub use evaluate::{
    evaluate, ConditionalAccessStatus, Control, ControlSet, DeviceState, DeviceTrustType,
    Evaluation, Exclusion, NotApplied, Outcome, PolicyEvaluation, PolicyResult, PolicySet,
    Satisfied, SessionDecision, SignInContext, Subject, UserSubject, WorkloadSubject,
};
pub use location::{
    client_ip_from, parse_cidr, resolve_location, LocationFacts, NamedLocation, NamedLocationKind,
};
pub use model::*;
pub use validate::{
    check_references, parse_control, parse_value, validate, would_block_all_admins,
    would_block_caller, KnownReferences, PolicyError,
};
