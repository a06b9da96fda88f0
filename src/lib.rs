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
//! `app` wires these together for the daemon (`run`); `commands` drives framing and the
//! classifier over whole inputs for the one-shot `scan`, `classify`, `check` and `alerts`.
//! `config` reads the config file, applies the command-line flags and builds each
//! component's own options; `tomldoc` and `diag` are the strict TOML reader and the
//! file:line:column diagnostics every loader reports through. The command line itself
//! (clap) belongs to the binary, `src/main.rs`.

#![forbid(unsafe_code)]

pub mod alerting;
pub mod app;
pub mod batch;
pub mod classifier;
pub mod commands;
pub mod config;
pub mod diag;
mod duration;
pub mod exporter;
pub mod framing;
pub mod reference;
pub mod registry;
pub mod sources;
mod tomldoc;
