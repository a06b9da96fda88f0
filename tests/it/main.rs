//! oauthwatch's integration tests, as one test binary (`cargo test --test it`): the library is
//! linked once instead of once per file, which is most of a clean test build on a 2-core
//! machine (ripgrep keeps its integration tests the same way). One module per area, named
//! after it; helpers shared between areas live in `support`; fixtures in `tests/fixtures/`.
//!
//! Run one area with a filter on its module path: `cargo test --test it tailing_rotation::`.
//! A new area is a new file here plus its `mod` line below; a helper that a second area needs
//! moves into `support` rather than being copied.

mod support;

mod classifier_alloc;
mod classifier_eval;
mod classifier_shapes;
mod cli_commands;
mod daemon_checkpoints;
mod daemon_lifecycle;
mod daemon_reliability;
mod deploy_alertmanager;
mod deploy_configmap_reload;
mod deploy_container;
mod deploy_daemonset;
mod deploy_dashboard;
mod deploy_manifests;
mod deploy_reference;
mod deploy_rules;
mod deploy_systemd;
mod e2e_prometheus;
mod http_auth;
mod http_endpoints;
mod http_hardening;
mod http_tls;
mod import_cycles;
mod kubelet_node;
mod ops_silent_failures;
mod redaction;
mod registry_hints;
mod registry_metrics;
mod registry_status;
mod scan_parallel;
mod sources_checkpoint;
mod sources_permissions;
mod status_page_browser;
mod tailing_basic;
mod tailing_model;
mod tailing_rotation;
mod tailing_scale;
