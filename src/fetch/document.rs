//! What every registry document must be before anything in it is used: strict JSON of a schema
//! this client knows, naming files by plain relative paths and SHA-256 digests in lowercase hex.

use anyhow::anyhow;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{FetchError, Refusal, Step};
use crate::report::Findings;
use crate::schema::{self, SCHEMA_VERSION};

/// A registry document as it was served: its bytes and, parsed strictly, the object they hold.
/// Nothing in it is believed until the steps that use it have checked it.
pub(super) struct Document {
    /// Where it is in the registry (`index.json`, `apps/<package>/index.json`).
    path: String,
    bytes: Vec<u8>,
    pub(super) object: Map<String, Value>,
}

impl Document {
    /// Parses a registry document strictly: a JSON object with no key twice at any depth,
    /// since parsers disagree on which copy of a repeated key wins.
    pub(super) fn parse(bytes: Vec<u8>, path: &str) -> Step<Document> {
        let mut findings = Findings::default();
        match crate::manifest::parse(&bytes, &mut findings) {
            Some(object) => Ok(Document {
                path: path.to_owned(),
                bytes,
                object,
            }),
            None => Err(Refusal::malformed(path, &findings.problems).into()),
        }
    }

    /// Documents of a newer, incompatible shape are not guessed at: that needs an upgrade,
    /// not a refusal.
    pub(super) fn check_schema(&self) -> Step<()> {
        let document = &self.path;
        match schema::declared_version(&self.object) {
            Some(v) if v == u64::from(SCHEMA_VERSION) => Ok(()),
            Some(v) if v > u64::from(SCHEMA_VERSION) => Err(FetchError::Failed(anyhow!(
                "{document} has schemaVersion {v}; this mpk-registry understands {SCHEMA_VERSION}: upgrade it"
            ))),
            _ => Err(Refusal::Schema {
                document: document.clone(),
            }
            .into()),
        }
    }

    /// The document as its type in [`crate::schema`] (keys it does not declare are ignored).
    /// A document that is not one is refused with `no_list` when it lacks the list a client
    /// finds its way by (`list`: the catalog's `apps`, an app's `versions`), else with what is
    /// wrong with it.
    pub(super) fn read<T: DeserializeOwned>(
        &self,
        list: &str,
        no_list: impl FnOnce() -> Refusal,
    ) -> Step<T> {
        serde_json::from_slice(&self.bytes).map_err(|e| {
            if self.object.get(list).is_some_and(Value::is_array) {
                Refusal::Shape {
                    document: self.path.clone(),
                    reason: e.to_string(),
                }
                .into()
            } else {
                no_list().into()
            }
        })
    }
}

/// A path the registry's JSON names: relative, `/`-separated, plain segments only, so it can
/// neither leave the registry nor mean two different files.
pub(super) fn site_path(text: &str) -> bool {
    text.len() <= 1024
        && text.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment.bytes().all(crate::manifest::is_coordinate_byte)
        })
}

pub(super) fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{site_path, Document, FetchError, Refusal};
    use crate::schema::Catalog;

    fn read_catalog(doc: serde_json::Value) -> Result<Catalog, FetchError> {
        let document = Document::parse(serde_json::to_vec(&doc).unwrap(), "index.json")?;
        document.check_schema()?;
        document.read("apps", || Refusal::NoApps)
    }

    fn app() -> serde_json::Value {
        json!({
            "package": "com.example.app", "name": "App", "description": null, "author": null,
            "tags": [], "signerId": "did:key:z6Mk", "applicationId": "x",
            "latestVersion": "1.0.0", "versionCount": 1, "yankedVersions": [],
            "index": {"path": "apps/com.example.app/index.json", "sha256": "0".repeat(64)},
            "page": "apps/com.example.app/",
        })
    }

    fn catalog(apps: serde_json::Value) -> serde_json::Value {
        json!({
            "schemaVersion": 1,
            "registry": {"title": "T", "baseUrl": null},
            "apps": apps,
            "signature": null,
        })
    }

    #[test]
    fn keys_a_reader_does_not_know_are_ignored() {
        let mut entry = app();
        entry["addedLater"] = json!({"any": "shape"});
        let mut doc = catalog(json!([entry]));
        doc["mirrors"] = json!(["https://elsewhere.example/"]);
        let read = read_catalog(doc).map_err(|e| e.to_string()).unwrap();
        assert_eq!(read.apps[0].package, "com.example.app");
    }

    #[test]
    fn a_catalog_that_is_not_one_is_refused_with_what_is_wrong() {
        let mut entry = app();
        entry.as_object_mut().unwrap().remove("name");
        match read_catalog(catalog(json!([entry]))) {
            Err(FetchError::Refused(Refusal::Shape { document, reason })) => {
                assert_eq!(document, "index.json");
                assert!(reason.contains("missing field `name`"), "{reason}");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        let mut entry = app();
        entry["versionCount"] = json!("one");
        assert!(matches!(
            read_catalog(catalog(json!([entry]))),
            Err(FetchError::Refused(Refusal::Shape { .. }))
        ));
        // Without its list it is no catalog at all.
        for apps in [json!(null), json!({"com.example.app": app()})] {
            assert!(matches!(
                read_catalog(catalog(apps)),
                Err(FetchError::Refused(Refusal::NoApps))
            ));
        }
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
}
