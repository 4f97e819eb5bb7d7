//! `build` run as a program: a build stopped by SIGINT or SIGTERM removes its staging folder and
//! leaves the live site as it was; one killed outright leaves its folder to the next build, which
//! removes it, but never one a running build still writes. And what a build says about bundles
//! git leaves out: ignored ones are named, publishing none of the bundles in the folder is a
//! warning, and `--strict` makes warnings errors.
//!
//! Signals land at a known point: `MPK_REGISTRY_TEST_PAUSE_STAGING` names a FIFO on which the
//! build announces its staging folder, then waits until it is told to stop.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::bundle::WASM;
use crate::support::cli::{code, stderr, stdout};
use crate::support::registry::{copy_dir, staging_leftovers, tree, Registry, STAGING_PREFIX};
use crate::support::repo_path;
use mpk_registry::site::output::PAUSE_STAGING_ENV;

/// A git repository holding a copy of the sample registry in `registry-src/`, committed.
fn sample() -> Registry {
    let repo = sample_uncommitted();
    repo.commit("Sample registry");
    repo
}

/// The sample registry copied into a new repository, nothing added to git yet.
fn sample_uncommitted() -> Registry {
    let repo = Registry::new();
    copy_dir(&repo_path("registry-src"), &repo.src());
    repo.git_init();
    repo
}

/// `build registry-src` with `args`, run in the root (so its default cache folder is there
/// too), to the end.
fn build(repo: &Registry, args: &[&str]) -> Output {
    let mut all = vec!["build", "registry-src"];
    all.extend_from_slice(args);
    repo.run(&all, &[])
}

/// `build registry-src`, insisting that it succeeds.
fn build_ok(repo: &Registry, args: &[&str]) -> Output {
    let out = build(repo, args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    out
}

/// Starts `build registry-src -o <out> --no-cache` and returns once it has its staging
/// folder and waits: the child and the folder.
fn paused_build(repo: &Registry, out: &str) -> (Child, PathBuf) {
    let fifo = repo.root().join(format!("pause-{out}"));
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0, "mkfifo");
    let mut child = repo
        .command(&["build", "registry-src", "-o", out, "--no-cache"])
        .env(PAUSE_STAGING_ENV, &fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the build starts");
    // Read on a thread, so a build that ends before it gets there fails the test rather
    // than leaving it waiting on the FIFO for ever.
    let (sender, announced) = mpsc::channel();
    std::thread::spawn(move || sender.send(fs::read_to_string(fifo)));
    loop {
        match announced.recv_timeout(Duration::from_millis(50)) {
            Ok(text) => {
                let staging = PathBuf::from(text.expect("read the FIFO").trim_end());
                assert!(staging.is_dir(), "{} is not a folder", staging.display());
                assert!(lock_of(&staging).is_file(), "no lock file beside it");
                return (child, staging);
            }
            Err(_) => {
                if child.try_wait().unwrap().is_some() {
                    let out = child.wait_with_output().unwrap();
                    panic!("the build ended before staging: {}", stderr(&out));
                }
            }
        }
    }
}

fn lock_of(staging: &Path) -> PathBuf {
    let mut name = staging.file_name().unwrap().to_owned();
    name.push(".lock");
    staging.with_file_name(name)
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: plain kill(2) on the child's pid, which it keeps until waited for.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0, "kill");
}

/// A build stopped mid-staging by `sig`: exits with `code`, says so, removes its staging folder
/// and leaves the site of the build before byte for byte.
fn stopped_mid_staging(sig: i32, name: &str, expected: i32) {
    let repo = sample();
    build_ok(&repo, &["--no-cache"]);
    let before = tree(&repo.out());
    // Something to change, so a site would replace the previous one if the build went on.
    repo.git(&[
        "rm",
        "--quiet",
        "registry-src/com.example.workspace/com.example.workspace-0.3.0.mpk",
    ]);

    let (child, staging) = paused_build(&repo, "public");
    signal(&child, sig);
    let out = child.wait_with_output().unwrap();

    assert_eq!(code(&out), expected, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("interrupted by {name}")),
        "{}",
        stderr(&out)
    );
    assert!(!staging.exists());
    assert_eq!(staging_leftovers(repo.root()), Vec::<String>::new());
    assert!(tree(&repo.out()) == before, "the previous site changed");
}

