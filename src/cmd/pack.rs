//! `pack`: make and sign a bundle (or re-sign one), verify it as `verify` would, and only then
//! write it. A refused bundle leaves nothing behind.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use mpk_registry::atomic_file;
use mpk_registry::canonical::Scheme;
use mpk_registry::keys::KeyFile;
use mpk_registry::pack::PackError;
use mpk_registry::report::{Problem, Rule};
use mpk_registry::verify::{self, Options, Report};

#[derive(clap::Args)]
pub struct Args {
    /// manifest.json without hashes or signature (docs/manifest.md); artifact paths are
    /// relative to --root.
    #[arg(required_unless_present = "resign")]
    manifest: Option<PathBuf>,
    /// Re-sign this bundle instead. With --scheme: under that scheme with the key that signed
    /// it (only the signature's value changes). Without: with a new key under the bundle's own
    /// scheme (a `cargo mero bundle` signed with the development key): signerId and the
    /// signature change, every other entry stays byte for byte.
    #[arg(long, value_name = "BUNDLE", conflicts_with_all = ["manifest", "root"])]
    resign: Option<PathBuf>,
    /// The signing key file (mero-sign format).
    #[arg(short, long)]
    key: PathBuf,
    /// The bundle to write [default: <package>-<appVersion>.mpk in the current folder].
    #[arg(short, long, conflicts_with = "into")]
    output: Option<PathBuf>,
    /// Write the bundle where a registry folder wants it: <DIR>/<package>/<package>-<appVersion>.mpk.
    #[arg(long, value_name = "DIR")]
    into: Option<PathBuf>,
    /// Folder the artifact paths are relative to [default: the manifest's folder].
    #[arg(long)]
    root: Option<PathBuf>,
    /// What the signature covers: `legacy` (SHA-256 of the canonical manifest), which every
    /// node released so far installs, or `v1` (the domain-separated payload of core #4307),
    /// which only nodes that ship it install. [default: legacy; with --resign, required to
    /// move a bundle to the other scheme]
    #[arg(long, value_parser = parse_scheme)]
    scheme: Option<Scheme>,
    /// Replace an existing output file.
    #[arg(long)]
    force: bool,
    /// Accept the public development key (local test registries only).
    #[arg(long)]
    allow_dev_key: bool,
}

fn parse_scheme(name: &str) -> Result<Scheme, String> {
    Scheme::from_name(name).ok_or_else(|| format!("{name:?} is not a scheme: use legacy or v1"))
}

pub fn run(args: Args) -> Result<ExitCode> {
    let key = KeyFile::load(&args.key)?;
    let folder = match (&args.output, &args.into) {
        (Some(output), _) => atomic_file::parent(output).to_path_buf(),
        (None, Some(into)) => into.clone(),
        (None, None) => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&folder)
        .with_context(|| format!("cannot write in {}", folder.display()))?;
    let input = match (&args.manifest, &args.resign) {
        (_, Some(bundle)) => {
            let input =
                File::open(bundle).with_context(|| format!("cannot read {}", bundle.display()))?;
            let made = match args.scheme {
                Some(scheme) => mpk_registry::pack::resign(input, &key, scheme, tmp.as_file_mut()),
                None => mpk_registry::pack::rekey(input, &key, tmp.as_file_mut()),
            };
            made.with_context(|| format!("cannot re-sign {}", bundle.display()))?;
            bundle
        }
        (Some(manifest), None) => {
            let text = std::fs::read(manifest)
                .with_context(|| format!("cannot read {}", manifest.display()))?;
            let template = serde_json::from_slice(&text).with_context(|| {
                format!(
                    "{} is not a JSON object (see docs/manifest.md)",
                    manifest.display()
                )
            })?;
            let root = args
                .root
                .clone()
                .unwrap_or_else(|| atomic_file::parent(manifest).to_path_buf());
            let scheme = args.scheme.unwrap_or(Scheme::Legacy);
            match mpk_registry::pack::pack(template, &root, &key, scheme, tmp.as_file_mut()) {
                Err(PackError::Refused(problems)) => {
                    let report = Report::for_file(&manifest.display().to_string(), problems);
                    return refused(&report);
                }
                made => made?,
            }
            manifest
        }
        (None, None) => unreachable!("clap requires a manifest unless --resign is given"),
    };
    let options = Options {
        allow_dev_key: args.allow_dev_key,
        ..Default::default()
    };
    let mut report = verify::verify_file(tmp.path(), &input.display().to_string(), &options);
    let resignature = args.resign.is_some().then_some(args.scheme).flatten();
    let Some((package, name)) = file_name(&report, resignature) else {
        return refused(&report);
    };
    let output = match (&args.output, &args.into) {
        (Some(output), _) => {
            if output
                .file_name()
                .is_some_and(|given| given != name.as_str())
            {
                report.warnings.push(Problem::new(
                    Rule::FileName,
                    "file name",
                    format!("a registry folder wants this bundle as {package}/{name}"),
                ));
            }
            output.clone()
        }
        (None, Some(into)) => into.join(package).join(&name),
        (None, None) => PathBuf::from(&name),
    };
    report.file = output.display().to_string();
    if !report.ok() {
        return refused(&report);
    }
    if output.exists() && !args.force {
        bail!(
            "{} already exists; pass --force to replace it",
            output.display()
        );
    }
    persist(tmp, &output)?;
    super::out(&report.to_text())?;
    Ok(ExitCode::SUCCESS)
}

/// The bundle's package and its own file name, `<package>-<appVersion>.mpk` (`+<scheme>`
/// before `.mpk` for a re-signature under `scheme`), once the manifest names both in the
/// characters a name may have.
fn file_name(report: &Report, resignature: Option<Scheme>) -> Option<(String, String)> {
    let manifest = report.manifest.as_ref()?;
    let plain = |field: &str| {
        let text = manifest.get(field)?.as_str()?;
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        (!text.is_empty() && text.chars().all(allowed) && !text.contains("..")).then_some(text)
    };
    let (package, version) = (plain("package")?, plain("appVersion")?);
    let name = match resignature {
        Some(scheme) => format!("{package}-{version}+{scheme}.mpk"),
        None => format!("{package}-{version}.mpk"),
    };
    Some((package.to_owned(), name))
}

/// Prints a refusal: every problem, and that nothing was written.
fn refused(report: &Report) -> Result<ExitCode> {
    super::out(&report.to_text())?;
    super::out("nothing written: fix the problems above and run pack again\n")?;
    Ok(ExitCode::from(1))
}

/// Moves the verified bundle to `output`, readable by everyone (a web server publishes it).
fn persist(tmp: tempfile::NamedTempFile, output: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))?;
    }
    if let Some(folder) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    tmp.persist(output)
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(())
}
