//! `serve` over real HTTP: registries are built into temporary folders, served on a free port
//! of 127.0.0.1, and asked what Calimero clients ask (docs/read-api.md). The answers are also
//! compared with what the hosted registry answers (tests/fixtures/hosted-api) and with what
//! Netlify's rules in the site's `_redirects` answer.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use crate::support::bundle::{bundle_manifest, key};
use crate::support::registry::{copy_dir, Registry};
use crate::support::repo_path;
use mpk_registry::serve::{self, Running};
use mpk_registry::site::{self, paths, BuildOptions};
use serde_json::{json, Map, Value};

/// A built sample registry and a server answering for it.
struct Fixture {
    /// The registry source the site was built from.
    src: PathBuf,
    site: PathBuf,
    server: Running,
    _dir: tempfile::TempDir,
}

/// Builds the repository's sample `registry-src/` (copied outside any git work tree, so every
/// file counts) and serves it on a port the system picks.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("registry-src");
    copy_dir(&sample_source(), &src);
    let out = dir.path().join("site");
    let outcome = site::build(&BuildOptions {
        src: src.clone(),
        out: out.clone(),
        jobs: Some(2),
        ..Default::default()
    })
    .unwrap();
    assert!(outcome.refused.is_empty(), "{:?}", outcome.refused);
    let server = serve::bind(&out, 0).unwrap();
    assert_ne!(server.port(), 0);
    Fixture {
        src,
        site: out,
        server: server.start(),
        _dir: dir,
    }
}

fn sample_source() -> PathBuf {
    repo_path("registry-src")
}

/// Builds `reg` and serves its site.
fn serve_registry(reg: &Registry) -> Running {
    reg.build_ok();
    serve::bind(&reg.out(), 0).unwrap().start()
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on a fresh connection; `target` is sent exactly as given.
fn request(port: u16, method: &str, target: &str) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let response = Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    assert_eq!(
        response.header("Transfer-Encoding"),
        None,
        "{target}: sent chunked"
    );
    if let Some(length) = response.header("Content-Length") {
        if method != "HEAD" {
            assert_eq!(length.parse::<usize>().unwrap(), response.body.len());
        }
    }
    response
}

fn get(port: u16, target: &str) -> Response {
    request(port, "GET", target)
}

const JSON: &str = "application/json; charset=utf-8";