#[test]
fn sigint_mid_staging_removes_the_staging_folder_and_exits_130() {
    stopped_mid_staging(libc::SIGINT, "SIGINT", 130);
}

#[test]
fn sigterm_mid_staging_removes_the_staging_folder_and_exits_143() {
    stopped_mid_staging(libc::SIGTERM, "SIGTERM", 143);
}

#[test]
fn the_build_after_a_killed_one_removes_its_staging_folder() {
    let repo = sample();
    let (mut child, staging) = paused_build(&repo, "public");
    signal(&child, libc::SIGKILL);
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(
        staging.is_dir(),
        "SIGKILL cannot be handled: the folder stays"
    );

    build_ok(&repo, &["--no-cache"]);
    assert_eq!(staging_leftovers(repo.root()), Vec::<String>::new());
}

#[test]
fn a_staging_folder_of_a_running_build_is_not_removed() {
    let repo = sample();
    let (child, staging) = paused_build(&repo, "public");

    // Another build beside it, to another output: it looks for abandoned staging folders.
    build_ok(&repo, &["-o", "other", "--no-cache"]);
    assert!(
        staging.is_dir(),
        "a running build's staging folder was removed"
    );
    assert!(lock_of(&staging).is_file());

    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 130, "{}", stderr(&out));
    assert_eq!(staging_leftovers(repo.root()), Vec::<String>::new());
}

#[test]
fn a_staging_folder_without_a_lock_file_is_left_alone() {
    // As an older mpk-registry makes them, which may be writing it right now.
    let repo = sample();
    let legacy = repo.root().join(format!("{STAGING_PREFIX}legacy"));
    fs::create_dir(&legacy).unwrap();
    fs::write(legacy.join("index.json"), "{}").unwrap();

    build_ok(&repo, &["--no-cache"]);
    assert!(legacy.join("index.json").is_file());
}

#[test]
fn bundles_git_ignores_are_named() {
    let repo = sample();
    let chat = repo.src().join("com.calimero.chat");
    let bundle = chat.join("com.calimero.chat-1.0.0.mpk");
    fs::write(repo.root().join(".gitignore"), "*-9.0.0.mpk\n").unwrap();
    fs::copy(&bundle, chat.join("com.calimero.chat-9.0.0.mpk")).unwrap();
    fs::copy(&bundle, chat.join("com.calimero.chat-8.0.0.mpk")).unwrap();

    let out = build_ok(&repo, &["--no-cache"]);
    let notes = stderr(&out);
    assert!(
        notes.contains("note: 1 bundle(s) ignored by git (.gitignore) were left out: com.calimero.chat/com.calimero.chat-9.0.0.mpk\n"),
        "{notes}"
    );
    // Named once, as ignored, not also as untracked.
    assert!(
        notes.contains("note: 1 bundle(s) not tracked by git were left out (git add them to publish): com.calimero.chat/com.calimero.chat-8.0.0.mpk\n"),
        "{notes}"
    );
    assert!(!notes.contains("0 bundles published"), "{notes}");
}

/// A repository whose registry tracks its settings but no bundle: the chat bundles are ignored
/// by git, the others were never added.
fn repo_with_no_bundle_in_git() -> Registry {
    let repo = sample_uncommitted();
    fs::write(repo.root().join(".gitignore"), "com.calimero.chat/\n").unwrap();
    repo.git(&["add", "--", ".gitignore", "registry-src/registry.toml"]);
    repo.git(&["commit", "--quiet", "-m", "Settings only"]);
    repo
}

const NOTHING_PUBLISHED: &str = "warning: 0 bundles published, but 6 .mpk file(s) are under registry-src: 4 not tracked by git, 2 ignored by git (.gitignore)\n";

