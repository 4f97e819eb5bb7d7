//! Where files come from: a site served over HTTP(S), or a folder holding a built site. Either
//! way only plain relative paths are read, and no read is longer than the caller's cap.
//!
//! HTTP goes through `ureq` with rustls: 10 s to connect, a stall timeout on every read, a size
//! cap on every response, and no redirects followed unless the caller allows them (merod follows
//! up to 10, but `fetch` trusts only the registry it was pointed at): a registry must serve its
//! files at the addresses its catalog names. A refused answer carries the server's reason when
//! it gives one (`{"error": "binary_missing"}`).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context};
use sha2::{Digest, Sha256};

use super::{FetchError, Refusal, Step};

/// The most bytes read for `index.json` or an app's `index.json`.
pub const MAX_INDEX_BYTES: u64 = 32 << 20;
/// The largest bundle worth downloading: a node refuses more than 512 MiB decompressed, and
/// gzip adds far less than 1 MiB to that even for incompressible data.
pub const MAX_BUNDLE_BYTES: u64 = (512 << 20) + (1 << 20);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// A read that stalls this long ends the transfer.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Redirects followed when a caller allows them at all (what merod follows).
const MAX_REDIRECTS: u32 = 10;
/// The whole body of one response (a large bundle on a slow link).
const BODY_TIMEOUT: Duration = Duration::from_secs(30 * 60);

enum Source {
    Http { base: String, agent: ureq::Agent },
    Dir { root: PathBuf },
}

/// Which redirects a caller follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Redirects {
    /// None: every file must be at the address asked for.
    None,
    /// Those to another path of the same scheme, host and port (a static host's
    /// `/api/v2/bundles` → `/api/v2/bundles/`), up to 10.
    SameOrigin,
    /// Up to 10, to any host (the bytes are verified wherever they came from).
    Any,
}

/// How HTTP requests are bounded, for callers that need other bounds than `fetch`'s.
pub(crate) struct Http {
    /// How long to wait for a connection, an answer, or the next bytes of a body.
    pub(crate) timeout: Option<Duration>,
    pub(crate) redirects: Redirects,
    /// What a refused redirect's message advises.
    pub(crate) redirect_advice: &'static str,
    /// The option that sets `timeout`, named when a server does not answer in time.
    pub(crate) timeout_option: &'static str,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            timeout: None,
            redirects: Redirects::None,
            redirect_advice: "fetch follows no redirects (a moved file could be anyone's): point --registry at the address that serves the files",
            timeout_option: "--timeout",
        }
    }
}

/// Where files come from, and the name the trust state keeps for it.
pub(crate) struct Registry {
    source: Source,
    /// The normalized URL (`https://host/path/`) or the folder's canonical path.
    pub(crate) key: String,
    redirect_advice: &'static str,
    redirects: Redirects,
    /// How long a server may take to answer, and the option that says so.
    answer_timeout: (Duration, &'static str),
}

impl Registry {
    pub(super) fn open(registry: &str, timeout: Option<Duration>) -> Step<Registry> {
        let http = Http {
            timeout,
            ..Http::default()
        };
        Registry::open_with(registry, &http)
    }

    pub(crate) fn open_with(registry: &str, http: &Http) -> Step<Registry> {
        if let Some((scheme, _)) = registry.split_once("://") {
            if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
                return Err(FetchError::Failed(anyhow!(
                    "--registry {registry}: only https://, http:// or a local folder"
                )));
            }
            let base = normalize_url(registry)
                .map_err(|why| FetchError::Failed(anyhow!("--registry {registry}: {why}")))?;
            let config = ureq::Agent::config_builder()
                .timeout_resolve(Some(http.timeout.unwrap_or(CONNECT_TIMEOUT)))
                .timeout_connect(Some(http.timeout.unwrap_or(CONNECT_TIMEOUT)))
                .timeout_recv_response(Some(http.timeout.unwrap_or(RESPONSE_TIMEOUT)))
                .timeout_per_read(Some(http.timeout.unwrap_or(STALL_TIMEOUT)))
                .timeout_recv_body(Some(BODY_TIMEOUT))
                .max_redirects(if http.redirects == Redirects::Any {
                    MAX_REDIRECTS
                } else {
                    0
                })
                .http_status_as_error(false)
                .user_agent(concat!("mpk-registry/", env!("CARGO_PKG_VERSION")))
                .build();
            return Ok(Registry {
                key: base.clone(),
                source: Source::Http {
                    base,
                    agent: config.into(),
                },
                redirect_advice: http.redirect_advice,
                redirects: http.redirects,
                answer_timeout: (
                    http.timeout.unwrap_or(RESPONSE_TIMEOUT),
                    http.timeout_option,
                ),
            });
        }
        let root = fs::canonicalize(registry).map_err(|_| anyhow!(not_a_folder(registry)))?;
        if !root.is_dir() {
            return Err(FetchError::Failed(anyhow!(
                "--registry {registry} is not a folder holding a built site"
            )));
        }
        Ok(Registry {
            key: root.to_string_lossy().into_owned(),
            source: Source::Dir { root },
            redirect_advice: http.redirect_advice,
            redirects: http.redirects,
            answer_timeout: (RESPONSE_TIMEOUT, http.timeout_option),
        })
    }

