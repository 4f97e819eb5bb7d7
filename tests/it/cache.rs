//! The verification cache: what it skips, what it never trusts.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::bundle::*;
use crate::support::registry::*;
use mpk_registry::site::{self, Outcome};

/// The cached verdicts (not the build records).
fn cache_entries(cache: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walk(cache);
    files.retain(|p| {
        p.extension().is_some_and(|e| e == "json") && !p.starts_with(cache.join("builds"))
    });
    files.sort();
    files
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("read cache folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn two_bundle_registry() -> (Registry, tempfile::TempDir) {
    let reg = Registry::new();
    let owner = key(31);
    reg.publish("com.example.cached", "1.0.0", &owner);
    reg.publish("com.example.cached", "1.1.0", &owner);
    (reg, tempfile::tempdir().expect("cache folder"))
}

#[test]
fn unchanged_bundles_are_not_verified_again() {
    let (reg, cache) = two_bundle_registry();
    assert_eq!(reg.build_cached(cache.path()).verified, 2);
    // Without the site, the build is redone, from the cached verdicts.
    fs::remove_dir_all(reg.out()).unwrap();
    let warm = reg.build_cached(cache.path());
    assert!(warm.refused.is_empty() && !warm.up_to_date);
    assert_eq!(warm.verified, 0);
    assert_eq!(warm.bundles, 2);
}

#[test]
fn a_new_bundle_is_the_only_one_verified() {
    let (reg, cache) = two_bundle_registry();
    reg.build_cached(cache.path());
    reg.publish("com.example.cached", "1.2.0", &key(31));
    let outcome = reg.build_cached(cache.path());
    assert_eq!((outcome.bundles, outcome.verified), (3, 1));
}

#[test]
fn an_edited_bundle_is_verified_again_even_with_the_same_size_and_mtime() {
    let (reg, cache) = two_bundle_registry();
    reg.build_cached(cache.path());
    let rel = bundle_path("com.example.cached", "1.0.0");
    reg.edit_keeping_size_and_mtime(&rel);

    let outcome = reg.build_cached(cache.path());
    assert_eq!(outcome.verified, 1, "the edited bundle is verified again");
    assert!(
        outcome.refused.iter().any(|r| r.file == rel),
        "the damaged bundle is refused, not served from the cache"
    );
}

#[test]
fn a_damaged_cache_entry_is_ignored_with_a_warning() {
    let (reg, cache) = two_bundle_registry();
    reg.build_cached(cache.path());
    let entries = cache_entries(cache.path());
    assert_eq!(entries.len(), 2);
    // One entry altered inside (still valid JSON), one cut short.
    let text = fs::read_to_string(&entries[0]).unwrap();
    let altered = text.replacen("com.example.cached", "com.example.forged", 1);
    assert_ne!(altered, text);
    fs::write(&entries[0], altered).unwrap();
    let bytes = fs::read(&entries[1]).unwrap();
    fs::write(&entries[1], &bytes[..bytes.len() / 2]).unwrap();
    // Without a site to keep, the build needs every verdict.
    fs::remove_dir_all(reg.out()).unwrap();

    let outcome = reg.build_cached(cache.path());
    assert!(outcome.refused.is_empty());
    assert_eq!(outcome.verified, 2, "neither damaged entry is trusted");
    assert_eq!(
        outcome.cache_warnings.len(),
        2,
        "{:?}",
        outcome.cache_warnings
    );
    assert!(outcome.cache_warnings.iter().all(|w| w.contains("damaged")));
    let catalog = fs::read_to_string(reg.out().join("index.json")).unwrap();
    assert!(!catalog.contains("forged"));
    // The entries were rewritten, so the next build uses them again.
    fs::remove_dir_all(reg.out()).unwrap();
    assert_eq!(reg.build_cached(cache.path()).verified, 0);
}

#[test]
fn a_policy_change_does_not_reuse_verdicts() {
    let (reg, cache) = two_bundle_registry();
    reg.build_cached(cache.path());
    reg.write("registry.toml", "allow_dev_key = true\n");
    assert_eq!(reg.build_cached(cache.path()).verified, 2);
}

/// Builds with `cache` as the build of the tool named `tool` would.
fn build_as(reg: &Registry, cache: &Path, tool: &str) -> Outcome {
    let mut options = reg.options(&reg.out(), Some(2));
    options.cache = Some(cache.to_path_buf());
    site::build_as(&options, tool, &site::Quiet).expect("build runs")
}

/// Another build of the tool may have other rules: a pass cached by one is not another's.
#[test]
fn a_changed_rule_reverifies_a_bundle_whose_pass_was_cached() {
    let (reg, cache) = two_bundle_registry();
    assert_eq!(build_as(&reg, cache.path(), "0.1.0+a").verified, 2);
    let other = build_as(&reg, cache.path(), "0.1.0+b");
    assert!(other.refused.is_empty() && !other.up_to_date);
    assert_eq!(
        other.verified, 2,
        "passes cached by another build are not reused"
    );
    // Each build finds its own verdicts.
    let again = build_as(&reg, cache.path(), "0.1.0+a");
    assert!(!again.up_to_date);
    assert_eq!(again.verified, 0);
}

#[test]
fn refused_bundles_are_not_cached() {
    let (reg, cache) = two_bundle_registry();
    let rel = bundle_path("com.example.cached", "1.0.0");
    let mut bytes = reg.read(&rel);
    bytes.extend_from_slice(b"trailing");
    reg.write(&rel, &bytes);
    let first = reg.build_cached(cache.path());
    assert!(!first.refused.is_empty());
    assert_eq!(cache_entries(cache.path()).len(), 1);
    let again = reg.build_cached(cache.path());
    assert_eq!(
        again.verified, 1,
        "the refused bundle is checked every time"
    );
}

#[test]
fn deleting_the_cache_only_costs_time() {
    let (reg, cache) = two_bundle_registry();
    reg.build_cached(cache.path());
    let before = tree(&reg.out());
    fs::remove_dir_all(cache.path()).unwrap();
    let outcome = reg.build_cached(cache.path());
    assert_eq!(outcome.verified, 2);
    assert_eq!(tree(&reg.out()), before, "the same site either way");
}
