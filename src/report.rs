//! Findings about a bundle, as data.
//!
//! A bad bundle is not an early return: every check appends a [`Problem`] and carries on, so a
//! publisher sees everything that is wrong in one run. Each problem names the [`Rule`] it broke
//! (a stable code that scripts can match on), the manifest field or archive entry involved, and a
//! hint that says what to do.

use serde::Serialize;

/// Every rule the tool enforces. The kebab-case code (`Rule::code`) is part of the JSON report
/// and never changes meaning once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    // Container (spec §1).
    Io,
    Gzip,
    TrailingData,
    Tar,
    SizeCap,
    ExtensionHeader,
    ManifestMissing,
    ManifestOffset,
    ManifestSize,
    ManifestDuplicate,
    ManifestNotFile,
    ArtifactMissing,
    ArtifactDuplicate,
    ArtifactNotFile,
    // Manifest (spec §2).
    Json,
    Bom,
    DuplicateKey,
    Required,
    Type,
    Package,
    AppVersion,
    MinRuntimeVersion,
    ArtifactHash,
    ArtifactPath,
    NoWasm,
    // Signature (spec §3).
    SignatureMissing,
    SignatureAlgorithm,
    SignatureEncoding,
    SignatureInvalid,
    SignerIdMismatch,
    // Digests.
    Digest,
    Size,
    // Registry policy.
    WellKnownKey,
    FileName,
    SignerChange,
    Immutable,
    VersionExists,
    VersionOrder,
    Ownership,
    PackageConfig,
    ServicesOverride,
}

