//! What the server has: its packages (`/api/v2/bundles`) and every version of each
//! (`?package=P&all_versions=true`). A server that ignores query strings answers the plain list
//! to that; this is detected from the answer, never assumed, and the versions are then read
//! from the per-package file this tool's sites publish (`/api/v2/packages/P/all.json`). When
//! neither gives an answer about P alone, P fails: importing the wrong list would be a guess.

use std::collections::BTreeSet;

use anyhow::{anyhow, bail, Result};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::fetch::registry::Registry;
use crate::fetch::MAX_INDEX_BYTES;
use crate::layout::ORGS;
use crate::manifest::is_coordinate;

/// How a package's versions were listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Listing {
    /// `?package=P&all_versions=true`.
    #[serde(rename = "query")]
    Query,
    /// `/api/v2/packages/P/all.json`, because the server ignores query strings.
    #[serde(rename = "all.json")]
    PackageFile,
}

/// A version as the server lists it. Nothing here is trusted: the bundle is verified, and only
/// its own facts are written.
#[derive(Debug, Clone)]
pub struct Listed {
    pub version: String,
    pub yanked: bool,
    /// The server's reason for the yank, when its answer carries one (`yankReason` or
    /// `yank_reason`).
    pub yank_reason: Option<String>,
    /// The item as listed: the manifest as the server has it, with fields of its own. A bundle
    /// already in the folder is recognised by it (see `transfer::already_there`), and fields
    /// that differ from the signed manifest are reported.
    pub fields: Map<String, Value>,
}

impl Listed {
    /// The top-level fields of `signed` (a bundle's signed manifest) that the server lists
    /// with another value, sorted; a field the listing leaves out is not one of them. The
    /// signature is left out: servers may show it in a shape of their own.
    pub fn differences(&self, signed: &Map<String, Value>) -> Vec<String> {
        signed
            .iter()
            .filter(|(key, value)| {
                *key != "signature" && self.fields.get(*key).is_some_and(|listed| listed != *value)
            })
            .map(|(key, _)| key.clone())
            .collect()
    }
}

/// The server's list (its bytes, to recognise it as the answer to a query it ignored) and the
/// packages to import: `wanted`, or else every package the list names, sorted.
pub(super) fn packages(registry: &Registry, wanted: &[String]) -> Result<(Vec<u8>, Vec<String>)> {
    let list = registry
        .read("api/v2/bundles", MAX_INDEX_BYTES)
        .map_err(|e| anyhow!("{}api/v2/bundles: {e}", registry.key))?;
    let names: BTreeSet<String> = if wanted.is_empty() {
        let listed: BTreeSet<String> = items(&list, "api/v2/bundles")?
            .iter()
            .map(|item| string(item, "package").map(str::to_owned))
            .collect::<Result<_>>()
            .map_err(|e| anyhow!("{}api/v2/bundles: {e}", registry.key))?;
        listed
            .into_iter()
            .chain(catalog_packages(registry))
            .collect()
    } else {
        wanted.iter().cloned().collect()
    };
    for name in &names {
        if !is_coordinate(name) || name == ORGS {
            bail!(
                "package {name:?} cannot be a folder of a registry: a package is 1-128 characters from A-Z a-z 0-9 . _ - (no '..'), and not {ORGS:?}"
            );
        }
    }
    Ok((list, names.into_iter().collect()))
}

