//! `serve`: a local preview of a built site, and the reference implementation of the read API's
//! request table (docs/read-api.md) that every host's rules are compared against.
//!
//! [`BuiltSite::answer`] resolves a method and a request target to a file of the site and a status:
//! `OPTIONS` is a CORS preflight, `GET /api/v2/bundles?…` is answered from the API's files by
//! the contract's query table, other paths as static hosts answer them (the file, `x.html`,
//! `x/index.html`, else `404.html`). Headers come from the site's own `_headers`, so the
//! preview sends what hosts that read it send.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{anyhow, bail, Context, Result};

use crate::manifest::is_coordinate;
use crate::site::hosting::{self, HeaderRule};
use crate::site::paths;

/// The path of the read API's list, and of its queries.
const LIST: &str = "/api/v2/bundles";
/// The list's file.
const LIST_FILE: &str = "api/v2/bundles.html";
/// What an unknown version, or an unknown path under the list, answers (with 404).
const API_NOT_FOUND: &str = "api/v2/not-found.json";
/// What a filter that matches nothing answers.
const EMPTY: &str = "api/v2/empty.json";
const INVALID_PARAMS: &str = "api/v2/invalid-params.json";
/// The page for everything else that does not exist.
const NOT_FOUND_PAGE: &str = "/404.html";
/// Requests answered at once; more wait for a free worker.
const WORKERS: usize = 8;

/// Serves `dir` on 127.0.0.1:`port` (0 picks a free port) until the process is stopped.
/// Prints the address it listens on first, so scripts can read the port.
pub fn serve(dir: &Path, port: u16) -> Result<()> {
    let server = bind(dir, port)?.logging(true);
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "serving {} on {}", dir.display(), server.url())?;
    stdout.flush()?;
    drop(stdout);
    server.run();
    Ok(())
}

