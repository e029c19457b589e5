//! The security suite (issue 12): one module per class of attack, each with a positive control
//! so that a pass is never vacuous — the same request by a caller who *is* entitled succeeds.

mod cross_tenant_names;
mod mfa_guessing;
mod parser_limits;
mod privilege_escalation;
mod privileged_users;
mod small_mends;
