//! Findings about a bundle, as data.
//!
//! A bad bundle is not an early return: every check appends a [`Problem`] and carries on, so a
//! publisher sees everything that is wrong in one run. Each problem names the [`Rule`] it broke
//! (a stable code that scripts can match on), the manifest field or archive entry involved, and a
//! hint that says what to do.

use std::borrow::Cow;

use serde::Serialize;

/// Declares every rule once: its variant, its stable code, and its fix hint.
macro_rules! rules {
    ($($(#[$doc:meta])* $variant:ident => $code:literal, $hint:literal;)*) => {
        /// Every rule the tool enforces. The kebab-case code (`Rule::code`) is part of the
        /// JSON report and never changes meaning once published.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule {
            $($(#[$doc])* $variant,)*
        }

        impl Rule {
            pub const ALL: &'static [Rule] = &[$(Rule::$variant,)*];

            pub fn code(self) -> &'static str {
                match self {
                    $(Rule::$variant => $code,)*
                }
            }

            /// What a publisher should do about it.
            pub fn hint(self) -> &'static str {
                match self {
                    $(Rule::$variant => $hint,)*
                }
            }
        }
    };
}

rules! {
    // Container (spec §1).
    Io => "io", "check that the file exists and is readable";
    Gzip => "archive.gzip", "rebuild the bundle with `cargo mero bundle` or `mpk-registry pack`; an .mpk is one gzip member holding a tar archive";
    TrailingData => "archive.trailing-data", "remove the bytes after the gzip stream; concatenated or padded files are ambiguous";
    Tar => "archive.tar", "the tar stream is damaged; rebuild the bundle";
    SizeCap => "archive.size-cap", "keep the decompressed archive under 512 MiB, headers included";
    ExtensionHeader => "archive.extension-header", "use short entry names; long-name and pax headers are limited to 64 KiB and may not override sizes";
    ManifestMissing => "archive.manifest-missing", "put manifest.json at the top level of the archive (not in a folder), as the first entry";
    ManifestOffset => "archive.manifest-offset", "write manifest.json as the first entry of the archive";
    ManifestSize => "archive.manifest-size", "keep manifest.json under 1 MiB; large icons belong in a URL, not the manifest";
    ManifestDuplicate => "archive.manifest-duplicate", "keep exactly one manifest.json (./manifest.json is the same entry)";
    ManifestNotFile => "archive.manifest-not-file", "manifest.json must be a regular file, not a link or directory";
    ArtifactMissing => "archive.artifact-missing", "add the file to the archive at exactly the path the manifest declares";
    ArtifactDuplicate => "archive.artifact-duplicate", "keep one entry per declared path (./x and x are the same entry)";
    EntryAbsolute => "archive.entry-absolute", "name every archive entry relative to the bundle's top (no leading '/'); rebuild the bundle with `mpk-registry pack` or `cargo mero bundle`";
    EntryParent => "archive.entry-parent", "remove entries whose names contain '..'; rebuild the bundle from a plain folder";
    EntryEmptyComponent => "archive.entry-empty-component", "write entry names with single '/' separators and no trailing '//' (a//b is another spelling of a/b)";
    ArtifactNotFile => "archive.artifact-not-file", "store the artifact as a regular file, not a symlink, hardlink or directory";
    // Manifest (spec §2).
    Json => "manifest.json", "manifest.json must be a UTF-8 JSON object; docs/manifest.md shows one";
    Bom => "manifest.bom", "save manifest.json without a byte-order mark";
    DuplicateKey => "manifest.duplicate-key", "remove the repeated key; parsers disagree on which copy wins";
    Required => "manifest.required", "add the field; docs/manifest.md lists every field, with examples";
    Type => "manifest.type", "give the field the JSON type docs/manifest.md lists for it";
    Package => "manifest.package", "use 1-128 characters from A-Z a-z 0-9 . _ - (no '..')";
    AppVersion => "manifest.app-version", "use a semver version (1-128 characters from A-Z a-z 0-9 . _ -, no '+' build metadata)";
    MinRuntimeVersion => "manifest.min-runtime-version", "use a semver version such as 0.1.0";
    ArtifactHash => "manifest.artifact-hash", "set hash to the bare hex SHA-256 of the file (64 characters, no 'sha256:' prefix)";
    ArtifactPath => "manifest.artifact-path", "use a relative path inside the archive without '..', '\\', a leading '/', or a drive letter";
    NoWasm => "manifest.no-wasm", "declare a top-level `wasm` artifact or a non-empty `services` list (docs/manifest.md)";
    ControlCharacter => "manifest.control-character", "remove control characters from manifest text; tab and newline are allowed only in metadata.description";
    TextSize => "manifest.text-size", "shorten the field (or send fewer tags); the limits are in the README's bundle rules";
    // Signature (spec §3).
    SignatureMissing => "signature.missing", "sign the bundle with `mero-sign`, `cargo mero bundle` or `mpk-registry pack`";
    SignatureAlgorithm => "signature.algorithm", "set signature.algorithm to exactly \"ed25519\"";
    SignatureEncoding => "signature.encoding", "encode publicKey (32 bytes) and signature (64 bytes) as base64url without padding";
    SignatureInvalid => "signature.invalid", "re-sign the bundle after the last edit of manifest.json";
    SignatureScheme => "signature.scheme", "sign under a scheme registry.toml `signature_schemes` accepts (`mpk-registry pack --scheme`, or `pack --resign` for a signed bundle)";
    SignerIdMismatch => "signature.signer-id", "set signerId to the did:key of signature.publicKey (re-sign with the intended key)";
    // Digests.
    Digest => "artifact.digest", "rebuild the bundle so the manifest hashes the files it ships, then re-sign";
    Size => "artifact.size", "set size to the file's byte length, then re-sign";
    // Registry policy.
    WellKnownKey => "policy.well-known-key", "sign with your own key (`mpk-registry keygen`); this key's private half is public";
    FileName => "policy.file-name", "name the file registry-src/<package>/<package>-<appVersion>.mpk after its manifest";
    SignerChange => "policy.signer-change", "sign with the package's key, or have an owner add the new signerId to package.toml `signers`";
    Resignature => "policy.re-signature", "a <package>-<version>+<scheme>.mpk file must be `mpk-registry pack --resign` of the published <package>-<version>.mpk: the same key and manifest, signed under the other scheme";
    Immutable => "policy.immutable", "published bundles never change; publish a new version and yank the old one instead";
    VersionExists => "policy.version-exists", "bump appVersion; a published version cannot be replaced";
    VersionOrder => "policy.version-order", "this is allowed (a back-port) but will not become the latest version";
    Ownership => "policy.ownership", "ask an owner of the package (package.toml `owners` or its org) to make this change";
    ReservedName => "policy.reserved-name", "choose another package name or appVersion; with this one the site would need one path for two things (the message names both)";
    Settings => "policy.settings", "fix the TOML file; see the README section on the input layout";
    PackageConfig => "policy.package-config", "fix the settings file named (registry.toml, package.toml or orgs/<org>.toml) so that it refers only to what exists; see the README section on the input layout";
    ServiceName => "manifest.service-name", "give every service a non-empty name of its own; two services with one name are ambiguous";
    ServicesOverride => "manifest.services-override", "drop the top-level wasm/abi when `services` is used; nodes ignore them";
    // The registry folder as git holds it.
    UnknownFile => "source.unknown-file", "remove the file, or move it out of the registry folder; only the documented layout is allowed there";
    PathName => "source.path-name", "rename the file so that every file system holds it: UTF-8 names of at most 255 bytes, no control characters, none of \\ < > : \" | ? * ~, no trailing dot or space, no empty, '.' or '..' component, no Windows device name (CON, NUL, COM1, …) and no spelling of .git";
    NotAFile => "source.not-a-file", "commit the file itself: symbolic links and submodules are not allowed in the registry folder";
    NotATree => "source.not-a-tree", "keep the registry folder a plain folder at the same place (not a symbolic link, a submodule or a file)";
    Gitattributes => "source.gitattributes", "remove the .gitattributes rule: attributes that change checked-out bytes (text, eol, crlf, filter, ident, working-tree-encoding) may not apply to the registry folder";
    NotInGit => "source.not-in-git", "commit (or `git add`) the file, or restore it with `git restore`: only the bytes git holds are published";
    // The change a pull request makes.
    OutsideRegistry => "change.outside-registry", "ask a registry maintainer (registry.toml `maintainers`) to make changes outside the registry folder, in a pull request of their own";
    NameTaken => "change.name-taken", "choose another name: this one is already taken, in another letter case or by the registry itself, and case-insensitive file systems and hosts take the two for one";
    BaseNotAncestor => "change.base-not-ancestor", "rebase the change onto the base branch (or merge it in), so the comparison shows only what the change does";
}

impl Rule {
    /// The rule with this code, if any.
    pub fn from_code(code: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.code() == code)
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

/// `text` for a terminal or a CI log: each control character (C0, DEL, C1) written as in a Rust
/// string literal (`\n`, `\t`, `\0`, `\u{1b}`), everything else as it is. A file name with a
/// newline then cannot start a line of its own, nor an escape sequence drive the terminal.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
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

#[cfg(test)]
mod tests {
    use super::Rule;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut codes: Vec<&str> = Rule::ALL.iter().map(|r| r.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Rule::ALL.len());
        for rule in Rule::ALL {
            assert_eq!(Rule::from_code(rule.code()), Some(*rule));
        }
    }
}
