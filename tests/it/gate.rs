//! The gate against hostile pull requests: each attack, made with ordinary git on a throwaway
//! repository, is refused by `check --actor <attacker>` with the rule that names it, and
//! `build` refuses the state it would leave; the honest change of the same shape passes.

use std::fs;

use crate::support::assert_refused;
use crate::support::bundle::*;
use crate::support::git::*;
use crate::support::registry::*;
use mpk_registry::check::{self, ChangeKind, CheckOutcome};
use mpk_registry::report::Rule;

const VICTIM: &str = "com.victim";

/// A registry whose maintainer is `root`, with `com.victim` 1.0.0 signed by `key(1)` and owned
/// by `alice`; returns it and the base commit.
fn victim_registry() -> (Registry, String) {
    let repo = Registry::in_git();
    repo.write(
        "registry.toml",
        "title = \"Test registry\"\nmaintainers = [\"root\"]\n",
    );
    repo.publish(VICTIM, "1.0.0", &key(1));
    repo.package_toml(VICTIM, "owners = [\"alice\"]\n");
    let base = repo.commit("publish the victim");
    (repo, base)
}

/// The rules `build` refuses the work tree's registry for, by file.
fn build_refusals(repo: &Registry) -> Vec<(String, Vec<Rule>)> {
    let built = repo.build();
    if !built.refused.is_empty() {
        assert!(!repo.out().exists(), "a refused build writes nothing");
    }
    built
        .refused
        .iter()
        .map(|r| (r.file.clone(), r.problems.iter().map(|p| p.rule).collect()))
        .collect()
}

#[track_caller]
fn assert_build_refuses(repo: &Registry, file: &str, rule: Rule) {
    let refused = build_refusals(repo);
    assert!(
        refused
            .iter()
            .any(|(f, rules)| f == file && rules.contains(&rule)),
        "expected build to refuse {file} for {}; it refused {refused:?}",
        rule.code()
    );
}

#[track_caller]
fn assert_warned(outcome: &CheckOutcome, file: &str, rule: Rule) {
    let c = change(outcome, file);
    assert!(
        c.report.ok() && c.report.warnings.iter().any(|p| p.rule == rule),
        "expected a warning {} on {file}; report:\n{}",
        rule.code(),
        check::to_text(outcome)
    );
}

fn symlink_at_root(repo: &Registry, path: &str, target: &str) {
    std::os::unix::fs::symlink(target, repo.root().join(path)).expect("symlink");
}

// ---------------------------------------------------------------------------------------------
// The registry folder itself

#[test]
fn takeover_by_moving_the_folder_behind_a_symlink_is_refused() {
    let (repo, base) = victim_registry();
    repo.git(&["mv", SRC, "moved"]);
    symlink_at_root(&repo, SRC, "moved");
    repo.write_root(
        &format!("moved/{VICTIM}/package.toml"),
        "owners = [\"mallory\"]\n",
    );
    repo.write_root(
        &format!("moved/{}", bundle_path(VICTIM, "1.0.0")),
        app_bundle(VICTIM, "1.0.0", &key(2)),
    );
    repo.commit("move the registry");

    let outcome = repo.check(&base, Some("mallory"));
    assert_refused(&outcome, "/registry-src", Rule::NotATree);
    assert_refused(&outcome, &bundle_path(VICTIM, "1.0.0"), Rule::Immutable);
    assert_refused(
        &outcome,
        &format!("/moved/{VICTIM}/package.toml"),
        Rule::OutsideRegistry,
    );
    // The binary agrees, with exit code 1.
    let out = repo.run(&["check", SRC, "--base", &base, "--actor", "mallory"], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_build_refuses(&repo, "/registry-src", Rule::NotATree);
}

#[test]
fn a_head_that_does_not_contain_the_base_is_refused() {
    let (repo, first) = victim_registry();
    repo.git(&["checkout", "-q", "-b", "change"]);
    repo.publish(VICTIM, "1.1.0", &key(1));
    let head = repo.commit("victim 1.1.0");
    // The base branch is rewritten after the change was started.
    repo.git(&["checkout", "-q", "main"]);
    repo.write(
        "registry.toml",
        "title = \"Renamed\"\nmaintainers = [\"root\"]\n",
    );
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "--amend", "-m", "rewritten base"]);
    let rewritten = repo.git(&["rev-parse", "HEAD"]);

    let outcome = repo.check_range(&rewritten, &head, Some("alice"));
    assert!(outcome.refused());
    assert_eq!(
        outcome.problems.iter().map(|p| p.rule).collect::<Vec<_>>(),
        [Rule::BaseNotAncestor]
    );
    // The same change on its real base passes.
    assert_clear(&repo.check_range(&first, &head, Some("alice")));
}

