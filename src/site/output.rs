//! Writing the site without ever leaving a half-written or missing one.
//!
//! Everything goes into a fresh folder beside the output; only a complete build replaces the
//! output, by swapping the two folders in one step where the OS allows it.
//!
//! A staging folder never outlives its build: an interrupted build ([`interrupt`]) stops at its
//! next file and removes it, and one a killed build left behind is removed by the next build
//! writing beside it ([`remove_abandoned`]), told apart from those of running builds by a lock.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use anyhow::{bail, Context, Result};

/// Marks a folder as a site this tool wrote, so a build never replaces anything else.
const MARKER: &str = ".mpk-registry";
const MARKER_TEXT: &str =
    "Written by `mpk-registry build`, which replaces the whole folder whenever the site changes.\n";
/// Starts the marker's line naming the fingerprint of the inputs the site was built from.
const INPUTS: &str = "inputs: ";
/// Starts each marker line naming an app and the fingerprint of what its files were made from.
const APP: &str = "app: ";

/// Starts the name of every staging folder, and of its lock file.
const STAGING_PREFIX: &str = ".mpk-registry-build-";
/// Ends the name of a staging folder's lock file, which sits beside it: inside, it would be
/// published with the site.
const LOCK_SUFFIX: &str = ".lock";
/// Test hook: when set to the path of a FIFO, a build writes its staging folder's path there
/// once the folder exists, then waits until [`interrupt`] is called, so a test can signal a
/// build at a known point of staging without relying on timing.
pub const PAUSE_STAGING_ENV: &str = "MPK_REGISTRY_TEST_PAUSE_STAGING";

/// Set once [`interrupt`] is called; checked before every file a staging folder receives.
static STOP: AtomicBool = AtomicBool::new(false);
/// How many staging folders this process has in progress. [`interrupt`] reads it under the same
/// lock a build takes to create one, so a build either counts here or never starts staging.
static IN_PROGRESS: Mutex<usize> = Mutex::new(0);
/// Wakes a build paused by [`PAUSE_STAGING_ENV`] when [`interrupt`] is called.
static STOPPED: Condvar = Condvar::new();

/// The error of a build stopped by [`interrupt`]; its staging folder is removed by then.
#[derive(Debug, thiserror::Error)]
#[error("the build was interrupted; its staging folder was removed")]
pub struct Interrupted;

/// Tells every build of this process to stop (for a SIGINT or SIGTERM handler, which the
/// program installs: a library should not take signals over). A build that is staging stops at
/// its next file, removes its staging folder and returns [`Interrupted`]; one that has not
/// started staging never will. Returns whether a staging folder was in progress: when not,
/// nothing needs cleaning up and the caller may exit at once; when so, it should let the build
/// return, so its folder is removed. Cannot be undone.
pub fn interrupt() -> bool {
    let in_progress = in_progress();
    STOP.store(true, Ordering::SeqCst);
    STOPPED.notify_all();
    *in_progress > 0
}

fn in_progress() -> MutexGuard<'static, usize> {
    IN_PROGRESS.lock().unwrap_or_else(PoisonError::into_inner)
}

fn stop_requested() -> Result<()> {
    match STOP.load(Ordering::SeqCst) {
        true => Err(Interrupted.into()),
        false => Ok(()),
    }
}

/// What a site records about what it was built from (in its marker file).
#[derive(Debug, Default)]
pub struct BuiltFrom {
    /// The fingerprint of all the build's inputs.
    pub inputs: Option<String>,
    /// Per package, the fingerprint of what its files were made from.
    pub apps: BTreeMap<String, String>,
}

impl BuiltFrom {
    /// What the site at `out` says it was built from (nothing, when it does not say).
    pub fn read(out: &Path) -> BuiltFrom {
        let mut built = BuiltFrom::default();
        let marker = fs::read_to_string(out.join(MARKER)).unwrap_or_default();
        for line in marker.lines() {
            if let Some(fp) = line.strip_prefix(INPUTS) {
                built.inputs = Some(fp.to_owned());
            } else if let Some((package, fp)) =
                line.strip_prefix(APP).and_then(|l| l.split_once(' '))
            {
                built.apps.insert(package.to_owned(), fp.to_owned());
            }
        }
        built
    }

    fn marker(&self) -> String {
        let mut text = MARKER_TEXT.to_owned();
        if let Some(fp) = &self.inputs {
            text.push_str(&format!("{INPUTS}{fp}\n"));
        }
        for (package, fp) in &self.apps {
            text.push_str(&format!("{APP}{package} {fp}\n"));
        }
        text
    }
}

/// A site being written.
pub struct Staging {
    folder: Folder,
    out: PathBuf,
    /// Folders already created, so each is made once rather than once per file.
    made: Mutex<HashSet<PathBuf>>,
}