    /// A stream of the file at `rel` (a checked [`site_path`](super::document::site_path)).
    fn open_file(&self, rel: &str) -> Step<Box<dyn Read>> {
        match &self.source {
            Source::Http { base, agent } => {
                let mut url = format!("{base}{rel}");
                for _ in 0..=MAX_REDIRECTS {
                    let response = agent.get(&url).call().map_err(|e| match e {
                        ureq::Error::Timeout(_) => {
                            let (timeout, option) = self.answer_timeout;
                            anyhow!(
                                "GET {url}: no answer within {} s (the server took the connection but did not answer); pass {option} SECONDS to wait longer",
                                timeout.as_secs()
                            )
                        }
                        e => anyhow!("cannot GET {url}: {e}"),
                    })?;
                    let status = response.status();
                    if status.is_redirection() {
                        let to = response
                            .headers()
                            .get("location")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("?");
                        match same_origin_target(&url, to) {
                            Some(next) if self.redirects == Redirects::SameOrigin => {
                                url = next;
                                continue;
                            }
                            _ => {}
                        }
                        let advice = self.redirect_advice;
                        return Err(FetchError::Failed(anyhow!(
                            "GET {url} answered {status} redirecting to {to}; {advice}"
                        )));
                    }
                    if status != 200 {
                        let reason = reason(response.into_body().into_reader());
                        return Err(FetchError::Failed(anyhow!(
                            "GET {url} answered {status}{reason}"
                        )));
                    }
                    return Ok(Box::new(response.into_body().into_reader()));
                }
                Err(FetchError::Failed(anyhow!(
                    "GET {base}{rel}: more than {MAX_REDIRECTS} redirects"
                )))
            }
            Source::Dir { root } => {
                let path = root.join(rel);
                let real = fs::canonicalize(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                if !real.starts_with(root) {
                    return Err(Refusal::OutsideRegistry { path }.into());
                }
                let file =
                    File::open(&real).with_context(|| format!("cannot read {}", path.display()))?;
                Ok(Box::new(file))
            }
        }
    }

    /// The whole file at `rel`, refused if longer than `cap`.
    pub(crate) fn read(&self, rel: &str, cap: u64) -> Step<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_file(rel)?
            .take(cap + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {rel} from {}", self.key))?;
        if bytes.len() as u64 > cap {
            return Err(Refusal::TooLarge {
                path: rel.to_owned(),
                cap,
            }
            .into());
        }
        Ok(bytes)
    }

    /// Copies at most `declared + 1` bytes of the file at `rel` into `out`; returns how many
    /// were copied and their SHA-256.
    pub(crate) fn download(&self, rel: &str, declared: u64, out: &mut File) -> Step<(u64, String)> {
        let mut input = self.open_file(rel)?.take(declared + 1);
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0u64;
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(FetchError::Failed(
                        anyhow!(e).context(format!("cannot download {rel} from {}", self.key)),
                    ))
                }
            };
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .context("cannot write the downloaded bundle")?;
            total += n as u64;
        }
        Ok((total, hex::encode(hasher.finalize())))
    }
}

