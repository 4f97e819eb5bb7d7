//! The bundle on its way in: written to a temporary file beside its destination, so that what
//! sits at the destination is only ever a bundle that passed every check, put there by one
//! rename.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use super::registry::Registry;
use super::{Refusal, Step};
use crate::schema::ReleaseEntry;

/// A downloaded bundle, not yet where it belongs.
pub(super) struct Download {
    part: NamedTempFile,
    destination: PathBuf,
}

/// Step 6: downloads `release` of `package` into `output` (the current folder when empty),
/// reading no more than one byte past the size the app index declares and hashing as it
/// arrives; the size and SHA-256 must be the declared ones. `signed_index` only words the
/// refusal. A different file at the bundle's place is replaced only when `force` says so.
pub(super) fn download(
    registry: &Registry,
    package: &str,
    release: &ReleaseEntry,
    output: &Path,
    signed_index: bool,
    force: bool,
) -> Step<Download> {
    let output = if output.as_os_str().is_empty() {
        Path::new(".")
    } else {
        output
    };
    let destination = output.join(format!("{package}-{}.mpk", release.version));
    if !force {
        check_free(&destination, &release.bundle.sha256)?;
    }
    fs::create_dir_all(output)
        .with_context(|| format!("cannot create the output folder {}", output.display()))?;
    let mut part = tempfile::Builder::new()
        .prefix(".mpk-fetch-")
        .suffix(".part")
        .tempfile_in(output)
        .with_context(|| format!("cannot write in {}", output.display()))?;
    let bundle = &release.bundle;
    let (size, sha256) = registry.download(&bundle.path, bundle.size, part.as_file_mut())?;
    if size != bundle.size {
        return Err(Refusal::BundleSize {
            path: bundle.path.clone(),
            expected: bundle.size,
            actual: size,
            signed_index,
        }
        .into());
    }
    if sha256 != bundle.sha256 {
        return Err(Refusal::BundleDigest {
            path: bundle.path.clone(),
            expected: bundle.sha256.clone(),
            actual: sha256,
            signed_index,
        }
        .into());
    }
    part.as_file()
        .sync_all()
        .context("cannot flush the downloaded bundle to disk")?;
    Ok(Download { part, destination })
}

/// Nothing at `destination`, or the very bundle about to be fetched (the same SHA-256): any
/// other file there is the user's, and is not replaced silently.
fn check_free(destination: &Path, sha256: &str) -> Step<()> {
    // A folder or anything else that is no file fails where the bundle is placed.
    if !destination.is_file() {
        return Ok(());
    }
    let mut file = fs::File::open(destination)
        .with_context(|| format!("cannot read {}", destination.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("cannot read {}", destination.display()))?;
    if hex::encode(hasher.finalize()) == sha256 {
        return Ok(());
    }
    Err(anyhow!(
        "{} is already there and is not the bundle the registry lists; move it away, or pass --force to replace it",
        destination.display()
    )
    .into())
}

impl Download {
    /// The temporary file holding the bundle.
    pub(super) fn path(&self) -> &Path {
        self.part.path()
    }

    /// Renames the bundle to `<output>/<package>-<version>.mpk`, replacing any file there. On
    /// failure the temporary file is removed.
    pub(super) fn place(self) -> Step<PathBuf> {
        let Download { part, destination } = self;
        part.persist(&destination).map_err(|e| {
            anyhow!(e.error).context(format!("cannot write {}", destination.display()))
        })?;
        Ok(destination)
    }
}
