//! The bundle on its way in: written to a temporary file beside its destination, so that what
//! sits at the destination is only ever a bundle that passed every check, put there by one
//! rename.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
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
/// refusal.
pub(super) fn download(
    registry: &Registry,
    package: &str,
    release: &ReleaseEntry,
    output: &Path,
    signed_index: bool,
) -> Step<Download> {
    let output = if output.as_os_str().is_empty() {
        Path::new(".")
    } else {
        output
    };
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
    Ok(Download {
        part,
        destination: output.join(format!("{package}-{}.mpk", release.version)),
    })
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
