//! The `mpk-registry` binary: exit codes, the JSON report shape, keygen and pack.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use crate::support::bundle::*;
use crate::support::cli::*;
use crate::support::golden::assert_golden;
use crate::support::repo_root;
use mpk_registry::keys::KeyFile;
use mpk_registry::report::Rule;
use serde_json::{json, Value};

const VALID: &str = "valid/com.example.hello-1.0.0.mpk";
const SUITE: &str = "valid/com.example.suite-0.3.0.mpk";
const INVALID: &str = "invalid/tampered-wasm.mpk";
const DEV_KEY: &str = "policy/dev-key/com.example.devkey-1.0.0.mpk";

// --- verify: exit codes ---------------------------------------------------------------------

/// Runs the binary in this repository's folder, interop bundles named from there
/// (`tests/fixtures/interop/bundles/…`): what it prints is the same on every machine. Returns
/// the run as a golden file holds it, and its exit code.
fn run_on_fixtures(command: &str, files: &[&str]) -> (String, i32) {
    let files: Vec<String> = files
        .iter()
        .map(|f| format!("tests/fixtures/interop/bundles/{f}"))
        .collect();
    let mut args = vec![command];
    args.extend(files.iter().map(String::as_str));
    let out = run_in(repo_root(), &args);
    (transcript(&args, &out), code(&out))
}

#[test]
fn verify_exit_0_when_everything_verifies() {
    let (text, code) = run_on_fixtures("verify", &[VALID, SUITE]);
    assert_eq!(code, 0, "{text}");
    assert_golden("cli/verify-ok.txt", text);
}

#[test]
fn verify_exit_1_when_anything_is_refused() {
    let (text, code) = run_on_fixtures("verify", &[VALID, INVALID]);
    assert_eq!(code, 1, "{text}");
    assert_golden("cli/verify-refused.txt", text);
}

#[test]
fn verify_exit_2_for_a_missing_file() {
    let missing = interop_bundle("valid/does-not-exist.mpk");
    let out = run(["verify".as_ref(), missing.as_os_str()]);
    assert_eq!(code(&out), 2);
    assert!(stdout(&out).contains("error[io]"), "{}", stdout(&out));
    // A folder is not a bundle file either, and the message says what to give instead.
    let (text, exit) = run_on_fixtures("verify", &["valid"]);
    assert_eq!(exit, 2);
    assert!(
        text.contains(&format!("error[{}]", Rule::Io.code())),
        "{text}"
    );
    assert_golden("cli/verify-folder.txt", text);
    // Even next to bundles that verify, or that are refused.
    let out = run([
        "verify".as_ref(),
        interop_bundle(VALID).as_os_str(),
        interop_bundle(INVALID).as_os_str(),
        missing.as_os_str(),
    ]);
    assert_eq!(code(&out), 2);
}

#[test]
fn verify_exit_2_for_bad_usage() {
    for args in [
        vec!["verify"],
        vec!["verify", "--no-such-flag", "x.mpk"],
        vec!["no-such-command"],
        vec![],
    ] {
        let out = run(&args);
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(!stderr(&out).is_empty(), "{args:?} explains itself");
    }
}

