//! `banana`: see `banana --help` and `controller/README.md`.
#![forbid(unsafe_code)]

use std::io::IsTerminal;

use clap::Parser;
use controller::cli::{self, Cli, Cmd};

fn main() {
    let cli = Cli::parse();
    // supervise is a daemon: what it repaired is its output, with the time.
    let daemon = matches!(cli.cmd, Cmd::Supervise { .. });
    let level = match (cli.verbose, daemon) {
        (0, false) => tracing::Level::WARN,
        (0, true) | (1, _) => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    let log = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    if daemon {
        log.init();
    } else {
        log.without_time().init();
    }
    if let Err(e) = cli::run(cli, &mut std::io::stdout().lock()) {
        let msg = format!("{e:#}")
            .split('\n')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        eprintln!("banana: error: {msg}");
        std::process::exit(1);
    }
}
