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

// ---------------------------------------------------------------------------------------------
// One identity per name (change.name-taken)

const APP: &str = "com.example.app";
const SQUAT: &str = "Com.Example.App";

/// A registry with `com.example.app` 1.0.0 signed by `key(1)` and owned by `alice`.
fn app_registry() -> (Registry, String) {
    let repo = Registry::in_git();
    repo.publish(APP, "1.0.0", &key(1));
    repo.package_toml(APP, "owners = [\"alice\"]\n");
    let base = repo.commit("com.example.app 1.0.0");
    (repo, base)
}

/// The takeover's first step: a folder holding only a `package.toml`, another spelling of a
/// published package. With it, the squatter would be an owner "in any letter case".
#[test]
fn name_taken_a_case_variant_of_a_published_package_is_refused() {
    let (repo, base) = app_registry();
    let squat = repo.package_toml(SQUAT, "owners = [\"mallory\"]\n");
    repo.commit("squat");
    assert_refused(&repo.check(&base, Some("mallory")), &squat, Rule::NameTaken);
    // Whoever makes it, maintainers included: it is not a question of rights.
    assert_refused(&repo.check(&base, None), &squat, Rule::NameTaken);
}

/// The other order: the squatter's folder came first, holding only a `package.toml`; the
/// real package is then a new spelling of a taken name.
#[test]
fn name_taken_a_package_spelled_like_a_folder_holding_only_package_toml_is_refused() {
    let repo = Registry::in_git();
    repo.package_toml(SQUAT, "owners = [\"mallory\"]\n");
    let base = repo.commit("a name nobody uses yet");
    let added = repo.publish(APP, "1.0.0", &key(1));
    let settings = repo.package_toml(APP, "owners = [\"alice\"]\n");
    repo.commit("the real package");
    let outcome = repo.check(&base, Some("alice"));
    assert_refused(&outcome, &added, Rule::NameTaken);
    assert_refused(&outcome, &settings, Rule::NameTaken);
}

/// A registry that holds both spellings from before the rule: ownership is looked up on the
/// exact name, so the squatter's `package.toml` gives no right over the real package.
#[test]
fn ownership_is_looked_up_on_the_exact_package_name() {
    let (repo, _) = app_registry();
    repo.package_toml(SQUAT, "owners = [\"mallory\"]\n");
    let base = repo.commit("squat, from before the rule");
    let settings = repo.package_toml(
        APP,
        &format!(
            "owners = [\"alice\"]\nsigners = [\"{}\"]\n",
            signer(&key(2))
        ),
    );
    repo.commit("the squatter adds a signer");
    let outcome = repo.check(&base, Some("mallory"));
    assert_refused(&outcome, &settings, Rule::Ownership);
    // The owner may; logins still compare without regard to case.
    assert_clear(&repo.check(&base, Some("Alice")));
}

#[test]
fn name_taken_two_new_spellings_at_once_are_both_refused() {
    let (repo, base) = app_registry();
    let lower = repo.package_toml("com.example.chat", "owners = [\"bob\"]\n");
    let upper = repo.package_toml("COM.EXAMPLE.CHAT", "owners = [\"bob\"]\n");
    repo.commit("two spellings");
    let outcome = repo.check(&base, Some("bob"));
    assert_refused(&outcome, &lower, Rule::NameTaken);
    assert_refused(&outcome, &upper, Rule::NameTaken);
}

#[test]
fn name_taken_a_package_spelled_like_the_orgs_folder_is_refused() {
    let (repo, base) = app_registry();
    let settings = repo.package_toml("Orgs", "owners = [\"bob\"]\n");
    repo.commit("Orgs");
    assert_refused(&repo.check(&base, Some("bob")), &settings, Rule::NameTaken);
}

#[test]
fn name_taken_a_package_whose_site_paths_are_the_sites_is_refused() {
    let (repo, base) = app_registry();
    let settings = repo.package_toml("sha256", "owners = [\"bob\"]\n");
    repo.commit("sha256");
    assert_refused(&repo.check(&base, Some("bob")), &settings, Rule::NameTaken);
}

#[test]
fn name_taken_an_org_spelled_like_another_is_refused() {
    let (repo, _) = app_registry();
    repo.write("orgs/example.toml", "members = [\"carol\"]\n");
    let base = repo.commit("org example");
    repo.write("orgs/Example.toml", "members = [\"mallory\"]\n");
    repo.commit("org Example");
    assert_refused(
        &repo.check(&base, None),
        "orgs/Example.toml",
        Rule::NameTaken,
    );
}

/// The honest twin: an owner respells their own folder (it holds no bundle yet), the old
/// spelling going away in the same change.
#[test]
fn a_package_folder_respelled_by_its_owner_passes() {
    let repo = Registry::in_git();
    repo.package_toml(SQUAT, "owners = [\"alice\"]\n");
    let base = repo.commit("Com.Example.App");
    repo.remove(&format!("{SQUAT}/package.toml"));
    repo.publish(APP, "1.0.0", &key(1));
    repo.package_toml(APP, "owners = [\"alice\"]\n");
    repo.commit("respelled, and published");
    assert_clear(&repo.check(&base, Some("alice")));
}
