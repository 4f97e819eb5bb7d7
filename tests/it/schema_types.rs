//! The types of `mpk_registry::schema` and the published schema (docs/index-schema.json) say
//! the same: every field the types write is in the schema, the schema requires exactly the
//! fields they always write, a reader needs no field the schema does not require, and what they
//! write validates. And they are the whole format: every JSON file of the golden site reads into
//! its type and writes back to the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::support::golden::golden_path;
use crate::support::repo_file;
use mpk_registry::manifest::{Artifact, ArtifactKind};
use mpk_registry::schema::{
    ApiBundle, ApiError, AppIndex, BundleFile, Catalog, CatalogApp, Health, Keys, OtherSignature,
    PinnedFile, RegistryInfo, ReleaseEntry, Signature, SCHEMA_VERSION,
};
use mpk_registry::site::catalog::to_bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

fn schema() -> Value {
    serde_json::from_str(&repo_file("docs/index-schema.json")).expect("the schema is JSON")
}

const SIGNER: &str = "did:key:z6MkfDSNRs2i9S6LZ5vd4RbpZ6754H7R3btDqRTeHhamqvuJ";

fn digest(byte: char) -> String {
    byte.to_string().repeat(64)
}

fn catalog_app(package: &str, latest: Option<&str>, described: bool) -> CatalogApp {
    CatalogApp {
        package: package.to_owned(),
        name: "An app".to_owned(),
        description: described.then(|| "What it does.".to_owned()),
        author: described.then(|| "Someone".to_owned()),
        tags: vec!["notes".to_owned()],
        signer_id: SIGNER.to_owned(),
        application_id: "FPTWm2GG2VZ8FG9VcjrDeh7HBKWz9dPX4b64M8pi9PMJ".to_owned(),
        latest_version: latest.map(str::to_owned),
        version_count: 2,
        yanked_versions: if latest.is_some() {
            Vec::new()
        } else {
            vec!["1.0.0".to_owned()]
        },
        index: PinnedFile {
            path: format!("apps/{package}/index.json"),
            sha256: digest('a'),
        },
        page: format!("apps/{package}/"),
    }
}

/// A catalog with an app of each kind, signed (version, expires, signerId, signature) or not.
fn catalog(signed: bool) -> Catalog {
    Catalog {
        schema_version: SCHEMA_VERSION,
        registry: RegistryInfo {
            title: "Samples".to_owned(),
            base_url: signed.then(|| "https://apps.example.com/".to_owned()),
        },
        apps: vec![
            catalog_app("com.example.one", Some("1.1.0"), true),
            catalog_app("com.example.two", None, false),
        ],
        version: signed.then_some(7),
        expires: signed.then(|| "2023-11-28T22:13:20Z".to_owned()),
        signer_id: signed.then(|| SIGNER.to_owned()),
        signature: signed.then(|| Signature {
            algorithm: "ed25519".to_owned(),
            public_key: "A".repeat(43),
            signature: "B".repeat(86),
        }),
    }
}

fn artifact(field: &str, kind: ArtifactKind, service: Option<&str>) -> Artifact {
    Artifact {
        field: field.to_owned(),
        kind,
        service: service.map(str::to_owned),
        path: "app.wasm".to_owned(),
        sha256: digest('c'),
        size: 8,
    }
}

fn release(version: &str, yank_reason: Option<&str>, artifacts: Vec<Artifact>) -> ReleaseEntry {
    let package = "com.example.one";
    ReleaseEntry {
        version: version.to_owned(),
        yanked: yank_reason.is_some(),
        yank_reason: yank_reason.map(str::to_owned),
        published_at: yank_reason.map(|_| "2023-11-14T22:13:20Z".to_owned()),
        signer_id: SIGNER.to_owned(),
        signature_scheme: mpk_registry::canonical::Scheme::Legacy,
        application_id: "FPTWm2GG2VZ8FG9VcjrDeh7HBKWz9dPX4b64M8pi9PMJ".to_owned(),
        min_runtime_version: "0.1.0".to_owned(),
        bundle: BundleFile {
            sha256: digest('d'),
            size: 300,
            path: format!("artifacts/{package}/{version}/{package}-{version}.mpk"),
            content_path: format!("artifacts/sha256/{}.mpk", digest('d')),
        },
        manifest: PinnedFile {
            path: format!("apps/{package}/{version}/manifest.json"),
            sha256: digest('e'),
        },
        artifacts,
        // Written only when a re-signature is published: one sample has one.
        other_signatures: yank_reason
            .map(|_| OtherSignature {
                signature_scheme: mpk_registry::canonical::Scheme::V1,
                sha256: digest('f'),
                size: 301,
                content_path: format!("artifacts/sha256/{}.mpk", digest('f')),
            })
            .into_iter()
            .collect(),
    }
}

