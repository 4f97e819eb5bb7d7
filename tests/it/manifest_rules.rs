//! Manifest rules (spec §2): strict JSON, required fields and types, coordinates, artifacts.

use crate::support::assert_refused;
use crate::support::bundle::*;
use mpk_registry::report::Rule;
use serde_json::{json, Map, Value};

/// A bundle whose manifest is exactly `text`, with the usual artifacts.
fn raw_manifest(text: &[u8]) -> Vec<u8> {
    bundle(|t| {
        t.file("manifest.json", text)?;
        t.file("app.wasm", WASM)?;
        t.file("abi.json", ABI)
    })
}

fn signed_text() -> String {
    String::from_utf8(to_bytes(&signed(base_manifest(), &key(1)))).expect("UTF-8")
}

fn set(key: &'static str, value: Value) -> impl FnOnce(&mut Map<String, Value>) {
    move |m| {
        m.insert(key.into(), value);
    }
}

fn remove(key: &'static str) -> impl FnOnce(&mut Map<String, Value>) {
    move |m| {
        m.remove(key);
    }
}

/// Edits the object at `m[outer]`.
fn in_object(
    outer: &'static str,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> impl FnOnce(&mut Map<String, Value>) {
    move |m| edit(m[outer].as_object_mut().expect("an object"))
}

// --- JSON -----------------------------------------------------------------------------------

#[test]
fn json_invalid() {
    assert_ok(&verify(&raw_manifest(signed_text().as_bytes())));
    let text = signed_text();
    for broken in [
        &text[..text.len() / 2],
        "",
        "{\"version\": \"1.0\",}",
        "{'version': '1.0'}",
    ] {
        let report = verify(&raw_manifest(broken.as_bytes()));
        assert_refused(&report, "manifest.json", Rule::Json);
    }
    // Text after the object.
    let trailing = format!("{text} {{}}");
    assert_refused(
        &verify(&raw_manifest(trailing.as_bytes())),
        "manifest.json",
        Rule::Json,
    );
}

#[test]
fn json_not_utf8() {
    assert_ok(&verify(&raw_manifest(signed_text().as_bytes())));
    let mut bytes = signed_text().into_bytes();
    let at = bytes.len() - 10;
    bytes.insert(at, 0xff);
    assert_refused(&verify(&raw_manifest(&bytes)), "manifest.json", Rule::Json);
}

#[test]
fn json_not_an_object() {
    assert_ok(&verify(&raw_manifest(signed_text().as_bytes())));
    for text in [
        "[]",
        "[{\"version\":\"1.0\"}]",
        "\"manifest\"",
        "null",
        "42",
    ] {
        let report = verify(&raw_manifest(text.as_bytes()));
        assert_refused(&report, "manifest.json", Rule::Json);
        assert!(report.manifest.is_none());
    }
}

#[test]
fn bom() {
    assert_ok(&verify(&raw_manifest(signed_text().as_bytes())));
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(signed_text().into_bytes());
    assert_refused(&verify(&raw_manifest(&bytes)), "manifest.json", Rule::Bom);
}

#[test]
fn whitespace_and_key_order_do_not_matter() {
    // The signature covers the canonical form, not the bytes.
    let compact = serde_json::to_vec(&signed(base_manifest(), &key(1))).expect("serialize");
    assert_ok(&verify(&raw_manifest(&compact)));
    let spaced = format!("\n\n  {}  \n", signed_text());
    assert_ok(&verify(&raw_manifest(spaced.as_bytes())));
}

#[test]
fn duplicate_key_top_level() {
    // The last copy is the signed one, so a node (last wins) would accept this.
    let text = signed_text();
    let duplicated = text.replacen('{', "{\"package\": \"com.example.evil\",", 1);
    assert_ok(&verify(&raw_manifest(text.as_bytes())));
    let report = verify(&raw_manifest(duplicated.as_bytes()));
    assert_refused(&report, "manifest.json", Rule::DuplicateKey);
    assert!(report.problems[0].message.contains("`package`"));
}

