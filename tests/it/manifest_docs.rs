//! docs/manifest.md matches the rules: its examples pack and verify, and every rule code it
//! names exists, and every manifest rule is named there.

use std::collections::BTreeSet;

use crate::support::bundle::*;
use crate::support::repo_file;
use mpk_registry::report::Rule;
use serde_json::{Map, Value};

fn doc() -> String {
    repo_file("docs/manifest.md")
}

/// The blocks fenced as ```json example, in order.
fn examples(doc: &str) -> Vec<Map<String, Value>> {
    let mut examples = Vec::new();
    let mut block: Option<String> = None;
    for line in doc.lines() {
        match (&mut block, line.trim_end()) {
            (None, "```json example") => block = Some(String::new()),
            (Some(text), "```") => {
                let parsed = serde_json::from_str(text).expect("an example is a JSON object");
                examples.push(parsed);
                block = None;
            }
            (Some(text), line) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    examples
}

#[test]
fn the_examples_pack_and_verify_without_a_warning() {
    let examples = examples(&doc());
    assert_eq!(examples.len(), 2, "a minimal and a full example");
    for example in examples {
        let report = verify(&packed(example.clone(), &key(1)));
        assert_ok(&report);
        assert_eq!(report.warnings, [], "{example:?}");
    }
}

#[test]
fn the_full_example_sets_every_documented_field() {
    let doc = doc();
    let full = Value::Object(examples(&doc).pop().expect("a full example"));
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let field = line[3..].split('`').next().expect("a field");
        if field.starts_with("artifact")
            || ["signerId", "signature", "wasm", "abi"].contains(&field)
        {
            continue; // written by pack, or one of the two shapes (the minimal example has them)
        }
        let pointer = format!("/{}", field.replace('.', "/"));
        assert!(
            full.pointer(&pointer).is_some(),
            "the full example lacks {field}"
        );
    }
}

#[test]
fn every_manifest_rule_is_in_the_guide_and_every_code_it_names_exists() {
    let doc = doc();
    let named: BTreeSet<&str> = doc
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            s.contains('.')
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '-')
        })
        .filter(|s| {
            [
                "manifest.",
                "archive.",
                "artifact.",
                "signature.",
                "policy.",
            ]
            .iter()
            .any(|p| s.starts_with(p))
        })
        .collect();
    for code in &named {
        assert!(Rule::from_code(code).is_some(), "{code} is no rule code");
    }
    for rule in Rule::ALL
        .iter()
        .filter(|r| r.code().starts_with("manifest."))
    {
        assert!(
            named.contains(rule.code()),
            "{} is not in docs/manifest.md",
            rule.code()
        );
    }
    assert!(Rule::Required.hint().contains("docs/manifest.md"));
}
