//! `fetch`: the consumer side. Downloads one bundle from a static registry and trusts nothing
//! it downloads.
//!
//! The registry is not the only trust anchor: a static host, a CDN or anyone who can push to the
//! branch that is served could serve an old catalog (hiding a fix or a yank), mix files of two
//! builds, or swap a bundle. So [`fetch`] runs these steps in order and stops at the first
//! failed check with a [`Refusal`] that says what was found:
//!
//! 1. load the catalog (`index.json`);
//! 2. check its signature, against the key given with `--trust`, else the one pinned for this
//!    registry on first use (an unsigned catalog only with `--insecure`);
//! 3. check its freshness: not expired, and a version not lower than the highest this client
//!    has seen for the registry (no rollback);
//! 4. load the app's own `index.json`, which must have the SHA-256 the catalog pins;
//! 5. choose the release: the version named, or the newest that is not yanked (nor, unless
//!    `--prerelease`, a prerelease);
//! 6. download the bundle, which must have the size and SHA-256 the app index declares;
//! 7. verify it as a node would (manifest signature, artifact digests, …), as the package and
//!    version asked for, signed by the signer the index names and pinned for the package;
//! 8. commit: move the bundle into place, then save the trust state (pins, highest version
//!    seen).
//!
//! `catalog` holds steps 1-3, `app` 4-5, then `download`, `verify` and `commit` one each;
//! `registry` is where files come from, `state` the trust state.

// A refusal carries what was found, inline, so callers match it directly; it is made at most
// once per fetch, so its size costs nothing.
#![allow(clippy::result_large_err)]

mod app;
mod catalog;
mod commit;
mod document;
mod download;
mod refusal;
pub(crate) mod registry;
mod state;
mod verify;

use std::path::PathBuf;

pub use refusal::{KeySource, Refusal};
pub use registry::{MAX_BUNDLE_BYTES, MAX_INDEX_BYTES};

use app::Spec;
use registry::Registry;
use state::TrustState;

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
    /// The time (unix seconds) the catalog's expiry is judged against; `None` is the system
    /// clock.
    pub now: Option<i64>,
    /// How long to wait for a connection, an answer or the next bytes; `None` is the default
    /// bounds (an answer within 30 s).
    pub timeout: Option<std::time::Duration>,
    /// Replace a different file already at the bundle's place in `output`.
    pub force: bool,
}

/// A bundle that passed every check and was written.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    pub package: String,
    pub version: String,
    pub signer_id: String,
    pub bundle_sha256: String,
    /// Things the user should know that did not stop the fetch: a key or signer pinned on
    /// first use, a re-pinned registry key, a yanked version fetched by name, an unsigned index.
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A check failed: the registry or the bundle is not to be trusted.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The fetch could not be done (network, disk, arguments).
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

// Not `#[from]`: that would also make the inner error the `source`, and a chain printed whole
// would then say it twice.
impl From<Refusal> for FetchError {
    fn from(refusal: Refusal) -> Self {
        FetchError::Refused(refusal)
    }
}

impl From<anyhow::Error> for FetchError {
    fn from(e: anyhow::Error) -> Self {
        FetchError::Failed(e)
    }
}

type Step<T> = Result<T, FetchError>;

/// Runs every check and, when all pass, writes the bundle to
/// `<output>/<package>-<version>.mpk` and updates the trust state.
pub fn fetch(options: &FetchOptions) -> Result<Fetched, FetchError> {
    let spec = Spec::parse(&options.spec)?;
    let trust = catalog::trusted_key(options.trust.as_deref())?;
    let now = options.now.unwrap_or_else(system_now);
    let registry = Registry::open(&options.registry, options.timeout)?;
    let state = TrustState::load(options.state.as_deref())?;
    let mut pins = state.pins(&registry.key);
    let mut notes = Vec::new();

    let document = catalog::load(&registry)?;
    catalog::check_is_catalog(&document, &registry)?;
    let signer =
        catalog::check_signature(&document.object, trust, options.insecure, &pins, &mut notes)?;
    // Only now is anything the catalog says read, starting with its shape.
    let catalog = catalog::read(&document)?;
    let version = catalog::check_freshness(&catalog, signer.is_some(), &pins, now)?;
    let app_index = app::load_index(&registry, &catalog, version, &spec.package)?;
    let release = app::choose_release(app_index, &spec, options.prerelease, &mut notes)?;
    let download = download::download(
        &registry,
        &spec.package,
        &release,
        &options.output,
        signer.is_some(),
        options.force,
    )?;
    let bundle = verify::verify(&download, &spec.package, &release, &pins, &mut notes)?;

    pins.record(signer.as_deref(), version, &bundle, now);
    let path = commit::commit(download, state, pins)?;
    Ok(Fetched {
        path,
        package: bundle.package,
        version: bundle.app_version,
        signer_id: bundle.signer_id,
        bundle_sha256: bundle.bundle_sha256,
        notes,
    })
}

fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Fetched {
    /// What was fetched and where it is, and how to install it.
    pub fn to_text(&self) -> String {
        let path = self.path.display();
        format!(
            "fetched {} {} (signed by {}, sha256 {})\nwrote {path}\ninstall it on a node with:\n  meroctl app install --path {path}\n",
            self.package, self.version, self.signer_id, self.bundle_sha256
        )
    }
}
