//! Publication facts — when a version was published, which version of a package came first and
//! so its first signer — come from the base branch's first-parent history: the commits a
//! maintainer put on it. Commits inside a pull request carry whatever dates their author's clock
//! gave them; merged, they date and order nothing of their own.

use crate::support::bundle::*;
use crate::support::git::*;
use crate::support::registry::*;
use mpk_registry::check::ChangeKind;
use mpk_registry::report::Rule;
use mpk_registry::site::catalog::rfc3339;
use mpk_registry::site::paths;

const NOTES: &str = "com.example.notes";

/// Before anything was published: the dates an attacker gives their commits.
const FORGED: i64 = 1_500_000_000;
const FIRST_RELEASE: i64 = 1_600_000_000;
const SECOND_RELEASE: i64 = 1_650_000_000;
const MERGED: i64 = 1_700_000_000;

/// `com.example.notes` 1.0.0 signed by `key(1)`, owned by `alice`, published at
/// [`FIRST_RELEASE`] by the maintainer `root`; returns the registry and its commit.
fn published_notes() -> (Registry, String) {
    let repo = Registry::in_git();
    repo.write(
        "registry.toml",
        "title = \"Test registry\"\nmaintainers = [\"root\"]\n",
    );
    repo.publish(NOTES, "1.0.0", &key(1));
    repo.package_toml(NOTES, "owners = [\"alice\"]\n");
    let base = repo.commit_at(&[SRC], "Publish notes 1.0.0", FIRST_RELEASE);
    (repo, base)
}

/// Starts a pull request's branch `pr` at the current commit.
fn open_pull_request(repo: &Registry) {
    repo.git(&["checkout", "-q", "-b", "pr"]);
}

/// Merges `pr` into `main` with a merge commit made at [`MERGED`], as GitHub's merge button
/// does.
fn merge_pull_request(repo: &Registry) {
    repo.git(&["checkout", "-q", "main"]);
    git_at(
        repo.root(),
        MERGED,
        &[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "Merge pull request #1",
            "pr",
        ],
    );
}

