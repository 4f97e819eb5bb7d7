//! The verification cache: an unchanged bundle is not verified twice.
//!
//! Entries are keyed by the bundle's content identity ([`ContentId`]: its git blob id or its
//! SHA-256) together with the tool's identity (its version and the digest of the sources it
//! was built from, so a build with other rules verifies again) and every policy input. Never
//! by path, mtime or size: an edited bundle always gets a new key. Only passing verdicts are
//! stored. Each file carries a digest of its contents; a damaged one is ignored with a warning
//! and the bundle is verified again. Deleting the folder is always safe.
//!
//! The cache also remembers, per build fingerprint, what a finished build reported
//! ([`BuildRecord`]), so a build whose inputs did not change can say so without redoing it.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::atomic_file;
use crate::canonical::Scheme;
use crate::content_id::ContentId;
use crate::manifest::{self, Artifact};
use crate::report::{Findings, Problem, Rule};
use crate::verify::{self, Report, Verified};

/// Bumped whenever the entry format or the meaning of a verdict changes.
const FORMAT: &str = "mpk-registry-cache-v3";

pub struct Cache {
    dir: PathBuf,
    /// Whether the folder held any verdict when opened.
    has_verdicts: bool,
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
    signature_scheme: Scheme,
    application_id: String,
    min_runtime_version: String,
    bundle_sha256: String,
    bundle_size: u64,
    manifest_sha256: String,
    artifacts: Vec<Artifact>,
    warnings: Vec<StoredProblem>,
    manifest: String,
}

/// `(rule code, subject, message)` of a warning.
type StoredProblem = (String, String, String);

/// What a finished build reported, under the fingerprint of its inputs.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredBuild {
    fingerprint: String,
    apps: usize,
    /// Warnings of published bundles, by file.
    warnings: Vec<(String, Vec<StoredProblem>)>,
}

/// The parts of a finished build's outcome that a build of the same inputs reports again.
#[derive(Debug, Clone, Default)]
pub struct BuildRecord {
    pub apps: usize,
    /// Reports of published bundles that had warnings.
    pub warnings: Vec<Report>,
}

/// A cache file: `{"digest": SHA-256 of the entry's JSON text, "entry": …}`.
#[derive(Deserialize)]
struct Framed<'a> {
    digest: String,
    #[serde(borrow)]
    entry: &'a RawValue,
}

impl Cache {
    /// Opens (creating) the cache folder for verdicts of the tool build named `tool` (see
    /// [`crate::site::TOOL`]) under `options`.
    pub fn open(dir: &Path, options: &verify::Options, tool: &str) -> Result<Cache> {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the cache folder {}", dir.display()))?;
        // Verdicts live in two-hex-digit folders.
        let has_verdicts = fs::read_dir(dir)
            .with_context(|| format!("cannot read the cache folder {}", dir.display()))?
            .flatten()
            .any(|e| e.file_name().len() == 2);
        Ok(Cache {
            dir: dir.to_path_buf(),
            has_verdicts,
            salt: format!("{FORMAT}\n{tool}\n{options:?}"),
            warnings: Mutex::new(Vec::new()),
        })
    }

    /// Whether the folder held any verdict when opened: without, there is nothing to look up.
    pub fn has_verdicts(&self) -> bool {
        self.has_verdicts
    }

    /// The key of a bundle's verdict: its content identity plus the salt.
    pub fn key(&self, id: &ContentId) -> String {
        hex::encode(Sha256::digest(format!("{}\n{id}", self.salt)))
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.json"))
    }

    /// The stored verdict for `key`, reported under the name `file`.
    pub fn get(&self, key: &str, file: &str) -> Option<Report> {
        let path = self.path(key);
        let entry: Entry = self.load(&path, &format!("verifying {file} again"))?;
        let report = (entry.key == key).then(|| decode(entry, file)).flatten();
        if report.is_none() {
            self.damaged(&path, &format!("verifying {file} again"));
        }
        report
    }

    /// Stores a passing verdict under `key`; others are not cached. The caller makes sure
    /// `key` names the bytes that were verified.
    pub fn put(&self, key: &str, report: &Report) {
        if let Some(entry) = encode(key, report) {
            self.store(&self.path(key), &entry);
        }
    }

    /// What the build with this fingerprint reported, if it finished before.
    pub fn build_record(&self, fingerprint: &str) -> Option<BuildRecord> {
        let path = self.build_path(fingerprint);
        let stored: StoredBuild = self.load(&path, "building again")?;
        let warnings = (stored.fingerprint == fingerprint)
            .then(|| {
                stored
                    .warnings
                    .into_iter()
                    .map(|(file, warnings)| {
                        Some(Report {
                            warnings: decode_problems(warnings)?,
                            ..Report::for_file(&file, Vec::new())
                        })
                    })
                    .collect::<Option<Vec<_>>>()
            })
            .flatten();
        if warnings.is_none() {
            self.damaged(&path, "building again");
        }
        Some(BuildRecord {
            apps: stored.apps,
            warnings: warnings?,
        })
    }

