//! `fetch`: the consumer side.

use std::path::PathBuf;

/// What to fetch, from where, trusting what.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// `PACKAGE` or `PACKAGE@VERSION`.
    pub spec: String,
    /// `https://…`, `http://…` or a local folder holding a built site.
    pub registry: String,
    /// The registry key to trust (did:key); else the one pinned on first use.
    pub trust: Option<String>,
    /// Folder to write the bundle into.
    pub output: PathBuf,
    /// The trust state file (pinned keys, highest index versions, package signers).
    pub state: Option<PathBuf>,
    /// Accept an unsigned index.
    pub insecure: bool,
    /// Let `latest` pick a prerelease.
    pub prerelease: bool,
}

/// A bundle that passed every check and was written.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    pub package: String,
    pub version: String,
    pub signer_id: String,
    pub bundle_sha256: String,
}

#[derive(Debug)]
pub enum FetchError {
    /// A check failed: the registry or the bundle is not to be trusted.
    Refused(String),
    /// The fetch could not be done (network, disk, arguments).
    Failed(anyhow::Error),
}

pub fn fetch(_options: &FetchOptions) -> Result<Fetched, FetchError> {
    Err(FetchError::Failed(anyhow::anyhow!("not yet")))
}
