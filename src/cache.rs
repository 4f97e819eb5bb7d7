//! The verification cache: an unchanged bundle is not verified twice.
//!
//! Entries are keyed by the bundle's content identity — the SHA-256 of its bytes — together with
//! the tool version and every policy input. Never by path, mtime or size: an edited bundle
//! always gets a new key. (Git blob ids would be free only while git's index is fresh; right
//! after a clone git re-hashes every file to tell, which costs more than hashing them here.) Only passing verdicts are
//! stored. Each entry carries a digest of itself; a damaged one is ignored with a warning and
//! the bundle is verified again. Deleting the folder is always safe.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::manifest::{self, Artifact};
use crate::report::{Findings, Problem, Rule};
use crate::source::BundleFile;
use crate::verify::{self, Report, Verified};

/// Bumped whenever the entry format or the meaning of a verdict changes.
const FORMAT: &str = "mpk-registry-cache-v1";

pub struct Cache {
    dir: PathBuf,
    /// Everything besides the bundle's bytes that a verdict depends on.
    salt: String,
    warnings: Mutex<Vec<String>>,
}

/// A passing verdict, as stored.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    key: String,
    package: String,
    app_version: String,
    signer_id: String,
    application_id: String,
    min_runtime_version: String,
    bundle_sha256: String,
    bundle_size: u64,
    manifest_sha256: String,
    artifacts: Vec<Artifact>,
    /// `(rule code, subject, message)` of each warning.
    warnings: Vec<(String, String, String)>,
    manifest: String,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    /// SHA-256 of the JSON of `entry`, so damage is detected rather than trusted.
    digest: String,
    entry: Entry,
}

impl Cache {
    pub fn open(dir: &Path, options: &verify::Options) -> Result<Cache> {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the cache folder {}", dir.display()))?;
        Ok(Cache {
            dir: dir.to_path_buf(),
            salt: format!("{FORMAT}\n{}\n{options:?}", env!("CARGO_PKG_VERSION")),
            warnings: Mutex::new(Vec::new()),
        })
    }

    /// The key of a bundle: its content identity plus the salt.
    pub fn key(&self, file: &BundleFile) -> Result<String> {
        let mut hasher = Sha256::new();
        fs::File::open(&file.path)
            .and_then(|mut f| std::io::copy(&mut f, &mut hasher))
            .with_context(|| format!("cannot read {}", file.path.display()))?;
        Ok(self.key_for(&hex::encode(hasher.finalize())))
    }

    /// The key of the bundle whose bytes have this SHA-256.
    fn key_for(&self, sha256: &str) -> String {
        hex::encode(Sha256::digest(format!("{}\nsha256:{sha256}", self.salt)))
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.json"))
    }

    /// The stored verdict for `key`, reported under the name `file`.
    pub fn get(&self, key: &str, file: &str) -> Option<Report> {
        let path = self.path(key);
        let bytes = fs::read(&path).ok()?;
        match decode(&bytes, key, file) {
            Some(report) => Some(report),
            None => {
                self.warnings.lock().expect("warnings lock").push(format!(
                    "ignored a damaged cache entry {} (verifying {file} again)",
                    path.display()
                ));
                None
            }
        }
    }

    /// Stores a passing verdict; others are not cached. The key comes from the digest of the
    /// bytes that were verified, so a file replaced in between is never cached under the
    /// old bytes' key. Failing to write only costs time.
    pub fn put(&self, report: &Report) {
        let Some(bundle) = report.bundle.as_ref().filter(|_| report.ok) else {
            return;
        };
        let key = self.key_for(&bundle.bundle_sha256);
        let Some(entry) = encode(&key, report) else {
            return;
        };
        let json = serde_json::to_vec(&entry).expect("entries serialize");
        let stored = Stored {
            digest: hex::encode(Sha256::digest(&json)),
            entry,
        };
        let path = self.path(&key);
        let written = path
            .parent()
            .map(fs::create_dir_all)
            .transpose()
            .and_then(|_| {
                let mut tmp = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(&self.dir))?;
                tmp.write_all(&serde_json::to_vec(&stored).expect("entries serialize"))?;
                tmp.persist(&path).map_err(|e| e.error)?;
                Ok(())
            });
        if let Err(e) = written {
            self.warnings.lock().expect("warnings lock").push(format!(
                "cannot write the cache entry {}: {e}",
                path.display()
            ));
        }
    }

    /// Warnings gathered so far (damaged entries, unwritable folder).
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().expect("warnings lock"))
    }
}

fn encode(key: &str, report: &Report) -> Option<Entry> {
    let b = report.bundle.as_ref().filter(|_| report.ok)?;
    Some(Entry {
        key: key.to_owned(),
        package: b.package.clone(),
        app_version: b.app_version.clone(),
        signer_id: b.signer_id.clone(),
        application_id: b.application_id.clone(),
        min_runtime_version: b.min_runtime_version.clone(),
        bundle_sha256: b.bundle_sha256.clone(),
        bundle_size: b.bundle_size,
        manifest_sha256: b.manifest_sha256.clone(),
        artifacts: b.artifacts.clone(),
        warnings: report
            .warnings
            .iter()
            .map(|w| {
                (
                    w.rule.code().to_owned(),
                    w.subject.clone(),
                    w.message.clone(),
                )
            })
            .collect(),
        manifest: base64::engine::general_purpose::STANDARD.encode(&b.manifest_bytes),
    })
}

/// Rebuilds a report, or `None` when anything about the entry does not hold together.
fn decode(bytes: &[u8], key: &str, file: &str) -> Option<Report> {
    let stored: Stored = serde_json::from_slice(bytes).ok()?;
    let json = serde_json::to_vec(&stored.entry).ok()?;
    if hex::encode(Sha256::digest(&json)) != stored.digest || stored.entry.key != key {
        return None;
    }
    let e = stored.entry;
    let manifest_bytes = base64::engine::general_purpose::STANDARD
        .decode(&e.manifest)
        .ok()?;
    if hex::encode(Sha256::digest(&manifest_bytes)) != e.manifest_sha256 {
        return None;
    }
    let manifest = manifest::parse(&manifest_bytes, &mut Findings::default())?;
    let warnings = e
        .warnings
        .into_iter()
        .map(|(code, subject, message)| {
            Some(Problem::new(Rule::from_code(&code)?, subject, message))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Report {
        file: file.to_owned(),
        ok: true,
        problems: Vec::new(),
        warnings,
        bundle: Some(Verified {
            package: e.package,
            app_version: e.app_version,
            signer_id: e.signer_id,
            application_id: e.application_id,
            min_runtime_version: e.min_runtime_version,
            bundle_sha256: e.bundle_sha256,
            bundle_size: e.bundle_size,
            manifest_sha256: e.manifest_sha256,
            artifacts: e.artifacts,
            manifest_bytes,
        }),
        manifest: Some(manifest),
    })
}