/// Every field of the signed manifest of `package`@`version`, as the site publishes it.
fn manifest(fx: &Fixture, package: &str, version: &str) -> serde_json::Map<String, Value> {
    let path = fx
        .site
        .join(format!("apps/{package}/{version}/manifest.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `item` is the manifest of `package`@`appVersion` plus the fields clients expect.
fn assert_api_item(fx: &Fixture, item: &Value, with_verified: bool) {
    let package = item["package"].as_str().unwrap();
    let version = item["appVersion"].as_str().unwrap();
    let manifest = manifest(fx, package, version);
    for (key, value) in &manifest {
        assert_eq!(&item[key], value, "{package}@{version}: {key}");
    }
    let min = &item["minRuntimeVersion"];
    assert!(min.is_string(), "{package}@{version}: minRuntimeVersion");
    assert_eq!(&item["min_runtime_version"], min);
    assert!(item["downloads"].is_number(), "{package}@{version}");
    if with_verified {
        assert!(item["verified"].is_boolean(), "{package}@{version}");
    }
}

#[test]
fn the_list_is_the_latest_of_every_package_sorted() {
    let fx = fixture();
    let r = get(fx.server.port(), "/api/v2/bundles");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some(JSON));
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    let list = r.json();
    let list = list.as_array().unwrap();
    let coordinates: Vec<(&str, &str)> = list
        .iter()
        .map(|i| {
            (
                i["package"].as_str().unwrap(),
                i["appVersion"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        coordinates,
        [
            ("com.calimero.chat", "1.0.0"),
            ("com.calimero.kv-store", "1.0.0"),
            ("com.example.workspace", "0.3.0"),
        ]
    );
    for item in list {
        assert_api_item(&fx, item, true);
    }
    // The folder form some hosts answer with is the same list.
    let folder = get(fx.server.port(), "/api/v2/bundles/");
    assert_eq!(folder.status, 200);
    assert_eq!(folder.body, r.body);
}

/// `(appVersion, yanked)` of every item of a list answer.
fn versions_and_yanks(list: &Value) -> Vec<(String, bool)> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|i| {
            let version = i["appVersion"].as_str().unwrap().to_owned();
            (version, i["yanked"].as_bool().expect("yanked is a bool"))
        })
        .collect()
}

/// The `appVersion`s of a list answer, in order.
fn versions(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|i| i["appVersion"].as_str().unwrap())
        .collect()
}

#[test]
fn package_answers_its_highest_version() {
    let fx = fixture();
    let r = get(
        fx.server.port(),
        "/api/v2/bundles?package=com.calimero.kv-store",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some(JSON));
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    let list = r.json();
    assert_eq!(versions_and_yanks(&list), [("1.0.0".into(), false)]);
    assert_eq!(list[0]["package"], "com.calimero.kv-store");
    assert_api_item(&fx, &list[0], true);
}

#[test]
fn the_highest_version_is_answered_when_it_is_a_prerelease() {
    let fx = fixture();
    let list = get(
        fx.server.port(),
        "/api/v2/bundles?package=com.calimero.chat",
    )
    .json();
    assert_eq!(versions_and_yanks(&list), [("1.1.0-beta.1".into(), false)]);
    assert_api_item(&fx, &list[0], true);
}

#[test]
fn the_highest_version_is_answered_when_it_is_yanked() {
    let reg = Registry::new();
    for version in ["1.0.0", "1.1.0"] {
        reg.publish("com.example.notes", version, &key(1));
    }
    reg.write(
        "com.example.notes/package.toml",
        "yanked = [{ version = \"1.1.0\", reason = \"Broken.\" }]\n",
    );
    let server = serve_registry(&reg);
    let list = get(server.port(), "/api/v2/bundles?package=com.example.notes").json();
    assert_eq!(versions_and_yanks(&list), [("1.1.0".into(), true)]);
    // The list still offers the latest that is not yanked.
    assert_eq!(
        versions(&get(server.port(), "/api/v2/bundles").json()),
        ["1.0.0"]
    );
}

#[test]
fn the_highest_version_is_the_highest_by_semver_precedence() {
    let reg = Registry::new();
    for version in ["1.2.0", "1.10.0", "1.10.0-rc.1", "1.9.9"] {
        reg.publish("com.example.notes", version, &key(1));
    }
    let server = serve_registry(&reg);
    let list = get(server.port(), "/api/v2/bundles?package=com.example.notes").json();
    assert_eq!(versions(&list), ["1.10.0"]);
}

#[test]
fn package_and_version_answer_that_version_alone() {
    let fx = fixture();
    let r = get(
        fx.server.port(),
        "/api/v2/bundles?package=com.calimero.kv-store&version=0.2.0",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some(JSON));
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    let list = r.json();
    assert_eq!(versions_and_yanks(&list), [("0.2.0".into(), true)]);
    assert_api_item(&fx, &list[0], true);
}

#[test]
fn all_versions_are_newest_first_with_yanked() {
    let fx = fixture();
    let port = fx.server.port();
    let r = get(
        port,
        "/api/v2/bundles?package=com.calimero.kv-store&all_versions=true",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some(JSON));
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    let list = r.json();
    let versions: Vec<(&str, bool)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["appVersion"].as_str().unwrap(),
                i["yanked"].as_bool().expect("yanked is a bool"),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [("1.0.0", false), ("0.2.0", true), ("0.1.0", false)]
    );
    for item in list.as_array().unwrap() {
        assert_api_item(&fx, item, true);
    }
    // Query order and encoding do not matter.
    let swapped = get(
        port,
        "/api/v2/bundles?all_versions=true&package=com%2Ecalimero%2Ekv-store",
    );
    assert_eq!(swapped.status, 200);
    assert_eq!(swapped.body, r.body);
    // Prereleases are listed too.
    let chat = get(
        port,
        "/api/v2/bundles?package=com.calimero.chat&all_versions=true",
    )
    .json();
    let chat: Vec<&str> = chat
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["appVersion"].as_str().unwrap())
        .collect();
    assert_eq!(chat, ["1.1.0-beta.1", "1.0.0"]);
}

