//! Throwaway git repositories with a `registry-src/` folder, for the rules that compare a
//! change with a base revision.
//!
//! Bundles are packed on the fly with `mpk_registry::pack::pack` and keys from fixed seeds;
//! commits use a fixed identity and fixed, increasing dates, and git runs without the
//! machine's own configuration. The same calls therefore give the same bytes and commits
//! everywhere.
//!
//! Each test file uses a different subset of this module.
#![allow(dead_code)]

use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ed25519_dalek::SigningKey;
use mpk_registry::check::{self, Change, CheckOptions, CheckOutcome};
use mpk_registry::keys::did_key;
use mpk_registry::report::Rule;
use serde_json::{json, Value};
use tempfile::TempDir;

/// The registry folder's path from the repository root.
pub const SRC: &str = "registry-src";

/// Unix time of the first commit; each later commit is one minute after the previous one.
const EPOCH: i64 = 1_717_200_000; // 2024-06-01T00:00:00Z

/// A signing key from a fixed seed; different seeds are different publishers.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The `signerId` (did:key) of `key`.
pub fn signer(key: &SigningKey) -> String {
    did_key(&key.verifying_key())
}

/// The path of a bundle inside the registry folder: `<package>/<package>-<version>.mpk`.
pub fn bundle_path(package: &str, version: &str) -> String {
    format!("{package}/{package}-{version}.mpk")
}

/// A signed single-wasm bundle whose wasm differs per package and version.
pub fn bundle(package: &str, version: &str, key: &SigningKey) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    wasm.extend_from_slice(format!("{package}@{version}").as_bytes());
    fs::write(dir.path().join("app.wasm"), wasm).expect("write app.wasm");
    let manifest = json!({
        "version": "1.0",
        "package": package,
        "appVersion": version,
        "minRuntimeVersion": "0.1.0",
        "metadata": {"name": format!("App {package}"), "description": "A test app"},
        "wasm": {"path": "app.wasm"},
    });
    let Value::Object(manifest) = manifest else {
        unreachable!("the manifest is an object")
    };
    let mut out = Vec::new();
    mpk_registry::pack::pack(manifest, dir.path(), key, &mut out).expect("pack a bundle");
    out
}

/// A git work tree whose registry folder is `registry-src/`, deleted on drop.
pub struct Repo {
    _dir: TempDir,
    root: PathBuf,
    commits: Cell<i64>,
}

