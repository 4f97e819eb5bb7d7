//! Moving with the node's signing domain (core #4307): bundles signed under either scheme,
//! re-signatures added beside published versions, and which bundle each client gets.

use crate::support::assert_refused;
use crate::support::bundle::*;
use crate::support::fetch::{index_key, Setup, DAY, T0};
use crate::support::git::*;
use crate::support::registry::*;
use mpk_registry::canonical::Scheme;
use mpk_registry::report::Rule;
use mpk_registry::site::paths;

const NOTES: &str = "com.example.notes";

/// The path of `NOTES` `version` re-signed under `scheme`.
fn resignature_path(version: &str, scheme: Scheme) -> String {
    format!("{NOTES}/{NOTES}-{version}+{scheme}.mpk")
}

/// `NOTES` 1.0.0 (legacy, by `key(1)`, owned by alice) committed; the registry and the base.
fn published() -> (Registry, String) {
    let repo = Registry::in_git();
    repo.publish(NOTES, "1.0.0", &key(1));
    repo.package_toml(NOTES, "owners = [\"alice\"]\n");
    let base = repo.commit("publish notes 1.0.0");
    (repo, base)
}

/// Adds the v1 re-signature of `NOTES` 1.0.0 made by `key` from the published bytes.
fn add_resignature(repo: &Registry, key: &ed25519_dalek::SigningKey) -> String {
    let original = repo.read(&bundle_path(NOTES, "1.0.0"));
    let rel = resignature_path("1.0.0", Scheme::V1);
    repo.write(&rel, resigned(&original, key, Scheme::V1));
    rel
}

/// Commits `bytes` at `rel` as alice's change to `published()` and asserts the gate refuses
/// it as not being a re-signature.
fn assert_not_a_resignature(rel: &str, bytes: impl FnOnce(&Registry) -> Vec<u8>) {
    let (repo, base) = published();
    let bytes = bytes(&repo);
    repo.write(rel, bytes);
    repo.commit("a would-be re-signature");
    assert_refused(&repo.check(&base, Some("alice")), rel, Rule::Resignature);
}

#[test]
fn resignature_by_the_owner_passes_check() {
    let (repo, base) = published();
    add_resignature(&repo, &key(1));
    repo.commit("notes 1.0.0 under v1");
    assert_clear(&repo.check(&base, Some("alice")));
}

#[test]
fn resignature_by_a_non_owner_is_refused() {
    let (repo, base) = published();
    let rel = add_resignature(&repo, &key(1));
    repo.commit("notes 1.0.0 under v1");
    assert_refused(&repo.check(&base, Some("mallory")), &rel, Rule::Ownership);
}

#[test]
fn resignature_that_changes_the_manifest_is_refused() {
    // Signed under v1 by the same key, but with another description: a new manifest.
    let mut manifest = pack_manifest(NOTES, "1.0.0");
    manifest["metadata"]["description"] = "Now with more features".into();
    assert_not_a_resignature(&resignature_path("1.0.0", Scheme::V1), |_| {
        packed_as(manifest, &key(1), Scheme::V1)
    });
}

#[test]
fn resignature_under_the_same_scheme_is_refused() {
    // The published bundle's bytes under a `+legacy` name: not a move to another scheme.
    assert_not_a_resignature(&resignature_path("1.0.0", Scheme::Legacy), |repo| {
        repo.read(&bundle_path(NOTES, "1.0.0"))
    });
}

#[test]
fn resignature_by_another_key_is_refused() {
    // The same manifest, signed under v1 by another key (an owner's new key, say): a new
    // signer is a new application, never a re-signature.
    assert_not_a_resignature(&resignature_path("1.0.0", Scheme::V1), |_| {
        packed_as(pack_manifest(NOTES, "1.0.0"), &key(2), Scheme::V1)
    });
}

#[test]
fn resignature_without_an_original_is_refused() {
    assert_not_a_resignature(&resignature_path("2.0.0", Scheme::V1), |_| {
        packed_as(pack_manifest(NOTES, "2.0.0"), &key(1), Scheme::V1)
    });
}

#[test]
fn resignature_name_must_say_its_scheme() {
    let (repo, base) = published();
    let original = repo.read(&bundle_path(NOTES, "1.0.0"));
    let rel = format!("{NOTES}/{NOTES}-1.0.0+v2.mpk");
    repo.write(&rel, resigned(&original, &key(1), Scheme::V1));
    repo.commit("misnamed re-signature");
    assert_refused(&repo.check(&base, Some("alice")), &rel, Rule::FileName);
}

#[test]
fn resignature_once_published_is_immutable() {
    let (repo, _) = published();
    let rel = add_resignature(&repo, &key(1));
    let base = repo.commit("notes 1.0.0 under v1");
    repo.write(&rel, b"other bytes");
    repo.commit("replace the re-signature");
    assert_refused(&repo.check(&base, Some("alice")), &rel, Rule::Immutable);
}

