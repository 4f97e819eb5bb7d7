//! The trust state: what this client learnt on earlier fetches, per registry — the index key it
//! pinned, the highest catalog version it saw, the signer it pinned for each package. A fetch
//! checks against the registry's [`Pins`] and hands them back, updated, to be saved when it
//! commits.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use serde::{Deserialize, Serialize};

use super::{FetchError, Step};
use crate::atomic_file;
use crate::schema::rfc3339;
use crate::verify::Verified;

/// The trust state file (`trust.json`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateFile {
    #[serde(default)]
    schema_version: u32,
    #[serde(default)]
    registries: BTreeMap<String, RegistryPins>,
}

const STATE_SCHEMA_VERSION: u32 = 1;

/// One registry's entry in the state file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RegistryPins {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) index_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) index_key_pinned_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) highest_version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) highest_version_seen_at: Option<String>,
    #[serde(default)]
    pub(super) packages: BTreeMap<String, PackagePin>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PackagePin {
    pub(super) signer_id: String,
    pub(super) pinned_at: String,
}

/// The trust state as loaded, and the file it is saved to.
pub(super) struct TrustState {
    path: PathBuf,
    file: StateFile,
}

/// What this client pinned for one registry, and where that is kept: a refusal that a pin
/// causes says which entry of which file to remove.
pub(super) struct Pins {
    /// The registry's normalized address or canonical folder.
    pub(super) registry: String,
    /// The trust state file.
    pub(super) file: PathBuf,
    pub(super) pinned: RegistryPins,
}

impl TrustState {
    /// Reads the state at `path`, else at the default path; none there is an empty state.
    pub(super) fn load(path: Option<&Path>) -> Step<TrustState> {
        let path = match path {
            Some(path) => path.to_path_buf(),
            None => default_path()?,
        };
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(TrustState {
                    path,
                    file: StateFile::default(),
                })
            }
            Err(e) => {
                return Err(FetchError::Failed(anyhow!(e).context(format!(
                    "cannot read the trust state {}",
                    path.display()
                ))))
            }
        };
        let file: StateFile = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "the trust state {} is damaged; fix it, or remove it to forget every pin",
                path.display()
            )
        })?;
        if file.schema_version > STATE_SCHEMA_VERSION {
            return Err(FetchError::Failed(anyhow!(
                "the trust state {} was written by a newer mpk-registry (schemaVersion {})",
                path.display(),
                file.schema_version
            )));
        }
        Ok(TrustState { path, file })
    }

    /// What is pinned for `registry` (nothing, the first time).
    pub(super) fn pins(&self, registry: &str) -> Pins {
        Pins {
            registry: registry.to_owned(),
            file: self.path.clone(),
            pinned: self
                .file
                .registries
                .get(registry)
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// Saves the state with `pins` as their registry's entry: the whole file is written beside
    /// itself and renamed into place, so a reader never sees half of it.
    pub(super) fn save(mut self, pins: Pins) -> Step<()> {
        self.file.schema_version = STATE_SCHEMA_VERSION;
        self.file.registries.insert(pins.registry, pins.pinned);
        let path = &self.path;
        let dir = atomic_file::parent(path);
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut bytes = serde_json::to_vec_pretty(&self.file).expect("the state serializes");
        bytes.push(b'\n');
        atomic_file::write_with(path, |file| {
            file.write_all(&bytes)?;
            // The pins are what a later fetch trusts: on disk before the rename makes them current.
            file.sync_all()
        })
        .with_context(|| format!("cannot write the trust state {}", path.display()))?;
        Ok(())
    }
}

impl Pins {
    /// Remembers what a fetch that passed every check saw: the key that signed the catalog and
    /// its version (when it was signed), and the bundle's signer. A key is re-pinned only when
    /// it changed, the version only moves up, and a package's first signer stays pinned.
    pub(super) fn record(
        &mut self,
        index_key: Option<&str>,
        index_version: Option<u64>,
        bundle: &Verified,
        now: i64,
    ) {
        let pinned = &mut self.pinned;
        let seen = rfc3339(now);
        if let Some(key) = index_key {
            if pinned.index_key.as_deref() != Some(key) {
                pinned.index_key = Some(key.to_owned());
                pinned.index_key_pinned_at = Some(seen.clone());
            }
        }
        if let Some(version) = index_version {
            if pinned.highest_version.is_none_or(|h| version > h) {
                pinned.highest_version = Some(version);
                pinned.highest_version_seen_at = Some(seen.clone());
            }
        }
        pinned
            .packages
            .entry(bundle.package.clone())
            .or_insert_with(|| PackagePin {
                signer_id: bundle.signer_id.clone(),
                pinned_at: seen,
            });
    }
}

/// `$XDG_STATE_HOME/mpk-registry/trust.json`, else `$HOME/.local/state/mpk-registry/trust.json`.
fn default_path() -> Step<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = absolute("XDG_STATE_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".local/state")))
        .ok_or_else(|| {
            FetchError::Failed(anyhow!(
                "neither XDG_STATE_HOME nor HOME is set; pass --state FILE for the trust state"
            ))
        })?;
    Ok(base.join("mpk-registry").join("trust.json"))
}
