//! The `oauthwatch` binary: parse the command line, run the command the library provides,
//! print its report and pick the exit code. Everything else lives in the library.
//!
//! Exit codes: 0 when the command did its job (a scan that finds failures still succeeds, the
//! daemon stopped gracefully); 1 when `check` or `alerts` found problems or the daemon could
//! not run (address in use, state directory not writable); 2 when the command could not run
//! at all (bad flags, an invalid config or rule file, unreadable input).

mod cli;
mod progress;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use cli::{AlertsArgs, CheckArgs, ClassifyArgs, Cli, Command, RunArgs, ScanArgs, ScanFormat};
use oauthwatch::app::{self, logging, ReloadRequest, Settings};
use oauthwatch::commands::scan::ScanObserver;
use oauthwatch::commands::{self, CommandError};
use oauthwatch::config::{Config, Overlay};

/// Exit code for "could not run".
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Scan(args)) => scan(&args),
        Some(Command::Classify(args)) => classify(&args),
        Some(Command::Check(args)) => check(&args),
        Some(Command::Alerts(args)) => alerts(&args),
        Some(Command::Run(args)) => run(args),
        None => run(cli.run),
    }
}

/// Print why a one-shot command could not run; exit 2.
fn command_failed(e: CommandError) -> ExitCode {
    match &e {
        CommandError::Rules(d) => {
            eprintln!("{d}");
            eprintln!(
                "oauthwatch: the rule files have {} problem(s); run `oauthwatch check` for details",
                d.0.len()
            );
        }
        _ => eprintln!("oauthwatch: {e}"),
    }
    ExitCode::from(EXIT_ERROR)
}