#[test]
fn duplicate_key_nested() {
    let text = signed_text();
    assert!(text.contains("\"metadata\": {"));
    let duplicated = text.replacen("\"metadata\": {", "\"metadata\": {\"name\": \"Evil\",", 1);
    let report = verify(&raw_manifest(duplicated.as_bytes()));
    assert_refused(&report, "manifest.json", Rule::DuplicateKey);
    assert!(report.problems[0].message.contains("`metadata.name`"));

    // Inside an object in an array.
    let mut manifest = services_manifest();
    manifest = signed(manifest, &key(1));
    let text = String::from_utf8(to_bytes(&manifest)).expect("UTF-8");
    let duplicated = text.replacen(
        "\"name\": \"auth\"",
        "\"name\": \"x\", \"name\": \"auth\"",
        1,
    );
    assert_ne!(duplicated, text);
    let build = |text: &str| {
        bundle(|t| {
            t.file("manifest.json", text.as_bytes())?;
            for (path, bytes) in services_files() {
                t.file(path, bytes)?;
            }
            Ok(())
        })
    };
    assert_ok(&verify(&build(&text)));
    let report = verify(&build(&duplicated));
    assert_refused(&report, "manifest.json", Rule::DuplicateKey);
    assert!(report.problems[0].message.contains("`services[1].name`"));
}

#[test]
fn duplicate_key_in_the_signature() {
    assert_ok(&verify(&raw_manifest(signed_text().as_bytes())));
    let text = signed_text();
    let duplicated = text.replacen(
        "\"algorithm\": \"ed25519\"",
        "\"algorithm\": \"none\", \"algorithm\": \"ed25519\"",
        1,
    );
    assert_ne!(duplicated, text);
    let report = verify(&raw_manifest(duplicated.as_bytes()));
    assert_refused(&report, "manifest.json", Rule::DuplicateKey);
}

// --- required fields ------------------------------------------------------------------------

#[test]
fn required_top_level_fields() {
    for field in ["version", "package", "appVersion", "minRuntimeVersion"] {
        assert_manifest_defect(remove(field), field, Rule::Required);
    }
}

#[test]
fn required_artifact_fields() {
    for artifact in ["wasm", "abi"] {
        for field in ["path", "size"] {
            assert_manifest_defect(
                in_object(artifact, move |a| {
                    a.remove(field);
                }),
                &format!("{artifact}.{field}"),
                Rule::Required,
            );
        }
        // A missing hash is a hash problem (as is a null one).
        assert_manifest_defect(
            in_object(artifact, |a| {
                a.remove("hash");
            }),
            &format!("{artifact}.hash"),
            Rule::ArtifactHash,
        );
    }
}

#[test]
fn required_metadata_name() {
    assert_manifest_defect(
        in_object("metadata", |m| {
            m.remove("name");
        }),
        "metadata.name",
        Rule::Required,
    );
    // metadata itself is optional.
    assert_ok(&verify(&standard_with(remove("metadata"))));
}

/// A services bundle changed by `edit` (before signing) with the services files.
fn services_with(edit: impl FnOnce(&mut Map<String, Value>)) -> Vec<u8> {
    let mut manifest = services_manifest();
    edit(&mut manifest);
    services_bundle(&signed(manifest, &key(1)))
}

