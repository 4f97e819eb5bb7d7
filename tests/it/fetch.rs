//! `fetch` against real HTTP: every way a host, a cache or someone who can push to the served
//! branch could lie is refused with its reason, and nothing is written when anything fails.

use crate::support::bundle::{bundle_path, key, sha256_hex, signer, tamper_entry};
use crate::support::cli::{run_in, transcript};
use crate::support::fetch::*;
use crate::support::golden::assert_golden;
use mpk_registry::fetch::{KeySource, Refusal, MAX_BUNDLE_BYTES, MAX_INDEX_BYTES};
use mpk_registry::report::Rule;
use mpk_registry::site::catalog::{rfc3339, to_bytes};
use mpk_registry::site::paths;
use serde_json::{json, Value};

const APP: &str = "com.example.app";
const OTHER: &str = "com.example.other";

/// A day after the first commit: every 14-day index built in these tests is fresh then.
const NOW: i64 = T0 + DAY;

/// `APP` 1.0.0 and 1.1.0 by `key(1)`, committed at `T0`, built signed as "v1" and served.
fn served_app() -> Setup {
    let s = Setup::new();
    s.reg.publish(APP, "1.0.0", &key(1));
    s.reg.publish(APP, "1.1.0", &key(1));
    s.commit("Add app 1.0.0 and 1.1.0", T0);
    s.build("v1", Some(&index_key()));
    s.serve("v1");
    s
}

/// The output folder holds exactly `names` (no bundle from the refused fetch, no temp file).
#[track_caller]
fn assert_out(s: &Setup, names: &[&str]) {
    assert_eq!(s.out_files(), names, "output folder");
}

fn file_name(package: &str, version: &str) -> String {
    format!("{package}-{version}.mpk")
}

/// Re-points the unsigned served site at new bundle bytes for `version` of `package`, as anyone
/// who can write to the host could: new size and digest in the app index, the app index's new
/// digest in the catalog.
fn rewrite_unsigned(s: &Setup, package: &str, version: &str, new_bundle: &[u8]) {
    let artifact = paths::artifact(package, version);
    s.serve_bytes(&artifact, new_bundle);
    let app_rel = paths::app_index(package);
    let mut app = s.served_json(&app_rel);
    for v in app["versions"].as_array_mut().unwrap() {
        if v["version"] == version {
            v["bundle"]["sha256"] = json!(sha256_hex(new_bundle));
            v["bundle"]["size"] = json!(new_bundle.len());
        }
    }
    let app_bytes = to_bytes(&app);
    s.serve_bytes(&app_rel, &app_bytes);
    let mut catalog = s.served_json("index.json");
    for a in catalog["apps"].as_array_mut().unwrap() {
        if a["package"] == package {
            a["index"]["sha256"] = json!(sha256_hex(&app_bytes));
        }
    }
    s.serve_json("index.json", &catalog);
}

/// Signs `catalog` again with the registry's own index key, keeping its `version` and
/// `expires`, and serves it: the edit is one the registry signed, so the signature check passes
/// and a later check has to catch it.
fn serve_resigned(s: &Setup, mut catalog: Value) {
    let map = catalog.as_object_mut().expect("the catalog is an object");
    mpk_registry::signature::sign(map, &index_key(), mpk_registry::canonical::Scheme::Legacy);
    s.serve_json("index.json", &catalog);
}

/// Serves `package`'s app index after `edit`, pinned by its new SHA-256 in a re-signed catalog.
fn edit_app_index(s: &Setup, package: &str, edit: impl FnOnce(&mut Value)) {
    let app_rel = paths::app_index(package);
    let mut app = s.served_json(&app_rel);
    edit(&mut app);
    let app_bytes = to_bytes(&app);
    s.serve_bytes(&app_rel, &app_bytes);
    let mut catalog = s.served_json("index.json");
    for a in catalog["apps"].as_array_mut().unwrap() {
        if a["package"] == package {
            a["index"]["sha256"] = json!(sha256_hex(&app_bytes));
        }
    }
    serve_resigned(s, catalog);
}

/// [`edit_app_index`] of the entry for `version` of `package`.
fn edit_release(s: &Setup, package: &str, version: &str, edit: impl FnOnce(&mut Value)) {
    edit_app_index(s, package, |app| {
        let entry = app["versions"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|v| v["version"] == version)
            .expect("the version is listed");
        edit(entry);
    });
}

