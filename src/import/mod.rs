//! `import`: every bundle of a registry that speaks the read API (the hosted registry, or a
//! site this tool built) brought into a registry folder, each one verified as `verify` verifies
//! it before it is written.
//!
//! [`import`] runs these steps, each a function named after it:
//!
//! 1. [`open_source`]: the server, with the HTTP client and bounds `fetch` uses, following
//!    redirects to the same host (and, when asked, to any);
//! 2. [`Workspace::prepare`]: lock the output folder against a second import, and empty the
//!    staging folder beside it (an interrupted run's partial downloads);
//! 3. [`listing::packages`], then [`listing::versions`] of each package;
//! 4. [`transfer::bring_in`] every version, `jobs` at a time: already there, or downloaded to
//!    staging, verified, and moved into place without ever replacing a file;
//! 5. [`package_toml::write_if_absent`] for each package.
//!
//! Nothing is written under the output folder but verified bundles and new `package.toml`
//! files, each by one rename. `report` renders the result.

mod listing;
mod package_toml;
mod report;
mod transfer;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rayon::prelude::*;

use crate::fetch::registry::{Http, Redirects, Registry};
use crate::report::Problem;
use crate::site::Progress;
use crate::verify::Verified;

pub use listing::{Listed, Listing};
pub use package_toml::PackageToml;

/// What to import, from where, into where.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The server: `https://…` or `http://…`.
    pub from: String,
    /// Only these packages; empty imports every package the server lists.
    pub packages: Vec<String>,
    /// The registry folder to write into (`registry-src`).
    pub out: PathBuf,
    /// Downloads at a time.
    pub jobs: usize,
    /// How long a request may wait for a connection, an answer or the next bytes.
    pub timeout: Duration,
    /// Follow redirects to any host too (those to the same host are always followed).
    pub follow_redirects: bool,
    /// Stop at the first refused or failed bundle.
    pub fail_fast: bool,
}

/// What an import did, package by package.
#[derive(Debug, Clone)]
pub struct Import {
    /// The server, as normalized (`https://host/path/`).
    pub source: String,
    pub out: PathBuf,
    /// Sorted by package.
    pub packages: Vec<PackageImport>,
    /// Bundles downloaded (a bundle already in the folder is not).
    pub downloads: u64,
    /// `fail_fast` stopped the run: versions after the failure were not attempted.
    pub stopped: bool,
}

/// One package: how its versions were listed, and what became of each.
#[derive(Debug, Clone)]
pub struct PackageImport {
    pub package: String,
    /// `None` when the versions could not be listed (see `error`).
    pub listing: Option<Listing>,
    /// Why the versions could not be listed.
    pub error: Option<String>,
    /// Oldest first.
    pub versions: Vec<VersionImport>,
    pub package_toml: PackageToml,
    /// Its `package.toml` names no owner and no org: `check` refuses every change to it that a
    /// registry maintainer does not make.
    pub needs_owners: bool,
}

/// One version, and what became of it.
#[derive(Debug, Clone)]
pub struct VersionImport {
    pub version: String,
    /// The server lists it as yanked.
    pub yanked: bool,
    /// Where it is (or would be) in the registry folder.
    pub file: PathBuf,
    pub outcome: VersionOutcome,
    /// Top-level fields the server lists with other values than the signed manifest in the
    /// folder has (metadata edited on the server's side, say); the signed one is kept.
    pub listing_differs: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum VersionOutcome {
    /// Downloaded, verified and written.
    Imported(Box<Verified>),
    /// The folder already holds it: a file that verifies as the version listed (nothing
    /// downloaded), or one with exactly the downloaded bytes.
    Present {
        bundle: Box<Verified>,
        downloaded: bool,
    },
    /// Not written: it does not verify, is not the version it is served as, or a different
    /// file is already in its place.
    Refused(Vec<Problem>),
    /// Could not be brought in (network, disk); nothing was written.
    Failed(String),
}

impl Import {
    /// A bundle or a package could not be brought in (the tool could not do its job).
    pub fn failed(&self) -> bool {
        self.packages.iter().any(|p| {
            p.error.is_some()
                || p.versions
                    .iter()
                    .any(|v| matches!(v.outcome, VersionOutcome::Failed(_)))
        })
    }

