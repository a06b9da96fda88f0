//! oauthwatch: a log-analysis sidecar that counts Zoom OAuth token-endpoint failures and
//! exports them, with remediation text, to Prometheus.
//!
//! The modules follow the data flow, left to right:
//!
//! ```text
//!  sources ──bytes──▶ framing ──records──▶ bounded queue ──▶ classifier ──▶ registry ──▶ exporter
//!  (file tailer,      (lines, CRI/docker    (RecordBatch,     (RuleSet:     (counters,    (HTTP: /metrics,
//!   stdin,             unwrap, multi-line    backpressure)     pure, shared) alert hints) /hints, /healthz)
//!   checkpoints)       joining: pure)
//! ```
//!
//! `app` wires these together for the `run` command; `scan` drives framing and the classifier
//! over whole files for the one-shot `scan`, `classify` and `check` commands. `config` and
//! `diag` hold the validated configuration and the file:line:column diagnostics every
//! loader reports through.

pub mod alerting;
pub mod app;
pub mod batch;
pub mod classifier;
pub mod cli;
pub mod config;
pub mod diag;
pub mod duration;
pub mod exporter;
pub mod framing;
pub mod reference;
pub mod registry;
pub mod scan;
pub mod sources;
