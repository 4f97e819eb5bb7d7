//! Registry rules across bundles and settings files, one test per rule, each proving that a
//! build refuses (and writes nothing) or publishes, as the rule says.

use std::collections::BTreeSet;
use std::fs;

use crate::support::assert_refused;
use crate::support::bundle::*;
use crate::support::registry::*;
use mpk_registry::keys::dev_signing_key;
use mpk_registry::report::Rule;
use mpk_registry::site::paths;
use serde_json::json;

const NOTES: &str = "com.example.notes";

/// A refused build writes no site at all.
fn assert_nothing_written(reg: &Registry) {
    assert!(
        !reg.out().exists(),
        "a refused build must not write {}",
        reg.out().display()
    );
}

#[test]
fn file_name_must_match_the_manifest() {
    let reg = Registry::new();
    // The manifest says 1.0.1; the file says 1.0.0.
    reg.write(
        &bundle_path(NOTES, "1.0.0"),
        packed(pack_manifest(NOTES, "1.0.1"), &key(1)),
    );
    // Right file name, wrong package folder.
    reg.write(
        "com.example.other/com.example.notes-2.0.0.mpk",
        packed(pack_manifest(NOTES, "2.0.0"), &key(1)),
    );
    let outcome = reg.build();
    assert_refused(
        &outcome,
        "com.example.notes/com.example.notes-1.0.0.mpk",
        Rule::FileName,
    );
    assert_refused(
        &outcome,
        "com.example.other/com.example.notes-2.0.0.mpk",
        Rule::FileName,
    );
    let message = &outcome.refused[0].problems[0].message;
    assert!(
        message.contains("com.example.notes/com.example.notes-1.0.1.mpk"),
        "the refusal names the expected file: {message}"
    );
    assert_nothing_written(&reg);
}

#[test]
fn a_refused_bundle_reports_its_wrong_name_in_the_same_round() {
    let reg = Registry::new();
    // Signed with the development key (refused on its own) and named after another version.
    reg.write(
        &bundle_path(NOTES, "1.0.0"),
        packed(pack_manifest(NOTES, "1.0.1"), &dev_signing_key()),
    );
    let outcome = reg.build();
    let mut rules: Vec<Rule> = outcome.refused[0].problems.iter().map(|p| p.rule).collect();
    rules.sort();
    assert_eq!(rules, [Rule::WellKnownKey, Rule::FileName]);
    assert_nothing_written(&reg);
}

#[test]
fn bundle_outside_a_package_folder_is_refused() {
    let reg = Registry::new();
    reg.publish(NOTES, "1.0.0", &key(1));
    let stray = packed(pack_manifest(NOTES, "1.1.0"), &key(1));
    reg.write("com.example.notes-1.1.0.mpk", &stray);
    reg.write(
        "com.example.notes/nested/com.example.notes-1.2.0.mpk",
        &stray,
    );
    let outcome = reg.build();
    assert_refused(&outcome, "com.example.notes-1.1.0.mpk", Rule::FileName);
    assert_refused(
        &outcome,
        "com.example.notes/nested/com.example.notes-1.2.0.mpk",
        Rule::FileName,
    );
    assert_eq!(outcome.refused.len(), 2);
    assert_nothing_written(&reg);
}

#[test]
fn new_signer_is_refused() {
    let reg = Registry::new();
    reg.publish(NOTES, "1.0.0", &key(1));
    reg.publish(NOTES, "1.1.0", &key(2));
    let outcome = reg.build();
    assert_eq!(
        refusals(&outcome),
        [(bundle_path(NOTES, "1.1.0"), Rule::SignerChange)]
    );
    let message = &outcome.refused[0].problems[0].message;
    assert!(message.contains(&signer(&key(1))) && message.contains(&signer(&key(2))));
    assert_nothing_written(&reg);
}

