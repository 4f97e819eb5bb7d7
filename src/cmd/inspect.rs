//! `inspect`: what is inside one bundle.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use mpk_registry::verify;

#[derive(clap::Args)]
pub struct Args {
    file: PathBuf,
    /// Print JSON: the verification report plus the manifest.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let report = verify::verify_file(
        &args.file,
        &args.file.display().to_string(),
        &Default::default(),
    );
    match args.json {
        true => super::out(&format!("{}\n", verify::inspect_json(&report)))?,
        false => super::out(&report.to_inspect_text())?,
    }
    Ok(super::verdict(std::slice::from_ref(&report)))
}
