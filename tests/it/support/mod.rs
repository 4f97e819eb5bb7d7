//! What the integration tests share, one file per kind of thing a test needs:
//!
//! - [`bundle`]: keys, manifests, bundles packed or written entry by entry, verifying them;
//! - [`registry`]: a registry source folder (in git or not), building its site, reading it back;
//! - [`git`]: running git, and the pull-request gate (`check`) on a registry's history;
//! - [`fetch`]: a signed registry served over HTTP, and a client's trust state;
//! - [`cli`]: running the `mpk-registry` binary and reading what it printed;
//! - [`golden`]: comparing output with the files under `tests/golden/`.
//!
//! Keys come from fixed seeds, git commits have fixed authors and dates, and `pack` is
//! reproducible, so the same calls give the same bytes on every machine.

pub mod bundle;
pub mod cli;
pub mod fetch;
pub mod git;
pub mod golden;
pub mod history;
pub mod registry;

use std::path::{Path, PathBuf};

use mpk_registry::report::Rule;

/// This repository's folder (the crate's).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `rel` in this repository.
pub fn repo_path(rel: &str) -> PathBuf {
    repo_root().join(rel)
}

/// The text of `rel` in this repository.
pub fn repo_file(rel: &str) -> String {
    let path = repo_path(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A verdict that refuses things for rules: a bundle's report, a check of a change, a build.
pub trait Verdict {
    /// Fails unless `at` was refused for `rule`, showing the whole verdict otherwise. What `at`
    /// names, and how strict the match is, is each implementation's to say.
    fn assert_refused(&self, at: &str, rule: Rule);
}

/// `verdict` refused `at` for `rule`: a bundle's report, a problem's subject
/// ([`bundle`]); a check, a changed file ([`git`]); a build, a file ([`registry`]).
#[track_caller]
pub fn assert_refused(verdict: &impl Verdict, at: &str, rule: Rule) {
    verdict.assert_refused(at, rule);
}
