//! One version brought into the registry folder: recognised as already there, or downloaded to
//! the staging folder, verified exactly as `verify` does, and moved into place by one rename
//! that never replaces a file.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use super::{Listed, VersionOutcome};
use crate::fetch::registry::Registry;
use crate::fetch::{FetchError, MAX_BUNDLE_BYTES};
use crate::report::{Problem, Rule};
use crate::verify::{self, Verified};

/// What every version's transfer shares.
pub(super) struct Transfer<'a> {
    pub(super) registry: &'a Registry,
    pub(super) out: &'a Path,
    pub(super) staging: &'a Path,
    pub(super) downloads: AtomicU64,
}

/// `<out>/<package>/<package>-<version>.mpk`
pub(super) fn destination(out: &Path, package: &str, version: &str) -> PathBuf {
    out.join(package).join(format!("{package}-{version}.mpk"))
}

impl Transfer<'_> {
    /// Step 4, for one version.
    pub(super) fn bring_in(&self, package: &str, listed: &Listed) -> VersionOutcome {
        let version = &listed.version;
        let file = destination(self.out, package, version);
        if let Some(bundle) = already_there(&file, package, listed) {
            return VersionOutcome::Present {
                bundle: Box::new(bundle),
                downloaded: false,
            };
        }
        let artifact = format!("artifacts/{package}/{version}/{package}-{version}.mpk");
        let staged = match self.download(&artifact) {
            Ok(staged) => staged,
            Err(outcome) => return outcome,
        };
        let name = format!("{}{artifact}", self.registry.key);
        match verify_as(staged.path(), &name, package, version) {
            Ok(bundle) => place(staged, &file, bundle),
            Err(outcome) => outcome,
        }
    }

    /// Downloads `artifact` into a new file of the staging folder, reading at most one byte
    /// more than a node accepts.
    fn download(&self, artifact: &str) -> Result<NamedTempFile, VersionOutcome> {
        let failed = |e: &dyn std::fmt::Display| VersionOutcome::Failed(e.to_string());
        let mut staged = tempfile::Builder::new()
            .suffix(".part")
            .tempfile_in(self.staging)
            .map_err(|e| failed(&format!("cannot write in {}: {e}", self.staging.display())))?;
        let (size, _) = self
            .registry
            .download(artifact, MAX_BUNDLE_BYTES, staged.as_file_mut())
            .map_err(|e| match e {
                FetchError::Refused(refusal) => failed(&refusal),
                FetchError::Failed(e) => failed(&format!("{e:#}")),
            })?;
        // Counted once the server handed the bundle over; a refused request is no download.
        self.downloads.fetch_add(1, Ordering::SeqCst);
        if size > MAX_BUNDLE_BYTES {
            return Err(VersionOutcome::Refused(vec![Problem::new(
                Rule::SizeCap,
                artifact,
                format!("is larger than {MAX_BUNDLE_BYTES} bytes, more than a node accepts"),
            )]));
        }
        staged
            .as_file()
            .sync_all()
            .map_err(|e| failed(&format!("cannot flush the download to disk: {e}")))?;
        Ok(staged)
    }
}

/// The file already in the folder holds this version as the server lists it, so there is
/// nothing to download: it verifies, as this package and version, and the listing gives its
/// signature, or else its signer and artifacts (whose digests the signature covers). A server
/// that shows edited metadata, or the signature in a shape of its own, still lists the same
/// signer and artifacts; a listing that differs in those is downloaded and compared.
fn already_there(file: &Path, package: &str, listed: &Listed) -> Option<Verified> {
    if !file.is_file() {
        return None;
    }
    let report = verify::verify_file(file, &file.display().to_string(), &Default::default());
    let ok = report.ok();
    let bundle = report.bundle.filter(|_| ok)?;
    let signed = report.manifest.as_ref()?;
    let listed_as = |key: &str| listed.fields.get(key) == signed.get(key);
    let artifacts = ["wasm", "abi", "services"];
    let same = listed_as("signature")
        || (listed.fields.contains_key("signerId")
            && listed_as("signerId")
            && artifacts.iter().any(|key| listed.fields.contains_key(*key))
            && artifacts.iter().all(|key| listed_as(key)));
    (bundle.package == package && bundle.app_version == listed.version && same).then_some(bundle)
}

/// The downloaded bundle passes every check `verify` makes, and is the package and version it
/// was served as (a bundle under another name would be written where it does not belong).
fn verify_as(
    staged: &Path,
    name: &str,
    package: &str,
    version: &str,
) -> Result<Verified, VersionOutcome> {
    let report = verify::verify_file(staged, name, &Default::default());
    if let Some(io) = report.problems.iter().find(|p| p.rule == Rule::Io) {
        return Err(VersionOutcome::Failed(format!(
            "cannot read back the download: {}",
            io.message
        )));
    }
    let ok = report.ok();
    let Some(bundle) = report.bundle.filter(|_| ok) else {
        return Err(VersionOutcome::Refused(report.problems));
    };
    if bundle.package != package || bundle.app_version != version {
        return Err(VersionOutcome::Refused(vec![Problem::new(
            Rule::FileName,
            name,
            format!(
                "is served as {package} {version}, but its manifest says {} {}",
                bundle.package, bundle.app_version
            ),
        )]));
    }
    Ok(bundle)
}

/// Moves the verified download to `file` unless a file is there: the same bytes are the same
/// bundle; other bytes are refused and left as they are.
fn place(staged: NamedTempFile, file: &Path, bundle: Verified) -> VersionOutcome {
    if let Some(dir) = file.parent() {
        if let Err(e) = fs::create_dir_all(dir) {
            return VersionOutcome::Failed(format!("cannot create {}: {e}", dir.display()));
        }
    }
    match staged.persist_noclobber(file) {
        Ok(_) => VersionOutcome::Imported(Box::new(bundle)),
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => match sha256_file(file) {
            Ok(sha256) if sha256 == bundle.bundle_sha256 => VersionOutcome::Present {
                bundle: Box::new(bundle),
                downloaded: true,
            },
            Ok(sha256) => VersionOutcome::Refused(vec![Problem {
                hint: "the folder keeps its file; if the server's bundle is the one to keep, move the file away and import again",
                ..Problem::new(
                    Rule::Immutable,
                    file.display().to_string(),
                    format!(
                        "is already in the folder with other bytes (SHA-256 {sha256}) than the server's bundle (SHA-256 {})",
                        bundle.bundle_sha256
                    ),
                )
            }]),
            Err(e) => VersionOutcome::Failed(format!("cannot read {}: {e}", file.display())),
        },
        Err(e) => VersionOutcome::Failed(format!("cannot write {}: {}", file.display(), e.error)),
    }
}

fn sha256_file(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}
