//! `keygen`: a new signing key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use mpk_registry::keys::{self, KeyFile};

#[derive(clap::Args)]
pub struct Args {
    /// Where to write the key file.
    #[arg(short, long)]
    output: PathBuf,
    /// Replace an existing file (its key is lost).
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let file = KeyFile::from_signing_key(&keys::generate()?);
    file.write(&args.output, args.force)?;
    super::out(&format!(
        "wrote {} (mode 0600)\nsignerId: {}\n",
        args.output.display(),
        file.signer_id
    ))?;
    Ok(ExitCode::SUCCESS)
}
