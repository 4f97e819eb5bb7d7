//! An import as text for people and as JSON for scripts (the shape is in docs/import.md).

use std::fmt::Write;

use serde_json::{json, Value};

use super::{Import, PackageImport, PackageToml, VersionImport, VersionOutcome};
use crate::report::escape_controls;

/// Version of the JSON report shape; bumped only on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

impl Import {
    /// A line per version, each refusal with its problems and fixes, then the totals and the
    /// packages that need owners.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for package in &self.packages {
            let name = escape_controls(&package.package);
            if let Some(error) = &package.error {
                let _ = writeln!(out, "FAILED    {name}: {}", escape_controls(error));
            }
            for version in &package.versions {
                version_text(&mut out, &name, version);
            }
            if package.package_toml == PackageToml::Written {
                let path = self.out.join(&package.package).join("package.toml");
                let _ = writeln!(
                    out,
                    "wrote     {}",
                    escape_controls(&path.display().to_string())
                );
            }
        }
        let count =
            |f: fn(&VersionOutcome) -> bool| self.versions().filter(|(_, v)| f(&v.outcome)).count();
        let _ = writeln!(
            out,
            "{} imported, {} already there, {} refused, {} failed ({} downloaded) from {}",
            count(|o| matches!(o, VersionOutcome::Imported(_))),
            count(|o| matches!(o, VersionOutcome::Present { .. })),
            count(|o| matches!(o, VersionOutcome::Refused(_))),
            count(|o| matches!(o, VersionOutcome::Failed(_))),
            self.downloads,
            self.source,
        );
        if self.stopped {
            out.push_str("stopped at the first failure (--fail-fast); run again without it to import the rest\n");
        }
        let owners: Vec<&PackageImport> = self.packages.iter().filter(|p| p.needs_owners).collect();
        if !owners.is_empty() {
            out.push_str(
                "these packages need owners before `check` accepts changes to them (set `owners` or `org` in their package.toml):\n",
            );
            for p in owners {
                let _ = writeln!(out, "  {}", escape_controls(&p.package));
            }
        }
        out
    }

    /// The JSON report.
    pub fn to_json(&self) -> String {
        let packages: Vec<Value> = self.packages.iter().map(package_json).collect();
        let doc = json!({
            "schemaVersion": SCHEMA_VERSION,
            "source": self.source,
            "out": self.out.display().to_string(),
            "ok": !self.failed() && !self.refused(),
            "stopped": self.stopped,
            "downloads": self.downloads,
            "packages": packages,
            "needOwners": self.packages.iter().filter(|p| p.needs_owners).map(|p| &p.package).collect::<Vec<_>>(),
        });
        serde_json::to_string_pretty(&doc).expect("the report serializes")
    }
}

fn version_text(out: &mut String, package: &str, v: &VersionImport) {
    let version = escape_controls(&v.version);
    let file = v.file.display().to_string();
    let file = escape_controls(&file);
    let yanked = if v.yanked { " (yanked)" } else { "" };
    match &v.outcome {
        VersionOutcome::Imported(_) => {
            let _ = writeln!(out, "imported  {package} {version}{yanked} -> {file}");
        }
        VersionOutcome::Present { downloaded, .. } => {
            let how = if *downloaded {
                "holds the same bytes"
            } else {
                "holds this signed manifest (not downloaded)"
            };
            let _ = writeln!(out, "present   {package} {version}{yanked}: {file} {how}");
        }
        VersionOutcome::Refused(problems) => {
            let _ = writeln!(
                out,
                "REFUSED   {package} {version}: {} problem(s), not written",
                problems.len()
            );
            for p in problems {
                let _ = writeln!(
                    out,
                    "  error[{}] {}: {}\n    fix: {}",
                    p.rule.code(),
                    escape_controls(&p.subject),
                    escape_controls(&p.message),
                    p.hint
                );
            }
        }
        VersionOutcome::Failed(error) => {
            let _ = writeln!(
                out,
                "FAILED    {package} {version}: {}",
                escape_controls(error)
            );
        }
    }
    if !v.listing_differs.is_empty() {
        let fields = escape_controls(&v.listing_differs.join(", ")).into_owned();
        let _ = writeln!(
            out,
            "  note: the server lists other {fields} than the signed manifest; the signed one is kept"
        );
    }
}

fn package_json(p: &PackageImport) -> Value {
    let versions: Vec<Value> = p.versions.iter().map(version_json).collect();
    json!({
        "package": p.package,
        "listing": p.listing,
        "error": p.error,
        "packageToml": p.package_toml,
        "needsOwners": p.needs_owners,
        "versions": versions,
    })
}

fn version_json(v: &VersionImport) -> Value {
    let (status, bundle, problems, error) = match &v.outcome {
        VersionOutcome::Imported(b) => ("imported", Some(b), None, None),
        VersionOutcome::Present { bundle, .. } => ("present", Some(bundle), None, None),
        VersionOutcome::Refused(problems) => ("refused", None, Some(problems), None),
        VersionOutcome::Failed(e) => ("failed", None, None, Some(e)),
    };
    json!({
        "version": v.version,
        "yanked": v.yanked,
        "file": v.file.display().to_string(),
        "status": status,
        "bundle": bundle,
        "problems": problems.cloned().unwrap_or_default(),
        "error": error,
        "listingDiffers": v.listing_differs,
    })
}