impl Repo {
    /// An empty repository with a `registry-src/registry.toml` giving a title (nothing
    /// committed yet).
    pub fn new() -> Repo {
        let dir = tempfile::tempdir().expect("temporary folder");
        let root = dir.path().join("repo");
        fs::create_dir_all(root.join(SRC)).expect("create registry-src");
        let repo = Repo {
            _dir: dir,
            root,
            commits: Cell::new(0),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.write("registry.toml", "title = \"Test registry\"\n");
        repo
    }

    /// The repository root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The registry folder.
    pub fn src(&self) -> PathBuf {
        self.root.join(SRC)
    }

    /// Runs git in the repository root without system or user configuration; panics on
    /// failure, returns stdout trimmed.
    pub fn git(&self, args: &[&str]) -> String {
        let n = self.commits.get();
        let date = format!("{} +0000", EPOCH + 60 * n);
        let out = Command::new("git")
            .current_dir(&self.root)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Writes a file inside the registry folder (creating folders).
    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) {
        let path = self.src().join(rel);
        fs::create_dir_all(path.parent().expect("a file has a parent")).expect("create folder");
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Writes a file at `path` from the repository root (creating folders).
    pub fn write_root(&self, path: &str, bytes: impl AsRef<[u8]>) {
        let path = self.root.join(path);
        fs::create_dir_all(path.parent().expect("a file has a parent")).expect("create folder");
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Makes `rel` (inside the registry folder) a symbolic link to `target`.
    pub fn symlink(&self, rel: &str, target: &str) {
        let path = self.src().join(rel);
        fs::create_dir_all(path.parent().expect("a file has a parent")).expect("create folder");
        let _ = fs::remove_file(&path);
        std::os::unix::fs::symlink(target, &path)
            .unwrap_or_else(|e| panic!("symlink {}: {e}", path.display()));
    }

    /// Reads a file inside the registry folder.
    pub fn read(&self, rel: &str) -> Vec<u8> {
        let path = self.src().join(rel);
        fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// Deletes a file inside the registry folder.
    pub fn remove(&self, rel: &str) {
        self.git(&["rm", "-q", "--", &format!("{SRC}/{rel}")]);
    }

    /// Moves a file inside the registry folder, as `git mv` does.
    pub fn rename(&self, from: &str, to: &str) {
        let to_path = self.src().join(to);
        fs::create_dir_all(to_path.parent().expect("a file has a parent")).expect("create folder");
        self.git(&["mv", &format!("{SRC}/{from}"), &format!("{SRC}/{to}")]);
    }

    /// Packs and writes `<package>/<package>-<version>.mpk`; returns its path in the folder.
    pub fn publish(&self, package: &str, version: &str, key: &SigningKey) -> String {
        let rel = bundle_path(package, version);
        self.write(&rel, bundle(package, version, key));
        rel
    }

    /// Writes `<package>/package.toml`; returns its path in the folder.
    pub fn package_toml(&self, package: &str, text: &str) -> String {
        let rel = format!("{package}/package.toml");
        self.write(&rel, text);
        rel
    }

    /// Stages everything and commits it; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.commits.set(self.commits.get() + 1);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Runs the gate against `base` through the library; panics when it cannot run.
    pub fn check(&self, base: &str, actor: Option<&str>) -> CheckOutcome {
        check::check(&CheckOptions {
            src: self.src(),
            base: base.to_owned(),
            head: None,
            actor: actor.map(str::to_owned),
        })
        .unwrap_or_else(|e| panic!("check could not run: {e:#}"))
    }

    /// Runs the gate on `base..head` through the library; panics when it cannot run.
    pub fn check_range(&self, base: &str, head: &str, actor: Option<&str>) -> CheckOutcome {
        check::check(&CheckOptions {
            src: self.src(),
            base: base.to_owned(),
            head: Some(head.to_owned()),
            actor: actor.map(str::to_owned),
        })
        .unwrap_or_else(|e| panic!("check could not run: {e:#}"))
    }

    /// Runs the binary in the repository root with `args`, plus extra environment.
    pub fn run(&self, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mpk-registry"));
        command
            .current_dir(&self.root)
            .env_remove("GITHUB_STEP_SUMMARY")
            .args(args);
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().expect("the binary runs")
    }
}

/// The change to `file`, or a panic that lists every change.
pub fn change<'a>(outcome: &'a CheckOutcome, file: &str) -> &'a Change {
    outcome
        .changes
        .iter()
        .find(|c| c.file == file)
        .unwrap_or_else(|| panic!("no change to {file}; report:\n{}", check::to_text(outcome)))
}

/// The rules a changed file was refused for, in report order.
pub fn problems(outcome: &CheckOutcome, file: &str) -> Vec<Rule> {
    change(outcome, file)
        .report
        .problems
        .iter()
        .map(|p| p.rule)
        .collect()
}

/// The rules a changed file was warned about, in report order.
pub fn warnings(outcome: &CheckOutcome, file: &str) -> Vec<Rule> {
    change(outcome, file)
        .report
        .warnings
        .iter()
        .map(|p| p.rule)
        .collect()
}

/// Asserts that `file` changed, was refused, and `rule` is among its problems.
#[track_caller]
pub fn assert_refused(outcome: &CheckOutcome, file: &str, rule: Rule) {
    let c = change(outcome, file);
    assert!(
        !c.report.ok && c.report.problems.iter().any(|p| p.rule == rule),
        "expected {file} refused for {}; report:\n{}",
        rule.code(),
        check::to_text(outcome)
    );
    assert!(outcome.refused());
}

/// Asserts that nothing was refused.
#[track_caller]
pub fn assert_clear(outcome: &CheckOutcome) {
    assert!(
        !outcome.refused() && outcome.changes.iter().all(|c| c.report.problems.is_empty()),
        "expected a clear check; report:\n{}",
        check::to_text(outcome)
    );
}
