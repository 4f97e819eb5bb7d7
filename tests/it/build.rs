//! `build` end to end: the site a small registry gives, read back as a client would, its
//! determinism, and what a build does to an output folder when it refuses or cannot write.
//!
//! The golden site lives in `tests/golden/site/`. After an intended change to the output, run
//! `UPDATE_GOLDEN=1 cargo test --test it build::` to rewrite it, then review the diff. Bundles are
//! stored there as `<name>.mpk.sha256` (their digest), not as bytes.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::support::assert_refused;
use crate::support::bundle::*;
use crate::support::cli::{code, transcript};
use crate::support::golden::{assert_golden, assert_golden_tree};
use crate::support::registry::*;
use mpk_registry::identity::application_id;
use mpk_registry::report::Rule;
use mpk_registry::site::{self, hosting, paths};
use serde_json::{json, Value};

/// Commit times of the golden registry's history (unix seconds, UTC).
const T1: i64 = 1_704_164_645; // 2024-01-02T03:04:05Z
const T2: i64 = 1_707_000_000; // 2024-02-03T22:40:00Z
const T3: i64 = 1_709_553_600; // 2024-03-04T12:00:00Z

/// Two apps, three versions (one yanked in package.toml), one multi-service, a title and a
/// base URL, all committed to git at fixed times.
fn golden_registry() -> Registry {
    let reg = Registry::new();
    reg.git_init();
    let alice = key(11);
    let bob = key(12);
    reg.write(
        "registry.toml",
        "title = \"Golden test registry\"\nbase_url = \"https://apps.example.test\"\n",
    );
    let mut notes = pack_manifest("com.example.notes", "1.0.0");
    notes["metadata"]["name"] = json!("Notes");
    notes["metadata"]["description"] = json!("Shared notes that sync between members.");
    notes["metadata"]["icon"] = json!(PNG_ICON);
    notes.insert(
        "links".into(),
        json!({"github": "https://github.com/example/notes"}),
    );
    reg.add(notes.clone(), &alice);
    reg.commit_at(&["registry-src"], "Add notes 1.0.0", T1);

    notes.insert("appVersion".into(), json!("1.1.0"));
    reg.add(notes, &alice);
    reg.add(pack_services_manifest("com.example.suite", "0.1.0"), &bob);
    reg.commit_at(&["registry-src"], "Add notes 1.1.0 and suite 0.1.0", T2);

    reg.write(
        "com.example.notes/package.toml",
        "owners = [\"notes-team\"]\nyanked = [{ version = \"1.1.0\", reason = \"Drops edits made offline; use 1.0.0.\" }]\n",
    );
    reg.commit_at(&["registry-src"], "Yank notes 1.1.0", T3);
    reg
}

/// The site as the golden folder stores it: bundles replaced by their SHA-256.
fn as_golden(site: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    site.into_iter()
        .map(|(rel, bytes)| {
            if rel.ends_with(".mpk") {
                (
                    format!("{rel}.sha256"),
                    format!("{}\n", sha256_hex(&bytes)).into_bytes(),
                )
            } else {
                (rel, bytes)
            }
        })
        .collect()
}

#[test]
fn golden_site_matches_the_checked_in_files() {
    let reg = golden_registry();
    let outcome = reg.build_ok();
    assert_eq!((outcome.apps, outcome.bundles), (2, 3));
    let built = as_golden(tree(&reg.out()));

    // Bundles are pinned by digest here; the digest must be the one index.json publishes.
    for app in read_json(&reg.out(), "index.json")["apps"]
        .as_array()
        .unwrap()
    {
        let index = read_json(&reg.out(), app["index"]["path"].as_str().unwrap());
        for v in index["versions"].as_array().unwrap() {
            for key in ["path", "contentPath"] {
                let rel = format!("{}.sha256", v["bundle"][key].as_str().unwrap());
                let digest = String::from_utf8(built[&rel].clone()).unwrap();
                assert_eq!(digest.trim(), v["bundle"]["sha256"].as_str().unwrap());
            }
        }
    }

    assert_golden_tree("site", &built);
}

