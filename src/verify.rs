//! A bundle's verdict: the node's checks in the node's order, then the registry's own.
//!
//! Order (spec §3): bound and read the manifest → parse → field and path rules →
//! `minRuntimeVersion` → signature → single manifest → artifact digests. Unlike a node, every
//! check runs even after one fails, so the report lists everything at once.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::bundle::{self, EntryKind, Limits, Scan};
use crate::canonical::Scheme;
use crate::content_id::{BlobReader, ContentId};
use crate::git::ObjectFormat;
use crate::identity::application_id;
use crate::keys::{well_known_key, DEV_KEY_SIGNER};
use crate::manifest::{self, Artifact, Manifest};
use crate::report::{escape_controls, Findings, Rule};
use crate::signature::{self, Signed};

/// Policy switches that change a verdict.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Accept the public development key (for local test registries only).
    pub allow_dev_key: bool,
    pub limits: Limits,
}

/// Everything known about one bundle file. `bundle` is set only when it passed.
#[derive(Debug, Clone)]
pub struct Report {
    pub file: String,
    pub problems: Vec<crate::report::Problem>,
    pub warnings: Vec<crate::report::Problem>,
    pub bundle: Option<Verified>,
    /// The manifest as parsed, whenever it could be (also for refused bundles); not part of
    /// the JSON report (`inspect --json` adds it).
    pub manifest: Option<Map<String, Value>>,
}

/// The facts of a bundle that passed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    pub package: String,
    pub app_version: String,
    pub signer_id: String,
    /// Which payload the signature covers, and so which nodes install the bundle.
    pub signature_scheme: Scheme,
    pub application_id: String,
    pub min_runtime_version: String,
    pub bundle_sha256: String,
    pub bundle_size: u64,
    pub manifest_sha256: String,
    pub artifacts: Vec<Artifact>,
    /// The manifest exactly as stored in the bundle (republished byte for byte).
    #[serde(skip)]
    pub manifest_bytes: Vec<u8>,
}

/// Verifies the bundle at `path`; `file` is the name reports use for it.
pub fn verify_file(path: &Path, file: &str, options: &Options) -> Report {
    match open(path) {
        Ok((f, _)) => verify_reader(f, file, options),
        Err(e) => cannot_open(file, e),
    }
}

/// [`verify_file`], also naming the bytes it read as a git blob: the id under which the
/// verdict may be cached, whatever happened to the file meanwhile.
pub fn verify_file_as_blob(
    path: &Path,
    file: &str,
    options: &Options,
    format: ObjectFormat,
) -> (Report, Option<ContentId>) {
    match open(path) {
        Ok((f, len)) => {
            let mut reader = BlobReader::new(f, format, len);
            (verify_reader(&mut reader, file, options), reader.finish())
        }
        Err(e) => (cannot_open(file, e), None),
    }
}

/// Opens a bundle file, with its length.
fn open(path: &Path) -> std::io::Result<(File, u64)> {
    let f = File::open(path)?;
    let meta = f.metadata()?;
    // A folder opens fine on Unix but fails on the first read, which would be reported as
    // a damaged gzip stream; it is a file that cannot be read.
    if meta.is_dir() {
        return Err(std::io::ErrorKind::IsADirectory.into());
    }
    Ok((f, meta.len()))
}

fn cannot_open(file: &str, e: std::io::Error) -> Report {
    let mut findings = Findings::default();
    if e.kind() == std::io::ErrorKind::IsADirectory {
        findings.problems.push(crate::report::Problem {
            hint: "name the .mpk files in it (`mpk-registry verify DIR/*.mpk`); a registry folder is checked whole by `mpk-registry build`",
            ..crate::report::Problem::new(Rule::Io, file, "is a folder, not a bundle file")
        });
    } else {
        findings.refuse(Rule::Io, file, format!("cannot open: {e}"));
    }
    finish(file, findings, None, None)
}

