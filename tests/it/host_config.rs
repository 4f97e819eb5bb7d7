//! `mpk-registry host-config nginx`: the configuration printed for a small site is the one
//! checked in as `tests/golden/nginx.conf`. After an intended change, run
//! `UPDATE_GOLDEN=1 cargo test --test it host_config::` to rewrite it, then review the diff.
//! tests/hosts/conformance.py runs it in nginx against `serve` (see `.ci/run hosts`).

use std::fs;
use std::path::Path;
use std::process::Output;

use crate::support::cli::{command, stderr};
use crate::support::golden::assert_golden;
use mpk_registry::site::paths;

/// Where the golden site's folder is printed in the checked-in configuration.
const ROOT: &str = "/srv/registry/public";

fn host_config(root: &Path) -> Output {
    command()
        .args([
            "host-config",
            "nginx",
            "--listen",
            "127.0.0.1:8080",
            "--root",
        ])
        .arg(root)
        .output()
        .unwrap()
}

/// A site with the files the configuration reads: package names with and without characters
/// a client may encode, a prerelease, a developer, and authors with a space, `&`, `+` and
/// non-ASCII letters.
fn small_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        "index.json".to_owned(),
        "404.html".to_owned(),
        paths::api_package_version("com.example.notes", "1.0.0"),
        paths::api_package_version("com.example.notes", "2.0.0-rc.1"),
        paths::api_package_version("tools_x-y", "1.0.0"),
        paths::api_package_version("abc", "7"),
        paths::api_developer("did:key:z6MkExample"),
        paths::api_author("Ann Example"),
        paths::api_author("Zoë Müller & Co+"),
    ];
    for rel in files {
        let path = dir.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "[]").unwrap();
    }
    dir
}

#[test]
fn the_config_of_a_small_site_is_the_checked_in_one() {
    let site = small_site();
    let output = host_config(site.path());
    assert!(output.status.success(), "{output:?}");
    let root = site.path().canonicalize().unwrap();
    let config = String::from_utf8(output.stdout)
        .unwrap()
        .replace(root.to_str().unwrap(), ROOT);
    assert_golden("nginx.conf", config);
}

#[test]
fn a_folder_that_is_not_a_site_is_refused_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = host_config(dir.path());
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = stderr(&output);
    assert!(stderr.contains("not a site written by"), "{stderr}");
    assert!(output.stdout.is_empty());
}