fn service(
    i: usize,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> impl FnOnce(&mut Map<String, Value>) {
    move |m| edit(m["services"][i].as_object_mut().expect("a service object"))
}

#[test]
fn required_service_fields() {
    assert_ok(&verify(&services_with(|_| {})));
    let report = verify(&services_with(service(0, |s| {
        s.remove("name");
    })));
    assert_refused(&report, "services[0].name", Rule::Required);

    let report = verify(&services_with(service(1, |s| {
        s.remove("wasm");
    })));
    assert_refused(&report, "services[1].wasm", Rule::Required);

    let report = verify(&services_with(service(1, |s| {
        s.insert("wasm".into(), Value::Null);
    })));
    assert_refused(&report, "services[1].wasm", Rule::Required);

    let report = verify(&services_with(service(0, |s| {
        s["wasm"].as_object_mut().expect("artifact").remove("path");
    })));
    assert_refused(&report, "services[0].wasm.path", Rule::Required);
}

// --- types ----------------------------------------------------------------------------------

#[test]
fn type_errors() {
    assert_ok(&verify(&standard_with(|_| {})));
    type Edit = Box<dyn FnOnce(&mut Map<String, Value>)>;
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(set("version", json!(1.0))), "version"),
        (
            Box::new(set("package", json!(["com.example.app"]))),
            "package",
        ),
        (Box::new(set("appVersion", json!(1))), "appVersion"),
        (
            Box::new(set("minRuntimeVersion", json!(null))),
            "minRuntimeVersion",
        ),
        (Box::new(set("metadata", json!("App"))), "metadata"),
        (
            Box::new(in_object("metadata", |m| {
                m.insert("tags".into(), json!(["ok", 1]));
            })),
            "metadata.tags",
        ),
        (
            Box::new(in_object("metadata", |m| {
                m.insert("description".into(), json!({"en": "x"}));
            })),
            "metadata.description",
        ),
        (
            Box::new(set("handlers", json!({"slug": 5}))),
            "handlers.slug",
        ),
        (
            Box::new(set("interfaces", json!({"exports": "a"}))),
            "interfaces.exports",
        ),
        (
            Box::new(set("links", json!({"frontend": true}))),
            "links.frontend",
        ),
        (Box::new(set("wasm", json!("app.wasm"))), "wasm"),
        (Box::new(set("services", json!({"name": "x"}))), "services"),
        (Box::new(set("services", json!(["store"]))), "services[0]"),
    ];
    for (edit, subject) in cases {
        let report = verify(&standard_with(edit));
        let type_problems: Vec<&str> = report
            .problems
            .iter()
            .filter(|p| p.rule == Rule::Type)
            .map(|p| p.subject.as_str())
            .collect();
        assert!(!report.ok(), "{subject}");
        assert!(
            type_problems.contains(&subject),
            "{subject}: {:?}",
            report.problems
        );
    }
}

#[test]
fn type_error_alone_for_an_optional_field() {
    assert_manifest_defect(
        set("links", json!(["https://example.com"])),
        "links",
        Rule::Type,
    );
}

#[test]
fn artifact_size_must_be_a_non_negative_integer() {
    for size in [json!(-1), json!(15.5), json!("15"), json!(null)] {
        assert_manifest_defect(
            in_object("wasm", move |a| {
                a.insert("size".into(), size);
            }),
            "wasm.size",
            Rule::Type,
        );
    }
}

// --- package and appVersion -----------------------------------------------------------------

#[test]
fn package_rules() {
    for bad in [
        "",                // empty
        "com..example",    // '..'
        "..",              // '..'
        ".",               // the folder itself, as a path segment
        "com/example",     // '/'
        "com\\example",    // '\'
        "com\0example",    // NUL
        "c:example",       // ':' as 2nd byte
        &"a".repeat(129),  // over 128
        "com.example app", // outside the charset
        "com.exämple",     // non-ASCII
        "com.example+x",
        "com:example",
    ] {
        let bad = bad.to_owned();
        assert_manifest_defect(set("package", json!(bad)), "package", Rule::Package);
    }
}

#[test]
fn package_limits_accepted() {
    for good in ["a", "A-Z_a-z.0-9", &"p".repeat(128), "com.example.app-2_x"] {
        let good = good.to_owned();
        let report = verify(&standard_with(set("package", json!(good.clone()))));
        assert_ok(&report);
        assert_eq!(report.bundle.expect("verified").package, good);
    }
}

#[test]
fn app_version_rules() {
    for bad in [
        "",
        "1.0.0+build.5", // '+' build metadata
        "+",
        ".", // the folder itself, as a path segment: fetch could not ask for it
        "1..0",
        "1.0/0",
        "1.0\\0",
        "1:0",
        "1.0.0 beta",
        &format!("1.0.0-{}", "r".repeat(123)), // 129 bytes
    ] {
        let bad = bad.to_owned();
        assert_manifest_defect(
            set("appVersion", json!(bad)),
            "appVersion",
            Rule::AppVersion,
        );
    }
}

#[test]
fn app_version_need_not_be_semver() {
    for good in [
        "2.0.0-rc.1",
        "2024.01",
        "v1",
        "1.0",
        &format!("1.0.0-{}", "r".repeat(122)),
    ] {
        let good = good.to_owned();
        let report = verify(&standard_with(set("appVersion", json!(good.clone()))));
        assert_ok(&report);
        assert_eq!(report.bundle.expect("verified").app_version, good);
    }
}