    /// A bundle was refused.
    pub fn refused(&self) -> bool {
        self.versions()
            .any(|(_, v)| matches!(v.outcome, VersionOutcome::Refused(_)))
    }

    /// Every version with its package.
    pub fn versions(&self) -> impl Iterator<Item = (&PackageImport, &VersionImport)> {
        self.packages
            .iter()
            .flat_map(|p| p.versions.iter().map(move |v| (p, v)))
    }
}

/// Imports from `options.from` into `options.out`. An error is returned only when nothing
/// could be done (the server does not answer its list, the folder cannot be written); what
/// happened to each package and version is in the [`Import`].
pub fn import(options: &ImportOptions, progress: &dyn Progress) -> Result<Import> {
    let registry = open_source(&options.from, options.timeout, options.follow_redirects)?;
    let workspace = Workspace::prepare(&options.out)?;
    let (listings, stopped) = list_everything(&registry, options)?;
    let transfer = transfer::Transfer {
        registry: &registry,
        out: &options.out,
        staging: &workspace.staging,
        downloads: AtomicU64::new(0),
    };
    let (outcomes, stopped) =
        bring_in_everything(&transfer, &listings, options, stopped, progress)?;
    let downloads = transfer.downloads.load(Ordering::SeqCst);
    let packages = assemble(&registry, options, listings, outcomes)?;
    Ok(Import {
        source: registry.key.clone(),
        out: options.out.clone(),
        packages,
        downloads,
        stopped,
    })
}

/// A package and its versions as listed, or why they could not be.
type Listings = Vec<(String, Result<(Listing, Vec<Listed>), String>)>;

/// Step 3: the packages and their versions; with `fail_fast`, up to the first package that
/// cannot be listed (then `true`: stopped).
fn list_everything(registry: &Registry, options: &ImportOptions) -> Result<(Listings, bool)> {
    let (list, names) = listing::packages(registry, &options.packages)?;
    let mut listings = Vec::new();
    for package in names {
        let listed = listing::versions(registry, &list, &package);
        let failed = listed.is_err();
        listings.push((package, listed));
        if failed && options.fail_fast {
            return Ok((listings, true));
        }
    }
    Ok((listings, false))
}

/// Step 4 for every listed version, `jobs` at a time, in listing order; `None` for a version
/// not attempted because `fail_fast` stopped the run (then also `true`).
fn bring_in_everything(
    transfer: &transfer::Transfer,
    listings: &Listings,
    options: &ImportOptions,
    stopped: bool,
    progress: &dyn Progress,
) -> Result<(Vec<Option<VersionOutcome>>, bool)> {
    let tasks: Vec<(&str, &Listed)> = listings
        .iter()
        .filter_map(|(p, listed)| listed.as_ref().ok().map(|(_, l)| (p.as_str(), l)))
        .flat_map(|(p, listed)| listed.iter().map(move |l| (p, l)))
        .collect();
    let stop = AtomicBool::new(stopped);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs.max(1))
        .build()
        .context("cannot start the download threads")?;
    progress.begin(tasks.len() as u64);
    let outcomes = pool.install(|| {
        tasks
            .par_iter()
            .map(|(package, listed)| {
                if stop.load(Ordering::SeqCst) {
                    return None;
                }
                let outcome = transfer.bring_in(package, listed);
                let bad = matches!(
                    outcome,
                    VersionOutcome::Refused(_) | VersionOutcome::Failed(_)
                );
                if bad && options.fail_fast {
                    stop.store(true, Ordering::SeqCst);
                }
                progress.advance();
                Some(outcome)
            })
            .collect()
    });
    progress.end();
    Ok((outcomes, stop.load(Ordering::SeqCst)))
}

/// Step 5, and the result: each package with what became of its versions, `package.toml`
/// written where there is none.
fn assemble(
    registry: &Registry,
    options: &ImportOptions,
    listings: Listings,
    outcomes: Vec<Option<VersionOutcome>>,
) -> Result<Vec<PackageImport>> {
    let mut outcomes = outcomes.into_iter();
    let mut packages = Vec::new();
    for (package, listed) in listings {
        let (listing, error, listed) = match listed {
            Ok((listing, listed)) => (Some(listing), None, listed),
            Err(error) => (None, Some(error), Vec::new()),
        };
        let versions: Vec<VersionImport> = listed
            .iter()
            .zip(outcomes.by_ref())
            .filter_map(|(l, outcome)| {
                let outcome = outcome?;
                Some(VersionImport {
                    version: l.version.clone(),
                    yanked: l.yanked,
                    file: transfer::destination(&options.out, &package, &l.version),
                    listing_differs: listing_differences(l, &outcome),
                    outcome,
                })
            })
            .collect();
        let dir = options.out.join(&package);
        let package_toml = package_toml::write_if_absent(&dir, &registry.key, &versions, &listed)?;
        let needs_owners = package_toml::needs_owners(&dir);
        packages.push(PackageImport {
            package,
            listing,
            error,
            versions,
            package_toml,
            needs_owners,
        });
    }
    Ok(packages)
}