/// The API's 404: JSON, readable from any origin.
fn assert_not_found_json(fx: &Fixture, target: &str) {
    let r = get(fx.server.port(), target);
    assert_eq!(r.status, 404, "{target}");
    assert_eq!(r.header("Content-Type"), Some(JSON), "{target}");
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(r.json(), serde_json::json!({"error": "not_found"}));
}

/// A JSON answer readable from any origin, with `status` and `body`.
fn assert_json_answer(fx: &Fixture, target: &str, status: u16, body: Value) {
    let r = get(fx.server.port(), target);
    assert_eq!(r.status, status, "{target}");
    assert_eq!(r.header("Content-Type"), Some(JSON), "{target}");
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(r.json(), body, "{target}");
}

#[test]
fn an_unknown_package_is_an_empty_list() {
    let fx = fixture();
    for target in [
        "/api/v2/bundles?package=com.example.nothing",
        "/api/v2/bundles?package=com.example.nothing&all_versions=true",
    ] {
        assert_json_answer(&fx, target, 200, json!([]));
    }
}

#[test]
fn an_unknown_version_query_is_not_found_as_json() {
    let fx = fixture();
    for target in [
        "/api/v2/bundles?package=com.calimero.chat&version=9.9.9",
        "/api/v2/bundles?package=com.example.nothing&version=1.0.0",
    ] {
        assert_not_found_json(&fx, target);
    }
}

#[test]
fn all_versions_without_a_package_is_invalid_params() {
    let fx = fixture();
    let body = json!({"error": "invalid_params"});
    assert_json_answer(&fx, "/api/v2/bundles?all_versions=true", 400, body);
}

/// The packages of a list answer, in order.
fn packages(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|i| i["package"].as_str().unwrap())
        .collect()
}

