//! `pack`: bundles made here verify, and the same inputs always give the same bytes.

use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::support::bundle::*;
use flate2::read::GzDecoder;
use mpk_registry::canonical::Scheme;
use mpk_registry::pack::pack;
use serde_json::{json, Map, Value};

fn template() -> Map<String, Value> {
    into_map(json!({
        "version": "1.0",
        "package": "com.example.packed",
        "appVersion": "1.2.3",
        "minRuntimeVersion": "0.1.0",
        "metadata": {"name": "Packed", "_note": "kept"},
        "wasm": {"path": "app.wasm"},
        "abi": {"path": "abi.json"},
        "x-unknown": [1, 2, 3],
    }))
}

/// Writes `files` under `root` with the given modification time.
fn write_files(root: &Path, files: &[(&str, &[u8])], mtime: SystemTime) {
    for (path, bytes) in files {
        let file = root.join(path);
        fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
        fs::write(&file, bytes).expect("write");
        File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(mtime))
            .expect("set mtime");
    }
}

fn pack_to_vec(manifest: Map<String, Value>, root: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    pack(manifest, root, &key(1), Scheme::Legacy, &mut out).expect("pack");
    out
}

#[test]
fn pack_is_reproducible_across_folders_and_mtimes() {
    let files: [(&str, &[u8]); 2] = [("app.wasm", WASM), ("abi.json", ABI)];
    let first = tempfile::tempdir().expect("tempdir");
    let second = tempfile::tempdir().expect("tempdir");
    write_files(
        first.path(),
        &files,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
    );
    write_files(second.path(), &files, SystemTime::now());
    assert_ne!(
        fs::metadata(first.path().join("app.wasm"))
            .and_then(|m| m.modified())
            .expect("mtime"),
        fs::metadata(second.path().join("app.wasm"))
            .and_then(|m| m.modified())
            .expect("mtime"),
    );

    let a = pack_to_vec(template(), first.path());
    let a_again = pack_to_vec(template(), first.path());
    let b = pack_to_vec(template(), second.path());
    assert_eq!(a, a_again, "two runs differ");
    assert_eq!(a, b, "two folders differ");

    let report = verify(&a);
    assert_ok(&report);
    let bundle = report.bundle.expect("verified");
    assert_eq!(bundle.package, "com.example.packed");
    assert_eq!(bundle.signer_id, signer(&key(1)));
    let manifest = report.manifest.expect("parsed");
    assert_eq!(manifest["wasm"], artifact("app.wasm", WASM));
    assert_eq!(manifest["abi"], artifact("abi.json", ABI));
    assert_eq!(
        manifest["x-unknown"],
        json!([1, 2, 3]),
        "unknown fields are kept"
    );
    assert_eq!(manifest["metadata"]["_note"], json!("kept"));
}

#[test]
fn pack_output_changes_with_its_inputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_files(
        dir.path(),
        &[("app.wasm", WASM), ("abi.json", ABI)],
        SystemTime::now(),
    );
    let a = pack_to_vec(template(), dir.path());
    write_files(dir.path(), &[("app.wasm", WASM_2)], SystemTime::now());
    let b = pack_to_vec(template(), dir.path());
    assert_ne!(a, b);
    assert_ok(&verify(&b));
}

