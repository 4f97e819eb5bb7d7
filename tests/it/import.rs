//! `mpk-registry import` against local servers only: a fixture server answering like the hosted
//! registry, `serve` of a site this tool built, and that site behind a server that ignores
//! query strings. Bundles are signed on the fly with fixed-seed keys.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::support::bundle::{app_bundle, key, sha256_hex, signer, tamper_entry};
use crate::support::cli::command;
use crate::support::registry::tree;
use mpk_registry::import::{self, Import, ImportOptions, PackageToml, VersionOutcome};
use mpk_registry::report::Rule;
use mpk_registry::site::{self, BuildOptions, Quiet};
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------------
// Bundles

/// The signed manifest inside a bundle.
fn manifest_of(bytes: &[u8]) -> Map<String, Value> {
    let report = mpk_registry::verify::verify_reader(bytes, "x", &Default::default());
    report.manifest.unwrap()
}

/// One version a server publishes.
#[derive(Clone)]
struct Version {
    package: String,
    version: String,
    bytes: Vec<u8>,
    yanked: bool,
    /// Sent as `yankReason` when set.
    reason: Option<String>,
}

fn version(package: &str, v: &str, bytes: Vec<u8>) -> Version {
    Version {
        package: package.into(),
        version: v.into(),
        bytes,
        yanked: false,
        reason: None,
    }
}

/// Two good packages (one with a second signer, a yanked version and a prerelease) and a
/// package whose only version is tampered.
fn mixed() -> Vec<Version> {
    let mut yanked = version(
        "com.example.chat",
        "1.1.0",
        app_bundle("com.example.chat", "1.1.0", &key(1)),
    );
    yanked.yanked = true;
    vec![
        version(
            "com.example.chat",
            "1.0.0",
            app_bundle("com.example.chat", "1.0.0", &key(1)),
        ),
        yanked,
        version(
            "com.example.chat",
            "2.0.0-rc.1",
            app_bundle("com.example.chat", "2.0.0-rc.1", &key(2)),
        ),
        version(
            "com.example.kv",
            "0.1.0",
            app_bundle("com.example.kv", "0.1.0", &key(3)),
        ),
        version(
            "com.example.bad",
            "1.0.0",
            tamper_entry(&app_bundle("com.example.bad", "1.0.0", &key(4)), "app.wasm"),
        ),
    ]
}

/// What a good import of `versions` writes: `<package>/<package>-<version>.mpk` → bytes.
fn expected_tree(versions: &[Version], refused: &[&str]) -> BTreeMap<String, Vec<u8>> {
    versions
        .iter()
        .filter(|v| !refused.contains(&v.package.as_str()))
        .map(|v| {
            let rel = format!("{0}/{0}-{1}.mpk", v.package, v.version);
            (rel, v.bytes.clone())
        })
        .collect()
}

/// Every file under `dir` by relative path (none when there is no `dir`).
fn files_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    if dir.exists() {
        tree(dir)
    } else {
        BTreeMap::new()
    }
}

/// Every bundle under `dir`, by relative path; panics on any other file but `package.toml`.
fn bundles_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = files_in(dir);
    found.retain(|rel, _| !rel.ends_with("/package.toml"));
    for rel in found.keys() {
        assert!(
            rel.ends_with(".mpk"),
            "unexpected file {rel} under the output"
        );
    }
    found
}

// ---------------------------------------------------------------------------------------------
// A server answering like the hosted registry

/// How the fixture server misbehaves.
#[derive(Clone, Default)]
struct Quirks {
    /// Answer every `/api/v2/bundles?…` with the plain list.
    ignore_queries: bool,
    /// Send half of this artifact (`/artifacts/…`), then nothing more.
    stall: Option<String>,
    /// Answer this artifact with a redirect to the same path on another port.
    redirect: Option<String>,
    /// List items without the manifest's `signature`.
    unsigned_items: bool,
    /// Edit every listed item (metadata changed on the server's side, say).
    edit_items: Option<fn(&mut Map<String, Value>)>,
    /// Answer this artifact `409 {"error":"binary_missing"}`, as the hosted registry does for
    /// a version whose file it lost.
    missing: Option<String>,
}

struct Fixture {
    versions: Vec<Version>,
    quirks: Quirks,
    artifact_requests: AtomicUsize,
}

impl Fixture {
    /// A list item as the hosted API answers it.
    fn item(&self, v: &Version, with_yanked: bool) -> Value {
        // The server lists a version under the coordinates it has it at.
        let mut item = manifest_of(&v.bytes);
        item.insert("package".into(), json!(v.package));
        item.insert("appVersion".into(), json!(v.version));
        if self.quirks.unsigned_items {
            item.remove("signature");
        }
        if let Some(edit) = self.quirks.edit_items {
            edit(&mut item);
        }
        item.insert("minRuntimeVersion".into(), json!("0.1.0"));
        item.insert("min_runtime_version".into(), json!("0.1.0"));
        item.insert("verified".into(), json!(false));
        item.insert("downloads".into(), json!(7));
        if with_yanked {
            item.insert("yanked".into(), json!(v.yanked));
            if let Some(reason) = &v.reason {
                item.insert("yankReason".into(), json!(reason));
            }
        }
        Value::Object(item)
    }

