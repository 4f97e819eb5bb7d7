//! `serve`: preview a built site.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// The built site.
    #[arg(default_value = "public")]
    dir: PathBuf,
    /// Port to listen on (0 picks a free one).
    #[arg(short, long, default_value_t = 8000)]
    port: u16,
}

pub fn run(args: Args) -> Result<ExitCode> {
    mpk_registry::serve::serve(&args.dir, args.port)?;
    Ok(ExitCode::SUCCESS)
}