/// Several apps whose versions exercise ordering, yanks and the choice of the latest.
fn versions_registry() -> Registry {
    let reg = Registry::new();
    for v in ["0.9.0", "1.2.0", "1.10.0", "1.10.1-rc.1", "2.0.0-beta.1"] {
        reg.publish("com.example.alpha", v, &key(21));
    }
    for v in ["nightly", "0.1.0-alpha.1", "0.1.0-alpha.2"] {
        reg.publish("com.example.beta", v, &key(22));
    }
    for v in ["1.0.0", "1.1.0-rc.1"] {
        reg.publish("com.example.gamma", v, &key(23));
    }
    reg.publish("com.example.delta", "0.1.0", &key(24));
    reg.add(
        pack_services_manifest("com.example.suite", "0.3.0"),
        &key(25),
    );
    reg.write(
        "com.example.alpha/package.toml",
        "yanked = [{ version = \"1.10.0\", reason = \"Broken migration.\" }]\n",
    );
    reg.write(
        "com.example.gamma/package.toml",
        "yanked = [{ version = \"1.0.0\", reason = \"Leaks keys.\" }]\n",
    );
    reg.write(
        "com.example.delta/package.toml",
        "yanked = [{ version = \"0.1.0\", reason = \"Withdrawn.\" }]\n",
    );
    reg
}

/// Newest first (spec §4), and the expected latest version, per app.
fn expected_versions() -> BTreeMap<&'static str, (Vec<&'static str>, Option<&'static str>)> {
    BTreeMap::from([
        (
            "com.example.alpha",
            (
                vec!["2.0.0-beta.1", "1.10.1-rc.1", "1.10.0", "1.2.0", "0.9.0"],
                // 1.10.0 is yanked; prereleases lose to a stable version.
                Some("1.2.0"),
            ),
        ),
        (
            "com.example.beta",
            // Semver above non-semver; only prereleases, so the newest one is latest.
            (
                vec!["0.1.0-alpha.2", "0.1.0-alpha.1", "nightly"],
                Some("0.1.0-alpha.2"),
            ),
        ),
        (
            "com.example.delta",
            // Every version yanked: no latest at all.
            (vec!["0.1.0"], None),
        ),
        (
            "com.example.gamma",
            // The only stable version is yanked, so a prerelease is the latest.
            (vec!["1.1.0-rc.1", "1.0.0"], Some("1.1.0-rc.1")),
        ),
        ("com.example.suite", (vec!["0.3.0"], Some("0.3.0"))),
    ])
}

fn yanked(package: &str, version: &str) -> Option<&'static str> {
    match (package, version) {
        ("com.example.alpha", "1.10.0") => Some("Broken migration."),
        ("com.example.gamma", "1.0.0") => Some("Leaks keys."),
        ("com.example.delta", "0.1.0") => Some("Withdrawn."),
        _ => None,
    }
}

fn signer_seed(package: &str) -> u8 {
    match package {
        "com.example.alpha" => 21,
        "com.example.beta" => 22,
        "com.example.gamma" => 23,
        "com.example.delta" => 24,
        _ => 25,
    }
}

