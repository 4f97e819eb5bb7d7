//! Registry source folders for build tests, made on the fly in a temporary folder.
//!
//! Bundles are packed with `mpk_registry::pack::pack` and keys from fixed seeds, settings files
//! are written as given, and git history (when a test wants it) uses a fixed author and fixed
//! dates. Pack is reproducible, so the same calls give the same bytes on every machine.
//!
//! Each test file uses a different subset of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use ed25519_dalek::SigningKey;
use mpk_registry::keys::did_key;
use mpk_registry::report::Rule;
use mpk_registry::site::{self, BuildOptions, Outcome};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The wasm header; nothing in the registry looks past it, so any tail will do.
pub const WASM: &[u8] = b"\0asm\x01\0\0\0";

/// A 1×1 PNG as a `data:` URI, the only kind of icon pages show.
pub const PNG_ICON: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// A signing key from a fixed seed: `key(1)` and `key(2)` are two different publishers.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The `signerId` of `key`.
pub fn signer(key: &SigningKey) -> String {
    did_key(&key.verifying_key())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Wasm bytes that differ per package and version, so every bundle is distinct.
pub fn wasm_for(package: &str, version: &str) -> Vec<u8> {
    let mut bytes = WASM.to_vec();
    bytes.extend_from_slice(format!("{package}@{version}").as_bytes());
    bytes
}

pub fn abi_for(package: &str) -> Vec<u8> {
    format!("{{\"package\":\"{package}\",\"methods\":[\"get\",\"set\"]}}\n").into_bytes()
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("manifests are objects"),
    }
}

/// An unsigned single-service manifest (`app.wasm` + `abi.json`); pack fills in hashes.
pub fn manifest(package: &str, version: &str) -> Map<String, Value> {
    into_map(json!({
        "version": "1.0",
        "package": package,
        "appVersion": version,
        "minRuntimeVersion": "0.1.0",
        "metadata": {
            "name": format!("App {package}"),
            "description": format!("Test app {package}"),
            "author": "Test Author",
            "tags": ["test"],
            "license": "MIT",
        },
        "wasm": {"path": "app.wasm"},
        "abi": {"path": "abi.json"},
    }))
}

/// An unsigned manifest with two services, `store` (wasm + abi) and `auth` (wasm only).
pub fn services_manifest(package: &str, version: &str) -> Map<String, Value> {
    into_map(json!({
        "version": "1.0",
        "package": package,
        "appVersion": version,
        "minRuntimeVersion": "0.2.0",
        "metadata": {"name": format!("Suite {package}"), "tags": ["multi-service"]},
        "services": [
            {"name": "store",
             "wasm": {"path": "services/store.wasm"},
             "abi": {"path": "services/store-abi.json"}},
            {"name": "auth", "wasm": {"path": "services/auth.wasm"}},
        ],
    }))
}

/// The artifact files a manifest from this module names, with per-version contents.
fn artifact_files(manifest: &Map<String, Value>) -> Vec<(String, Vec<u8>)> {
    let package = manifest["package"].as_str().unwrap_or("p");
    let version = manifest["appVersion"].as_str().unwrap_or("v");
    let mut paths = Vec::new();
    let mut collect = |slot: &Value| {
        if let Some(path) = slot.get("path").and_then(Value::as_str) {
            paths.push(path.to_owned());
        }
    };
    for key in ["wasm", "abi"] {
        if let Some(slot) = manifest.get(key) {
            collect(slot);
        }
    }
    if let Some(Value::Array(services)) = manifest.get("services") {
        for service in services {
            for key in ["wasm", "abi"] {
                if let Some(slot) = service.get(key) {
                    collect(slot);
                }
            }
        }
    }
    paths
        .into_iter()
        .map(|path| {
            let bytes = if path.ends_with(".wasm") {
                let mut w = wasm_for(package, version);
                w.extend_from_slice(path.as_bytes());
                w
            } else {
                abi_for(package)
            };
            (path, bytes)
        })
        .collect()
}