#[test]
fn min_runtime_version_must_be_semver() {
    for bad in ["0.1", "latest", "v0.1.0", "", "0.1.0+", "01.0.0"] {
        assert_manifest_defect(
            set("minRuntimeVersion", json!(bad)),
            "minRuntimeVersion",
            Rule::MinRuntimeVersion,
        );
    }
    for good in ["0.2.0", "1.0.0-alpha.1", "0.1.0+build"] {
        assert_ok(&verify(&standard_with(set(
            "minRuntimeVersion",
            json!(good),
        ))));
    }
}

// --- artifact hash and path -----------------------------------------------------------------

fn set_hash(artifact: &'static str, hash: Value) -> impl FnOnce(&mut Map<String, Value>) {
    in_object(artifact, move |a| {
        a.insert("hash".into(), hash);
    })
}

#[test]
fn artifact_hash_rules() {
    let hex = sha256_hex(WASM);
    let cases = [
        json!(null),
        json!(format!("sha256:{hex}")),
        json!(&hex[..63]),
        json!(format!("{hex}0")),
        json!(format!("{}g", &hex[..63])),
        json!(""),
        json!(42),
        json!([hex.clone()]),
    ];
    for hash in cases {
        assert_manifest_defect(set_hash("wasm", hash), "wasm.hash", Rule::ArtifactHash);
    }
    assert_manifest_defect(set_hash("abi", json!(null)), "abi.hash", Rule::ArtifactHash);
    // The message says what to remove, not just that the value is wrong.
    let prefixed = json!(format!("sha256:{hex}"));
    let report = verify(&standard_with(set_hash("wasm", prefixed)));
    assert!(
        report.problems[0].message.contains("prefix"),
        "{}",
        report.problems[0]
    );
}

#[test]
fn artifact_hash_uppercase_is_accepted() {
    let upper = sha256_hex(WASM).to_ascii_uppercase();
    let report = verify(&standard_with(set_hash("wasm", json!(upper))));
    assert_ok(&report);
    // Reported in the canonical lowercase form.
    let bundle = report.bundle.expect("verified");
    assert_eq!(bundle.artifacts[0].sha256, sha256_hex(WASM));
}

/// A bundle declaring `wasm.path` = `path`, with the wasm stored at exactly that name.
fn wasm_at(path: &str) -> Vec<u8> {
    wasm_declared_at(path, path)
}

/// A bundle declaring `wasm.path` = `declared`, with the wasm stored at `stored`.
fn wasm_declared_at(declared: &str, stored: &str) -> Vec<u8> {
    let mut manifest = base_manifest();
    manifest.insert("wasm".into(), artifact(declared, WASM));
    let manifest = to_bytes(&signed(manifest, &key(1)));
    bundle(|t| {
        t.file("manifest.json", &manifest)?;
        t.file(stored, WASM)?;
        t.file("abi.json", ABI)
    })
}

#[test]
fn artifact_path_rules() {
    assert_ok(&verify(&wasm_at("app.wasm")));
    for bad in [
        "",
        "app\0.wasm",
        "build\\app.wasm",
        "c:app.wasm",
        "C:/app.wasm",
    ] {
        let report = verify(&wasm_at(bad));
        assert_refused(&report, "wasm.path", Rule::ArtifactPath);
    }
    // Names that no entry may have either (archive.entry-absolute, archive.entry-parent): the
    // manifest's rule alone, with the wasm stored at a plain name.
    for bad in [
        "/app.wasm",
        "../app.wasm",
        "build/../app.wasm",
        "build/..",
        "..",
    ] {
        let report = verify(&wasm_declared_at(bad, "app.wasm"));
        assert_refused(&report, "wasm.path", Rule::ArtifactPath);
    }
}

#[test]
fn artifact_paths_in_subfolders_are_accepted() {
    for good in [
        "build/app.wasm",
        "a/b/c/app.wasm",
        "app..wasm",
        "..app.wasm",
        "x/.../app.wasm",
    ] {
        assert_ok(&verify(&wasm_at(good)));
    }
}

#[test]
fn artifact_path_rules_apply_to_services() {
    assert_ok(&verify(&services_with(|_| {})));
    let report = verify(&services_with(service(1, |s| {
        s["wasm"]["path"] = json!("../auth.wasm");
    })));
    assert_refused(&report, "services[1].wasm.path", Rule::ArtifactPath);
}

