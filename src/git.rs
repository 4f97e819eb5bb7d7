//! What git knows about `registry-src/`: which files are tracked, their blob ids, and when each
//! was added. Runs the `git` command: it is on every CI machine and is the reference reader.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};

/// A directory inside a git work tree.
#[derive(Debug, Clone)]
pub struct WorkTree {
    dir: PathBuf,
}

/// How a repository names its objects (`git rev-parse --show-object-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectFormat {
    Sha1,
    Sha256,
}

/// A tracked file, relative to the directory asked about.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub path: String,
    /// The blob id in the index; `None` when the work-tree file differs from it.
    pub blob: Option<String>,
}

impl WorkTree {
    /// `Some` when `dir` is inside a git work tree (and git runs).
    pub fn discover(dir: &Path) -> Option<WorkTree> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "--is-inside-work-tree"])
            .output()
            .ok()?;
        (out.status.success() && out.stdout.starts_with(b"true")).then(|| WorkTree {
            dir: dir.to_path_buf(),
        })
    }

    /// Runs git in the directory, returning stdout; the error names the command.
    pub fn run(&self, args: &[&str]) -> Result<Vec<u8>> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(["-c", "core.quotePath=false"])
            .args(args)
            .output()
            .with_context(|| format!("cannot run git {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(out.stdout)
    }

    /// Every tracked file below the directory. Reads only the index: unlike asking which files
    /// are modified, it never makes git re-hash a freshly checked-out tree.
    pub fn tracked_paths(&self) -> Result<Vec<String>> {
        Ok(split_nul(&self.run(&["ls-files", "-z", "--", "."])?))
    }

    /// Every tracked file below the directory, with its blob id.
    pub fn tracked(&self) -> Result<Vec<Tracked>> {
        let modified = self.modified()?;
        let mut staged = self.staged_blobs()?;
        Ok(self
            .tracked_paths()?
            .into_iter()
            .map(|path| Tracked {
                blob: staged.remove(&path).filter(|_| !modified.contains(&path)),
                path,
            })
            .collect())
    }

    /// The blob id the index holds for each tracked file below the directory. Says nothing
    /// about whether the work-tree file still has those bytes: see [`WorkTree::modified`].
    pub fn staged_blobs(&self) -> Result<BTreeMap<String, String>> {
        let staged = self.run(&["ls-files", "-z", "-s", "--", "."])?;
        Ok(split_nul(&staged)
            .into_iter()
            .filter_map(|record| {
                // "<mode> <blob> <stage>\t<path>"; a conflicted path has stages 1-3 instead
                // of 0 and no single blob.
                let (meta, path) = record.split_once('\t')?;
                let mut meta = meta.split(' ');
                let blob = meta.nth(1)?;
                (meta.next()? == "0").then(|| (path.to_owned(), blob.to_owned()))
            })
            .collect())
    }

    /// Tracked files whose work-tree bytes differ from the index. Git compares stat data and
    /// re-hashes (serially) every file whose stat data changed or is too recent to trust.
    pub fn modified(&self) -> Result<BTreeSet<String>> {
        Ok(split_nul(&self.run(&["ls-files", "-z", "-m", "--", "."])?)
            .into_iter()
            .collect())
    }

    /// The hash that names this repository's objects. A git older than 2.25 echoes the
    /// unknown option back; it only knows SHA-1. (A wrong guess costs only cache hits: a blob
    /// id computed here that differs from git's is never trusted.)
    pub fn object_format(&self) -> Result<ObjectFormat> {
        let out = self.run(&["rev-parse", "--show-object-format"])?;
        Ok(match String::from_utf8_lossy(&out).trim() {
            "sha256" => ObjectFormat::Sha256,
            _ => ObjectFormat::Sha1,
        })
    }

    /// When git last wrote its index. A file changed in or after that second is one git
    /// cannot vouch for from stat data alone, so asking it about the file means re-hashing.
    pub fn index_written(&self) -> Result<SystemTime> {
        let out = self.run(&["rev-parse", "--git-path", "index"])?;
        let index = self.dir.join(String::from_utf8_lossy(&out).trim());
        std::fs::metadata(&index)
            .and_then(|m| m.modified())
            .with_context(|| format!("cannot read {}", index.display()))
    }

    /// `.mpk` files below the directory that git does not track (and does not ignore).
    pub fn untracked_bundles(&self) -> Result<Vec<String>> {
        let out = self.run(&[
            "ls-files",
            "-z",
            "--others",
            "--exclude-standard",
            "--",
            "*.mpk",
        ])?;
        Ok(split_nul(&out))
    }

    /// Commit time (unix seconds) of the commit that first added each file below the
    /// directory, keyed by path relative to it. A shallow clone makes every file look added
    /// by its oldest commit, so CI must fetch the full history.
    pub fn added_times(&self) -> Result<BTreeMap<String, i64>> {
        if self
            .run(&["rev-parse", "--verify", "--quiet", "HEAD"])
            .is_err()
        {
            // No commit yet: nothing was added.
            return Ok(BTreeMap::new());
        }
        let log = self.run(&[
            "log",
            "--diff-filter=A",
            "--no-renames",
            "--relative",
            "--format=%x01%ct",
            "--name-only",
            "--",
            ".",
        ])?;
        let mut added = BTreeMap::new();
        let mut time = None;
        for line in String::from_utf8_lossy(&log).lines() {
            if let Some(t) = line.strip_prefix('\u{1}') {
                time = t.trim().parse().ok();
            } else if let (false, Some(t)) = (line.is_empty(), time) {
                // Newest commits come first: the last one seen is the oldest add.
                added.insert(line.to_owned(), t);
            }
        }
        Ok(added)
    }
}