#[test]
fn happy_path_fetches_the_latest_and_pins_on_first_use() {
    let s = served_app();
    let got = s.fetch_ok(&s.options(APP, NOW));

    let expected = s.reg.read(&bundle_path(APP, "1.1.0"));
    assert_eq!(got.package, APP);
    assert_eq!(got.version, "1.1.0");
    assert_eq!(got.signer_id, signer(&key(1)));
    assert_eq!(got.bundle_sha256, sha256_hex(&expected));
    assert_eq!(got.path, s.out().join(file_name(APP, "1.1.0")));
    assert_eq!(std::fs::read(&got.path).unwrap(), expected);
    assert_out(&s, &[&file_name(APP, "1.1.0")]);
    assert_eq!(got.notes.len(), 2, "{:?}", got.notes);
    assert_mentions(
        &got.notes[0],
        &["pinned index key", &signer(&index_key()), "first use"],
    );
    assert_mentions(&got.notes[1], &["pinned signer", &signer(&key(1)), APP]);

    // The state file now pins the index key, the version seen and the package's signer.
    let pins = s.pins();
    assert_eq!(pins["indexKey"], signer(&index_key()));
    assert_eq!(pins["highestVersion"], 1);
    assert_eq!(pins["highestVersionSeenAt"], rfc3339(NOW));
    assert_eq!(pins["packages"][APP]["signerId"], signer(&key(1)));
    let state_dir = s.state().parent().unwrap().to_path_buf();
    let leftovers: Vec<_> = std::fs::read_dir(&state_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["trust.json"], "the state is written atomically");

    // A named version, pinned already: nothing new to say.
    let older = s.fetch_ok(&s.options(&format!("{APP}@1.0.0"), NOW));
    assert_eq!(older.version, "1.0.0");
    assert!(older.notes.is_empty(), "{:?}", older.notes);
    assert_out(&s, &[&file_name(APP, "1.0.0"), &file_name(APP, "1.1.0")]);
}

#[test]
fn failed_bundle_write_leaves_the_pins_unchanged() {
    let s = served_app();
    s.fetch_ok(&s.options(&format!("{APP}@1.0.0"), NOW));
    let pins = std::fs::read(s.state()).unwrap();

    // A newer index (version 2) whose newest bundle cannot be written: a folder holds its place.
    s.reg.publish(APP, "1.2.0", &key(1));
    s.commit("Add app 1.2.0", T0 + 3_600);
    s.build("v2", Some(&index_key()));
    s.serve("v2");
    std::fs::create_dir(s.out().join(file_name(APP, "1.2.0"))).unwrap();

    let message = failure(s.fetch(APP, NOW));
    assert_mentions(&message, &["cannot write", &file_name(APP, "1.2.0")]);
    assert_eq!(
        std::fs::read(s.state()).unwrap(),
        pins,
        "version 2 is not recorded for a bundle that was not written"
    );
    // The folder is still there; the temporary download is gone.
    assert_out(&s, &[&file_name(APP, "1.0.0"), &file_name(APP, "1.2.0")]);
}

#[cfg(unix)]
#[test]
fn pins_are_saved_after_the_bundle_is_in_place() {
    let s = served_app();
    // The state's folder is a dangling symbolic link: there is no state to read, and saving one
    // fails.
    let folder = s.path("state-link");
    std::os::unix::fs::symlink(s.path("nowhere"), &folder).unwrap();
    let mut options = s.options(APP, NOW);
    options.state = Some(folder.join("trust.json"));

    let message = failure(mpk_registry::fetch::fetch(&options));
    assert_mentions(&message, &["cannot create", "state-link"]);
    assert_eq!(
        std::fs::read(s.out().join(file_name(APP, "1.1.0"))).unwrap(),
        s.reg.read(&bundle_path(APP, "1.1.0")),
        "the bundle was in place before the pins were saved"
    );
    assert_out(&s, &[&file_name(APP, "1.1.0")]);
}

#[test]
fn local_folder_registry_gets_the_same_checks() {
    let s = served_app();
    let mut options = s.options(APP, NOW);
    options.registry = s.served().display().to_string();
    let got = s.fetch_ok(&options);
    assert_eq!(got.version, "1.1.0");

    let artifact = paths::artifact(APP, "1.1.0");
    let mut bytes = s.served_bytes(&artifact);
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    s.serve_bytes(&artifact, &bytes);
    std::fs::remove_file(&got.path).unwrap();
    assert_refusal!(
        mpk_registry::fetch::fetch(&options),
        Refusal::BundleDigest {
            signed_index: true,
            ..
        }
    );
    assert_out(&s, &[]);
}

