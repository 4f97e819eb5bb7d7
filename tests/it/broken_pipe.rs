//! Output to a reader that went away (`mpk-registry check … | head -c1`) never panics, and
//! never changes a verdict: `check`, `verify` and `build` exit with theirs, so a refusal piped
//! into a reader that stops early is still a refusal; other commands end quietly with 0.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};

use crate::support::bundle::*;
use crate::support::cli::command;
use crate::support::registry::*;

/// Runs `run` with its standard output read for `read` bytes and then closed, as `head -c1`
/// would (0: closed before anything is written); returns how it exited and its stderr.
fn with_reader_gone(mut run: Command, read: usize) -> (ExitStatus, String) {
    let mut child = run
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut first = vec![0u8; read];
    stdout.read_exact(&mut first).expect("some output");
    drop(stdout);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = child.wait().expect("the binary exits");
    assert!(!stderr.contains("panicked"), "{stderr}");
    (status, stderr)
}

#[test]
fn verify_whose_reader_goes_away_exits_with_its_verdict() {
    let dir = tempfile::tempdir().expect("temporary folder");
    // Enough refused files that their reports fill the pipe's buffer long after it closed.
    let files: Vec<String> = (0..4000)
        .map(|i| {
            let path = dir.path().join(format!("junk-{i}.mpk"));
            std::fs::write(&path, b"not a bundle").expect("write");
            path.display().to_string()
        })
        .collect();
    let mut run = command();
    run.arg("verify").args(&files);
    let (status, stderr) = with_reader_gone(run, 1);
    assert_eq!(status.code(), Some(1), "{stderr}");
}

/// A registry whose last commit adds a bundle `check` refuses; returns it and the base.
fn refused_change() -> (Registry, String) {
    let repo = Registry::in_git();
    let base = repo.commit("empty registry");
    repo.write(&bundle_path("com.example.app", "1.0.0"), b"not a bundle");
    repo.commit("a bundle that is not one");
    (repo, base)
}

#[test]
fn check_whose_reader_goes_away_exits_with_its_verdict() {
    let (repo, base) = refused_change();
    for format in ["text", "json", "github"] {
        let run = repo.command(&["check", SRC, "--base", &base, "--format", format]);
        let (status, stderr) = with_reader_gone(run, 0);
        assert_eq!(status.code(), Some(1), "--format {format}: {stderr}");
    }
}

#[test]
fn build_whose_reader_goes_away_exits_with_its_verdict() {
    let (repo, _) = refused_change();
    let run = repo.command(&["build", SRC, "--no-cache"]);
    let (status, stderr) = with_reader_gone(run, 0);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!repo.out().exists(), "a refused build writes nothing");
}

#[test]
fn other_commands_end_quietly_when_their_reader_goes_away() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("app.mpk");
    std::fs::write(&path, app_bundle("com.example.app", "1.0.0", &key(1))).expect("write");
    let mut run = command();
    run.arg("inspect").arg(&path);
    let (status, stderr) = with_reader_gone(run, 0);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}