impl Staging {
    /// Prepares a staging folder next to `out`, for a site built from `built`. Refuses when
    /// `out` exists and is neither empty nor a site written by this tool.
    pub fn new(out: &Path, built: &BuiltFrom) -> Result<Staging> {
        if out.exists() {
            let is_ours = out.join(MARKER).is_file();
            let is_empty = out.is_dir()
                && fs::read_dir(out)
                    .with_context(|| format!("cannot read {}", out.display()))?
                    .next()
                    .is_none();
            if !is_ours && !is_empty {
                bail!(
                    "{} exists and was not written by mpk-registry; refusing to replace it (choose another -o, or empty it)",
                    out.display()
                );
            }
        }
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let folder = Folder::create(parent)
            .with_context(|| format!("cannot create a build folder in {}", parent.display()))?;
        let staging = Staging {
            folder,
            out: out.to_path_buf(),
            made: Mutex::new(HashSet::new()),
        };
        staging.write(MARKER, built.marker().as_bytes())?;
        pause_for_tests(&staging.folder.path)?;
        Ok(staging)
    }

    fn target(&self, rel: &str) -> Result<PathBuf> {
        stop_requested()?;
        let path = self.folder.path.join(rel);
        if let Some(parent) = path.parent() {
            if !self.made.lock().expect("folders lock").contains(parent) {
                fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
                self.made
                    .lock()
                    .expect("folders lock")
                    .insert(parent.to_path_buf());
            }
        }
        Ok(path)
    }

    /// Writes a file at `rel` (a `/`-separated path inside the site).
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        let path = self.target(rel)?;
        fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Puts a content-addressed file at `rel` (its name is its SHA-256): the previous site's
    /// copy when there is one (same file system, so nothing is copied again), else a copy of
    /// `source`. Never a link to `source`: the site must not change when the source file is
    /// rewritten, and linking would change the file's inode data, making git re-read it.
    pub fn put_content_addressed(&self, rel: &str, source: &Path) -> Result<()> {
        let path = self.target(rel)?;
        let previous = self.out.join(rel);
        // A site written by an older version may hold links to the source itself; copying
        // ends that.
        if previous.is_file()
            && !same_file(&previous, source)
            && fs::hard_link(&previous, &path).is_ok()
        {
            return Ok(());
        }
        fs::copy(source, &path)
            .map(drop)
            .with_context(|| format!("cannot copy {} to {}", source.display(), path.display()))
    }

    /// Links the previous site's file at `rel` into the new one, for an app whose files are
    /// made from the same inputs. (Staged files are never written to after this: a link shares
    /// its bytes with the live site.)
    pub fn link_previous(&self, rel: &str) -> Result<()> {
        let previous = self.out.join(rel);
        let path = self.target(rel)?;
        fs::hard_link(&previous, &path)
            .with_context(|| format!("cannot link {} to {}", previous.display(), path.display()))
    }

    /// The bytes of a staged file.
    pub fn read(&self, rel: &str) -> Result<Vec<u8>> {
        let path = self.folder.path.join(rel);
        fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
    }

    /// Removes a staged file.
    pub fn remove(&self, rel: &str) -> Result<()> {
        let path = self.folder.path.join(rel);
        fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))
    }

    /// Puts the bytes of the already staged `staged` at `rel` too: a hardlink where the file
    /// system allows, else a copy.
    pub fn link_staged(&self, rel: &str, staged: &str) -> Result<()> {
        let source = self.folder.path.join(staged);
        let path = self.target(rel)?;
        if fs::hard_link(&source, &path).is_err() {
            fs::copy(&source, &path).with_context(|| {
                format!("cannot copy {} to {}", source.display(), path.display())
            })?;
        }
        Ok(())
    }

    /// Replaces the output with the finished site. Whatever is left at the staging folder's
    /// path afterwards (the new site if the swap failed, what remains of the previous one if
    /// removing it failed) is removed with the folder.
    pub fn commit(self) -> Result<()> {
        swap(&self.folder.path, &self.out)
            .with_context(|| format!("cannot put the new site at {}", self.out.display()))
    }
}

/// Whether two paths name the same file (one inode under two names).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        matches!((fs::metadata(a), fs::metadata(b)),
            (Ok(a), Ok(b)) if (a.dev(), a.ino()) == (b.dev(), b.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

/// Moves `new` to `out`. Afterwards `new` holds the previous site, which is removed.
fn swap(new: &Path, out: &Path) -> io::Result<()> {
    if !out.exists() {
        return fs::rename(new, out);
    }
    exchange(new, out)?;
    remove_tree(new)
}

/// Removes a previous site, its top-level folders in parallel (a large site has tens of
/// thousands of files).
fn remove_tree(dir: &Path) -> io::Result<()> {
    use rayon::prelude::*;
    let children: Vec<PathBuf> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    children.par_iter().try_for_each(|child| {
        if child.is_dir() {
            fs::remove_dir_all(child)
        } else {
            fs::remove_file(child)
        }
    })?;
    fs::remove_dir(dir)
}

/// Swaps two paths in one step (Linux `renameat2(RENAME_EXCHANGE)`), so there is no moment
/// without a site.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Elsewhere: two renames, keeping the old site until the new one is in place.
#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    let parked = a.with_extension("previous");
    fs::rename(b, &parked)?;
    if let Err(e) = fs::rename(a, b) {
        fs::rename(&parked, b)?;
        return Err(e);
    }
    fs::rename(&parked, a)
}