#[test]
fn tampered_artifact_is_refused() {
    let s = served_app();
    let artifact = paths::artifact(APP, "1.1.0");
    let mut bytes = s.served_bytes(&artifact);
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40; // same size, other bytes
    s.serve_bytes(&artifact, &bytes);

    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::BundleDigest { path, actual, signed_index: true, .. }
            if *path == artifact && *actual == sha256_hex(&bytes)
    );
    assert_out(&s, &[]);
    assert!(!s.state().exists(), "no state is written on a refusal");
}

#[test]
fn tampered_artifact_behind_a_rewritten_unsigned_index_fails_node_verification() {
    let s = Setup::new();
    s.reg.publish(APP, "1.0.0", &key(1));
    s.commit("Add app", T0);
    s.build("unsigned", None);
    s.serve("unsigned");
    // The wasm no longer matches the digest its signed manifest declares; the unsigned index
    // was rewritten to match the new bytes, so only the bundle's own checks can tell.
    let tampered = tamper_entry(&s.reg.read(&bundle_path(APP, "1.0.0")), "app.wasm");
    rewrite_unsigned(&s, APP, "1.0.0", &tampered);

    let mut options = s.options(APP, NOW);
    options.insecure = true;
    assert_refusal!(
        mpk_registry::fetch::fetch(&options),
        Refusal::BundleRefused { problems, .. }
            if problems.iter().any(|p| p.rule == Rule::Digest && p.subject == "app.wasm")
    );
    assert_out(&s, &[]);
}

#[test]
fn swapped_artifact_of_another_package_is_refused() {
    let s = Setup::new();
    s.reg.publish(APP, "1.0.0", &key(1));
    s.reg.publish(OTHER, "1.0.0", &key(1));
    s.commit("Add two apps", T0);
    s.build("v1", Some(&index_key()));
    s.serve("v1");
    // A valid bundle, by the same publisher, of another package, at APP's address.
    let other = s.served_bytes(&paths::artifact(OTHER, "1.0.0"));
    assert!(mpk_registry::verify::verify_reader(&other[..], "other", &Default::default()).ok());
    s.serve_bytes(&paths::artifact(APP, "1.0.0"), &other);

    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::BundleDigest { path, signed_index: true, .. }
            | Refusal::BundleSize { path, signed_index: true, .. }
            if *path == paths::artifact(APP, "1.0.0")
    );
    assert_out(&s, &[]);
}

#[test]
fn swapped_artifact_behind_a_rewritten_unsigned_index_is_refused_by_identity() {
    let s = Setup::new();
    s.reg.publish(APP, "1.0.0", &key(1));
    s.reg.publish(OTHER, "1.0.0", &key(1));
    s.commit("Add two apps", T0);
    s.build("unsigned", None);
    s.serve("unsigned");
    let other = s.reg.read(&bundle_path(OTHER, "1.0.0"));
    rewrite_unsigned(&s, APP, "1.0.0", &other);

    let mut options = s.options(APP, NOW);
    options.insecure = true;
    assert_refusal!(
        mpk_registry::fetch::fetch(&options),
        Refusal::BundleIdentity { package, version, got_package, got_version, .. }
            if package == APP && version == "1.0.0" && got_package == OTHER && got_version == "1.0.0"
    );
    assert_out(&s, &[]);
}

#[test]
fn rolled_back_catalog_is_refused() {
    let s = Setup::new();
    s.reg.publish(APP, "1.0.0", &key(1));
    s.reg.publish(APP, "1.1.0", &key(1));
    s.commit("Add app 1.0.0 and 1.1.0", T0);
    s.build("v1", Some(&index_key()));
    // The fix: 1.1.0 is withdrawn.
    s.reg.write(
        &format!("{APP}/package.toml"),
        "yanked = [{ version = \"1.1.0\", reason = \"corrupts state\" }]\n",
    );
    s.commit("Yank app 1.1.0", T0 + 3_600);
    s.build("v2", Some(&index_key()));

    s.serve("v2");
    assert_eq!(s.fetch_ok(&s.options(APP, NOW)).version, "1.0.0");
    assert_eq!(s.pins()["highestVersion"], 2);

    // The old index is validly signed and not expired, and would hand out the yanked version.
    s.serve("v1");
    assert_refusal!(
        s.fetch(APP, NOW + 60),
        Refusal::Rollback { seen: 2, seen_at: Some(at), got: 1 } if *at == rfc3339(NOW)
    );
    assert_out(&s, &[&file_name(APP, "1.0.0")]);
    assert_eq!(
        s.pins()["highestVersion"],
        2,
        "the refusal changes no state"
    );

    // A client that never saw version 2 cannot tell (which is why the version is kept).
    let mut fresh = s.options(APP, NOW + 60);
    fresh.state = Some(s.path("fresh-state.json"));
    fresh.output = s.path("fresh-out");
    assert_eq!(s.fetch_ok(&fresh).version, "1.1.0");
}