#[test]
fn publishing_no_bundle_while_bundle_files_are_there_is_a_warning() {
    let repo = repo_with_no_bundle_in_git();
    let out = build_ok(&repo, &["--no-cache"]);
    assert!(stderr(&out).contains(NOTHING_PUBLISHED), "{}", stderr(&out));
    // A warning, not an error: the (empty) site is written.
    assert!(repo.out().join("index.json").is_file());
}

#[test]
fn strict_writes_nothing_when_no_bundle_would_be_published() {
    let repo = sample();
    build_ok(&repo, &["--no-cache"]);
    let before = tree(&repo.out());
    // A .gitignore that swallows every bundle, committed with them removed from git (and
    // the package settings, which name versions that are no longer there).
    fs::write(repo.root().join(".gitignore"), "*.mpk\n").unwrap();
    repo.git(&["rm", "-r", "--cached", "--quiet", "registry-src"]);
    repo.git(&["add", "--", ".gitignore", "registry-src/registry.toml"]);
    repo.git(&["commit", "--quiet", "-m", "Ignore bundles"]);

    let out = build(&repo, &["--no-cache", "--strict"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: 0 bundles published, but 6 .mpk file(s) are under registry-src: 6 ignored by git (.gitignore)\n"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("warnings are errors (--strict); nothing was written"),
        "{}",
        stdout(&out)
    );
    assert!(tree(&repo.out()) == before, "the site changed");
}

/// Adds a bundle whose manifest gives both `services` and a top-level `wasm` (a warning),
/// packed and signed by the tool itself with a new key, and commits it.
fn add_warned_bundle(repo: &Registry) {
    let work = repo.root().join("pack");
    fs::create_dir(&work).unwrap();
    fs::write(work.join("store.wasm"), WASM).unwrap();
    fs::write(
        work.join("manifest.json"),
        r#"{"version": "1.0", "package": "com.example.warned", "appVersion": "1.0.0",
            "minRuntimeVersion": "0.2.0", "metadata": {"name": "Warned"},
            "wasm": {"path": "store.wasm"},
            "services": [{"name": "store", "wasm": {"path": "store.wasm"}}]}"#,
    )
    .unwrap();
    let key = work.join("key.json");
    let dir = repo.src().join("com.example.warned");
    fs::create_dir(&dir).unwrap();
    let bundle = dir.join("com.example.warned-1.0.0.mpk");
    for args in [
        vec!["keygen", "-o", key.to_str().unwrap()],
        vec![
            "pack",
            work.join("manifest.json").to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "-o",
            bundle.to_str().unwrap(),
        ],
    ] {
        let out = repo.run(&args, &[]);
        assert_eq!(code(&out), 0, "{args:?}: {}{}", stdout(&out), stderr(&out));
    }
    repo.git(&["add", "--", "registry-src"]);
    repo.git(&["commit", "--quiet", "-m", "Add a bundle with a warning"]);
}

#[test]
fn strict_writes_nothing_when_a_bundle_has_warnings() {
    let repo = sample();
    add_warned_bundle(&repo);
    // Without --strict, the bundle is published with its warning.
    let out = build_ok(&repo, &["--no-cache", "-o", "lenient"]);
    assert!(
        stdout(&out).contains("manifest.services-override"),
        "{}",
        stdout(&out)
    );

    let out = build(&repo, &["--no-cache", "--strict"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("manifest.services-override"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("warnings are errors (--strict); nothing was written"),
        "{}",
        stdout(&out)
    );
    assert!(!repo.out().exists());
}

#[test]
fn strict_fails_an_up_to_date_build_whose_bundles_have_warnings() {
    let repo = sample();
    add_warned_bundle(&repo);
    build_ok(&repo, &[]);
    // Same inputs, same cache: nothing is verified again, the recorded warnings still count.
    let out = build(&repo, &["--strict"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("manifest.services-override"),
        "{}",
        stdout(&out)
    );
}
