//! `fetch`: the consumer side. Downloads one bundle from a static registry and trusts nothing
//! it downloads.
//!
//! The registry is not the only trust anchor: a static host, a CDN or anyone who can push to the
//! branch that is served could serve an old catalog (hiding a fix or a yank), mix files of two
//! builds, or swap a bundle. So the client checks, in this order, and refuses at the first
//! failure with the reason:
//!
//! 1. the catalog (`index.json`) signature, against the key given with `--trust`, else the one
//!    pinned for this registry on first use (an unsigned catalog only with `--insecure`);
//! 2. its expiry;
//! 3. rollback: its version is not lower than the highest this client has seen for the registry;
//! 4. the per-app `index.json` has the SHA-256 the catalog pins;
//! 5. the chosen version is not yanked (unless named explicitly);
//! 6. the bundle's size and SHA-256 are the ones the per-app index declares;
//! 7. the bundle passes every check a node makes (manifest signature, artifact digests, …) and is
//!    the package and version that were asked for, signed by the signer the index names;
//! 8. the signer is the one this client pinned for the package on first use.
//!
//! Only then is the bundle moved into place (it is downloaded to a temporary file beside its
//! destination and renamed), and only then is the trust state (pins, highest version seen)
//! written, also atomically.
//!
//! HTTP goes through `ureq` with rustls: 10 s to connect, a stall timeout on every read, a size
//! cap on every response, and no redirects followed, as a node's registry client follows none:
//! a registry must serve its files at the addresses its catalog names.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::keys::parse_did_key;
use crate::report::{Findings, Rule};
use crate::site::catalog::{rfc3339, SCHEMA_VERSION};

/// The most bytes read for `index.json` or an app's `index.json`.
pub const MAX_INDEX_BYTES: u64 = 32 << 20;
/// The largest bundle worth downloading: a node refuses more than 512 MiB decompressed, and
/// gzip adds far less than 1 MiB to that even for incompressible data.
pub const MAX_BUNDLE_BYTES: u64 = (512 << 20) + (1 << 20);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// A read that stalls this long ends the transfer.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The whole body of one response (a large bundle on a slow link).
const BODY_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// What to fetch, from where, trusting what.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// `PACKAGE` or `PACKAGE@VERSION`.
    pub spec: String,
    /// `https://…`, `http://…` or a local folder holding a built site.
    pub registry: String,
    /// The registry key to trust (did:key); else the one pinned on first use.
    pub trust: Option<String>,
    /// Folder to write the bundle into.
    pub output: PathBuf,
    /// The trust state file (pinned keys, highest index versions, package signers).
    pub state: Option<PathBuf>,
    /// Accept an unsigned index.
    pub insecure: bool,
    /// Let `latest` pick a prerelease.
    pub prerelease: bool,
    /// The time (unix seconds) the catalog's expiry is judged against; `None` is the system
    /// clock.
    pub now: Option<i64>,
}

/// A bundle that passed every check and was written.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    pub package: String,
    pub version: String,
    pub signer_id: String,
    pub bundle_sha256: String,
    /// Things the user should know that did not stop the fetch: a key or signer pinned on
    /// first use, a re-pinned registry key, a yanked version fetched by name, an unsigned index.
    pub notes: Vec<String>,
}

