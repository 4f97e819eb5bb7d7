//! `import`: bring every bundle of a registry speaking the read API into a registry folder,
//! verified.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use mpk_registry::import::{self, ImportOptions};

use crate::progress;

#[derive(clap::Args)]
pub struct Args {
    /// The registry's address (https:// or http://): the hosted registry, or a site this tool
    /// built.
    #[arg(long)]
    from: String,
    /// Import only this package (repeatable) [default: every package the registry lists].
    #[arg(long = "package", value_name = "PACKAGE")]
    packages: Vec<String>,
    /// The registry folder to write into.
    #[arg(short, long, default_value = "registry-src")]
    output: PathBuf,
    /// Downloads at a time.
    #[arg(short, long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Seconds a request may wait for a connection, an answer or its next bytes.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Follow redirects to other hosts too (up to 10); every bundle is verified wherever it
    /// comes from. Redirects to the same host are always followed.
    #[arg(long)]
    follow_redirects: bool,
    /// Import everything that can be, reporting each refusal (the default).
    #[arg(long, overrides_with = "fail_fast")]
    keep_going: bool,
    /// Stop at the first refused or failed bundle.
    #[arg(long, overrides_with = "keep_going")]
    fail_fast: bool,
    /// Print a JSON report (shape in docs/import.md) instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let options = ImportOptions {
        from: args.from,
        packages: args.packages,
        out: args.output,
        jobs: usize::from(args.jobs),
        timeout: Duration::from_secs(args.timeout),
        follow_redirects: args.follow_redirects,
        fail_fast: args.fail_fast,
    };
    let outcome = import::import(&options, &progress::Bar::new("bundles imported"))?;
    if args.json {
        super::out(&format!("{}\n", outcome.to_json()))?;
    } else {
        super::out(&outcome.to_text())?;
    }
    Ok(if outcome.failed() {
        ExitCode::from(2)
    } else {
        super::refused(outcome.refused())
    })
}
