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
