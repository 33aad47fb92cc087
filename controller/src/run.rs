//! Running external programs (`xl`, `xenstore-*`) behind a trait, so the
//! toolstack and registry adapters can be driven by scripted fakes in tests.

use std::io;
use std::process::Command;

/// What a finished program left: its exit status and its output as text.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The most telling single line of a failure: the last non-empty line of
    /// stderr, else of stdout (xl prints its reason last).
    pub fn reason(&self) -> String {
        [&self.stderr, &self.stdout]
            .iter()
            .find_map(|s| s.lines().rev().map(str::trim).find(|l| !l.is_empty()))
            .unwrap_or("no output")
            .to_string()
    }
}

pub trait Run {
    fn run(&self, program: &str, args: &[&str]) -> io::Result<Output>;
}

/// Runs programs for real, waiting for each to finish.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRun;

impl Run for SystemRun {
    fn run(&self, program: &str, args: &[&str]) -> io::Result<Output> {
        tracing::debug!(program, ?args, "run");
        let t0 = std::time::Instant::now();
        let out = Command::new(program).args(args).output()?;
        tracing::debug!(program, ms = t0.elapsed().as_millis() as u64, "done");
        let out = Output {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if !out.success {
            tracing::debug!(program, reason = %out.reason(), "failed");
        }
        Ok(out)
    }
}