/// A staging folder and the lock that marks it as in use, held from before the folder exists
/// until after it is removed. Dropping it removes both.
///
/// Whether a staging folder is abandoned is asked of the kernel: each has a lock file beside it
/// that its build holds an exclusive `flock` on, which the kernel releases when the build's
/// process ends however it ends (SIGKILL and a crash included). A pid with a start time would
/// be read from `/proc`, means nothing to another pid namespace sharing the folder (containers,
/// CI runners) and needs care against pid reuse; `flock` locks belong to one open file, so even
/// two builds in one process keep off each other's folders (`fcntl` locks would not). std's
/// `File::lock` is newer than this crate's minimum Rust, hence `libc::flock`.
struct Folder {
    path: PathBuf,
    lock_path: PathBuf,
    /// Holds the lock until dropped, after the folder and the lock file are gone.
    _lock: fs::File,
}

impl Folder {
    /// Creates a staging folder in `parent`, unless the process was told to stop: under the
    /// lock [`interrupt`] takes, so either the folder is counted in progress before a signal is
    /// handled or it is never made.
    fn create(parent: &Path) -> Result<Folder> {
        let mut in_progress = in_progress();
        stop_requested()?;
        // The lock first, so the folder is never seen without it.
        let (lock, lock_path) = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .suffix(LOCK_SUFFIX)
            .tempfile_in(parent)?
            .keep()?;
        let path = lock_path.with_file_name(
            lock_path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(LOCK_SUFFIX))
                .expect("the lock file's name is ours"),
        );
        if let Err(e) = lock_exclusive(&lock).and_then(|()| fs::create_dir(&path)) {
            let _ = fs::remove_file(&lock_path);
            return Err(e.into());
        }
        *in_progress += 1;
        Ok(Folder {
            path,
            lock_path,
            _lock: lock,
        })
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        if remove_tree(&self.path).is_ok() || !self.path.exists() {
            let _ = fs::remove_file(&self.lock_path);
        }
        *in_progress() -= 1;
    }
}

/// Test hook (see [`PAUSE_STAGING_ENV`]): announces `dir` on the FIFO, then waits for
/// [`interrupt`].
fn pause_for_tests(dir: &Path) -> Result<()> {
    let Some(fifo) = std::env::var_os(PAUSE_STAGING_ENV) else {
        return Ok(());
    };
    fs::write(&fifo, format!("{}\n", dir.display()))
        .with_context(|| format!("cannot write to {}", Path::new(&fifo).display()))?;
    let in_progress = in_progress();
    drop(
        STOPPED
            .wait_while(in_progress, |_| !STOP.load(Ordering::SeqCst))
            .unwrap_or_else(PoisonError::into_inner),
    );
    Ok(())
}

/// Removes the staging folders beside `out` that no running build holds: those of builds that
/// were killed (a signal that can be handled lets a build remove its own). A folder without its
/// lock file is left alone: an older mpk-registry, which made none, may be writing it. Best
/// effort: what cannot be removed now is tried again by the next build.
pub fn remove_abandoned(out: &Path) {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(STAGING_PREFIX)
            || name.ends_with(LOCK_SUFFIX)
            || !entry.file_type().is_ok_and(|t| t.is_dir())
        {
            continue;
        }
        let lock_path = parent.join(format!("{name}{LOCK_SUFFIX}"));
        let Ok(lock) = fs::File::open(&lock_path) else {
            continue;
        };
        if try_lock(&lock).unwrap_or(false) && remove_tree(&entry.path()).is_ok() {
            let _ = fs::remove_file(&lock_path);
        }
    }
}

/// Takes an exclusive `flock` on a new lock file (nobody else tries one before its folder
/// exists, so this does not wait).
#[cfg(unix)]
fn lock_exclusive(file: &fs::File) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: the descriptor is open for the duration of the call.
    match unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Takes an exclusive `flock` on `file` without waiting: `false` when another open file holds
/// one.
#[cfg(unix)]
fn try_lock(file: &fs::File) -> io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: the descriptor is open for the duration of the call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        true => Ok(false),
        false => Err(e),
    }
}

/// Elsewhere than Unix no lock is taken, and no staging folder is taken for abandoned.
#[cfg(not(unix))]
fn lock_exclusive(_file: &fs::File) -> io::Result<()> {
    Ok(())
}

#[cfg(not(unix))]
fn try_lock(_file: &fs::File) -> io::Result<bool> {
    Ok(false)
}