#[test]
fn expired_catalog_is_refused() {
    let s = served_app();
    let expires = T0 + 14 * DAY;
    assert_eq!(s.served_json("index.json")["expires"], rfc3339(expires));

    // Valid until the last second before `expires`.
    s.fetch_ok(&s.options(APP, expires - 1));
    std::fs::remove_dir_all(s.out()).unwrap();

    assert_refusal!(
        s.fetch(APP, expires + 2 * DAY),
        Refusal::Stale { expired_at, now } if *expired_at == expires && *now == expires + 2 * DAY
    );
    assert_out(&s, &[]);
}

#[test]
fn catalog_signed_by_another_key_than_trusted_is_refused() {
    let s = Setup::new();
    s.reg.publish(APP, "1.0.0", &key(1));
    s.commit("Add app", T0);
    s.build("forged", Some(&other_index_key()));
    s.serve("forged");

    let mut options = s.options(APP, NOW);
    options.trust = Some(signer(&index_key()));
    assert_refusal!(
        mpk_registry::fetch::fetch(&options),
        Refusal::CatalogKey { key, expected, key_source: KeySource::Trust }
            if *key == signer(&other_index_key()) && *expected == signer(&index_key())
    );
    assert_out(&s, &[]);
    assert!(!s.state().exists());
}

#[test]
fn catalog_signed_by_another_key_than_pinned_is_refused_until_trusted_explicitly() {
    let s = served_app();
    s.fetch_ok(&s.options(APP, NOW));
    std::fs::remove_dir_all(s.out()).unwrap();

    // A newer index, signed with another key.
    s.reg.publish(APP, "1.2.0", &key(1));
    s.commit("Add app 1.2.0", T0 + 3_600);
    s.build("v2", Some(&other_index_key()));
    s.serve("v2");
    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::CatalogKey { key, expected, key_source: KeySource::Pin { pinned_at: Some(at) } }
            if *key == signer(&other_index_key()) && *expected == signer(&index_key()) && *at == rfc3339(NOW)
    );
    assert_out(&s, &[]);
    assert_eq!(s.pins()["indexKey"], signer(&index_key()));

    // Naming the new key is an explicit rotation: accepted, said, and re-pinned.
    let mut options = s.options(APP, NOW);
    options.trust = Some(signer(&other_index_key()));
    let got = s.fetch_ok(&options);
    assert_eq!(got.version, "1.2.0");
    assert!(
        got.notes.iter().any(|n| n.contains(&format!(
            "re-pinned the index key of {} from {} to {} (--trust)",
            s.server.url(),
            signer(&index_key()),
            signer(&other_index_key())
        ))),
        "{:?}",
        got.notes
    );
    assert_eq!(s.pins()["indexKey"], signer(&other_index_key()));
    // From now on the old key is the stranger.
    s.serve("v1");
    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::CatalogKey { key, expected, .. }
            if *key == signer(&index_key()) && *expected == signer(&other_index_key())
    );
}

#[test]
fn catalog_changed_after_signing_is_refused() {
    let s = served_app();
    let mut catalog = s.served_json("index.json");
    catalog["apps"][0]["latestVersion"] = json!("9.9.9");
    s.serve_json("index.json", &catalog);

    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::CatalogSignature { problems }
            if problems.iter().any(|p| p.rule == Rule::SignatureInvalid)
    );
    assert_out(&s, &[]);
}

#[test]
fn app_index_from_another_build_is_refused() {
    let s = served_app();
    s.reg.publish(APP, "1.2.0", &key(1));
    s.commit("Add app 1.2.0", T0 + 3_600);
    s.build("v2", Some(&index_key()));
    // The new catalog with the old per-app index: mix and match.
    s.serve("v2");
    let app_rel = paths::app_index(APP);
    s.serve_file_from("v1", &app_rel);
    let old = sha256_hex(&s.served_bytes(&app_rel));
    let pinned = s.served_json("index.json")["apps"][0]["index"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(old, pinned);

    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::AppIndexDigest { path, expected, actual, catalog_version: Some(2) }
            if *path == app_rel && *expected == pinned && *actual == old
    );
    assert_out(&s, &[]);
}

