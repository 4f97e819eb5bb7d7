//! Why a fetch was refused, as data: one variant per way a registry, a host or a bundle can fail
//! a check. Callers match on the variant; people read its `Display`, which says what was found,
//! what it means and what to do.

use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

use crate::report::{Problem, Rule};
use crate::schema::{rfc3339, SCHEMA_VERSION};

/// A check failed: the registry or the bundle is not to be trusted. Each variant's text, beside
/// it, says what was found, what it means and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// A registry document is not a JSON object, or names a key twice. The reasons are text:
    /// the rules that find them are the manifest's, whose codes would name the wrong file.
    #[error("{document} is not a valid registry document: {}", reasons.join("; "))]
    Malformed {
        document: String,
        reasons: Vec<String>,
    },
    /// A registry document does not carry the schema version this client reads.
    #[error("{document} has no schemaVersion {SCHEMA_VERSION}; it is not a registry index this client understands")]
    Schema { document: String },
    /// A registry document of that version is not of its type (see [`crate::schema`]): a field
    /// missing, or not of its JSON type.
    #[error("{document} is not a registry index of schemaVersion {SCHEMA_VERSION}: {reason}")]
    Shape { document: String, reason: String },
    /// A file is larger than any registry index.
    #[error("{path} is larger than {} MiB; no registry index is that big", cap >> 20)]
    TooLarge { path: String, cap: u64 },
    /// A file of a local registry leads outside it (a symbolic link).
    #[error("{} leads outside the registry folder (a symbolic link)", path.display())]
    OutsideRegistry { path: PathBuf },
    /// The catalog is unsigned and `--insecure` was not given.
    #[error("index.json is not signed (\"signature\": null): nothing proves it is current, complete or from the registry; ask the registry to sign it (build --sign-key), or pass --insecure to accept an unsigned index")]
    Unsigned,
    /// The catalog is unsigned, but a key is trusted or pinned for the registry.
    #[error("index.json is not signed, but this client expects it signed by {expected} ({key_source}): the signature was stripped, or the registry stopped signing; nothing proves the index is current or complete")]
    SignatureStripped {
        expected: String,
        key_source: KeySource,
    },
    /// The catalog's signature does not verify.
    #[error(
        "the signature of index.json is not valid: {}",
        catalog_signature(problems)
    )]
    CatalogSignature { problems: Vec<Problem> },
    /// The catalog is validly signed, by a key other than the one trusted or pinned.
    #[error("index.json is signed by {key}, not by the registry key {expected} ({key_source}): someone other than the registry signed this index; {}", catalog_key_advice(key, key_source))]
    CatalogKey {
        key: String,
        expected: String,
        key_source: KeySource,
    },
    /// The signed catalog has no usable `expires`: none at all, or `found`, which is not an
    /// RFC 3339 time.
    #[error("{}", no_expiry(found.as_deref()))]
    NoExpiry { found: Option<String> },
    /// The catalog expired before `now` (unix seconds both).
    #[error("index.json expired at {} ({} ago, judged at {}): the registry has not been rebuilt since, or a host, cache or mirror is serving a stale copy (which can hide a fix or a yank)", rfc3339(*expired_at), human_duration(now - expired_at), rfc3339(*now))]
    Stale { expired_at: i64, now: i64 },
    /// The signed catalog has no `version`.
    #[error("the signed index.json has no `version` (a whole number); a client cannot tell a rolled-back index from a current one")]
    NoVersion,
    /// The catalog's version is lower than one this client saw for the registry.
    #[error("index.json version {got} is lower than version {seen} seen on {}: the registry or a cache is serving a rolled-back index (which can hide a fix or a yank)", seen_at.as_deref().unwrap_or("an earlier fetch"))]
    Rollback {
        seen: u64,
        seen_at: Option<String>,
        got: u64,
    },
    /// The catalog has no `apps` list (and so is not a catalog).
    #[error("index.json has no `apps` list")]
    NoApps,
    /// The catalog's entry for the package has no usable path and digest for its app index.
    #[error("index.json's entry for {package} has no usable `index` {{path, sha256}}: the path must be a plain relative path inside the registry and the digest 64 lowercase hex digits")]
    AppEntry { package: String },
    /// The app index is not the one the catalog pins.
    #[error("{path} has SHA-256 {actual}, but index.json{} pins {expected}: the two files come from different builds (a host or cache is mixing old and new files), or the app index was changed", catalog_version.map(|v| format!(" (version {v})")).unwrap_or_default())]
    AppIndexDigest {
        path: String,
        expected: String,
        actual: String,
        catalog_version: Option<u64>,
    },
    /// The app index describes another package.
    #[error("{path} describes package {found}, not {expected}")]
    AppIndexPackage {
        path: String,
        expected: String,
        found: Value,
    },
    /// The app index has no `versions` list (and so is not an app index).
    #[error("{path} has no `versions` list")]
    NoVersions { path: String },
    /// A version in the app index has a field that is unusable: a version a registry cannot
    /// serve, a digest that is not lowercase hex, a path that could leave the registry.
    #[error("{path}: version {version:?} has no usable `{field}`")]
    ReleaseField {
        path: String,
        version: String,
        field: &'static str,
    },
    /// A version in the app index declares a bundle larger than a node accepts.
    #[error("{path}: version {version} declares a {size}-byte bundle, more than any bundle a node accepts")]
    ReleaseTooLarge {
        path: String,
        version: String,
        size: u64,
    },
    /// No version may be fetched as the latest: all are yanked or prereleases.
    #[error("{package} has no version to fetch as the latest: {yanked} yanked, {prereleases} prerelease{}; name a version (PACKAGE@VERSION) to fetch a yanked one{}", if *prereleases == 1 { "" } else { "s" }, if *prereleases > 0 && !prerelease_allowed { ", or pass --prerelease" } else { "" })]
    NoLatest {
        package: String,
        yanked: usize,
        prereleases: usize,
        prerelease_allowed: bool,
    },
    /// The bundle is not the size the app index declares (`actual` is at most `expected + 1`:
    /// the download stops there).
    #[error("{}: it is {} bytes, the index declares {expected}; it was replaced, truncated or damaged", mismatch(path, *signed_index), if actual > expected { format!("more than {expected}") } else { actual.to_string() })]
    BundleSize {
        path: String,
        expected: u64,
        actual: u64,
        signed_index: bool,
    },
    /// The bundle's SHA-256 is not the one the app index declares.
    #[error("{}: its SHA-256 is {actual}, the index declares {expected}; it was replaced or damaged", mismatch(path, *signed_index))]
    BundleDigest {
        path: String,
        expected: String,
        actual: String,
        signed_index: bool,
    },
    /// The bundle fails a check a node makes.
    #[error(
        "the bundle served at {path} does not verify as a node would check it: {}",
        self::problems(problems)
    )]
    BundleRefused {
        path: String,
        problems: Vec<Problem>,
    },
    /// A valid bundle, of another package or version than the index names.
    #[error("the bundle served at {path} is {got_package} {got_version}, not {package} {version} as the index says: a valid bundle of another package or version was put in its place")]
    BundleIdentity {
        path: String,
        package: String,
        version: String,
        got_package: String,
        got_version: String,
    },
    /// The bundle is signed by another signer than the app index lists.
    #[error("{package} {version} is signed by {signer}, but the index lists signer {listed}")]
    BundleSigner {
        package: String,
        version: String,
        signer: String,
        listed: String,
    },
    /// The bundle is signed by another signer than the one this client pinned for the package.
    #[error("{package} {version} is signed by {got}, but this client pinned signer {pinned} for {package} on {pinned_at}: a new signer is a different application on a node (its ApplicationId changes), and it may not be the publisher. If the publisher really moved to a new key, confirm it with them, then remove packages.\"{package}\" under \"{registry}\" from {}", state.display())]
    SignerChanged {
        package: String,
        version: String,
        pinned: String,
        pinned_at: String,
        got: String,
        registry: String,
        state: PathBuf,
    },
}

