//! Rebuilding cheaply: a build whose inputs did not change leaves the site alone, and bundles
//! git vouches for are named by their blob ids instead of being read.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime};

use crate::support::bundle::*;
use crate::support::registry::*;
use mpk_registry::content_id::ContentId;
use mpk_registry::git::ObjectFormat;
use mpk_registry::report::Rule;
use mpk_registry::site::{self, IndexSigning, Outcome};
use mpk_registry::verify;
use serde_json::json;

const PACKAGE: &str = "com.example.incremental";

/// A registry with `versions` versions of one app, and a cache folder.
fn registry(versions: usize) -> (Registry, tempfile::TempDir) {
    let reg = Registry::new();
    for minor in 0..versions {
        reg.publish(PACKAGE, &format!("1.{minor}.0"), &key(41));
    }
    (reg, tempfile::tempdir().expect("cache folder"))
}

/// The inode of a site file: a file written again gets a new one (sites are staged, then
/// swapped in).
fn inode(reg: &Registry, rel: &str) -> u64 {
    fs::metadata(reg.out().join(rel)).unwrap().ino()
}

/// Commits everything, then lets a second pass and rewrites git's index, so its stat data is
/// older than nothing in the work tree: git can vouch for every file without reading it.
fn commit_with_settled_index(reg: &Registry) {
    reg.git_init();
    settle(reg);
}

fn settle(reg: &Registry) {
    reg.commit_at(&["."], "publish", 1_700_000_000);
    std::thread::sleep(Duration::from_millis(1100));
    fs::remove_file(reg.root().join(".git/index")).unwrap();
    reg.git(&["reset", "--quiet"]);
}

#[test]
fn a_build_with_unchanged_inputs_leaves_the_site_as_it_was() {
    let (reg, cache) = registry(2);
    let first = reg.build_cached(cache.path());
    assert!(!first.up_to_date);
    let before = tree(&reg.out());
    let catalog = inode(&reg, "index.json");

    let again = reg.build_cached(cache.path());
    assert!(again.up_to_date, "nothing changed, so nothing is rebuilt");
    assert_eq!((again.bundles, again.verified, again.apps), (2, 0, 1));
    assert!(again.refused.is_empty());
    assert_eq!(
        inode(&reg, "index.json"),
        catalog,
        "the site was not rewritten"
    );
    assert_eq!(tree(&reg.out()), before);
}

#[test]
fn an_up_to_date_build_reports_the_same_warnings() {
    let (reg, cache) = registry(1);
    let mut manifest = pack_services_manifest(PACKAGE, "2.0.0");
    manifest.insert("wasm".into(), json!({"path": "services/store.wasm"}));
    reg.add(manifest, &key(41));
    let first = reg.build_cached(cache.path());
    assert!(first.refused.is_empty(), "{:?}", first.refused);
    let warned = |o: &Outcome| -> Vec<(String, Vec<Rule>)> {
        o.warnings
            .iter()
            .map(|r| (r.file.clone(), r.warnings.iter().map(|w| w.rule).collect()))
            .collect()
    };
    assert_eq!(
        warned(&first),
        [(bundle_path(PACKAGE, "2.0.0"), vec![Rule::ServicesOverride])]
    );
    let again = reg.build_cached(cache.path());
    assert!(again.up_to_date);
    assert_eq!(warned(&again), warned(&first));
}

#[test]
fn a_settings_change_rebuilds_the_site_from_cached_verdicts() {
    let (reg, cache) = registry(2);
    reg.build_cached(cache.path());
    reg.write(
        &format!("{PACKAGE}/package.toml"),
        "yanked = [{ version = \"1.0.0\", reason = \"broken\" }]\n",
    );
    let outcome = reg.build_cached(cache.path());
    assert!(!outcome.up_to_date);
    assert_eq!(outcome.verified, 0, "the verdicts still hold");
    let app = read_json(&reg.out(), &format!("apps/{PACKAGE}/index.json"));
    assert_eq!(app["versions"][1]["yanked"], true);
}

