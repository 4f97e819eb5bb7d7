//! `package.toml` for an imported package that has none: the signers the registry's rules
//! need, the server's yanks, and no owners (the maintainer names them). An existing file is
//! never edited.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::{Listed, VersionImport, VersionOutcome};
use crate::config::{self, PackageConfig};

/// What became of a package's `package.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageToml {
    /// This run wrote it.
    Written,
    /// It was there already and was left as it is.
    Kept,
    /// Not written yet: a version failed or was not attempted, and its signer might be missing
    /// from `signers`. The run that brings the rest in writes it.
    Deferred,
    /// The folder holds no version of the package.
    None,
}

/// Step 5: writes `<dir>/package.toml` when there is none and every listed version was
/// brought in or refused.
pub(super) fn write_if_absent(
    dir: &Path,
    source: &str,
    versions: &[VersionImport],
    listed: &[Listed],
) -> Result<PackageToml> {
    let path = dir.join("package.toml");
    if path.symlink_metadata().is_ok() {
        return Ok(PackageToml::Kept);
    }
    let unfinished = versions.len() < listed.len()
        || versions
            .iter()
            .any(|v| matches!(v.outcome, VersionOutcome::Failed(_)));
    if unfinished {
        return Ok(PackageToml::Deferred);
    }
    let present: Vec<(&VersionImport, &str)> = versions
        .iter()
        .filter_map(|v| match &v.outcome {
            VersionOutcome::Imported(b) | VersionOutcome::Present { bundle: b, .. } => {
                Some((v, b.signer_id.as_str()))
            }
            _ => None,
        })
        .collect();
    // Versions are oldest first: the first signer owns the package (policy's signer rule,
    // for bundles added in one commit), the others must be allowed.
    let Some((_, owner)) = present.first() else {
        return Ok(PackageToml::None);
    };
    let signers: BTreeSet<&str> = present
        .iter()
        .map(|(_, s)| *s)
        .filter(|s| s != owner)
        .collect();
    let yanked: Vec<(&str, String)> = present
        .iter()
        .filter(|(v, _)| v.yanked)
        .map(|(v, _)| {
            let reason = listed
                .iter()
                .find(|l| l.version == v.version)
                .and_then(|l| l.yank_reason.clone())
                .unwrap_or_else(|| format!("Yanked on {source} when it was imported."));
            (v.version.as_str(), reason)
        })
        .collect();
    let text = render(source, &signers, &yanked);
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    match file.persist_noclobber(&path) {
        Ok(_) => Ok(PackageToml::Written),
        // Someone wrote one meanwhile: theirs stays.
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(PackageToml::Kept),
        Err(e) => Err(e.error).with_context(|| format!("cannot write {}", path.display())),
    }
}

/// The file's text; every value is written as a TOML string, so no server text can add keys.
fn render(source: &str, signers: &BTreeSet<&str>, yanked: &[(&str, String)]) -> String {
    let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut text = format!(
        "# Imported from {source} by `mpk-registry import`.\n\
         #\n\
         # owners: the GitHub logins who may change this package (or set `org`). Until one is\n\
         # listed, `mpk-registry check` refuses every change to it that is not a registry\n\
         # maintainer's.\n\
         owners = []\n"
    );
    if !signers.is_empty() {
        text.push_str(
            "\n# Keys that signed versions besides the first version's signer, who owns the package.\n",
        );
        let list: Vec<String> = signers.iter().map(|s| quote(s)).collect();
        text.push_str(&format!("signers = [{}]\n", list.join(", ")));
    }
    if !yanked.is_empty() {
        text.push_str("\n# Versions the source registry had withdrawn.\nyanked = [\n");
        for (version, reason) in yanked {
            text.push_str(&format!(
                "  {{ version = {}, reason = {} }},\n",
                quote(version),
                quote(reason)
            ));
        }
        text.push_str("]\n");
    }
    text
}

/// The package's `package.toml` names no owner and no org.
pub(super) fn needs_owners(dir: &Path) -> bool {
    let path = dir.join("package.toml");
    path.is_file()
        && config::load::<PackageConfig>(&path)
            .is_ok_and(|config| config.owners.is_empty() && config.org.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_reads_back_as_written_whatever_the_reason_says() {
        let signers = BTreeSet::from(["did:key:z6Mkb"]);
        let reason = "Loses writes\"\n]\nowners = [\"mallory\"]".to_owned();
        let text = render("https://x/", &signers, &[("1.0.0", reason.clone())]);
        let config: PackageConfig = config::parse(&text, Path::new("package.toml")).unwrap();
        assert!(config.owners.is_empty());
        assert_eq!(config.signers, ["did:key:z6Mkb"]);
        assert_eq!(config.yank_reason("1.0.0"), Some(reason.as_str()));
    }
}