#[test]
fn index_json_reads_back_to_the_published_bytes() {
    let reg = versions_registry();
    reg.build_ok();
    let out = reg.out();
    let catalog = read_json(&out, "index.json");
    assert_eq!(catalog["schemaVersion"], 1);
    let apps = catalog["apps"].as_array().unwrap();
    let packages: Vec<&str> = apps
        .iter()
        .map(|a| a["package"].as_str().unwrap())
        .collect();
    let expected = expected_versions();
    assert_eq!(packages, expected.keys().copied().collect::<Vec<_>>());

    for app in apps {
        let package = app["package"].as_str().unwrap();
        let (order, latest) = &expected[package];
        let signer_id = signer(&key(signer_seed(package)));

        // The catalog pins the exact bytes of the app index.
        let index_rel = app["index"]["path"].as_str().unwrap();
        assert_eq!(index_rel, paths::app_index(package));
        let index_bytes = fs::read(out.join(index_rel)).unwrap();
        assert_eq!(app["index"]["sha256"], sha256_hex(&index_bytes));
        assert!(out.join(app["page"].as_str().unwrap()).is_file());
        let index: Value = serde_json::from_slice(&index_bytes).unwrap();
        assert_eq!(index["package"], package);

        let versions = index["versions"].as_array().unwrap();
        let listed: Vec<&str> = versions
            .iter()
            .map(|v| v["version"].as_str().unwrap())
            .collect();
        assert_eq!(&listed, order, "{package}: versions newest first");
        assert_eq!(index["latestVersion"].as_str(), *latest, "{package}");
        assert_eq!(app["latestVersion"], index["latestVersion"], "{package}");
        assert_eq!(app["versionCount"], order.len());
        let yanked_listed: Vec<&str> = order
            .iter()
            .copied()
            .filter(|v| yanked(package, v).is_some())
            .collect();
        assert_eq!(app["yankedVersions"], json!(yanked_listed));
        assert_eq!(app["signerId"], signer_id);
        assert_eq!(
            app["applicationId"],
            application_id(package, &signer_id),
            "{package}"
        );

        for v in versions {
            let version = v["version"].as_str().unwrap();
            let reason = yanked(package, version);
            assert_eq!(v["yanked"], reason.is_some(), "{package} {version}");
            assert_eq!(v["yankReason"].as_str(), reason, "{package} {version}");
            if reason.is_some() {
                assert_ne!(index["latestVersion"].as_str(), Some(version));
            }
            assert_eq!(v["signerId"], signer_id);
            // Not in git: no date is known, and none is made up from the clock.
            assert_eq!(v["publishedAt"], Value::Null);

            let source = reg.read(&bundle_path(package, version));
            let sha = v["bundle"]["sha256"].as_str().unwrap();
            assert_eq!(sha, sha256_hex(&source));
            assert_eq!(v["bundle"]["size"], source.len());
            assert_eq!(
                v["bundle"]["path"],
                paths::artifact(package, version),
                "the path nodes fetch"
            );
            assert_eq!(v["bundle"]["contentPath"], paths::content_addressed(sha));
            for key in ["path", "contentPath"] {
                let rel = v["bundle"][key].as_str().unwrap();
                let bytes = fs::read(out.join(rel)).unwrap_or_else(|_| panic!("{rel} missing"));
                assert_eq!(sha256_hex(&bytes), sha, "{rel}");
                assert_eq!(bytes.len() as u64, v["bundle"]["size"].as_u64().unwrap());
            }

            let manifest_rel = v["manifest"]["path"].as_str().unwrap();
            assert_eq!(manifest_rel, paths::manifest(package, version));
            let manifest = fs::read(out.join(manifest_rel)).unwrap();
            assert_eq!(v["manifest"]["sha256"], sha256_hex(&manifest));
            assert_eq!(
                manifest,
                bundle_manifest(&source),
                "{manifest_rel} is byte-exact"
            );
            let parsed: Value = serde_json::from_slice(&manifest).unwrap();
            assert_eq!(v["minRuntimeVersion"], parsed["minRuntimeVersion"]);

            // Every artifact the node uses is listed with the digest of the bundled file.
            let entries = bundle_entries(&source);
            let artifacts = v["artifacts"].as_array().unwrap();
            assert!(!artifacts.is_empty());
            for a in artifacts {
                let bytes = &entries[a["path"].as_str().unwrap()];
                assert_eq!(a["sha256"], sha256_hex(bytes));
                assert_eq!(a["size"], bytes.len());
            }
        }
    }

    // The multi-service app lists its services' artifacts, not a top-level wasm.
    let suite = read_json(&out, &paths::app_index("com.example.suite"));
    let fields: Vec<&str> = suite["versions"][0]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["services[0].wasm", "services[0].abi", "services[1].wasm"]
    );
}

