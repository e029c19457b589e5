//! Castellan's imperative shell: configuration, TLS, keys, the clock and randomness, and the
//! HTTP routes that turn requests into core ops and core results into wire bytes.
//!
//! Invariant: no business rule lives here. Anything that decides belongs in `castellan-core`;
//! anything that shapes bytes belongs in `castellan-wire`.

pub mod admission;
pub mod assertion;
pub mod ca;
pub mod config;
pub mod console;
pub mod cross_tenant;
pub mod crypto;
pub mod demo;
pub mod device_proof;
pub mod dns;
pub mod federation;
pub mod http;
pub mod idprot;
pub mod imds_agent;
pub mod keys;
pub mod lists;
pub mod metrics;
pub mod otel;
pub mod protection;
pub mod serve;
pub mod signin_log;
pub mod signin_steps;
pub mod smtp;
pub mod state;
pub mod throttle;
pub mod tls;

pub use config::ServeArgs;
pub use serve::{run, start, Running};