/// An app index with a yanked and a published version, one with services and one without.
fn app_index() -> AppIndex {
    AppIndex {
        schema_version: SCHEMA_VERSION,
        package: "com.example.one".to_owned(),
        name: "An app".to_owned(),
        latest_version: Some("1.0.0".to_owned()),
        versions: vec![
            release(
                "1.1.0",
                Some("broken"),
                vec![
                    artifact("services[0].wasm", ArtifactKind::Wasm, Some("main")),
                    artifact("services[0].abi", ArtifactKind::Abi, Some("main")),
                ],
            ),
            release(
                "1.0.0",
                None,
                vec![artifact("wasm", ArtifactKind::Wasm, None)],
            ),
        ],
    }
}

/// `doc` as the site writes it.
fn written<T: Serialize>(doc: &T) -> Value {
    serde_json::from_slice(&to_bytes(doc)).expect("the site writes JSON")
}

fn reads<T: DeserializeOwned>(value: &Value) -> Result<(), String> {
    serde_json::from_value::<T>(value.clone())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

type Reads = fn(&Value) -> Result<(), String>;

/// A sample of each document in the schema, as written, with the definition in the schema that
/// describes it and how a reader reads it.
fn samples() -> Vec<(&'static str, Value, Reads)> {
    vec![
        ("catalog", written(&catalog(true)), reads::<Catalog>),
        ("catalog", written(&catalog(false)), reads::<Catalog>),
        ("appIndex", written(&app_index()), reads::<AppIndex>),
    ]
}

/// The schema node `node` stands for, following a local `$ref`, and its pointer.
fn resolve<'a>(root: &'a Value, node: &'a Value, at: String) -> (&'a Value, String) {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local reference");
            let target = root.pointer(pointer).expect("the reference resolves");
            (target, pointer.to_owned())
        }
        None => (node, at),
    }
}

/// An object a sample wrote, where the schema describes it.
struct Written {
    /// JSON pointer into the sample.
    at: String,
    /// JSON pointer into the schema.
    schema: String,
    keys: BTreeSet<String>,
}