#[test]
fn new_signer_listed_in_package_toml_is_allowed() {
    let reg = Registry::new();
    reg.publish(NOTES, "1.0.0", &key(1));
    reg.publish(NOTES, "1.1.0", &key(2));
    reg.write(
        "com.example.notes/package.toml",
        format!("signers = [\"{}\"]\n", signer(&key(2))),
    );
    reg.build_ok();
    let index = read_json(&reg.out(), &paths::app_index(NOTES));
    assert_eq!(index["latestVersion"], "1.1.0");
    assert_eq!(index["versions"][0]["signerId"], signer(&key(2)));
    assert_eq!(index["versions"][1]["signerId"], signer(&key(1)));
}

#[test]
fn signer_change_in_interop_bundles_is_refused() {
    let reg = Registry::new();
    for (from, version) in [
        ("valid/com.example.hello-1.0.0.mpk", "1.0.0"),
        ("policy/signer-change/com.example.hello-1.2.0.mpk", "1.2.0"),
    ] {
        reg.write(
            &bundle_path("com.example.hello", version),
            fs::read(interop_bundle(from)).unwrap(),
        );
    }
    let outcome = reg.build();
    assert_eq!(
        refusals(&outcome),
        [(
            "com.example.hello/com.example.hello-1.2.0.mpk".to_owned(),
            Rule::SignerChange
        )]
    );
    assert_nothing_written(&reg);
}

#[test]
fn versions_differing_only_in_case_collide() {
    let reg = Registry::new();
    reg.publish(NOTES, "1.0.0-RC.1", &key(1));
    reg.publish(NOTES, "1.0.0-rc.1", &key(1));
    let outcome = reg.build();
    // Both are valid alone; the one listed second is the duplicate.
    assert_eq!(
        refusals(&outcome),
        [(bundle_path(NOTES, "1.0.0-rc.1"), Rule::VersionExists)]
    );
    assert_nothing_written(&reg);
}

/// Two packages whose names differ only in case would share `apps/<package>/…`,
/// `api/v2/packages/<package>/…` and `artifacts/<package>/…` on case-insensitive file systems
/// and CDNs, whatever their versions.
#[test]
fn packages_differing_only_in_case_collide() {
    let reg = Registry::new();
    reg.publish("com.example.Notes", "1.0.0", &key(1));
    reg.publish(NOTES, "2.0.0", &key(2));
    let outcome = reg.build();
    // Listed second, so the respelling; one rule, one problem.
    assert_eq!(
        refusals(&outcome),
        [(bundle_path(NOTES, "2.0.0"), Rule::VersionExists)]
    );
    assert_nothing_written(&reg);
}

/// `api/v2/bundles/index.html` is the site's list of packages; a package of that name would
/// need it to be a folder.
#[test]
fn a_package_named_like_a_site_file_is_refused() {
    let reg = Registry::new();
    reg.publish(NOTES, "1.0.0", &key(1));
    reg.publish("index.html", "1.0.0", &key(2));
    let outcome = reg.build();
    assert_eq!(
        refusals(&outcome),
        [(bundle_path("index.html", "1.0.0"), Rule::ReservedName)]
    );
    let problem = &outcome.refused[0].problems[0];
    assert_eq!(problem.subject, "package");
    assert!(
        problem
            .message
            .contains("api/v2/bundles/index.html is a file of the site"),
        "{}",
        problem.message
    );
    assert_nothing_written(&reg);
}

/// `apps/<package>/index.json` and `index.html` are the app's files; a version of either name
/// would need them to be folders.
#[test]
fn a_version_named_like_an_app_file_is_refused() {
    let reg = Registry::new();
    reg.publish(NOTES, "1.0.0", &key(1));
    reg.publish(NOTES, "index.json", &key(1));
    reg.publish(NOTES, "index.html", &key(1));
    let outcome = reg.build();
    assert_eq!(
        refusals(&outcome),
        [
            (bundle_path(NOTES, "index.html"), Rule::ReservedName),
            (bundle_path(NOTES, "index.json"), Rule::ReservedName),
        ]
    );
    for report in &outcome.refused {
        let problem = &report.problems[0];
        assert_eq!(problem.subject, "appVersion");
        assert!(
            problem
                .message
                .contains("is a file of app com.example.notes"),
            "{}",
            problem.message
        );
    }
    assert_nothing_written(&reg);
}

