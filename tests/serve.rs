//! `serve` over real HTTP: the sample registry is built into a temporary folder, served on a
//! free port of 127.0.0.1, and asked what Calimero clients ask (spec §5).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mpk_registry::serve::{self, Running};
use mpk_registry::site::{self, BuildOptions};
use serde_json::Value;

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
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("registry-src"),
        &src,
    );
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

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
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

#[test]
fn package_query_gives_one_element() {
    let fx = fixture();
    let r = get(
        fx.server.port(),
        "/api/v2/bundles?package=com.calimero.kv-store",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some(JSON));
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    let list = r.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["package"], "com.calimero.kv-store");
    assert_eq!(list[0]["appVersion"], "1.0.0");
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

#[test]
fn an_unknown_package_is_not_found_as_json() {
    let fx = fixture();
    for target in [
        "/api/v2/bundles?package=com.example.nothing",
        "/api/v2/bundles?package=com.example.nothing&all_versions=true",
    ] {
        assert_not_found_json(&fx, target);
    }
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
fn other_methods_are_refused() {
    let fx = fixture();
    let r = request(fx.server.port(), "POST", "/api/v2/bundles");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD"));
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