/// Every object in `value`, matched with the schema node that describes it.
fn objects(
    root: &Value,
    node: &Value,
    schema_at: String,
    value: &Value,
    at: String,
) -> Vec<Written> {
    let (node, schema_at) = resolve(root, node, schema_at);
    // `oneOf` here is "null or an object": an object is described by the branch that is one.
    if let Some(branches) = node.get("oneOf").and_then(Value::as_array) {
        return match value {
            Value::Object(_) => {
                let (i, branch) = branches
                    .iter()
                    .enumerate()
                    .find(|(_, b)| b["type"] == "object")
                    .expect("a branch for an object");
                objects(root, branch, format!("{schema_at}/oneOf/{i}"), value, at)
            }
            _ => Vec::new(),
        };
    }
    let mut found = Vec::new();
    match value {
        Value::Object(map) => {
            found.push(Written {
                at: at.clone(),
                schema: schema_at.clone(),
                keys: map.keys().cloned().collect(),
            });
            for (key, child) in map {
                if let Some(property) = node.pointer(&format!("/properties/{key}")) {
                    found.extend(objects(
                        root,
                        property,
                        format!("{schema_at}/properties/{key}"),
                        child,
                        format!("{at}/{key}"),
                    ));
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = node.get("items") {
                for (i, child) in items.iter().enumerate() {
                    found.extend(objects(
                        root,
                        item,
                        format!("{schema_at}/items"),
                        child,
                        format!("{at}/{i}"),
                    ));
                }
            }
        }
        _ => {}
    }
    found
}

fn names(node: &Value, field: &str) -> BTreeSet<String> {
    match &node[field] {
        Value::Object(map) => map.keys().cloned().collect(),
        Value::Array(list) => list
            .iter()
            .map(|v| v.as_str().expect("a field name").to_owned())
            .collect(),
        _ => BTreeSet::new(),
    }
}

#[test]
fn what_the_types_write_validates_against_the_schema() {
    let root = schema();
    let validator = jsonschema::validator_for(&root).expect("the schema is a valid JSON Schema");
    for (definition, sample, _) in samples() {
        let errors: Vec<String> = validator
            .iter_errors(&sample)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "a {definition} sample: {errors:#?}\n{sample:#}"
        );
    }
}

#[test]
fn the_schema_documents_every_field_written_and_requires_those_always_written() {
    let root = schema();
    // Per object of the schema: the keys some sample wrote there, and those every one did.
    let mut some: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut every: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (definition, sample, _) in samples() {
        let at = format!("/$defs/{definition}");
        for written in objects(
            &root,
            &root.pointer(&at).unwrap().clone(),
            at,
            &sample,
            String::new(),
        ) {
            some.entry(written.schema.clone())
                .or_default()
                .extend(written.keys.iter().cloned());
            every
                .entry(written.schema)
                .and_modify(|keys| keys.retain(|k| written.keys.contains(k)))
                .or_insert(written.keys);
        }
    }
    let mut wrong = Vec::new();
    for (at, written) in &some {
        let node = root.pointer(at).unwrap();
        let (documented, required) = (names(node, "properties"), names(node, "required"));
        if *written != documented {
            wrong.push(format!(
                "{at}: the types write {written:?}, the schema documents {documented:?}"
            ));
        }
        if every[at] != required {
            wrong.push(format!(
                "{at}: the types always write {:?}, the schema requires {required:?}",
                every[at]
            ));
        }
    }
    // Every object the schema describes was written by some sample.
    for definition in ["catalog", "appIndex"] {
        assert!(some.contains_key(&format!("/$defs/{definition}")));
    }
    assert!(some.len() >= 10, "objects compared: {:?}", some.keys());
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn a_reader_needs_no_field_the_schema_does_not_require() {
    let root = schema();
    for (definition, sample, reads) in samples() {
        reads(&sample).unwrap_or_else(|e| panic!("a {definition} sample reads back: {e}"));
        let at = format!("/$defs/{definition}");
        for written in objects(
            &root,
            &root.pointer(&at).unwrap().clone(),
            at,
            &sample,
            String::new(),
        ) {
            let required = names(root.pointer(&written.schema).unwrap(), "required");
            for key in &written.keys {
                let mut without = sample.clone();
                let object = match written.at.as_str() {
                    "" => &mut without,
                    at => without.pointer_mut(at).unwrap(),
                };
                object.as_object_mut().unwrap().remove(key);
                if let Err(e) = reads(&without) {
                    assert!(
                        required.contains(key),
                        "a {definition} without {}/{key} is refused ({e}), but the schema does not require it",
                        written.at
                    );
                }
            }
        }
    }
}

fn golden_site() -> PathBuf {
    golden_path("site")
}

type Rewrite = fn(&[u8]) -> Result<Vec<u8>, String>;

/// Reads `bytes` as a `T` and writes it again.
fn rewritten<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let doc: T = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    Ok(to_bytes(&doc))
}

#[test]
fn every_json_file_of_the_golden_site_reads_into_its_type_and_back_to_its_bytes() {
    let site = golden_site();
    let mut checked = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&site) {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(&site)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let parts: Vec<&str> = rel.split('/').collect();
        let (kind, rewrite): (&str, Rewrite) = match parts[..] {
            ["index.json"] => ("catalog", rewritten::<Catalog>),
            ["keys.json"] => ("keys", rewritten::<Keys>),
            ["apps", _, "index.json"] => ("app index", rewritten::<AppIndex>),
            ["api", "healthz.html"] => ("health", rewritten::<Health>),
            ["api", "v2", "not-found.json" | "invalid-params.json"] => {
                ("error", rewritten::<ApiError>)
            }
            ["api", "v2", "bundles", _, version] if version != "index.html" => {
                ("version", rewritten::<ApiBundle>)
            }
            ["api", ..] => ("list", rewritten::<Vec<ApiBundle>>),
            _ => continue,
        };
        let bytes = std::fs::read(entry.path()).unwrap();
        match rewrite(&bytes) {
            Ok(again) => assert!(
                again == bytes,
                "{rel} ({kind}) is written back otherwise:\n{}",
                String::from_utf8_lossy(&again)
            ),
            Err(e) => panic!("{rel} does not read as a {kind}: {e}"),
        }
        *checked.entry(kind).or_insert(0) += 1;
    }
    for kind in [
        "catalog",
        "keys",
        "app index",
        "health",
        "error",
        "version",
        "list",
    ] {
        assert!(checked.contains_key(kind), "no {kind} in {checked:?}");
    }
}