#[test]
fn pack_writes_the_cargo_mero_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_files(
        dir.path(),
        &[("app.wasm", WASM), ("abi.json", ABI)],
        SystemTime::now(),
    );
    let bytes = pack_to_vec(template(), dir.path());
    // gzip header: no mtime, OS "unknown".
    assert_eq!(&bytes[..2], b"\x1f\x8b");
    assert_eq!(&bytes[4..8], &[0, 0, 0, 0]);
    assert_eq!(bytes[9], 255);
    let mut archive = tar::Archive::new(GzDecoder::new(&bytes[..]));
    let entries: Vec<(String, u64, u64, u32, u64)> = archive
        .entries()
        .expect("a tar")
        .map(|e| {
            let e = e.expect("an entry");
            let h = e.header();
            (
                e.path().expect("path").to_string_lossy().into_owned(),
                h.mtime().expect("mtime"),
                h.uid().expect("uid"),
                h.mode().expect("mode"),
                h.size().expect("size"),
            )
        })
        .collect();
    // manifest.json first, then each artifact; no clock, owner or mode of this machine.
    let manifest_len = entries[0].4;
    assert_eq!(
        entries[0],
        ("manifest.json".to_owned(), 0, 0, 0o644, manifest_len)
    );
    // Then the wasm, then the abi, as cargo-mero writes them.
    assert_eq!(
        entries[1..],
        [
            ("app.wasm".to_owned(), 0, 0, 0o644, WASM.len() as u64),
            ("abi.json".to_owned(), 0, 0, 0o644, ABI.len() as u64),
        ]
    );
}

#[test]
fn pack_multi_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_files(dir.path(), &services_files(), SystemTime::now());
    let mut manifest = services_manifest();
    // pack fills in hash and size itself.
    for service in manifest["services"].as_array_mut().expect("services") {
        for slot in ["wasm", "abi"] {
            if let Some(a) = service.get_mut(slot).and_then(Value::as_object_mut) {
                a.remove("hash");
                a.remove("size");
            }
        }
    }
    // A third service sharing the store wasm: written once.
    manifest["services"]
        .as_array_mut()
        .expect("services")
        .push(json!({"name": "mirror", "wasm": {"path": "services/store.wasm"}}));
    let bytes = pack_to_vec(manifest, dir.path());
    let report = verify(&bytes);
    assert_ok(&report);
    let declared: Vec<(String, String)> = report
        .bundle
        .expect("verified")
        .artifacts
        .iter()
        .map(|a| (a.field.clone(), a.path.clone()))
        .collect();
    assert_eq!(
        declared,
        [
            (
                "services[0].wasm".to_owned(),
                "services/store.wasm".to_owned()
            ),
            (
                "services[0].abi".to_owned(),
                "services/store-abi.json".to_owned()
            ),
            (
                "services[1].wasm".to_owned(),
                "services/auth.wasm".to_owned()
            ),
            (
                "services[2].wasm".to_owned(),
                "services/store.wasm".to_owned()
            ),
        ]
    );
    let mut archive = tar::Archive::new(GzDecoder::new(&bytes[..]));
    let names: Vec<String> = archive
        .entries()
        .expect("a tar")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    // manifest.json first, then each path once (the shared wasm is not written twice).
    assert_eq!(names[0], "manifest.json");
    let mut artifacts = names[1..].to_vec();
    artifacts.sort();
    assert_eq!(
        artifacts,
        [
            "services/auth.wasm",
            "services/store-abi.json",
            "services/store.wasm"
        ]
    );
}

#[test]
fn pack_refuses_what_it_cannot_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_files(dir.path(), &[("app.wasm", WASM)], SystemTime::now());
    let cases = [
        (json!({"path": "missing.wasm"}), "missing.wasm"),
        (json!({"path": "../app.wasm"}), "../app.wasm"),
        (json!({"path": "/etc/passwd"}), "/etc/passwd"),
        (json!({"path": "a\\b.wasm"}), "a\\\\b.wasm"),
        (json!({"hash": "x"}), "path"),
    ];
    for (wasm, mentioned) in cases {
        let mut manifest = template();
        manifest.remove("abi");
        manifest.insert("wasm".into(), wasm);
        let error = pack(
            manifest,
            dir.path(),
            &key(1),
            Scheme::Legacy,
            &mut Vec::new(),
        )
        .expect_err("pack must refuse")
        .to_string();
        assert!(error.contains(mentioned), "{error}");
    }
    let mut manifest = template();
    manifest.remove("wasm");
    manifest.remove("abi");
    let error = pack(
        manifest,
        dir.path(),
        &key(1),
        Scheme::Legacy,
        &mut Vec::new(),
    )
    .expect_err("no artifacts")
    .to_string();
    assert!(error.contains("no artifacts"), "{error}");
}