// ---------------------------------------------------------------------------------------------
// What a file may be

#[test]
fn symlinked_bundle_is_refused() {
    let (repo, base) = victim_registry();
    repo.write(
        &format!("{VICTIM}/target.bin"),
        app_bundle(VICTIM, "1.1.0", &key(1)),
    );
    repo.symlink(&bundle_path(VICTIM, "1.1.0"), "target.bin");
    repo.commit("victim 1.1.0 as a link");

    let outcome = repo.check(&base, Some("alice"));
    assert_refused(&outcome, &bundle_path(VICTIM, "1.1.0"), Rule::NotAFile);
    assert_refused(&outcome, &format!("{VICTIM}/target.bin"), Rule::UnknownFile);
    assert_build_refuses(&repo, &bundle_path(VICTIM, "1.1.0"), Rule::NotAFile);
}

#[test]
fn a_symlinked_bundle_from_before_warns_and_editing_its_target_is_refused() {
    let (repo, _) = victim_registry();
    // A registry poisoned before the gate knew better.
    repo.write(
        &format!("{VICTIM}/target.bin"),
        app_bundle(VICTIM, "1.1.0", &key(1)),
    );
    repo.symlink(&bundle_path(VICTIM, "1.1.0"), "target.bin");
    let poisoned = repo.commit("victim 1.1.0 as a link");
    repo.write(
        &format!("{VICTIM}/target.bin"),
        app_bundle(VICTIM, "1.1.0", &key(2)),
    );
    repo.commit("swap what the link points at");

    let outcome = repo.check(&poisoned, Some("alice"));
    assert_refused(&outcome, &format!("{VICTIM}/target.bin"), Rule::UnknownFile);
    assert_warned(&outcome, &bundle_path(VICTIM, "1.1.0"), Rule::NotAFile);
    assert_build_refuses(&repo, &bundle_path(VICTIM, "1.1.0"), Rule::NotAFile);
}

#[test]
fn files_of_unknown_shapes_are_refused_and_need_the_package_owner() {
    let (repo, base) = victim_registry();
    repo.write(&format!("{VICTIM}/blobs/x"), "data");
    repo.write(&format!("{VICTIM}/a/b/c.toml"), "data");
    repo.commit("files of other shapes");

    let outcome = repo.check(&base, Some("mallory"));
    for file in [format!("{VICTIM}/blobs/x"), format!("{VICTIM}/a/b/c.toml")] {
        assert_refused(&outcome, &file, Rule::UnknownFile);
        assert_refused(&outcome, &file, Rule::Ownership);
    }
    assert_build_refuses(&repo, &format!("{VICTIM}/blobs/x"), Rule::UnknownFile);
}

#[test]
fn a_package_readme_by_its_owner_passes() {
    let (repo, base) = victim_registry();
    repo.write(&format!("{VICTIM}/README.md"), "# The victim app\n");
    repo.commit("readme");
    assert_clear(&repo.check(&base, Some("alice")));
    assert_problems_of(
        &repo.check(&base, Some("mallory")),
        &format!("{VICTIM}/README.md"),
        &[Rule::Ownership],
    );
}

#[track_caller]
fn assert_problems_of(outcome: &CheckOutcome, file: &str, rules: &[Rule]) {
    assert_eq!(
        problems(outcome, file),
        rules,
        "{}",
        check::to_text(outcome)
    );
}

#[test]
fn symlinked_package_toml_is_refused() {
    let (repo, base) = victim_registry();
    repo.write("com.new/owners.txt", "owners = [\"mallory\"]\n");
    repo.symlink("com.new/package.toml", "owners.txt");
    repo.commit("a package.toml that is a link");

    let outcome = repo.check(&base, Some("mallory"));
    assert_refused(&outcome, "com.new/package.toml", Rule::NotAFile);
    assert_build_refuses(&repo, "com.new/package.toml", Rule::NotAFile);
}

#[test]
fn control_characters_in_a_path_are_refused() {
    let (repo, base) = victim_registry();
    let name = format!("{VICTIM}/{VICTIM}-1.1.0\u{1b}[2J.mpk");
    repo.write(&name, app_bundle(VICTIM, "1.1.0", &key(1)));
    repo.commit("an escape in a name");

    let outcome = repo.check(&base, Some("alice"));
    assert_refused(&outcome, &name, Rule::PathName);
    assert_build_refuses(&repo, &name, Rule::PathName);
}