#[test]
fn artifact_path_rules_apply_to_an_overridden_top_level_wasm() {
    assert_ok(&verify(&services_with(|_| {})));
    let report = verify(&services_with(set("wasm", artifact("/abs.wasm", WASM))));
    assert_refused(&report, "wasm.path", Rule::ArtifactPath);
}

// --- which wasm -----------------------------------------------------------------------------

#[test]
fn no_wasm() {
    assert_manifest_defect(remove("wasm"), "wasm", Rule::NoWasm);
    assert_manifest_defect(set("wasm", Value::Null), "wasm", Rule::NoWasm);
    assert_manifest_defect(
        |m| {
            m.remove("wasm");
            m.insert("services".into(), json!([]));
        },
        "wasm",
        Rule::NoWasm,
    );
}

#[test]
fn abi_is_optional_and_may_be_null() {
    let manifest = signed(
        {
            let mut m = base_manifest();
            m.insert("abi".into(), Value::Null);
            m
        },
        &key(1),
    );
    let text = to_bytes(&manifest);
    let bytes = bundle(|t| {
        t.file("manifest.json", &text)?;
        t.file("app.wasm", WASM)
    });
    let report = verify(&bytes);
    assert_ok(&report);
    assert_eq!(report.bundle.expect("verified").artifacts.len(), 1);
}

/// The services bundle with top-level `wasm`/`abi` declared too, and `files` added to it.
fn services_and_top_level(files: &[(&str, &[u8])]) -> mpk_registry::verify::Report {
    let mut manifest = services_manifest();
    manifest.insert("wasm".into(), artifact("legacy.wasm", WASM));
    manifest.insert("abi".into(), artifact("legacy-abi.json", ABI));
    let text = to_bytes(&signed(manifest, &key(1)));
    verify(&bundle(|t| {
        t.file("manifest.json", &text)?;
        for (path, bytes) in services_files().into_iter().chain(files.iter().copied()) {
            t.file(path, bytes)?;
        }
        Ok(())
    }))
}

#[test]
fn services_override_top_level_wasm() {
    // A node uses `services` and ignores the top-level wasm/abi; the registry warns, and checks
    // every declared artifact all the same.
    let report = services_and_top_level(&[("legacy.wasm", WASM), ("legacy-abi.json", ABI)]);
    assert_ok(&report);
    let warned: Vec<Rule> = report.warnings.iter().map(|w| w.rule).collect();
    assert_eq!(warned, [Rule::ServicesOverride]);
    let fields: Vec<String> = report
        .bundle
        .expect("verified")
        .artifacts
        .iter()
        .map(|a| a.field.clone())
        .collect();
    assert_eq!(
        fields,
        [
            "wasm",
            "abi",
            "services[0].wasm",
            "services[0].abi",
            "services[1].wasm"
        ]
    );

    // Without the top-level wasm there is nothing to warn about.
    let report = verify(&services_with(|_| {}));
    assert_ok(&report);
    assert!(report.warnings.is_empty());
}

#[test]
fn services_do_not_excuse_a_missing_top_level_wasm() {
    // Node: accepts (it never reads the top-level wasm). Registry: every declared artifact.
    let report = services_and_top_level(&[("legacy-abi.json", ABI)]);
    assert_refused(&report, "legacy.wasm", Rule::ArtifactMissing);
}

#[test]
fn services_do_not_excuse_a_wrong_top_level_digest() {
    // Node: accepts. Registry: refused, the declared digest is not the file's.
    let report =
        services_and_top_level(&[("legacy.wasm", WASM_TAMPERED), ("legacy-abi.json", ABI)]);
    assert_refused(&report, "legacy.wasm", Rule::Digest);
}

#[test]
fn service_name_empty() {
    // Node: accepts. Registry (like the hosted registry): refused, nothing can pick it.
    let report = verify(&services_with(service(1, |s| {
        s.insert("name".into(), json!(""));
    })));
    assert_refused(&report, "services[1].name", Rule::ServiceName);
}

#[test]
fn service_name_repeated() {
    // Node: accepts. Registry (like the hosted registry): refused, which one is meant is
    // ambiguous.
    let report = verify(&services_with(service(1, |s| {
        s.insert("name".into(), json!("store"));
    })));
    assert_refused(&report, "services[1].name", Rule::ServiceName);
    assert!(report.problems[0].message.contains("services[0]"));
}