impl Rule {
    pub fn code(self) -> &'static str {
        use Rule::*;
        match self {
            Io => "io",
            Gzip => "archive.gzip",
            TrailingData => "archive.trailing-data",
            Tar => "archive.tar",
            SizeCap => "archive.size-cap",
            ExtensionHeader => "archive.extension-header",
            ManifestMissing => "archive.manifest-missing",
            ManifestOffset => "archive.manifest-offset",
            ManifestSize => "archive.manifest-size",
            ManifestDuplicate => "archive.manifest-duplicate",
            ManifestNotFile => "archive.manifest-not-file",
            ArtifactMissing => "archive.artifact-missing",
            ArtifactDuplicate => "archive.artifact-duplicate",
            ArtifactNotFile => "archive.artifact-not-file",
            Json => "manifest.json",
            Bom => "manifest.bom",
            DuplicateKey => "manifest.duplicate-key",
            Required => "manifest.required",
            Type => "manifest.type",
            Package => "manifest.package",
            AppVersion => "manifest.app-version",
            MinRuntimeVersion => "manifest.min-runtime-version",
            ArtifactHash => "manifest.artifact-hash",
            ArtifactPath => "manifest.artifact-path",
            NoWasm => "manifest.no-wasm",
            ServicesOverride => "manifest.services-override",
            SignatureMissing => "signature.missing",
            SignatureAlgorithm => "signature.algorithm",
            SignatureEncoding => "signature.encoding",
            SignatureInvalid => "signature.invalid",
            SignerIdMismatch => "signature.signer-id",
            Digest => "artifact.digest",
            Size => "artifact.size",
            WellKnownKey => "policy.well-known-key",
            FileName => "policy.file-name",
            SignerChange => "policy.signer-change",
            Immutable => "policy.immutable",
            VersionExists => "policy.version-exists",
            VersionOrder => "policy.version-order",
            Ownership => "policy.ownership",
            PackageConfig => "policy.package-config",
        }
    }

    /// What a publisher should do about it. Kept next to the code so every rule has one.
    pub fn hint(self) -> &'static str {
        use Rule::*;
        match self {
            Io => "check that the file exists and is readable",
            Gzip => "rebuild the bundle with `cargo mero bundle` or `mpk-registry pack`; an .mpk is one gzip member holding a tar archive",
            TrailingData => "remove the bytes after the gzip stream; concatenated or padded files are ambiguous",
            Tar => "the tar stream is damaged; rebuild the bundle",
            SizeCap => "keep the decompressed archive under 512 MiB, headers included",
            ExtensionHeader => "use short entry names; long-name and pax headers are limited to 64 KiB and may not override sizes",
            ManifestMissing => "put manifest.json at the top level of the archive (not in a folder), as the first entry",
            ManifestOffset => "write manifest.json as the first entry of the archive",
            ManifestSize => "keep manifest.json under 1 MiB; large icons belong in a URL, not the manifest",
            ManifestDuplicate => "keep exactly one manifest.json (./manifest.json is the same entry)",
            ManifestNotFile => "manifest.json must be a regular file, not a link or directory",
            ArtifactMissing => "add the file to the archive at exactly the path the manifest declares",
            ArtifactDuplicate => "keep one entry per declared path (./x and x are the same entry)",
            ArtifactNotFile => "store the artifact as a regular file, not a symlink, hardlink or directory",
            Json => "manifest.json must be a UTF-8 JSON object",
            Bom => "save manifest.json without a byte-order mark",
            DuplicateKey => "remove the repeated key; parsers disagree on which copy wins",
            Required => "add the field; see the manifest table in the format documentation",
            Type => "give the field the documented JSON type",
            Package => "use 1-128 characters from A-Z a-z 0-9 . _ - (no '..')",
            AppVersion => "use a semver version (1-128 characters from A-Z a-z 0-9 . _ -, no '+' build metadata)",
            MinRuntimeVersion => "use a semver version such as 0.1.0",
            ArtifactHash => "set hash to the bare hex SHA-256 of the file (64 characters, no 'sha256:' prefix)",
            ArtifactPath => "use a relative path inside the archive without '..', '\\', a leading '/', or a drive letter",
            NoWasm => "declare a top-level `wasm` artifact or a non-empty `services` list",
            ServicesOverride => "drop the top-level wasm/abi when `services` is used; nodes ignore them",
            SignatureMissing => "sign the bundle with `mero-sign`, `cargo mero bundle` or `mpk-registry pack`",
            SignatureAlgorithm => "set signature.algorithm to exactly \"ed25519\"",
            SignatureEncoding => "encode publicKey (32 bytes) and signature (64 bytes) as base64url without padding",
            SignatureInvalid => "re-sign the bundle after the last edit of manifest.json",
            SignerIdMismatch => "set signerId to the did:key of signature.publicKey (re-sign with the intended key)",
            Digest => "rebuild the bundle so the manifest hashes the files it ships, then re-sign",
            Size => "set size to the file's byte length, then re-sign",
            WellKnownKey => "sign with your own key (`mpk-registry keygen`); this key's private half is public",
            FileName => "name the file registry-src/<package>/<package>-<appVersion>.mpk after its manifest",
            SignerChange => "sign with the package's key, or have an owner add the new signerId to package.toml `signers`",
            Immutable => "published bundles never change; publish a new version and yank the old one instead",
            VersionExists => "bump appVersion; a published version cannot be replaced",
            VersionOrder => "this is allowed (a back-port) but will not become the latest version",
            Ownership => "ask an owner of the package (package.toml `owners` or its org) to make this change",
            PackageConfig => "fix package.toml; see the README section on package.toml",
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// One finding. `subject` is the manifest field (`wasm.hash`), the archive entry
/// (`app.wasm`) or the file the finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub rule: Rule,
    pub subject: String,
    pub message: String,
    pub hint: &'static str,
}

impl Problem {
    pub fn new(rule: Rule, subject: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            rule,
            subject: subject.into(),
            message: message.into(),
            hint: rule.hint(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}] {}: {}",
            self.rule.code(),
            self.subject,
            self.message
        )
    }
}

/// Problems refuse; warnings are reported and let the bundle through.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Findings {
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Findings {
    pub fn refuse(&mut self, rule: Rule, subject: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(rule, subject, message));
    }

    pub fn warn(&mut self, rule: Rule, subject: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem::new(rule, subject, message));
    }

    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn has(&self, rule: Rule) -> bool {
        self.problems.iter().any(|p| p.rule == rule)
    }
}
