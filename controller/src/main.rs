//! `banana`: see `banana --help` and `controller/README.md`.

use clap::Parser;
use controller::cli::{self, Cli};

fn main() {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
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
