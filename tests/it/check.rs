//! `check`, the pull-request gate, on real git histories: one test per rule, each next to the
//! change that the rule lets through, so a rule that stops being enforced fails its test.
//!
//! Every test builds a throwaway repository, commits a base, commits the change on top, and
//! runs the gate against the base, through the library or through the binary (exit codes,
//! formats).

use std::fs;

use crate::support::assert_refused;
use crate::support::bundle::*;
use crate::support::cli::{command, stderr, stdout, transcript};
use crate::support::git::*;
use crate::support::golden::assert_golden;
use crate::support::registry::*;
use mpk_registry::check::{self, ChangeKind};
use mpk_registry::keys::dev_signing_key;
use mpk_registry::report::Rule;
use serde_json::Value;

const NOTES: &str = "com.example.notes";

/// The key that signed the first version of `com.example.notes`.
fn owner_key() -> ed25519_dalek::SigningKey {
    key(1)
}

/// Someone else's key.
fn stranger_key() -> ed25519_dalek::SigningKey {
    key(2)
}

/// A registry with `com.example.notes` 1.0.0 signed by `owner_key()` and owned by `alice`,
/// committed; returns it and the base commit.
fn notes_registry() -> (Registry, String) {
    let repo = Registry::in_git();
    repo.publish(NOTES, "1.0.0", &owner_key());
    repo.package_toml(NOTES, "owners = [\"alice\"]\n");
    let base = repo.commit("publish notes 1.0.0");
    (repo, base)
}

