//! Registry source folders made on the fly, in git or not, and the sites built from them.
//!
//! A [`Registry`] is a folder holding `registry-src/` (the repository root when it is in git),
//! with room for a site and anything else a test puts next to the source, inside a temporary
//! folder of its own where a test may put what lies outside the repository.
//! Bundles are packed with keys from fixed seeds ([`super::bundle`]); settings files are written
//! as given; commits have a fixed author and fixed dates ([`super::git`]).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use mpk_registry::report::Rule;
use mpk_registry::site::{self, BuildOptions, Outcome};
use serde_json::{Map, Value};
use tempfile::TempDir;

use super::bundle::{app_bundle, bundle_path, packed};
use super::git::{author_clock, git_at};
use super::Verdict;

/// The registry folder's path from the root.
pub const SRC: &str = "registry-src";

/// A registry source folder, `<root>/registry-src`, in a fresh temporary folder, deleted on
/// drop; the site goes to `<root>/public` unless a test says otherwise.
pub struct Registry {
    _tmp: TempDir,
    root: PathBuf,
    /// How many commits [`Registry::commit`] made: each is dated by [`author_clock`].
    commits: Cell<i64>,
}

impl Registry {
    /// An empty registry folder, not in git.
    pub fn new() -> Registry {
        let tmp = tempfile::tempdir().expect("temporary folder");
        let root = tmp.path().join("repo");
        fs::create_dir_all(root.join(SRC)).expect("create registry-src");
        Registry {
            _tmp: tmp,
            root,
            commits: Cell::new(0),
        }
    }

    /// A registry folder at the root of a new git repository, with a `registry.toml` giving a
    /// title (nothing committed yet).
    pub fn in_git() -> Registry {
        let reg = Registry::new();
        reg.git_init();
        reg.write("registry.toml", "title = \"Test registry\"\n");
        reg
    }

    /// The folder holding `registry-src/` (the repository root when it is in git).
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn src(&self) -> PathBuf {
        self.root.join(SRC)
    }

    pub fn out(&self) -> PathBuf {
        self.root.join("public")
    }

    /// Writes `bytes` at `rel` inside the source folder (creating folders).
    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> &Registry {
        self.write_root(&format!("{SRC}/{rel}"), bytes);
        self
    }