#[test]
fn verify_allow_dev_key() {
    let out = run(["verify".as_ref(), interop_bundle(DEV_KEY).as_os_str()]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("policy.well-known-key"));
    let out = run([
        "verify".as_ref(),
        "--allow-dev-key".as_ref(),
        interop_bundle(DEV_KEY).as_os_str(),
    ]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

// --- verify --json --------------------------------------------------------------------------

/// The keys of a JSON object, sorted.
fn sorted_keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    keys
}

fn assert_problem_shape(problem: &Value) {
    let object = problem.as_object().expect("a problem is an object");
    let keys = sorted_keys(problem);
    assert_eq!(keys, ["hint", "message", "rule", "subject"]);
    for key in keys {
        assert!(object[key].is_string(), "{key} is a string");
    }
}

#[test]
fn verify_json_shape() {
    let missing = interop_bundle("valid/does-not-exist.mpk");
    let out = run([
        "verify".as_ref(),
        "--json".as_ref(),
        interop_bundle(VALID).as_os_str(),
        interop_bundle(INVALID).as_os_str(),
        interop_bundle(SUITE).as_os_str(),
        missing.as_os_str(),
    ]);
    assert_eq!(code(&out), 2);
    let doc = stdout_json(&out);
    let top = sorted_keys(&doc);
    assert_eq!(top, ["reports", "schemaVersion"]);
    assert_eq!(doc["schemaVersion"], 1);
    let reports = doc["reports"].as_array().expect("reports is an array");
    assert_eq!(reports.len(), 4, "one report per file, in argument order");

    // A bundle that verified.
    let ok = &reports[0];
    assert_eq!(ok["file"], interop_bundle(VALID).display().to_string());
    assert_eq!(ok["ok"], true);
    assert_eq!(ok["problems"], json!([]));
    assert_eq!(ok["warnings"], json!([]));
    let bundle = &ok["bundle"];
    let keys = sorted_keys(bundle);
    assert_eq!(
        keys,
        [
            "appVersion",
            "applicationId",
            "artifacts",
            "bundleSha256",
            "bundleSize",
            "manifestSha256",
            "minRuntimeVersion",
            "package",
            "signatureScheme",
            "signerId",
        ]
    );
    assert_eq!(bundle["package"], "com.example.hello");
    assert_eq!(bundle["appVersion"], "1.0.0");
    assert_eq!(bundle["minRuntimeVersion"], "0.1.0");
    assert_eq!(
        bundle["signerId"],
        "did:key:z6MkkfnE2oUr7EGsxQggwdCQASCoiJoeeNZCEk2cLerpc89a"
    );
    assert_eq!(
        bundle["applicationId"],
        "81NG2j5r15NbMProAYRp7geQiYPAVE1HkAZwJBsFZCVV"
    );
    let bytes = std::fs::read(interop_bundle(VALID)).expect("read fixture");
    assert_eq!(bundle["bundleSha256"], sha256_hex(&bytes));
    assert_eq!(bundle["bundleSize"], bytes.len());
    let manifest_sha = bundle["manifestSha256"].as_str().expect("string");
    assert!(manifest_sha.len() == 64 && manifest_sha.bytes().all(|b| b.is_ascii_hexdigit()));
    let artifacts = bundle["artifacts"].as_array().expect("artifacts array");
    assert_eq!(artifacts.len(), 2);
    assert_eq!(artifacts[0]["field"], "wasm");
    assert_eq!(artifacts[0]["kind"], "wasm");
    assert_eq!(artifacts[0]["path"], "app.wasm");
    assert_eq!(
        artifacts[0]["sha256"],
        "df09c07a7c7165d682d8af06bfe103eb52bf116b7e95715455fdc16ff61fc7c9"
    );
    assert_eq!(artifacts[0]["size"], 47);
    assert!(
        artifacts[0].get("service").is_none(),
        "service only for services"
    );
    assert_eq!(artifacts[1]["kind"], "abi");

    // A refused bundle: problems, no bundle.
    let refused = &reports[1];
    assert_eq!(refused["ok"], false);
    assert!(refused.get("bundle").is_none());
    let problems = refused["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1);
    assert_problem_shape(&problems[0]);
    assert_eq!(problems[0]["rule"], "artifact.digest");
    assert_eq!(problems[0]["subject"], "app.wasm");
    assert_eq!(
        problems[0]["hint"],
        mpk_registry::report::Rule::Digest.hint()
    );

    // Services carry their name.
    let suite = &reports[2]["bundle"]["artifacts"];
    assert_eq!(suite[0]["field"], "services[0].wasm");
    assert_eq!(suite[0]["service"], "store");
    assert_eq!(suite[2]["service"], "auth");

    // An unreadable file.
    let io = &reports[3];
    assert_eq!(io["ok"], false);
    assert_problem_shape(&io["problems"][0]);
    assert_eq!(io["problems"][0]["rule"], "io");
}

#[test]
fn verify_json_lists_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut manifest = services_manifest();
    manifest.insert("wasm".into(), artifact("legacy.wasm", WASM));
    let path = dir.path().join("suite.mpk");
    let manifest = to_bytes(&signed(manifest, &key(1)));
    let bytes = bundle(|t| {
        t.file("manifest.json", &manifest)?;
        t.file("legacy.wasm", WASM)?;
        for (path, bytes) in services_files() {
            t.file(path, bytes)?;
        }
        Ok(())
    });
    std::fs::write(&path, bytes).expect("write");
    let out = run(["verify".as_ref(), "--json".as_ref(), path.as_os_str()]);
    assert_eq!(code(&out), 0);
    let report = &stdout_json(&out)["reports"][0];
    assert_eq!(report["ok"], true);
    let warnings = report["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1);
    assert_problem_shape(&warnings[0]);
    assert_eq!(warnings[0]["rule"], "manifest.services-override");
}

// --- inspect --------------------------------------------------------------------------------

/// `inspect --json` on a fixture bundle.
fn inspect_json(name: &str) -> Output {
    run([
        "inspect".as_ref(),
        "--json".as_ref(),
        interop_bundle(name).as_os_str(),
    ])
}

#[test]
fn inspect_json_shape() {
    let out = inspect_json(VALID);
    assert_eq!(code(&out), 0);
    let doc = stdout_json(&out);
    let top = sorted_keys(&doc);
    assert_eq!(top, ["manifest", "report", "schemaVersion"]);
    assert_eq!(doc["schemaVersion"], 1);
    assert_eq!(doc["report"]["ok"], true);
    assert_eq!(doc["report"]["bundle"]["package"], "com.example.hello");
    assert_eq!(doc["manifest"]["package"], "com.example.hello");
    assert_eq!(doc["manifest"]["signature"]["algorithm"], "ed25519");

    // A refused bundle still shows its manifest.
    let out = inspect_json(INVALID);
    assert_eq!(code(&out), 1);
    let doc = stdout_json(&out);
    assert_eq!(doc["report"]["ok"], false);
    assert!(doc["report"].get("bundle").is_none());
    assert_eq!(doc["manifest"]["package"], "com.example.bad");

    // No manifest at all: null.
    let out = inspect_json("invalid/nested-manifest-only.mpk");
    assert_eq!(code(&out), 1);
    assert_eq!(stdout_json(&out)["manifest"], Value::Null);
}

#[test]
fn inspect_text_shows_identity() {
    let (text, code) = run_on_fixtures("inspect", &[VALID]);
    assert_eq!(code, 0, "{text}");
    assert_golden("cli/inspect.txt", text);
}

// --- keygen ---------------------------------------------------------------------------------

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// Runs `keygen -o path`, which must succeed.
fn keygen(path: &std::path::Path) {
    let out = run(["keygen".as_ref(), "-o".as_ref(), path.as_os_str()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn keygen_writes_a_mero_sign_key_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("key.json");
    let out = run(["keygen".as_ref(), "-o".as_ref(), path.as_os_str()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(mode(&path), 0o600);

    let file: Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("JSON");
    let keys = sorted_keys(&file);
    assert_eq!(keys, ["private_key", "public_key", "signer_id"]);
    let key = KeyFile::load(&path).expect("loads back");
    let expected = KeyFile::from_signing_key(&key);
    assert_eq!(file["public_key"], expected.public_key);
    assert_eq!(file["signer_id"], expected.signer_id);
    assert!(stdout(&out).contains(&expected.signer_id));
}

#[test]
fn keygen_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("key.json");
    keygen(&path);
    let before = std::fs::read(&path).expect("read");

    let out = run(["keygen".as_ref(), "--output".as_ref(), path.as_os_str()]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&path).expect("read"), before, "unchanged");

    // --force replaces it, with a new key, and tightens the mode of an existing file.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = run([
        "keygen".as_ref(),
        "-o".as_ref(),
        path.as_os_str(),
        "--force".as_ref(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_ne!(std::fs::read(&path).expect("read"), before);
    assert_eq!(mode(&path), 0o600);
    KeyFile::load(&path).expect("loads back");
}

#[test]
fn keygen_makes_a_different_key_each_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    keygen(&a);
    keygen(&b);
    let a = KeyFile::load(&a).expect("a");
    let b = KeyFile::load(&b).expect("b");
    assert_ne!(a.to_bytes(), b.to_bytes());
}

#[test]
fn key_file_load_refuses_a_damaged_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("key.json");
    let mut file = KeyFile::from_signing_key(&key(1));
    file.public_key = KeyFile::from_signing_key(&key(2)).public_key;
    std::fs::write(&path, serde_json::to_vec(&file).expect("JSON")).expect("write");
    let error = KeyFile::load(&path)
        .expect_err("mismatched halves")
        .to_string();
    assert!(error.contains("damaged"), "{error}");

    std::fs::write(
        &path,
        br#"{"privateKey": "x", "publicKey": "y", "signerId": "z"}"#,
    )
    .expect("write");
    assert!(KeyFile::load(&path).is_err(), "camelCase is not the format");
}

// --- pack -----------------------------------------------------------------------------------

#[test]
fn pack_command_makes_a_bundle_that_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_path = dir.path().join("key.json");
    keygen(&key_path);
    let app = dir.path().join("app");
    std::fs::create_dir(&app).expect("mkdir");
    std::fs::write(app.join("app.wasm"), WASM).expect("write");
    let manifest = app.join("manifest.json");
    std::fs::write(
        &manifest,
        serde_json::to_vec(&json!({
            "version": "1.0",
            "package": "com.example.cli",
            "appVersion": "0.1.0",
            "minRuntimeVersion": "0.1.0",
            "metadata": {"name": "CLI"},
            "wasm": {"path": "app.wasm"},
        }))
        .expect("JSON"),
    )
    .expect("write");
    let bundle = dir.path().join("out.mpk");
    let pack = |force: bool| {
        let mut args = vec![
            "pack".as_ref(),
            manifest.as_os_str(),
            "-k".as_ref(),
            key_path.as_os_str(),
            "-o".as_ref(),
            bundle.as_os_str(),
        ];
        if force {
            args.push("--force".as_ref());
        }
        run(args)
    };
    let out = pack(false);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let first = std::fs::read(&bundle).expect("bundle written");

    let out = run(["verify".as_ref(), "--json".as_ref(), bundle.as_os_str()]);
    assert_eq!(code(&out), 0);
    let report = &stdout_json(&out)["reports"][0];
    let signer = KeyFile::from_signing_key(&KeyFile::load(&key_path).expect("key")).signer_id;
    assert_eq!(report["bundle"]["signerId"], signer);
    assert_eq!(report["bundle"]["package"], "com.example.cli");

    // No silent overwrite; with --force, the same inputs give the same bytes.
    let out = pack(false);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    let out = pack(true);
    assert_eq!(code(&out), 0);
    assert_eq!(std::fs::read(&bundle).expect("bundle"), first);
}

#[test]
fn pack_command_signs_under_the_scheme_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_path = dir.path().join("key.json");
    keygen(&key_path);
    std::fs::write(dir.path().join("app.wasm"), WASM).expect("write");
    let manifest = dir.path().join("manifest.json");
    let text = json!({
        "version": "1.0", "package": "com.example.cli", "appVersion": "0.1.0",
        "minRuntimeVersion": "0.1.0", "wasm": {"path": "app.wasm"},
    });
    std::fs::write(&manifest, text.to_string()).expect("write");
    for (scheme, expected) in [("legacy", "legacy"), ("v1", "v1")] {
        let bundle = dir.path().join(format!("{scheme}.mpk"));
        let out = run([
            "pack".as_ref(),
            manifest.as_os_str(),
            "-k".as_ref(),
            key_path.as_os_str(),
            "-o".as_ref(),
            bundle.as_os_str(),
            "--scheme".as_ref(),
            scheme.as_ref(),
        ]);
        assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
        let out = run(["verify".as_ref(), "--json".as_ref(), bundle.as_os_str()]);
        assert_eq!(
            stdout_json(&out)["reports"][0]["bundle"]["signatureScheme"],
            expected
        );
    }
    let out = run([
        "pack".as_ref(),
        manifest.as_os_str(),
        "-k".as_ref(),
        key_path.as_os_str(),
        "-o".as_ref(),
        dir.path().join("v2.mpk").as_os_str(),
        "--scheme".as_ref(),
        "v2".as_ref(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("use legacy or v1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pack_command_reports_a_missing_artifact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_path = dir.path().join("key.json");
    keygen(&key_path);
    let manifest = dir.path().join("manifest.json");
    std::fs::write(
        &manifest,
        br#"{"version":"1.0","package":"a","appVersion":"1","minRuntimeVersion":"0.1.0","wasm":{"path":"gone.wasm"}}"#,
    )
    .expect("write");
    let bundle = dir.path().join("out.mpk");
    let out = run([
        "pack".as_ref(),
        manifest.as_os_str(),
        "-k".as_ref(),
        key_path.as_os_str(),
        "-o".as_ref(),
        bundle.as_os_str(),
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stdout(&out).contains("gone.wasm"), "{}", stdout(&out));
    assert!(!bundle.exists(), "no partial bundle is left behind");
}