/// Hosts answer `/api/v2/bundles/P/1.0.0.html` (version `1.0.0.html`) with the file
/// `1.0.0.html`, which is version 1.0.0's. Of two such versions the one added later is
/// refused, though it sorts first.
#[test]
fn of_two_versions_with_one_url_the_later_added_is_refused() {
    let reg = Registry::new();
    reg.git_init();
    reg.publish(NOTES, "1.0.0", &key(1));
    reg.commit_at(&["registry-src"], "Add notes 1.0.0", 1_700_000_000);
    reg.publish(NOTES, "1.0.0.html", &key(1));
    reg.commit_at(&["registry-src"], "Add notes 1.0.0.html", 1_700_000_060);
    let outcome = reg.build();
    assert_eq!(
        refusals(&outcome),
        [(bundle_path(NOTES, "1.0.0.html"), Rule::ReservedName)]
    );
    let message = &outcome.refused[0].problems[0].message;
    assert!(
        message.contains("/api/v2/bundles/com.example.notes/1.0.0.html would be answered by"),
        "{message}"
    );
    assert_nothing_written(&reg);
}

#[test]
fn package_toml_must_refer_to_what_exists() {
    let reg = Registry::new();
    reg.publish(NOTES, "1.0.0", &key(1));
    reg.write(
        "com.example.notes/package.toml",
        "org = \"acme\"\n\
         signers = [\"did:key:zNotAKey\", \"ed25519:abc\"]\n\
         yanked = [{ version = \"9.9.9\", reason = \"never published\" }]\n",
    );
    let outcome = reg.build();
    let file = "com.example.notes/package.toml";
    let problems: Vec<_> = outcome
        .refused
        .iter()
        .filter(|r| r.file == file)
        .flat_map(|r| r.problems.iter())
        .collect();
    let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    assert!(
        problems.iter().all(|p| p.rule == Rule::PackageConfig),
        "{messages:?}"
    );
    for needle in ["9.9.9", "did:key:zNotAKey", "ed25519:abc", "acme"] {
        assert!(
            messages.iter().any(|m| m.contains(needle)),
            "no problem mentions {needle}: {messages:?}"
        );
    }
    assert_eq!(messages.len(), 4, "{messages:?}");
    let reports_for_file = outcome.refused.len();
    assert_nothing_written(&reg);

    // Once each reference resolves, the same package builds.
    reg.write(
        "com.example.notes/package.toml",
        format!(
            "org = \"acme\"\nsigners = [\"{}\"]\nyanked = [{{ version = \"1.0.0\", reason = \"r\" }}]\n",
            signer(&key(2))
        ),
    );
    reg.write("orgs/acme.toml", "members = [\"alice\"]\n");
    reg.build_ok();

    // KNOWN BUG: `Outcome::refused` promises one report per refused file "with all its
    // problems"; policy::check_package_settings makes one report per problem instead.
    assert_eq!(
        reports_for_file, 1,
        "{file} is reported {reports_for_file} times, once per problem, instead of once with every problem"
    );
}

#[test]
fn dev_key_is_refused_unless_the_registry_allows_it() {
    let reg = Registry::new();
    reg.publish(NOTES, "1.0.0", &dev_signing_key());
    let outcome = reg.build();
    assert_eq!(
        refusals(&outcome),
        [(bundle_path(NOTES, "1.0.0"), Rule::WellKnownKey)]
    );
    assert_nothing_written(&reg);

    reg.write("registry.toml", "allow_dev_key = true\n");
    reg.build_ok();
    let index = read_json(&reg.out(), &paths::app_index(NOTES));
    assert_eq!(index["versions"][0]["signerId"], signer(&dev_signing_key()));

    // The switch is for the dev key only, never for a key whose private half leaked.
    reg.write("registry.toml", "allow_dev_key = false\n");
    assert_eq!(
        refusals(&reg.build()),
        [(bundle_path(NOTES, "1.0.0"), Rule::WellKnownKey)]
    );
}