/// Signs and packs `manifest` with artifact files made up for it.
pub fn bundle(manifest: Map<String, Value>, key: &SigningKey) -> Vec<u8> {
    let files = artifact_files(&manifest);
    let dir = tempfile::tempdir().expect("temporary folder");
    for (path, bytes) in &files {
        let file = dir.path().join(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, bytes).unwrap();
    }
    let mut out = Vec::new();
    mpk_registry::pack::pack(manifest, dir.path(), key, &mut out).expect("pack");
    out
}

/// The bytes of `manifest.json` inside a bundle.
pub fn bundle_manifest(bundle: &[u8]) -> Vec<u8> {
    bundle_entries(bundle)
        .remove("manifest.json")
        .expect("bundle has manifest.json")
}

/// Every regular entry of a bundle, by path.
pub fn bundle_entries(bundle: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bundle));
    let mut entries = BTreeMap::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("tar entry");
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        entries.insert(path, bytes);
    }
    entries
}

/// The same bundle with one bit of the entry at `path` flipped and everything else, the
/// signed manifest included, unchanged: the artifact no longer matches its digest.
pub fn tamper_entry(bundle: &[u8], path: &str) -> Vec<u8> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bundle));
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gzip);
    let mut found = false;
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("tar entry");
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut header = entry.header().clone();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        if name == path {
            bytes[0] ^= 1;
            found = true;
        }
        builder.append_data(&mut header, &name, &bytes[..]).unwrap();
    }
    assert!(found, "no entry {path} in the bundle");
    builder.into_inner().unwrap().finish().unwrap()
}

/// The canonical place of a bundle inside the source folder.
pub fn bundle_rel(package: &str, version: &str) -> String {
    format!("{package}/{package}-{version}.mpk")
}

/// A registry source folder (`<root>/registry-src`) in a fresh temporary folder; the site
/// goes to `<root>/public` unless a test says otherwise.
pub struct Registry {
    tmp: tempfile::TempDir,
}

impl Registry {
    pub fn new() -> Registry {
        let tmp = tempfile::tempdir().expect("temporary folder");
        fs::create_dir(tmp.path().join("registry-src")).unwrap();
        Registry { tmp }
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    pub fn src(&self) -> PathBuf {
        self.root().join("registry-src")
    }

    pub fn out(&self) -> PathBuf {
        self.root().join("public")
    }

    /// Writes `bytes` at `rel` inside the source folder.
    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> &Registry {
        let path = self.src().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
        self
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.src().join(rel)).unwrap()
    }

    /// Packs `manifest` with `key` and puts it where its manifest says; returns its `rel`.
    pub fn add(&self, manifest: Map<String, Value>, key: &SigningKey) -> String {
        let rel = bundle_rel(
            manifest["package"].as_str().unwrap(),
            manifest["appVersion"].as_str().unwrap(),
        );
        self.write(&rel, bundle(manifest, key));
        rel
    }

    /// Adds the default single-service bundle of `package` `version`.
    pub fn publish(&self, package: &str, version: &str, key: &SigningKey) -> String {
        self.add(manifest(package, version), key)
    }

    pub fn options(&self, out: &Path, jobs: Option<usize>) -> BuildOptions {
        BuildOptions {
            src: self.src(),
            out: out.to_path_buf(),
            jobs,
            ..Default::default()
        }
    }

    /// Builds into `<root>/public`; the tool itself must not fail.
    pub fn build(&self) -> Outcome {
        site::build(&self.options(&self.out(), None)).expect("build runs")
    }

    /// Builds into `<root>/public` with `cache` as the verification cache.
    pub fn build_cached(&self, cache: &Path) -> Outcome {
        let mut options = self.options(&self.out(), Some(2));
        options.cache = Some(cache.to_path_buf());
        site::build(&options).expect("build runs")
    }

    /// Flips one byte inside the gzip stream of a bundle and puts its mtime back: the same
    /// size and mtime, other bytes.
    pub fn edit_keeping_size_and_mtime(&self, rel: &str) {
        let path = self.src().join(rel);
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        let mut bytes = self.read(rel);
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        self.write(rel, &bytes);
        set_mtime(&path, mtime);
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    }