    /// Newest first.
    fn of(&self, package: &str) -> Vec<&Version> {
        let mut of: Vec<&Version> = self
            .versions
            .iter()
            .filter(|v| v.package == package)
            .collect();
        of.sort_by(|a, b| mpk_registry::version::compare(&b.version, &a.version));
        of
    }

    fn answer(&self, url: &str) -> (u16, Vec<u8>) {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        if path == "/api/v2/bundles" {
            let params: BTreeMap<&str, &str> = query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .collect();
            let package = params
                .get("package")
                .filter(|_| !self.quirks.ignore_queries);
            let all = params.get("all_versions") == Some(&"true");
            let items: Vec<Value> = match package {
                Some(p) if all => self.of(p).into_iter().map(|v| self.item(v, true)).collect(),
                Some(p) => self
                    .of(p)
                    .into_iter()
                    .take(1)
                    .map(|v| self.item(v, false))
                    .collect(),
                None => {
                    let packages: std::collections::BTreeSet<&str> =
                        self.versions.iter().map(|v| v.package.as_str()).collect();
                    packages
                        .into_iter()
                        .map(|p| self.item(self.of(p)[0], false))
                        .collect()
                }
            };
            return (200, serde_json::to_vec(&items).unwrap());
        }
        if let Some(rest) = path.strip_prefix("/artifacts/") {
            self.artifact_requests.fetch_add(1, Ordering::SeqCst);
            if self.quirks.missing.as_deref() == Some(path) {
                return (409, br#"{"error":"binary_missing"}"#.to_vec());
            }
            let found = self
                .versions
                .iter()
                .find(|v| rest == format!("{0}/{1}/{0}-{1}.mpk", v.package, v.version));
            if let Some(v) = found {
                return (200, v.bytes.clone());
            }
            return (404, br#"{"error":"artifact_not_found"}"#.to_vec());
        }
        (404, br#"{"error":"not_found"}"#.to_vec())
    }
}

/// Answers HTTP on 127.0.0.1 with a few worker threads until dropped.
struct Server {
    http: Arc<tiny_http::Server>,
    port: u16,
    stopping: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

/// Answers one request; the flag is the server's own, set when it stops.
type Handler = Arc<dyn Fn(tiny_http::Request, &Arc<AtomicBool>) + Send + Sync>;

impl Server {
    fn start(handler: Handler) -> Server {
        let http = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = http.server_addr().to_ip().unwrap().port();
        let stopping = Arc::new(AtomicBool::new(false));
        let workers = (0..4)
            .map(|_| {
                let (http, stopping, handler) = (http.clone(), stopping.clone(), handler.clone());
                std::thread::spawn(move || loop {
                    match http.recv() {
                        Ok(request) => handler(request, &stopping),
                        Err(_) if stopping.load(Ordering::SeqCst) => break,
                        Err(_) => {}
                    }
                })
            })
            .collect();
        Server {
            http,
            port,
            stopping,
            workers,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        for _ in &self.workers {
            self.http.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// Half of a body, then silence until the server stops; says when the half was handed over.
struct Stalling {
    half: std::io::Cursor<Vec<u8>>,
    reached: Mutex<Option<mpsc::Sender<()>>>,
    stopping: Arc<AtomicBool>,
}

impl Read for Stalling {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.half.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        if let Some(reached) = self.reached.lock().unwrap().take() {
            let _ = reached.send(());
        }
        while !self.stopping.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(std::io::Error::other("the server stopped"))
    }
}

/// A hosted-style server of `versions`; the receiver hears when a stalled artifact is half sent.
fn hosted(versions: Vec<Version>, quirks: Quirks) -> (Server, Arc<Fixture>, mpsc::Receiver<()>) {
    let fixture = Arc::new(Fixture {
        versions,
        quirks,
        artifact_requests: AtomicUsize::new(0),
    });
    let (reached, heard) = mpsc::channel();
    let reached = Mutex::new(Some(reached));
    let state = fixture.clone();
    let handler: Handler = Arc::new(move |request, stopping| {
        let url = request.url().to_owned();
        let json = tiny_http::Header::from_bytes("Content-Type", "application/json; charset=utf-8")
            .unwrap();
        if state.quirks.redirect.as_deref() == Some(url.as_str()) {
            let to = format!("http://127.0.0.1:1{url}");
            let location = tiny_http::Header::from_bytes("Location", to.as_bytes()).unwrap();
            let _ = request.respond(tiny_http::Response::empty(302).with_header(location));
            return;
        }
        let (status, body) = state.answer(&url);
        if state.quirks.stall.as_deref() == Some(url.as_str()) {
            let length = body.len();
            let half = body[..length / 2].to_vec();
            let stalling = Stalling {
                half: std::io::Cursor::new(half),
                reached: Mutex::new(reached.lock().unwrap().take()),
                stopping: stopping.clone(),
            };
            let _ = request.respond(tiny_http::Response::new(
                tiny_http::StatusCode(200),
                vec![],
                stalling,
                Some(length),
                None,
            ));
            return;
        }
        let _ = request.respond(
            tiny_http::Response::from_data(body)
                .with_status_code(status)
                .with_header(json),
        );
    });
    (Server::start(handler), fixture, heard)
}

// ---------------------------------------------------------------------------------------------
// Running an import

fn options(from: &str, out: &Path) -> ImportOptions {
    ImportOptions {
        from: from.to_owned(),
        packages: Vec::new(),
        out: out.to_owned(),
        jobs: 2,
        timeout: Duration::from_secs(30),
        follow_redirects: false,
        fail_fast: false,
    }
}

fn run(from: &str, out: &Path) -> Import {
    import::import(&options(from, out), &Quiet).unwrap()
}

/// The rules `package`'s refused versions broke.
fn refusals(import: &Import, package: &str) -> Vec<Rule> {
    import
        .versions()
        .filter(|(p, _)| p.package == package)
        .flat_map(|(_, v)| match &v.outcome {
            VersionOutcome::Refused(problems) => problems.iter().map(|p| p.rule).collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn package_config(out: &Path, package: &str) -> mpk_registry::config::PackageConfig {
    mpk_registry::config::load(&out.join(package).join("package.toml")).unwrap()
}

/// `build` accepts the folder, and its catalog lists `tree`'s versions with their SHA-256.
fn assert_builds_to(src: &Path, tree: &BTreeMap<String, Vec<u8>>) {
    let site = tempfile::tempdir().unwrap();
    let out = site.path().join("public");
    let outcome = site::build(&BuildOptions {
        src: src.to_owned(),
        out: out.clone(),
        jobs: Some(1),
        sign: None,
        cache: None,
        strict: true,
        allow_empty: false,
    })
    .unwrap();
    assert!(
        outcome.refused.is_empty(),
        "{}",
        outcome.to_text(&out, false)
    );
    let catalog: Value =
        serde_json::from_slice(&fs::read(out.join("index.json")).unwrap()).unwrap();
    let mut listed = BTreeMap::new();
    for app in catalog["apps"].as_array().unwrap() {
        let package = app["package"].as_str().unwrap();
        let index = out.join("apps").join(package).join("index.json");
        let index: Value = serde_json::from_slice(&fs::read(index).unwrap()).unwrap();
        for release in index["versions"].as_array().unwrap() {
            let version = release["version"].as_str().unwrap();
            let rel = format!("{package}/{package}-{version}.mpk");
            listed.insert(
                rel,
                release["bundle"]["sha256"].as_str().unwrap().to_owned(),
            );
        }
    }
    let expected: BTreeMap<String, String> = tree
        .iter()
        .map(|(rel, bytes)| (rel.clone(), sha256_hex(bytes)))
        .collect();
    assert_eq!(listed, expected);
}

// ---------------------------------------------------------------------------------------------
// Tests: the hosted API

#[test]
fn every_good_version_of_a_hosted_registry_is_imported_byte_for_byte() {
    let versions = mixed();
    let (server, fixture, _) = hosted(versions.clone(), Quirks::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");

    let import = run(&server.url(), &out);

    let tree = expected_tree(&versions, &["com.example.bad"]);
    assert_eq!(bundles_in(&out), tree);
    assert_eq!(
        fixture.artifact_requests.load(Ordering::SeqCst),
        versions.len()
    );
    assert!(import
        .packages
        .iter()
        .all(|p| p.listing == Some(import::Listing::Query)));
    let chat = package_config(&out, "com.example.chat");
    assert_eq!(chat.owners, Vec::<String>::new());
    // 1.0.0's signer owns the package; the prerelease's is allowed beside it.
    assert_eq!(chat.signers, [signer(&key(2))]);
    let reason = chat.yank_reason("1.1.0").unwrap();
    assert!(reason.contains(&server.url()), "{reason}");
    assert!(package_config(&out, "com.example.kv").signers.is_empty());
    let owners: Vec<&str> = import
        .packages
        .iter()
        .filter(|p| p.needs_owners)
        .map(|p| p.package.as_str())
        .collect();
    assert_eq!(owners, ["com.example.chat", "com.example.kv"]);
    assert_builds_to(&out, &tree);
}

#[test]
fn a_tampered_bundle_is_refused_and_not_written() {
    let (server, _, _) = hosted(mixed(), Quirks::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");

    let import = run(&server.url(), &out);

    assert_eq!(refusals(&import, "com.example.bad"), [Rule::Digest]);
    assert!(import.refused() && !import.failed());
    assert!(!out.join("com.example.bad").exists());
    let text = import.to_text();
    assert!(text.contains("REFUSED   com.example.bad 1.0.0"), "{text}");
    assert!(text.contains(Rule::Digest.hint()), "{text}");
}

#[test]
fn the_servers_yank_reason_is_kept() {
    let mut versions = mixed();
    versions[1].reason = Some("Loses writes; use 2.0.0.".into());
    let (server, _, _) = hosted(versions, Quirks::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");

    run(&server.url(), &out);

    let chat = package_config(&out, "com.example.chat");
    assert_eq!(chat.yank_reason("1.1.0"), Some("Loses writes; use 2.0.0."));
}

#[test]
fn a_second_run_downloads_nothing() {
    let versions = mixed();
    let (server, fixture, _) = hosted(versions.clone(), Quirks::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");
    run(&server.url(), &out);
    let tomls = fs::read(out.join("com.example.chat/package.toml")).unwrap();
    let first = fixture.artifact_requests.load(Ordering::SeqCst);

    let again = run(&server.url(), &out);

    // Only the refused bundle is asked for again: nothing of it is in the folder.
    assert_eq!(fixture.artifact_requests.load(Ordering::SeqCst), first + 1);
    assert_eq!(again.downloads, 1);
    assert!(again
        .versions()
        .filter(|(p, _)| p.package != "com.example.bad")
        .all(|(_, v)| matches!(
            v.outcome,
            VersionOutcome::Present {
                downloaded: false,
                ..
            }
        )));
    assert!(again
        .packages
        .iter()
        .filter(|p| p.package != "com.example.bad")
        .all(|p| p.package_toml == PackageToml::Kept));
    assert_eq!(
        fs::read(out.join("com.example.chat/package.toml")).unwrap(),
        tomls
    );
    assert_eq!(
        bundles_in(&out),
        expected_tree(&versions, &["com.example.bad"])
    );
}

#[test]
fn a_new_version_on_the_server_is_the_only_download() {
    let mut versions = mixed();
    let (server, _, _) = hosted(versions.clone(), Quirks::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");
    run(&server.url(), &out);
    drop(server);
    versions.push(version(
        "com.example.kv",
        "0.2.0",
        app_bundle("com.example.kv", "0.2.0", &key(3)),
    ));
    let (server, fixture, _) = hosted(versions.clone(), Quirks::default());

    let import = run(&server.url(), &out);

    // The new version, and the refused bundle again.
    assert_eq!(fixture.artifact_requests.load(Ordering::SeqCst), 2);
    assert_eq!(import.downloads, 2);
    assert_eq!(
        bundles_in(&out),
        expected_tree(&versions, &["com.example.bad"])
    );
}

#[test]
fn an_existing_file_with_other_bytes_is_refused_and_left_untouched() {
    let (server, _, _) = hosted(mixed(), Quirks::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");
    let mine = out.join("com.example.kv/com.example.kv-0.1.0.mpk");
    fs::create_dir_all(mine.parent().unwrap()).unwrap();
    let other = app_bundle("com.example.kv", "0.1.0", &key(9));
    fs::write(&mine, &other).unwrap();

    let import = run(&server.url(), &out);

    assert_eq!(refusals(&import, "com.example.kv"), [Rule::Immutable]);
    assert_eq!(fs::read(&mine).unwrap(), other);
}

#[test]
fn an_existing_file_with_the_same_bytes_is_kept_as_it_is() {
    let versions = mixed();
    let (server, _, _) = hosted(versions.clone(), Quirks::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");
    let same = out.join("com.example.kv/com.example.kv-0.1.0.mpk");
    fs::create_dir_all(same.parent().unwrap()).unwrap();
    fs::write(&same, &versions[3].bytes).unwrap();
    let before = fs::metadata(&same).unwrap().modified().unwrap();

    let import = run(&server.url(), &out);

    let (_, kv) = import
        .versions()
        .find(|(p, _)| p.package == "com.example.kv")
        .unwrap();
    assert!(matches!(
        kv.outcome,
        VersionOutcome::Present {
            downloaded: false,
            ..
        }
    ));
    assert_eq!(fs::metadata(&same).unwrap().modified().unwrap(), before);
}

#[test]
fn an_existing_file_is_recognised_by_signer_and_artifacts_when_the_listing_has_no_signature() {
    let versions = mixed();
    let (server, fixture, _) = hosted(
        versions.clone(),
        Quirks {
            unsigned_items: true,
            ..Quirks::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");
    let same = out.join("com.example.kv/com.example.kv-0.1.0.mpk");
    fs::create_dir_all(same.parent().unwrap()).unwrap();
    fs::write(&same, &versions[3].bytes).unwrap();

    let import = run(&server.url(), &out);

    let (_, kv) = import
        .versions()
        .find(|(p, _)| p.package == "com.example.kv")
        .unwrap();
    assert!(matches!(
        kv.outcome,
        VersionOutcome::Present {
            downloaded: false,
            ..
        }
    ));
    assert_eq!(
        fixture.artifact_requests.load(Ordering::SeqCst),
        versions.len() - 1
    );
}

#[test]
fn an_existing_file_is_downloaded_and_compared_when_the_listing_has_other_artifacts() {
    let versions = mixed();
    let (server, fixture, _) = hosted(
        versions.clone(),
        Quirks {
            unsigned_items: true,
            edit_items: Some(|item| item["wasm"]["hash"] = json!("00".repeat(32))),
            ..Quirks::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");
    let same = out.join("com.example.kv/com.example.kv-0.1.0.mpk");
    fs::create_dir_all(same.parent().unwrap()).unwrap();
    fs::write(&same, &versions[3].bytes).unwrap();

    let import = run(&server.url(), &out);

    let (_, kv) = import
        .versions()
        .find(|(p, _)| p.package == "com.example.kv")
        .unwrap();
    assert!(matches!(
        kv.outcome,
        VersionOutcome::Present {
            downloaded: true,
            ..
        }
    ));
    assert_eq!(kv.listing_differs, ["wasm"]);
    assert_eq!(
        fixture.artifact_requests.load(Ordering::SeqCst),
        versions.len()
    );
}

#[test]
fn metadata_edited_on_the_server_is_reported_and_not_downloaded_again() {
    let versions = mixed();
    let (server, fixture, _) = hosted(
        versions.clone(),
        Quirks {
            edit_items: Some(|item| {
                item["metadata"]["name"] = json!("Renamed on the server");
                // The signature in a shape of the server's own.
                item["signature"] = json!({"pubkey": "elsewhere"});
            }),
            ..Quirks::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");

    let first = run(&server.url(), &out);
    let imported = first
        .versions()
        .filter(|(_, v)| matches!(v.outcome, VersionOutcome::Imported(_)))
        .count();
    assert!(imported > 0);
    let downloads = fixture.artifact_requests.load(Ordering::SeqCst);

    let again = run(&server.url(), &out);

    // Only the refused bundle is asked for again.
    assert_eq!(
        fixture.artifact_requests.load(Ordering::SeqCst),
        downloads + 1
    );
    assert_eq!(again.downloads, 1);
    for (package, v) in again
        .versions()
        .filter(|(p, _)| p.package != "com.example.bad")
    {
        assert!(
            matches!(
                v.outcome,
                VersionOutcome::Present {
                    downloaded: false,
                    ..
                }
            ),
            "{} {}",
            package.package,
            v.version
        );
        assert_eq!(v.listing_differs, ["metadata"]);
    }
    let text = again.to_text();
    let note =
        "note: the server lists other metadata than the signed manifest; the signed one is kept";
    assert_eq!(text.matches(note).count(), imported, "{text}");
    // The signed manifest is what the folder holds.
    assert_eq!(
        bundles_in(&out),
        expected_tree(&versions, &["com.example.bad"])
    );
}

#[test]
fn a_servers_reason_is_reported_and_a_refused_request_is_no_download() {
    let artifact = "/artifacts/com.example.kv/0.1.0/com.example.kv-0.1.0.mpk";
    let (server, fixture, _) = hosted(
        mixed(),
        Quirks {
            missing: Some(artifact.into()),
            ..Quirks::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();

    let import = run(&server.url(), &dir.path().join("registry-src"));

    let (_, kv) = import
        .versions()
        .find(|(p, _)| p.package == "com.example.kv")
        .unwrap();
    let VersionOutcome::Failed(error) = &kv.outcome else {
        panic!("{:?}", kv.outcome)
    };
    assert!(
        error.contains("answered 409 Conflict (binary_missing)"),
        "{error}"
    );
    let requests = fixture.artifact_requests.load(Ordering::SeqCst) as u64;
    assert_eq!(import.downloads, requests - 1);
}

#[test]
fn an_existing_package_toml_is_never_edited() {
    let (server, _, _) = hosted(mixed(), Quirks::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");
    let toml = out.join("com.example.chat/package.toml");
    fs::create_dir_all(toml.parent().unwrap()).unwrap();
    fs::write(&toml, "owners = [\"alice\"]\n").unwrap();

    let import = run(&server.url(), &out);

    assert_eq!(fs::read_to_string(&toml).unwrap(), "owners = [\"alice\"]\n");
    let chat = import
        .packages
        .iter()
        .find(|p| p.package == "com.example.chat")
        .unwrap();
    assert_eq!(chat.package_toml, PackageToml::Kept);
    assert!(!chat.needs_owners);
}

#[test]
fn a_bundle_served_as_another_version_is_refused() {
    let mut versions = mixed();
    versions[3].bytes = app_bundle("com.example.kv", "9.9.9", &key(3));
    let (server, _, _) = hosted(versions, Quirks::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");

    let import = run(&server.url(), &out);

    assert_eq!(refusals(&import, "com.example.kv"), [Rule::FileName]);
    assert!(!out.join("com.example.kv").exists());
}

#[test]
fn only_the_packages_asked_for_are_imported() {
    let versions = mixed();
    let (server, _, _) = hosted(versions.clone(), Quirks::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");
    let mut options = options(&server.url(), &out);
    options.packages = vec!["com.example.kv".into()];

    import::import(&options, &Quiet).unwrap();

    let only_kv: Vec<Version> = versions
        .into_iter()
        .filter(|v| v.package == "com.example.kv")
        .collect();
    assert_eq!(bundles_in(&out), expected_tree(&only_kv, &[]));
}

#[test]
fn a_package_the_server_does_not_have_fails_with_its_name() {
    let (server, _, _) = hosted(mixed(), Quirks::default());
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(&server.url(), &dir.path().join("registry-src"));
    options.packages = vec!["com.example.nothing".into()];

    let import = import::import(&options, &Quiet).unwrap();

    assert!(import.failed());
    let error = import.packages[0].error.as_deref().unwrap();
    assert!(
        error.contains("no version") && error.contains("[]"),
        "{error}"
    );
}

#[test]
fn a_server_that_ignores_queries_and_has_no_package_files_fails_each_package() {
    let (server, fixture, _) = hosted(
        mixed(),
        Quirks {
            ignore_queries: true,
            ..Quirks::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");

    let import = run(&server.url(), &out);

    assert!(import.failed());
    for package in &import.packages {
        let error = package.error.as_deref().unwrap();
        assert!(error.contains("ignores query strings"), "{error}");
        assert!(error.contains("all.json"), "{error}");
    }
    assert_eq!(fixture.artifact_requests.load(Ordering::SeqCst), 0);
    assert!(files_in(&out).is_empty());
}

#[test]
fn a_redirect_is_not_followed_without_follow_redirects() {
    let artifact = "/artifacts/com.example.chat/1.1.0/com.example.chat-1.1.0.mpk";
    let (server, _, _) = hosted(
        mixed(),
        Quirks {
            redirect: Some(artifact.into()),
            ..Quirks::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");

    let import = run(&server.url(), &out);

    let (chat, v) = import
        .versions()
        .find(|(_, v)| v.version == "1.1.0")
        .unwrap();
    let VersionOutcome::Failed(error) = &v.outcome else {
        panic!("{:?}", v.outcome)
    };
    assert!(
        error.contains("302") && error.contains("--follow-redirects"),
        "{error}"
    );
    assert!(!v.file.exists());
    // Its signer could be missing from `signers`: the run that brings it in writes the file.
    assert_eq!(chat.package_toml, PackageToml::Deferred);
    assert!(!out.join("com.example.chat/package.toml").exists());
}

#[test]
fn a_server_with_one_package_that_ignores_queries_is_detected() {
    let kv: Vec<Version> = vec![
        version(
            "com.example.kv",
            "0.1.0",
            app_bundle("com.example.kv", "0.1.0", &key(3)),
        ),
        version(
            "com.example.kv",
            "0.2.0",
            app_bundle("com.example.kv", "0.2.0", &key(3)),
        ),
    ];
    let (server, fixture, _) = hosted(
        kv,
        Quirks {
            ignore_queries: true,
            ..Quirks::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();

    let import = run(&server.url(), &dir.path().join("registry-src"));

    // The plain list names only this package, and only its latest version.
    let error = import.packages[0].error.as_deref().unwrap();
    assert!(error.contains("is the plain list"), "{error}");
    assert_eq!(fixture.artifact_requests.load(Ordering::SeqCst), 0);
}

#[cfg(unix)]
#[test]
fn a_second_import_into_a_folder_being_imported_into_is_refused() {
    use std::os::fd::AsRawFd;
    let (server, _, _) = hosted(mixed(), Quirks::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");
    fs::create_dir(&out).unwrap();
    let held = fs::File::open(&out).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);

    let error = import::import(&options(&server.url(), &out), &Quiet).unwrap_err();

    assert!(error.to_string().contains("another import"), "{error}");
    assert!(files_in(&out).is_empty());
}

#[test]
fn fail_fast_stops_at_the_first_refusal() {
    let (server, fixture, _) = hosted(mixed(), Quirks::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");
    let mut options = options(&server.url(), &out);
    options.fail_fast = true;
    options.jobs = 1;

    let import = import::import(&options, &Quiet).unwrap();

    // Packages in order: com.example.bad first, so nothing after it is attempted.
    assert!(import.stopped);
    assert_eq!(fixture.artifact_requests.load(Ordering::SeqCst), 1);
    assert!(files_in(&out).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Tests: the binary, interrupted

#[test]
fn an_interrupted_run_leaves_no_partial_file_and_the_next_run_completes() {
    let versions = mixed();
    let stalled = "/artifacts/com.example.chat/1.1.0/com.example.chat-1.1.0.mpk";
    let (server, _, heard) = hosted(
        versions.clone(),
        Quirks {
            stall: Some(stalled.into()),
            ..Quirks::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry-src");
    let mut child = command()
        .args(["import", "--from", &server.url(), "-o"])
        .arg(&out)
        .args(["--jobs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    heard.recv().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    drop(server);

    // Whatever was written is whole and verified: bundles of the source, nothing partial.
    let tree = expected_tree(&versions, &["com.example.bad"]);
    for (rel, bytes) in bundles_in(&out) {
        assert_eq!(Some(&bytes), tree.get(&rel), "{rel}");
    }
    assert!(!out
        .join("com.example.chat/com.example.chat-1.1.0.mpk")
        .exists());

    let (server, _, _) = hosted(versions, Quirks::default());
    let status = command()
        .args(["import", "--from", &server.url(), "-o"])
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "the tampered bundle is refused");
    assert_eq!(bundles_in(&out), tree);
    assert!(package_config(&out, "com.example.chat")
        .yank_reason("1.1.0")
        .is_some());
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["registry-src"], "the staging folder is removed");
}

#[test]
fn the_json_report_names_each_refusal_by_rule() {
    let (server, _, _) = hosted(mixed(), Quirks::default());
    let dir = tempfile::tempdir().unwrap();
    let output = command()
        .args(["import", "--json", "--from", &server.url(), "-o"])
        .arg(dir.path().join("registry-src"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["schemaVersion"], 1);
    assert_eq!(report["ok"], false);
    assert_eq!(report["downloads"], 5);
    assert_eq!(
        report["needOwners"],
        json!(["com.example.chat", "com.example.kv"])
    );
    let bad = &report["packages"][0];
    assert_eq!(bad["package"], "com.example.bad");
    assert_eq!(bad["listing"], "query");
    assert_eq!(bad["packageToml"], "none");
    assert_eq!(bad["versions"][0]["status"], "refused");
    assert_eq!(bad["versions"][0]["problems"][0]["rule"], "artifact.digest");
    let chat = &report["packages"][1]["versions"];
    assert_eq!(chat[1]["version"], "1.1.0");
    assert_eq!(chat[1]["yanked"], true);
    assert_eq!(chat[1]["status"], "imported");
    assert_eq!(
        chat[1]["bundle"]["bundleSha256"],
        sha256_hex(&mixed()[1].bytes)
    );
}

// ---------------------------------------------------------------------------------------------
// Tests: a site this tool built

/// A registry folder of the good versions of [`mixed`] and of a package whose every version is
/// yanked, with the yanks in package.toml, built into a site.
fn built_site() -> (tempfile::TempDir, PathBuf, BTreeMap<String, Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let mut versions: Vec<Version> = mixed()
        .into_iter()
        .filter(|v| v.package != "com.example.bad")
        .collect();
    // Every version yanked: the site's list leaves the package out, its catalog does not.
    versions.push(version(
        "com.example.old",
        "0.1.0",
        app_bundle("com.example.old", "0.1.0", &key(5)),
    ));
    let tree = expected_tree(&versions, &[]);
    for (rel, bytes) in &tree {
        let path = src.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }
    fs::write(
        src.join("com.example.chat/package.toml"),
        format!(
            "signers = [\"{}\"]\nyanked = [{{ version = \"1.1.0\", reason = \"Broken.\" }}]\n",
            signer(&key(2))
        ),
    )
    .unwrap();
    fs::write(
        src.join("com.example.old/package.toml"),
        "yanked = [{ version = \"0.1.0\", reason = \"Gone.\" }]\n",
    )
    .unwrap();
    let site = dir.path().join("public");
    site::build(&BuildOptions {
        src,
        out: site.clone(),
        jobs: Some(1),
        sign: None,
        cache: None,
        strict: false,
        allow_empty: false,
    })
    .unwrap();
    (dir, site, tree)
}

#[test]
fn a_site_served_by_serve_is_mirrored() {
    let (_dir, site, tree) = built_site();
    let server = mpk_registry::serve::bind(&site, 0).unwrap().start();
    let to = tempfile::tempdir().unwrap();
    let out = to.path().join("registry-src");

    let import = run(&server.url(), &out);

    assert!(
        !import.failed() && !import.refused(),
        "{}",
        import.to_text()
    );
    assert_eq!(bundles_in(&out), tree);
    assert!(package_config(&out, "com.example.chat")
        .yank_reason("1.1.0")
        .is_some());
    assert_builds_to(&out, &tree);
    assert_eq!(run(&server.url(), &out).downloads, 0);
}

#[test]
fn a_site_behind_a_server_that_ignores_queries_is_read_from_its_package_files() {
    let (_dir, site, tree) = built_site();
    let built = Arc::new(mpk_registry::serve::BuiltSite::open(&site).unwrap());
    let artifacts = Arc::new(AtomicUsize::new(0));
    let counted = artifacts.clone();
    let server = Server::start(Arc::new(
        move |request: tiny_http::Request, _: &Arc<AtomicBool>| {
            let path = request.url().split('?').next().unwrap().to_owned();
            if path.starts_with("/artifacts/") {
                counted.fetch_add(1, Ordering::SeqCst);
            }
            let answer = built.answer("GET", &path);
            let body = match &answer.body {
                mpk_registry::serve::Body::File(file) => fs::read(file).unwrap(),
                mpk_registry::serve::Body::Text(text) => text.clone().into_bytes(),
                mpk_registry::serve::Body::Empty => Vec::new(),
            };
            let _ = request
                .respond(tiny_http::Response::from_data(body).with_status_code(answer.status));
        },
    ));
    let to = tempfile::tempdir().unwrap();
    let out = to.path().join("registry-src");

    let import = run(&server.url(), &out);

    assert!(!import.failed(), "{}", import.to_text());
    assert!(import
        .packages
        .iter()
        .all(|p| p.listing == Some(import::Listing::PackageFile)));
    assert_eq!(bundles_in(&out), tree);
    assert_builds_to(&out, &tree);
    let first = artifacts.load(Ordering::SeqCst);
    assert_eq!(first, tree.len());
    run(&server.url(), &out);
    assert_eq!(
        artifacts.load(Ordering::SeqCst),
        first,
        "a second run downloads nothing"
    );
}

/// A built site behind a plain static file server, as Python's `http.server` serves one: query
/// strings ignored, a folder asked for without its final `/` redirected (301, same host) to
/// the folder, which answers its `index.html`.
fn static_host(site: &Path) -> Server {
    let root = site.to_owned();
    Server::start(Arc::new(
        move |request: tiny_http::Request, _: &Arc<AtomicBool>| {
            let url = request.url().to_owned();
            let (path, query) = url.split_once('?').unwrap_or((&url, ""));
            let file = root.join(path.trim_start_matches('/'));
            if file.is_dir() && !path.ends_with('/') {
                let query = if query.is_empty() {
                    String::new()
                } else {
                    format!("?{query}")
                };
                let to = format!("{path}/{query}");
                let location = tiny_http::Header::from_bytes("Location", to.as_bytes()).unwrap();
                let _ = request.respond(tiny_http::Response::empty(301).with_header(location));
                return;
            }
            let file = if file.is_dir() {
                file.join("index.html")
            } else {
                file
            };
            let _ = match fs::read(&file) {
                Ok(body) => request.respond(tiny_http::Response::from_data(body)),
                Err(_) => request.respond(tiny_http::Response::empty(404)),
            };
        },
    ))
}

#[test]
fn a_site_on_a_plain_static_host_is_imported_without_flags() {
    let (_dir, site, tree) = built_site();
    let server = static_host(&site);
    let to = tempfile::tempdir().unwrap();
    let out = to.path().join("registry-src");

    let import = run(&server.url(), &out);

    assert!(
        !import.failed() && !import.refused(),
        "{}",
        import.to_text()
    );
    assert_eq!(bundles_in(&out), tree);
    assert_builds_to(&out, &tree);
}

#[test]
fn a_redirect_to_another_host_still_needs_follow_redirects() {
    let (_dir, site, _) = built_site();
    let target = static_host(&site);
    let port = target.port;
    let server = Server::start(Arc::new(
        move |request: tiny_http::Request, _: &Arc<AtomicBool>| {
            let to = format!("http://127.0.0.1:{port}{}", request.url());
            let location = tiny_http::Header::from_bytes("Location", to.as_bytes()).unwrap();
            let _ = request.respond(tiny_http::Response::empty(301).with_header(location));
        },
    ));
    let to = tempfile::tempdir().unwrap();
    let out = to.path().join("registry-src");
    let error = import::import(&options(&server.url(), &out), &Quiet)
        .expect_err("the list is behind a redirect to another host")
        .to_string();
    assert!(
        error.contains("301") && error.contains("--follow-redirects"),
        "{error}"
    );

    let mut follow = options(&server.url(), &out);
    follow.follow_redirects = true;
    let import = import::import(&follow, &Quiet).unwrap();
    assert!(!import.failed(), "{}", import.to_text());
}