/// The outcome of writing a report to standard output; a closed pipe (`| head`) is success.
fn written(res: io::Result<()>) -> ExitCode {
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oauthwatch: cannot write output: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// How `scan` shows its progress: a bar (or a spinner for a pipe) on a terminal, nothing
/// otherwise; warnings go to standard error without tearing the bar.
#[derive(Default)]
struct ScanDisplay(Option<progress::Progress>);

impl ScanObserver for ScanDisplay {
    fn start(&mut self, total: Option<u64>) {
        self.0 = Some(progress::Progress::new(total));
    }
    fn advance(&mut self, bytes: u64, lines: u64, records: u64) {
        if let Some(p) = &self.0 {
            p.update(bytes, lines, records);
        }
    }
    fn warn(&mut self, message: &str) {
        match &self.0 {
            Some(p) => p.warn(message),
            None => eprintln!("{message}"),
        }
    }
    fn finish(&mut self) {
        if let Some(p) = &self.0 {
            p.finish();
        }
    }
}

/// `oauthwatch scan`.
fn scan(args: &ScanArgs) -> ExitCode {
    let request = match args.request() {
        Ok(r) => r,
        Err(message) => {
            eprintln!("oauthwatch: {message}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let report = match commands::scan::run(&request, &mut ScanDisplay::default()) {
        Ok(r) => r,
        Err(e) => return command_failed(e),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let res = match args.format {
        ScanFormat::Json => report.write_json(&mut out),
        ScanFormat::Text => report.write_text(&mut out),
    };
    written(res.and_then(|()| out.flush()))
}

/// `oauthwatch classify`.
fn classify(args: &ClassifyArgs) -> ExitCode {
    let request = match args.request() {
        Ok(r) => r,
        Err(message) => {
            eprintln!("oauthwatch: {message}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match commands::classify::run(&request, &mut out, &mut |w| eprintln!("{w}")) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => command_failed(e),
    }
}

/// `oauthwatch check`: `ok: <files>` and exit 0, or every problem and exit 1.
fn check(args: &CheckArgs) -> ExitCode {
    let report = commands::check::run(args.config.as_deref(), &args.rules);
    if report.problems.is_empty() {
        println!("ok: {}", report.checked.join(", "));
        return ExitCode::SUCCESS;
    }
    for d in &report.problems.0 {
        eprintln!("{d}");
    }
    eprintln!(
        "{} problem(s) in {}",
        report.problems.0.len(),
        report.problems.files().join(", ")
    );
    ExitCode::from(1)
}

/// `oauthwatch alerts`: the rules to `--output` or stdout; problems with file:line, exit 1.
fn alerts(args: &AlertsArgs) -> ExitCode {
    let yaml = match commands::alerts::run(&args.request()) {
        Ok(yaml) => yaml,
        Err(diags) => {
            for d in &diags.0 {
                eprintln!("{d}");
            }
            eprintln!("{} problem(s); no rules written", diags.0.len());
            return ExitCode::from(1);
        }
    };
    let written = match &args.output {
        Some(path) => std::fs::write(path, &yaml)
            .map_err(|e| format!("{}: cannot write: {e}", path.display())),
        None => io::stdout()
            .write_all(yaml.as_bytes())
            .map_err(|e| format!("cannot write to stdout: {e}")),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// The signals the daemon acts on, installed before anything else so that one arriving
/// during start-up is held and acted on once start-up completes instead of ending the
/// process with the default action.
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    /// Install the handlers for SIGTERM, SIGINT and SIGHUP (inside a tokio runtime).
    fn install() -> io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// SIGTERM or SIGINT stop the daemon (once); SIGHUP asks for a reload.
    async fn forward(mut self, reloads: mpsc::Sender<ReloadRequest>, stop: CancellationToken) {
        loop {
            let why = tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
                _ = self.hup.recv() => {
                    let _ = reloads.send(ReloadRequest { trigger: "SIGHUP" }).await;
                    continue;
                }
            };
            tracing::info!("{why}: stopping");
            stop.cancel();
            return;
        }
    }
}

/// What to change when binding failed: the flag or config key the address came from.
fn bind_advice(e: &io::Error, overlay: &Overlay, config: &Config) -> String {
    let origin = if overlay.listen.is_some() {
        "change --listen".to_string()
    } else if let Some(path) = &config.path {
        format!(
            "change `listen` in {} (or pass --listen ADDR)",
            path.display()
        )
    } else {
        "pass --listen ADDR (the default is 127.0.0.1:9742)".to_string()
    };
    match e.kind() {
        io::ErrorKind::AddrInUse => format!(
            "; another process (perhaps another oauthwatch) holds this port: stop it, or {origin} \
             to another port"
        ),
        io::ErrorKind::AddrNotAvailable => {
            format!("; this host has no such address: {origin}")
        }
        io::ErrorKind::PermissionDenied => {
            format!("; ports below 1024 need privileges: {origin} to a port above 1023")
        }
        _ => format!("; {origin}"),
    }
}

/// `oauthwatch run`: exit 0 after a graceful stop, 2 for a bad config or rule file, 1 when
/// the daemon could not run (address in use, state directory not writable).
fn run(args: RunArgs) -> ExitCode {
    // Signal handling comes first: a SIGHUP or SIGTERM that arrives while the config and
    // rules load (tens of milliseconds) would otherwise end the process with the default
    // action. Caught now, it is acted on once start-up completes.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        // The async side only serves HTTP, forwards signals and times checkpoints; reading
        // and classifying run on their own threads. So it runs on the main thread, which
        // waits in `block_on` anyway: a worker thread would cost a stack and, under glibc,
        // a malloc arena of its own, and the multi-thread scheduler's statistics are all
        // that linked libm (`pow`), ~0.5 MB of resident pages.
        .thread_name("blocking")
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
        match Signals::install() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("oauthwatch: cannot install signal handlers: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let (overlay, mut flag_problems) = args.overlay();
    let config = match oauthwatch::config::resolve(&overlay) {
        Ok(c) if flag_problems.is_empty() => c,
        Ok(_) => {
            eprintln!("oauthwatch: invalid configuration:\n{flag_problems}");
            return ExitCode::from(EXIT_ERROR);
        }
        Err(diags) => {
            flag_problems.0.extend(diags.0);
            eprintln!("oauthwatch: invalid configuration:\n{flag_problems}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let rules = match oauthwatch::classifier::RuleSet::load_or_embedded(&config.rules) {
        Ok(r) => r,
        Err(mut diags) => {
            diags.sort_by_place();
            eprintln!("oauthwatch: invalid rule file:\n{diags}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let unknown = config.unknown_providers(rules.providers());
    if !unknown.is_empty() {
        eprintln!("oauthwatch: invalid configuration:\n{unknown}");
        return ExitCode::from(EXIT_ERROR);
    }
    let log = logging::init(
        overlay.log_level.as_deref(),
        &config.log_level,
        config.log_format,
    );
    // From here on a signal is acted on (and logged); one that arrived earlier was held.
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let stop = CancellationToken::new();
    runtime.spawn(signals.forward(reload_tx, stop.clone()));
    let listener = match runtime.block_on(TcpListener::bind(config.listen.as_str())) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(
                "cannot listen on {}: {e}{}",
                config.listen,
                bind_advice(&e, &overlay, &config)
            );
            return ExitCode::FAILURE;
        }
    };
    let settings = Settings {
        overlay,
        config,
        rules,
        log: Some(log),
    };
    let outcome = runtime.block_on(app::run(listener, settings, stop.cancelled(), reload_rx));
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
