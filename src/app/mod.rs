//! The `run` command: wires sources, the classifier, the registry and the exporter together.
//!
//! ```text
//!  Sources ──RecordBatch──▶ bounded queue ──▶ classify thread ──▶ Tally (registry) ◀── /metrics
//!  (files, stdin)            (backpressure)    (InstalledRules:     counters, hints      /hints
//!     ▲                                         rules + counters)                          (exporter)
//!     └──────────── Ack::commit (offsets safe to checkpoint) ◀─────┘
//! ```
//!
//! [`settings`] merges flags over the config file, [`logging`] sets up the daemon's own logs,
//! [`pipeline`] is the consumer loop, and [`daemon`] owns the lifecycle: start, reload, stop.

pub mod daemon;
pub mod logging;
pub mod pipeline;
pub mod settings;
pub mod statelock;

use std::process::ExitCode;

use crate::cli::RunArgs;

/// `oauthwatch run`: exit 0 after a graceful stop, 2 for a bad config or rule file, 1 when
/// the daemon could not run (address in use, state directory not writable).
pub fn main(args: RunArgs) -> ExitCode {
    // Signal handling comes first: a SIGHUP or SIGTERM that arrives while the config and
    // rules load (tens of milliseconds) would otherwise end the process with the default
    // action. Caught now, it is acted on once start-up completes.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("oauthwatch")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oauthwatch: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let signals = {
        let _context = runtime.enter();
        match daemon::Signals::install() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("oauthwatch: cannot install signal handlers: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let config = match settings::resolve(&args) {
        Ok(c) => c,
        Err(diags) => {
            eprintln!("oauthwatch: invalid configuration:\n{diags}");
            return ExitCode::from(2);
        }
    };
    let rules = match crate::classifier::RuleSet::load_or_embedded(&config.rules) {
        Ok(r) => r,
        Err(mut diags) => {
            diags.sort_by_place();
            eprintln!("oauthwatch: invalid rule file:\n{diags}");
            return ExitCode::from(2);
        }
    };
    let unknown = config.unknown_providers(rules.providers());
    if !unknown.is_empty() {
        eprintln!("oauthwatch: invalid configuration:\n{unknown}");
        return ExitCode::from(2);
    }
    let log = logging::init(
        args.log_level.as_deref(),
        &config.log_level,
        config.log_format,
    );
    let outcome = runtime.block_on(daemon::run(args, config, rules, log, signals));
    // Everything that matters (counts, checkpoints) is done by now. A read of standard input
    // still blocked in the runtime's blocking pool (the pipe's writer is alive) cannot be
    // cancelled, and dropping the runtime would wait for it forever: do not wait.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