    /// Writes a file at `path` from the root (creating folders).
    pub fn write_root(&self, path: &str, bytes: impl AsRef<[u8]>) {
        let path = self.root.join(path);
        fs::create_dir_all(path.parent().expect("a file has a parent")).expect("create folder");
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Makes `rel` (inside the source folder) a symbolic link to `target`.
    pub fn symlink(&self, rel: &str, target: &str) {
        let path = self.src().join(rel);
        fs::create_dir_all(path.parent().expect("a file has a parent")).expect("create folder");
        let _ = fs::remove_file(&path);
        std::os::unix::fs::symlink(target, &path)
            .unwrap_or_else(|e| panic!("symlink {}: {e}", path.display()));
    }

    /// Reads a file inside the source folder.
    pub fn read(&self, rel: &str) -> Vec<u8> {
        let path = self.src().join(rel);
        fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// Packs `manifest` with `key` and puts it where its manifest says; returns its path in
    /// the source folder.
    pub fn add(&self, manifest: Map<String, Value>, key: &SigningKey) -> String {
        let rel = bundle_path(
            manifest["package"].as_str().unwrap(),
            manifest["appVersion"].as_str().unwrap(),
        );
        self.write(&rel, packed(manifest, key));
        rel
    }

    /// Adds the default single-service bundle of `package` `version`; returns its path in the
    /// source folder.
    pub fn publish(&self, package: &str, version: &str, key: &SigningKey) -> String {
        let rel = bundle_path(package, version);
        self.write(&rel, app_bundle(package, version, key));
        rel
    }

    /// Writes `<package>/package.toml`; returns its path in the source folder.
    pub fn package_toml(&self, package: &str, text: &str) -> String {
        let rel = format!("{package}/package.toml");
        self.write(&rel, text);
        rel
    }

    pub fn options(&self, out: &Path, jobs: Option<usize>) -> BuildOptions {
        BuildOptions {
            src: self.src(),
            out: out.to_path_buf(),
            jobs,
            ..Default::default()
        }
    }

    /// Builds into `<root>/public`; the tool itself must not fail.
    pub fn build(&self) -> Outcome {
        site::build(&self.options(&self.out(), None)).expect("build runs")
    }

    /// Builds into `<root>/public` with `cache` as the verification cache.
    pub fn build_cached(&self, cache: &Path) -> Outcome {
        let mut options = self.options(&self.out(), Some(2));
        options.cache = Some(cache.to_path_buf());
        site::build(&options).expect("build runs")
    }

    /// Builds and insists that nothing was refused.
    pub fn build_ok(&self) -> Outcome {
        let outcome = self.build();
        assert_eq!(refusals(&outcome), Vec::<(String, Rule)>::new());
        outcome
    }

    /// Flips one byte inside the gzip stream of a bundle and puts its mtime back: the same
    /// size and mtime, other bytes.
    pub fn edit_keeping_size_and_mtime(&self, rel: &str) {
        let path = self.src().join(rel);
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        let mut bytes = self.read(rel);
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        self.write(rel, &bytes);
        set_mtime(&path, mtime);
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    }

    // --- git ----------------------------------------------------------------------------------

    /// Turns the root into a git repository (nothing committed yet).
    pub fn git_init(&self) -> &Registry {
        self.git(&["init", "--quiet", "--initial-branch=main"]);
        self
    }

    /// Runs git in the root ([`super::git::git`]), dated as the next [`Registry::commit`];
    /// returns its output, trimmed.
    pub fn git(&self, args: &[&str]) -> String {
        git_at(&self.root, author_clock(self.commits.get()), args)
    }

    /// Stages everything and commits it, dated by [`author_clock`] (which goes backwards and
    /// repeats, so nothing may rely on commit dates); returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.commits.set(self.commits.get() + 1);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Stages `paths` (relative to the root) and commits them at unix time `at` (author and
    /// committer date, as an author's clock may say anything); returns the commit id.
    pub fn commit_at(&self, paths: &[&str], message: &str, at: i64) -> String {
        let mut add = vec!["add", "--"];
        add.extend_from_slice(paths);
        self.git(&add);
        git_at(&self.root, at, &["commit", "--quiet", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Deletes a file inside the source folder, as `git rm` does.
    pub fn remove(&self, rel: &str) {
        self.git(&["rm", "-q", "--", &format!("{SRC}/{rel}")]);
    }

    /// Moves a file inside the source folder, as `git mv` does.
    pub fn rename(&self, from: &str, to: &str) {
        let to_path = self.src().join(to);
        fs::create_dir_all(to_path.parent().expect("a file has a parent")).expect("create folder");
        self.git(&["mv", &format!("{SRC}/{from}"), &format!("{SRC}/{to}")]);
    }
}

/// `(file, rule)` for every problem of every refused report, sorted.
pub fn refusals(outcome: &Outcome) -> Vec<(String, Rule)> {
    let mut all: Vec<(String, Rule)> = outcome
        .refused
        .iter()
        .flat_map(|r| r.problems.iter().map(move |p| (r.file.clone(), p.rule)))
        .collect();
    all.sort();
    all.dedup();
    all
}

/// A build: `file` (its path in the source folder) is among the refused, for `rule` among
/// others perhaps.
impl Verdict for Outcome {
    #[track_caller]
    fn assert_refused(&self, file: &str, rule: Rule) {
        let all = refusals(self);
        assert!(
            all.iter().any(|(f, r)| f == file && *r == rule),
            "expected {file} to be refused for {}; refusals: {all:#?}",
            rule.code()
        );
    }
}

/// Every file below `dir` by `/`-separated relative path, dotfiles included.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.expect("listable");
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(dir).unwrap();
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.insert(rel.join("/"), fs::read(entry.path()).unwrap());
        }
    }
    files
}

/// Fails with the paths that differ, not with two huge maps.
pub fn assert_same_tree(
    left: &BTreeMap<String, Vec<u8>>,
    right: &BTreeMap<String, Vec<u8>>,
    what: &str,
) {
    let only_left: Vec<&String> = left.keys().filter(|k| !right.contains_key(*k)).collect();
    let only_right: Vec<&String> = right.keys().filter(|k| !left.contains_key(*k)).collect();
    let differ: Vec<&String> = left
        .iter()
        .filter(|(k, v)| right.get(*k).is_some_and(|w| w != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        only_left.is_empty() && only_right.is_empty() && differ.is_empty(),
        "{what}: only in first {only_left:?}, only in second {only_right:?}, different {differ:?}"
    );
}

/// How the names of a build's staging folders (and their lock files) begin.
pub const STAGING_PREFIX: &str = ".mpk-registry-build-";

/// Names in `dir` that look like a build's staging folder or its lock file.
pub fn staging_leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(STAGING_PREFIX))
        .collect()
}

/// Copies a folder recursively (regular files and folders only).
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).unwrap();
        } else if entry.file_type().is_file() {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Reads and parses a JSON file of a built site.
pub fn read_json(out: &Path, rel: &str) -> Value {
    let bytes = fs::read(out.join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
}

pub fn read_text(out: &Path, rel: &str) -> String {
    String::from_utf8(fs::read(out.join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}")))
        .unwrap_or_else(|_| panic!("{rel} is not UTF-8"))
}

pub fn set_mtime(path: &Path, mtime: std::time::SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(mtime))
        .unwrap();
}

/// Appends `text` to a file (used to make a site folder that is not ours).
pub fn append(path: &Path, text: &str) {
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}