#[test]
fn a_site_built_from_other_inputs_is_rebuilt() {
    let (reg, cache) = registry(2);
    reg.build_cached(cache.path());
    let marker = reg.out().join(".mpk-registry");
    let text = fs::read_to_string(&marker).unwrap();
    let line = text.lines().find(|l| l.starts_with("inputs: ")).unwrap();
    fs::write(&marker, text.replace(line, "inputs: 0000")).unwrap();
    let outcome = reg.build_cached(cache.path());
    assert!(!outcome.up_to_date);
    assert_eq!(fs::read_to_string(&marker).unwrap(), text);
}

#[test]
fn a_damaged_build_record_is_ignored_with_a_warning() {
    let (reg, cache) = registry(2);
    reg.build_cached(cache.path());
    let records: Vec<_> = fs::read_dir(cache.path().join("builds"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(records.len(), 1);
    let text = fs::read_to_string(&records[0]).unwrap();
    fs::write(&records[0], text.replacen("\"apps\":1", "\"apps\":7", 1)).unwrap();
    let outcome = reg.build_cached(cache.path());
    assert!(!outcome.up_to_date, "a damaged record is not trusted");
    assert_eq!(outcome.apps, 1);
    assert!(
        outcome.cache_warnings.iter().any(|w| w.contains("damaged")),
        "{:?}",
        outcome.cache_warnings
    );
}

#[test]
fn a_build_record_filed_under_another_fingerprint_is_ignored() {
    let (reg, cache) = registry(2);
    reg.build_cached(cache.path());
    let builds = cache.path().join("builds");
    let first: Vec<_> = fs::read_dir(&builds)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    reg.write("registry.toml", "title = \"Other\"\n");
    reg.build_cached(cache.path());
    let second = fs::read_dir(&builds)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| *p != first[0])
        .unwrap();
    // Back to the first inputs and site, but with the other build's record in its place.
    fs::remove_file(reg.src().join("registry.toml")).unwrap();
    fs::remove_dir_all(reg.out()).unwrap();
    reg.build_cached(cache.path());
    fs::copy(&second, &first[0]).unwrap();
    let outcome = reg.build_cached(cache.path());
    assert!(!outcome.up_to_date);
    assert!(outcome.cache_warnings.iter().any(|w| w.contains("damaged")));
}

#[test]
fn without_a_cache_the_site_is_always_rebuilt() {
    let (reg, _cache) = registry(2);
    reg.build_ok();
    let catalog = inode(&reg, "index.json");
    let again = reg.build_ok();
    assert!(!again.up_to_date);
    assert_eq!(again.verified, 2);
    assert_ne!(inode(&reg, "index.json"), catalog);
}

#[test]
fn a_new_signing_stamp_rebuilds_the_site() {
    let (reg, cache) = registry(1);
    let index_key = key(42);
    reg.write(
        "registry.toml",
        format!("index_keys = [\"{}\"]\n", signer(&index_key)),
    );
    reg.git_init();
    reg.commit_at(&["."], "publish", 1_700_000_000);
    let signed = |version| {
        let mut options = reg.options(&reg.out(), Some(2));
        options.cache = Some(cache.path().to_path_buf());
        options.sign = Some(IndexSigning {
            key: index_key.clone(),
            version: Some(version),
            expires_after: 86_400,
        });
        site::build(&options).expect("build runs")
    };
    assert!(!signed(1).up_to_date);
    assert!(signed(1).up_to_date);
    assert!(!signed(2).up_to_date);
    assert_eq!(read_json(&reg.out(), "index.json")["version"], 2);
}

#[test]
fn bundles_git_vouches_for_are_named_by_their_blob_ids() {
    let (reg, cache) = registry(2);
    commit_with_settled_index(&reg);
    let cold = reg.build_cached(cache.path());
    assert_eq!((cold.identified_by_git, cold.verified), (2, 2));
    fs::remove_dir_all(reg.out()).unwrap();
    let warm = reg.build_cached(cache.path());
    assert_eq!(
        (warm.identified_by_git, warm.verified),
        (2, 0),
        "the verdicts were cached under the blob ids"
    );
}

#[test]
fn blob_ids_of_sha256_repositories_are_used_too() {
    let (reg, cache) = registry(2);
    reg.git(&["init", "--quiet", "--object-format=sha256"]);
    settle(&reg);
    assert_eq!(reg.build_cached(cache.path()).identified_by_git, 2);
    fs::remove_dir_all(reg.out()).unwrap();
    let warm = reg.build_cached(cache.path());
    assert_eq!((warm.identified_by_git, warm.verified), (2, 0));
}

#[test]
fn bundles_git_would_have_to_read_again_are_hashed_here() {
    let (reg, cache) = registry(2);
    reg.git_init();
    reg.commit_at(&["."], "publish", 1_700_000_000);
    touch_after_index(&reg, 2);
    let cold = reg.build_cached(cache.path());
    assert_eq!((cold.identified_by_git, cold.verified), (0, 2));
    assert!(cold.refused.is_empty());
    fs::remove_dir_all(reg.out()).unwrap();
    let warm = reg.build_cached(cache.path());
    assert_eq!(
        (warm.identified_by_git, warm.named_by_reading, warm.verified),
        (0, 2, 0)
    );
}

#[test]
fn with_no_cached_verdicts_bundles_are_not_read_just_to_be_named() {
    let (reg, cache) = registry(2);
    let cold = reg.build_cached(cache.path());
    assert_eq!((cold.named_by_reading, cold.verified), (0, 2));
    // Verifying named them: the verdicts and the site's record are there.
    let again = reg.build_cached(cache.path());
    assert!(again.up_to_date);
    assert_eq!(again.named_by_reading, 2);
}

/// Sets every bundle's mtime an hour ahead: changed after git's index was written, as far as
/// git can tell, so it would have to read them again.
fn touch_after_index(reg: &Registry, versions: usize) {
    let later = SystemTime::now() + Duration::from_secs(3600);
    for minor in 0..versions {
        set_mtime(
            &reg.src()
                .join(bundle_path(PACKAGE, &format!("1.{minor}.0"))),
            later,
        );
    }
}

#[test]
fn verdicts_cached_with_git_blob_ids_are_found_when_git_cannot_vouch() {
    let (reg, cache) = registry(2);
    commit_with_settled_index(&reg);
    assert_eq!(reg.build_cached(cache.path()).identified_by_git, 2);
    fs::remove_dir_all(reg.out()).unwrap();
    touch_after_index(&reg, 2);
    let outcome = reg.build_cached(cache.path());
    assert_eq!(
        (outcome.identified_by_git, outcome.verified),
        (0, 0),
        "the blob ids computed here name the same verdicts"
    );
}

#[test]
fn an_edited_tracked_bundle_is_verified_again_even_with_the_same_size_and_mtime() {
    let (reg, cache) = registry(20);
    commit_with_settled_index(&reg);
    reg.build_cached(cache.path());
    let rel = bundle_path(PACKAGE, "1.3.0");
    reg.edit_keeping_size_and_mtime(&rel);

    let outcome = reg.build_cached(cache.path());
    assert_eq!(outcome.identified_by_git, 19, "git reports the edit");
    assert_eq!(outcome.verified, 1);
    assert!(outcome.refused.iter().any(|r| r.file == rel));
}

#[test]
fn bytes_git_is_told_to_ignore_are_refused_and_not_cached_under_the_old_blob_id() {
    let (reg, cache) = registry(20);
    commit_with_settled_index(&reg);
    let rel = bundle_path(PACKAGE, "1.3.0");
    // Git is told not to look, so its index keeps naming the old bytes.
    reg.git(&[
        "update-index",
        "--assume-unchanged",
        &format!("registry-src/{rel}"),
    ]);
    let mut manifest = pack_manifest(PACKAGE, "1.3.0");
    manifest["metadata"]["description"] = json!("replaced after the commit");
    reg.add(manifest, &key(41));

    let first = reg.build_cached(cache.path());
    assert_eq!((first.identified_by_git, first.verified), (20, 20));
    let refused: Vec<(&str, Vec<Rule>)> = first
        .refused
        .iter()
        .map(|r| (r.file.as_str(), r.problems.iter().map(|p| p.rule).collect()))
        .collect();
    assert_eq!(
        refused,
        [(rel.as_str(), vec![Rule::NotInGit])],
        "the bytes read are not the blob git holds, so they are not published"
    );

    let second = reg.build_cached(cache.path());
    assert_eq!(
        second.verified, 1,
        "nor was a verdict cached under the old blob id"
    );
}

#[test]
fn blob_ids_are_computed_as_git_does() {
    let (reg, _cache) = registry(1);
    reg.git_init();
    let rel = bundle_path(PACKAGE, "1.0.0");
    let path = reg.src().join(&rel);
    let git_says = reg.git(&["hash-object", &format!("registry-src/{rel}")]);
    let (report, id) =
        verify::verify_file_as_blob(&path, &rel, &Default::default(), ObjectFormat::Sha1);
    assert!(report.ok());
    assert_eq!(
        id,
        Some(ContentId::GitBlob(
            ObjectFormat::Sha1,
            git_says.trim().to_owned()
        ))
    );
}

#[test]
fn published_bundles_are_copies_not_links_to_the_source() {
    let (reg, _cache) = registry(1);
    reg.build_ok();
    let rel = bundle_path(PACKAGE, "1.0.0");
    let source = reg.src().join(&rel);
    assert_eq!(fs::metadata(&source).unwrap().nlink(), 1);
    let original = reg.read(&rel);
    fs::write(&source, b"rewritten in place").unwrap();
    let published = fs::read(
        reg.out()
            .join(format!("artifacts/{PACKAGE}/1.0.0/{PACKAGE}-1.0.0.mpk")),
    )
    .unwrap();
    assert_eq!(published, original);
}

#[test]
fn artifacts_already_in_the_previous_site_are_linked_not_copied_again() {
    let (reg, cache) = registry(1);
    reg.build_cached(cache.path());
    let artifact = format!("artifacts/{PACKAGE}/1.0.0/{PACKAGE}-1.0.0.mpk");
    let before = inode(&reg, &artifact);
    reg.publish(PACKAGE, "1.1.0", &key(41));
    let outcome = reg.build_cached(cache.path());
    assert!(!outcome.up_to_date && outcome.refused.is_empty());
    assert_eq!(
        inode(&reg, &artifact),
        before,
        "the same file, linked into the new site"
    );
}

#[test]
fn a_repository_with_nothing_staged_yet_builds() {
    let (reg, cache) = registry(1);
    reg.git_init();
    let outcome = reg.build_cached(cache.path());
    assert_eq!(outcome.bundles, 0);
    assert_eq!(outcome.untracked, [bundle_path(PACKAGE, "1.0.0")]);
}

/// Rewrites one bundle (with the same bytes) the first time the build reports progress, that
/// is while bundles are being verified.
struct RewriteDuringBuild {
    path: std::path::PathBuf,
    done: std::sync::atomic::AtomicBool,
}

impl site::Progress for RewriteDuringBuild {
    fn advance(&self) {
        if !self.done.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let bytes = fs::read(&self.path).unwrap();
            fs::write(&self.path, bytes).unwrap();
        }
    }
}

