//! `pack`: bundles made here verify, the same inputs always give the same bytes, and a refused
//! bundle leaves nothing behind.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::support::bundle::*;
use crate::support::cli::*;
use crate::support::golden::assert_golden;
use flate2::read::GzDecoder;
use mpk_registry::canonical::Scheme;
use mpk_registry::keys::KeyFile;
use mpk_registry::pack::pack;
use mpk_registry::report::Rule;
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

/// A folder with a key file (`key.json`, seed 1), an `app/` with the template's files and
/// `app/manifest.json` holding `manifest`.
fn workspace(manifest: &Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    KeyFile::from_signing_key(&key(1))
        .write(&dir.path().join("key.json"), false)
        .expect("key file");
    write_files(
        &dir.path().join("app"),
        &[
            ("app.wasm", WASM),
            ("abi.json", ABI),
            (
                "manifest.json",
                &serde_json::to_vec(manifest).expect("JSON"),
            ),
        ],
        SystemTime::now(),
    );
    dir
}

/// The names in `dir`, sorted (what a command left behind).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const PACK: [&str; 4] = ["pack", "app/manifest.json", "-k", "key.json"];

#[test]
fn pack_refused_writes_nothing_and_lists_every_problem() {
    let mut manifest = Value::Object(template());
    manifest["package"] = json!("com.example/bad");
    manifest["appVersion"] = json!("1.0.0+build");
    manifest["minRuntimeVersion"] = json!("soon");
    let dir = workspace(&manifest);
    let out = run_in(dir.path(), PACK);
    assert_golden("cli/pack-refused.txt", transcript(&PACK, &out));
    assert_eq!(code(&out), 1);
    for rule in [Rule::Package, Rule::AppVersion, Rule::MinRuntimeVersion] {
        assert!(
            stdout(&out).contains(&format!("[{}]", rule.code())),
            "{}",
            stdout(&out)
        );
    }
    assert_eq!(names(dir.path()), ["app", "key.json"], "nothing written");
}

#[test]
fn pack_refuses_every_unreadable_artifact_at_once_with_the_fields_problems() {
    let mut manifest = Value::Object(template());
    manifest["wasm"] = json!({"path": "gone.wasm"});
    manifest["abi"] = json!({"path": "../abi.json"});
    manifest["package"] = json!("com.example/bad");
    let dir = workspace(&manifest);
    let out = run_in(dir.path(), PACK);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("REFUSED  app/manifest.json: 3 problem(s)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("[{}] package", Rule::Package.code())),
        "{text}"
    );
    assert!(
        text.contains(&format!("[{}] wasm.path", Rule::ArtifactMissing.code())),
        "{text}"
    );
    assert!(
        text.contains(&format!("[{}] abi.path", Rule::ArtifactPath.code())),
        "{text}"
    );
    assert_eq!(names(dir.path()), ["app", "key.json"], "nothing written");
}

#[test]
fn pack_refuses_the_development_key_and_writes_nothing() {
    let dir = workspace(&Value::Object(template()));
    KeyFile::from_signing_key(&mpk_registry::keys::dev_signing_key())
        .write(&dir.path().join("key.json"), true)
        .expect("key file");
    let out = run_in(dir.path(), PACK);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("[{}] signerId", Rule::WellKnownKey.code())),
        "{}",
        stdout(&out)
    );
    assert_eq!(names(dir.path()), ["app", "key.json"], "nothing written");
    // A local test registry may take it.
    let out = run_in(dir.path(), [&PACK[..], &["--allow-dev-key"]].concat());
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

#[test]
fn pack_names_the_bundle_after_its_manifest_and_writes_it_readable() {
    let dir = workspace(&Value::Object(template()));
    let out = run_in(dir.path(), PACK);
    assert_golden("cli/pack-ok.txt", transcript(&PACK, &out));
    assert_eq!(code(&out), 0);
    let bundle = dir.path().join("com.example.packed-1.2.3.mpk");
    let mode = fs::metadata(&bundle).expect("written").permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    assert_ok(&verify(&fs::read(&bundle).expect("bundle")));
}

#[test]
fn pack_into_places_the_bundle_where_the_registry_wants_it() {
    let dir = workspace(&Value::Object(template()));
    fs::create_dir(dir.path().join("registry-src")).expect("mkdir");
    let out = run_in(
        dir.path(),
        [&PACK[..], &["--into", "registry-src"]].concat(),
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(dir
        .path()
        .join("registry-src/com.example.packed/com.example.packed-1.2.3.mpk")
        .is_file());
    assert_eq!(
        names(&dir.path().join("registry-src")),
        ["com.example.packed"]
    );
}

#[test]
fn pack_warns_when_the_output_is_not_named_after_the_manifest() {
    let dir = workspace(&Value::Object(template()));
    let out = run_in(dir.path(), [&PACK[..], &["-o", "app.mpk"]].concat());
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "warning[{}] file name: a registry folder wants this bundle as com.example.packed/com.example.packed-1.2.3.mpk",
            Rule::FileName.code()
        )),
        "{text}"
    );
    assert!(dir.path().join("app.mpk").is_file());
}