#[test]
fn a_dot_dot_tree_entry_is_refused() {
    let (repo, base) = victim_registry();
    // Ordinary git never writes such a tree; `git mktree` does.
    fs::write(repo.root().join("blob"), "owners = [\"mallory\"]\n").unwrap();
    let blob = repo.git(&["hash-object", "-w", "blob"]);
    let src_tree = format!(
        "{}\n100644 blob {blob}\t..\n",
        repo.git(&["ls-tree", &format!("HEAD:{SRC}")])
    );
    let src_tree = git_with_input(repo.root(), &["mktree"], &src_tree);
    let root_tree = format!("040000 tree {src_tree}\t{SRC}\n");
    let root_tree = git_with_input(repo.root(), &["mktree"], &root_tree);
    let head = repo.git(&["commit-tree", &root_tree, "-p", "HEAD", "-m", "dot dot"]);

    let outcome = repo.check_range(&base, &head, Some("alice"));
    assert_refused(&outcome, "..", Rule::PathName);
}

// ---------------------------------------------------------------------------------------------
// Renames, case and re-adding

#[test]
fn case_only_rename_of_a_package_is_refused() {
    let (repo, base) = victim_registry();
    repo.rename(
        &bundle_path(VICTIM, "1.0.0"),
        "Com.Victim/Com.Victim-1.0.0.mpk",
    );
    repo.commit("respell the package");

    let outcome = repo.check(&base, Some("alice"));
    assert_refused(&outcome, &bundle_path(VICTIM, "1.0.0"), Rule::Immutable);
}

#[test]
fn deleting_and_re_adding_a_package_in_one_change_is_refused() {
    let (repo, base) = victim_registry();
    repo.remove(&bundle_path(VICTIM, "1.0.0"));
    repo.remove(&format!("{VICTIM}/package.toml"));
    repo.publish(VICTIM, "1.0.0", &key(2));
    repo.package_toml(VICTIM, "owners = [\"mallory\"]\n");
    repo.commit("take the package over");

    let outcome = repo.check(&base, Some("mallory"));
    assert_refused(&outcome, &bundle_path(VICTIM, "1.0.0"), Rule::Immutable);
    assert_refused(&outcome, &format!("{VICTIM}/package.toml"), Rule::Ownership);
}

// ---------------------------------------------------------------------------------------------
// Settings judged whole

#[test]
fn a_new_org_needs_a_maintainer() {
    let (repo, base) = victim_registry();
    repo.write("orgs/package.toml", "members = [\"mallory\"]\n");
    repo.commit("an org named package");

    assert_problems_of(
        &repo.check(&base, Some("mallory")),
        "orgs/package.toml",
        &[Rule::Ownership],
    );
    assert_clear(&repo.check(&base, Some("root")));
}

/// `com.victim` maintained by org `team` (members: carol); returns the base.
fn org_registry(repo: &Registry) -> String {
    repo.write("orgs/team.toml", "members = [\"carol\"]\n");
    repo.package_toml(VICTIM, "owners = [\"alice\"]\norg = \"team\"\n");
    repo.commit("victim maintained by team")
}

#[test]
fn deleting_an_org_that_a_package_names_is_refused() {
    let (repo, _) = victim_registry();
    let base = org_registry(&repo);
    repo.remove("orgs/team.toml");
    repo.commit("drop the org");

    let by_member = repo.check(&base, Some("carol"));
    assert_refused(&by_member, "orgs/team.toml", Rule::Ownership);
    // The package that names it is untouched, but the change leaves it dangling.
    let c = change(&by_member, &format!("{VICTIM}/package.toml"));
    assert_eq!(c.kind, ChangeKind::Unchanged);
    assert_refused(
        &by_member,
        &format!("{VICTIM}/package.toml"),
        Rule::PackageConfig,
    );
    // Even a maintainer cannot leave a package naming a missing org.
    let by_maintainer = repo.check(&base, Some("root"));
    assert_problems_of(
        &by_maintainer,
        &format!("{VICTIM}/package.toml"),
        &[Rule::PackageConfig],
    );
    assert_build_refuses(
        &repo,
        &format!("{VICTIM}/package.toml"),
        Rule::PackageConfig,
    );
}

#[test]
fn a_stranger_re_creating_a_deleted_org_is_refused() {
    let (repo, _) = victim_registry();
    org_registry(&repo);
    repo.remove("orgs/team.toml");
    let dangling = repo.commit("org deleted before the gate knew better");
    repo.write("orgs/team.toml", "members = [\"mallory\"]\n");
    repo.commit("a new org of the same name");

    let outcome = repo.check(&dangling, Some("mallory"));
    assert_problems_of(&outcome, "orgs/team.toml", &[Rule::Ownership]);
}

