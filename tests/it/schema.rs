//! The JSON documents of a built site match their published schema (docs/index-schema.json),
//! signed and unsigned.

use std::fs;

use crate::support::bundle::*;
use crate::support::registry::*;
use mpk_registry::site::{self, IndexSigning};
use serde_json::Value;

fn schema() -> jsonschema::Validator {
    let text = include_str!("../../docs/index-schema.json");
    let schema: Value = serde_json::from_str(text).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

fn assert_valid(validator: &jsonschema::Validator, file: &std::path::Path) {
    let doc: Value = serde_json::from_slice(&fs::read(file).unwrap()).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{} does not match the schema: {errors:#?}",
        file.display()
    );
}

/// A registry with a yanked version and a multi-service app, in git so dates are set.
fn registry_in_git() -> Registry {
    let reg = Registry::new();
    reg.git_init();
    let alice = key(21);
    reg.publish("com.example.one", "1.0.0", &alice);
    reg.publish("com.example.one", "1.1.0", &alice);
    reg.add(pack_services_manifest("com.example.two", "0.1.0"), &key(22));
    reg.write(
        "com.example.one/package.toml",
        "yanked = [{ version = \"1.1.0\", reason = \"broken\" }]\n",
    );
    reg
}

fn validate_site(out: &std::path::Path) {
    let validator = schema();
    assert_valid(&validator, &out.join("index.json"));
    for package in ["com.example.one", "com.example.two"] {
        assert_valid(&validator, &out.join(format!("apps/{package}/index.json")));
    }
}

#[test]
fn unsigned_site_matches_the_schema() {
    let reg = registry_in_git();
    reg.commit_at(&["."], "publish", 1_700_000_000);
    reg.build_ok();
    validate_site(&reg.out());
}

#[test]
fn signed_site_matches_the_schema() {
    let reg = registry_in_git();
    let index_key = key(23);
    reg.write(
        "registry.toml",
        format!("index_keys = [\"{}\"]\n", signer(&index_key)),
    );
    reg.commit_at(&["."], "publish", 1_700_000_000);
    let mut options = reg.options(&reg.out(), None);
    options.sign = Some(IndexSigning {
        key: index_key,
        version: None,
        expires_after: 86_400,
    });
    let outcome = site::build(&options).expect("build runs");
    assert!(outcome.refused.is_empty(), "{:?}", outcome.refused);
    let catalog: Value =
        serde_json::from_slice(&fs::read(reg.out().join("index.json")).unwrap()).unwrap();
    assert!(catalog["signature"].is_object(), "the catalog is signed");
    validate_site(&reg.out());
}

#[test]
fn schema_rejects_a_catalog_without_apps() {
    let validator = schema();
    let doc = serde_json::json!({"schemaVersion": 1, "registry": {"title": "x", "baseUrl": null}, "signature": null});
    assert!(!validator.is_valid(&doc));
}