/// Every entry of a bundle: its header bytes and its data.
fn entries(bundle: &[u8]) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let mut archive = tar::Archive::new(GzDecoder::new(bundle));
    archive
        .entries()
        .expect("a tar")
        .map(|e| {
            let mut e = e.expect("an entry");
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).expect("read");
            let path = e.path().expect("path").to_string_lossy().into_owned();
            (path, e.header().as_bytes().to_vec(), data)
        })
        .collect()
}

#[test]
fn pack_resign_with_a_new_key_changes_the_signer_and_keeps_every_other_entry() {
    // A bundle as `cargo mero bundle` makes it without MERO_SIGN_KEY: the development key.
    let dev = mpk_registry::keys::dev_signing_key();
    let original = packed_as(template(), &dev, Scheme::V1);
    let dir = workspace(&Value::Object(template()));
    fs::write(dir.path().join("dev.mpk"), &original).expect("write");
    let args = ["pack", "--resign", "dev.mpk", "-k", "key.json"];
    let out = run_in(dir.path(), args);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let resigned = fs::read(dir.path().join("com.example.packed-1.2.3.mpk")).expect("written");
    let report = verify(&resigned);
    assert_ok(&report);
    let bundle = report.bundle.expect("verified");
    assert_eq!(bundle.signer_id, signer(&key(1)));
    assert_eq!(
        bundle.signature_scheme,
        Scheme::V1,
        "the bundle's own scheme"
    );

    let (before, after) = (entries(&original), entries(&resigned));
    assert_eq!(before.len(), after.len());
    assert_eq!(before[1..], after[1..], "artifacts byte for byte");
    let manifest = |data: &[u8]| {
        let mut m: Map<String, Value> = serde_json::from_slice(data).expect("JSON");
        (m.remove("signerId"), m.remove("signature"), m)
    };
    let (old_signer, old_signature, old_rest) = manifest(&before[0].2);
    let (new_signer, new_signature, new_rest) = manifest(&after[0].2);
    assert_eq!(old_rest, new_rest, "only signerId and signature change");
    assert_ne!(old_signer, new_signer);
    assert_ne!(old_signature, new_signature);
}

#[test]
fn pack_resign_without_scheme_by_the_same_key_is_refused() {
    let dir = workspace(&Value::Object(template()));
    fs::write(dir.path().join("b.mpk"), packed(template(), &key(1))).expect("write");
    let out = run_in(dir.path(), ["pack", "--resign", "b.mpk", "-k", "key.json"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("already signed by this key"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--scheme"), "{}", stderr(&out));
    assert_eq!(
        names(dir.path()),
        ["app", "b.mpk", "key.json"],
        "nothing written"
    );
}

#[test]
fn pack_resign_under_a_scheme_names_the_resignature() {
    let dir = workspace(&Value::Object(template()));
    fs::write(dir.path().join("b.mpk"), packed(template(), &key(1))).expect("write");
    let args = [
        "pack", "--resign", "b.mpk", "--scheme", "v1", "-k", "key.json",
    ];
    let out = run_in(dir.path(), args);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(dir.path().join("com.example.packed-1.2.3+v1.mpk").is_file());
}

/// The route the README gives for a bundle `cargo mero bundle` made without `MERO_SIGN_KEY`
/// (here one signed with the development key by the real mero-sign): one `pack --resign` with
/// the publisher's key makes it publishable.
#[test]
fn a_development_key_bundle_is_made_publishable_by_one_resign() {
    let dir = workspace(&Value::Object(template()));
    let original = interop_bundle("policy/dev-key/com.example.devkey-1.0.0.mpk");
    let refused = run_in(dir.path(), ["verify".as_ref(), original.as_os_str()]);
    assert!(
        stdout(&refused).contains(Rule::WellKnownKey.code()),
        "{}",
        stdout(&refused)
    );
    let args = [
        "pack".as_ref(),
        "--resign".as_ref(),
        original.as_os_str(),
        "-k".as_ref(),
        "key.json".as_ref(),
    ];
    let out = run_in(dir.path(), args);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let bundle = dir.path().join("com.example.devkey-1.0.0.mpk");
    let report = verify(&fs::read(bundle).expect("written"));
    assert_ok(&report);
    assert_eq!(report.bundle.expect("verified").signer_id, signer(&key(1)));
}
