//! `check` refuses package names and versions whose paths collide in the site, as `build`
//! does: the gate must not pass a change that every later build refuses. Each test commits a
//! base, commits the change on top, and runs the gate against the base.

use crate::support::assert_refused;
use crate::support::bundle::*;
use crate::support::git::*;
use crate::support::registry::*;
use mpk_registry::check::CheckOutcome;
use mpk_registry::report::Rule;

const NOTES: &str = "com.example.notes";

/// A registry with `com.example.notes` at `versions` (in this order, one commit each), signed
/// by `key(1)` and owned by `alice`; returns it and the last commit.
fn notes_at(versions: &[&str]) -> (Registry, String) {
    let repo = Registry::in_git();
    repo.package_toml(NOTES, "owners = [\"alice\"]\n");
    let mut base = String::new();
    for version in versions {
        repo.publish(NOTES, version, &key(1));
        base = repo.commit(&format!("notes {version}"));
    }
    (repo, base)
}

/// Adds `package` `version` as a new package owned by `bob`, and checks the change.
fn bob_adds(package: &str, version: &str) -> (CheckOutcome, String) {
    let (repo, base) = notes_at(&["1.0.0"]);
    let added = repo.publish(package, version, &key(2));
    repo.package_toml(package, "owners = [\"bob\"]\n");
    repo.commit(&format!("{package} {version}"));
    (repo.check(&base, Some("bob")), added)
}

/// The message of the first `rule` problem of `file`.
fn message(outcome: &CheckOutcome, file: &str, rule: Rule) -> String {
    change(outcome, file)
        .report
        .problems
        .iter()
        .find(|p| p.rule == rule)
        .map(|p| p.message.clone())
        .unwrap_or_default()
}

#[test]
fn a_package_named_like_a_site_file_is_refused() {
    let (outcome, added) = bob_adds("index.html", "1.0.0");
    assert_refused(&outcome, &added, Rule::ReservedName);
    let message = message(&outcome, &added, Rule::ReservedName);
    assert!(
        message.contains("api/v2/bundles/index.html is a file of the site"),
        "{message}"
    );
}

#[test]
fn a_package_named_sha256_is_refused() {
    let (outcome, added) = bob_adds("sha256", "1.0.0");
    assert_refused(&outcome, &added, Rule::ReservedName);
    let message = message(&outcome, &added, Rule::ReservedName);
    assert!(message.contains("inside artifacts/sha256/"), "{message}");
}

#[test]
fn a_version_named_like_an_app_file_is_refused() {
    for version in ["index.json", "index.html"] {
        let (repo, base) = notes_at(&["1.0.0"]);
        let added = repo.publish(NOTES, version, &key(1));
        repo.commit(&format!("notes {version}"));
        let outcome = repo.check(&base, Some("alice"));
        assert_refused(&outcome, &added, Rule::ReservedName);
        let message = message(&outcome, &added, Rule::ReservedName);
        assert!(
            message.contains(&format!("apps/{NOTES}/{version} is a file of app {NOTES}")),
            "{message}"
        );
    }
}

/// The published version it collides with is neither changed nor the package's first, so
/// `check` does not verify it: the rule must still see it, and refuse the newcomer though its
/// file name sorts first.
#[test]
fn a_version_whose_url_is_a_published_versions_file_is_refused() {
    let (repo, base) = notes_at(&["0.9.0", "1.0.0"]);
    let added = repo.publish(NOTES, "1.0.0.html", &key(1));
    repo.commit("notes 1.0.0.html");
    let outcome = repo.check(&base, Some("alice"));
    assert_refused(&outcome, &added, Rule::ReservedName);
    let message = message(&outcome, &added, Rule::ReservedName);
    assert!(
        message.contains(&format!(
            "/api/v2/bundles/{NOTES}/1.0.0.html would be answered by"
        )),
        "{message}"
    );
}

/// The other way round: the new version's file would answer the published version's URL.
#[test]
fn a_version_whose_file_answers_a_published_versions_url_is_refused() {
    let (repo, base) = notes_at(&["0.9.0", "1.0.0.html"]);
    let added = repo.publish(NOTES, "1.0.0", &key(1));
    repo.commit("notes 1.0.0");
    let outcome = repo.check(&base, Some("alice"));
    assert_refused(&outcome, &added, Rule::ReservedName);
    let message = message(&outcome, &added, Rule::ReservedName);
    assert!(
        message.contains(&format!("would answer /api/v2/bundles/{NOTES}/1.0.0.html")),
        "{message}"
    );
}

#[test]
fn a_package_of_an_ordinary_name_passes() {
    let (outcome, _) = bob_adds("com.example.chat", "1.0.0");
    assert_clear(&outcome);
}