/// The `signerId` the sample registry's `package` is signed with.
fn signer_of(fx: &Fixture, package: &str) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(fx.site.join(paths::app_index(package))).unwrap())
            .unwrap();
    index["versions"][0]["signerId"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn developer_lists_the_packages_it_signed() {
    let fx = fixture();
    for (package, expected) in [
        (
            "com.calimero.chat",
            vec!["com.calimero.chat", "com.calimero.kv-store"],
        ),
        ("com.example.workspace", vec!["com.example.workspace"]),
    ] {
        let signer = signer_of(&fx, package);
        // As browsers send it, and as written.
        let encoded = signer.replace(':', "%3A");
        for target in [
            format!("/api/v2/bundles?developer={encoded}"),
            format!("/api/v2/bundles?developer={signer}"),
        ] {
            let r = get(fx.server.port(), &target);
            assert_eq!(r.status, 200);
            assert_eq!(r.header("Content-Type"), Some(JSON));
            let list = r.json();
            assert_eq!(packages(&list), expected, "{target}");
            for item in list.as_array().unwrap() {
                assert_api_item(&fx, item, true);
            }
        }
    }
}

#[test]
fn author_lists_the_packages_by_that_author() {
    let fx = fixture();
    // Each package's latest, as in the list.
    for (query, expected) in [
        (
            "author=Calimero+samples",
            vec![
                ("com.calimero.chat", "1.0.0"),
                ("com.calimero.kv-store", "1.0.0"),
            ],
        ),
        (
            "author=Example%20Corp",
            vec![("com.example.workspace", "0.3.0")],
        ),
    ] {
        let r = get(fx.server.port(), &format!("/api/v2/bundles?{query}"));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Type"), Some(JSON));
        let list = r.json();
        let listed: Vec<(&str, &str)> = packages(&list).into_iter().zip(versions(&list)).collect();
        assert_eq!(listed, expected, "{query}");
    }
}

#[test]
fn unknown_developers_and_authors_are_empty_lists() {
    let fx = fixture();
    for query in [
        "developer=did:key:z6MkNobody",
        "author=Nobody",
        "author=calimero+samples",
    ] {
        assert_json_answer(&fx, &format!("/api/v2/bundles?{query}"), 200, json!([]));
    }
}

#[test]
fn values_that_cannot_name_a_file_are_unknown() {
    let fx = fixture();
    for query in [
        "package=../x",
        "package=a/b",
        "package=%2e%2e",
        "package=..%2Fapi%2Fv2%2Fpackages%2Fcom.calimero.chat",
        "developer=../x",
        "author=..%2F..",
    ] {
        assert_json_answer(&fx, &format!("/api/v2/bundles?{query}"), 200, json!([]));
    }
    assert_not_found_json(
        &fx,
        "/api/v2/bundles?package=com.calimero.chat&version=..%2F..%2Flatest",
    );
}

#[test]
fn health_is_ok() {
    let fx = fixture();
    assert_json_answer(&fx, "/api/healthz", 200, json!({"status": "ok"}));
}

#[test]
fn one_version_is_one_object() {
    let fx = fixture();
    let r = get(fx.server.port(), "/api/v2/bundles/com.calimero.chat/1.0.0");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some(JSON));
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    let item = r.json();
    assert!(item.is_object());
    assert_eq!(item["package"], "com.calimero.chat");
    assert_eq!(item["appVersion"], "1.0.0");
    assert_api_item(&fx, &item, false);

    let beta = get(
        fx.server.port(),
        "/api/v2/bundles/com.calimero.chat/1.1.0-beta.1",
    );
    assert_eq!(beta.status, 200);
    assert_eq!(beta.json()["appVersion"], "1.1.0-beta.1");
}

#[test]
fn an_unknown_version_is_not_found_as_json() {
    let fx = fixture();
    for target in [
        "/api/v2/bundles/com.calimero.chat/9.9.9",
        "/api/v2/bundles/com.example.nothing/1.0.0",
        "/api/v2/bundles/com.calimero.chat",
    ] {
        assert_not_found_json(&fx, target);
    }
}

#[test]
fn artifacts_are_the_exact_bundle_bytes() {
    let fx = fixture();
    for (package, version) in [
        ("com.calimero.kv-store", "0.2.0"),
        ("com.calimero.chat", "1.1.0-beta.1"),
        ("com.example.workspace", "0.3.0"),
    ] {
        let name = format!("{package}-{version}.mpk");
        let target = format!("/artifacts/{package}/{version}/{name}");
        let r = get(fx.server.port(), &target);
        assert_eq!(r.status, 200, "{target}");
        assert_eq!(r.header("Location"), None);
        assert_eq!(r.header("Content-Type"), Some("application/gzip"));
        assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
        let source = std::fs::read(fx.src.join(package).join(&name)).unwrap();
        assert_eq!(
            r.header("Content-Length"),
            Some(source.len().to_string().as_str())
        );
        assert!(r.body == source, "{target}: bytes differ from the source");

        let head = request(fx.server.port(), "HEAD", &target);
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty());
        assert_eq!(
            head.header("Content-Length"),
            Some(source.len().to_string().as_str())
        );
    }
    let missing = get(
        fx.server.port(),
        "/artifacts/com.calimero.chat/9.9.9/com.calimero.chat-9.9.9.mpk",
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("Access-Control-Allow-Origin"), Some("*"));
}

