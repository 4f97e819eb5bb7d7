//! Signed registry sites served over real HTTP on 127.0.0.1, for the consumer-side checks.
//!
//! A [`Setup`] is a registry source in a git repository (fixed dates), a folder of named builds
//! of it, a folder that a small HTTP/1.1 file server serves (tests copy whole builds or single
//! files of a build into it, or change its bytes), an output folder and a trust state file.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use ed25519_dalek::SigningKey;
use mpk_registry::fetch::{self, FetchError, FetchOptions, Fetched, Refusal};
use mpk_registry::site::{self, BuildOptions, IndexSigning};
use serde_json::Value;

use super::bundle::{key, signer};
use super::registry::{copy_dir, Registry};

pub const DAY: i64 = 86_400;
/// The time of the first commit of every test registry: 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000;

/// The registry's index key.
pub fn index_key() -> SigningKey {
    key(0x51)
}

/// Another key, also listed in `index_keys` (a rotation target, or whoever got hold of it).
pub fn other_index_key() -> SigningKey {
    key(0x52)
}

// ---------------------------------------------------------------------------------------------
// A static file server

/// Serves the files below a folder, read at request time, over HTTP/1.1 (one request per
/// connection). Paths in `redirects` answer `302 Found` with the given `Location` instead, and
/// paths in `answers` their status line (`409 Conflict`) and body.
pub struct FileServer {
    port: u16,
    stopping: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
    pub redirects: Arc<Mutex<BTreeMap<String, String>>>,
    pub answers: Arc<Mutex<BTreeMap<String, (String, String)>>>,
}