impl WorkTree {
    /// The commit a revision names; an error that says so when it names none.
    pub fn resolve(&self, rev: &str) -> Result<String> {
        let out = self
            .run(&["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
            .with_context(|| format!("{rev:?} is not a commit in this repository (fetch it, e.g. `git fetch origin {rev}`)"))?;
        Ok(String::from_utf8_lossy(&out).trim().to_owned())
    }

    /// The directory's path from the repository root, `/`-terminated (empty at the root).
    pub fn prefix(&self) -> Result<String> {
        Ok(
            String::from_utf8_lossy(&self.run(&["rev-parse", "--show-prefix"])?)
                .trim()
                .to_owned(),
        )
    }

    /// Every file below the directory at `commit`, relative to the directory, with blob ids.
    pub fn files_at(&self, commit: &str) -> Result<BTreeMap<String, String>> {
        let out = self.run(&["ls-tree", "-r", "-z", commit, "."])?;
        Ok(split_nul(&out)
            .into_iter()
            .filter_map(|record| {
                let (meta, path) = record.split_once('\t')?;
                Some((path.to_owned(), meta.split(' ').nth(2)?.to_owned()))
            })
            .collect())
    }

    /// A file's bytes at `commit` (path relative to the directory).
    pub fn read_at(&self, commit: &str, path: &str) -> Result<Vec<u8>> {
        self.run(&["show", &format!("{commit}:./{path}")])
    }

    /// Number of commits reachable from HEAD and HEAD's commit time (unix seconds): the
    /// deterministic clock of a build.
    pub fn head_clock(&self) -> Result<(u64, i64)> {
        let count = String::from_utf8_lossy(&self.run(&["rev-list", "--count", "HEAD"])?)
            .trim()
            .parse()
            .context("git rev-list --count gave no number")?;
        let time = String::from_utf8_lossy(&self.run(&["log", "-1", "--format=%ct", "HEAD"])?)
            .trim()
            .parse()
            .context("git log gave no commit time")?;
        Ok((count, time))
    }

    /// The blob id the work-tree file would have.
    pub fn hash_object(&self, path: &str) -> Result<String> {
        Ok(
            String::from_utf8_lossy(&self.run(&["hash-object", "--", path])?)
                .trim()
                .to_owned(),
        )
    }
}

fn split_nul(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}
