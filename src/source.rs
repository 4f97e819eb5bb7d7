//! Discovering `registry-src/`: bundles, per-package settings, organisations.
//!
//! Inside a git work tree only tracked files count (a stray untracked bundle is not published);
//! outside git every file counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::config::{self, OrgConfig, PackageConfig, RegistryConfig};
use crate::git::WorkTree;

/// One bundle file found in the source folder.
#[derive(Debug, Clone)]
pub struct BundleFile {
    /// Path relative to the source folder, with `/` separators (`pkg/pkg-1.0.0.mpk`).
    pub rel: String,
    pub path: PathBuf,
    /// The folder it sits in (`pkg`), which must be its manifest's package.
    pub dir: String,
    /// Unix time of the commit that added it, when git knows.
    pub added: Option<i64>,
}

/// What the file system reports about a file. Any write to a file changes it (the inode's
/// change time at least, which no one can set back), so the same state before and after a read
/// means the bytes read are the bytes there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub len: u64,
    /// Last change of the data, then of the inode, in nanoseconds since the epoch.
    pub modified: i128,
    pub changed: i128,
    pub inode: u64,
}

impl FileState {
    pub fn of(path: &Path) -> std::io::Result<FileState> {
        let meta = std::fs::metadata(path)?;
        let nanos = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i128)
        };
        let modified = meta.modified().map_or(0, nanos);
        #[cfg(unix)]
        let (changed, inode) = {
            use std::os::unix::fs::MetadataExt;
            (
                i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
                meta.ino(),
            )
        };
        #[cfg(not(unix))]
        let (changed, inode) = (modified, 0);
        Ok(FileState {
            len: meta.len(),
            modified,
            changed,
            inode,
        })
    }
}

/// The version in a bundle's path `<package>/<package>-<version>.mpk`, if it has that shape.
/// The file-name rule ties it to the manifest, so it can stand in for the manifest's version.
pub fn version_in_path<'a>(package: &str, rel: &'a str) -> Option<&'a str> {
    rel.strip_prefix(package)?
        .strip_prefix('/')?
        .strip_prefix(package)?
        .strip_prefix('-')?
        .strip_suffix(".mpk")
}

/// Everything `build` and `check` read from the source folder.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub root: PathBuf,
    pub registry: RegistryConfig,
    pub packages: BTreeMap<String, PackageConfig>,
    pub orgs: BTreeMap<String, OrgConfig>,
    pub bundles: Vec<BundleFile>,
    /// `.mpk` files not at `<package>/<file>.mpk`; they are refused, never ignored.
    pub misplaced: Vec<String>,
    /// Settings files that could not be read, with why: refused like a bad bundle.
    pub invalid_settings: Vec<(String, String)>,
    /// Bundles in the work tree that git does not track: not published, but worth a note.
    pub untracked: Vec<String>,
    /// Whether the listing came from git.
    pub from_git: bool,
}

/// Lists the source folder and reads its settings files.
pub fn discover(root: &Path) -> Result<Source> {
    if !root.is_dir() {
        bail!(
            "{} is not a folder; give the registry source folder (default registry-src)",
            root.display()
        );
    }
    let git = WorkTree::discover(root);
    let (files, added) = match &git {
        Some(tree) => (tree.tracked_paths()?, tree.added_times()?),
        None => (walk(root)?, BTreeMap::new()),
    };
    let mut source = Source {
        root: root.to_path_buf(),
        from_git: git.is_some(),
        untracked: match &git {
            Some(tree) => tree.untracked_bundles()?,
            None => Vec::new(),
        },
        ..Default::default()
    };
    for rel in files {
        let path = root.join(&rel);
        let parts: Vec<&str> = rel.split('/').collect();
        match parts.as_slice() {
            ["registry.toml"] => {
                if let Some(registry) = source.settings(&rel, &path) {
                    source.registry = registry;
                }
            }
            ["orgs", file] if file.ends_with(".toml") => {
                if let Some(org) = source.settings(&rel, &path) {
                    source
                        .orgs
                        .insert(file.trim_end_matches(".toml").to_owned(), org);
                }
            }
            [package, "package.toml"] => {
                if let Some(config) = source.settings(&rel, &path) {
                    source.packages.insert((*package).to_owned(), config);
                }
            }
            [dir, file] if file.ends_with(".mpk") => {
                if !path.is_file() {
                    bail!(
                        "{} is tracked by git but missing from the work tree; restore it (published bundles are never deleted)",
                        path.display()
                    );
                }
                source.bundles.push(BundleFile {
                    added: added.get(&rel).copied(),
                    dir: (*dir).to_owned(),
                    rel,
                    path,
                });
            }
            _ if rel.ends_with(".mpk") => source.misplaced.push(rel),
            _ => {}
        }
    }
    source.bundles.sort_by(|a, b| a.rel.cmp(&b.rel));
    source.misplaced.sort();
    Ok(source)
}

impl Source {
    /// Reads a settings file; one that cannot be read is recorded, to be refused with the
    /// bundles rather than stopping the run.
    fn settings<T: serde::de::DeserializeOwned>(&mut self, rel: &str, path: &Path) -> Option<T> {
        config::load(path)
            .map_err(|e| {
                self.invalid_settings
                    .push((rel.to_owned(), format!("{e:#}")))
            })
            .ok()
    }
}

/// Every file below `root`, relative and `/`-separated, when there is no git.
fn walk(root: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot list {}", root.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .expect("walkdir yields paths below its root");
        let rel: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        files.push(rel.join("/"));
    }
    Ok(files)
}