/// The bytes of a bundle of `tests/fixtures/interop/bundles/`.
fn interop_bytes(rel: &str) -> Vec<u8> {
    let path = interop_bundle(rel);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Signer continuity

#[test]
fn signer_continuity_new_version_by_the_first_signer_passes() {
    let (repo, base) = notes_registry();
    let added = repo.publish(NOTES, "1.1.0", &owner_key());
    repo.commit("notes 1.1.0");

    let outcome = repo.check(&base, None);
    assert_clear(&outcome);
    let c = change(&outcome, &added);
    assert_eq!(c.kind, ChangeKind::Added);
    assert_eq!(
        c.report.bundle.as_ref().map(|b| b.signer_id.clone()),
        Some(signer(&owner_key()))
    );
}

#[test]
fn signer_change_new_version_by_another_key_is_refused() {
    let (repo, base) = notes_registry();
    let added = repo.publish(NOTES, "1.1.0", &stranger_key());
    repo.commit("notes 1.1.0 by someone else");

    let outcome = repo.check(&base, None);
    assert_refused(&outcome, &added, Rule::SignerChange);
    let problem = &change(&outcome, &added).report.problems[0];
    assert_eq!(problem.subject, "signerId");
    assert!(
        problem.message.contains("different application"),
        "the refusal says a new signer is a different application: {}",
        problem.message
    );
}

#[test]
fn signer_change_is_allowed_once_an_owner_lists_the_new_signer() {
    let (repo, base) = notes_registry();
    // The owner's change: allow a second key.
    let settings = repo.package_toml(
        NOTES,
        &format!(
            "owners = [\"alice\"]\nsigners = [\"{}\"]\n",
            signer(&stranger_key())
        ),
    );
    let allowed = repo.commit("allow a second signer");
    let outcome = repo.check(&base, Some("alice"));
    assert_clear(&outcome);
    assert_eq!(change(&outcome, &settings).kind, ChangeKind::Modified);

    // Then a version signed by that key.
    let added = repo.publish(NOTES, "1.1.0", &stranger_key());
    repo.commit("notes 1.1.0 by the second signer");
    let outcome = repo.check(&allowed, Some("alice"));
    assert_clear(&outcome);
    assert_eq!(outcome.changes.len(), 1);
    assert_eq!(change(&outcome, &added).kind, ChangeKind::Added);
}

/// The notes registry after a signer rotation: `package.toml` allows `stranger_key()` (and
/// `extra`), which signed 1.1.0.
fn rotated_registry(extra: &[String]) -> (Registry, String) {
    let (repo, _) = notes_registry();
    let signers: Vec<String> = std::iter::once(signer(&stranger_key()))
        .chain(extra.iter().cloned())
        .map(|s| format!("\"{s}\""))
        .collect();
    repo.package_toml(
        NOTES,
        &format!("owners = [\"alice\"]\nsigners = [{}]\n", signers.join(", ")),
    );
    repo.publish(NOTES, "1.1.0", &stranger_key());
    let base = repo.commit("rotate to a second key, and publish with it");
    (repo, base)
}

/// `build` would refuse 1.1.0 (and so the registry) once its signer is no longer allowed:
/// `check` refuses the settings change that causes it, with the rule `build` uses.
#[test]
fn signer_change_dropping_a_signer_that_signed_a_published_version_is_refused() {
    let (repo, base) = rotated_registry(&[]);
    let settings = repo.package_toml(NOTES, "owners = [\"alice\"]\n");
    repo.commit("drop the second signer");
    let outcome = repo.check(&base, Some("alice"));
    assert_refused(&outcome, &settings, Rule::SignerChange);
    assert_eq!(problems(&outcome, &settings), [Rule::SignerChange]);
    assert_refused(
        &repo.build(),
        &bundle_path(NOTES, "1.1.0"),
        Rule::SignerChange,
    );
}

#[test]
fn signer_change_deleting_package_toml_a_published_version_needs_is_refused() {
    let (repo, base) = rotated_registry(&[]);
    let settings = format!("{NOTES}/package.toml");
    repo.remove(&settings);
    repo.commit("delete package.toml");
    let outcome = repo.check(&base, Some("alice"));
    assert_eq!(change(&outcome, &settings).kind, ChangeKind::Deleted);
    assert_refused(&outcome, &settings, Rule::SignerChange);
}

/// A registry whose published version was already disallowed before the change (a merge from
/// before the rule): an unrelated edit of `package.toml` does not answer for it.
#[test]
fn signer_change_from_before_is_not_blamed_on_a_later_settings_change() {
    let (repo, _) = rotated_registry(&[]);
    let unused = signer(&key(3));
    repo.package_toml(
        NOTES,
        &format!("owners = [\"alice\"]\nsigners = [\"{unused}\"]\n"),
    );
    let broken = repo.commit("swap the second signer for a third, before the gate knew better");
    let settings = repo.package_toml(NOTES, "owners = [\"alice\"]\n");
    repo.commit("drop the third signer, which signed nothing");
    let outcome = repo.check(&broken, Some("alice"));
    assert!(
        !problems(&outcome, &settings).contains(&Rule::SignerChange),
        "{}",
        check::to_text(&outcome)
    );
}

/// The honest twin: a signer that signed nothing can go.
#[test]
fn signer_change_dropping_a_signer_that_signed_nothing_passes() {
    let unused = signer(&key(3));
    let (repo, base) = rotated_registry(&[unused]);
    repo.package_toml(
        NOTES,
        &format!(
            "owners = [\"alice\"]\nsigners = [\"{}\"]\n",
            signer(&stranger_key())
        ),
    );
    repo.commit("drop the unused signer");
    assert_clear(&repo.check(&base, Some("alice")));
    repo.build_ok();
}

#[test]
fn signer_change_interop_bundle_by_publisher_b_is_refused() {
    let repo = Registry::in_git();
    repo.write(
        "com.example.hello/com.example.hello-1.0.0.mpk",
        interop_bytes("valid/com.example.hello-1.0.0.mpk"),
    );
    let base = repo.commit("hello 1.0.0 by publisher A");

    // Publisher A's own next version passes...
    let same = "com.example.hello/com.example.hello-1.1.0.mpk";
    repo.write(same, interop_bytes("valid/com.example.hello-1.1.0.mpk"));
    repo.commit("hello 1.1.0 by publisher A");
    assert_clear(&repo.check(&base, None));

    // ...publisher B's is refused.
    repo.git(&["reset", "-q", "--hard", &base]);
    let other = "com.example.hello/com.example.hello-1.2.0.mpk";
    repo.write(
        other,
        interop_bytes("policy/signer-change/com.example.hello-1.2.0.mpk"),
    );
    repo.commit("hello 1.2.0 by publisher B");
    let outcome = repo.check(&base, None);
    assert_refused(&outcome, other, Rule::SignerChange);
    assert_eq!(problems(&outcome, other), [Rule::SignerChange]);
}

// ---------------------------------------------------------------------------------------------
// Owners and organisations

#[test]
fn ownership_non_owner_adding_a_version_is_refused() {
    let (repo, base) = notes_registry();
    let added = repo.publish(NOTES, "1.1.0", &owner_key());
    repo.commit("notes 1.1.0");

    let outcome = repo.check(&base, Some("mallory"));
    assert_refused(&outcome, &added, Rule::Ownership);
    assert_eq!(problems(&outcome, &added), [Rule::Ownership]);
}

#[test]
fn ownership_owner_adding_a_version_passes() {
    let (repo, base) = notes_registry();
    repo.publish(NOTES, "1.1.0", &owner_key());
    repo.commit("notes 1.1.0");

    assert_clear(&repo.check(&base, Some("alice")));
    // Logins are compared as GitHub does, without regard to case.
    assert_clear(&repo.check(&base, Some("Alice")));
}

#[test]
fn ownership_org_member_adding_a_version_passes() {
    let repo = Registry::in_git();
    repo.publish(NOTES, "1.0.0", &owner_key());
    repo.package_toml(NOTES, "owners = [\"alice\"]\norg = \"notes-team\"\n");
    repo.write("orgs/notes-team.toml", "members = [\"carol\"]\n");
    let base = repo.commit("notes, maintained by an org");

    let added = repo.publish(NOTES, "1.1.0", &owner_key());
    repo.commit("notes 1.1.0");
    assert_clear(&repo.check(&base, Some("carol")));
    assert_refused(&repo.check(&base, Some("dave")), &added, Rule::Ownership);
}

#[test]
fn ownership_org_membership_granted_in_the_same_change_does_not_count() {
    let repo = Registry::in_git();
    repo.publish(NOTES, "1.0.0", &owner_key());
    repo.package_toml(NOTES, "owners = [\"alice\"]\norg = \"notes-team\"\n");
    repo.write("orgs/notes-team.toml", "members = [\"carol\"]\n");
    let base = repo.commit("notes, maintained by an org");

    repo.write("orgs/notes-team.toml", "members = [\"carol\", \"dave\"]\n");
    let added = repo.publish(NOTES, "1.1.0", &owner_key());
    repo.commit("dave joins and publishes");
    let outcome = repo.check(&base, Some("dave"));
    assert_refused(&outcome, "orgs/notes-team.toml", Rule::Ownership);
    assert_refused(&outcome, &added, Rule::Ownership);
    // A member may change the org.
    assert_clear(&repo.check(&base, Some("carol")));
}

#[test]
fn ownership_non_owner_editing_package_toml_is_refused() {
    let (repo, base) = notes_registry();
    let settings = repo.package_toml(NOTES, "owners = [\"alice\", \"mallory\"]\n");
    repo.commit("mallory adds herself");

    // The base's owners judge, so adding oneself grants nothing.
    let outcome = repo.check(&base, Some("mallory"));
    assert_refused(&outcome, &settings, Rule::Ownership);
    assert_eq!(problems(&outcome, &settings), [Rule::Ownership]);
    // The same edit by an owner passes.
    assert_clear(&repo.check(&base, Some("alice")));
}

#[test]
fn ownership_yank_by_an_owner_passes_and_by_a_non_owner_is_refused() {
    let (repo, base) = notes_registry();
    let settings = repo.package_toml(
        NOTES,
        "owners = [\"alice\"]\nyanked = [{ version = \"1.0.0\", reason = \"corrupts notes\" }]\n",
    );
    repo.commit("yank notes 1.0.0");

    assert_clear(&repo.check(&base, Some("alice")));
    let outcome = repo.check(&base, Some("mallory"));
    assert_refused(&outcome, &settings, Rule::Ownership);
    assert_eq!(outcome.changes.len(), 1);
}

#[test]
fn ownership_new_package_naming_the_actor_passes() {
    let (repo, base) = notes_registry();
    repo.publish("com.example.todo", "0.1.0", &stranger_key());
    repo.package_toml("com.example.todo", "owners = [\"bob\"]\n");
    repo.commit("new package todo");

    assert_clear(&repo.check(&base, Some("bob")));
}

/// Two settings files with the same bytes are one blob in git: an owner's second package with
/// the same `package.toml` as the first is read like any other, at the base and at the head.
#[test]
fn settings_files_with_the_same_bytes_are_each_read() {
    let (repo, base) = notes_registry();
    repo.publish("com.example.todo", "0.1.0", &owner_key());
    let settings = repo.package_toml("com.example.todo", "owners = [\"alice\"]\n");
    assert_eq!(
        repo.read(&settings),
        repo.read(&format!("{NOTES}/package.toml"))
    );
    let head = repo.commit("alice's second app");
    let outcome = repo.check(&base, Some("alice"));
    assert_clear(&outcome);
    assert_eq!(change(&outcome, &settings).kind, ChangeKind::Added);

    // Both are read at the base too: the second package's owner is judged from its own file.
    repo.publish("com.example.todo", "0.2.0", &owner_key());
    repo.commit("todo 0.2.0");
    assert_clear(&repo.check(&head, Some("alice")));
    let outcome = repo.check(&head, Some("mallory"));
    assert_refused(
        &outcome,
        &bundle_path("com.example.todo", "0.2.0"),
        Rule::Ownership,
    );
}

#[test]
fn ownership_new_package_not_naming_the_actor_is_refused() {
    let (repo, base) = notes_registry();
    let added = repo.publish("com.example.todo", "0.1.0", &stranger_key());
    let settings = repo.package_toml("com.example.todo", "owners = [\"someone-else\"]\n");
    repo.commit("new package todo, owned by someone else");
    let outcome = repo.check(&base, Some("bob"));
    assert_refused(&outcome, &added, Rule::Ownership);
    assert_refused(&outcome, &settings, Rule::Ownership);

    // Without a package.toml at all, the bundle is refused and the message says what to add.
    repo.remove(&settings);
    repo.commit("drop package.toml");
    let outcome = repo.check(&base, Some("bob"));
    assert_refused(&outcome, &added, Rule::Ownership);
    let message = &change(&outcome, &added).report.problems[0].message;
    assert!(
        message.contains("owners = [\"bob\"]"),
        "the fix names the actor: {message}"
    );
}

#[test]
fn ownership_is_not_checked_without_an_actor() {
    let (repo, base) = notes_registry();
    repo.publish(NOTES, "1.1.0", &owner_key());
    repo.package_toml(NOTES, "owners = [\"alice\", \"mallory\"]\n");
    repo.publish("com.example.todo", "0.1.0", &stranger_key());
    repo.commit("changes by anyone");

    assert_clear(&repo.check(&base, None));
    assert!(repo.check(&base, Some("mallory")).refused());
}

#[test]
fn ownership_a_push_by_someone_else_is_judged_with_their_rights_too() {
    // alice's pull request, to which mallory pushed a version of alice's package.
    let (repo, base) = notes_registry();
    let added = repo.publish(NOTES, "1.1.0", &owner_key());
    repo.commit("notes 1.1.0, pushed by mallory");

    let outcome = repo.check_actors(&base, None, &["alice", "mallory"]);
    assert_refused(&outcome, &added, Rule::Ownership);
    let messages: Vec<&str> = change(&outcome, &added)
        .report
        .problems
        .iter()
        .map(|p| p.message.as_str())
        .collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].starts_with("mallory is not an owner"),
        "{messages:?}"
    );
}