#[test]
fn pages_are_served_with_cors() {
    let fx = fixture();
    let port = fx.server.port();
    for target in [
        "/",
        "/index.html",
        "/apps/com.calimero.chat/",
        "/apps/com.calimero.chat/index.html",
        "/404.html",
    ] {
        let r = get(port, target);
        assert_eq!(r.status, 200, "{target}");
        assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    }
    let index = get(port, "/index.json");
    assert_eq!(index.status, 200);
    assert_eq!(index.header("Content-Type"), Some(JSON));
    assert_eq!(index.header("Access-Control-Allow-Origin"), Some("*"));
    index.json();
    // An app's folder without its slash goes to the slash, so its relative links work.
    let bare = get(port, "/apps/com.calimero.chat");
    assert_eq!(bare.status, 301);
    assert_eq!(bare.header("Location"), Some("/apps/com.calimero.chat/"));
}

#[test]
fn an_unknown_path_is_the_404_page() {
    let fx = fixture();
    let r = get(fx.server.port(), "/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    assert!(r.text().contains("<html"), "{}", r.text());
}

#[test]
fn traversal_is_not_found() {
    let fx = fixture();
    // `Cargo.toml` two levels up: the fixture's temporary folder holds the site and its source.
    std::fs::write(fx.site.parent().unwrap().join("Cargo.toml"), "secret").unwrap();
    for target in [
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/apps/..%2F..%2FCargo.toml",
        "/..%5cCargo.toml",
        "/../registry-src/registry.toml",
        "/_headers",
        "/.mpk-registry",
    ] {
        let r = get(fx.server.port(), target);
        assert_eq!(r.status, 404, "{target}");
        assert!(!r.text().contains("secret"), "{target}");
        assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    }
}

#[test]
fn a_preflight_is_answered_on_any_path() {
    let fx = fixture();
    for target in [
        "/api/v2/bundles?package=com.calimero.chat",
        "/api/v2/bundles/com.calimero.chat/1.0.0",
        "/artifacts/com.calimero.chat/1.0.0/com.calimero.chat-1.0.0.mpk",
        "/nope",
    ] {
        let r = request(fx.server.port(), "OPTIONS", target);
        assert_eq!(r.status, 204, "{target}");
        assert!(r.body.is_empty(), "{target}");
        for (name, value) in [
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"),
            (
                "Access-Control-Allow-Headers",
                "Content-Type, Authorization",
            ),
            ("Access-Control-Max-Age", "86400"),
        ] {
            assert_eq!(r.header(name), Some(value), "{target}: {name}");
        }
    }
}

#[test]
fn head_answers_as_get_without_the_body() {
    let fx = fixture();
    for target in [
        "/api/v2/bundles?package=com.calimero.chat",
        "/api/v2/bundles?package=com.calimero.chat&version=9.9.9",
        "/api/healthz",
    ] {
        let got = get(fx.server.port(), target);
        let head = request(fx.server.port(), "HEAD", target);
        assert_eq!(head.status, got.status, "{target}");
        assert!(head.body.is_empty(), "{target}");
        for name in [
            "Content-Type",
            "Content-Length",
            "Access-Control-Allow-Origin",
        ] {
            assert_eq!(head.header(name), got.header(name), "{target}: {name}");
        }
    }
}

#[test]
fn other_methods_are_refused() {
    let fx = fixture();
    for method in ["POST", "PUT", "DELETE"] {
        let r = request(fx.server.port(), method, "/api/v2/bundles");
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("Allow"), Some("GET, HEAD, OPTIONS"));
    }
}