/// Opens the site in `dir` and listens on 127.0.0.1:`port`; nothing is answered until
/// [`Server::run`] or [`Server::start`].
pub fn bind(dir: &Path, port: u16) -> Result<Server> {
    let site = BuiltSite::open(dir)?;
    let http = tiny_http::Server::http(("127.0.0.1", port))
        .map_err(|e| anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let port = http
        .server_addr()
        .to_ip()
        .map(|addr| addr.port())
        .context("the server is not listening on an IP address")?;
    Ok(Server {
        http: Arc::new(http),
        site: Arc::new(site),
        port,
        log: false,
    })
}

/// A site bound to a port.
pub struct Server {
    http: Arc<tiny_http::Server>,
    site: Arc<BuiltSite>,
    port: u16,
    log: bool,
}

impl Server {
    /// The port it listens on (the one picked, when 0 was asked for).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Whether to print one line per request on stderr.
    pub fn logging(mut self, on: bool) -> Server {
        self.log = on;
        self
    }

    /// Answers requests on background threads until the handle is stopped or dropped.
    pub fn start(self) -> Running {
        let stopping = Arc::new(AtomicBool::new(false));
        let workers = (0..WORKERS)
            .map(|_| {
                let (http, site, stopping) =
                    (self.http.clone(), self.site.clone(), stopping.clone());
                let log = self.log;
                std::thread::spawn(move || loop {
                    match http.recv() {
                        Ok(request) => respond(&site, request, log),
                        Err(_) if stopping.load(Ordering::SeqCst) => break,
                        Err(_) => {}
                    }
                })
            })
            .collect();
        Running {
            http: self.http,
            port: self.port,
            stopping,
            workers,
        }
    }

    /// Answers requests until the process is stopped.
    pub fn run(self) {
        let mut running = self.start();
        for worker in std::mem::take(&mut running.workers) {
            let _ = worker.join();
        }
    }
}

/// A server answering on background threads; stops when dropped.
pub struct Running {
    http: Arc<tiny_http::Server>,
    port: u16,
    stopping: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Stops answering (requests being answered are finished first) and closes the port.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Running {
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

/// A built site and the header rules it ships.
#[derive(Debug)]
pub struct BuiltSite {
    root: PathBuf,
    headers: Vec<HeaderRule>,
}

/// How a request is answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    /// Every header to send, `Content-Type` included.
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A file of the site, streamed.
    File(PathBuf),
    /// A short message of the server's own.
    Text(String),
    Empty,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Where a site path led.
enum Found {
    File(PathBuf),
    /// A folder asked for without its trailing slash: its pages link relative to `path/`.
    Folder,
}

impl BuiltSite {
    /// Opens a site written by `build`, with its `_headers` (none if absent).
    pub fn open(dir: &Path) -> Result<BuiltSite> {
        if !dir.is_dir() {
            bail!(
                "cannot serve {}: no such folder (write a site there with `mpk-registry build -o {}`)",
                dir.display(),
                dir.display()
            );
        }
        if !dir.join("index.json").is_file() {
            bail!(
                "cannot serve {}: it has no index.json, so it is not a site written by `mpk-registry build`",
                dir.display()
            );
        }
        let path = dir.join("_headers");
        let headers = match fs::read_to_string(&path) {
            Ok(text) => hosting::parse_headers(&text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(BuiltSite {
            root: dir.to_path_buf(),
            headers,
        })
    }

    /// The answer to `method target`, where `target` is the request line's path and query.
    pub fn answer(&self, method: &str, target: &str) -> Answer {
        match method {
            "GET" | "HEAD" => self.get(target),
            "OPTIONS" => Answer {
                status: 204,
                headers: hosting::PREFLIGHT
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                body: Body::Empty,
            },
            _ => Answer {
                status: 405,
                headers: vec![
                    ("Allow".into(), "GET, HEAD, OPTIONS".into()),
                    ("Access-Control-Allow-Origin".into(), "*".into()),
                    ("Content-Type".into(), "text/plain; charset=utf-8".into()),
                ],
                body: Body::Text("405 method not allowed: this is a static site\n".into()),
            },
        }
    }

    /// The answer to `GET target` (and to `HEAD`, without its body).
    fn get(&self, target: &str) -> Answer {
        let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let raw_path = raw_path.split_once('#').map_or(raw_path, |(p, _)| p);
        let raw_query = raw_query.split_once('#').map_or(raw_query, |(q, _)| q);
        let Some(path) = decode_path(raw_path) else {
            return self.not_found(raw_path);
        };
        if path == LIST {
            let (status, rel) = self.list_query(&Query::parse(raw_query));
            return self.api_answer(&path, status, &rel);
        }

        match self.lookup(&path) {
            Some(Found::File(file)) => return self.file_answer(&path, 200, file),
            Some(Found::Folder) => {
                let mut location = format!("{path}/");
                if !raw_query.is_empty() {
                    location = format!("{location}?{raw_query}");
                }
                let mut headers = hosting::headers_for(&self.headers, &path);
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case("Content-Type"));
                headers.push(("Location".into(), location));
                return Answer {
                    status: 301,
                    headers,
                    body: Body::Empty,
                };
            }
            None => {}
        }

        if path.starts_with(&format!("{LIST}/")) {
            return self.api_answer(&path, 404, API_NOT_FOUND);
        }
        self.not_found(&path)
    }

    /// The status and file answering `GET /api/v2/bundles?query`: the first row of the
    /// contract's query table that matches.
    fn list_query(&self, query: &Query) -> (u16, String) {
        let found = |rel: String| self.file(&rel).is_some().then_some(rel);
        // Unknown values, and values that cannot name a file, answer `[]`.
        let or_empty = |rel: Option<String>| (200, rel.unwrap_or_else(|| EMPTY.into()));
        let all_versions = query.get("all_versions") == Some("true");
        if let Some(package) = query.get("package") {
            let package = Some(package).filter(|p| is_coordinate(p));
            if let Some(version) = query.get("version") {
                let file = package
                    .filter(|_| is_coordinate(version))
                    .and_then(|p| found(paths::api_package_version(p, version)));
                return file.map_or((404, API_NOT_FOUND.into()), |rel| (200, rel));
            }
            let file = match all_versions {
                true => package.map(paths::api_package_all),
                false => package.map(paths::api_package_latest),
            };
            return or_empty(file.and_then(found));
        }
        if all_versions {
            return (400, INVALID_PARAMS.into());
        }
        if let Some(developer) = query.get("developer") {
            return or_empty(found(paths::api_developer(developer)));
        }
        if let Some(author) = query.get("author") {
            return or_empty(found(paths::api_author(author)));
        }
        (200, LIST_FILE.into())
    }

    /// The API file `rel` for `path` with `status`; the 404 page if the site lacks it.
    fn api_answer(&self, path: &str, status: u16, rel: &str) -> Answer {
        match self.file(rel) {
            Some(file) => self.file_answer(path, status, file),
            None => self.not_found(path),
        }
    }

    /// A file of the site served for `path`: its type by extension, then the `_headers` rules.
    fn file_answer(&self, path: &str, status: u16, file: PathBuf) -> Answer {
        let mut headers = vec![("Content-Type".to_owned(), content_type(&file).to_owned())];
        for (name, value) in hosting::headers_for(&self.headers, path) {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
            headers.push((name, value));
        }
        Answer {
            status,
            headers,
            body: Body::File(file),
        }
    }

    /// `404.html` for `path`. The rules of `path` still add their headers (CORS on every
    /// response), but not the type, caching or disposition of what would have been there: a
    /// missing artifact is an HTML page to show, and not one to cache for a year.
    fn not_found(&self, path: &str) -> Answer {
        let mut headers: Vec<(String, String)> = hosting::headers_for(&self.headers, path)
            .into_iter()
            .filter(|(n, _)| {
                !["Content-Type", "Cache-Control", "Content-Disposition"]
                    .iter()
                    .any(|own| n.eq_ignore_ascii_case(own))
            })
            .collect();
        let (content_type, body) = match self.file(NOT_FOUND_PAGE) {
            Some(file) => (self::content_type(&file), Body::File(file)),
            None => (
                "text/plain; charset=utf-8",
                Body::Text("404 not found\n".into()),
            ),
        };
        headers.insert(0, ("Content-Type".into(), content_type.into()));
        Answer {
            status: 404,
            headers,
            body,
        }
    }

    /// The file at site path `path` exactly, if it may be served.
    fn file(&self, path: &str) -> Option<PathBuf> {
        let file = self.fs_path(path)?;
        file.is_file().then_some(file)
    }

    /// The file a host serves for `path`: the file itself; for a folder, `index.html` (asked
    /// for with the trailing slash) or else `folder.html`; else `path.html`.
    fn lookup(&self, path: &str) -> Option<Found> {
        let fs_path = self.fs_path(path)?;
        if path.ends_with('/') {
            let index = fs_path.join("index.html");
            return index.is_file().then_some(Found::File(index));
        }
        if fs_path.is_file() {
            return Some(Found::File(fs_path));
        }
        let html = self
            .fs_path(&format!("{path}.html"))
            .filter(|f| f.is_file());
        if fs_path.is_dir() {
            // A folder beside its `x.html` (as `/api/v2/bundles` is) is answered by the file,
            // never redirected: an API answer must not depend on a client following one.
            return match html {
                Some(file) => Some(Found::File(file)),
                None => fs_path
                    .join("index.html")
                    .is_file()
                    .then_some(Found::Folder),
            };
        }
        html.map(Found::File)
    }

    /// Where site path `path` lives on disk, if it may be served at all: no hidden files,
    /// and not the host rule files, which hosts read but do not publish.
    fn fs_path(&self, path: &str) -> Option<PathBuf> {
        let mut fs_path = self.root.clone();
        for (i, segment) in path.split('/').filter(|s| !s.is_empty()).enumerate() {
            if segment.starts_with('.')
                || segment.contains(['\\', '\0'])
                || (i == 0 && host_rules().contains(&segment))
            {
                return None;
            }
            fs_path.push(segment);
        }
        Some(fs_path)
    }
}

/// Answers one request over HTTP.
fn respond(site: &BuiltSite, request: tiny_http::Request, log: bool) {
    let answer = site.answer(request.method().as_str(), request.url());
    if log {
        eprintln!("{} {} {}", request.method(), request.url(), answer.status);
    }
    let headers: Vec<tiny_http::Header> = answer
        .headers
        .iter()
        .filter_map(|(n, v)| tiny_http::Header::from_bytes(n.as_bytes(), v.as_bytes()).ok())
        .collect();
    let status = tiny_http::StatusCode(answer.status);
    // A known length is always sent as Content-Length, never chunked: downloaders show
    // progress and check sizes by it.
    let result = match answer.body {
        Body::File(path) => match File::open(&path) {
            Ok(file) => {
                let length = file.metadata().ok().map(|m| m.len() as usize);
                request.respond(
                    tiny_http::Response::new(status, headers, file, length, None)
                        .with_chunked_threshold(usize::MAX),
                )
            }
            Err(e) => request.respond(
                tiny_http::Response::from_string(format!(
                    "500 cannot read {}: {e}\n",
                    path.display()
                ))
                .with_status_code(500),
            ),
        },
        Body::Text(text) => {
            let length = text.len();
            request.respond(
                tiny_http::Response::new(status, headers, text.as_bytes(), Some(length), None)
                    .with_chunked_threshold(usize::MAX),
            )
        }
        Body::Empty => request.respond(tiny_http::Response::new(
            status,
            headers,
            io::empty(),
            Some(0),
            None,
        )),
    };
    if let (Err(e), true) = (result, log) {
        eprintln!("  could not answer: {e}");
    }
}

/// The byte two hex digits spell.
fn hex_byte(digits: &[u8]) -> Option<u8> {
    let value = |d: u8| char::from(d).to_digit(16);
    Some((value(digits[0])? * 16 + value(digits[1])?) as u8)
}

/// The media type a host gives a file by its extension.
fn content_type(file: &Path) -> &'static str {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "xml" => "application/xml; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "mpk" => "application/gzip",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// The decoded path of a request, or `None` when it is malformed or climbs out of the site
/// (`..`, NUL, backslash), which is answered as not found.
fn decode_path(raw: &str) -> Option<String> {
    if !raw.starts_with('/') {
        return None;
    }
    let path = String::from_utf8(percent_decode(raw, false)?).ok()?;
    if path.contains(['\0', '\\']) || path.split('/').any(|s| s == "..") {
        return None;
    }
    Some(path)
}

/// A query string parsed as a form, as browsers' `URLSearchParams` parse it.
struct Query(Vec<(String, String)>);

impl Query {
    /// `a=1&b=2` as decoded pairs: `+` is a space, a broken escape is kept as it is, bytes that
    /// are not UTF-8 become U+FFFD.
    fn parse(raw: &str) -> Query {
        let decode = |s: &str| {
            let bytes = percent_decode(s, true).unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let pairs = raw
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(k), decode(v))
            })
            .collect();
        Query(pairs)
    }

    /// The value of the first occurrence of `key`; none when that value is empty.
    fn get(&self, key: &str) -> Option<&str> {
        let (_, value) = self.0.iter().find(|(k, _)| k == key)?;
        Some(value.as_str()).filter(|v| !v.is_empty())
    }
}

/// `%XX` escapes (and `+` when `form`) decoded; `None` for a broken escape, which a path
/// refuses and a form keeps as it is.
fn percent_decode(s: &str, form: bool) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match bytes.get(i + 1..i + 3).and_then(hex_byte) {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None if form => {
                    out.push(b'%');
                    i += 1;
                }
                None => return None,
            },
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
    Some(out)
}

/// The host rule files at the site's root, which hosts read and do not publish.
fn host_rules() -> Vec<&'static str> {
    paths::site_files()
        .into_iter()
        .filter(|(_, kind)| kind.is_host_rule())
        .map(|(rel, _)| rel)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small site with the header rules `build` writes: package a.b, version 1.0.0, by
    /// signer did:key:zA and author "Ann Example".
    fn site() -> (tempfile::TempDir, BuiltSite) {
        let dir = tempfile::tempdir().unwrap();
        let developer = paths::api_developer("did:key:zA");
        let author = paths::api_author("Ann Example");
        let files = [
            ("index.json", "{}"),
            ("index.html", "<h1>catalog</h1>"),
            ("404.html", "<h1>not found</h1>"),
            ("apps/a.b/index.html", "<h1>a.b</h1>"),
            ("api/healthz.html", r#"{"status":"ok"}"#),
            ("api/v2/bundles.html", "[1]"),
            ("api/v2/bundles/index.html", "[1]"),
            ("api/v2/bundles/a.b/1.0.0.html", "{}"),
            ("api/v2/packages/a.b/latest.json", "[1]"),
            ("api/v2/packages/a.b/all.json", "[1, 0]"),
            ("api/v2/packages/a.b/versions/1.0.0.json", "[1]"),
            (&developer, "[1]"),
            (&author, "[1]"),
            ("api/v2/empty.json", "[]"),
            ("api/v2/not-found.json", r#"{"error":"not_found"}"#),
            (
                "api/v2/invalid-params.json",
                r#"{"error":"invalid_params"}"#,
            ),
            ("artifacts/a.b/1.0.0/a.b-1.0.0.mpk", "gzip bytes"),
            ("assets/style.css", "body{}"),
            (".mpk-registry", "marker"),
            // Files no query may reach: their names are not names.
            ("api/v2/packages/a b/latest.json", "[1]"),
            ("api/v2/packages/a b/versions/1.0.0.json", "[1]"),
            ("api/v2/packages/a/b/latest.json", "[1]"),
            ("api/v2/packages/a/b/versions/1.0.0.json", "[1]"),
            ("api/v2/packages/a.b/versions/9 9.json", "[1]"),
        ];
        for (rel, text) in files {
            let path = dir.path().join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        let rules = hosting::render_headers(&hosting::header_rules());
        fs::write(dir.path().join("_headers"), rules).unwrap();
        let site = BuiltSite::open(dir.path()).unwrap();
        (dir, site)
    }

    /// `(status, file relative to the site, Content-Type)` of `GET target`.
    fn get(site: &BuiltSite, target: &str) -> (u16, String, String) {
        let answer = site.answer("GET", target);
        let file = match &answer.body {
            Body::File(f) => f
                .strip_prefix(&site.root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/"),
            Body::Text(t) => format!("text:{t}"),
            Body::Empty => format!("location:{}", answer.header("Location").unwrap_or("")),
        };
        let content_type = answer.header("Content-Type").unwrap_or("").to_owned();
        (answer.status, file, content_type)
    }

    /// `(status, file)` of `GET /api/v2/bundles?query`, always JSON.
    fn query(site: &BuiltSite, query: &str) -> (u16, String) {
        let (status, file, content_type) = get(site, &format!("/api/v2/bundles?{query}"));
        assert_eq!(content_type, JSON, "{query}");
        (status, file)
    }

    const JSON: &str = "application/json; charset=utf-8";
    const HTML: &str = "text/html; charset=utf-8";

    fn answer(status: u16, file: &str) -> (u16, String) {
        (status, file.to_owned())
    }

    #[test]
    fn package_and_version_answer_that_version() {
        let (_dir, site) = site();
        assert_eq!(
            query(&site, "package=a.b&version=1.0.0"),
            answer(200, "api/v2/packages/a.b/versions/1.0.0.json")
        );
    }

    #[test]
    fn an_unknown_version_is_404_not_found() {
        let (_dir, site) = site();
        for q in ["package=a.b&version=9.9.9", "package=x.y&version=1.0.0"] {
            assert_eq!(query(&site, q), answer(404, "api/v2/not-found.json"), "{q}");
        }
    }

    #[test]
    fn package_and_all_versions_answer_every_version() {
        let (_dir, site) = site();
        for q in [
            "package=a.b&all_versions=true",
            "all_versions=true&package=a%2Eb",
        ] {
            assert_eq!(
                query(&site, q),
                answer(200, "api/v2/packages/a.b/all.json"),
                "{q}"
            );
        }
    }

    #[test]
    fn package_answers_its_latest_file() {
        let (_dir, site) = site();
        for q in ["package=a.b", "package=a.b&all_versions=false"] {
            assert_eq!(
                query(&site, q),
                answer(200, "api/v2/packages/a.b/latest.json"),
                "{q}"
            );
        }
    }

    #[test]
    fn an_unknown_package_is_an_empty_list() {
        let (_dir, site) = site();
        for q in ["package=x.y", "package=x.y&all_versions=true"] {
            assert_eq!(query(&site, q), answer(200, "api/v2/empty.json"), "{q}");
        }
    }

    #[test]
    fn all_versions_without_a_package_is_400_invalid_params() {
        let (_dir, site) = site();
        for q in [
            "all_versions=true",
            "all_versions=true&developer=did:key:zA",
        ] {
            assert_eq!(
                query(&site, q),
                answer(400, "api/v2/invalid-params.json"),
                "{q}"
            );
        }
    }

    #[test]
    fn developer_answers_its_list() {
        let (_dir, site) = site();
        for q in ["developer=did:key:zA", "developer=did%3Akey%3AzA"] {
            assert_eq!(
                query(&site, q),
                (200, paths::api_developer("did:key:zA")),
                "{q}"
            );
        }
    }

    #[test]
    fn an_unknown_developer_is_an_empty_list() {
        let (_dir, site) = site();
        for q in ["developer=did:key:zB", "developer=did:key:za"] {
            assert_eq!(query(&site, q), answer(200, "api/v2/empty.json"), "{q}");
        }
    }

    #[test]
    fn author_answers_its_list() {
        let (_dir, site) = site();
        for q in ["author=Ann+Example", "author=Ann%20Example"] {
            assert_eq!(
                query(&site, q),
                (200, paths::api_author("Ann Example")),
                "{q}"
            );
        }
    }

    #[test]
    fn an_unknown_author_is_an_empty_list() {
        let (_dir, site) = site();
        for q in ["author=Bob", "author=ann+example"] {
            assert_eq!(query(&site, q), answer(200, "api/v2/empty.json"), "{q}");
        }
    }

    #[test]
    fn the_first_row_that_matches_wins() {
        let (_dir, site) = site();
        for (q, file) in [
            (
                "developer=did:key:zA&package=a.b",
                "api/v2/packages/a.b/latest.json",
            ),
            (
                "author=Bob&developer=did:key:zA",
                &paths::api_developer("did:key:zA"),
            ),
            ("author=Ann+Example&developer=nobody", "api/v2/empty.json"),
        ] {
            assert_eq!(query(&site, q), answer(200, file), "{q}");
        }
    }

    #[test]
    fn the_first_occurrence_of_a_key_counts_and_an_empty_value_is_none() {
        let (_dir, site) = site();
        for (q, file) in [
            ("package=a.b&package=x.y", "api/v2/packages/a.b/latest.json"),
            (
                "package=&developer=did:key:zA",
                &paths::api_developer("did:key:zA"),
            ),
            ("package=&package=a.b", "api/v2/bundles.html"),
            ("package=a.b&version=", "api/v2/packages/a.b/latest.json"),
        ] {
            assert_eq!(query(&site, q), answer(200, file), "{q}");
        }
    }

    #[test]
    fn any_other_query_is_the_list() {
        let (_dir, site) = site();
        for q in ["", "other=1", "all_versions=yes", "%zz=1&x"] {
            assert_eq!(query(&site, q), answer(200, "api/v2/bundles.html"), "{q}");
        }
    }

    #[test]
    fn values_that_cannot_name_a_file_are_unknown() {
        let (_dir, site) = site();
        let packages = [
            "..", ".", "%2e%2e", "../a.b", "a.b/..", "a+b", "a/b", "a%2Fb", "a.b%00",
        ];
        for package in packages {
            for (q, expected) in [
                (
                    format!("package={package}"),
                    answer(200, "api/v2/empty.json"),
                ),
                (
                    format!("package={package}&all_versions=true"),
                    answer(200, "api/v2/empty.json"),
                ),
                (
                    format!("package={package}&version=1.0.0"),
                    answer(404, "api/v2/not-found.json"),
                ),
            ] {
                assert_eq!(query(&site, &q), expected, "{q}");
            }
        }
        for version in ["9+9", "..%2F..%2Flatest", "."] {
            let q = format!("package=a.b&version={version}");
            assert_eq!(
                query(&site, &q),
                answer(404, "api/v2/not-found.json"),
                "{q}"
            );
        }
    }

    #[test]
    fn a_preflight_is_answered_on_any_path() {
        let (_dir, site) = site();
        for target in ["/api/v2/bundles?package=a.b", "/nope", "/../x", "/"] {
            let answer = site.answer("OPTIONS", target);
            assert_eq!(answer.status, 204, "{target}");
            assert_eq!(answer.body, Body::Empty);
            let expected: Vec<(String, String)> = [
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"),
                (
                    "Access-Control-Allow-Headers",
                    "Content-Type, Authorization",
                ),
                ("Access-Control-Max-Age", "86400"),
            ]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
            assert_eq!(answer.headers, expected, "{target}");
        }
    }

    #[test]
    fn head_is_answered_as_get() {
        let (_dir, site) = site();
        for target in ["/api/v2/bundles?package=a.b", "/nope", "/apps/a.b"] {
            assert_eq!(site.answer("HEAD", target), site.answer("GET", target));
        }
    }

    #[test]
    fn other_methods_are_405() {
        let (_dir, site) = site();
        for method in ["POST", "PUT", "DELETE", "PATCH", "TRACE"] {
            let answer = site.answer(method, "/api/v2/bundles");
            assert_eq!(answer.status, 405, "{method}");
            assert_eq!(answer.header("Allow"), Some("GET, HEAD, OPTIONS"));
            assert_eq!(answer.header("Access-Control-Allow-Origin"), Some("*"));
        }
    }

    #[test]
    fn health_is_answered_by_its_html_file_as_json() {
        let (_dir, site) = site();
        assert_eq!(
            get(&site, "/api/healthz"),
            (200, "api/healthz.html".into(), JSON.into())
        );
    }

    #[test]
    fn the_list_is_its_file_and_its_folder() {
        let (_dir, site) = site();
        assert_eq!(
            get(&site, "/api/v2/bundles"),
            (200, "api/v2/bundles.html".into(), JSON.into())
        );
        assert_eq!(
            get(&site, "/api/v2/bundles/"),
            (200, "api/v2/bundles/index.html".into(), JSON.into())
        );
    }

    #[test]
    fn a_version_is_answered_by_its_html_file_as_json() {
        let (_dir, site) = site();
        assert_eq!(
            get(&site, "/api/v2/bundles/a.b/1.0.0"),
            (200, "api/v2/bundles/a.b/1.0.0.html".into(), JSON.into())
        );
        assert_eq!(
            get(&site, "/api/v2/bundles/a.b/9.9.9"),
            (404, "api/v2/not-found.json".into(), JSON.into())
        );
        assert_eq!(
            get(&site, "/api/v2/bundles/x.y"),
            (404, "api/v2/not-found.json".into(), JSON.into())
        );
    }

    #[test]
    fn pages_folders_and_artifacts() {
        let (_dir, site) = site();
        assert_eq!(get(&site, "/"), (200, "index.html".into(), HTML.into()));
        assert_eq!(
            get(&site, "/index"),
            (200, "index.html".into(), HTML.into())
        );
        assert_eq!(
            get(&site, "/apps/a.b/"),
            (200, "apps/a.b/index.html".into(), HTML.into())
        );
        assert_eq!(
            get(&site, "/apps/a.b/index.html"),
            (200, "apps/a.b/index.html".into(), HTML.into())
        );
        assert_eq!(
            get(&site, "/assets/style.css"),
            (
                200,
                "assets/style.css".into(),
                "text/css; charset=utf-8".into()
            )
        );
        assert_eq!(
            get(&site, "/artifacts/a.b/1.0.0/a.b-1.0.0.mpk"),
            (
                200,
                "artifacts/a.b/1.0.0/a.b-1.0.0.mpk".into(),
                "application/gzip".into()
            )
        );
        assert_eq!(
            get(&site, "/artifacts/a%2Eb/1.0.0/a.b-1.0.0.mpk").0,
            200,
            "paths are percent-decoded"
        );
    }

    #[test]
    fn a_folder_without_its_slash_is_redirected_keeping_the_query() {
        let (_dir, site) = site();
        assert_eq!(get(&site, "/apps/a.b").1, "location:/apps/a.b/");
        assert_eq!(get(&site, "/apps/a.b?q=x").1, "location:/apps/a.b/?q=x");
        assert_eq!(get(&site, "/apps/a.b").0, 301);
    }

    #[test]
    fn every_answer_allows_any_origin() {
        let (_dir, site) = site();
        for target in [
            "/",
            "/index.json",
            "/api/v2/bundles?package=a.b",
            "/api/v2/bundles/a.b/9.9.9",
            "/artifacts/a.b/1.0.0/a.b-1.0.0.mpk",
            "/nope",
            "/../x",
            "/apps/a.b",
        ] {
            assert_eq!(
                site.answer("GET", target)
                    .header("Access-Control-Allow-Origin"),
                Some("*"),
                "{target}"
            );
        }
    }

    #[test]
    fn artifacts_are_cached_forever_but_their_404_is_not() {
        let (_dir, site) = site();
        let found = site.answer("GET", "/artifacts/a.b/1.0.0/a.b-1.0.0.mpk");
        assert_eq!(
            found.header("Cache-Control"),
            Some("public, max-age=31536000, immutable")
        );
        let missing = site.answer("GET", "/artifacts/a.b/9.9.9/a.b-9.9.9.mpk");
        assert_eq!(missing.status, 404);
        assert_eq!(missing.header("Content-Type"), Some(HTML));
        assert_eq!(missing.header("Cache-Control"), None);
    }

    #[test]
    fn artifacts_are_saved_as_files_but_their_404_is_a_page() {
        let (_dir, site) = site();
        let found = site.answer("GET", "/artifacts/a.b/1.0.0/a.b-1.0.0.mpk");
        assert_eq!(found.header("Content-Disposition"), Some("attachment"));
        let missing = site.answer("GET", "/artifacts/a.b/9.9.9/a.b-9.9.9.mpk");
        assert_eq!(missing.header("Content-Disposition"), None);
        // Nothing else is a download.
        let page = site.answer("GET", "/index.html");
        assert_eq!(page.header("Content-Disposition"), None);
    }

    #[test]
    fn anything_else_is_the_404_page() {
        let (_dir, site) = site();
        assert_eq!(get(&site, "/nope"), (404, "404.html".into(), HTML.into()));
        assert_eq!(
            get(&site, "/apps/x.y/"),
            (404, "404.html".into(), HTML.into())
        );
    }

    #[test]
    fn traversal_and_hidden_files_are_not_found() {
        let (_dir, site) = site();
        for target in [
            "/../Cargo.toml",
            "/%2e%2e/Cargo.toml",
            "/apps/..%2f..%2fCargo.toml",
            "/apps/../index.json",
            "/a%00b",
            "/..%5cCargo.toml",
            "/.mpk-registry",
            "/_headers",
            "/_redirects",
            "/_worker.js",
            "/%zz",
            "relative",
        ] {
            assert_eq!(get(&site, target).0, 404, "{target}");
            assert_eq!(get(&site, target).1, "404.html", "{target}");
        }
    }

    #[test]
    fn paths_are_decoded_and_broken_escapes_refused() {
        assert_eq!(decode_path("/a%20b").as_deref(), Some("/a b"));
        assert_eq!(decode_path("/a+b").as_deref(), Some("/a+b"));
        assert_eq!(decode_path("/a/%2E%2E/b"), None);
        assert_eq!(decode_path("/%"), None);
        assert_eq!(decode_path("/%+1"), None);
        assert_eq!(decode_path("/%ff"), None);
    }

    #[test]
    fn queries_are_decoded_as_forms() {
        let q = Query::parse("package=a.b&all_versions=true&x&y=a+b%21&z=100%&w=%ff");
        assert_eq!(
            q.0,
            vec![
                ("package".into(), "a.b".into()),
                ("all_versions".into(), "true".into()),
                ("x".into(), String::new()),
                ("y".into(), "a b!".into()),
                ("z".into(), "100%".into()),
                ("w".into(), "\u{fffd}".into()),
            ]
        );
    }

    #[test]
    fn a_folder_that_is_not_a_site_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = BuiltSite::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("no index.json"), "{e}");
        let e = BuiltSite::open(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such folder"), "{e}");
    }
}
