//! Writing the site without ever leaving a half-written or missing one.
//!
//! Everything goes into a fresh folder beside the output; only a complete build replaces the
//! output, by swapping the two folders in one step where the OS allows it.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

/// Marks a folder as a site this tool wrote, so a build never replaces anything else.
const MARKER: &str = ".mpk-registry";
const MARKER_TEXT: &str =
    "Written by `mpk-registry build`, which replaces the whole folder whenever the site changes.\n";
/// Starts the marker's line naming the fingerprint of the inputs the site was built from.
const INPUTS: &str = "inputs: ";

/// The fingerprint of the inputs the site at `out` was built from, if it says.
pub fn built_from(out: &Path) -> Option<String> {
    let marker = fs::read_to_string(out.join(MARKER)).ok()?;
    marker
        .lines()
        .find_map(|line| line.strip_prefix(INPUTS))
        .map(str::to_owned)
}

/// A site being written.
pub struct Staging {
    dir: tempfile::TempDir,
    out: PathBuf,
    /// Folders already created, so each is made once rather than once per file.
    made: Mutex<HashSet<PathBuf>>,
}

impl Staging {
    /// Prepares a staging folder next to `out`, for a site built from inputs with this
    /// fingerprint. Refuses when `out` exists and is neither empty nor a site written by
    /// this tool.
    pub fn new(out: &Path, fingerprint: Option<&str>) -> Result<Staging> {
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
        let dir = tempfile::Builder::new()
            .prefix(".mpk-registry-build-")
            .tempdir_in(parent)
            .with_context(|| format!("cannot create a build folder in {}", parent.display()))?;
        let staging = Staging {
            dir,
            out: out.to_path_buf(),
            made: Mutex::new(HashSet::new()),
        };
        let marker = match fingerprint {
            Some(fp) => format!("{MARKER_TEXT}{INPUTS}{fp}\n"),
            None => MARKER_TEXT.to_owned(),
        };
        staging.write(MARKER, marker.as_bytes())?;
        Ok(staging)
    }

    fn target(&self, rel: &str) -> Result<PathBuf> {
        let path = self.dir.path().join(rel);
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

    /// Puts the bytes of the already staged `staged` at `rel` too: a hardlink where the file
    /// system allows, else a copy.
    pub fn link_staged(&self, rel: &str, staged: &str) -> Result<()> {
        let source = self.dir.path().join(staged);
        let path = self.target(rel)?;
        if fs::hard_link(&source, &path).is_err() {
            fs::copy(&source, &path).with_context(|| {
                format!("cannot copy {} to {}", source.display(), path.display())
            })?;
        }
        Ok(())
    }

    /// Replaces the output with the finished site.
    pub fn commit(self) -> Result<()> {
        let staged = self.dir.keep();
        let result = swap(&staged, &self.out);
        if result.is_err() {
            let _ = fs::remove_dir_all(&staged);
        }
        result.with_context(|| format!("cannot put the new site at {}", self.out.display()))
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