#[test]
fn yanked_version_is_skipped_and_fetched_only_by_name() {
    let s = Setup::new();
    s.reg.publish(APP, "1.0.0", &key(1));
    s.reg.publish(APP, "1.1.0", &key(1));
    s.reg.write(
        &format!("{APP}/package.toml"),
        "yanked = [{ version = \"1.1.0\", reason = \"corrupts state\" }]\n",
    );
    s.commit("Add app, 1.1.0 yanked", T0);
    s.build("v1", Some(&index_key()));
    s.serve("v1");

    let latest = s.fetch_ok(&s.options(APP, NOW));
    assert_eq!(latest.version, "1.0.0");

    let named = s.fetch_ok(&s.options(&format!("{APP}@1.1.0"), NOW));
    assert_eq!(named.version, "1.1.0");
    assert!(
        named.notes.iter().any(|n| n.contains(
            "com.example.app 1.1.0 is yanked (corrupts state); fetched because it was named explicitly"
        )),
        "{:?}",
        named.notes
    );
}

#[test]
fn yanked_version_is_refused_as_latest_when_nothing_else_is_left() {
    let s = Setup::new();
    s.reg.publish(APP, "1.0.0", &key(1));
    s.reg.write(
        &format!("{APP}/package.toml"),
        "yanked = [{ version = \"1.0.0\", reason = \"broken\" }]\n",
    );
    s.commit("Add app, yanked", T0);
    s.build("v1", Some(&index_key()));
    s.serve("v1");

    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::NoLatest { package, yanked: 1, prereleases: 0, .. } if package == APP
    );
    assert_out(&s, &[]);
}

#[test]
fn latest_skips_prereleases_unless_asked() {
    let s = Setup::new();
    s.reg.publish(APP, "1.0.0", &key(1));
    s.reg.publish(APP, "2.0.0-rc.1", &key(1));
    s.commit("Add app 1.0.0 and 2.0.0-rc.1", T0);
    s.build("v1", Some(&index_key()));
    s.serve("v1");

    assert_eq!(s.fetch_ok(&s.options(APP, NOW)).version, "1.0.0");
    let mut options = s.options(APP, NOW);
    options.prerelease = true;
    assert_eq!(s.fetch_ok(&options).version, "2.0.0-rc.1");
}

#[test]
fn signer_change_is_refused() {
    let s = Setup::new();
    s.reg.publish(APP, "1.0.0", &key(1));
    s.commit("Add app 1.0.0", T0);
    s.build("v1", Some(&index_key()));
    s.serve("v1");
    s.fetch_ok(&s.options(APP, NOW));
    assert_eq!(s.pins()["packages"][APP]["signerId"], signer(&key(1)));

    // The registry let a second key sign (package.toml `signers`), and 1.1.0 is signed by it.
    s.reg.write(
        &format!("{APP}/package.toml"),
        format!("signers = [\"{}\"]\n", signer(&key(2))),
    );
    s.reg.publish(APP, "1.1.0", &key(2));
    s.commit("Add app 1.1.0 signed by a new key", T0 + 3_600);
    s.build("v2", Some(&index_key()));
    s.serve("v2");

    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::SignerChanged { package, version, pinned, pinned_at, got, state, .. }
            if package == APP
                && version == "1.1.0"
                && *pinned == signer(&key(1))
                && *pinned_at == rfc3339(NOW)
                && *got == signer(&key(2))
                && *state == s.state()
    );
    assert_out(&s, &[&file_name(APP, "1.0.0")]);
    assert_eq!(
        s.pins()["highestVersion"],
        1,
        "the refusal changes no state"
    );

    // The old signer's versions are still fine.
    s.fetch_ok(&s.options(&format!("{APP}@1.0.0"), NOW));
}

#[test]
fn unsigned_catalog_is_refused_unless_insecure() {
    let s = Setup::new();
    s.reg.publish(APP, "1.0.0", &key(1));
    s.commit("Add app", T0);
    s.build("unsigned", None);
    s.serve("unsigned");
    assert_eq!(s.served_json("index.json")["signature"], Value::Null);

    assert_refusal!(s.fetch(APP, NOW), Refusal::Unsigned);
    assert_out(&s, &[]);

    let mut options = s.options(APP, NOW);
    options.insecure = true;
    let got = s.fetch_ok(&options);
    assert_eq!(got.version, "1.0.0");
    assert!(got.notes[0].contains("accepted because of --insecure"));
    // The signer is pinned even so; no index key or version is.
    let pins = s.pins();
    assert_eq!(pins["packages"][APP]["signerId"], signer(&key(1)));
    assert!(pins.get("indexKey").is_none() && pins.get("highestVersion").is_none());
}