#[test]
fn same_source_gives_identical_bytes_across_threads_and_paths() {
    let reg = versions_registry();
    let build = |src: &Path, out: &Path, jobs: Option<usize>| {
        let outcome = site::build(&site::BuildOptions {
            src: src.to_path_buf(),
            out: out.to_path_buf(),
            jobs,
            ..Default::default()
        })
        .expect("build runs");
        assert!(outcome.refused.is_empty());
        tree(out)
    };
    let outs = tempfile::tempdir().unwrap();
    let one = build(&reg.src(), &outs.path().join("one"), Some(1));
    let eight = build(&reg.src(), &outs.path().join("eight"), Some(8));
    assert_same_tree(&one, &eight, "1 thread vs 8 threads");

    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("a/much/deeper/copy of the source");
    copy_dir(&reg.src(), &copy);
    let copied = build(&copy, &outs.path().join("copied"), Some(8));
    assert_same_tree(&one, &copied, "source at another path");

    let again = build(&reg.src(), &outs.path().join("one"), None);
    assert_same_tree(&one, &again, "rebuild over the previous site");

    // With git: the same history at another path gives the same site, dates included.
    let golden = golden_registry();
    let first = build(&golden.src(), &outs.path().join("git-1"), Some(1));
    let moved = tempfile::tempdir().unwrap();
    copy_dir(golden.root(), moved.path());
    let second = build(
        &moved.path().join("registry-src"),
        &outs.path().join("git-2"),
        Some(8),
    );
    assert_same_tree(&first, &second, "git work tree at another path");
    assert!(first.contains_key("sitemap.xml"));
}

#[test]
fn refused_bundles_leave_the_existing_site_untouched() {
    let reg = Registry::new();
    let alice = key(1);
    reg.publish("com.example.notes", "1.0.0", &alice);
    reg.publish("com.example.other", "1.0.0", &alice);
    reg.build_ok();
    let before = tree(&reg.out());
    assert!(before.contains_key("index.json"));

    // A bundle whose wasm no longer matches its signed digest.
    let tampered = tamper_entry(
        &packed(pack_manifest("com.example.notes", "1.1.0"), &alice),
        "app.wasm",
    );
    reg.write(&bundle_path("com.example.notes", "1.1.0"), tampered);
    // Not a bundle at all.
    reg.write(
        &bundle_path("com.example.notes", "1.2.0"),
        b"this is not a gzip stream",
    );
    // Valid, but signed by someone else.
    reg.publish("com.example.notes", "2.0.0", &key(2));
    // And a good one, which must not be published either while others are refused.
    reg.publish("com.example.other", "1.1.0", &alice);

    let outcome = reg.build();
    let files: Vec<&str> = outcome.refused.iter().map(|r| r.file.as_str()).collect();
    assert_eq!(
        files,
        [
            "com.example.notes/com.example.notes-1.1.0.mpk",
            "com.example.notes/com.example.notes-1.2.0.mpk",
            "com.example.notes/com.example.notes-2.0.0.mpk",
        ],
        "every refused bundle is reported, once, sorted"
    );
    assert_refused(
        &outcome,
        "com.example.notes/com.example.notes-1.1.0.mpk",
        Rule::Digest,
    );
    assert_refused(
        &outcome,
        "com.example.notes/com.example.notes-2.0.0.mpk",
        Rule::SignerChange,
    );
    assert!(outcome
        .refused
        .iter()
        .all(|r| !r.ok() && !r.problems.is_empty()));
    assert_same_tree(&before, &tree(&reg.out()), "site after a refused build");
    assert_eq!(staging_leftovers(reg.root()), Vec::<String>::new());
}

