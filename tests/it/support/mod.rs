//! Helpers shared by the integration tests: one module per kind of harness.

pub mod alerting;
pub mod daemon;
pub mod http;
pub mod sources;