#[test]
fn stripped_signature_is_refused_even_with_insecure() {
    let s = served_app();
    s.fetch_ok(&s.options(APP, NOW));
    std::fs::remove_dir_all(s.out()).unwrap();

    let mut catalog = s.served_json("index.json");
    catalog["signature"] = Value::Null;
    s.serve_json("index.json", &catalog);
    let mut options = s.options(APP, NOW);
    options.insecure = true;
    assert_refusal!(
        mpk_registry::fetch::fetch(&options),
        Refusal::SignatureStripped { expected, key_source: KeySource::Pin { .. } }
            if *expected == signer(&index_key())
    );
    assert_out(&s, &[]);
}

#[test]
fn duplicate_keys_in_the_catalog_are_refused() {
    let s = Setup::new();
    s.reg.publish(APP, "1.0.0", &key(1));
    s.commit("Add app", T0);
    s.build("unsigned", None);
    s.serve("unsigned");
    let text = String::from_utf8(s.served_bytes("index.json")).unwrap();
    let doubled = text.replacen("{", "{\n  \"apps\": [],", 1);
    s.serve_bytes("index.json", doubled.as_bytes());

    let mut options = s.options(APP, NOW);
    options.insecure = true;
    assert_refusal!(
        mpk_registry::fetch::fetch(&options),
        Refusal::Malformed { document, reasons }
            if document == "index.json"
                && reasons.iter().any(|r| r.ends_with("parsers disagree on which copy wins"))
    );
}

#[test]
fn a_catalog_larger_than_the_cap_is_refused() {
    let s = served_app();
    // The signed catalog, unchanged but for whitespace after it up to one byte over the cap.
    let mut bytes = s.served_bytes("index.json");
    bytes.resize(MAX_INDEX_BYTES as usize + 1, b' ');
    s.serve_bytes("index.json", &bytes);

    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::TooLarge { path, cap } if path == "index.json" && *cap == MAX_INDEX_BYTES
    );
    assert_out(&s, &[]);
}

#[cfg(unix)]
#[test]
fn a_symlink_leading_out_of_a_local_registry_is_refused() {
    let s = served_app();
    // The app index is a symbolic link to an identical copy outside the registry folder.
    let app_rel = paths::app_index(APP);
    let inside = s.served().join(&app_rel);
    let outside = s.path("outside.json");
    std::fs::rename(&inside, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &inside).unwrap();
    let mut options = s.options(APP, NOW);
    options.registry = s.served().display().to_string();
    let root = std::fs::canonicalize(s.served()).unwrap();

    assert_refusal!(
        mpk_registry::fetch::fetch(&options),
        Refusal::OutsideRegistry { path } if *path == root.join(&app_rel)
    );
    assert_out(&s, &[]);
}

#[test]
fn a_catalog_of_another_schema_version_is_refused() {
    let s = served_app();
    let mut catalog = s.served_json("index.json");
    catalog["schemaVersion"] = json!(0);
    serve_resigned(&s, catalog);

    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::Schema { document } if document == "index.json"
    );
    assert_out(&s, &[]);
}

#[test]
fn a_signed_catalog_without_expiry_is_refused() {
    let s = served_app();
    let signed = s.served_json("index.json");
    let mut catalog = signed.clone();
    catalog.as_object_mut().unwrap().remove("expires");
    serve_resigned(&s, catalog);
    assert_refusal!(s.fetch(APP, NOW), Refusal::NoExpiry { found: None });

    // An expiry that is not an RFC 3339 time is none either.
    let mut catalog = signed;
    catalog["expires"] = json!("in two weeks");
    serve_resigned(&s, catalog);
    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::NoExpiry { found: Some(text) } if text == "in two weeks"
    );
    assert_out(&s, &[]);
}

#[test]
fn a_signed_catalog_without_version_is_refused() {
    let s = served_app();
    let mut catalog = s.served_json("index.json");
    catalog.as_object_mut().unwrap().remove("version");
    serve_resigned(&s, catalog);

    assert_refusal!(s.fetch(APP, NOW), Refusal::NoVersion);
    assert_out(&s, &[]);
}

#[test]
fn a_catalog_without_an_apps_list_is_refused() {
    let s = served_app();
    let mut catalog = s.served_json("index.json");
    catalog.as_object_mut().unwrap().remove("apps");
    serve_resigned(&s, catalog);

    assert_refusal!(s.fetch(APP, NOW), Refusal::NoApps);
    assert_out(&s, &[]);
}