    /// Remembers what the build with this fingerprint reported.
    pub fn put_build_record(&self, fingerprint: &str, record: &BuildRecord) {
        let stored = StoredBuild {
            fingerprint: fingerprint.to_owned(),
            apps: record.apps,
            warnings: record
                .warnings
                .iter()
                .map(|r| (r.file.clone(), encode_problems(&r.warnings)))
                .collect(),
        };
        self.store(&self.build_path(fingerprint), &stored);
    }

    fn build_path(&self, fingerprint: &str) -> PathBuf {
        self.dir.join("builds").join(format!("{fingerprint}.json"))
    }

    /// Reads a cache file; `None` when it is missing or damaged (with a warning).
    fn load<T: DeserializeOwned>(&self, path: &Path, consequence: &str) -> Option<T> {
        let bytes = fs::read(path).ok()?;
        let entry = serde_json::from_slice::<Framed>(&bytes)
            .ok()
            .filter(|f| hex::encode(Sha256::digest(f.entry.get())) == f.digest)
            .and_then(|f| serde_json::from_str(f.entry.get()).ok());
        if entry.is_none() {
            self.damaged(path, consequence);
        }
        entry
    }

    fn damaged(&self, path: &Path, consequence: &str) {
        self.warn(format!(
            "ignored a damaged cache entry {} ({consequence})",
            path.display()
        ));
    }

    /// Writes a cache file whole (a reader never sees part of one). Failing to write only
    /// costs time, so it is a warning.
    fn store<T: Serialize>(&self, path: &Path, entry: &T) {
        let json = serde_json::to_string(entry).expect("cache entries serialize");
        let framed = format!(
            "{{\"digest\":\"{}\",\"entry\":{json}}}",
            hex::encode(Sha256::digest(&json))
        );
        let written = fs::create_dir_all(atomic_file::parent(path))
            .and_then(|()| atomic_file::write(path, framed.as_bytes()));
        if let Err(e) = written {
            self.warn(format!(
                "cannot write the cache entry {}: {e}",
                path.display()
            ));
        }
    }

    fn warn(&self, warning: String) {
        self.warnings.lock().expect("warnings lock").push(warning);
    }

    /// Warnings gathered so far (damaged entries, unwritable folder).
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().expect("warnings lock"))
    }
}

fn encode(key: &str, report: &Report) -> Option<Entry> {
    let b = report.bundle.as_ref().filter(|_| report.ok())?;
    Some(Entry {
        key: key.to_owned(),
        package: b.package.clone(),
        app_version: b.app_version.clone(),
        signer_id: b.signer_id.clone(),
        signature_scheme: b.signature_scheme,
        application_id: b.application_id.clone(),
        min_runtime_version: b.min_runtime_version.clone(),
        bundle_sha256: b.bundle_sha256.clone(),
        bundle_size: b.bundle_size,
        manifest_sha256: b.manifest_sha256.clone(),
        artifacts: b.artifacts.clone(),
        warnings: encode_problems(&report.warnings),
        manifest: base64::engine::general_purpose::STANDARD.encode(&b.manifest_bytes),
    })
}

fn encode_problems(problems: &[Problem]) -> Vec<StoredProblem> {
    problems
        .iter()
        .map(|p| {
            (
                p.rule.code().to_owned(),
                p.subject.clone(),
                p.message.clone(),
            )
        })
        .collect()
}

fn decode_problems(stored: Vec<StoredProblem>) -> Option<Vec<Problem>> {
    stored
        .into_iter()
        .map(|(code, subject, message)| {
            Some(Problem::new(Rule::from_code(&code)?, subject, message))
        })
        .collect()
}

/// Rebuilds a report, or `None` when anything about the entry does not hold together.
fn decode(e: Entry, file: &str) -> Option<Report> {
    let manifest_bytes = base64::engine::general_purpose::STANDARD
        .decode(&e.manifest)
        .ok()?;
    if hex::encode(Sha256::digest(&manifest_bytes)) != e.manifest_sha256 {
        return None;
    }
    let manifest = manifest::parse(&manifest_bytes, &mut Findings::default())?;
    let warnings = decode_problems(e.warnings)?;
    Some(Report {
        file: file.to_owned(),
        problems: Vec::new(),
        warnings,
        bundle: Some(Verified {
            package: e.package,
            app_version: e.app_version,
            signer_id: e.signer_id,
            signature_scheme: e.signature_scheme,
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