#[test]
fn ownership_a_maintainers_fix_to_an_owners_pull_request_passes() {
    let (repo, _) = notes_registry();
    repo.write(
        "registry.toml",
        "title = \"Test registry\"\nmaintainers = [\"root\"]\n",
    );
    let base = repo.commit("root maintains the registry");
    repo.publish(NOTES, "1.1.0", &owner_key());
    repo.commit("notes 1.1.0, fixed by root");

    assert_clear(&repo.check_actors(&base, None, &["alice", "root"]));
    // The maintainer's rights do not extend the author's.
    let theirs = repo.publish("com.example.todo", "0.1.0", &stranger_key());
    repo.package_toml("com.example.todo", "owners = [\"bob\"]\n");
    repo.commit("and someone else's package");
    let outcome = repo.check_actors(&base, None, &["alice", "root"]);
    assert_refused(&outcome, &theirs, Rule::Ownership);
}

#[test]
fn ownership_an_empty_actor_is_an_error() {
    let (repo, base) = notes_registry();
    repo.publish(NOTES, "1.1.0", &owner_key());
    repo.commit("notes 1.1.0");
    for actors in [&["", "alice"][..], &["alice", " "]] {
        let mut args = vec!["check", SRC, "--base", &base];
        for actor in actors {
            args.extend(["--actor", actor]);
        }
        let run = repo.run(&args, &[]);
        assert_eq!(run.status.code(), Some(2), "{actors:?}: {}", stderr(&run));
        assert!(
            stderr(&run).contains("an actor is empty: give each --actor a GitHub login"),
            "{}",
            stderr(&run)
        );
        assert_eq!(stdout(&run), "");
    }
}

