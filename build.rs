//! Names the sources the tool is built from (code, templates, locked dependencies), so `build`
//! can tell whether the site already at its output came from this very tool
//! (src/site/fingerprint.rs). Cheaper and steadier than hashing the executable.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

const INPUTS: &[&str] = &["src", "templates", "Cargo.toml", "Cargo.lock"];

fn main() {
    let mut files = Vec::new();
    for input in INPUTS {
        println!("cargo:rerun-if-changed={input}");
        collect(Path::new(input), &mut files);
    }
    files.sort();
    // SipHash, 2 × 64 bits with different keys: enough to tell builds apart (it is no
    // security boundary: whoever controls the tool controls the site).
    let mut digests = [DefaultHasher::new(), DefaultHasher::new()];
    digests[1].write(b"second half");
    for file in &files {
        let bytes = fs::read(file).unwrap_or_default();
        for digest in &mut digests {
            digest.write(file.to_string_lossy().as_bytes());
            digest.write_usize(bytes.len());
            digest.write(&bytes);
        }
    }
    println!(
        "cargo:rustc-env=MPK_REGISTRY_SOURCE_DIGEST={:016x}{:016x}",
        digests[0].finish(),
        digests[1].finish()
    );
    build_commit();
}

/// When built from a git checkout of this repository, its HEAD commit becomes
/// `MPK_REGISTRY_GIT_COMMIT`: `init` pins the generated workflows to it by default. Quiet and
/// absent otherwise (no git, a source tarball, or this crate inside another repository).
fn build_commit() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let top = git(&["rev-parse", "--show-toplevel"]);
    let same_dir = match (&top, fs::canonicalize(&manifest_dir)) {
        (Some(top), Ok(dir)) => fs::canonicalize(top).ok().as_deref() == Some(dir.as_path()),
        _ => false,
    };
    if !same_dir {
        return;
    }
    // A new commit moves HEAD or the branch it names (loose or packed); only existing files
    // are watched, since cargo reruns every time for a missing one.
    for name in ["HEAD", "packed-refs"]
        .into_iter()
        .map(str::to_owned)
        .chain(git(&["symbolic-ref", "-q", "HEAD"]))
    {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            if Path::new(&path).is_file() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    if let Some(commit) = git(&["rev-parse", "--verify", "-q", "HEAD^{commit}"]) {
        if commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()) {
            println!("cargo:rustc-env=MPK_REGISTRY_GIT_COMMIT={commit}");
        }
    }
}

/// One line of git's output, or `None` when git is missing or fails.
fn git(args: &[&str]) -> Option<String> {
    let output = std::process::Command::new("git")
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    match fs::read_dir(path) {
        Ok(entries) => {
            for entry in entries.flatten() {
                collect(&entry.path(), files);
            }
        }
        Err(_) if path.is_file() => files.push(path.to_path_buf()),
        Err(_) => {}
    }
}
