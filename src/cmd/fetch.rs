//! `fetch`: download one bundle from a registry, trusting nothing it downloads.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use mpk_registry::fetch::{self, FetchError, FetchOptions};

#[derive(clap::Args)]
pub struct Args {
    /// PACKAGE or PACKAGE@VERSION (a yanked version only when named).
    spec: String,
    /// The registry: its address (https://… or http://…) or a folder holding a built site.
    #[arg(long)]
    registry: String,
    /// The registry key to trust (did:key) [default: the one pinned on first use].
    #[arg(long)]
    trust: Option<String>,
    /// Folder to write the bundle into.
    #[arg(short, long, default_value = ".")]
    output: PathBuf,
    /// Trust state file [default: $XDG_STATE_HOME/mpk-registry/trust.json].
    #[arg(long)]
    state: Option<PathBuf>,
    /// Accept an unsigned index (no protection against stale or mixed files).
    #[arg(long)]
    insecure: bool,
    /// Let the latest version be a prerelease.
    #[arg(long)]
    prerelease: bool,
    /// Seconds to wait for a connection, an answer or the next bytes of one.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Replace a different file already at <output>/<package>-<version>.mpk.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let options = FetchOptions {
        spec: args.spec,
        registry: args.registry,
        trust: args.trust,
        output: args.output,
        state: args.state,
        insecure: args.insecure,
        prerelease: args.prerelease,
        now: None,
        timeout: Some(Duration::from_secs(args.timeout)),
        force: args.force,
    };
    match fetch::fetch(&options) {
        Ok(got) => {
            for note in &got.notes {
                eprintln!("note: {note}");
            }
            super::out(&got.to_text())?;
            Ok(ExitCode::SUCCESS)
        }
        Err(FetchError::Refused(reason)) => {
            eprintln!("refused: {reason}");
            Ok(ExitCode::from(1))
        }
        Err(FetchError::Failed(e)) => Err(e),
    }
}