/// `build` as a publisher runs it, in the repository with the defaults: what it prints when it
/// writes the site.
#[test]
fn the_command_prints_what_it_built() {
    let reg = Registry::in_git();
    reg.publish("com.example.notes", "1.0.0", &key(1));
    reg.publish("com.example.notes", "1.1.0", &key(1));
    reg.add(
        pack_services_manifest("com.example.suite", "0.1.0"),
        &key(2),
    );
    reg.commit("two apps");
    let args = ["build", "--no-cache"];
    let out = reg.run(&args, &[]);
    let text = transcript(&args, &out);
    assert_eq!(code(&out), 0, "{text}");
    assert!(reg.out().join("index.json").is_file());
    assert_golden("cli/build-built.txt", text);
}

/// What `build` prints when it refuses: every problem of every file, and that nothing was
/// written.
#[test]
fn the_command_prints_every_refusal() {
    let reg = Registry::in_git();
    reg.publish("com.example.notes", "1.0.0", &key(1));
    reg.publish("com.example.notes", "1.1.0", &key(2));
    reg.write(
        &bundle_path("com.example.notes", "2.0.0"),
        app_bundle("com.example.notes", "1.2.0", &key(1)),
    );
    reg.write("com.example.notes/notes.txt", "not a bundle\n");
    reg.commit("a new signer, a misnamed bundle, a stray file");
    let args = ["build", "--no-cache"];
    let out = reg.run(&args, &[]);
    let text = transcript(&args, &out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(!reg.out().exists(), "a refused build writes nothing");
    assert_golden("cli/build-refused.txt", text);
}

/// Settings problems as `build` prints them: TOML's error on one line with its place, and a
/// fix that names the kind of file it is.
#[test]
fn the_command_prints_settings_problems_on_one_line() {
    let reg = Registry::in_git();
    reg.publish("com.example.notes", "1.0.0", &key(1));
    reg.write(
        "registry.toml",
        "title = \"T\"\nindex_keys = [\"not-a-key\"]\n",
    );
    reg.write(
        "com.example.notes/package.toml",
        "owners = [\"alice\"]\nsigners = [\n",
    );
    reg.commit("a registry key that is none, a package.toml cut short");
    let args = ["build", "--no-cache"];
    let out = reg.run(&args, &[]);
    let text = transcript(&args, &out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(!text.contains("\\n"), "no escaped newline: {text}");
    assert!(text.contains("line 3, column 1"), "{text}");
    assert_golden("cli/build-settings-refused.txt", text);
}

/// An empty or mistyped source folder does not take a live site down: `build` refuses to
/// replace a site that has apps with an empty one, unless told to.
#[test]
fn an_empty_source_does_not_replace_a_site_with_apps() {
    let reg = Registry::in_git();
    reg.publish("com.example.notes", "1.0.0", &key(1));
    reg.commit("one app");
    let out = reg.run(&["build"], &[]);
    assert_eq!(code(&out), 0, "{}", transcript(&["build"], &out));
    let before = tree(&reg.out());
    std::fs::create_dir(reg.root().join("empty")).unwrap();
    let args = ["build", "empty"];
    let out = reg.run(&args, &[]);
    let text = transcript(&args, &out);
    assert_eq!(code(&out), 2, "{text}");
    assert_golden("cli/build-empty-source.txt", text);
    assert_same_tree(&before, &tree(&reg.out()), "the site is left as it was");

    let out = reg.run(&["build", "empty", "--allow-empty"], &[]);
    assert_eq!(code(&out), 0, "{}", transcript(&["build"], &out));
    assert_eq!(
        read_json(&reg.out(), "index.json")["apps"],
        serde_json::json!([])
    );
}

#[test]
fn an_output_folder_that_is_not_a_site_is_never_replaced() {
    let reg = Registry::new();
    reg.publish("com.example.notes", "1.0.0", &key(1));

    let out = reg.root().join("my-documents");
    fs::create_dir(&out).unwrap();
    append(&out.join("thesis.txt"), "years of work\n");
    let before = tree(&out);
    let error = site::build(&reg.options(&out, None)).expect_err("must refuse to replace it");
    assert!(
        format!("{error:#}").contains("not written by mpk-registry"),
        "{error:#}"
    );
    assert_same_tree(&before, &tree(&out), "unrelated output folder");
    assert_eq!(staging_leftovers(reg.root()), Vec::<String>::new());

    // A file where the folder should be is not replaced either.
    let file = reg.root().join("notes.txt");
    append(&file, "keep me\n");
    assert!(site::build(&reg.options(&file, None)).is_err());
    assert_eq!(fs::read_to_string(&file).unwrap(), "keep me\n");
    assert_eq!(staging_leftovers(reg.root()), Vec::<String>::new());
}

#[test]
fn an_empty_output_folder_is_used() {
    let reg = Registry::new();
    reg.publish("com.example.notes", "1.0.0", &key(1));
    let out = reg.root().join("empty");
    fs::create_dir(&out).unwrap();
    let outcome = site::build(&reg.options(&out, None)).expect("an empty folder is fine");
    assert!(outcome.refused.is_empty());
    assert!(out.join("index.json").is_file());
    // A folder that did not exist, several levels down, is created.
    let deep = reg.root().join("a/b/c/site");
    site::build(&reg.options(&deep, None)).expect("missing parents are created");
    assert!(deep.join("index.json").is_file());
    assert_eq!(staging_leftovers(reg.root()), Vec::<String>::new());
    assert_eq!(
        staging_leftovers(&reg.root().join("a/b/c")),
        Vec::<String>::new()
    );
}

/// `<entry>` ids and updated times of an Atom feed, in document order.
fn feed_entries(feed: &str) -> Vec<(String, String)> {
    let between = |text: &str, open: &str, close: &str| -> String {
        let start = text.find(open).unwrap() + open.len();
        let end = text[start..].find(close).unwrap() + start;
        text[start..end].to_owned()
    };
    feed.split("<entry>")
        .skip(1)
        .map(|e| {
            (
                between(e, "<id>", "</id>"),
                between(e, "<updated>", "</updated>"),
            )
        })
        .collect()
}

#[test]
fn feed_lists_releases_newest_first() {
    let reg = golden_registry();
    reg.build_ok();
    // Template escaping writes `/` as `&#x2f;`, which XML readers decode.
    let feed = read_text(&reg.out(), "feed.xml").replace("&#x2f;", "/");
    let entries = feed_entries(&feed);
    let ids: Vec<&str> = entries.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "urn:mpk:com.example.notes:1.1.0",
            "urn:mpk:com.example.suite:0.1.0",
            "urn:mpk:com.example.notes:1.0.0",
        ]
    );
    let times: Vec<&str> = entries.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        times,
        [
            "2024-02-03T22:40:00Z",
            "2024-02-03T22:40:00Z",
            "2024-01-02T03:04:05Z"
        ]
    );
    // The feed was last updated by the newest release, not by the clock or the yank commit.
    assert!(feed.contains("<updated>2024-02-03T22:40:00Z</updated>\n  <link"));
    assert!(feed.contains("<title>Notes 1.1.0 (yanked)</title>"));
    assert!(feed
        .contains("<link href=\"https://apps.example.test/apps/com.example.notes/index.html\"/>"));
}