#[test]
fn services_with_a_shared_path() {
    let mut manifest = services_manifest();
    manifest["services"][1]["wasm"] = artifact("services/store.wasm", WASM);
    let text = to_bytes(&signed(manifest, &key(1)));
    let bytes = bundle(|t| {
        t.file("manifest.json", &text)?;
        t.file("services/store.wasm", WASM)?;
        t.file("services/store-abi.json", ABI)
    });
    let report = verify(&bytes);
    assert_ok(&report);
    let services: Vec<Option<String>> = report
        .bundle
        .expect("verified")
        .artifacts
        .iter()
        .map(|a| a.service.clone())
        .collect();
    assert_eq!(
        services,
        [
            Some("store".into()),
            Some("store".into()),
            Some("auth".into())
        ]
    );
}

// --- what is signed -------------------------------------------------------------------------

#[test]
fn unknown_fields_are_kept_and_signed() {
    let edit = |m: &mut Map<String, Value>| {
        m.insert("migrations".into(), json!([]));
        m.insert(
            "x-extra".into(),
            json!({"ratio": 1.5e3, "big": 1e21, "list": [1, "two"]}),
        );
    };
    let mut manifest = base_manifest();
    edit(&mut manifest);
    let manifest = signed(manifest, &key(1));
    let report = verify(&standard(&manifest));
    assert_ok(&report);
    let parsed = report.manifest.expect("parsed");
    assert_eq!(parsed["migrations"], json!([]));
    assert_eq!(parsed["x-extra"]["list"], json!([1, "two"]));
    let canonical = mpk_registry::canonical::signed_bytes(&parsed);
    let canonical = String::from_utf8(canonical).expect("UTF-8");
    assert!(canonical.contains("\"x-extra\":{\"big\":1e+21,\"list\":[1,\"two\"],\"ratio\":1500}"));

    // Changing an unknown field after signing breaks the signature.
    let mut changed = manifest.clone();
    changed["x-extra"]["ratio"] = json!(1501);
    assert_refused(
        &verify(&standard(&changed)),
        "signature.signature",
        Rule::SignatureInvalid,
    );
    let mut removed = manifest;
    removed.remove("migrations");
    assert_refused(
        &verify(&standard(&removed)),
        "signature.signature",
        Rule::SignatureInvalid,
    );
}

#[test]
fn top_level_underscore_keys_are_not_signed() {
    let mut manifest = signed(base_manifest(), &key(1));
    manifest.insert("_local".into(), json!("added after signing"));
    manifest.insert("_".into(), json!({"any": 1}));
    let report = verify(&standard(&manifest));
    assert_ok(&report);
    assert_eq!(
        report.manifest.expect("parsed")["_local"],
        json!("added after signing")
    );
}

#[test]
fn nested_underscore_keys_are_signed() {
    let mut with_note = base_manifest();
    with_note["metadata"]["_note"] = json!("signed");
    assert_ok(&verify(&standard(&signed(with_note, &key(1)))));

    let mut manifest = signed(base_manifest(), &key(1));
    manifest["metadata"]["_note"] = json!("added after signing");
    assert_refused(
        &verify(&standard(&manifest)),
        "signature.signature",
        Rule::SignatureInvalid,
    );
}

#[test]
fn equal_numbers_in_other_forms_keep_the_signature() {
    // 1.5e3 and 1500 are one number to JCS, so rewriting it keeps the signature valid.
    let mut manifest = base_manifest();
    manifest.insert("x-n".into(), json!(1500));
    let text = String::from_utf8(to_bytes(&signed(manifest, &key(1)))).expect("UTF-8");
    assert!(text.contains("\"x-n\": 1500"));
    let rewritten = text.replacen("\"x-n\": 1500", "\"x-n\": 1.5e3", 1);
    assert_ok(&verify(&raw_manifest(rewritten.as_bytes())));
}

// --- many problems at once ------------------------------------------------------------------