#[test]
fn a_slow_download_does_not_hold_up_other_requests() {
    let fx = fixture();
    let port = fx.server.port();
    // Bigger than any socket buffer, so the answer blocks until it is read.
    let big = fx.site.join("artifacts/big.mpk");
    std::fs::write(&big, vec![7u8; 32 << 20]).unwrap();
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stalled,
        "GET /artifacts/big.mpk HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 12];
    stalled.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    let answers: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| s.spawn(|| get(port, "/api/v2/bundles").status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(answers, [200; 16]);

    let mut rest = Vec::new();
    stalled.read_to_end(&mut rest).unwrap();
    let body_start = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(rest.len() - body_start, 32 << 20);
}

#[test]
fn a_folder_that_is_not_a_site_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let e = serve::bind(dir.path(), 0).err().unwrap();
    assert!(format!("{e:#}").contains("index.json"), "{e:#}");
    let e = serve::bind(&dir.path().join("missing"), 0).err().unwrap();
    assert!(format!("{e:#}").contains("no such folder"), "{e:#}");
}

/// What a read-API request is, for the differences from the hosted API the site may show
/// (tests/fixtures/hosted-api/README.md).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// The list, or the list filtered by developer or author.
    List,
    Package,
    AllVersions,
    Version,
    /// `GET /api/v2/bundles/P/V`.
    Bundle,
    Health,
}

fn kind(request: &str) -> Kind {
    let Some(query) = request.strip_prefix("/api/v2/bundles?") else {
        return match request {
            "/api/healthz" => Kind::Health,
            "/api/v2/bundles" => Kind::List,
            _ => Kind::Bundle,
        };
    };
    let has = |key: &str| query.split('&').any(|p| p.starts_with(&format!("{key}=")));
    match (has("package"), has("version"), has("all_versions")) {
        (true, true, _) => Kind::Version,
        (true, false, true) => Kind::AllVersions,
        (true, false, false) => Kind::Package,
        (false, ..) => Kind::List,
    }
}

/// The signed manifest of every bundle of the sample registry, by `package@version`, read
/// from the bundles themselves.
fn source_manifests() -> BTreeMap<String, Map<String, Value>> {
    let mut manifests = BTreeMap::new();
    for entry in walkdir::WalkDir::new(sample_source()) {
        let path = entry.unwrap().into_path();
        if path.extension().is_some_and(|e| e == "mpk") {
            let bytes = bundle_manifest(&std::fs::read(&path).unwrap());
            let manifest: Map<String, Value> = serde_json::from_slice(&bytes).unwrap();
            let key =
                format!("{}@{}", manifest["package"], manifest["appVersion"]).replace('"', "");
            manifests.insert(key, manifest);
        }
    }
    manifests
}

/// What the comparison with the hosted answers needs to know.
struct Hosted {
    manifests: BTreeMap<String, Map<String, Value>>,
    /// The catalog's latest of each package: what the site lists where the hosted API lists
    /// the highest version.
    latest: BTreeMap<String, String>,
    /// Whether each `package@version` is yanked, as the hosted `all_versions` answers say.
    yanked: BTreeMap<String, bool>,
}

impl Hosted {
    /// The hosted item `item` spelled out: the manifest `$bundle` names, and its other fields.
    fn expand(&self, item: &Value, kind: Kind) -> Map<String, Value> {
        let mut fields = item.as_object().expect("an object").clone();
        let Some(Value::String(bundle)) = fields.remove("$bundle") else {
            return fields;
        };
        let (package, mut version) = bundle.split_once('@').unwrap();
        if kind == Kind::List {
            version = &self.latest[package];
        }
        let mut expanded = self.manifests[&format!("{package}@{version}")].clone();
        expanded.extend(fields);
        expanded
    }