    /// Builds and insists that nothing was refused.
    pub fn build_ok(&self) -> Outcome {
        let outcome = self.build();
        assert_eq!(refusals(&outcome), Vec::<(String, Rule)>::new());
        outcome
    }

    /// Turns the root into a git repository (nothing committed yet).
    pub fn git_init(&self) -> &Registry {
        self.git(&["init", "--quiet", "--initial-branch=main"], None);
        self
    }

    /// Runs git in the root with a fixed identity, no user or system config, and, when given,
    /// `date` (`<unix seconds> +0000`) as both author and committer date.
    pub fn git(&self, args: &[&str], date: Option<&str>) -> Vec<u8> {
        let mut command = Command::new("git");
        command
            .current_dir(self.root())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .args([
                "-c",
                "user.name=Registry Tests",
                "-c",
                "user.email=registry-tests@example.test",
                "-c",
                "commit.gpgsign=false",
                "-c",
                "core.autocrlf=false",
            ])
            .args(args);
        if let Some(date) = date {
            command
                .env("GIT_AUTHOR_DATE", date)
                .env("GIT_COMMITTER_DATE", date);
        }
        let out = command.output().expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Stages `paths` (relative to the root) and commits them at unix time `at`.
    pub fn commit(&self, paths: &[&str], message: &str, at: i64) {
        let mut add = vec!["add", "--"];
        add.extend_from_slice(paths);
        self.git(&add, None);
        let date = format!("{at} +0000");
        self.git(&["commit", "--quiet", "-m", message], Some(&date));
    }
}

/// `(file, rule)` for every problem of every refused report, sorted.
pub fn refusals(outcome: &Outcome) -> Vec<(String, Rule)> {
    let mut all: Vec<(String, Rule)> = outcome
        .refused
        .iter()
        .flat_map(|r| r.problems.iter().map(move |p| (r.file.clone(), p.rule)))
        .collect();
    all.sort();
    all.dedup();
    all
}

/// Fails unless `file` was refused for breaking `rule`, printing every refusal otherwise.
pub fn assert_refused(outcome: &Outcome, file: &str, rule: Rule) {
    let all = refusals(outcome);
    assert!(
        all.iter().any(|(f, r)| f == file && *r == rule),
        "expected {file} to be refused for {}; refusals: {all:#?}",
        rule.code()
    );
}

/// Every file below `dir` by `/`-separated relative path, dotfiles included.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.expect("listable");
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(dir).unwrap();
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.insert(rel.join("/"), fs::read(entry.path()).unwrap());
        }
    }
    files
}

/// Fails with the paths that differ, not with two huge maps.
pub fn assert_same_tree(
    left: &BTreeMap<String, Vec<u8>>,
    right: &BTreeMap<String, Vec<u8>>,
    what: &str,
) {
    let only_left: Vec<&String> = left.keys().filter(|k| !right.contains_key(*k)).collect();
    let only_right: Vec<&String> = right.keys().filter(|k| !left.contains_key(*k)).collect();
    let differ: Vec<&String> = left
        .iter()
        .filter(|(k, v)| right.get(*k).is_some_and(|w| w != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        only_left.is_empty() && only_right.is_empty() && differ.is_empty(),
        "{what}: only in first {only_left:?}, only in second {only_right:?}, different {differ:?}"
    );
}

/// Names in `dir` that look like a build's staging folder.
pub fn staging_leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".mpk-registry-build-"))
        .collect()
}

/// Copies a folder recursively (regular files and folders only).
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).unwrap();
        } else if entry.file_type().is_file() {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Reads and parses a JSON file of a built site.
pub fn read_json(out: &Path, rel: &str) -> Value {
    let bytes = fs::read(out.join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
}

pub fn read_text(out: &Path, rel: &str) -> String {
    String::from_utf8(fs::read(out.join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}")))
        .unwrap_or_else(|_| panic!("{rel} is not UTF-8"))
}

pub fn set_mtime(path: &Path, mtime: std::time::SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(mtime))
        .unwrap();
}

/// Appends `text` to a file (used to make a site folder that is not ours).
pub fn append(path: &Path, text: &str) {
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}