#[test]
fn a_bundle_written_to_during_the_build_stops_it_before_the_site_is_replaced() {
    let (reg, _cache) = registry(2);
    reg.build_ok();
    let before = tree(&reg.out());
    reg.publish(PACKAGE, "1.2.0", &key(41));
    let progress = RewriteDuringBuild {
        path: reg.src().join(bundle_path(PACKAGE, "1.0.0")),
        done: Default::default(),
    };
    let error = site::build_with(&reg.options(&reg.out(), Some(1)), &progress)
        .expect_err("the build stops");
    assert!(
        format!("{error:#}").contains("changed while the site was being built"),
        "{error:#}"
    );
    assert_eq!(tree(&reg.out()), before, "the previous site is untouched");
    assert_eq!(staging_leftovers(reg.root()), Vec::<String>::new());
}

#[test]
fn a_site_that_links_to_the_source_is_replaced_by_copies() {
    let (reg, _cache) = registry(1);
    let site = reg.build_ok();
    assert!(site.refused.is_empty());
    // As older versions wrote sites: the published bundle is the source file under another name.
    let source = reg.src().join(bundle_path(PACKAGE, "1.0.0"));
    let sha = sha256_hex(&reg.read(&bundle_path(PACKAGE, "1.0.0")));
    for rel in [
        format!("artifacts/sha256/{sha}.mpk"),
        format!("artifacts/{PACKAGE}/1.0.0/{PACKAGE}-1.0.0.mpk"),
    ] {
        let path = reg.out().join(rel);
        fs::remove_file(&path).unwrap();
        fs::hard_link(&source, &path).unwrap();
    }
    reg.publish(PACKAGE, "1.1.0", &key(41));
    reg.build_ok();
    assert_eq!(
        fs::metadata(&source).unwrap().nlink(),
        1,
        "no name of the source is left in the site"
    );
}