#[derive(Debug)]
pub enum FetchError {
    /// A check failed: the registry or the bundle is not to be trusted.
    Refused(String),
    /// The fetch could not be done (network, disk, arguments).
    Failed(anyhow::Error),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Refused(reason) => write!(f, "refused: {reason}"),
            FetchError::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for FetchError {}

type Outcome<T> = Result<T, FetchError>;

fn refused<T>(reason: impl Into<String>) -> Outcome<T> {
    Err(FetchError::Refused(reason.into()))
}

fn failed<T>(error: anyhow::Error) -> Outcome<T> {
    Err(FetchError::Failed(error))
}

impl From<anyhow::Error> for FetchError {
    fn from(e: anyhow::Error) -> Self {
        FetchError::Failed(e)
    }
}

/// Runs every check and, when all pass, writes the bundle to
/// `<output>/<package>-<version>.mpk` and updates the trust state.
pub fn fetch(options: &FetchOptions) -> Result<Fetched, FetchError> {
    let want = Want::parse(&options.spec)?;
    if let Some(trust) = &options.trust {
        if parse_did_key(trust).is_none() {
            return failed(anyhow!(
                "--trust {trust} is not an Ed25519 did:key (did:key:z6Mk…); copy it from the registry's keys.json"
            ));
        }
    }
    let now = options.now.unwrap_or_else(system_now);
    let registry = Registry::open(&options.registry)?;
    let state_path = match &options.state {
        Some(path) => path.clone(),
        None => default_state_path()?,
    };
    let mut state = State::load(&state_path)?;
    let pins = state
        .registries
        .get(&registry.key)
        .cloned()
        .unwrap_or_default();
    let mut notes = Vec::new();

    // 1-3: the catalog.
    let catalog_bytes = registry.read("index.json", MAX_INDEX_BYTES)?;
    let catalog = parse_object(&catalog_bytes, "index.json")?;
    let stamp = check_catalog(&catalog, &registry, &pins, options, now, &mut notes)?;

    // 4: the app's own index, pinned by the catalog.
    let (index_path, index_sha256) = app_entry(&catalog, &want.package, &registry)?;
    let index_bytes = registry.read(&index_path, MAX_INDEX_BYTES)?;
    let actual = hex::encode(Sha256::digest(&index_bytes));
    if actual != index_sha256 {
        return refused(format!(
            "{index_path} has SHA-256 {actual}, but index.json{} pins {index_sha256}: the two files come from different builds (a host or cache is mixing old and new files), or the app index was changed",
            stamp.describe_version()
        ));
    }
    let app_index = parse_object(&index_bytes, &index_path)?;
    check_schema(&app_index, &index_path)?;
    if app_index.get("package").and_then(Value::as_str) != Some(want.package.as_str()) {
        return refused(format!(
            "{index_path} describes package {}, not {}",
            app_index.get("package").unwrap_or(&Value::Null),
            want.package
        ));
    }

    // 5: the version.
    let release = choose(&app_index, &want, options.prerelease, &index_path)?;
    if release.yanked {
        notes.push(format!(
            "{} {} is yanked{}; fetched because it was named explicitly",
            want.package,
            release.version,
            release
                .yank_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
    }

    // 6: download, capped at the declared size, hashing as it arrives.
    let output = if options.output.as_os_str().is_empty() {
        Path::new(".")
    } else {
        options.output.as_path()
    };
    fs::create_dir_all(output)
        .with_context(|| format!("cannot create the output folder {}", output.display()))?;
    let mut part = tempfile::Builder::new()
        .prefix(".mpk-fetch-")
        .suffix(".part")
        .tempfile_in(output)
        .with_context(|| format!("cannot write in {}", output.display()))?;
    let (size, sha256) = registry.download(&release.path, release.size, part.as_file_mut())?;
    let mismatch = format!(
        "the bundle served at {} does not match the{} index",
        release.path,
        if stamp.signed { " signed" } else { "" }
    );
    if size != release.size {
        return refused(format!(
            "{mismatch}: it is {} bytes, the index declares {}; it was replaced, truncated or damaged",
            if size > release.size {
                format!("more than {}", release.size)
            } else {
                size.to_string()
            },
            release.size
        ));
    }
    if sha256 != release.sha256 {
        return refused(format!(
            "{mismatch}: its SHA-256 is {sha256}, the index declares {}; it was replaced or damaged",
            release.sha256
        ));
    }
    part.as_file()
        .sync_all()
        .context("cannot flush the downloaded bundle to disk")?;

    // 7: every check a node makes, then identity.
    let report = crate::verify::verify_file(part.path(), &release.path, &Default::default());
    if report.problems.iter().any(|p| p.rule == Rule::Io) {
        return failed(anyhow!(
            "cannot read back the downloaded bundle: {}",
            problems(&report.problems)
        ));
    }
    let Some(bundle) = report.bundle.filter(|_| report.ok) else {
        return refused(format!(
            "the bundle served at {} does not verify as a node would check it: {}",
            release.path,
            problems(&report.problems)
        ));
    };
    if bundle.package != want.package || bundle.app_version != release.version {
        return refused(format!(
            "the bundle served at {} is {} {}, not {} {} as the index says: a valid bundle of another package or version was put in its place",
            release.path, bundle.package, bundle.app_version, want.package, release.version
        ));
    }
    if bundle.signer_id != release.signer_id {
        return refused(format!(
            "{} {} is signed by {}, but the index lists signer {}",
            want.package, release.version, bundle.signer_id, release.signer_id
        ));
    }

    // 8: signer continuity.
    match pins.packages.get(&want.package) {
        Some(pin) if pin.signer_id != bundle.signer_id => {
            return refused(format!(
                "{} {} is signed by {}, but this client pinned signer {} for {} on {}: a new signer is a different application on a node (its ApplicationId changes), and it may not be the publisher. If the publisher really moved to a new key, confirm it with them, then remove packages.\"{}\" under \"{}\" from {}",
                want.package,
                release.version,
                bundle.signer_id,
                pin.signer_id,
                want.package,
                pin.pinned_at,
                want.package,
                registry.key,
                state_path.display()
            ));
        }
        Some(_) => {}
        None => notes.push(format!(
            "pinned signer {} for {} on first use; later versions must be signed by it",
            bundle.signer_id, want.package
        )),
    }

    // Every check passed: record what was seen, then hand the bundle over.
    let entry = state.registries.entry(registry.key.clone()).or_default();
    let seen = rfc3339(now);
    if let Some(signer) = &stamp.signer {
        if entry.index_key.as_deref() != Some(signer.as_str()) {
            entry.index_key = Some(signer.clone());
            entry.index_key_pinned_at = Some(seen.clone());
        }
    }
    if let Some(version) = stamp.version {
        if entry.highest_version.is_none_or(|h| version > h) {
            entry.highest_version = Some(version);
            entry.highest_version_seen_at = Some(seen.clone());
        }
    }
    entry
        .packages
        .entry(want.package.clone())
        .or_insert_with(|| PackagePin {
            signer_id: bundle.signer_id.clone(),
            pinned_at: seen.clone(),
        });
    state.save(&state_path)?;

    let path = output.join(format!("{}-{}.mpk", want.package, release.version));
    part.persist(&path)
        .map_err(|e| anyhow!(e.error).context(format!("cannot write {}", path.display())))?;
    Ok(Fetched {
        path,
        package: bundle.package,
        version: bundle.app_version,
        signer_id: bundle.signer_id,
        bundle_sha256: bundle.bundle_sha256,
        notes,
    })
}

fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn problems(list: &[crate::report::Problem]) -> String {
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

// ---------------------------------------------------------------------------------------------
// What was asked for

struct Want {
    package: String,
    version: Option<String>,
}

impl Want {
    fn parse(spec: &str) -> Outcome<Want> {
        let (package, version) = match spec.split_once('@') {
            Some((p, v)) => (p, Some(v)),
            None => (spec, None),
        };
        if !coordinate(package) {
            return failed(anyhow!(
                "{spec:?}: the package must be 1-128 characters from A-Z a-z 0-9 . _ - (PACKAGE or PACKAGE@VERSION)"
            ));
        }
        if let Some(v) = version {
            if !coordinate(v) {
                return failed(anyhow!(
                    "{spec:?}: the version must be 1-128 characters from A-Z a-z 0-9 . _ - (PACKAGE@VERSION)"
                ));
            }
        }
        Ok(Want {
            package: package.to_owned(),
            version: version.map(str::to_owned),
        })
    }
}

/// A package or version a registry can serve (spec §2: the charset merod fetches, no `..`).
fn coordinate(text: &str) -> bool {
    (1..=128).contains(&text.len())
        && !text.contains("..")
        && text.bytes().all(crate::manifest::is_coordinate_byte)
}

/// A path the registry's JSON names: relative, `/`-separated, plain segments only.
fn site_path(text: &str) -> bool {
    text.len() <= 1024
        && text.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment.bytes().all(crate::manifest::is_coordinate_byte)
        })
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

// ---------------------------------------------------------------------------------------------
// The catalog

/// What the catalog proved about itself.
struct CatalogStamp {
    signed: bool,
    signer: Option<String>,
    version: Option<u64>,
}

impl CatalogStamp {
    fn describe_version(&self) -> String {
        self.version
            .map(|v| format!(" (version {v})"))
            .unwrap_or_default()
    }
}

/// Checks 1-3: signature and key, expiry, rollback. Also the schema version.
fn check_catalog(
    catalog: &Map<String, Value>,
    registry: &Registry,
    pins: &RegistryPins,
    options: &FetchOptions,
    now: i64,
    notes: &mut Vec<String>,
) -> Outcome<CatalogStamp> {
    // Whose signature is expected: --trust, else the pin, else none yet (trust on first use).
    let expected = match (&options.trust, &pins.index_key) {
        (Some(trust), _) => Some((trust.clone(), "named by --trust".to_owned())),
        (None, Some(pin)) => Some((
            pin.clone(),
            format!(
                "pinned for this registry on {}",
                pins.index_key_pinned_at.as_deref().unwrap_or("first use")
            ),
        )),
        (None, None) => None,
    };
    let signature = catalog.get("signature").unwrap_or(&Value::Null);
    if signature.is_null() {
        if let Some((key, why)) = &expected {
            return refused(format!(
                "index.json is not signed, but this client expects it signed by {key} ({why}): the signature was stripped, or the registry stopped signing; nothing proves the index is current or complete"
            ));
        }
        if !options.insecure {
            return refused(
                "index.json is not signed (\"signature\": null): nothing proves it is current, complete or from the registry; ask the registry to sign it (build --sign-key), or pass --insecure to accept an unsigned index",
            );
        }
        notes.push(
            "index.json is not signed; accepted because of --insecure (no protection against a stale, rolled-back or mixed index)".to_owned(),
        );
        check_schema(catalog, "index.json")?;
        return Ok(CatalogStamp {
            signed: false,
            signer: None,
            version: None,
        });
    }

    // 1. The signature, and whose it is.
    let mut findings = Findings::default();
    let Some(signer) = crate::signature::verify(catalog, &mut findings) else {
        let reason = if findings.has(Rule::SignatureInvalid) {
            "it does not verify: index.json was changed after it was signed, or the signature is not by the key it names".to_owned()
        } else {
            problems(&findings.problems)
        };
        return refused(format!(
            "the signature of index.json is not valid: {reason}"
        ));
    };
    match &expected {
        Some((key, why)) if *key != signer => {
            let fix = if options.trust.is_some() {
                "check the key the registry publishes (keys.json, and its announcement) before trusting another one".to_owned()
            } else {
                format!("if the registry really rotated its key, confirm the new key out of band and pass --trust {signer} once to re-pin it")
            };
            return refused(format!(
                "index.json is signed by {signer}, not by the registry key {key} ({why}): someone other than the registry signed this index; {fix}"
            ));
        }
        Some(_) => match &pins.index_key {
            Some(pinned) if *pinned != signer => notes.push(format!(
                "re-pinned the index key of {} from {pinned} to {signer} (--trust)",
                registry.key
            )),
            Some(_) => {}
            None => notes.push(format!(
                "pinned index key {signer} for {} (--trust)",
                registry.key
            )),
        },
        None => notes.push(format!(
            "pinned index key {signer} for {} on first use; compare it with the key the registry publishes (keys.json)",
            registry.key
        )),
    }
    check_schema(catalog, "index.json")?;

    // 2. Expiry.
    let Some(expires_text) = catalog.get("expires").and_then(Value::as_str) else {
        return refused("the signed index.json has no `expires`; a client cannot tell a stale copy from a fresh one");
    };
    let Ok(expires) =
        time::OffsetDateTime::parse(expires_text, &time::format_description::well_known::Rfc3339)
    else {
        return refused(format!(
            "the signed index.json has `expires` {expires_text:?}, which is not an RFC 3339 time"
        ));
    };
    let expires = expires.unix_timestamp();
    if now >= expires {
        return refused(format!(
            "index.json expired at {expires_text} ({} ago, judged at {}): the registry has not been rebuilt since, or a host, cache or mirror is serving a stale copy (which can hide a fix or a yank)",
            human_duration(now - expires),
            rfc3339(now)
        ));
    }

    // 3. Rollback.
    let Some(version) = catalog.get("version").and_then(Value::as_u64) else {
        return refused("the signed index.json has no `version` (a whole number); a client cannot tell a rolled-back index from a current one");
    };
    if let Some(highest) = pins.highest_version {
        if version < highest {
            return refused(format!(
                "index.json version {version} is lower than version {highest} seen on {}: the registry or a cache is serving a rolled-back index (which can hide a fix or a yank)",
                pins.highest_version_seen_at.as_deref().unwrap_or("an earlier fetch")
            ));
        }
    }
    Ok(CatalogStamp {
        signed: true,
        signer: Some(signer),
        version: Some(version),
    })
}

/// Documents of a newer, incompatible shape are not guessed at.
fn check_schema(doc: &Map<String, Value>, what: &str) -> Outcome<()> {
    match doc.get("schemaVersion").and_then(Value::as_u64) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => Ok(()),
        Some(v) if v > u64::from(SCHEMA_VERSION) => failed(anyhow!(
            "{what} has schemaVersion {v}; this mpk-registry understands {SCHEMA_VERSION}: upgrade it"
        )),
        _ => refused(format!(
            "{what} has no schemaVersion {SCHEMA_VERSION}; it is not a registry index this client understands"
        )),
    }
}

fn human_duration(seconds: i64) -> String {
    match seconds {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3_600),
        s if s >= 3_600 => format!("{}h {}m", s / 3_600, s % 3_600 / 60),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Parses a registry document strictly: a JSON object with no key twice at any depth.
fn parse_object(bytes: &[u8], what: &str) -> Outcome<Map<String, Value>> {
    let mut findings = Findings::default();
    match crate::manifest::parse(bytes, &mut findings) {
        Some(map) => Ok(map),
        None => {
            let reason = findings
                .problems
                .iter()
                .map(|p| match p.rule {
                    Rule::DuplicateKey => format!(
                        "{}; parsers disagree on which copy wins",
                        p.message.trim_start_matches(DUPLICATE_PREFIX)
                    ),
                    _ => p.message.clone(),
                })
                .collect::<Vec<_>>()
                .join("; ");
            refused(format!("{what} is not a valid registry document: {reason}"))
        }
    }
}

const DUPLICATE_PREFIX: &str = "duplicate key: ";

/// The catalog's entry for `package`: where its index is and the SHA-256 it must have.
fn app_entry(
    catalog: &Map<String, Value>,
    package: &str,
    registry: &Registry,
) -> Outcome<(String, String)> {
    let Some(apps) = catalog.get("apps").and_then(Value::as_array) else {
        return refused("index.json has no `apps` list");
    };
    let Some(app) = apps
        .iter()
        .find(|a| a.get("package").and_then(Value::as_str) == Some(package))
    else {
        return failed(anyhow!(
            "{} has no package {package} ({} apps in its index.json)",
            registry.key,
            apps.len()
        ));
    };
    let path = app.pointer("/index/path").and_then(Value::as_str);
    let sha256 = app.pointer("/index/sha256").and_then(Value::as_str);
    match (path, sha256) {
        (Some(path), Some(sha256)) if site_path(path) && is_sha256_hex(sha256) => {
            Ok((path.to_owned(), sha256.to_owned()))
        }
        _ => refused(format!(
            "index.json's entry for {package} has no usable `index` {{path, sha256}}: the path must be a plain relative path inside the registry and the digest 64 lowercase hex digits"
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// The version

struct Release {
    version: String,
    yanked: bool,
    yank_reason: Option<String>,
    signer_id: String,
    sha256: String,
    size: u64,
    path: String,
}

/// Check 5: the asked-for version, or the newest that is neither yanked nor (unless allowed) a
/// prerelease.
fn choose(app: &Map<String, Value>, want: &Want, prerelease: bool, what: &str) -> Outcome<Release> {
    let Some(entries) = app.get("versions").and_then(Value::as_array) else {
        return refused(format!("{what} has no `versions` list"));
    };
    let mut releases = Vec::with_capacity(entries.len());
    for entry in entries {
        releases.push(release(entry, what)?);
    }
    let chosen = match &want.version {
        Some(version) => releases.into_iter().find(|r| r.version == *version),
        None => {
            let (yanked, pre) = (
                releases.iter().filter(|r| r.yanked).count(),
                releases
                    .iter()
                    .filter(|r| !r.yanked && crate::version::is_prerelease(&r.version))
                    .count(),
            );
            let newest = releases
                .into_iter()
                .filter(|r| !r.yanked && (prerelease || !crate::version::is_prerelease(&r.version)))
                .max_by(|a, b| crate::version::compare(&a.version, &b.version));
            if newest.is_none() {
                return refused(format!(
                    "{} has no version to fetch as the latest: {yanked} yanked, {pre} prerelease{}; name a version (PACKAGE@VERSION) to fetch a yanked one{}",
                    want.package,
                    if pre == 1 { "" } else { "s" },
                    if pre > 0 && !prerelease { ", or pass --prerelease" } else { "" }
                ));
            }
            newest
        }
    };
    chosen.ok_or_else(|| {
        FetchError::Failed(anyhow!(
            "{} has no version {}",
            want.package,
            want.version.as_deref().unwrap_or_default()
        ))
    })
}

fn release(entry: &Value, what: &str) -> Outcome<Release> {
    let text = |pointer: &str| entry.pointer(pointer).and_then(Value::as_str);
    let version = text("/version").unwrap_or_default();
    let bad = |field: &str| {
        FetchError::Refused(format!(
            "{what}: version {version:?} has no usable `{field}`"
        ))
    };
    if !coordinate(version) {
        return Err(bad("version"));
    }
    let yanked = entry
        .get("yanked")
        .and_then(Value::as_bool)
        .ok_or_else(|| bad("yanked"))?;
    let signer_id = text("/signerId").ok_or_else(|| bad("signerId"))?;
    let sha256 = text("/bundle/sha256")
        .filter(|s| is_sha256_hex(s))
        .ok_or_else(|| bad("bundle.sha256"))?;
    let size = entry
        .pointer("/bundle/size")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("bundle.size"))?;
    let path = text("/bundle/path")
        .filter(|p| site_path(p))
        .ok_or_else(|| bad("bundle.path"))?;
    if size > MAX_BUNDLE_BYTES {
        return Err(FetchError::Refused(format!(
            "{what}: version {version} declares a {size}-byte bundle, more than any bundle a node accepts"
        )));
    }
    Ok(Release {
        version: version.to_owned(),
        yanked,
        yank_reason: text("/yankReason").map(str::to_owned),
        signer_id: signer_id.to_owned(),
        sha256: sha256.to_owned(),
        size,
        path: path.to_owned(),
    })
}

// ---------------------------------------------------------------------------------------------
// Reading from the registry

enum Source {
    Http { base: String, agent: ureq::Agent },
    Dir { root: PathBuf },
}

/// Where files come from, and the name the trust state keeps for it.
struct Registry {
    source: Source,
    /// The normalized URL (`https://host/path/`) or the folder's canonical path.
    key: String,
}

impl Registry {
    fn open(registry: &str) -> Outcome<Registry> {
        if let Some((scheme, _)) = registry.split_once("://") {
            if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
                return failed(anyhow!(
                    "--registry {registry}: only https://, http:// or a local folder"
                ));
            }
            let base = normalize_url(registry)
                .map_err(|why| FetchError::Failed(anyhow!("--registry {registry}: {why}")))?;
            let config = ureq::Agent::config_builder()
                .timeout_resolve(Some(CONNECT_TIMEOUT))
                .timeout_connect(Some(CONNECT_TIMEOUT))
                .timeout_recv_response(Some(RESPONSE_TIMEOUT))
                .timeout_per_read(Some(STALL_TIMEOUT))
                .timeout_recv_body(Some(BODY_TIMEOUT))
                .max_redirects(0)
                .http_status_as_error(false)
                .user_agent(concat!("mpk-registry/", env!("CARGO_PKG_VERSION")))
                .build();
            return Ok(Registry {
                key: base.clone(),
                source: Source::Http {
                    base,
                    agent: config.into(),
                },
            });
        }
        let root = fs::canonicalize(registry)
            .with_context(|| format!("--registry {registry}: no such folder"))?;
        if !root.is_dir() {
            return failed(anyhow!(
                "--registry {registry} is not a folder holding a built site"
            ));
        }
        Ok(Registry {
            key: root.to_string_lossy().into_owned(),
            source: Source::Dir { root },
        })
    }

    /// A stream of the file at `rel` (a checked [`site_path`]).
    fn open_file(&self, rel: &str) -> Outcome<Box<dyn Read>> {
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
                    return failed(anyhow!(
                        "GET {url} answered {status} redirecting to {to}; fetch follows no redirects (nor does a node): point --registry at the address that serves the files"
                    ));
                }
                if status != 200 {
                    return failed(anyhow!("GET {url} answered {status}"));
                }
                Ok(Box::new(response.into_body().into_reader()))
            }
            Source::Dir { root } => {
                let path = root.join(rel);
                let real = fs::canonicalize(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                if !real.starts_with(root) {
                    return refused(format!(
                        "{} leads outside the registry folder (a symbolic link)",
                        path.display()
                    ));
                }
                let file =
                    File::open(&real).with_context(|| format!("cannot read {}", path.display()))?;
                Ok(Box::new(file))
            }
        }
    }

    /// The whole file at `rel`, refused if longer than `cap`.
    fn read(&self, rel: &str, cap: u64) -> Outcome<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_file(rel)?
            .take(cap + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {rel} from {}", self.key))?;
        if bytes.len() as u64 > cap {
            return refused(format!(
                "{rel} is larger than {} MiB; no registry index is that big",
                cap >> 20
            ));
        }
        Ok(bytes)
    }

    /// Copies at most `declared + 1` bytes of the file at `rel` into `out`; returns how many
    /// were copied and their SHA-256.
    fn download(&self, rel: &str, declared: u64, out: &mut File) -> Outcome<(u64, String)> {
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
                    return failed(
                        anyhow!(e).context(format!("cannot download {rel} from {}", self.key)),
                    )
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

// ---------------------------------------------------------------------------------------------
// Trust state

/// The trust state file: per registry, the pinned index key, the highest catalog version seen
/// and the signer pinned for each package fetched from it.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    #[serde(default)]
    schema_version: u32,
    #[serde(default)]
    registries: BTreeMap<String, RegistryPins>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistryPins {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index_key_pinned_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    highest_version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    highest_version_seen_at: Option<String>,
    #[serde(default)]
    packages: BTreeMap<String, PackagePin>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PackagePin {
    signer_id: String,
    pinned_at: String,
}

const STATE_SCHEMA_VERSION: u32 = 1;

impl State {
    fn load(path: &Path) -> Outcome<State> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => {
                return failed(
                    anyhow!(e).context(format!("cannot read the trust state {}", path.display())),
                )
            }
        };
        let state: State = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "the trust state {} is damaged; fix it, or remove it to forget every pin",
                path.display()
            )
        })?;
        if state.schema_version > STATE_SCHEMA_VERSION {
            return failed(anyhow!(
                "the trust state {} was written by a newer mpk-registry (schemaVersion {})",
                path.display(),
                state.schema_version
            ));
        }
        Ok(state)
    }

    /// Writes the whole file beside itself and renames it into place.
    fn save(&mut self, path: &Path) -> Outcome<()> {
        self.schema_version = STATE_SCHEMA_VERSION;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".trust-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        let mut bytes = serde_json::to_vec_pretty(self).expect("the state serializes");
        bytes.push(b'\n');
        tmp.write_all(&bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        tmp.persist(path).map_err(|e| {
            anyhow!(e.error).context(format!("cannot write the trust state {}", path.display()))
        })?;
        Ok(())
    }
}

/// `$XDG_STATE_HOME/mpk-registry/trust.json`, else `$HOME/.local/state/mpk-registry/trust.json`.
fn default_state_path() -> Outcome<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = absolute("XDG_STATE_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".local/state")))
        .ok_or_else(|| {
            FetchError::Failed(anyhow!(
                "neither XDG_STATE_HOME nor HOME is set; pass --state FILE for the trust state"
            ))
        })?;
    Ok(base.join("mpk-registry").join("trust.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn only_plain_relative_paths_are_followed() {
        assert!(site_path("artifacts/a/1.0.0/a-1.0.0.mpk"));
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "a//b",
            "./a",
            "a\\b",
            "a?b",
            "http:",
        ] {
            assert!(!site_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn specs_are_checked() {
        assert!(Want::parse("com.example.app@1.0.0").is_ok());
        assert!(Want::parse("com.example.app").is_ok());
        for bad in ["", "a/b", "..", "a@", "a@../x", "a@1@2"] {
            assert!(Want::parse(bad).is_err(), "{bad:?}");
        }
    }
}