#[test]
fn every_manifest_problem_is_listed() {
    let report = verify(&standard_with(|m| {
        m.insert("package".into(), json!("bad/package"));
        m.insert("appVersion".into(), json!("1.0.0+meta"));
        m.insert("minRuntimeVersion".into(), json!("soon"));
        m.remove("version");
        m["wasm"]["hash"] = Value::Null;
        m["abi"]["path"] = json!("../abi.json");
    }));
    assert_rules(
        &report,
        &[
            Rule::Package,
            Rule::AppVersion,
            Rule::MinRuntimeVersion,
            Rule::Required,
            Rule::ArtifactHash,
            Rule::ArtifactPath,
        ],
    );
    assert_eq!(report.problems.len(), 6);
}

// --- text is data: no control characters ----------------------------------------------------

/// Sets `metadata.<key>` to `value`.
fn set_metadata(key: &'static str, value: Value) -> impl FnOnce(&mut Map<String, Value>) {
    in_object("metadata", move |m| {
        m.insert(key.into(), value);
    })
}

/// The one control-character problem of `report` (about `subject`), for its message.
#[track_caller]
fn control_message(report: &mpk_registry::verify::Report, subject: &str) -> String {
    assert_refused(report, subject, Rule::ControlCharacter);
    report
        .problems
        .iter()
        .find(|p| p.subject == subject)
        .expect("the problem")
        .message
        .clone()
}

#[test]
fn control_character_in_name_is_refused() {
    assert_manifest_defect(
        set_metadata("name", json!("Evil\u{1}App")),
        "metadata.name",
        Rule::ControlCharacter,
    );
    // The message says which character and where.
    let report = verify(&standard_with(set_metadata("name", json!("Evil\u{1}App"))));
    let message = control_message(&report, "metadata.name");
    assert!(message.contains("U+0001"), "{message}");
    assert!(message.contains("at character 5"), "{message}");
}

#[test]
fn newline_and_tab_in_description_are_allowed() {
    let text = "First paragraph.\n\n\tIndented line\nLast line.";
    let report = verify(&standard_with(set_metadata("description", json!(text))));
    assert_ok(&report);
    assert_eq!(
        report.manifest.expect("parsed")["metadata"]["description"],
        json!(text)
    );
}

#[test]
fn carriage_return_in_description_is_refused() {
    assert_manifest_defect(
        set_metadata("description", json!("Windows\r\nline endings")),
        "metadata.description",
        Rule::ControlCharacter,
    );
    let report = verify(&standard_with(set_metadata(
        "description",
        json!("Windows\r\nline endings"),
    )));
    let message = control_message(&report, "metadata.description");
    assert!(message.contains("U+000D"), "{message}");
}

#[test]
fn newline_in_name_is_refused() {
    // Allowed in the description only; anywhere else a newline could forge a line of a log.
    assert_manifest_defect(
        set_metadata("name", json!("App\n::error::forged")),
        "metadata.name",
        Rule::ControlCharacter,
    );
    assert_manifest_defect(
        set("links", json!({"docs": "https://example.com/\tdocs"})),
        "links.docs",
        Rule::ControlCharacter,
    );
}

#[test]
fn c1_control_is_refused() {
    // U+0085 (next line) and U+009B (a one-byte CSI) are controls as much as C0.
    assert_manifest_defect(
        set_metadata("author", json!("Someone\u{85}Else")),
        "metadata.author",
        Rule::ControlCharacter,
    );
    assert_manifest_defect(
        set_metadata("description", json!("colors \u{9b}31m")),
        "metadata.description",
        Rule::ControlCharacter,
    );
    let report = verify(&standard_with(set_metadata("author", json!("x\u{85}"))));
    assert!(control_message(&report, "metadata.author").contains("U+0085"));
}

#[test]
fn delete_is_refused() {
    assert_manifest_defect(
        set_metadata("license", json!("MIT\u{7f}")),
        "metadata.license",
        Rule::ControlCharacter,
    );
    let report = verify(&standard_with(set_metadata("license", json!("MIT\u{7f}"))));
    assert!(control_message(&report, "metadata.license").contains("U+007F"));
}

#[test]
fn control_character_in_an_object_key_is_refused() {
    // Unknown keys are kept and republished, so their names are text too.
    let report = verify(&standard_with(|m| {
        m.insert("x-extra".into(), json!({"bad\u{1b}key": 1, "fine": "ok"}));
    }));
    let message = control_message(&report, "x-extra.bad\\u{1b}key");
    assert!(message.starts_with("key "), "{message}");
    assert!(message.contains("U+001B"), "{message}");
    assert_manifest_defect(
        |m| {
            m.insert("top\nlevel".into(), json!(true));
        },
        "top\\nlevel",
        Rule::ControlCharacter,
    );
}

