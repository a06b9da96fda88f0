//! The daemon: wires sources, the classifier, the registry and the exporter together.
//!
//! ```text
//!  Sources ──RecordBatch──▶ bounded queue ──▶ classify thread ──▶ Tally (registry) ◀── /metrics
//!  (files, stdin)            (backpressure)    (InstalledRules:     counters, hints      /hints
//!     ▲                                         rules + counters)                          (exporter)
//!     └──────────── Ack::commit (offsets safe to checkpoint) ◀─────┘
//! ```
//!
//! [`run`] takes an already-bound listener, the resolved settings, a shutdown future and a
//! channel of reload requests, like mini-redis's `server::run(listener, shutdown)`: the
//! binary owns signals, binding and exit codes, and a test can run the whole daemon
//! in-process. [`daemon`] owns the lifecycle, [`reload`] the reload policy, [`logging`] the
//! daemon's own logs, [`pipeline`] the consumer loop, [`statelock`] one daemon per state
//! directory.

mod daemon;
pub mod logging;
pub mod pipeline;
mod reload;
mod statelock;

pub use daemon::{run, ReloadRequest, RunError, Settings, SHUTDOWN_BUDGET};
pub use reload::load;
pub use statelock::LockError;