/// The fields `listed` gives other values than the signed manifest of the bundle in the
/// folder (none when there is no bundle there).
fn listing_differences(listed: &Listed, outcome: &VersionOutcome) -> Vec<String> {
    let bundle = match outcome {
        VersionOutcome::Imported(bundle) | VersionOutcome::Present { bundle, .. } => bundle,
        VersionOutcome::Refused(_) | VersionOutcome::Failed(_) => return Vec::new(),
    };
    serde_json::from_slice(&bundle.manifest_bytes)
        .map(|signed| listed.differences(&signed))
        .unwrap_or_default()
}

/// Step 1: the server, through `fetch`'s client (size caps on every answer, timeouts), with
/// this command's timeout and redirect policy. Only a server: a folder answers no queries.
fn open_source(from: &str, timeout: Duration, follow_redirects: bool) -> Result<Registry> {
    let is_http = from.split_once("://").is_some_and(|(scheme, _)| {
        matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https")
    });
    if !is_http {
        bail!(
            "--from {from}: the address of a server speaking the read API (https:// or http://); to import a site built in a folder, serve it with `mpk-registry serve DIR` and import from its address"
        );
    }
    let http = Http {
        timeout: Some(timeout),
        redirects: if follow_redirects {
            Redirects::Any
        } else {
            Redirects::SameOrigin
        },
        redirect_advice: "import follows redirects to another host only with --follow-redirects (every bundle is verified wherever it comes from): pass it, or point --from at the address that serves the files",
        timeout_option: "--timeout",
    };
    Registry::open_with(from, &http).map_err(|e| anyhow!("{e}"))
}

/// The output folder, locked for this run, and the staging folder beside it where downloads
/// stay until verified. The staging folder is outside the registry folder, so a run killed
/// mid-download leaves nothing there that `build` or git would take for a file of the registry;
/// the next run empties it.
struct Workspace {
    /// Holds an exclusive `flock` on the output folder while the run lasts.
    _lock: File,
    staging: PathBuf,
}

impl Workspace {
    /// Step 2.
    fn prepare(out: &Path) -> Result<Workspace> {
        fs::create_dir_all(out)
            .with_context(|| format!("cannot create the output folder {}", out.display()))?;
        let lock = File::open(out).with_context(|| format!("cannot open {}", out.display()))?;
        if !try_lock(&lock).with_context(|| format!("cannot lock {}", out.display()))? {
            bail!(
                "another import into {} is running; wait for it to finish",
                out.display()
            );
        }
        let real =
            fs::canonicalize(out).with_context(|| format!("cannot resolve {}", out.display()))?;
        let (Some(parent), Some(name)) = (real.parent(), real.file_name()) else {
            bail!(
                "{}: import into a folder, not the file system's root",
                out.display()
            );
        };
        let staging = parent.join(format!(".mpk-import-{}", name.to_string_lossy()));
        match fs::remove_dir_all(&staging) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(anyhow!(e).context(format!(
                    "cannot remove the staging folder {} left by an interrupted import",
                    staging.display()
                )))
            }
        }
        fs::create_dir(&staging)
            .with_context(|| format!("cannot create the staging folder {}", staging.display()))?;
        Ok(Workspace {
            _lock: lock,
            staging,
        })
    }
}

impl Drop for Workspace {
    /// Removes the staging folder however the run ends; what a killed run leaves, the next
    /// one removes.
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.staging);
    }
}

/// An exclusive `flock` on `file` without waiting: `false` when another open file holds one.
/// The kernel drops it however the process ends, so a killed import never blocks the next.
#[cfg(unix)]
fn try_lock(file: &File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this function borrows; no memory is involved.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        _ => Err(error),
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}
