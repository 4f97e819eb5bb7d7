//! `verify`: bundles checked exactly as a node would, plus registry policy.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use mpk_registry::verify::{self, Options, Report};

#[derive(clap::Args)]
pub struct Args {
    /// The .mpk files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print a JSON report (schema in docs/report.md) instead of text.
    #[arg(long)]
    json: bool,
    /// Accept bundles signed with the public development key (local test registries only).
    #[arg(long)]
    allow_dev_key: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let options = Options {
        allow_dev_key: args.allow_dev_key,
        ..Default::default()
    };
    let reports: Vec<Report> = args
        .files
        .iter()
        .map(|f| verify::verify_file(f, &f.display().to_string(), &options))
        .collect();
    if args.json {
        super::report(&format!("{}\n", verify::reports_json(&reports)))?;
    } else {
        for report in &reports {
            super::report(&report.to_text())?;
        }
        let refused = reports.iter().filter(|r| !r.ok()).count();
        super::report(&format!(
            "{} verified, {refused} refused\n",
            reports.len() - refused
        ))?;
    }
    Ok(super::verdict(&reports))
}
