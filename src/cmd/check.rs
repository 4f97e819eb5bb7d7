//! `check`: the pull-request gate.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use mpk_registry::check::{self, CheckOptions};

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    /// Workflow annotations on each file, plus a summary table in $GITHUB_STEP_SUMMARY.
    Github,
}

#[derive(clap::Args)]
pub struct Args {
    /// The registry source folder (inside a git work tree).
    #[arg(default_value = "registry-src")]
    src: PathBuf,
    /// The revision to compare with (the pull request's base).
    #[arg(long)]
    base: String,
    /// The revision holding the change [default: HEAD]. Both sides are read from git
    /// objects: uncommitted changes are not looked at, and the head never needs to be
    /// checked out.
    #[arg(long)]
    head: Option<String>,
    /// Who made the change (a GitHub login); enables the ownership rules. Repeat it for
    /// everyone who did (CI passes the pull request's author and whoever pushed to it): each
    /// must have the right to make every change. An empty login is an error.
    #[arg(long)]
    actor: Vec<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let outcome = check::check(&CheckOptions {
        src: args.src,
        base: args.base,
        head: args.head,
        actors: args.actor,
    })?;
    match args.format {
        Format::Text => super::report(&check::to_text(&outcome))?,
        Format::Json => super::report(&format!("{}\n", check::to_json(&outcome)))?,
        Format::Github => {
            super::report(&check::to_github(&outcome))?;
            if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
                append(Path::new(&path), &check::summary_markdown(&outcome))?;
            }
        }
    }
    Ok(super::refused(outcome.refused()))
}

/// Appends to the step summary file the runner hands out.
fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write the step summary to {}", path.display()))
}
