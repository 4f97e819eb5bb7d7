//! Artifact digests and sizes: every declared artifact (wasm and abi, top level and per
//! service) must be the file the manifest hashes.

use crate::support::assert_refused;
use crate::support::bundle::*;
use mpk_registry::report::Rule;
use serde_json::json;

fn with_files(wasm: &[u8], abi: &[u8]) -> Vec<u8> {
    let manifest = to_bytes(&signed(base_manifest(), &key(1)));
    bundle(|t| {
        t.file("manifest.json", &manifest)?;
        t.file("app.wasm", wasm)?;
        t.file("abi.json", abi)
    })
}

fn services_with_files(files: &[(&str, &[u8])]) -> Vec<u8> {
    let manifest = to_bytes(&signed(services_manifest(), &key(1)));
    bundle(|t| {
        t.file("manifest.json", &manifest)?;
        for (path, bytes) in files {
            t.file(path, bytes)?;
        }
        Ok(())
    })
}

#[test]
fn digest_wasm() {
    assert_ok(&verify(&with_files(WASM, ABI)));
    let report = verify(&with_files(WASM_TAMPERED, ABI));
    assert_refused(&report, "app.wasm", Rule::Digest);
    let message = &report.problems[0].message;
    assert!(message.contains(&sha256_hex(WASM_TAMPERED)), "{message}");
    assert!(message.contains(&sha256_hex(WASM)), "{message}");
}

#[test]
fn digest_abi() {
    assert_ok(&verify(&with_files(WASM, ABI)));
    let report = verify(&with_files(WASM, ABI_TAMPERED));
    assert_refused(&report, "abi.json", Rule::Digest);
}

#[test]
fn digest_each_service() {
    let files = services_files();
    assert_ok(&verify(&services_with_files(&files)));
    let tampered = [
        ("services/store.wasm", WASM_TAMPERED),
        ("services/store-abi.json", ABI_TAMPERED),
        ("services/auth.wasm", WASM_2_TAMPERED),
    ];
    for (path, bytes) in tampered {
        let files: Vec<(&str, &[u8])> = services_files()
            .into_iter()
            .map(|(p, b)| if p == path { (p, bytes) } else { (p, b) })
            .collect();
        let report = verify(&services_with_files(&files));
        assert_refused(&report, path, Rule::Digest);
    }
}

#[test]
fn digest_is_checked_for_every_service_sharing_a_path() {
    let mut manifest = services_manifest();
    manifest["services"][1]["wasm"] = artifact("services/store.wasm", WASM);
    let text = to_bytes(&signed(manifest, &key(1)));
    let build = |wasm: &[u8]| {
        bundle(|t| {
            t.file("manifest.json", &text)?;
            t.file("services/store.wasm", wasm)?;
            t.file("services/store-abi.json", ABI)
        })
    };
    assert_ok(&verify(&build(WASM)));
    let report = verify(&build(WASM_TAMPERED));
    assert_refused(&report, "services/store.wasm", Rule::Digest);
    let digest_problems = report
        .problems
        .iter()
        .filter(|p| p.rule == Rule::Digest)
        .count();
    assert_eq!(digest_problems, 2, "one per declaration");
}

#[test]
fn size_mismatch() {
    assert_ok(&verify(&standard_with(|_| {})));
    for size in [WASM.len() + 1, WASM.len() - 1, 0] {
        let report = verify(&standard_with(|m| {
            m["wasm"]["size"] = json!(size);
        }));
        assert_refused(&report, "app.wasm", Rule::Size);
    }
}

#[test]
fn digest_and_size_both_reported() {
    assert_ok(&verify(&with_files(WASM, ABI)));
    let longer = [WASM, b"extra"].concat();
    let report = verify(&with_files(&longer, ABI));
    assert_rules(&report, &[Rule::Digest, Rule::Size]);
}

#[test]
fn empty_artifact_with_the_empty_digest_verifies() {
    let bytes = {
        let manifest = to_bytes(&signed(
            {
                let mut m = base_manifest();
                m.insert("abi".into(), artifact("abi.json", b""));
                m
            },
            &key(1),
        ));
        bundle(|t| {
            t.file("manifest.json", &manifest)?;
            t.file("app.wasm", WASM)?;
            t.file("abi.json", b"")
        })
    };
    let report = verify(&bytes);
    assert_ok(&report);
    assert_eq!(
        report.bundle.expect("verified").artifacts[1].sha256,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn a_link_to_an_empty_digest_is_still_not_a_file() {
    // A symlink reads as zero bytes; even with the empty digest declared it is refused.
    let manifest = to_bytes(&signed(
        {
            let mut m = base_manifest();
            m.insert("wasm".into(), artifact("app.wasm", b""));
            m
        },
        &key(1),
    ));
    let bytes = bundle(|t| {
        t.file("manifest.json", &manifest)?;
        t.symlink("app.wasm", "/etc/passwd")?;
        t.file("abi.json", ABI)
    });
    assert_refused(&verify(&bytes), "app.wasm", Rule::ArtifactNotFile);
}

#[test]
fn every_problem_is_listed_bad_package_and_digest() {
    let manifest = to_bytes(&signed(
        {
            let mut m = base_manifest();
            m.insert("package".into(), json!("../escape"));
            m
        },
        &key(1),
    ));
    let bytes = bundle(|t| {
        t.file("manifest.json", &manifest)?;
        t.file("app.wasm", WASM_TAMPERED)?;
        t.file("abi.json", ABI)
    });
    let report = verify(&bytes);
    assert_rules(&report, &[Rule::Package, Rule::Digest]);
}

#[test]
fn every_problem_is_listed_across_layers() {
    // Container, manifest, signature, digest and policy problems in one report.
    let mut manifest = signed(
        {
            let mut m = base_manifest();
            m.insert("appVersion".into(), json!("1.0.0+x"));
            m
        },
        &mpk_registry::keys::dev_signing_key(),
    );
    manifest["metadata"]["name"] = json!("changed after signing");
    let text = to_bytes(&manifest);
    let bytes = bundle(|t| {
        t.file("manifest.json", &text)?;
        t.file("./manifest.json", &text)?;
        t.file("app.wasm", WASM_TAMPERED)?;
        t.file("abi.json", ABI)?;
        t.file("./abi.json", ABI)
    });
    let report = verify(&bytes);
    // The signature is invalid, so no signer is established and the dev key is not judged.
    assert_rules(
        &report,
        &[
            Rule::ManifestDuplicate,
            Rule::AppVersion,
            Rule::SignatureInvalid,
            Rule::Digest,
            Rule::ArtifactDuplicate,
        ],
    );

    // With a valid dev-key signature, the key is reported alongside the rest.
    let manifest = signed(
        {
            let mut m = base_manifest();
            m.insert("appVersion".into(), json!("1.0.0+x"));
            m
        },
        &mpk_registry::keys::dev_signing_key(),
    );
    let text = to_bytes(&manifest);
    let bytes = bundle(|t| {
        t.file("manifest.json", &text)?;
        t.file("app.wasm", WASM_TAMPERED)?;
        t.file("abi.json", ABI)
    });
    assert_rules(
        &verify(&bytes),
        &[Rule::AppVersion, Rule::Digest, Rule::WellKnownKey],
    );
}