#[test]
fn sitemap_exists_only_with_a_base_url() {
    let with = golden_registry();
    with.build_ok();
    let sitemap = read_text(&with.out(), "sitemap.xml");
    let locs: Vec<&str> = sitemap
        .split("<loc>")
        .skip(1)
        .map(|s| &s[..s.find("</loc>").unwrap()])
        .collect();
    let decoded: Vec<String> = locs.iter().map(|l| l.replace("&#x2f;", "/")).collect();
    assert_eq!(
        decoded,
        [
            "https://apps.example.test/",
            "https://apps.example.test/apps/com.example.notes/index.html",
            "https://apps.example.test/apps/com.example.suite/index.html",
        ]
    );

    let without = Registry::new();
    without.publish("com.example.notes", "1.0.0", &key(1));
    without.build_ok();
    assert!(!without.out().join("sitemap.xml").exists());
    assert!(without.out().join("feed.xml").is_file());
    let catalog = read_json(&without.out(), "index.json");
    assert_eq!(catalog["registry"]["baseUrl"], Value::Null);
    assert_eq!(catalog["registry"]["title"], "Calimero app registry");
}

/// The manifest as an API item shows it: the extra fields removed.
fn strip_api_fields(item: &Value) -> Value {
    let mut item = item.clone();
    let object = item.as_object_mut().unwrap();
    for key in [
        "minRuntimeVersion",
        "min_runtime_version",
        "verified",
        "downloads",
        "yanked",
    ] {
        object.remove(key);
    }
    item
}