impl FileServer {
    pub fn start(root: &Path) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let stopping = Arc::new(AtomicBool::new(false));
        let redirects = Arc::new(Mutex::new(BTreeMap::new()));
        let answers = Arc::new(Mutex::new(BTreeMap::new()));
        let worker = {
            let (root, stopping, redirects, answers) = (
                root.to_path_buf(),
                stopping.clone(),
                redirects.clone(),
                answers.clone(),
            );
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let _ = answer(stream, &root, &redirects, &answers);
                    }
                }
            })
        };
        FileServer {
            port,
            stopping,
            worker: Some(worker),
            redirects,
            answers,
        }
    }

    /// `http://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn answer(
    stream: TcpStream,
    root: &Path,
    redirects: &Mutex<BTreeMap<String, String>>,
    answers: &Mutex<BTreeMap<String, (String, String)>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let rel = path.trim_start_matches('/');
    let mut out = stream;
    let fixed = answers.lock().unwrap().get(rel).cloned();
    if let Some((status, body)) = fixed {
        return write!(
            out,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
    let location = redirects.lock().unwrap().get(rel).cloned();
    if let Some(location) = location {
        return write!(
            out,
            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
    let file = (method == "GET" && !rel.split('/').any(|s| s == ".." || s.is_empty()))
        .then(|| root.join(rel))
        .filter(|p| p.is_file())
        .and_then(|p| fs::read(p).ok());
    match file {
        Some(body) => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            out.write_all(&body)
        }
        None => write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// A registry, its builds, and a client

pub struct Setup {
    pub reg: Registry,
    /// Holds `builds/<name>`, `served/`, `out/` and `state/trust.json`.
    dir: tempfile::TempDir,
    pub server: FileServer,
}

impl Setup {
    /// A git-tracked registry source whose `registry.toml` lists both index keys.
    pub fn new() -> Setup {
        let reg = Registry::new();
        reg.git_init();
        reg.write(
            "registry.toml",
            format!(
                "title = \"Fetch tests\"\nindex_keys = [\"{}\", \"{}\"]\n",
                signer(&index_key()),
                signer(&other_index_key())
            ),
        );
        let dir = tempfile::tempdir().expect("temporary folder");
        fs::create_dir_all(dir.path().join("served")).unwrap();
        let server = FileServer::start(&dir.path().join("served"));
        Setup { reg, dir, server }
    }

    /// Commits everything under `registry-src` at unix time `at`.
    pub fn commit(&self, message: &str, at: i64) {
        self.reg.commit_at(&["registry-src"], message, at);
    }

    pub fn build_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join("builds").join(name)
    }

    pub fn served(&self) -> PathBuf {
        self.dir.path().join("served")
    }

    /// `name` in the folder holding this setup's builds, output and state.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state").join("trust.json")
    }

    /// Builds the committed source as build `name`, signed by `key` (unsigned when `None`),
    /// valid for 14 days from the HEAD commit.
    pub fn build(&self, name: &str, key: Option<&SigningKey>) -> PathBuf {
        self.build_with(name, key, 14 * DAY)
    }

    pub fn build_with(&self, name: &str, key: Option<&SigningKey>, expires_after: i64) -> PathBuf {
        let out = self.build_dir(name);
        let outcome = site::build(&BuildOptions {
            src: self.reg.src(),
            out: out.clone(),
            jobs: None,
            sign: key.map(|key| IndexSigning {
                key: key.clone(),
                version: None,
                expires_after,
            }),
            ..Default::default()
        })
        .expect("build runs");
        assert!(
            outcome.refused.is_empty(),
            "build refused: {:#?}",
            outcome.refused
        );
        out
    }

    /// Serves build `name` (a copy: the build's own files may be hard links into the source).
    pub fn serve(&self, name: &str) {
        let served = self.served();
        fs::remove_dir_all(&served).unwrap();
        fs::create_dir_all(&served).unwrap();
        copy_dir(&self.build_dir(name), &served);
    }

    /// Serves `rel` of build `from` in place of the served one.
    pub fn serve_file_from(&self, from: &str, rel: &str) {
        fs::copy(self.build_dir(from).join(rel), self.served().join(rel)).unwrap();
    }

    pub fn served_bytes(&self, rel: &str) -> Vec<u8> {
        fs::read(self.served().join(rel)).unwrap()
    }

    pub fn serve_bytes(&self, rel: &str, bytes: &[u8]) {
        let path = self.served().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    pub fn served_json(&self, rel: &str) -> Value {
        serde_json::from_slice(&self.served_bytes(rel)).unwrap()
    }

    pub fn serve_json(&self, rel: &str, value: &Value) {
        self.serve_bytes(rel, &mpk_registry::site::catalog::to_bytes(value));
    }

    /// Options for fetching `spec` over HTTP at `now`, with this setup's output and state.
    pub fn options(&self, spec: &str, now: i64) -> FetchOptions {
        FetchOptions {
            spec: spec.to_owned(),
            registry: self.server.url(),
            output: self.out(),
            state: Some(self.state()),
            now: Some(now),
            ..Default::default()
        }
    }

    #[allow(clippy::result_large_err)] // what `fetch::fetch` returns
    pub fn fetch(&self, spec: &str, now: i64) -> Result<Fetched, FetchError> {
        fetch::fetch(&self.options(spec, now))
    }

    /// Fetches and insists it worked.
    #[track_caller]
    pub fn fetch_ok(&self, options: &FetchOptions) -> Fetched {
        match fetch::fetch(options) {
            Ok(got) => got,
            Err(e) => panic!("expected {} to be fetched; {e}", options.spec),
        }
    }

    pub fn state_json(&self) -> Value {
        serde_json::from_slice(&fs::read(self.state()).expect("the state file exists")).unwrap()
    }

    /// The served registry's entry in the state file.
    pub fn pins(&self) -> Value {
        self.state_json()["registries"][self.server.url()].clone()
    }

    /// Names in the output folder (temporary files included).
    pub fn out_files(&self) -> Vec<String> {
        match fs::read_dir(self.out()) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                names
            }
            Err(_) => Vec::new(),
        }
    }
}

/// The refusal, failing the test on anything else.
#[track_caller]
pub fn refusal(result: Result<Fetched, FetchError>) -> Refusal {
    match result {
        Err(FetchError::Refused(refusal)) => refusal,
        Err(FetchError::Failed(e)) => panic!("expected a refusal, got a failure: {e:#}"),
        Ok(got) => panic!(
            "expected a refusal, but {} {} was fetched",
            got.package, got.version
        ),
    }
}

/// Asserts that a fetch was refused with a [`Refusal`] matching the pattern (and guard), which
/// is matched against a reference: fields bind as references.
macro_rules! assert_refusal {
    ($result:expr, $($pattern:tt)+) => {{
        let refusal = $crate::support::fetch::refusal($result);
        assert!(
            matches!(&refusal, $($pattern)+),
            "another refusal: {refusal:?}\n{refusal}"
        );
    }};
}
pub(crate) use assert_refusal;

/// The failure, failing the test on anything else.
#[track_caller]
pub fn failure(result: Result<Fetched, FetchError>) -> String {
    match result {
        Err(FetchError::Failed(e)) => format!("{e:#}"),
        Err(FetchError::Refused(reason)) => panic!("expected a failure, got a refusal: {reason}"),
        Ok(got) => panic!(
            "expected a failure, but {} {} was fetched",
            got.package, got.version
        ),
    }
}

/// `text` contains every one of `parts`.
#[track_caller]
pub fn assert_mentions(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
}
