//! One file per command: parse its arguments, call the library, print what the library's
//! result renders, and say which exit code that is. Everything printed goes through [`out`],
//! so a closed pipe (`mpk-registry inspect x.mpk | head -1`) surfaces as an error `main` can
//! recognise, never a panic; a command whose exit code is a verdict prints through
//! [`report`], so a closed pipe never changes the verdict.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use mpk_registry::report::Rule;
use mpk_registry::verify::Report;

pub mod build;
pub mod check;
pub mod fetch;
pub mod host_config;
pub mod import;
pub mod init;
pub mod inspect;
pub mod keygen;
pub mod pack;
pub mod serve;
pub mod verify;

/// Writes `text` to standard output.
pub fn out(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write to standard output")
}

/// Writes a verdict's report to standard output. A reader that went away (`check … | head
/// -c1`) loses the report, not the verdict: the command goes on and exits with it, so a
/// refusal is never read as a pass.
pub fn report(text: &str) -> Result<()> {
    match out(text) {
        Err(e) if broken_pipe(&e) => Ok(()),
        written => written,
    }
}

/// Whether the error is standard output's reader having gone away.
pub fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// 2 when a file could not be read at all, else 1 when anything was refused.
pub fn verdict(reports: &[Report]) -> ExitCode {
    if reports
        .iter()
        .any(|r| r.problems.iter().any(|p| p.rule == Rule::Io))
    {
        ExitCode::from(2)
    } else if reports.iter().any(|r| !r.ok()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// 1 when something was refused, else 0.
pub fn refused(refused: bool) -> ExitCode {
    if refused {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
