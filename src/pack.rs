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

use crate::canonical::Scheme;
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
/// with `key` under `scheme`, and writes the bundle to `out`: `manifest.json` first, then each
/// artifact once, in declaration order (the cargo-mero layout).
pub fn pack(
    mut manifest: Map<String, Value>,
    root: &Path,
    key: &SigningKey,
    scheme: Scheme,
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
    signature::sign(&mut manifest, key, scheme);
    let mut manifest_bytes = serde_json::to_vec_pretty(&Value::Object(manifest))?;
    manifest_bytes.push(b'\n');

    let mut tar = tar::Builder::new(gzip(out));
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

/// The gzip member every bundle is written in: no name, no clock, no operating system.
fn gzip<W: Write>(out: W) -> flate2::write::GzEncoder<W> {
    flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(out, flate2::Compression::best())
}

/// Writes `bundle` re-signed under `scheme` with `key`, which must be the key that signed it:
/// every entry is copied header for header and byte for byte, and in `manifest.json` only the
/// signature's value changes (it keeps its length, so the entry's header stays too). Nodes that
/// verify the other scheme install the result; the bundle hash (SHA-256 of the canonical
/// manifest) is the same.
pub fn resign(bundle: impl Read, key: &SigningKey, scheme: Scheme, out: impl Write) -> Result<()> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bundle));
    let mut tar = tar::Builder::new(gzip(out));
    let mut manifests = 0;
    let mut after_extension = false;
    for entry in archive.entries()?.raw(true) {
        let mut entry = entry?;
        let header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        let is_manifest = !after_extension
            && crate::bundle::path_key(&String::from_utf8_lossy(&header.path_bytes()))
                == "manifest.json";
        after_extension = matches!(
            header.entry_type(),
            tar::EntryType::GNULongName | tar::EntryType::XHeader
        );
        if is_manifest {
            manifests += 1;
            data = resigned_manifest(&data, key, scheme)?;
        }
        tar.append(&header, data.as_slice())?;
    }
    if manifests != 1 {
        bail!("the bundle must hold exactly one plainly named manifest.json to be re-signed; it holds {manifests}");
    }
    tar.into_inner()?.finish()?.flush()?;
    Ok(())
}

/// `manifest` with its signature value replaced by one under `scheme`, nothing else changed.
fn resigned_manifest(manifest: &[u8], key: &SigningKey, scheme: Scheme) -> Result<Vec<u8>> {
    let mut findings = crate::report::Findings::default();
    let Some(parsed) = crate::manifest::parse(manifest, &mut findings) else {
        bail!("manifest.json cannot be read: {}", findings.problems[0]);
    };
    let Some(signed) = signature::verify(&parsed, &Scheme::ALL, &mut findings) else {
        let why: Vec<String> = findings.problems.iter().map(|p| p.to_string()).collect();
        bail!(
            "only a bundle whose signature verifies can be re-signed: {}",
            why.join("; ")
        );
    };
    let signer = crate::keys::did_key(&key.verifying_key());
    if signed.signer != signer {
        bail!(
            "the bundle is signed by {}; re-signing it needs that key, not {signer} (a new key would make it another application)",
            signed.signer
        );
    }
    if signed.scheme == scheme {
        bail!("the bundle is already signed under the {scheme} scheme");
    }
    let old = parsed["signature"]["signature"]
        .as_str()
        .expect("a verified signature is a string");
    let quoted = format!("\"{old}\"");
    let text = std::str::from_utf8(manifest).expect("a parsed manifest is UTF-8");
    if text.matches(&quoted).count() != 1 {
        bail!("the signature value appears more than once in manifest.json (or escaped), so it cannot be replaced in place; re-sign with `pack` from the manifest");
    }
    let mut resigned = parsed.clone();
    signature::sign(&mut resigned, key, scheme);
    let new = resigned["signature"]["signature"]
        .as_str()
        .expect("sign writes a string");
    Ok(text
        .replacen(&quoted, &format!("\"{new}\""), 1)
        .into_bytes())
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