/// Packs `package` `version` around `wasm_len` bytes of incompressible wasm, signed by `signer`,
/// into the registry; returns its path in the source folder.
fn publish_large(
    repo: &Registry,
    package: &str,
    version: &str,
    wasm_len: usize,
    signer: u8,
) -> String {
    let scratch = tempfile::tempdir().expect("temporary folder");
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(signer);
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    while wasm.len() < wasm_len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        wasm.extend_from_slice(&state.to_le_bytes());
    }
    fs::write(scratch.path().join("app.wasm"), &wasm).expect("write the wasm");
    let manifest = into_map(serde_json::json!({
        "version": "1.0",
        "package": package,
        "appVersion": version,
        "minRuntimeVersion": "0.1.0",
        "metadata": {"name": "Large"},
        "wasm": {"path": "app.wasm"},
    }));
    let mut bytes = Vec::new();
    mpk_registry::pack::pack(
        manifest,
        scratch.path(),
        &key(signer),
        mpk_registry::canonical::Scheme::Legacy,
        &mut bytes,
    )
    .expect("pack");
    let rel = bundle_path(package, version);
    repo.write(&rel, bytes);
    rel
}

#[test]
fn bundles_too_large_to_hold_are_verified_as_git_streams_them() {
    let (repo, base) = notes_registry();
    // Above the size the gate holds in memory, one to accept and one to refuse, between small
    // ones: every verdict lands on its own file.
    let large = publish_large(&repo, "com.example.large", "1.0.0", 6 << 20, 3);
    let large_stranger = publish_large(&repo, NOTES, "3.0.0", 5 << 20, 2);
    let small = repo.publish(NOTES, "1.1.0", &owner_key());
    let small_stranger = repo.publish(NOTES, "2.0.0", &stranger_key());
    repo.commit("large and small bundles");
    assert!(repo.read(&large).len() > 4 << 20);

    let outcome = repo.check(&base, None);
    for ok in [&large, &small] {
        assert!(
            change(&outcome, ok).report.ok(),
            "{ok}:\n{}",
            check::to_text(&outcome)
        );
    }
    assert_eq!(
        change(&outcome, &large)
            .report
            .bundle
            .as_ref()
            .map(|b| b.package.as_str()),
        Some("com.example.large")
    );
    for refused in [&large_stranger, &small_stranger] {
        assert_eq!(
            problems(&outcome, refused),
            [Rule::SignerChange],
            "{refused}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Immutability

#[test]
fn immutable_modified_bundle_is_refused() {
    let (repo, base) = notes_registry();
    let published = bundle_path(NOTES, "1.0.0");

    // Writing the very same bytes again is no change at all.
    repo.write(&published, repo.read(&published));
    repo.commit("touch");
    assert_clear(&repo.check(&base, None));

    // Different bytes (even validly signed by the owner) are.
    let mut other = app_bundle(NOTES, "1.0.0", &owner_key());
    other.extend_from_slice(b"\0");
    repo.write(&published, &other);
    repo.commit("replace notes 1.0.0");
    let outcome = repo.check(&base, None);
    assert_eq!(change(&outcome, &published).kind, ChangeKind::Modified);
    assert_refused(&outcome, &published, Rule::Immutable);
}

#[test]
fn immutable_bundle_re_signed_by_another_key_is_refused() {
    let (repo, base) = notes_registry();
    let published = bundle_path(NOTES, "1.0.0");
    repo.write(&published, app_bundle(NOTES, "1.0.0", &stranger_key()));
    repo.commit("re-sign notes 1.0.0");
    assert_refused(&repo.check(&base, None), &published, Rule::Immutable);
}

#[test]
fn immutable_deleted_bundle_is_refused() {
    let (repo, _) = notes_registry();
    repo.publish(NOTES, "1.1.0", &owner_key());
    let second = repo.commit("notes 1.1.0");

    let published = bundle_path(NOTES, "1.0.0");
    repo.remove(&published);
    repo.commit("delete notes 1.0.0");
    let outcome = repo.check(&second, None);
    assert_eq!(change(&outcome, &published).kind, ChangeKind::Deleted);
    assert_refused(&outcome, &published, Rule::Immutable);
    assert_eq!(outcome.changes.len(), 1);
}

#[test]
fn immutable_renamed_bundle_is_refused_on_the_old_path() {
    let (repo, base) = notes_registry();
    let old = bundle_path(NOTES, "1.0.0");
    let new = bundle_path(NOTES, "1.0.1");
    repo.rename(&old, &new);
    repo.commit("rename notes 1.0.0 to 1.0.1");

    let outcome = repo.check(&base, None);
    assert_eq!(change(&outcome, &old).kind, ChangeKind::Deleted);
    assert_refused(&outcome, &old, Rule::Immutable);
    // The new name no longer matches the manifest inside.
    assert_eq!(change(&outcome, &new).kind, ChangeKind::Added);
    assert_refused(&outcome, &new, Rule::FileName);
}

// ---------------------------------------------------------------------------------------------
// Versions

#[test]
fn version_exists_in_another_case_spelling_is_refused() {
    let repo = Registry::in_git();
    repo.publish(NOTES, "1.0.0", &owner_key());
    repo.commit("notes 1.0.0");
    // Not the first version, so only the base's file list can tell it is taken.
    repo.publish(NOTES, "2.0.0-rc.1", &owner_key());
    let base = repo.commit("notes 2.0.0-rc.1");

    let respelled = repo.publish(NOTES, "2.0.0-RC.1", &owner_key());
    repo.commit("notes 2.0.0-RC.1");
    let outcome = repo.check(&base, None);
    assert_refused(&outcome, &respelled, Rule::VersionExists);
    assert_eq!(problems(&outcome, &respelled), [Rule::VersionExists]);

    // A version that is really new passes.
    repo.git(&["reset", "-q", "--hard", &base]);
    repo.publish(NOTES, "2.0.0-rc.2", &owner_key());
    repo.commit("notes 2.0.0-rc.2");
    assert_clear(&repo.check(&base, None));
}

#[test]
fn version_exists_for_the_first_version_is_reported_once() {
    // The first version is also compared bundle to bundle (it decides the signer); the
    // collision is still one problem, not two.
    let repo = Registry::in_git();
    repo.publish(NOTES, "0.1.0-alpha", &owner_key());
    let base = repo.commit("notes 0.1.0-alpha");
    let respelled = repo.publish(NOTES, "0.1.0-ALPHA", &owner_key());
    repo.commit("notes 0.1.0-ALPHA");

    let outcome = repo.check(&base, None);
    assert_eq!(problems(&outcome, &respelled), [Rule::VersionExists]);
}

#[test]
fn version_exists_under_a_package_spelled_in_another_case_is_refused() {
    // `Com.Example.Notes/Com.Example.Notes-1.0.0.mpk` and `com.example.notes/...-1.0.0.mpk`
    // are one path on case-insensitive file systems and hosts; `build` refuses the pair, so
    // `check` must not let it through.
    let (repo, base) = notes_registry();
    let respelled = repo.publish("Com.Example.Notes", "1.0.0", &stranger_key());
    repo.commit("Com.Example.Notes 1.0.0");

    let outcome = repo.check(&base, None);
    assert_refused(&outcome, &respelled, Rule::VersionExists);
    assert_build_refuses_only(&repo, &respelled, Rule::VersionExists);
}

#[test]
fn version_exists_for_a_new_version_of_a_package_spelled_in_another_case() {
    // A different version under another spelling of the package still shares
    // `apps/<package>/` with the published one on a case-insensitive host.
    let (repo, base) = notes_registry();
    let respelled = repo.publish("COM.EXAMPLE.NOTES", "9.0.0", &stranger_key());
    repo.commit("COM.EXAMPLE.NOTES 9.0.0");

    let outcome = repo.check(&base, None);
    assert_refused(&outcome, &respelled, Rule::VersionExists);
    assert_build_refuses_only(&repo, &respelled, Rule::VersionExists);
}

/// `build` on the head refuses `file` for `rule`, and nothing else: the published bundles
/// stay as they are.
#[track_caller]
fn assert_build_refuses_only(repo: &Registry, file: &str, rule: Rule) {
    let built = repo.build();
    let refused: Vec<(&str, Vec<Rule>)> = built
        .refused
        .iter()
        .map(|r| (r.file.as_str(), r.problems.iter().map(|p| p.rule).collect()))
        .collect();
    assert_eq!(refused, [(file, vec![rule])], "build refuses the newcomer");
}

#[test]
fn version_order_back_port_is_a_warning_and_exits_0() {
    let repo = Registry::in_git();
    repo.publish(NOTES, "1.0.0", &owner_key());
    repo.publish(NOTES, "2.0.0", &owner_key());
    let base = repo.commit("notes 1.0.0 and 2.0.0");

    let backport = repo.publish(NOTES, "1.0.1", &owner_key());
    repo.commit("notes 1.0.1 back-port");
    let outcome = repo.check(&base, None);
    assert_clear(&outcome);
    assert_eq!(warnings(&outcome, &backport), [Rule::VersionOrder]);

    let run = repo.run(&["check", SRC, "--base", &base], &[]);
    assert_eq!(run.status.code(), Some(0), "{}", stdout(&run));
    assert!(stdout(&run).contains("policy.version-order"));

    // A version above the latest is not warned about.
    repo.git(&["reset", "-q", "--hard", &base]);
    let next = repo.publish(NOTES, "2.1.0", &owner_key());
    repo.commit("notes 2.1.0");
    let outcome = repo.check(&base, None);
    assert!(warnings(&outcome, &next).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Keys everyone knows

#[test]
fn well_known_key_is_refused_by_default() {
    let (repo, base) = notes_registry();
    let added = repo.publish("com.example.demo", "0.1.0", &dev_signing_key());
    repo.commit("demo signed with the dev key");

    let outcome = repo.check(&base, None);
    assert_refused(&outcome, &added, Rule::WellKnownKey);
    assert_eq!(problems(&outcome, &added), [Rule::WellKnownKey]);
}

#[test]
fn well_known_key_is_allowed_when_the_base_registry_allows_it() {
    let repo = Registry::in_git();
    repo.write("registry.toml", "title = \"Local\"\nallow_dev_key = true\n");
    let base = repo.commit("a local test registry");

    repo.publish("com.example.demo", "0.1.0", &dev_signing_key());
    repo.commit("demo signed with the dev key");
    assert_clear(&repo.check(&base, None));
}

#[test]
fn well_known_key_allowance_added_in_the_same_change_does_not_count() {
    let (repo, base) = notes_registry();
    repo.write(
        "registry.toml",
        "title = \"Test registry\"\nallow_dev_key = true\n",
    );
    let added = repo.publish("com.example.demo", "0.1.0", &dev_signing_key());
    repo.commit("allow the dev key and use it");
    assert_refused(&repo.check(&base, None), &added, Rule::WellKnownKey);
}

// ---------------------------------------------------------------------------------------------
// Scope and completeness of the report

#[test]
fn only_changed_bundles_are_verified() {
    let (repo, _) = notes_registry();
    let broken = bundle_path("com.example.broken", "1.0.0");
    let whole = app_bundle("com.example.broken", "1.0.0", &stranger_key());
    repo.write(&broken, &whole[..whole.len() / 2]);
    let base = repo.commit("a truncated bundle slipped in");

    let fresh = repo.publish("com.example.fresh", "0.1.0", &stranger_key());
    repo.commit("an unrelated new package");
    let outcome = repo.check(&base, None);
    assert_clear(&outcome);
    let files: Vec<&str> = outcome.changes.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(files, [fresh.as_str()]);

    // The same truncated bytes are refused when they are the change.
    let again = bundle_path("com.example.broken", "1.0.1");
    let whole = app_bundle("com.example.broken", "1.0.1", &stranger_key());
    repo.write(&again, &whole[..whole.len() / 2]);
    repo.commit("another truncated bundle");
    let outcome = repo.check(&base, None);
    let c = change(&outcome, &again);
    assert!(!c.report.ok() && !c.report.problems.is_empty());
    assert!(change(&outcome, &fresh).report.ok());
}

#[test]
fn every_problem_in_every_changed_file_is_reported() {
    let (repo, base) = notes_registry();
    // One file: a new version by another key, under a name its manifest does not give,
    // by someone who does not own the package.
    let misnamed = bundle_path(NOTES, "1.1.0");
    repo.write(&misnamed, app_bundle(NOTES, "1.2.0", &stranger_key()));
    // Another: a new package signed with the dev key, with bytes after the gzip stream.
    let padded = bundle_path("com.example.demo", "0.1.0");
    let mut bytes = app_bundle("com.example.demo", "0.1.0", &dev_signing_key());
    bytes.extend_from_slice(b"trailing");
    repo.write(&padded, bytes);
    repo.package_toml("com.example.demo", "owners = [\"mallory\"]\n");
    repo.commit("two bad bundles");

    let outcome = repo.check(&base, Some("mallory"));
    let mut first = problems(&outcome, &misnamed);
    first.sort();
    assert_eq!(
        first,
        [Rule::FileName, Rule::SignerChange, Rule::Ownership],
        "{}",
        check::to_text(&outcome)
    );
    let mut second = problems(&outcome, &padded);
    second.sort();
    assert_eq!(
        second,
        [Rule::TrailingData, Rule::WellKnownKey],
        "{}",
        check::to_text(&outcome)
    );
    let refused: Vec<&str> = outcome
        .changes
        .iter()
        .filter(|c| !c.report.ok())
        .map(|c| c.file.as_str())
        .collect();
    assert_eq!(refused, [padded.as_str(), misnamed.as_str()]);
}

// ---------------------------------------------------------------------------------------------
// Formats

/// The notes registry plus two added bundles: one refused (a version by another key), one
/// clear (a new package). Returns the repository, the base, and the two paths.
fn mixed_change() -> (Registry, String, String, String) {
    let (repo, base) = notes_registry();
    let refused = repo.publish(NOTES, "1.1.0", &stranger_key());
    let fine = repo.publish("com.example.todo", "0.1.0", &owner_key());
    repo.commit("one good, one bad");
    (repo, base, refused, fine)
}

#[test]
fn format_json_has_the_documented_shape() {
    let (repo, base, refused, fine) = mixed_change();
    let run = repo.run(&["check", SRC, "--base", &base, "--format", "json"], &[]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let doc: Value = serde_json::from_slice(&run.stdout).expect("stdout is JSON");

    assert_eq!(doc["schemaVersion"], 1);
    assert_eq!(doc["base"], base.as_str());
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["problems"], Value::Array(vec![]));
    let changes = doc["changes"].as_array().expect("changes is an array");
    assert_eq!(changes.len(), 2);
    let by_file = |file: &str| {
        changes
            .iter()
            .find(|c| c["file"] == file)
            .unwrap_or_else(|| panic!("{file} in {doc:#}"))
    };
    let bad = by_file(&refused);
    assert_eq!(bad["path"], format!("{SRC}/{refused}"));
    assert_eq!(bad["kind"], "added");
    assert_eq!(bad["report"]["ok"], false);
    assert_eq!(bad["report"]["problems"][0]["rule"], "policy.signer-change");
    assert_eq!(bad["report"]["problems"][0]["subject"], "signerId");
    assert!(bad["report"]["problems"][0]["hint"].is_string());
    let good = by_file(&fine);
    assert_eq!(good["kind"], "added");
    assert_eq!(good["report"]["ok"], true);
    assert_eq!(good["report"]["problems"], Value::Array(vec![]));
    assert_eq!(good["report"]["bundle"]["package"], "com.example.todo");
}

#[test]
fn format_github_annotates_files_from_the_repository_root_and_writes_the_summary() {
    let (repo, base, ..) = mixed_change();
    let summary = repo.root().join("..").join("summary.md");
    fs::write(&summary, "earlier step\n").unwrap();
    let args = ["check", SRC, "--base", &base, "--format", "github"];
    let run = repo.run(&args, &[("GITHUB_STEP_SUMMARY", &summary)]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));

    let table = fs::read_to_string(&summary).unwrap();
    assert_golden(
        "cli/check-github.txt",
        transcript(&args, &run).replace(&base, "<base>"),
    );
    assert_golden("cli/check-github-summary.md", &table);

    // Without the variable, nothing is written and the annotations are the same.
    let again = repo.run(&args, &[]);
    assert_eq!(stdout(&again), stdout(&run));
}

#[test]
fn step_summary_renders_no_link_or_image_from_a_bundle() {
    let repo = Registry::in_git();
    let base = repo.commit("empty registry");
    let hostile = "![i](https://e.vil/i.png)[site](https://e.vil)<https://e.vil>www.e.vil`x`";
    let rel = bundle_path("com.example.app", "1.0.0");
    repo.write(
        &rel,
        standard_with(|m| drop(m.insert("package".into(), hostile.into()))),
    );
    repo.commit("a bundle whose package is Markdown");
    let summary = repo.root().join("..").join("summary.md");
    let args = ["check", SRC, "--base", &base, "--format", "github"];
    let run = repo.run(&args, &[("GITHUB_STEP_SUMMARY", &summary)]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));

    let table = fs::read_to_string(&summary).unwrap();
    let rows: Vec<&str> = table.lines().skip(4).collect();
    assert_eq!(rows.len(), 1, "{table}");
    let row = rows[0];
    // The package cell, every character as it is, none of it Markdown.
    assert!(
        row.contains("| \\!\\[i\\]\\(https\\:\\/\\/e\\.vil\\/i\\.png\\)\\[site\\]\\(https\\:\\/\\/e\\.vil\\)&lt;https\\:\\/\\/e\\.vil&gt;www\\.e\\.vil\\`x\\` |"),
        "{row}"
    );
    assert!(row.contains("| `manifest.package` "), "{row}");
    // Outside the rule codes' own code spans and the line breaks between problems, no
    // Markdown character is left unescaped.
    let row = row.replace("<br>", " ");
    let bytes = row.as_bytes();
    let unescaped: Vec<char> = (0..bytes.len())
        .filter(|&i| b"[]()!<>:@".contains(&bytes[i]))
        .filter(|&i| bytes[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0)
        .map(|i| bytes[i] as char)
        .collect();
    assert_eq!(unescaped, Vec::<char>::new(), "{row}");
}

#[test]
fn format_github_annotations_use_the_path_from_the_repository_root_for_a_nested_folder() {
    let repo = Registry::in_git();
    let nested = repo.root().join("registries/main");
    fs::create_dir_all(&nested).unwrap();
    fs::rename(repo.src(), nested.join(SRC)).unwrap();
    let src = nested.join(SRC);
    let rel = |p: &str| src.join(p);
    fs::create_dir_all(rel(NOTES)).unwrap();
    fs::write(
        rel(&bundle_path(NOTES, "1.0.0")),
        app_bundle(NOTES, "1.0.0", &owner_key()),
    )
    .unwrap();
    let base = repo.commit("nested registry");
    fs::write(
        rel(&bundle_path(NOTES, "1.1.0")),
        app_bundle(NOTES, "1.1.0", &stranger_key()),
    )
    .unwrap();
    repo.commit("notes 1.1.0 by someone else");

    let run = repo.run(
        &[
            "check",
            "registries/main/registry-src",
            "--base",
            &base,
            "--format",
            "github",
        ],
        &[],
    );
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let expected = format!(
        "::error file=registries/main/registry-src/{},title=policy.signer-change",
        bundle_path(NOTES, "1.1.0")
    );
    assert!(stdout(&run).contains(&expected), "{}", stdout(&run));
}

#[test]
fn format_text_is_readable() {
    let (repo, base, ..) = mixed_change();
    let args = ["check", SRC, "--base", &base];
    let run = repo.run(&args, &[]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert_golden(
        "cli/check-text.txt",
        transcript(&args, &run).replace(&base, "<base>"),
    );
}

// ---------------------------------------------------------------------------------------------
// Exit codes

#[test]
fn exit_code_0_when_clear() {
    let (repo, base) = notes_registry();
    repo.publish(NOTES, "1.1.0", &owner_key());
    repo.commit("notes 1.1.0");
    let run = repo.run(&["check", SRC, "--base", &base, "--actor", "alice"], &[]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}{}",
        stdout(&run),
        stderr(&run)
    );
}

#[test]
fn exit_code_1_when_refused() {
    let (repo, base) = notes_registry();
    repo.publish(NOTES, "1.1.0", &owner_key());
    repo.commit("notes 1.1.0");
    let run = repo.run(&["check", SRC, "--base", &base, "--actor", "mallory"], &[]);
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}{}",
        stdout(&run),
        stderr(&run)
    );
    assert!(stdout(&run).contains("policy.ownership"));
}

#[test]
fn exit_code_2_outside_a_git_work_tree() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join(SRC);
    fs::create_dir_all(src.join(NOTES)).unwrap();
    fs::write(src.join("registry.toml"), "title = \"Not in git\"\n").unwrap();
    fs::write(
        src.join(bundle_path(NOTES, "1.0.0")),
        app_bundle(NOTES, "1.0.0", &owner_key()),
    )
    .unwrap();

    let run = command()
        .current_dir(dir.path())
        .env("GIT_CEILING_DIRECTORIES", dir.path())
        .args(["check", SRC, "--base", "main"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    let message = stderr(&run);
    assert!(message.contains("not inside a git work tree"), "{message}");
    assert!(run.stdout.is_empty(), "{}", stdout(&run));
}

#[test]
fn exit_code_2_for_an_unknown_base_revision() {
    let (repo, _) = notes_registry();
    let run = repo.run(&["check", SRC, "--base", "origin/no-such-branch"], &[]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    let message = stderr(&run);
    assert!(
        message.contains("\"origin/no-such-branch\" is not a commit"),
        "{message}"
    );
    assert!(
        message.contains("`git fetch origin no-such-branch`"),
        "says what to do: {message}"
    );
    assert!(run.stdout.is_empty(), "{}", stdout(&run));
}

// ---------------------------------------------------------------------------------------------
// Yanked versions in the built site

#[test]
fn yanked_version_stays_in_build_output_and_is_never_latest() {
    let repo = Registry::in_git();
    repo.publish(NOTES, "1.0.0", &owner_key());
    repo.publish(NOTES, "2.0.0", &owner_key());
    repo.package_toml(
        NOTES,
        "owners = [\"alice\"]\nyanked = [{ version = \"2.0.0\", reason = \"loses notes\" }]\n",
    );
    repo.commit("notes 1.0.0, and 2.0.0 yanked");

    let out = repo.out();
    let outcome = repo.build();
    assert!(outcome.refused.is_empty(), "{:?}", outcome.refused);

    let read = |rel: &str| read_json(&out, rel);
    let app = read(&format!("apps/{NOTES}/index.json"));
    assert_eq!(app["latestVersion"], "1.0.0");
    let versions = app["versions"].as_array().unwrap();
    let yanked = versions
        .iter()
        .find(|v| v["version"] == "2.0.0")
        .expect("the yanked version is still listed");
    assert_eq!(yanked["yanked"], true);
    assert_eq!(yanked["yankReason"], "loses notes");
    let kept = versions.iter().find(|v| v["version"] == "1.0.0").unwrap();
    assert_eq!(kept["yanked"], false);
    // Still downloadable.
    let path = yanked["bundle"]["path"].as_str().unwrap();
    assert_eq!(
        fs::read(out.join(path.trim_start_matches('/'))).unwrap(),
        repo.read(&bundle_path(NOTES, "2.0.0"))
    );

    let catalog = read("index.json");
    let entry = &catalog["apps"][0];
    assert_eq!(entry["package"], NOTES);
    assert_eq!(entry["latestVersion"], "1.0.0");
    assert_eq!(entry["yankedVersions"], serde_json::json!(["2.0.0"]));

    // With every version yanked there is no latest at all.
    repo.package_toml(
        NOTES,
        "owners = [\"alice\"]\nyanked = [{ version = \"1.0.0\", reason = \"old\" }, { version = \"2.0.0\", reason = \"loses notes\" }]\n",
    );
    repo.commit("yank everything");
    repo.build();
    assert_eq!(
        read(&format!("apps/{NOTES}/index.json"))["latestVersion"],
        Value::Null
    );
}

#[test]
fn ownership_registry_settings_change_needs_a_maintainer() {
    let repo = Registry::in_git();
    repo.publish(NOTES, "1.0.0", &owner_key());
    repo.write("registry.toml", "maintainers = [\"root-admin\"]\n");
    let base = repo.commit("a registry with one maintainer");
    repo.write(
        "registry.toml",
        "maintainers = [\"root-admin\"]\nallow_dev_key = true\n",
    );
    repo.commit("allow the development key");

    let outcome = repo.check(&base, Some("mallory"));
    assert_refused(&outcome, "registry.toml", Rule::Ownership);
    assert_clear(&repo.check(&base, Some("root-admin")));
}

// ---------------------------------------------------------------------------------------------
// Output safety: file names in a change never become workflow commands

/// Whether `line` is an annotation `check --format github` writes: `::error` or `::warning`
/// with only `file=` (in the registry folder) and `title=` properties, then `::` and a message.
fn is_our_annotation(line: &str) -> bool {
    let Some(rest) = line
        .strip_prefix("::error ")
        .or_else(|| line.strip_prefix("::warning "))
    else {
        return false;
    };
    let Some((properties, _message)) = rest.split_once("::") else {
        return false;
    };
    properties
        .split(',')
        .all(|property| match property.split_once('=') {
            Some(("file", file)) => file.starts_with(&format!("{SRC}/")),
            Some(("title", _)) => true,
            _ => false,
        })
}

#[test]
fn format_github_output_cannot_be_hijacked_by_file_names() {
    let (repo, base) = notes_registry();
    let injected = "notes\n::error file=x::injected";
    let stop = "notes\n::stop-commands::tok";
    let legacy = "notes ##[error]legacy";
    for name in [injected, stop, legacy] {
        repo.write(&format!("{NOTES}/{name}"), "not a bundle\n");
    }
    repo.commit("files with hostile names");

    // Only the output is asserted on, not the verdict.
    let run = repo.run(&["check", SRC, "--base", &base, "--format", "github"], &[]);
    let (out, err) = (stdout(&run), stderr(&run));
    assert!(!out.is_empty(), "check printed nothing; stderr:\n{err}");
    // The runner reads both streams, a line at a time (CR, LF or CRLF ends one), and takes a
    // line for a command when it starts with "::" after white space, or has "##[" anywhere.
    for (stream, text) in [("stdout", &out), ("stderr", &err)] {
        for line in text.split(['\n', '\r']) {
            let context = || format!("{line:?} on {stream}:\n{out}\n{err}");
            assert_ne!(line.trim(), "::error file=x::injected", "{}", context());
            assert_ne!(line.trim(), "::stop-commands::tok", "{}", context());
            if line.trim_start().starts_with("::") {
                assert!(
                    stream == "stdout" && is_our_annotation(line),
                    "{}",
                    context()
                );
            } else {
                assert!(!line.contains("##["), "{}", context());
            }
            // Where one of these names appears, it appears escaped.
            if line.contains("injected") && !line.starts_with("::") {
                assert!(
                    line.contains("notes\\n::error file=x::injected"),
                    "{}",
                    context()
                );
            }
        }
    }
    for line in out.lines().filter(|l| l.starts_with("::")) {
        if line.contains("injected") {
            assert!(
                line.contains(&format!(
                    "file={SRC}/{NOTES}/notes%0A%3A%3Aerror file=x%3A%3Ainjected"
                )),
                "{line}"
            );
        }
        if line.contains("stop-commands") {
            assert!(
                line.contains(&format!(
                    "file={SRC}/{NOTES}/notes%0A%3A%3Astop-commands%3A%3Atok"
                )),
                "{line}"
            );
        }
    }
}