/// Verifies a bundle read from `input`.
pub fn verify_reader(input: impl Read, file: &str, options: &Options) -> Report {
    let mut findings = Findings::default();
    let mut parsed: Option<(Map<String, Value>, Manifest, Option<Signed>)> = None;
    let mut on_manifest = |bytes: &[u8], findings: &mut Findings| {
        let raw = manifest::parse(bytes, findings)?;
        let checked = manifest::check(&raw, findings);
        let signer = signature::verify(&raw, &Scheme::ALL, findings);
        let paths: BTreeSet<String> = checked
            .artifacts
            .iter()
            .map(|a| bundle::path_key(&a.path))
            .collect();
        parsed = Some((raw, checked, signer));
        Some(paths)
    };
    let scan = bundle::scan(input, options.limits, &mut findings, &mut on_manifest);
    let Some((raw, manifest, signer)) = parsed else {
        return finish(file, findings, None, None);
    };
    // Entries after a damaged or refused part of the archive were never seen.
    if scan.complete {
        check_artifacts(&manifest, &scan, &mut findings);
    }
    if let Some(signed) = &signer {
        check_signer_policy(&signed.signer, options, &mut findings);
    }
    let verified = findings
        .is_clean()
        .then(|| describe(manifest, signer, scan))
        .flatten();
    finish(file, findings, verified, Some(raw))
}

fn finish(
    file: &str,
    findings: Findings,
    bundle: Option<Verified>,
    manifest: Option<Map<String, Value>>,
) -> Report {
    Report {
        file: file.to_owned(),
        problems: findings.problems,
        warnings: findings.warnings,
        bundle,
        manifest,
    }
}

/// Every declared artifact present exactly once, as a regular file, with the declared digest
/// and size. Several services may share one path; each declaration is checked.
fn check_artifacts(manifest: &Manifest, scan: &Scan, findings: &mut Findings) {
    let mut reported = BTreeSet::new();
    for artifact in &manifest.artifacts {
        let seen = scan
            .entries
            .get(&bundle::path_key(&artifact.path))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let entry = match seen {
            [] => {
                if reported.insert(&artifact.path) {
                    findings.refuse(
                        Rule::ArtifactMissing,
                        &artifact.path,
                        format!(
                            "named by {}.path but missing from the archive",
                            artifact.field
                        ),
                    );
                }
                continue;
            }
            [one] => one,
            many => {
                if reported.insert(&artifact.path) {
                    findings.refuse(
                        Rule::ArtifactDuplicate,
                        &artifact.path,
                        format!("appears {} times in the archive", many.len()),
                    );
                }
                continue;
            }
        };
        let Some(digest) = entry.sha256.filter(|_| entry.kind == EntryKind::File) else {
            if reported.insert(&artifact.path) {
                findings.refuse(
                    Rule::ArtifactNotFile,
                    &artifact.path,
                    format!("is {}, not a regular file", entry.kind.describe()),
                );
            }
            continue;
        };
        let actual = hex::encode(digest);
        if actual != artifact.sha256 {
            findings.refuse(
                Rule::Digest,
                &artifact.path,
                format!(
                    "SHA-256 is {actual} but {}.hash says {}",
                    artifact.field, artifact.sha256
                ),
            );
        }
        if entry.size != artifact.size {
            findings.refuse(
                Rule::Size,
                &artifact.path,
                format!(
                    "is {} bytes but {}.size says {}",
                    entry.size, artifact.field, artifact.size
                ),
            );
        }
    }
}

fn check_signer_policy(signer: &str, options: &Options, findings: &mut Findings) {
    if let Some(why) = well_known_key(signer) {
        if !(options.allow_dev_key && signer == DEV_KEY_SIGNER) {
            findings.refuse(
                Rule::WellKnownKey,
                "signerId",
                format!("{signer} is {why}; anyone can sign as it"),
            );
        }
    }
}

fn describe(manifest: Manifest, signed: Option<Signed>, scan: Scan) -> Option<Verified> {
    let package = manifest.package?;
    let Signed {
        signer: signer_id,
        scheme,
    } = signed?;
    let manifest_bytes = scan.manifest?;
    let (bundle_digest, bundle_size) = scan.file_digest?;
    Some(Verified {
        application_id: application_id(&package, &signer_id),
        package,
        app_version: manifest.app_version?,
        signer_id,
        signature_scheme: scheme,
        min_runtime_version: manifest.min_runtime_version?,
        bundle_sha256: hex::encode(bundle_digest),
        bundle_size,
        manifest_sha256: hex::encode(Sha256::digest(&manifest_bytes)),
        artifacts: manifest.artifacts,
        manifest_bytes,
    })
}

/// Version of the JSON report shape; bumped only on incompatible changes.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// `verify --json`: `{"schemaVersion": 1, "reports": [Report…]}`.
pub fn reports_json(reports: &[Report]) -> String {
    let doc = serde_json::json!({"schemaVersion": REPORT_SCHEMA_VERSION, "reports": reports});
    serde_json::to_string_pretty(&doc).expect("reports serialize")
}

