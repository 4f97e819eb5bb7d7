//! `init`: scaffold a registry repository.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use mpk_registry::init::{self, InitOptions};

#[derive(clap::Args)]
pub struct Args {
    /// The repository's folder.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The action to pin, as OWNER/REPO@<40-hex commit SHA> [default: the commit this
    /// tool was built from, when built from a git checkout].
    #[arg(long)]
    action: Option<String>,
    /// Replace files that already exist.
    #[arg(long)]
    force: bool,
    /// A maintainer's GitHub login (repeatable): listed in registry.toml `maintainers` and as
    /// code owner of .github/ and registry.toml in .github/CODEOWNERS.
    #[arg(long = "maintainer", value_name = "LOGIN")]
    maintainers: Vec<String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let outcome = init::init(&InitOptions {
        dir: args.dir,
        action: args.action,
        force: args.force,
        maintainers: args.maintainers,
    })?;
    super::out(&outcome.to_text())?;
    Ok(ExitCode::SUCCESS)
}
