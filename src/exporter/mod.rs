//! The HTTP exporter: `/metrics`, `/healthz`, `/readyz`, `/hints`, and `/`.
//!
//! OWNER: exporter helper.
