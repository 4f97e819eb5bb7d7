//! docs/report.md matches the code: every rule code is documented (and nothing else), and the
//! documented JSON keys are the ones the reports have.

use std::collections::BTreeSet;

use crate::support::bundle::*;
use crate::support::repo_file;
use mpk_registry::report::Rule;
use mpk_registry::verify::{inspect_json, reports_json};
use serde_json::Value;

fn doc() -> String {
    repo_file("docs/report.md")
}

/// The first-column `code` values of the tables in the section under `heading` (up to the
/// next heading of the same or a higher level).
fn table_keys(doc: &str, heading: &str) -> BTreeSet<String> {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let mut lines = doc.lines().skip_while(|l| l.trim() != heading);
    assert!(lines.next().is_some(), "no section {heading:?}");
    let mut keys = BTreeSet::new();
    for line in lines {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if hashes > 0 && hashes <= level {
            break;
        }
        if let Some(rest) = line.strip_prefix("| `") {
            if let Some((key, _)) = rest.split_once('`') {
                keys.insert(key.to_owned());
            }
        }
    }
    keys
}

fn object_keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

#[test]
fn every_rule_code_is_documented_once() {
    let documented = table_keys(&doc(), "## Rule codes");
    let codes: BTreeSet<String> = Rule::ALL.iter().map(|r| r.code().to_owned()).collect();
    assert_eq!(documented, codes);
    for rule in Rule::ALL {
        assert!(!rule.hint().is_empty(), "{} has a hint", rule.code());
    }
}

#[test]
fn documented_keys_are_the_report_keys() {
    let doc = doc();
    let verified = verify(&services_bundle(&signed(services_manifest(), &key(1))));
    let refused = verify(&standard(&base_manifest()));
    let text = reports_json(&[verified.clone(), refused.clone()]);
    let json: Value = serde_json::from_str(&text).expect("JSON");

    assert_eq!(object_keys(&json), table_keys(&doc, "### Top level"));
    let ok = &json["reports"][0];
    assert_eq!(object_keys(ok), table_keys(&doc, "### Report"));
    let bundle = &ok["bundle"];
    assert_eq!(object_keys(bundle), table_keys(&doc, "### Bundle"));
    // `service` is documented as present only for services; these are all services.
    assert_eq!(
        object_keys(&bundle["artifacts"][0]),
        table_keys(&doc, "### Artifact")
    );
    let problem = &json["reports"][1]["problems"][0];
    assert_eq!(
        object_keys(problem),
        table_keys(&doc, "### Problem (also used for warnings)")
    );

    let inspect: Value = serde_json::from_str(&inspect_json(&refused)).expect("JSON");
    assert_eq!(
        object_keys(&inspect),
        table_keys(&doc, "## `inspect --json FILE`")
    );
    assert!(inspect["manifest"].is_object());
}