/// `inspect --json`: the report plus the manifest as parsed.
pub fn inspect_json(report: &Report) -> String {
    let doc = serde_json::json!({
        "schemaVersion": REPORT_SCHEMA_VERSION,
        "report": report,
        "manifest": report.manifest,
    });
    serde_json::to_string_pretty(&doc).expect("reports serialize")
}

impl Report {
    /// Whether the file passed: no problem, whatever the warnings. Derived, never kept, so no
    /// code path can add a problem and forget to refuse. (A bundle whose checks all passed
    /// always has `bundle`: describing it needs only what the checks require.)
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The JSON shape of docs/report.md: `ok` is written beside the problems it comes from.
impl Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut doc = s.serialize_struct("Report", 5)?;
        doc.serialize_field("file", &self.file)?;
        doc.serialize_field("ok", &self.ok())?;
        doc.serialize_field("problems", &self.problems)?;
        doc.serialize_field("warnings", &self.warnings)?;
        if let Some(bundle) = &self.bundle {
            doc.serialize_field("bundle", bundle)?;
        }
        doc.end()
    }
}

impl Report {
    /// A report on a file that is not a bundle (a settings file, a deleted path), with these
    /// problems; ok when there are none.
    pub fn for_file(file: &str, problems: Vec<crate::report::Problem>) -> Report {
        Report {
            file: file.to_owned(),
            problems,
            warnings: Vec::new(),
            bundle: None,
            manifest: None,
        }
    }

    /// The human verdict: a line per file, then each problem with its fix. Text from the
    /// bundle or the file system has its control characters escaped, so that no name or
    /// message can start a line of its own or drive the terminal.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let file = escape_controls(&self.file);
        match (&self.bundle, self.problems.is_empty()) {
            (Some(b), true) => {
                let _ = writeln!(
                    out,
                    "ok       {file}: {} {} signed by {} ({} signature: installs on {})",
                    escape_controls(&b.package),
                    escape_controls(&b.app_version),
                    escape_controls(&b.signer_id),
                    b.signature_scheme,
                    b.signature_scheme.installs_on()
                );
            }
            // A file that is not a bundle (settings, a deletion) with nothing against it.
            (None, true) if self.ok() => {
                let _ = writeln!(out, "ok       {file}");
            }
            _ => {
                let _ = writeln!(out, "REFUSED  {file}: {} problem(s)", self.problems.len());
            }
        }
        for (label, list) in [("error", &self.problems), ("warning", &self.warnings)] {
            for p in list {
                let _ = writeln!(
                    out,
                    "  {label}[{}] {}: {}",
                    p.rule.code(),
                    escape_controls(&p.subject),
                    escape_controls(&p.message)
                );
                let _ = writeln!(out, "    fix: {}", p.hint);
            }
        }
        out
    }

    /// What `inspect` shows: identity, digests, artifacts, then the verdict.
    pub fn to_inspect_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        if let Some(b) = &self.bundle {
            let rows = [
                ("package", b.package.as_str()),
                ("appVersion", &b.app_version),
                ("minRuntimeVersion", &b.min_runtime_version),
                ("signerId", &b.signer_id),
                ("signature scheme", b.signature_scheme.name()),
                ("ApplicationId", &b.application_id),
                ("bundle sha256", &b.bundle_sha256),
                ("manifest sha256", &b.manifest_sha256),
            ];
            for (k, v) in rows {
                let _ = writeln!(out, "{k:<18} {}", escape_controls(v));
            }
            let _ = writeln!(out, "{:<18} {} bytes", "bundle size", b.bundle_size);
            let _ = writeln!(out, "artifacts:");
            for a in &b.artifacts {
                let _ = writeln!(
                    out,
                    "  {:<28} {:>10} bytes  sha256 {}  ({})",
                    escape_controls(&a.path),
                    a.size,
                    a.sha256,
                    escape_controls(&a.field)
                );
            }
        } else if let Some(manifest) = &self.manifest {
            let _ = writeln!(out, "manifest (as found; the bundle does not verify):");
            let pretty = serde_json::to_string_pretty(manifest).expect("JSON values serialize");
            // JSON escapes C0 in strings, but not DEL nor C1 (U+009B is a one-byte CSI).
            for line in pretty.lines() {
                let _ = writeln!(out, "  {}", escape_controls(line));
            }
        }
        out.push_str(&self.to_text());
        out
    }
}