    /// Compares one item of the site's answer with the hosted one, field by field, allowing
    /// only the differences the fixtures' README names.
    fn compare_item(&self, site: &Map<String, Value>, hosted: &Map<String, Value>, kind: Kind) {
        let coordinates = format!("{}@{}", site["package"], site["appVersion"]).replace('"', "");
        let keys: std::collections::BTreeSet<&String> = site.keys().chain(hosted.keys()).collect();
        for key in keys {
            let (got, want) = (site.get(key), hosted.get(key));
            let label = format!("{coordinates}: {key}");
            match key.as_str() {
                "downloads" => {
                    assert!(want.is_some_and(Value::is_u64), "{label}");
                    assert_eq!(got, Some(&json!(0)), "{label}");
                }
                "verified" => {
                    assert!(want.is_some_and(Value::is_boolean), "{label}");
                    assert_eq!(got, Some(&json!(true)), "{label}");
                }
                "yanked" if want.is_none() && matches!(kind, Kind::Package | Kind::Version) => {
                    assert_eq!(got, Some(&json!(self.yanked[&coordinates])), "{label}");
                }
                "min_runtime_version" if want.is_none() && kind == Kind::Bundle => {
                    assert_eq!(got, site.get("minRuntimeVersion"), "{label}");
                }
                _ => assert_eq!(got, want, "{label}"),
            }
        }
    }

    fn compare(&self, site: &Value, hosted: &Value, kind: Kind, request: &str) {
        match (site, hosted) {
            (Value::Array(site), Value::Array(hosted)) => {
                assert_eq!(site.len(), hosted.len(), "{request}");
                for (s, h) in site.iter().zip(hosted) {
                    let s = s.as_object().expect("items are objects");
                    self.compare_item(s, &self.expand(h, kind), kind);
                }
            }
            (Value::Object(site), Value::Object(_)) if hosted.get("$bundle").is_some() => {
                self.compare_item(site, &self.expand(hosted, kind), kind);
            }
            (Value::Object(site), Value::Object(hosted)) if kind == Kind::Health => {
                let mut hosted = hosted.clone();
                assert!(hosted.remove("timestamp").is_some(), "{request}");
                assert_eq!(site, &hosted, "{request}");
            }
            _ => assert_eq!(site, hosted, "{request}"),
        }
    }
}

#[test]
fn every_answer_matches_the_hosted_api() {
    let fx = fixture();
    let folder = repo_path("tests/fixtures/hosted-api");
    let mut fixtures: Vec<Value> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    fixtures.sort_by_key(|f| f["request"].as_str().unwrap().to_owned());
    assert!(fixtures.len() >= 19, "{} fixtures", fixtures.len());

    let catalog: Value =
        serde_json::from_slice(&std::fs::read(fx.site.join("index.json")).unwrap()).unwrap();
    let latest = catalog["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let version = a["latestVersion"].as_str().unwrap();
            (
                a["package"].as_str().unwrap().to_owned(),
                version.to_owned(),
            )
        })
        .collect();
    let yanked = fixtures
        .iter()
        .filter_map(|f| f["body"].as_array())
        .flatten()
        .filter_map(|i| Some((i["$bundle"].as_str()?.to_owned(), i["yanked"].as_bool()?)))
        .collect();
    let hosted = Hosted {
        manifests: source_manifests(),
        latest,
        yanked,
    };

    for fixture in &fixtures {
        let request = fixture["request"].as_str().unwrap();
        let r = get(fx.server.port(), request);
        assert_eq!(r.status, fixture["status"], "{request}");
        assert_eq!(r.header("Content-Type"), Some(JSON), "{request}");
        assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
        hosted.compare(&r.json(), &fixture["body"], kind(request), request);
    }
}

/// One rule of a `_redirects` file.
#[derive(Debug)]
struct NetlifyRule {
    from: String,
    query: Vec<(String, String)>,
    to: String,
    status: u16,
    force: bool,
}

fn parse_netlify_rules(text: &str) -> Vec<NetlifyRule> {
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (last, rest) = fields.split_last().expect("a rule has fields");
            let status = last.trim_end_matches('!');
            NetlifyRule {
                from: rest[0].to_owned(),
                query: rest[1..rest.len() - 1]
                    .iter()
                    .map(|q| {
                        let (k, v) = q.split_once('=').expect("key=value");
                        (k.to_owned(), v.to_owned())
                    })
                    .collect(),
                to: rest[rest.len() - 1].to_owned(),
                status: status.parse().expect("a status"),
                force: last.ends_with('!'),
            }
        })
        .collect()
}