#[test]
fn a_catalog_entry_pointing_outside_the_registry_is_refused() {
    let s = served_app();
    let mut catalog = s.served_json("index.json");
    catalog["apps"][0]["index"]["path"] = json!("../../etc/passwd");
    serve_resigned(&s, catalog);

    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::AppEntry { package } if package == APP
    );
    assert_out(&s, &[]);
}

#[test]
fn an_app_index_of_another_package_is_refused() {
    let s = served_app();
    edit_app_index(&s, APP, |app| app["package"] = json!(OTHER));

    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::AppIndexPackage { path, expected, found }
            if *path == paths::app_index(APP) && expected == APP && *found == json!(OTHER)
    );
    assert_out(&s, &[]);
}

#[test]
fn an_app_index_without_a_versions_list_is_refused() {
    let s = served_app();
    edit_app_index(&s, APP, |app| {
        app.as_object_mut().unwrap().remove("versions");
    });

    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::NoVersions { path } if *path == paths::app_index(APP)
    );
    assert_out(&s, &[]);
}

#[test]
fn a_release_whose_bundle_path_leaves_the_registry_is_refused() {
    let s = served_app();
    edit_release(&s, APP, "1.1.0", |v| {
        v["bundle"]["path"] = json!("../../etc/passwd");
    });

    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::ReleaseField { path, version, field: "bundle.path" }
            if *path == paths::app_index(APP) && version == "1.1.0"
    );
    assert_out(&s, &[]);
}

#[test]
fn a_release_declaring_a_bundle_larger_than_a_node_accepts_is_refused() {
    let s = served_app();
    edit_release(&s, APP, "1.1.0", |v| {
        v["bundle"]["size"] = json!(MAX_BUNDLE_BYTES + 1);
    });

    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::ReleaseTooLarge { path, version, size }
            if *path == paths::app_index(APP) && version == "1.1.0" && *size == MAX_BUNDLE_BYTES + 1
    );
    assert_out(&s, &[]);
}

#[test]
fn a_bundle_signed_by_another_signer_than_the_index_lists_is_refused() {
    let s = served_app();
    edit_release(&s, APP, "1.1.0", |v| {
        v["signerId"] = json!(signer(&key(2)));
    });

    assert_refusal!(
        s.fetch(APP, NOW),
        Refusal::BundleSigner { package, version, signer: got, listed }
            if package == APP
                && version == "1.1.0"
                && *got == signer(&key(1))
                && *listed == signer(&key(2))
    );
    assert_out(&s, &[]);
    assert!(!s.state().exists(), "no signer is pinned on a refusal");
}

#[test]
fn redirects_are_not_followed() {
    let s = served_app();
    let artifact = paths::artifact(APP, "1.1.0");
    s.server
        .redirects
        .lock()
        .unwrap()
        .insert(artifact.clone(), format!("{}elsewhere.mpk", s.server.url()));

    let message = failure(s.fetch(APP, NOW));
    assert_mentions(&message, &[&artifact, "302", "follows no redirects"]);
    assert_out(&s, &[]);
}

#[test]
fn unknown_package_or_version_is_a_failure_not_a_refusal() {
    let s = served_app();
    assert_mentions(
        &failure(s.fetch("com.example.none", NOW)),
        &["has no package com.example.none; it lists 1: com.example.app"],
    );
    assert_mentions(
        &failure(s.fetch(&format!("{APP}@3.0.0"), NOW)),
        &["com.example.app has no version 3.0.0; it lists 2: 1.1.0, 1.0.0"],
    );
    assert_mentions(&failure(s.fetch("../etc@1", NOW)), &["the package must be"]);
    assert_out(&s, &[]);
}

#[test]
fn command_line_exit_codes() {
    let s = Setup::new();
    s.reg.publish(APP, "1.0.0", &key(1));
    s.commit("Add app", T0);
    // The command judges expiry by the real clock.
    s.build_with("v1", Some(&index_key()), 100 * 365 * DAY);
    s.serve("v1");
    // Run where the setup's folders are, named relatively, so that only the server's port
    // differs from one run to the next.
    let url = s.server.url();
    let run = |extra: &[&str]| {
        let mut args = vec!["fetch", APP, "--registry", &url];
        args.extend(["-o", "out", "--state", "state/trust.json"]);
        args.extend(extra);
        let out = run_in(&s.path(""), &args);
        let text = transcript(&args, &out).replace(&url, "http://127.0.0.1:<port>/");
        (out, text)
    };
    let (ok, text) = run(&[]);
    assert_eq!(ok.status.code(), Some(0), "{text}");
    assert_golden("cli/fetch-ok.txt", text);

    let (refused, text) = run(&["--trust", &signer(&other_index_key())]);
    assert_eq!(refused.status.code(), Some(1), "{text}");
    assert_golden("cli/fetch-refused.txt", text);

    let (failed, text) = run(&["--trust", "did:key:nonsense"]);
    assert_eq!(failed.status.code(), Some(2), "{text}");
    // The bundle that `add` wrote and the one fetched are the same bytes.
    assert_eq!(
        std::fs::read(s.out().join(file_name(APP, "1.0.0"))).unwrap(),
        s.reg.read(&bundle_path(APP, "1.0.0"))
    );
}