#[test]
fn escape_in_a_tag_is_refused() {
    assert_manifest_defect(
        set_metadata("tags", json!(["fine", "\u{1b}[31mred"])),
        "metadata.tags[1]",
        Rule::ControlCharacter,
    );
}

#[test]
fn every_field_with_a_control_character_is_listed() {
    let report = verify(&standard_with(|m| {
        m["metadata"]["name"] = json!("a\u{0}b");
        m["metadata"]["description"] = json!("ok\nstill ok\u{7}");
        m["metadata"]["tags"] = json!(["\u{1f}", "fine", "\u{9f}"]);
        m.insert("links".into(), json!({"github": "https://x.test/\u{8}"}));
        m.insert("x-note".into(), json!({"deep": [{"k": "v\u{c}"}]}));
    }));
    assert_rules(&report, &[Rule::ControlCharacter]);
    let mut subjects: Vec<&str> = report.problems.iter().map(|p| p.subject.as_str()).collect();
    subjects.sort_unstable();
    assert_eq!(
        subjects,
        [
            "links.github",
            "metadata.description",
            "metadata.name",
            "metadata.tags[0]",
            "metadata.tags[2]",
            "x-note.deep[0].k",
        ]
    );
}

#[test]
fn a_field_refused_by_its_own_rule_is_not_reported_twice() {
    // `package` already refuses every character outside [A-Za-z0-9._-].
    assert_manifest_defect(
        set("package", json!("com\nexample")),
        "package",
        Rule::Package,
    );
    // A NUL in an artifact path is an artifact-path problem; a newline is only this rule's.
    assert_refused(
        &verify(&wasm_at("app\0.wasm")),
        "wasm.path",
        Rule::ArtifactPath,
    );
    assert_refused(
        &verify(&wasm_at("app\n.wasm")),
        "wasm.path",
        Rule::ControlCharacter,
    );
}

// --- bounded text (manifest.text-size) ------------------------------------------------------

/// Sets `m[parent][key]` to `value`, making the object when the manifest has none.
fn set_in(
    parent: &'static str,
    key: &'static str,
    value: Value,
) -> impl FnOnce(&mut Map<String, Value>) {
    move |m| {
        let object = m.entry(parent).or_insert_with(|| json!({}));
        object
            .as_object_mut()
            .expect("an object")
            .insert(key.into(), value);
    }
}

/// Each text field is refused one byte over its limit, and passes at it.
#[test]
fn text_size_every_text_field_has_a_limit() {
    for &(parent, key, limit) in mpk_registry::manifest::TEXT_LIMITS {
        // Multi-byte characters count as their UTF-8 bytes.
        let over = format!("{}é", "a".repeat(limit - 1));
        assert_manifest_defect(
            set_in(parent, key, json!(over)),
            &format!("{parent}.{key}"),
            Rule::TextSize,
        );
        let at = "a".repeat(limit);
        assert_ok(&verify(&standard_with(set_in(parent, key, json!(at)))));
    }
}

#[test]
fn text_size_a_900_kb_description_is_refused() {
    assert_manifest_defect(
        set_metadata("description", json!("x".repeat(900_000))),
        "metadata.description",
        Rule::TextSize,
    );
}

#[test]
fn text_size_too_many_tags_are_refused() {
    let tags = |n: usize| json!((0..n).map(|i| format!("tag{i}")).collect::<Vec<_>>());
    assert_manifest_defect(
        set_metadata("tags", tags(mpk_registry::manifest::MAX_TAGS + 1)),
        "metadata.tags",
        Rule::TextSize,
    );
    assert_ok(&verify(&standard_with(set_metadata(
        "tags",
        tags(mpk_registry::manifest::MAX_TAGS),
    ))));
}

#[test]
fn text_size_a_long_tag_is_refused() {
    let limit = mpk_registry::manifest::MAX_TAG_BYTES;
    assert_manifest_defect(
        set_metadata("tags", json!(["ok", "t".repeat(limit + 1)])),
        "metadata.tags[1]",
        Rule::TextSize,
    );
    assert_ok(&verify(&standard_with(set_metadata(
        "tags",
        json!(["t".repeat(limit)]),
    ))));
}