#[test]
fn replacing_a_published_bundle_by_its_resignature_is_refused() {
    // The original is never replaced: its bytes stay published for the nodes that need them.
    let (repo, base) = published();
    let rel = bundle_path(NOTES, "1.0.0");
    let original = repo.read(&rel);
    repo.write(&rel, resigned(&original, &key(1), Scheme::V1));
    repo.commit("replace notes 1.0.0 by its v1 signature");
    assert_refused(&repo.check(&base, Some("alice")), &rel, Rule::Immutable);
}

#[test]
fn signature_schemes_setting_refuses_new_bundles_under_other_schemes() {
    let repo = Registry::in_git();
    repo.write(
        "registry.toml",
        "title = \"v1 only\"\nsignature_schemes = [\"v1\"]\n",
    );
    repo.package_toml(NOTES, "owners = [\"alice\"]\n");
    let base = repo.commit("settings");
    let legacy = repo.publish(NOTES, "1.0.0", &key(1));
    repo.commit("a legacy bundle");
    assert_refused(
        &repo.check(&base, Some("alice")),
        &legacy,
        Rule::SignatureScheme,
    );

    // The honest twin: the same version signed under v1.
    let repo = Registry::in_git();
    repo.write(
        "registry.toml",
        "title = \"v1 only\"\nsignature_schemes = [\"v1\"]\n",
    );
    repo.package_toml(NOTES, "owners = [\"alice\"]\n");
    let base = repo.commit("settings");
    repo.write(
        &bundle_path(NOTES, "1.0.0"),
        packed_as(pack_manifest(NOTES, "1.0.0"), &key(1), Scheme::V1),
    );
    repo.commit("a v1 bundle");
    assert_clear(&repo.check(&base, Some("alice")));
}

/// Builds `repo` and returns the app index entry of `NOTES` 1.0.0.
fn built_release(repo: &Registry) -> serde_json::Value {
    repo.build_ok();
    read_json(&repo.out(), &paths::app_index(NOTES))["versions"][0].clone()
}

#[test]
fn build_serves_the_legacy_bundle_by_default_and_keeps_both() {
    let (repo, _) = published();
    let rel = add_resignature(&repo, &key(1));
    repo.commit("notes 1.0.0 under v1");
    let legacy = repo.read(&bundle_path(NOTES, "1.0.0"));
    let v1 = repo.read(&rel);
    let release = built_release(&repo);
    assert_eq!(release["signatureScheme"], "legacy");
    assert_eq!(release["bundle"]["sha256"], sha256_hex(&legacy));
    let other = &release["otherSignatures"][0];
    assert_eq!(other["signatureScheme"], "v1");
    assert_eq!(other["sha256"], sha256_hex(&v1));
    let out = repo.out();
    assert_eq!(
        std::fs::read(out.join(paths::artifact(NOTES, "1.0.0"))).unwrap(),
        legacy
    );
    assert_eq!(
        std::fs::read(out.join(other["contentPath"].as_str().unwrap())).unwrap(),
        v1
    );
    let page = std::fs::read_to_string(out.join(paths::app_page(NOTES))).unwrap();
    assert!(
        page.contains("v1 bundle"),
        "the page links the other signature"
    );
}

#[test]
fn build_serves_the_v1_bundle_when_registry_toml_says_so() {
    let (repo, _) = published();
    repo.write(
        "registry.toml",
        "title = \"Test registry\"\nserve_signature = \"v1\"\n",
    );
    let rel = add_resignature(&repo, &key(1));
    repo.commit("serve v1");
    let v1 = repo.read(&rel);
    let release = built_release(&repo);
    assert_eq!(release["signatureScheme"], "v1");
    assert_eq!(release["otherSignatures"][0]["signatureScheme"], "legacy");
    let out = repo.out();
    assert_eq!(
        std::fs::read(out.join(paths::artifact(NOTES, "1.0.0"))).unwrap(),
        v1
    );
    // The API answer carries the served bundle's signature.
    let answer = read_json(&out, &paths::api_bundle(NOTES, "1.0.0"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&bundle_manifest(&v1)).expect("a JSON manifest");
    assert_eq!(answer["signature"], manifest["signature"]);
}

#[test]
fn fetch_installs_a_bundle_of_either_scheme() {
    let s = Setup::new();
    s.reg.publish(NOTES, "1.0.0", &key(1));
    s.reg.write(
        &bundle_path(NOTES, "1.1.0"),
        packed_as(pack_manifest(NOTES, "1.1.0"), &key(1), Scheme::V1),
    );
    s.commit("legacy 1.0.0, v1 1.1.0", T0);
    s.build("site", Some(&index_key()));
    s.serve("site");
    for version in ["1.0.0", "1.1.0"] {
        let fetched = s
            .fetch(&format!("{NOTES}@{version}"), T0 + DAY)
            .unwrap_or_else(|e| panic!("{version}: {e}"));
        assert_eq!(fetched.version, version);
    }
}