#[test]
fn an_app_page_given_as_the_registry_is_named_as_such() {
    let s = served_app();
    let mut options = s.options(APP, NOW);
    options.registry = format!("{}apps/{APP}/", s.server.url());
    assert_mentions(
        &failure(mpk_registry::fetch::fetch(&options)),
        &[
            "is the index of one app (com.example.app)",
            &format!("try --registry {}", s.server.url()),
        ],
    );
    assert_out(&s, &[]);
}

#[test]
fn a_different_file_in_the_output_is_kept_unless_forced() {
    let s = served_app();
    std::fs::create_dir_all(s.out()).unwrap();
    let mine = s.out().join(file_name(APP, "1.1.0"));
    std::fs::write(&mine, b"my own file").unwrap();
    assert_mentions(
        &failure(s.fetch(APP, NOW)),
        &[
            "is already there and is not the bundle the registry lists",
            "--force",
        ],
    );
    assert_eq!(std::fs::read(&mine).unwrap(), b"my own file");
    assert!(!s.state().exists(), "nothing pinned");

    let mut options = s.options(APP, NOW);
    options.force = true;
    s.fetch_ok(&options);
    // The same bundle again needs no --force.
    s.fetch_ok(&s.options(APP, NOW));
    assert_out(&s, &[&file_name(APP, "1.1.0")]);
}

#[test]
fn a_servers_reason_is_in_the_message() {
    let s = served_app();
    s.server.answers.lock().unwrap().insert(
        paths::artifact(APP, "1.1.0"),
        (
            "409 Conflict".to_owned(),
            r#"{"error":"binary_missing","message":"the bundle was not uploaded"}"#.to_owned(),
        ),
    );
    assert_mentions(
        &failure(s.fetch(APP, NOW)),
        &["answered 409 Conflict (binary_missing: the bundle was not uploaded)"],
    );
}

/// The messages a user meets when the address, the name or the output is not what they meant,
/// and when a server does not answer, in one transcript.
#[test]
fn messages_for_a_wrong_address_name_or_output() {
    let s = Setup::new();
    s.reg.publish(APP, "1.0.0", &key(1));
    s.reg.publish(APP, "1.1.0", &key(1));
    s.commit("Add app 1.0.0 and 1.1.0", T0);
    // The command judges expiry by the real clock.
    s.build_with("v1", Some(&index_key()), 100 * 365 * DAY);
    s.serve("v1");
    let url = s.server.url();
    // Accepts connections (the kernel completes them) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/", silent.local_addr().unwrap());
    std::fs::create_dir_all(s.out()).unwrap();
    std::fs::write(s.out().join(file_name(APP, "1.1.0")), b"mine").unwrap();
    let app_page = format!("{url}apps/{APP}/");
    let runs: [&[&str]; 6] = [
        &["fetch", APP, "--registry", &app_page],
        &["fetch", APP, "--registry", "127.0.0.1:8000"],
        &["fetch", "com.example.none", "--registry", &url],
        &["fetch", &format!("{APP}@3.0.0"), "--registry", &url],
        &["fetch", APP, "--registry", &url],
        &["fetch", APP, "--registry", &silent_url, "--timeout", "1"],
    ];
    let mut text = String::new();
    for run in runs {
        let mut args = run.to_vec();
        args.extend(["-o", "out", "--state", "state/trust.json"]);
        let out = run_in(&s.path(""), &args);
        assert_eq!(out.status.code(), Some(2), "{}", transcript(&args, &out));
        text.push_str(&transcript(&args, &out));
    }
    let text = text
        .replace(&url, "http://127.0.0.1:<port>/")
        .replace(&silent_url, "http://127.0.0.1:<silent port>/");
    assert_golden("cli/fetch-messages.txt", text);
    drop(silent);
}