/// Why a local registry could not be opened, saying how to name a served one when `registry`
/// looks like a host (`127.0.0.1:8000`, `localhost`, `apps.example.com`).
fn not_a_folder(registry: &str) -> String {
    let first = registry.split('/').next().unwrap_or_default();
    let port = first
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let host_like =
        port || first == "localhost" || (first.contains('.') && !first.starts_with('.'));
    if host_like {
        format!("--registry {registry}: no such folder; for a registry served over HTTP, give its URL: http://{registry} (or https://)")
    } else {
        format!("--registry {registry}: no such folder (a built site's folder, or an http:// or https:// URL)")
    }
}

/// A short reason from a refused answer's body, as ` (reason)`: the read API's
/// `{"error": …, "message": …}`, or one short line of text; empty when there is none.
fn reason(body: impl Read) -> String {
    let mut bytes = Vec::new();
    if body.take(1024).read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(json) => ["error", "message"]
            .iter()
            .filter_map(|key| json.get(key).and_then(|v| v.as_str()))
            .collect::<Vec<_>>()
            .join(": "),
        Err(_) => {
            let text = String::from_utf8_lossy(&bytes);
            let line = text.trim();
            if line.lines().count() == 1 && line.len() <= 200 && !line.starts_with('<') {
                line.to_owned()
            } else {
                String::new()
            }
        }
    };
    if text.is_empty() {
        return text;
    }
    format!(" ({})", crate::report::escape_controls(&text))
}

/// The address a redirect from `url` to `location` leads to, when it is on the same scheme,
/// host and port.
fn same_origin_target(url: &str, location: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let origin = format!("{scheme}://{authority}");
    let target = if location.contains("://") {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{origin}{location}")
    } else {
        let folder = &url[..url.rfind('/')? + 1];
        format!("{folder}{location}")
    };
    let origin_of = |url: &str| {
        let (scheme, rest) = url.split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next()?;
        normalize_url(&format!("{scheme}://{authority}/")).ok()
    };
    let same = origin_of(&target).is_some_and(|t| Some(t) == origin_of(&origin));
    same.then_some(target)
}

/// `scheme://host[:port]/path/` with the scheme and host lowercased, the default port dropped
/// and a final `/`; the same registry gets the same pins however it is spelt.
fn normalize_url(url: &str) -> Result<String, &'static str> {
    let (scheme, rest) = url.split_once("://").ok_or("not a URL")?;
    let scheme = scheme.to_ascii_lowercase();
    if rest.contains(['?', '#']) {
        return Err("a registry address has no query or fragment");
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err("the address needs a host (and no user name or password)");
    }
    let mut authority = authority.to_ascii_lowercase();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    if let Some(host) = authority.strip_suffix(default_port) {
        authority = host.to_owned();
    }
    let slash = if path.ends_with('/') { "" } else { "/" };
    Ok(format!("{scheme}://{authority}{path}{slash}"))
}

#[cfg(test)]
mod tests {
    use super::normalize_url;

    #[test]
    fn registry_addresses_are_normalized() {
        assert_eq!(
            normalize_url("HTTPS://Apps.Example.com:443").unwrap(),
            "https://apps.example.com/"
        );
        assert_eq!(
            normalize_url("http://127.0.0.1:8080/reg").unwrap(),
            "http://127.0.0.1:8080/reg/"
        );
        assert!(normalize_url("https://user@host/").is_err());
        assert!(normalize_url("https://host/?x=1").is_err());
    }

    #[test]
    fn only_redirects_to_the_same_origin_are_same_origin() {
        use super::same_origin_target as target;
        let url = "http://h:8000/api/v2/bundles";
        assert_eq!(
            target(url, "/api/v2/bundles/").as_deref(),
            Some("http://h:8000/api/v2/bundles/")
        );
        assert_eq!(
            target(url, "bundles/").as_deref(),
            Some("http://h:8000/api/v2/bundles/")
        );
        assert_eq!(
            target(url, "HTTP://H:8000/x").as_deref(),
            Some("HTTP://H:8000/x")
        );
        assert_eq!(target(url, "http://h:8001/x"), None);
        assert_eq!(target(url, "https://h:8000/x"), None);
        assert_eq!(target(url, "//other/x"), None);
        assert_eq!(target(url, "http://h:8000.evil/x"), None);
    }
}