/// `(version, publishedAt)` of every version of `package` in the built site, newest first.
fn published_at(repo: &Registry, package: &str) -> Vec<(String, String)> {
    read_json(&repo.out(), &paths::app_index(package))["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_owned(),
                v["publishedAt"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn forged_history_moves_no_publication() {
    // The owner rotated keys: 2.0.0 is signed by key(2), which package.toml allows.
    let (repo, _) = published_notes();
    repo.package_toml(
        NOTES,
        &format!(
            "owners = [\"alice\"]\nsigners = [\"{}\"]\n",
            signer(&key(2))
        ),
    );
    let rotated = repo.publish(NOTES, "2.0.0", &key(2));
    repo.commit_at(&[SRC], "Publish notes 2.0.0", SECOND_RELEASE);
    // Inside a pull request that publishes a package of their own, commits dated before the
    // first release delete and re-add 2.0.0, same bytes: its tree diff is empty, but by the
    // author's clock 2.0.0 would now be the first version.
    open_pull_request(&repo);
    let bytes = repo.read(&rotated);
    repo.remove(&rotated);
    repo.commit_at(&[SRC], "Drop 2.0.0", FORGED);
    repo.write(&rotated, &bytes);
    repo.publish("com.mallory.app", "1.0.0", &key(3));
    repo.package_toml("com.mallory.app", "owners = [\"mallory\"]\n");
    repo.commit_at(&[SRC], "Add 2.0.0 back", FORGED + 60);
    // Meanwhile the branch moved on, so the merge commit has history on both sides.
    repo.git(&["checkout", "-q", "main"]);
    repo.publish("com.other.app", "1.0.0", &key(4));
    repo.package_toml("com.other.app", "owners = [\"bob\"]\n");
    let base = repo.commit_at(&[SRC], "Publish other 1.0.0", MERGED - 60);
    merge_pull_request(&repo);

    let outcome = repo.check_range(&base, "main", Some("mallory"));
    assert_clear(&outcome);
    let changed: Vec<&str> = outcome.changes.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(
        changed,
        [
            bundle_path("com.mallory.app", "1.0.0").as_str(),
            "com.mallory.app/package.toml"
        ]
    );
    repo.build_ok();
    assert_eq!(
        published_at(&repo, NOTES),
        [
            ("2.0.0".to_owned(), rfc3339(SECOND_RELEASE)),
            ("1.0.0".to_owned(), rfc3339(FIRST_RELEASE)),
        ]
    );
}

#[test]
fn a_merged_pull_request_is_dated_by_its_merge_commit() {
    let (repo, _) = published_notes();
    open_pull_request(&repo);
    repo.publish(NOTES, "1.1.0", &key(1));
    repo.commit_at(&[SRC], "Publish notes 1.1.0", FORGED);
    merge_pull_request(&repo);

    repo.build_ok();
    assert_eq!(
        published_at(&repo, NOTES),
        [
            ("1.1.0".to_owned(), rfc3339(MERGED)),
            ("1.0.0".to_owned(), rfc3339(FIRST_RELEASE)),
        ]
    );
}

/// An owner who does not hold the package's key adds a lower version signed by their own key,
/// in a commit dated before the first release.
fn lower_version_dated_first(repo: &Registry, signed_by: u8) -> String {
    open_pull_request(repo);
    let rel = repo.publish(NOTES, "0.9.0", &key(signed_by));
    repo.commit_at(&[SRC], "Publish notes 0.9.0", FORGED);
    rel
}

#[test]
fn seniority_by_the_authors_clock_is_refused() {
    let (repo, base) = published_notes();
    let rel = lower_version_dated_first(&repo, 2);
    let outcome = repo.check_range(&base, "pr", Some("alice"));
    crate::support::assert_refused(&outcome, &rel, Rule::SignerChange);
}

#[test]
fn a_back_port_signed_with_the_packages_key_passes() {
    let (repo, base) = published_notes();
    let rel = lower_version_dated_first(&repo, 1);
    let outcome = repo.check_range(&base, "pr", Some("alice"));
    assert_clear(&outcome);
    assert_eq!(warnings(&outcome, &rel), [Rule::VersionOrder]);
}

#[test]
fn seniority_by_the_authors_clock_merged_keeps_the_first_signer() {
    let (repo, _) = published_notes();
    let rel = lower_version_dated_first(&repo, 2);
    merge_pull_request(&repo);
    // The newcomer is refused, never the publisher's own first release.
    assert_eq!(refusals(&repo.build()), [(rel, Rule::SignerChange)]);
}

#[test]
fn a_problem_on_the_first_version_refuses_a_new_one() {
    // A bad merge from before: the first version's file name does not match its manifest, so
    // it cannot vouch for the package's signer.
    let repo = Registry::in_git();
    let anchor = bundle_path(NOTES, "1.0.0");
    repo.write(&anchor, app_bundle(NOTES, "0.1.0", &key(1)));
    repo.package_toml(NOTES, "owners = [\"alice\"]\n");
    let base = repo.commit_at(&[SRC], "Publish notes", FIRST_RELEASE);
    repo.publish(NOTES, "1.1.0", &key(1));
    repo.commit("Publish notes 1.1.0");

    let outcome = repo.check(&base, Some("alice"));
    assert_eq!(change(&outcome, &anchor).kind, ChangeKind::Unchanged);
    assert_eq!(problems(&outcome, &anchor), [Rule::FileName]);
    assert!(outcome.refused());
}

#[test]
fn a_new_version_of_a_package_whose_first_version_holds_passes() {
    let (repo, base) = published_notes();
    repo.publish(NOTES, "1.1.0", &key(1));
    repo.commit("Publish notes 1.1.0");
    assert_clear(&repo.check(&base, Some("alice")));
}