/// Where the key a catalog must be signed by comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `--trust`.
    Trust,
    /// Pinned for the registry on an earlier fetch (at that time, when known).
    Pin { pinned_at: Option<String> },
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Trust => f.write_str("named by --trust"),
            KeySource::Pin { pinned_at } => write!(
                f,
                "pinned for this registry on {}",
                pinned_at.as_deref().unwrap_or("first use")
            ),
        }
    }
}

impl Refusal {
    /// [`Refusal::Malformed`] for `document`, from what the strict JSON reader found.
    pub(super) fn malformed(document: &str, problems: &[Problem]) -> Refusal {
        let reasons = problems
            .iter()
            .map(|p| match p.rule {
                Rule::DuplicateKey => format!("{}; parsers disagree on which copy wins", p.message),
                _ => p.message.clone(),
            })
            .collect();
        Refusal::Malformed {
            document: document.to_owned(),
            reasons,
        }
    }
}

fn catalog_signature(found: &[Problem]) -> String {
    if found.iter().any(|p| p.rule == Rule::SignatureInvalid) {
        "it does not verify: index.json was changed after it was signed, or the signature is not by the key it names".to_owned()
    } else {
        problems(found)
    }
}

fn catalog_key_advice(key: &str, source: &KeySource) -> String {
    match source {
        KeySource::Trust => "check the key the registry publishes (keys.json, and its announcement) before trusting another one".to_owned(),
        KeySource::Pin { .. } => format!(
            "if the registry really rotated its key, confirm the new key out of band and pass --trust {key} once to re-pin it"
        ),
    }
}

fn no_expiry(found: Option<&str>) -> String {
    match found {
        None => "the signed index.json has no `expires`; a client cannot tell a stale copy from a fresh one".to_owned(),
        Some(text) => format!("the signed index.json has `expires` {text:?}, which is not an RFC 3339 time"),
    }
}

fn mismatch(path: &str, signed_index: bool) -> String {
    format!(
        "the bundle served at {path} does not match the{} index",
        if signed_index { " signed" } else { "" }
    )
}

/// Problems on one line, `; `-separated.
pub(super) fn problems(list: &[Problem]) -> String {
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn human_duration(seconds: i64) -> String {
    match seconds {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3_600),
        s if s >= 3_600 => format!("{}h {}m", s / 3_600, s % 3_600 / 60),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
