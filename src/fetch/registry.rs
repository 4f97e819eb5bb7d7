//! Where files come from: a site served over HTTP(S), or a folder holding a built site. Either
//! way only plain relative paths are read, and no read is longer than the caller's cap.
//!
//! HTTP goes through `ureq` with rustls: 10 s to connect, a stall timeout on every read, a size
//! cap on every response, and no redirects followed (merod follows up to 10, but `fetch` trusts
//! only the registry it was pointed at): a registry must serve its files at the addresses its
//! catalog names.

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

/// How HTTP requests are bounded, for callers that need other bounds than `fetch`'s.
pub(crate) struct Http {
    /// How long to wait for a connection, an answer, or the next bytes of a body.
    pub(crate) timeout: Option<Duration>,
    /// Follow up to 10 redirects, to any host (the bytes are verified wherever they came from).
    pub(crate) follow_redirects: bool,
    /// What a refused redirect's message advises.
    pub(crate) redirect_advice: &'static str,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            timeout: None,
            follow_redirects: false,
            redirect_advice: "fetch follows no redirects (a moved file could be anyone's): point --registry at the address that serves the files",
        }
    }
}

/// Where files come from, and the name the trust state keeps for it.
pub(crate) struct Registry {
    source: Source,
    /// The normalized URL (`https://host/path/`) or the folder's canonical path.
    pub(crate) key: String,
    redirect_advice: &'static str,
}

impl Registry {
    pub(super) fn open(registry: &str) -> Step<Registry> {
        Registry::open_with(registry, &Http::default())
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
                .max_redirects(if http.follow_redirects {
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
            });
        }
        let root = fs::canonicalize(registry)
            .with_context(|| format!("--registry {registry}: no such folder"))?;
        if !root.is_dir() {
            return Err(FetchError::Failed(anyhow!(
                "--registry {registry} is not a folder holding a built site"
            )));
        }
        Ok(Registry {
            key: root.to_string_lossy().into_owned(),
            source: Source::Dir { root },
            redirect_advice: http.redirect_advice,
        })
    }

    /// A stream of the file at `rel` (a checked [`site_path`](super::document::site_path)).
    fn open_file(&self, rel: &str) -> Step<Box<dyn Read>> {
        match &self.source {
            Source::Http { base, agent } => {
                let url = format!("{base}{rel}");
                let response = agent
                    .get(&url)
                    .call()
                    .map_err(|e| anyhow!("cannot GET {url}: {e}"))?;
                let status = response.status();
                if status.is_redirection() {
                    let to = response
                        .headers()
                        .get("location")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("?");
                    let advice = self.redirect_advice;
                    return Err(FetchError::Failed(anyhow!(
                        "GET {url} answered {status} redirecting to {to}; {advice}"
                    )));
                }
                if status != 200 {
                    return Err(FetchError::Failed(anyhow!("GET {url} answered {status}")));
                }
                Ok(Box::new(response.into_body().into_reader()))
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
}
