//! `pack`: make and sign a bundle (or re-sign one under the other scheme), then verify it as
//! `verify` would.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use mpk_registry::canonical::Scheme;
use mpk_registry::keys::KeyFile;
use mpk_registry::{atomic_file, verify};

#[derive(clap::Args)]
pub struct Args {
    /// manifest.json without hashes or signature; artifact paths are relative to --root.
    #[arg(required_unless_present = "resign")]
    manifest: Option<PathBuf>,
    /// Re-sign this bundle under --scheme instead: the same key, manifest and files, only the
    /// signature's value changes.
    #[arg(long, value_name = "BUNDLE", conflicts_with_all = ["manifest", "root"])]
    resign: Option<PathBuf>,
    /// The signing key file (mero-sign format).
    #[arg(short, long)]
    key: PathBuf,
    /// The bundle to write.
    #[arg(short, long)]
    output: PathBuf,
    /// Folder the artifact paths are relative to [default: the manifest's folder].
    #[arg(long)]
    root: Option<PathBuf>,
    /// What the signature covers: `legacy` (SHA-256 of the canonical manifest), which every
    /// node released so far installs, or `v1` (the domain-separated payload of core #4307),
    /// which only nodes that ship it install.
    #[arg(long, default_value = "legacy", value_parser = parse_scheme)]
    scheme: Scheme,
    /// Replace an existing output file.
    #[arg(long)]
    force: bool,
}

fn parse_scheme(name: &str) -> Result<Scheme, String> {
    Scheme::from_name(name).ok_or_else(|| format!("{name:?} is not a scheme: use legacy or v1"))
}

pub fn run(args: Args) -> Result<ExitCode> {
    let key = KeyFile::load(&args.key)?;
    let output: &Path = &args.output;
    if output.exists() && !args.force {
        bail!(
            "{} already exists; pass --force to replace it",
            output.display()
        );
    }
    match (&args.manifest, &args.resign) {
        (_, Some(bundle)) => {
            let input = std::fs::File::open(bundle)
                .with_context(|| format!("cannot read {}", bundle.display()))?;
            atomic_file::write_with(output, |file| {
                mpk_registry::pack::resign(input, &key, args.scheme, file)
                    .with_context(|| format!("cannot re-sign {}", bundle.display()))
            })?;
        }
        (Some(manifest), None) => {
            let text = std::fs::read(manifest)
                .with_context(|| format!("cannot read {}", manifest.display()))?;
            let template = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not a JSON object", manifest.display()))?;
            let root = args
                .root
                .clone()
                .unwrap_or_else(|| atomic_file::parent(manifest).to_path_buf());
            atomic_file::write_with(output, |file| {
                mpk_registry::pack::pack(template, &root, &key, args.scheme, file)
                    .with_context(|| format!("cannot pack {}", manifest.display()))
            })?;
        }
        (None, None) => unreachable!("clap requires a manifest unless --resign is given"),
    }
    let report = verify::verify_file(output, &output.display().to_string(), &Default::default());
    super::out(&report.to_text())?;
    Ok(super::verdict(std::slice::from_ref(&report)))
}
