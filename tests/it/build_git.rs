//! Building from a git work tree: only tracked bundles are published, and release dates are
//! the dates of the commits that added them.

use crate::support::bundle::*;
use crate::support::registry::*;
use mpk_registry::site::catalog::rfc3339;
use mpk_registry::site::paths;

const NOTES: &str = "com.example.notes";

const ADDED_1_0_0: i64 = 1_600_000_000; // 2020-09-13T12:26:40Z
const ADDED_1_1_0: i64 = 1_650_000_000; // 2022-04-15T05:20:00Z
const LATER_EDIT: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

#[test]
fn untracked_bundles_are_left_out_and_reported() {
    let reg = Registry::new();
    reg.git_init();
    reg.publish(NOTES, "1.0.0", &key(1));
    reg.commit_at(&["registry-src"], "Add notes 1.0.0", ADDED_1_0_0);

    // Valid but not added to git.
    reg.publish(NOTES, "1.1.0", &key(1));
    // Not even a bundle, and not added: not part of the registry, so not refused either.
    reg.write(&bundle_path("com.example.junk", "0.1.0"), b"junk");
    // Ignored by git: neither published nor reported.
    reg.write(".gitignore", "*-9.0.0.mpk\n");
    reg.publish(NOTES, "9.0.0", &key(1));

    let outcome = reg.build_ok();
    assert_eq!(outcome.bundles, 1);
    assert_eq!(
        outcome.untracked,
        [
            bundle_path("com.example.junk", "0.1.0"),
            bundle_path(NOTES, "1.1.0")
        ]
    );
    let index = read_json(&reg.out(), &paths::app_index(NOTES));
    assert_eq!(index["latestVersion"], "1.0.0");
    assert_eq!(index["versions"].as_array().unwrap().len(), 1);
    assert!(!reg.out().join(paths::artifact(NOTES, "1.1.0")).exists());
    assert!(!reg
        .out()
        .join(paths::app_index("com.example.junk"))
        .exists());

    // Once committed, it is published; the junk stays out.
    let added = format!("registry-src/{}", bundle_path(NOTES, "1.1.0"));
    reg.commit_at(&[&added], "Add notes 1.1.0", ADDED_1_1_0);
    let outcome = reg.build_ok();
    assert_eq!(
        outcome.untracked,
        [bundle_path("com.example.junk", "0.1.0")]
    );
    let index = read_json(&reg.out(), &paths::app_index(NOTES));
    assert_eq!(index["latestVersion"], "1.1.0");
}

#[test]
fn release_dates_come_from_git() {
    let reg = Registry::new();
    reg.git_init();
    reg.publish(NOTES, "1.0.0", &key(1));
    reg.commit_at(&["registry-src"], "Add notes 1.0.0", ADDED_1_0_0);
    reg.publish(NOTES, "1.1.0", &key(1));
    reg.commit_at(&["registry-src"], "Add notes 1.1.0", ADDED_1_1_0);
    // A later commit that touches the package but adds no bundle changes no date.
    reg.write("com.example.notes/package.toml", "owners = [\"someone\"]\n");
    reg.commit_at(&["registry-src"], "Name an owner", LATER_EDIT);
    // Tracked (staged) but never committed: git knows no date, and none is invented.
    reg.publish(NOTES, "1.2.0", &key(1));
    reg.git(&["add", "registry-src"]);

    reg.build_ok();
    let index = read_json(&reg.out(), &paths::app_index(NOTES));
    let published: Vec<(String, serde_json::Value)> = index["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_owned(),
                v["publishedAt"].clone(),
            )
        })
        .collect();
    assert_eq!(
        published,
        [
            ("1.2.0".to_owned(), serde_json::Value::Null),
            ("1.1.0".to_owned(), rfc3339(ADDED_1_1_0).into()),
            ("1.0.0".to_owned(), rfc3339(ADDED_1_0_0).into()),
        ]
    );
    assert_eq!(rfc3339(ADDED_1_0_0), "2020-09-13T12:26:40Z");

    // The app page shows the same dates.
    let page = read_text(&reg.out(), &paths::app_page(NOTES));
    assert!(page.contains("<time datetime=\"2020-09-13\">2020-09-13</time>"));
    assert!(page.contains("<time datetime=\"2022-04-15\">2022-04-15</time>"));
}

/// Signing checks the key against registry.toml as git holds it: an edit not yet added is
/// named as what is wrong, not the key.
#[test]
fn signing_with_a_registry_toml_git_does_not_hold_names_the_file() {
    let reg = Registry::new();
    reg.git_init();
    reg.publish(NOTES, "1.0.0", &key(1));
    reg.write("registry.toml", "title = \"T\"\n");
    reg.commit_at(&["registry-src"], "Add notes 1.0.0", ADDED_1_0_0);
    let index_key = key(23);
    reg.write(
        "registry.toml",
        format!("title = \"T\"\nindex_keys = [\"{}\"]\n", signer(&index_key)),
    );
    let mut options = reg.options(&reg.out(), None);
    options.sign = Some(mpk_registry::site::IndexSigning {
        key: index_key,
        version: None,
        expires_after: 86_400,
    });
    let error = format!(
        "{:#}",
        mpk_registry::site::build(&options).expect_err("refused")
    );
    assert!(
        error.contains("registry.toml cannot be read (the file in the work tree differs from what git holds for it)"),
        "{error}"
    );
    assert!(error.contains("git add"), "{error}");
    assert!(!error.contains("not listed"), "{error}");
}
