//! `pack`: make and sign a bundle, then verify it as `verify` would.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use mpk_registry::keys::KeyFile;
use mpk_registry::{atomic_file, verify};

#[derive(clap::Args)]
pub struct Args {
    /// manifest.json without hashes or signature; artifact paths are relative to --root.
    manifest: PathBuf,
    /// The signing key file (mero-sign format).
    #[arg(short, long)]
    key: PathBuf,
    /// The bundle to write.
    #[arg(short, long)]
    output: PathBuf,
    /// Folder the artifact paths are relative to [default: the manifest's folder].
    #[arg(long)]
    root: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let key = KeyFile::load(&args.key)?;
    let manifest = &args.manifest;
    let text =
        std::fs::read(manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
    let template = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a JSON object", manifest.display()))?;
    let root = args
        .root
        .clone()
        .unwrap_or_else(|| atomic_file::parent(manifest).to_path_buf());
    let output: &Path = &args.output;
    if output.exists() && !args.force {
        bail!(
            "{} already exists; pass --force to replace it",
            output.display()
        );
    }
    atomic_file::write_with(output, |file| {
        mpk_registry::pack::pack(template, &root, &key, file)
            .with_context(|| format!("cannot pack {}", manifest.display()))
    })?;
    let report = verify::verify_file(output, &output.display().to_string(), &Default::default());
    super::out(&report.to_text())?;
    Ok(super::verdict(std::slice::from_ref(&report)))
}
