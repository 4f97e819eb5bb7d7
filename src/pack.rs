//! Making and signing a bundle (what `cargo mero bundle` does), reproducibly.
//!
//! The tar is fixed in every detail a clock or a machine could change — mtimes, owners, modes,
//! entry order, gzip header — so the same inputs always give the same bytes.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::signature;

/// The artifact objects of a manifest in cargo-mero's order: `wasm`, `abi`, then each
/// service's `wasm` and `abi`.
fn artifact_slots(manifest: &mut Map<String, Value>) -> Vec<&mut Map<String, Value>> {
    let (mut slots, services) = wasm_abi_services(manifest);
    for service in services.into_iter().flatten() {
        if let Value::Object(service) = service {
            slots.extend(wasm_abi_services(service).0);
        }
    }
    slots
}

/// An object's `wasm` then `abi` artifact objects, and its `services` array.
#[allow(clippy::type_complexity)]
fn wasm_abi_services(
    object: &mut Map<String, Value>,
) -> (Vec<&mut Map<String, Value>>, Option<&mut Vec<Value>>) {
    let (mut wasm, mut abi, mut services) = (None, None, None);
    for (key, value) in object.iter_mut() {
        match (key.as_str(), value) {
            ("wasm", Value::Object(a)) => wasm = Some(a),
            ("abi", Value::Object(a)) => abi = Some(a),
            ("services", Value::Array(s)) => services = Some(s),
            _ => {}
        }
    }
    (wasm.into_iter().chain(abi).collect(), services)
}

/// Fills in each artifact's `hash` and `size` from the files under `root`, signs the manifest
/// with `key`, and writes the bundle to `out`: `manifest.json` first, then each artifact once,
/// in declaration order (the cargo-mero layout).
pub fn pack(
    mut manifest: Map<String, Value>,
    root: &Path,
    key: &SigningKey,
    out: impl Write,
) -> Result<()> {
    let mut paths = Vec::new();
    for slot in artifact_slots(&mut manifest) {
        let Some(Value::String(path)) = slot.get("path") else {
            bail!("an artifact in the manifest has no string `path`");
        };
        let path = path.clone();
        if path.starts_with('/') || path.split('/').any(|c| c == "..") || path.contains('\\') {
            bail!("artifact path {path:?} must be relative and stay inside the bundle");
        }
        let (digest, size) = digest_file(&root.join(&path))?;
        slot.insert("hash".into(), Value::String(digest));
        slot.insert("size".into(), Value::from(size));
        paths.push(path);
    }
    if paths.is_empty() {
        bail!("the manifest declares no artifacts (a `wasm`, or `services` with a wasm each)");
    }
    signature::sign(&mut manifest, key);
    let mut manifest_bytes = serde_json::to_vec_pretty(&Value::Object(manifest))?;
    manifest_bytes.push(b'\n');

    let gzip = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(out, flate2::Compression::best());
    let mut tar = tar::Builder::new(gzip);
    tar.mode(tar::HeaderMode::Deterministic);
    append(
        &mut tar,
        "manifest.json",
        manifest_bytes.len() as u64,
        &manifest_bytes[..],
    )?;
    let mut written = BTreeSet::new();
    for path in paths {
        if written.insert(path.clone()) {
            let file = root.join(&path);
            let size = file.metadata()?.len();
            let reader =
                File::open(&file).with_context(|| format!("cannot read {}", file.display()))?;
            append(&mut tar, &path, size, reader)?;
        }
    }
    tar.into_inner()?.finish()?.flush()?;
    Ok(())
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    tar.append_data(&mut header, path, data.take(size))
}

fn digest_file(path: &Path) -> Result<(String, u64)> {
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let size = io::copy(&mut file, &mut hasher)?;
    Ok((hex::encode(hasher.finalize()), size))
}
