//! Bundles signed by the real mero-sign: each gets exactly its expected verdict, and the
//! reference values (canonical bytes, payload, signerId, ApplicationId, bundle digest) are
//! reproduced.

use std::collections::BTreeSet;
use std::path::PathBuf;

use base64::Engine;
use ed25519_dalek::VerifyingKey;
use mpk_registry::canonical::{signed_bytes, signing_payload, Scheme};
use mpk_registry::identity::application_id;
use mpk_registry::keys::{did_key, KeyFile, B64URL};
use mpk_registry::report::Rule;
use mpk_registry::verify::{verify_file, Options, Report};
use serde_json::Value;

use crate::support::repo_path;
use sha2::{Digest, Sha256};

fn fixtures() -> PathBuf {
    repo_path("tests/fixtures/interop")
}

fn load_json(name: &str) -> Value {
    let path = fixtures().join(name);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn verify_fixture(file: &str, options: &Options) -> Report {
    verify_file(&fixtures().join("bundles").join(file), file, options)
}

/// Why each invalid bundle must be refused, as the rule the report must carry.
const REJECT_RULES: &[(&str, Rule)] = &[
    ("invalid/tampered-wasm.mpk", Rule::Digest),
    ("invalid/tampered-manifest.mpk", Rule::SignatureInvalid),
    ("invalid/signer-id-mismatch.mpk", Rule::SignerIdMismatch),
    ("invalid/unsigned.mpk", Rule::SignatureMissing),
    ("invalid/hash-null.mpk", Rule::ArtifactHash),
    ("invalid/duplicate-manifest.mpk", Rule::ManifestDuplicate),
    ("invalid/nested-manifest-only.mpk", Rule::ManifestMissing),
    ("invalid/artifact-path-traversal.mpk", Rule::ArtifactPath),
    ("invalid/algorithm-case.mpk", Rule::SignatureAlgorithm),
    ("invalid/missing-wasm-entry.mpk", Rule::ArtifactMissing),
    ("invalid/symlink-wasm.mpk", Rule::ArtifactNotFile),
];

fn reject_rule(file: &str) -> Rule {
    REJECT_RULES
        .iter()
        .find(|(f, _)| *f == file)
        .map(|(_, rule)| *rule)
        .unwrap_or_else(|| panic!("no expected rule for {file}; add it to REJECT_RULES"))
}

fn rules(report: &Report) -> Vec<Rule> {
    report.problems.iter().map(|p| p.rule).collect()
}

fn expected_bundles() -> Vec<(String, Value)> {
    let expected = load_json("expected.json");
    expected["bundles"]
        .as_object()
        .expect("expected.json has a bundles object")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn every_fixture_bundle_is_listed_in_expected_json() {
    let listed: BTreeSet<String> = expected_bundles().into_iter().map(|(f, _)| f).collect();
    let root = fixtures().join("bundles");
    let mut on_disk = BTreeSet::new();
    for dir in ["valid", "invalid", "policy/dev-key", "policy/signer-change"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("read fixture folder") {
            let name = entry.expect("dir entry").file_name();
            on_disk.insert(format!("{dir}/{}", name.to_string_lossy()));
        }
    }
    assert_eq!(listed, on_disk);
    assert_eq!(listed.len(), 18);
}

#[test]
fn accepted_bundles_verify() {
    let mut seen = 0;
    for (file, expected) in expected_bundles() {
        if expected["verdict"] != "accept" {
            continue;
        }
        let report = verify_fixture(&file, &Options::default());
        assert!(
            report.ok() && report.problems.is_empty(),
            "{file} must verify: {:?}",
            report.problems
        );
        let bundle = report.bundle.expect("a verified bundle has facts");
        assert!(file.contains(&format!("{}-{}.mpk", bundle.package, bundle.app_version)));
        seen += 1;
    }
    assert_eq!(seen, 5);
}

#[test]
fn rejected_bundles_are_refused_for_their_reason() {
    let mut seen = 0;
    for (file, expected) in expected_bundles() {
        if expected["verdict"] != "reject" {
            continue;
        }
        let rule = reject_rule(&file);
        let report = verify_fixture(&file, &Options::default());
        assert!(!report.ok(), "{file} must be refused");
        assert!(report.bundle.is_none());
        assert!(
            rules(&report).contains(&rule),
            "{file} ({}) must report {}; got {:?}",
            expected["reason"],
            rule.code(),
            report.problems
        );
        // Allowing the dev key changes nothing for these.
        let lenient = verify_fixture(
            &file,
            &Options {
                allow_dev_key: true,
                ..Default::default()
            },
        );
        assert_eq!(rules(&lenient), rules(&report), "{file}");
        seen += 1;
    }
    assert_eq!(seen, REJECT_RULES.len());
}

/// Each of these has one defect, so the report names that one rule and nothing else.
#[test]
fn single_defect_bundles_report_only_their_rule() {
    for (file, rule) in REJECT_RULES {
        if [
            "invalid/signer-id-mismatch.mpk",
            "invalid/artifact-path-traversal.mpk",
        ]
        .contains(file)
        {
            continue; // two rules each, see below
        }
        let report = verify_fixture(file, &Options::default());
        assert_eq!(rules(&report), [*rule], "{file}: {:?}", report.problems);
    }
}

/// The manifest declares `../app.wasm` and the archive holds an entry of that name: the path
/// rule (a node's too) and the entry rule (the registry's: unpacked, it lands outside).
#[test]
fn artifact_path_traversal_breaks_the_path_rule_and_the_entry_rule() {
    let report = verify_fixture("invalid/artifact-path-traversal.mpk", &Options::default());
    let mut got = rules(&report);
    got.sort();
    assert_eq!(got, [Rule::EntryParent, Rule::ArtifactPath]);
}

/// The signerId was changed after signing. signerId is covered by the signature, so the
/// signature no longer verifies either; both are reported, and the mismatch names both ids.
#[test]
fn signer_id_mismatch_reports_the_mismatch_and_the_broken_signature() {
    let report = verify_fixture("invalid/signer-id-mismatch.mpk", &Options::default());
    let mut got = rules(&report);
    got.sort();
    assert_eq!(got, [Rule::SignatureInvalid, Rule::SignerIdMismatch]);
    let mismatch = report
        .problems
        .iter()
        .find(|p| p.rule == Rule::SignerIdMismatch)
        .expect("mismatch reported");
    assert_eq!(mismatch.subject, "signerId");
    let a = KeyFile::load(&fixtures().join("keys/publisher-a.json")).expect("key a");
    let b = KeyFile::load(&fixtures().join("keys/publisher-b.json")).expect("key b");
    // Declared: publisher B's id; the key that signed: publisher A's.
    assert!(mismatch.message.contains(&did_key(&b.verifying_key())));
    assert!(mismatch.message.contains(&did_key(&a.verifying_key())));
}

#[test]
fn dev_key_bundle_is_refused_unless_allowed() {
    let file = "policy/dev-key/com.example.devkey-1.0.0.mpk";
    let report = verify_fixture(file, &Options::default());
    assert_eq!(rules(&report), [Rule::WellKnownKey]);
    assert!(report.bundle.is_none());

    let allowed = verify_fixture(
        file,
        &Options {
            allow_dev_key: true,
            ..Default::default()
        },
    );
    assert!(allowed.ok(), "{:?}", allowed.problems);
    assert_eq!(
        allowed.bundle.expect("verified").signer_id,
        mpk_registry::keys::DEV_KEY_SIGNER
    );
}

/// A new signer for an existing package is refused by registry policy, which needs the
/// registry's history; on its own the bundle is sound.
#[test]
fn signer_change_bundle_verifies_on_its_own() {
    let report = verify_fixture(
        "policy/signer-change/com.example.hello-1.2.0.mpk",
        &Options::default(),
    );
    assert!(report.ok(), "{:?}", report.problems);
    let bundle = report.bundle.expect("verified");
    let b = KeyFile::load(&fixtures().join("keys/publisher-b.json")).expect("key b");
    assert_eq!(bundle.signer_id, did_key(&b.verifying_key()));
    assert_eq!(bundle.package, "com.example.hello");
}

#[test]
fn key_files_load_and_match_the_bundles_signers() {
    for (name, package_file) in [
        ("publisher-a.json", "valid/com.example.hello-1.0.0.mpk"),
        ("publisher-b.json", "valid/com.example.suite-0.3.0.mpk"),
    ] {
        let key = KeyFile::load(&fixtures().join("keys").join(name)).expect("load key");
        let report = verify_fixture(package_file, &Options::default());
        assert_eq!(
            report.bundle.expect("verified").signer_id,
            did_key(&key.verifying_key()),
            "{name}"
        );
    }
}

#[test]
fn reference_vectors_are_reproduced() {
    let vectors = load_json("vectors.json");
    let vectors = vectors.as_array().expect("vectors.json is an array");
    assert_eq!(vectors.len(), 7);
    let lenient = Options {
        allow_dev_key: true,
        ..Default::default()
    };
    for v in vectors {
        let file = v["file"].as_str().expect("file");
        let report = verify_fixture(file, &lenient);
        assert_eq!(
            v["signatureVerifies"], true,
            "the vectors cover signed bundles only"
        );
        assert!(
            !rules(&report).contains(&Rule::SignatureInvalid),
            "{file}: {:?}",
            report.problems
        );
        let manifest = report.manifest.as_ref().expect("the manifest parsed");

        let canonical = signed_bytes(manifest);
        assert_eq!(
            std::str::from_utf8(&canonical).expect("canonical JSON is UTF-8"),
            v["canonical"].as_str().expect("canonical"),
            "{file}: canonical bytes"
        );
        assert_eq!(
            hex::encode(signing_payload(manifest, Scheme::Legacy)),
            v["signingPayloadHex"].as_str().expect("payload"),
            "{file}: signing payload"
        );
        assert_eq!(
            hex::encode(Sha256::digest(&canonical)),
            v["signingPayloadHex"].as_str().expect("payload"),
            "{file}: the payload is SHA-256 of the canonical bytes"
        );

        let public_key = manifest["signature"]["publicKey"]
            .as_str()
            .expect("publicKey");
        let public_key: [u8; 32] = B64URL
            .decode(public_key)
            .expect("base64url")
            .try_into()
            .expect("32 bytes");
        let signer = did_key(&VerifyingKey::from_bytes(&public_key).expect("a valid key"));
        assert_eq!(signer, v["signerIdFromKey"], "{file}: signerId from key");
        assert_eq!(
            manifest["signerId"], v["signerIdDeclared"],
            "{file}: declared signerId"
        );

        let package = manifest["package"].as_str().expect("package");
        assert_eq!(
            application_id(package, &signer),
            v["applicationId"],
            "{file}: ApplicationId"
        );

        let bytes = std::fs::read(fixtures().join("bundles").join(file)).expect("read bundle");
        let digest = hex::encode(Sha256::digest(&bytes));
        assert_eq!(digest, v["bundleSha256"], "{file}: bundle SHA-256");

        // The report carries the same facts for a bundle that verifies.
        assert!(report.ok(), "{file}: {:?}", report.problems);
        let bundle = report.bundle.expect("verified");
        assert_eq!(bundle.bundle_sha256, digest);
        assert_eq!(bundle.bundle_size, bytes.len() as u64);
        assert_eq!(bundle.signer_id, signer);
        assert_eq!(bundle.application_id, v["applicationId"]);
    }
}

/// Bundles made by this project's `pack` and `pack --resign` (bundles/own-tools/README.md).
fn own_tools(file: &str) -> Report {
    verify_fixture(&format!("own-tools/{file}"), &Options::default())
}

#[test]
fn own_tools_resignatures_of_mero_sign_bundles_verify_under_v1_and_keep_everything_else() {
    for name in [
        "com.example.hello-1.0.0",
        "com.example.suite-0.3.0",
        "com.example.unicode-2.0.0-rc.1",
        "com.example.dotslash-1.0.0",
    ] {
        let original = verify_fixture(&format!("valid/{name}.mpk"), &Options::default());
        let moved = own_tools(&format!("{name}+v1.mpk"));
        let (o, m) = (
            original.bundle.expect("the original verifies"),
            moved
                .bundle
                .unwrap_or_else(|| panic!("{name}+v1: {:?}", moved.problems)),
        );
        assert_eq!(o.signature_scheme, Scheme::Legacy, "{name}");
        assert_eq!(m.signature_scheme, Scheme::V1, "{name}");
        assert_eq!(m.signer_id, o.signer_id, "{name}");
        assert_eq!(m.artifacts, o.artifacts, "{name}");
        assert_eq!(
            signed_bytes(moved.manifest.as_ref().unwrap()),
            signed_bytes(original.manifest.as_ref().unwrap()),
            "{name}: the canonical manifest, and so the bundle hash, is the same"
        );
    }
}

#[test]
fn own_tools_packed_bundles_verify_under_their_scheme() {
    for (file, scheme) in [
        ("com.example.packed-1.0.0-legacy.mpk", Scheme::Legacy),
        ("com.example.packed-1.0.0-v1.mpk", Scheme::V1),
    ] {
        let report = own_tools(file);
        let bundle = report
            .bundle
            .unwrap_or_else(|| panic!("{file}: {:?}", report.problems));
        assert_eq!(bundle.signature_scheme, scheme, "{file}");
    }
}
