//! Writing the site without ever leaving a half-written or missing one.
//!
//! Everything goes into a fresh folder beside the output; only a complete build replaces the
//! output, by swapping the two folders in one step where the OS allows it.

use std::collections::{BTreeMap, HashSet};
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
/// Starts each marker line naming an app and the fingerprint of what its files were made from.
const APP: &str = "app: ";

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
    dir: tempfile::TempDir,
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
        let dir = tempfile::Builder::new()
            .prefix(".mpk-registry-build-")
            .tempdir_in(parent)
            .with_context(|| format!("cannot create a build folder in {}", parent.display()))?;
        let staging = Staging {
            dir,
            out: out.to_path_buf(),
            made: Mutex::new(HashSet::new()),
        };
        staging.write(MARKER, built.marker().as_bytes())?;
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
        let path = self.dir.path().join(rel);
        fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
    }

    /// Removes a staged file.
    pub fn remove(&self, rel: &str) -> Result<()> {
        let path = self.dir.path().join(rel);
        fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))
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