/// `artifacts/<package>/…` and the content-addressed `artifacts/sha256/<hex>.mpk` share one
/// namespace: a package named `sha256` whose version is another bundle's
/// `<hex>.mpk` (digests are public in index.json) would put a folder where that bundle's file
/// must go.
#[test]
fn a_package_named_sha256_cannot_take_over_content_addressed_paths() {
    let reg = Registry::new();
    let victim = reg.publish(NOTES, "1.0.0", &key(1));
    let digest = sha256_hex(&reg.read(&victim));
    let squat = format!("{digest}.mpk");
    reg.publish("sha256", &squat, &key(2));

    let outcome = reg.build();
    assert_eq!(
        refusals(&outcome),
        [(bundle_path("sha256", &squat), Rule::ReservedName)]
    );
    assert!(outcome.refused[0].problems[0]
        .message
        .contains("is inside artifacts/sha256/"));
    assert_nothing_written(&reg);
}

/// The collision rules judge the paths `paths` lists, so they hold only when the build writes
/// nothing else: every file of a site with every kind of file in it is listed, apart from the
/// content-addressed copies and the marker naming the site as ours.
#[test]
fn the_site_writes_only_the_listed_paths() {
    let reg = Registry::new();
    reg.write(
        "registry.toml",
        "base_url = \"https://apps.example.test\"\n",
    );
    reg.publish(NOTES, "1.0.0", &key(1));
    reg.publish(NOTES, "1.1.0", &key(1));
    reg.add(
        pack_services_manifest("com.example.suite", "0.1.0"),
        &key(2),
    );
    reg.write(
        "com.example.notes/package.toml",
        "yanked = [{ version = \"1.1.0\", reason = \"r\" }]\n",
    );
    reg.build_ok();

    let mut listed: BTreeSet<String> = paths::site_files()
        .into_iter()
        .map(|(rel, _)| rel.to_owned())
        .collect();
    listed.insert(".mpk-registry".to_owned());
    for (package, version) in [
        (NOTES, "1.0.0"),
        (NOTES, "1.1.0"),
        ("com.example.suite", "0.1.0"),
    ] {
        listed.extend(paths::app_files(package).into_iter().map(|(rel, _)| rel));
        listed.extend(
            paths::release_files(package, version)
                .into_iter()
                .map(|(rel, _)| rel),
        );
    }
    // The lists filtered by developer and by author: one per signer and author of a latest.
    listed.extend([
        paths::api_developer(&signer(&key(1))),
        paths::api_developer(&signer(&key(2))),
        paths::api_author("Test Author"),
    ]);
    let written = tree(&reg.out());
    let (copies, others): (Vec<&String>, Vec<&String>) = written
        .keys()
        .partition(|rel| rel.starts_with(&format!("{}/", paths::CONTENT_ADDRESSED)));
    assert_eq!(others.into_iter().cloned().collect::<BTreeSet<_>>(), listed);
    assert_eq!(copies.len(), 3, "{copies:?}");
}

#[test]
fn all_problems_of_a_build_are_reported_together() {
    let reg = Registry::new();
    reg.publish(NOTES, "1.0.0", &key(1));
    reg.publish(NOTES, "1.1.0", &key(2)); // signer change
    reg.write(
        &bundle_path(NOTES, "1.2.0"),
        packed(pack_manifest(NOTES, "1.2.1"), &key(1)),
    ); // file name
    reg.write("stray.mpk", b"x"); // misplaced
    let mut evil = pack_manifest("com.example.dev", "1.0.0");
    evil.insert("links".into(), json!({"docs": "https://example.com"}));
    reg.add(evil, &dev_signing_key()); // well-known key
    reg.write(
        "com.example.notes/package.toml",
        "yanked = [{ version = \"0.0.1\", reason = \"typo\" }]\n",
    ); // package.toml
    let outcome = reg.build();
    let rules: Vec<Rule> = refusals(&outcome).into_iter().map(|(_, r)| r).collect();
    for rule in [
        Rule::SignerChange,
        Rule::FileName,
        Rule::WellKnownKey,
        Rule::PackageConfig,
    ] {
        assert!(rules.contains(&rule), "{} missing: {rules:?}", rule.code());
    }
    assert_eq!(outcome.refused.len(), 5, "{:#?}", refusals(&outcome));
    assert_nothing_written(&reg);
}
