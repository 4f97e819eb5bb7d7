//! `mpk-registry init`: what it writes, the pin it writes, and when it refuses.

use std::fs;
use std::path::Path;
use std::process::Output;

use crate::support::cli::{command, stdout_and_stderr};
use crate::support::repo_file;

use mpk_registry::init::{self, ActionRef};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const ACTION: &str = "calimero-network/mpk-registry@0123456789abcdef0123456789abcdef01234567";

const FILES: [&str; 4] = [
    "registry-src/registry.toml",
    "registry-src/README.md",
    ".github/workflows/registry-check.yml",
    ".github/workflows/registry-deploy.yml",
];

/// Runs the binary with `args`, then `dir`.
fn run_on(args: &[&str], dir: &Path) -> Output {
    command()
        .args(args)
        .arg(dir)
        .output()
        .expect("run mpk-registry")
}

fn init_into(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["init", "--action", ACTION];
    args.extend(extra);
    run_on(&args, dir)
}

fn read(dir: &Path, rel: &str) -> String {
    fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn init_writes_a_registry_that_builds() {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let dir = tmp.path().join("registry");
    let out = init_into(&dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    for rel in FILES {
        assert!(dir.join(rel).is_file(), "{rel} was not written");
    }
    let site = tmp.path().join("site");
    let out = command()
        .args(["build", "--no-cache", "-o"])
        .arg(&site)
        .arg(dir.join("registry-src"))
        .output()
        .expect("run mpk-registry build");
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    assert!(
        stdout_and_stderr(&out).contains("0 apps"),
        "{}",
        stdout_and_stderr(&out)
    );
    assert!(site.join("index.json").is_file());
}

#[test]
fn init_writes_this_repositorys_workflows_with_the_action_pinned() {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let out = init_into(tmp.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    for (ours, theirs) in [
        ("pr-check.yml", "registry-check.yml"),
        ("pages.yml", "registry-deploy.yml"),
    ] {
        let expected = repo_file(&format!(".github/workflows/{ours}"))
            .replace("      - uses: ./\n", &format!("      - uses: {ACTION}\n"));
        assert_ne!(expected, repo_file(&format!(".github/workflows/{ours}")));
        assert_eq!(
            read(tmp.path(), &format!(".github/workflows/{theirs}")),
            expected,
            "{theirs}"
        );
    }
}

#[test]
fn init_prints_the_pin_and_the_branch_protection_to_turn_on() {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let out = init_into(tmp.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needed in [
        ACTION,
        "Require a pull request before merging",
        "Require status checks to pass: \"Registry check\"",
        "Require review from Code Owners",
        "/registry-src/registry.toml",
        "Block force pushes and deletions",
        "Restrict who may push to main",
        "pull_request_target",
    ] {
        assert!(stdout.contains(needed), "no {needed:?} in:\n{stdout}");
    }
}

#[test]
fn init_output_is_deterministic() {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let out_a = init_into(&a, &[]);
    let out_b = init_into(&b, &[]);
    for rel in FILES {
        assert_eq!(read(&a, rel), read(&b, rel), "{rel}");
    }
    let strip = |out: &Output, dir: &Path| {
        String::from_utf8_lossy(&out.stdout).replace(&dir.display().to_string(), "DIR")
    };
    assert_eq!(strip(&out_a, &a), strip(&out_b, &b));
}

#[test]
fn init_refuses_an_action_not_pinned_to_a_full_sha() {
    let tmp = tempfile::tempdir().expect("temporary folder");
    for action in [
        "calimero-network/mpk-registry@v1",
        "calimero-network/mpk-registry@main",
        "calimero-network/mpk-registry@0123456",
        "calimero-network/mpk-registry",
    ] {
        let out = run_on(&["init", "--action", action], tmp.path());
        assert_eq!(
            out.status.code(),
            Some(2),
            "{action}: {}",
            stdout_and_stderr(&out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("40-hex"), "{action}: {stderr}");
        assert!(
            !tmp.path().join("registry-src").exists(),
            "{action}: wrote files"
        );
    }
    let out = run_on(
        &["init", "--action", "calimero-network/mpk-registry@v1"],
        tmp.path(),
    );
    assert!(
        stdout_and_stderr(&out)
            .contains("a tag, a branch or a short SHA can be made to point at other code"),
        "{}",
        stdout_and_stderr(&out)
    );
}

#[test]
fn init_refuses_an_action_that_is_not_a_github_repository() {
    let tmp = tempfile::tempdir().expect("temporary folder");
    for repository in ["mpk-registry", "a/b/c", "a/b\nrun: x", "../x", "a/"] {
        let action = format!("{repository}@{SHA}");
        let out = run_on(&["init", "--action", &action], tmp.path());
        assert_eq!(
            out.status.code(),
            Some(2),
            "{action:?}: {}",
            stdout_and_stderr(&out)
        );
        assert!(
            stdout_and_stderr(&out).contains("is not a GitHub repository"),
            "{action:?}: {}",
            stdout_and_stderr(&out)
        );
    }
    assert!(!tmp.path().join("registry-src").exists());
}

#[test]
fn init_refuses_existing_files_naming_each() {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let dir = tmp.path();
    fs::create_dir_all(dir.join("registry-src")).expect("create registry-src");
    fs::create_dir_all(dir.join(".github/workflows")).expect("create .github/workflows");
    fs::write(dir.join(FILES[0]), "title = \"mine\"\n").expect("write");
    fs::write(dir.join(FILES[3]), "mine\n").expect("write");
    let out = init_into(dir, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout_and_stderr(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for rel in [FILES[0], FILES[3]] {
        assert!(stderr.contains(rel), "{rel} not named: {stderr}");
    }
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(read(dir, FILES[0]), "title = \"mine\"\n");
    assert!(
        !dir.join(FILES[1]).exists(),
        "wrote beside an existing file"
    );
    assert!(
        !dir.join(FILES[2]).exists(),
        "wrote beside an existing file"
    );
}

#[test]
fn init_refuses_a_dangling_symlink_in_place_of_a_file() {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let dir = tmp.path().join("registry");
    fs::create_dir_all(dir.join("registry-src")).expect("create registry-src");
    let elsewhere = tmp.path().join("elsewhere");
    std::os::unix::fs::symlink(&elsewhere, dir.join(FILES[1])).expect("symlink");
    let out = init_into(&dir, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout_and_stderr(&out));
    assert!(
        stdout_and_stderr(&out).contains(FILES[1]),
        "{}",
        stdout_and_stderr(&out)
    );
    assert!(!elsewhere.exists(), "wrote through the symlink");
}

#[test]
fn init_force_replaces_existing_files_and_not_what_a_symlink_points_to() {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let dir = tmp.path().join("registry");
    fs::create_dir_all(dir.join("registry-src")).expect("create registry-src");
    fs::write(dir.join(FILES[0]), "title = \"mine\"\n").expect("write");
    let elsewhere = tmp.path().join("elsewhere");
    fs::write(&elsewhere, "keep me\n").expect("write");
    std::os::unix::fs::symlink(&elsewhere, dir.join(FILES[1])).expect("symlink");
    let out = init_into(&dir, &["--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    assert_eq!(
        read(&dir, FILES[0]),
        repo_file("templates/init/registry.toml")
    );
    assert_eq!(read(&dir, FILES[1]), repo_file("templates/init/README.md"));
    assert!(!dir.join(FILES[1]).is_symlink());
    assert_eq!(fs::read_to_string(&elsewhere).expect("read"), "keep me\n");
}

#[test]
fn init_without_action_pins_the_commit_it_was_built_from() {
    let built = ActionRef::of_this_build()
        .expect("the tests are built from a git checkout of this repository");
    let tmp = tempfile::tempdir().expect("temporary folder");
    let out = run_on(&["init"], tmp.path());
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    let check = read(tmp.path(), FILES[2]);
    let line = format!(
        "      - uses: calimero-network/mpk-registry@{} # v{}\n",
        built.commit,
        env!("CARGO_PKG_VERSION")
    );
    assert!(check.contains(&line), "no {line:?} in:\n{check}");
}

#[test]
fn action_of_a_build_comes_from_the_repository_url_and_commit() {
    let action = ActionRef::from_build(
        "https://github.com/calimero-network/mpk-registry",
        Some(SHA),
        "1.2.3",
    )
    .expect("a github.com build with a commit");
    assert_eq!(
        action.to_string(),
        format!("calimero-network/mpk-registry@{SHA} # v1.2.3")
    );
    assert_eq!(
        ActionRef::from_build("https://github.com/o/r", None, "1.2.3"),
        None,
        "no commit, no pin"
    );
    assert_eq!(
        ActionRef::from_build("https://gitlab.com/o/r", Some(SHA), "1.2.3"),
        None,
        "only GitHub runs actions"
    );
}

#[test]
fn init_without_action_or_a_build_commit_asks_for_action() {
    let err = init::resolve_action(None, None).expect_err("nothing to pin");
    assert!(err
        .to_string()
        .contains("pass --action OWNER/REPO@<40-hex commit SHA>"));
    let given = init::resolve_action(Some(ACTION), None).expect("--action is enough");
    assert_eq!(given.commit, SHA);
}

#[test]
fn init_action_sha_is_written_lowercase() {
    let upper = format!("o/r@{}", SHA.to_ascii_uppercase());
    let action = ActionRef::parse(&upper).expect("hex in either case");
    assert_eq!(action.to_string(), format!("o/r@{SHA}"));
}

#[test]
fn init_makes_a_git_repository_on_main_when_there_is_none() {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let dir = tmp.path().join("registry");
    let out = init_into(&dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    assert_eq!(read(&dir, ".git/HEAD"), "ref: refs/heads/main\n");
    assert!(stdout_and_stderr(&out).contains("initialized a git repository"));
}

#[test]
fn init_inside_a_repository_leaves_git_alone() {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let repo = tmp.path().join("repo");
    fs::create_dir(&repo).unwrap();
    crate::support::git::git(&repo, &["init", "--quiet"]);
    let dir = repo.join("registry");
    let out = init_into(&dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    assert!(
        !dir.join(".git").exists(),
        "no repository inside the repository"
    );
    assert!(!stdout_and_stderr(&out).contains("initialized"));
}

#[test]
fn init_ignores_what_build_writes_and_keeps_an_existing_gitignore() {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let out = init_into(tmp.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    let ignored = read(tmp.path(), ".gitignore");
    assert!(ignored.lines().any(|l| l == "public/"), "{ignored}");
    assert!(ignored.lines().any(|l| l == ".mpk-cache/"), "{ignored}");

    let other = tempfile::tempdir().expect("temporary folder");
    fs::write(other.path().join(".gitignore"), "target\npublic/").unwrap();
    init_into(other.path(), &[]);
    assert_eq!(
        read(other.path(), ".gitignore"),
        "target\npublic/\n.mpk-cache/\n"
    );
    // Nothing is added twice.
    init_into(other.path(), &["--force"]);
    assert_eq!(
        read(other.path(), ".gitignore"),
        "target\npublic/\n.mpk-cache/\n"
    );
}

#[test]
fn init_maintainers_fill_registry_toml_and_codeowners() {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let args = ["--maintainer", "alice", "--maintainer", "@bob-2"];
    let out = init_into(tmp.path(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    let settings: mpk_registry::config::RegistryConfig =
        mpk_registry::config::load(&tmp.path().join("registry-src/registry.toml")).unwrap();
    assert_eq!(settings.maintainers, ["alice", "bob-2"]);
    let owners = read(tmp.path(), ".github/CODEOWNERS");
    assert!(
        owners.contains("\n/.github/                    @alice @bob-2\n"),
        "{owners}"
    );
    assert!(
        owners.contains("\n/registry-src/registry.toml  @alice @bob-2\n"),
        "{owners}"
    );
    // Without maintainers there is no CODEOWNERS to guess, and the next steps say so.
    let bare = tempfile::tempdir().expect("temporary folder");
    let out = init_into(bare.path(), &[]);
    assert!(!bare.path().join(".github/CODEOWNERS").exists());
    assert!(stdout_and_stderr(&out).contains("--maintainer LOGIN"));
}

#[test]
fn init_refuses_a_maintainer_that_is_not_a_github_login() {
    for bad in [
        "",
        "-alice",
        "al--ice",
        "alice/team",
        "a b",
        &"a".repeat(40),
    ] {
        let tmp = tempfile::tempdir().expect("temporary folder");
        let out = init_into(tmp.path(), &[&format!("--maintainer={bad}")]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(
            stdout_and_stderr(&out).contains("is not a GitHub login"),
            "{bad:?}: {}",
            stdout_and_stderr(&out)
        );
        assert!(
            fs::read_dir(tmp.path()).unwrap().next().is_none(),
            "nothing written"
        );
    }
}

/// What `init` prints: what it did, the pin, and the next steps (base_url, signing, hosts that
/// serve Desktop, the settings on GitHub).
#[test]
fn init_prints_the_next_steps() {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let args = [
        "init",
        "--action",
        ACTION,
        "--maintainer",
        "alice",
        "registry",
    ];
    let out = crate::support::cli::run_in(tmp.path(), args);
    let text = crate::support::cli::transcript(&args, &out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for needed in [
        "base_url",
        "keygen",
        "--into registry-src",
        "preflight",
        "GitHub Pages",
        "public repository",
    ] {
        assert!(text.contains(needed), "no {needed:?} in:\n{text}");
    }
    crate::support::golden::assert_golden("cli/init.txt", text);
}