const OTHER: &str = "com.example.other";

/// Two apps, two versions each.
fn two_apps() -> (Registry, tempfile::TempDir) {
    let (reg, cache) = registry(2);
    reg.publish(OTHER, "0.1.0", &key(43));
    reg.publish(OTHER, "0.2.0", &key(43));
    (reg, cache)
}

/// The site without its marker (which also records the cache's fingerprints).
fn site_files(out: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = tree(out);
    files.remove(".mpk-registry");
    files
}

#[test]
fn apps_whose_inputs_did_not_change_are_linked_from_the_previous_site() {
    let (reg, cache) = two_apps();
    reg.build_cached(cache.path());
    let other_page = inode(&reg, &format!("apps/{OTHER}/index.html"));
    let other_api = inode(&reg, &format!("api/v2/bundles/{OTHER}/0.2.0.html"));
    let changed_page = inode(&reg, &format!("apps/{PACKAGE}/index.html"));
    reg.publish(PACKAGE, "1.2.0", &key(41));
    let outcome = reg.build_cached(cache.path());
    assert!(!outcome.up_to_date && outcome.refused.is_empty());
    assert_eq!(inode(&reg, &format!("apps/{OTHER}/index.html")), other_page);
    assert_eq!(
        inode(&reg, &format!("api/v2/bundles/{OTHER}/0.2.0.html")),
        other_api
    );
    assert_ne!(
        inode(&reg, &format!("apps/{PACKAGE}/index.html")),
        changed_page
    );
}