/// A manifest file of the site with the same extra fields removed.
fn published_manifest(out: &Path, package: &str, version: &str) -> Value {
    strip_api_fields(&read_json(out, &paths::manifest(package, version)))
}

#[test]
fn read_api_files_have_the_hosted_shapes() {
    let reg = versions_registry();
    reg.build_ok();
    let out = reg.out();
    let expected = expected_versions();

    // GET /api/v2/bundles: latest of every package that has one, sorted by package.
    let list = read_json(&out, "api/v2/bundles.html");
    assert_eq!(
        fs::read(out.join("api/v2/bundles.html")).unwrap(),
        fs::read(out.join("api/v2/bundles/index.html")).unwrap()
    );
    let items = list.as_array().unwrap();
    let listed: Vec<(&str, &str)> = items
        .iter()
        .map(|i| {
            (
                i["package"].as_str().unwrap(),
                i["appVersion"].as_str().unwrap(),
            )
        })
        .collect();
    let latest: Vec<(&str, &str)> = expected
        .iter()
        .filter_map(|(p, (_, latest))| latest.map(|l| (*p, l)))
        .collect();
    assert_eq!(listed, latest);
    for item in items {
        let package = item["package"].as_str().unwrap();
        let version = item["appVersion"].as_str().unwrap();
        let manifest = read_json(&out, &paths::manifest(package, version));
        assert_eq!(item["minRuntimeVersion"], manifest["minRuntimeVersion"]);
        assert_eq!(item["min_runtime_version"], manifest["minRuntimeVersion"]);
        assert_eq!(item["verified"], true);
        assert!(item["downloads"].is_number());
        assert_eq!(
            strip_api_fields(item),
            published_manifest(&out, package, version)
        );
    }

    for (package, (order, _)) in &expected {
        // ?package=P&all_versions=true: newest first, each with `yanked`.
        let all = read_json(&out, &paths::api_package_all(package));
        let all = all.as_array().unwrap();
        let versions: Vec<&str> = all
            .iter()
            .map(|i| i["appVersion"].as_str().unwrap())
            .collect();
        assert_eq!(&versions, order, "{package}");
        for item in all {
            let version = item["appVersion"].as_str().unwrap();
            assert_eq!(item["yanked"], yanked(package, version).is_some());
            assert_eq!(item["min_runtime_version"], item["minRuntimeVersion"]);
            assert!(item["downloads"].is_number());
            assert!(item["verified"].is_boolean());
            // ?package=P&version=V: the same item alone.
            let one = read_json(&out, &paths::api_package_version(package, version));
            assert_eq!(one, json!([item]), "{package} {version}");

            // /api/v2/bundles/P/V: the manifest plus the runtime fields and downloads.
            let single = read_json(&out, &paths::api_bundle(package, version));
            assert_eq!(single["minRuntimeVersion"], item["minRuntimeVersion"]);
            assert_eq!(single["min_runtime_version"], item["minRuntimeVersion"]);
            assert!(single["downloads"].is_number());
            assert_eq!(
                strip_api_fields(&single),
                published_manifest(&out, package, version)
            );
        }
        // ?package=P: the highest version, whatever its yank or prerelease, alone.
        let highest = read_json(&out, &paths::api_package_latest(package));
        assert_eq!(highest, json!([all[0]]), "{package}");
        assert_eq!(all[0]["appVersion"], order[0]);
    }
    assert_eq!(
        read_json(&out, "api/v2/not-found.json"),
        json!({"error": "not_found"})
    );

    // Bundles are served as gzip, from the path the spec gives, to any origin.
    let headers = hosting::parse_headers(&read_text(&out, "_headers"));
    let artifact = format!("/{}", paths::artifact("com.example.alpha", "1.2.0"));
    let served = hosting::headers_for(&headers, &artifact);
    assert!(served.contains(&("Content-Type".into(), "application/gzip".into())));
    assert!(served.contains(&("Access-Control-Allow-Origin".into(), "*".into())));
    assert!(out.join(&artifact[1..]).is_file());
    let api = hosting::headers_for(&headers, "/api/v2/bundles");
    assert!(api
        .iter()
        .any(|(k, v)| k == "Content-Type" && v.starts_with("application/json")));
}