#[test]
fn problems_already_at_the_base_warn_and_never_stop_the_gate() {
    let (repo, _) = victim_registry();
    // Poisoned before the gate knew better: unreadable settings, an unknown file.
    repo.write("orgs/broken.toml", "members = [");
    repo.write(&format!("{VICTIM}/notes.txt"), "x");
    repo.write_root(&format!("{SRC}/huge/package.toml"), vec![b'#'; 2 << 20]);
    let poisoned = repo.commit("poison");
    repo.publish("com.bob", "1.0.0", &key(3));
    repo.package_toml("com.bob", "owners = [\"bob\"]\n");
    repo.commit("bob's new package");

    let outcome = repo.check(&poisoned, Some("bob"));
    assert!(!outcome.refused(), "{}", check::to_text(&outcome));
    assert_warned(&outcome, "orgs/broken.toml", Rule::Settings);
    assert_warned(&outcome, &format!("{VICTIM}/notes.txt"), Rule::UnknownFile);
    assert_warned(&outcome, "huge/package.toml", Rule::Settings);
    // Touching a poisoned file makes its problem the change's own.
    repo.write("orgs/broken.toml", "members = [\"root\"");
    repo.commit("still broken");
    assert_refused(
        &repo.check(&poisoned, Some("root")),
        "orgs/broken.toml",
        Rule::Settings,
    );
}

// ---------------------------------------------------------------------------------------------
// .gitattributes

#[test]
fn gitattributes_inside_the_registry_is_refused() {
    let (repo, base) = victim_registry();
    repo.write(".gitattributes", "com.victim/*.mpk text eol=crlf\n");
    repo.commit("attributes");

    assert_refused(
        &repo.check(&base, Some("root")),
        ".gitattributes",
        Rule::Gitattributes,
    );
    assert_build_refuses(&repo, ".gitattributes", Rule::Gitattributes);
}

#[test]
fn gitattributes_at_the_root_that_apply_to_the_registry_are_refused() {
    let (repo, base) = victim_registry();
    repo.write_root(".gitattributes", "*.mpk text eol=crlf\n");
    repo.commit("attributes at the root");

    let by_maintainer = repo.check(&base, Some("root"));
    assert_refused(&by_maintainer, "/.gitattributes", Rule::Gitattributes);
    let by_stranger = repo.check(&base, Some("mallory"));
    assert_refused(&by_stranger, "/.gitattributes", Rule::OutsideRegistry);
    assert_build_refuses(&repo, "/.gitattributes", Rule::Gitattributes);
}

#[test]
fn gitattributes_at_the_root_that_spare_the_registry_pass() {
    let (repo, base) = victim_registry();
    repo.write_root(".gitattributes", "*.rs text eol=lf\n*.mpk -text\n");
    repo.commit("attributes for the sources");

    assert_clear(&repo.check(&base, Some("root")));
    assert_eq!(build_refusals(&repo), []);
}

// ---------------------------------------------------------------------------------------------
// Outside the registry folder

#[test]
fn changes_outside_the_registry_need_a_maintainer() {
    let (repo, base) = victim_registry();
    repo.write_root(".github/workflows/pr-check.yml", "on: push\n");
    repo.write_root("src/check.rs", "fn main() {}\n");
    repo.commit("edit the gate");

    let outcome = repo.check(&base, Some("mallory"));
    for file in ["/.github/workflows/pr-check.yml", "/src/check.rs"] {
        assert_problems_of(&outcome, file, &[Rule::OutsideRegistry]);
    }
    assert_clear(&repo.check(&base, Some("root")));
}

// ---------------------------------------------------------------------------------------------
// What build publishes is what git holds

#[test]
fn build_refuses_a_bundle_whose_work_tree_bytes_are_not_what_git_holds() {
    let (repo, _) = victim_registry();
    // A hard link shares the bundle's bytes with a file outside the repository; writing
    // through it changes the work tree without git knowing.
    let outside = repo.root().parent().unwrap().join("outside.mpk");
    let tracked = repo.src().join(bundle_path(VICTIM, "1.0.0"));
    fs::hard_link(&tracked, &outside).expect("hard link");
    fs::write(&outside, app_bundle(VICTIM, "1.0.0", &key(2))).unwrap();

    assert_build_refuses(&repo, &bundle_path(VICTIM, "1.0.0"), Rule::NotInGit);
    // Once git holds those bytes, they are what is judged (and published, if they pass).
    repo.git(&["add", "-A"]);
    assert_eq!(build_refusals(&repo), []);
}

#[test]
fn build_refuses_settings_whose_work_tree_bytes_are_not_what_git_holds() {
    let (repo, _) = victim_registry();
    repo.package_toml(VICTIM, "owners = [\"mallory\"]\n");
    assert_build_refuses(&repo, &format!("{VICTIM}/package.toml"), Rule::NotInGit);
}