#[test]
fn a_site_rebuilt_after_each_kind_of_change_equals_one_built_from_scratch() {
    let (reg, cache) = two_apps();
    reg.build_cached(cache.path());
    let scratch = reg.root().join("scratch");
    let changes: [(&str, &dyn Fn()); 4] = [
        ("a new version", &|| {
            reg.publish(PACKAGE, "1.2.0", &key(41));
        }),
        ("a yank", &|| {
            reg.write(
                &format!("{OTHER}/package.toml"),
                "yanked = [{ version = \"0.2.0\", reason = \"broken\" }]\n",
            );
        }),
        ("a new title", &|| {
            reg.write("registry.toml", "title = \"Renamed\"\n");
        }),
        ("a base URL", &|| {
            reg.write(
                "registry.toml",
                "title = \"Renamed\"\nbase_url = \"https://apps.example.test\"\n",
            );
        }),
    ];
    for (what, change) in changes {
        change();
        let outcome = reg.build_cached(cache.path());
        assert!(outcome.refused.is_empty() && !outcome.up_to_date, "{what}");
        fs::remove_dir_all(&scratch).ok();
        site::build(&reg.options(&scratch, Some(1))).expect("build runs");
        assert_eq!(site_files(&reg.out()), site_files(&scratch), "after {what}");
    }
}

#[test]
fn an_unchanged_app_missing_a_file_in_the_previous_site_is_made_again() {
    let (reg, cache) = two_apps();
    reg.build_cached(cache.path());
    let page = reg.out().join(format!("apps/{OTHER}/index.html"));
    let previous_page = fs::read(&page).unwrap();
    let previous_inode = inode(&reg, &format!("apps/{OTHER}/index.html"));
    fs::remove_file(reg.out().join(format!("api/v2/packages/{OTHER}/all.json"))).unwrap();
    reg.publish(PACKAGE, "1.2.0", &key(41));
    assert!(reg.build_cached(cache.path()).refused.is_empty());
    // Made again as a new file: the previous site's page was never written through a link.
    assert_ne!(
        inode(&reg, &format!("apps/{OTHER}/index.html")),
        previous_inode
    );
    assert_eq!(fs::read(&page).unwrap(), previous_page);
    let scratch = reg.root().join("scratch");
    site::build(&reg.options(&scratch, Some(1))).expect("build runs");
    assert_eq!(site_files(&reg.out()), site_files(&scratch));
}