/// `%XX` decoded, and `+` as a space when `form`.
fn decode(s: &str, form: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' if form => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// The status and site file Netlify answers `GET /api/v2/bundles?query` with, as this model of
/// Netlify has it (README, "The read API on static hosts", lists what is assumed): the first
/// forced rule whose every condition holds wins; `key=:name` holds when the request's first
/// `key` has a value, `key=value` when that value, decoded, is `value` decoded; the target is
/// decoded once into a file path; no rule, the list.
fn netlify_answer(rules: &[NetlifyRule], query: &str) -> (u16, String) {
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k, true), decode(v, true))
        })
        .collect();
    let value = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let holds = |(key, wanted): &(String, String)| match value(key) {
        Some(v) => wanted.starts_with(':') || decode(wanted, false) == v,
        None => false,
    };
    rules
        .iter()
        .filter(|r| r.force && r.from == "/api/v2/bundles")
        .find(|r| r.query.iter().all(holds))
        .map(|r| (r.status, decode(&r.to, false)[1..].to_owned()))
        .unwrap_or((200, "api/v2/bundles.html".to_owned()))
}

#[test]
fn netlify_rules_answer_every_query_as_serve_does() {
    let fx = fixture();
    let rules = parse_netlify_rules(&std::fs::read_to_string(fx.site.join("_redirects")).unwrap());
    let samples = signer_of(&fx, "com.calimero.chat");
    let corp = signer_of(&fx, "com.example.workspace");
    let mut queries: Vec<String> = [
        "",
        "other=1",
        "all_versions=true",
        "all_versions=true&author=Calimero+samples",
        "package=com.example.nothing",
        "package=com.example.nothing&all_versions=true",
        "package=com.example.nothing&version=1.0.0",
        "package=../x",
        "package=a/b",
        "package=%2e%2e",
        "package=&author=Example+Corp",
        "author=Calimero+samples",
        "author=Calimero%20samples",
        "author=Example+Corp",
        "author=Nobody",
        "developer=did:key:z6MkNobody",
        "developer=did:key:z6MkNobody&author=Example+Corp",
    ]
    .map(String::from)
    .to_vec();
    for signer in [&samples, &corp] {
        queries.push(format!("developer={signer}"));
        queries.push(format!("developer={}", signer.replace(':', "%3A")));
        queries.push(format!("author=Example+Corp&developer={signer}"));
        queries.push(format!("developer={signer}&package=com.calimero.chat"));
    }
    for (package, versions) in [
        ("com.calimero.chat", &["1.0.0", "1.1.0-beta.1"][..]),
        ("com.calimero.kv-store", &["0.1.0", "0.2.0", "1.0.0"][..]),
        ("com.example.workspace", &["0.3.0"][..]),
    ] {
        queries.push(format!("package={package}"));
        queries.push(format!("package={package}&all_versions=true"));
        queries.push(format!("all_versions=true&package={package}"));
        queries.push(format!("package={package}&version=9.9.9"));
        queries.push(format!("package={package}&version=9.9.9&all_versions=true"));
        for version in versions {
            queries.push(format!("package={package}&version={version}"));
            queries.push(format!(
                "version={version}&all_versions=true&package={package}"
            ));
        }
    }
    for query in &queries {
        let (status, file) = netlify_answer(&rules, query);
        let served = get(fx.server.port(), &format!("/api/v2/bundles?{query}"));
        let netlify = std::fs::read_to_string(fx.site.join(&file))
            .unwrap_or_else(|e| panic!("{query}: Netlify would rewrite to {file}: {e}"));
        assert_eq!((served.status, served.text()), (status, netlify), "{query}");
    }
}