#[test]
fn api_answers_carry_only_signed_manifest_keys() {
    // A top-level `_` key is outside the signature: manifest.json keeps it byte for byte, and
    // no answer repeats it as if the publisher had signed it. A nested `_` key is signed.
    let reg = Registry::new();
    let mut manifest = pack_manifest("com.example.app", "1.0.0");
    manifest.insert("_promo".into(), json!("unsigned text"));
    manifest["metadata"]["_note"] = json!("signed text");
    reg.add(manifest, &key(1));
    reg.build_ok();
    let out = reg.out();
    let published = read_json(&out, &paths::manifest("com.example.app", "1.0.0"));
    assert_eq!(published["_promo"], "unsigned text");
    let answers = [
        read_json(&out, &paths::api_bundle("com.example.app", "1.0.0")),
        read_json(&out, "api/v2/bundles.html")[0].clone(),
        read_json(&out, &paths::api_package_all("com.example.app"))[0].clone(),
    ];
    for answer in answers {
        assert!(answer.get("_promo").is_none(), "{answer}");
        assert_eq!(answer["metadata"]["_note"], "signed text");
        assert!(answer["signature"].is_object());
    }
}

/// A file name derived from bundle data fits every file system: an author whose list's name
/// would be over 255 bytes (each `Ä` is two bytes, each written `%XX`) gets a list named by
/// the author's digest, which `serve` and the nginx configuration find.
#[test]
fn a_300_byte_author_builds_with_a_list_named_by_its_digest() {
    let reg = Registry::new();
    let author = "Ä".repeat(150);
    let mut manifest = pack_manifest("com.example.notes", "1.0.0");
    manifest["metadata"]["author"] = json!(author);
    reg.add(manifest, &key(1));
    reg.build_ok();

    let list = paths::api_author(&author);
    let name = list.rsplit('/').next().unwrap();
    assert!(
        name.starts_with(paths::DIGEST_NAME_PREFIX) && name.len() <= 255,
        "{name}"
    );
    let items = read_json(&reg.out(), &list);
    assert_eq!(items[0]["metadata"]["author"], json!(author));
    let site = mpk_registry::nginx::SiteNames::read(&reg.out()).unwrap();
    assert_eq!(site.authors.values().collect::<Vec<_>>(), [&author]);
}

/// Without `base_url` the build says what the site lacks (the golden transcripts show the
/// note); with it, it says nothing.
#[test]
fn a_base_url_silences_the_note_about_its_absence() {
    let reg = Registry::in_git();
    reg.publish("com.example.notes", "1.0.0", &key(1));
    reg.write(
        "registry.toml",
        "base_url = \"https://apps.example.test/\"\n",
    );
    reg.commit("one app, served at an address");
    let out = reg.run(&["build"], &[]);
    let text = transcript(&["build"], &out);
    assert_eq!(code(&out), 0, "{text}");
    assert!(!text.contains("no base_url"), "{text}");
}