/// The packages of this tool's catalog (`index.json`), where the site has one: its list leaves
/// out packages whose every version is yanked, and the catalog does not. A server without one
/// (the hosted registry) has nothing to add.
fn catalog_packages(registry: &Registry) -> Vec<String> {
    let Ok(bytes) = registry.read("index.json", MAX_INDEX_BYTES) else {
        return Vec::new();
    };
    let Ok(catalog) = serde_json::from_slice::<Value>(&bytes) else {
        return Vec::new();
    };
    catalog
        .get("apps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|app| app.get("package")?.as_str().map(str::to_owned))
        .collect()
}

/// Every version of `package`, oldest first, and how they were listed; an error says why they
/// could not be.
pub(super) fn versions(
    registry: &Registry,
    list: &[u8],
    package: &str,
) -> Result<(Listing, Vec<Listed>), String> {
    let query = format!("api/v2/bundles?package={package}&all_versions=true");
    let answer = registry
        .read(&query, MAX_INDEX_BYTES)
        .map_err(|e| format!("cannot list its versions: {e}"))?;
    let ignored = if answer == list {
        "is the plain list"
    } else {
        match read_versions(&answer, &query, package) {
            Ok(listed) if listed.is_empty() => {
                return Err(format!(
                    "the server has no version of it ({}{query} answered [])",
                    registry.key
                ))
            }
            Ok(listed) => return Ok((Listing::Query, listed)),
            Err(Foreign::Other(e)) => return Err(format!("{}{query}: {e}", registry.key)),
            Err(Foreign::Package(_)) => "lists other packages",
        }
    };
    let file = format!("api/v2/packages/{package}/all.json");
    let fallback = registry
        .read(&file, MAX_INDEX_BYTES)
        .map_err(|e| e.to_string())
        .and_then(|bytes| match read_versions(&bytes, &file, package) {
            Ok(listed) if listed.is_empty() => Err("it lists no version".to_owned()),
            Ok(listed) => Ok(listed),
            Err(Foreign::Package(other)) => Err(format!("it lists package {other}")),
            Err(Foreign::Other(e)) => Err(e.to_string()),
        });
    fallback.map(|listed| (Listing::PackageFile, listed)).map_err(|why| {
        format!(
            "the server ignores query strings (its answer to {query} {ignored}), and {file} does not list the versions either ({why}); import from a server that answers the read API's queries, such as `mpk-registry serve` of the site"
        )
    })
}

/// Why an answer is not a list of `package`'s versions.
enum Foreign {
    /// It lists another package: the server answered something else than what was asked.
    Package(String),
    Other(anyhow::Error),
}

/// The versions of `package` in an answer, oldest first.
fn read_versions(bytes: &[u8], what: &str, package: &str) -> Result<Vec<Listed>, Foreign> {
    let items = items(bytes, what).map_err(Foreign::Other)?;
    let mut listed: Vec<Listed> = Vec::new();
    for item in &items {
        let named = string(item, "package").map_err(Foreign::Other)?;
        if named != package {
            return Err(Foreign::Package(named.to_owned()));
        }
        let version = string(item, "appVersion").map_err(Foreign::Other)?;
        if !is_coordinate(version) {
            return Err(Foreign::Other(anyhow!(
                "it lists version {version:?}, which cannot name a file (1-128 characters from A-Z a-z 0-9 . _ -, no '..')"
            )));
        }
        if listed.iter().any(|l| l.version == version) {
            return Err(Foreign::Other(anyhow!("it lists version {version} twice")));
        }
        let yank_reason = ["yankReason", "yank_reason"]
            .iter()
            .find_map(|key| item.get(*key).and_then(Value::as_str))
            .map(str::to_owned);
        listed.push(Listed {
            version: version.to_owned(),
            yanked: item.get("yanked") == Some(&Value::Bool(true)),
            yank_reason,
            fields: item.clone(),
        });
    }
    listed.sort_by(|a, b| crate::version::compare(&a.version, &b.version));
    Ok(listed)
}

/// The objects of a JSON array answer.
fn items(bytes: &[u8], what: &str) -> Result<Vec<Map<String, Value>>> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| anyhow!("{what} is not JSON: {e}"))?;
    let Value::Array(items) = value else {
        bail!("{what} is not a JSON array, as the read API answers");
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(object) => Ok(object),
            _ => Err(anyhow!("item {i} of {what} is not a JSON object")),
        })
        .collect()
}

fn string<'a>(item: &'a Map<String, Value>, key: &str) -> Result<&'a str> {
    item.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("an item has no string {key:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(package: &str, version: &str) -> Value {
        serde_json::json!({"package": package, "appVersion": version, "yanked": false})
    }

    #[test]
    fn versions_are_read_oldest_first() {
        let answer = serde_json::to_vec(&[item("a", "1.10.0"), item("a", "1.2.0")]).unwrap();
        let listed = read_versions(&answer, "x", "a").ok().unwrap();
        let versions: Vec<&str> = listed.iter().map(|l| l.version.as_str()).collect();
        assert_eq!(versions, ["1.2.0", "1.10.0"]);
    }

    #[test]
    fn an_answer_naming_another_package_is_foreign() {
        let answer = serde_json::to_vec(&[item("a", "1.0.0"), item("b", "1.0.0")]).unwrap();
        assert!(matches!(
            read_versions(&answer, "x", "a"),
            Err(Foreign::Package(p)) if p == "b"
        ));
    }

    #[test]
    fn a_version_that_cannot_name_a_file_is_refused() {
        let answer = serde_json::to_vec(&[item("a", "../x")]).unwrap();
        assert!(matches!(
            read_versions(&answer, "x", "a"),
            Err(Foreign::Other(_))
        ));
    }
}
