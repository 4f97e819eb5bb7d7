//! The registry's own settings, from TOML files in `registry-src/`.
//!
//! Unknown keys are refused: a misspelt policy switch must not silently do nothing.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::canonical::Scheme;

/// `registry-src/registry.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Shown in page titles and the feed.
    pub title: Option<String>,
    /// Where the site is served (`https://apps.example.com/`); enables sitemap.xml and
    /// absolute links in the feed.
    pub base_url: Option<String>,
    /// Accept the public development key. For local test registries only.
    #[serde(default)]
    pub allow_dev_key: bool,
    /// did:keys allowed to sign `index.json`. Clients pin one of them; to rotate, list the
    /// new key beside the old one for a while, then sign with it.
    #[serde(default)]
    pub index_keys: Vec<String>,
    /// GitHub logins who may change this file through a checked pull request.
    #[serde(default)]
    pub maintainers: Vec<String>,
    /// The signature schemes a new bundle may carry ([`Scheme`]); both while nodes move to
    /// core #4307's. Published bundles stay whatever this says later.
    pub signature_schemes: Option<Vec<Scheme>>,
    /// Which of a version's bundles its path, manifest and API answers serve when it has one
    /// under each scheme (the other stays at its content address): `legacy` until most nodes
    /// ship core #4307, then `v1`.
    #[serde(default)]
    pub serve_signature: Scheme,
}

impl RegistryConfig {
    /// The schemes new bundles may carry.
    pub fn accepted_schemes(&self) -> &[Scheme] {
        self.signature_schemes.as_deref().unwrap_or(&Scheme::ALL)
    }
}

/// `registry-src/<package>/package.toml`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PackageConfig {
    /// GitHub logins allowed to change the package.
    #[serde(default)]
    pub owners: Vec<String>,
    /// An organisation (`registry-src/orgs/<org>.toml`) whose members may change the package.
    pub org: Option<String>,
    /// did:keys allowed to sign versions, besides the signer of the first version.
    #[serde(default)]
    pub signers: Vec<String>,
    /// Withdrawn versions: still downloadable, marked everywhere, never the latest.
    #[serde(default)]
    pub yanked: Vec<Yank>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Yank {
    pub version: String,
    pub reason: String,
}

impl PackageConfig {
    pub fn yank_reason(&self, version: &str) -> Option<&str> {
        self.yanked
            .iter()
            .find(|y| y.version == version)
            .map(|y| y.reason.as_str())
    }
}

/// `registry-src/orgs/<org>.toml`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    #[serde(default)]
    pub members: Vec<String>,
}

/// Parses a TOML settings file. The error is one line, naming the file and where in it the
/// problem is (TOML's own text spans several lines, which reports would show as `\n`).
pub fn parse<T: serde::de::DeserializeOwned>(text: &str, file: &Path) -> Result<T> {
    toml::from_str(text).map_err(|e: toml::de::Error| {
        let message = e.message().trim().replace('\n', " ");
        match e.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
                anyhow::anyhow!(
                    "{} is not valid TOML at line {line}, column {column}: {message}",
                    file.display()
                )
            }
            None => anyhow::anyhow!("{} is not valid: {message}", file.display()),
        }
    })
}

/// Reads and parses a settings file.
pub fn load<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text, path)
}
