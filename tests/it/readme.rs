//! The README's way in works as written: its "Start a registry" commands, taken from the
//! README itself, go from nothing to a served registry with one published app.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::cli::BIN;
use crate::support::repo_file;
use serde_json::Value;

/// The marker the README puts before the block this test runs.
const MARKER: &str = "<!-- tests/it/readme.rs runs these commands as they are -->";

/// The commands of the shell block after [`MARKER`], one per line.
fn start_commands() -> Vec<String> {
    let readme = repo_file("README.md");
    let (_, after) = readme
        .split_once(MARKER)
        .expect("the README marks its commands");
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .expect("a sh block after the marker")
        .0;
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// An app as the README expects one beside the registry: `my-app/` with the minimal manifest
/// of docs/manifest.md and its wasm.
fn my_app(dir: &Path) -> String {
    let guide = repo_file("docs/manifest.md");
    let manifest = guide
        .split_once("```json example\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .expect("docs/manifest.md has an example")
        .0;
    let parsed: Value = serde_json::from_str(manifest).expect("the example is JSON");
    let app = dir.join("my-app");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(app.join("manifest.json"), manifest).unwrap();
    std::fs::write(app.join("app.wasm"), crate::support::bundle::WASM).unwrap();
    parsed["package"].as_str().expect("a package").to_owned()
}

#[test]
fn the_readme_goes_from_nothing_to_a_served_registry_in_five_commands() {
    let commands = start_commands();
    assert!(
        commands.len() <= 5,
        "at most five commands after install: {commands:#?}"
    );
    let (serve, setup) = commands.split_last().expect("commands");
    // The last one serves the site, on the port the README names; here on a free one, as
    // other tests run beside this one.
    assert_eq!(
        serve, "mpk-registry serve",
        "the last command serves the site"
    );
    let tmp = tempfile::tempdir().unwrap();
    let package = my_app(tmp.path());
    let script = format!("{}\nexec {serve} -p 0\n", setup.join("\n"));
    let bin = Path::new(BIN).parent().expect("the binary's folder");
    let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let mut child = Command::new("sh")
        .args(["-ec", &script])
        .current_dir(tmp.path())
        .env("PATH", path)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run sh");
    let mut printed = String::new();
    let mut url = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.expect("read the commands' output");
        printed.push_str(&line);
        printed.push('\n');
        if let Some((_, at)) = line
            .split_once(" on ")
            .filter(|_| line.starts_with("serving "))
        {
            url = Some(at.to_owned());
            break;
        }
    }
    let Some(url) = url else {
        let status = child.wait().unwrap();
        panic!("the commands ended ({status}) without serving:\n{printed}");
    };
    let get = |rel: &str| -> Value {
        let body = ureq::get(&format!("{url}{rel}"))
            .call()
            .and_then(|r| r.into_body().read_to_string())
            .unwrap_or_else(|e| panic!("GET {url}{rel}: {e}"));
        serde_json::from_str(&body).expect("JSON")
    };
    let catalog = get("index.json");
    let listed = get(&format!("api/v2/bundles?package={package}"));
    child.kill().expect("stop serve");
    child.wait().unwrap();
    let apps: Vec<&str> = catalog["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| a["package"].as_str().unwrap())
        .collect();
    assert_eq!(apps, [package.as_str()], "{printed}");
    assert_eq!(listed[0]["package"], Value::from(package.as_str()));
    // What build writes stays out of git, as init arranged.
    let status = Command::new("git")
        .args(["status", "--porcelain", "--ignored"])
        .current_dir(tmp.path().join("my-registry"))
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("!! public/"), "{status}");
}
