//! Invariant 1: every path of the registry checks out on Linux, macOS and Windows. A path that
//! some clone cannot hold — a name over 255 bytes, a spelling of `.git` that git refuses to
//! check out — is refused by `check` (`source.path-name`), and `build` refuses it too instead
//! of failing. Such paths cannot be made in a work tree, so the commits are made from git's
//! objects, as an attacker would.

use crate::support::assert_refused;
use crate::support::bundle::*;
use crate::support::git::*;
use crate::support::registry::*;
use mpk_registry::report::Rule;

/// A registry with one ordinary package; returns it and the base commit.
fn registry() -> (Registry, String) {
    let repo = Registry::in_git();
    repo.publish("com.example.notes", "1.0.0", &key(1));
    repo.package_toml("com.example.notes", "owners = [\"alice\"]\n");
    let base = repo.commit("notes 1.0.0");
    (repo, base)
}

/// Stores `bytes` as a blob; returns its id.
fn blob(repo: &Registry, bytes: &[u8]) -> String {
    let path = repo.root().join("blob.tmp");
    std::fs::write(&path, bytes).unwrap();
    let id = repo.git(&["hash-object", "-w", "blob.tmp"]);
    std::fs::remove_file(path).unwrap();
    id
}

/// A commit on top of `parent` whose `registry-src/` also holds `entry` (a line of `git
/// mktree`'s input, which git does not check as it checks paths it adds); returns its id.
fn commit_with_entry(repo: &Registry, parent: &str, entry: &str) -> String {
    let mktree = |lines: String| git_with_input(repo.root(), &["mktree"], &lines);
    let src = repo.git(&["ls-tree", &format!("{parent}:{SRC}")]);
    let src = mktree(format!("{src}\n{entry}\n"));
    let root: Vec<String> = repo
        .git(&["ls-tree", parent])
        .lines()
        .map(|line| match line.split_once('\t') {
            Some((_, name)) if name == SRC => format!("040000 tree {src}\t{SRC}"),
            _ => line.to_owned(),
        })
        .collect();
    let root = mktree(root.join("\n") + "\n");
    repo.git(&[
        "commit-tree",
        &root,
        "-p",
        parent,
        "-m",
        "a path some clone cannot hold",
    ])
}

/// A valid bundle whose coordinates fit the manifest rules (128 bytes each) but whose file
/// name, `<package>-<version>.mpk`, is 261 bytes.
#[test]
fn path_name_a_bundle_file_name_over_255_bytes_is_refused() {
    let (repo, base) = registry();
    let (package, version) = ("p".repeat(128), format!("1.0.0-{}", "r".repeat(122)));
    let bundle = blob(&repo, &app_bundle(&package, &version, &key(2)));
    let file = bundle_path(&package, &version);
    let folder = git_with_input(
        repo.root(),
        &["mktree"],
        &format!(
            "100644 blob {bundle}\t{}\n",
            file.split_once('/').unwrap().1
        ),
    );
    let head = commit_with_entry(&repo, &base, &format!("040000 tree {folder}\t{package}"));
    let outcome = repo.check_range(&base, &head, None);
    assert_refused(&outcome, &file, Rule::PathName);
    assert_eq!(problems(&outcome, &file), [Rule::PathName]);

    // `build` of that tree refuses the file (exit 1) instead of failing on it.
    repo.git(&["read-tree", &head]);
    assert_refused(&repo.build(), &file, Rule::PathName);

    // The same bundle with a version that fits passes.
    let (repo, base) = registry();
    repo.publish(&package, "1.0.0", &key(2));
    repo.commit("a long package name");
    assert_clear(&repo.check(&base, None));
}

#[test]
fn path_name_a_folder_spelled_like_git_is_refused() {
    for name in [
        ".GIT",
        ".git.",
        ".Git ",
        "git~1",
        ".gitmodules",
        ".g\u{200c}it",
    ] {
        let (repo, base) = registry();
        let text = blob(&repo, b"owners = [\"mallory\"]\n");
        let folder = git_with_input(
            repo.root(),
            &["mktree"],
            &format!("100644 blob {text}\tpackage.toml\n"),
        );
        let head = commit_with_entry(&repo, &base, &format!("040000 tree {folder}\t{name}"));
        let outcome = repo.check_range(&base, &head, None);
        assert_refused(&outcome, &format!("{name}/package.toml"), Rule::PathName);
    }
}

#[test]
fn path_name_a_windows_device_name_is_refused() {
    let (repo, base) = registry();
    let settings = repo.package_toml("aux.tools", "owners = [\"bob\"]\n");
    repo.commit("aux.tools");
    let outcome = repo.check(&base, Some("bob"));
    assert_refused(&outcome, &settings, Rule::PathName);
}
