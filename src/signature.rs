//! Manifest signatures (spec §3): Ed25519 over SHA-256 of the canonical manifest.

use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::{json, Map, Value};

use crate::canonical::{signing_payload, Scheme};
use crate::keys::{did_key, B64URL};
use crate::report::{Findings, Rule};

/// A signature that holds: who signed, and under which scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub signer: String,
    pub scheme: Scheme,
}

/// Checks `signature` and `signerId` as a node does, with dalek's `verify_strict` (which also
/// refuses weak keys), under each of `schemes` (a node that ships core #4307 tries only
/// [`Scheme::V1`], one before it only [`Scheme::Legacy`]). Returns the signer's did:key and
/// the scheme when everything holds.
pub fn verify(
    manifest: &Map<String, Value>,
    schemes: &[Scheme],
    findings: &mut Findings,
) -> Option<Signed> {
    let Some(signature) = manifest.get("signature") else {
        findings.refuse(
            Rule::SignatureMissing,
            "signature",
            "the manifest is not signed",
        );
        return None;
    };
    let Value::Object(signature) = signature else {
        findings.refuse(
            Rule::Type,
            "signature",
            "must be an object {algorithm, publicKey, signature}",
        );
        return None;
    };
    let mut ok = true;
    match signature.get("algorithm") {
        Some(Value::String(a)) if a == "ed25519" => {}
        Some(other) => {
            findings.refuse(
                Rule::SignatureAlgorithm,
                "signature.algorithm",
                format!("is {other}; it must be exactly \"ed25519\" (lowercase)"),
            );
            ok = false;
        }
        None => {
            findings.refuse(
                Rule::Required,
                "signature.algorithm",
                "is required but missing",
            );
            ok = false;
        }
    }
    let public_key = decode::<32>(signature, "publicKey", findings).and_then(|bytes| {
        VerifyingKey::from_bytes(&bytes)
            .map_err(|_| {
                findings.refuse(
                    Rule::SignatureEncoding,
                    "signature.publicKey",
                    "is not a valid Ed25519 public key",
                )
            })
            .ok()
    });
    let sig = decode::<64>(signature, "signature", findings).map(|b| Signature::from_bytes(&b));
    let (Some(public_key), Some(sig)) = (public_key, sig) else {
        return None;
    };
    let scheme = schemes.iter().copied().find(|&scheme| {
        public_key
            .verify_strict(&signing_payload(manifest, scheme), &sig)
            .is_ok()
    });
    if scheme.is_none() {
        let names: Vec<&str> = schemes.iter().map(|s| s.name()).collect();
        findings.refuse(
            Rule::SignatureInvalid,
            "signature.signature",
            format!(
                "does not verify under the {} scheme: the manifest was changed after signing, or signed by another key",
                names.join(" or ")
            ),
        );
        ok = false;
    }
    let signer = did_key(&public_key);
    match manifest.get("signerId") {
        Some(Value::String(declared)) if *declared == signer => {}
        Some(Value::String(declared)) => {
            findings.refuse(
                Rule::SignerIdMismatch,
                "signerId",
                format!("is {declared} but signature.publicKey is {signer}"),
            );
            ok = false;
        }
        // The field checks treat signerId as optional (unsigned manifests lack it), so its
        // absence from a signed manifest is reported here.
        None => {
            findings.refuse(
                Rule::Required,
                "signerId",
                "is required in a signed manifest but missing",
            );
            ok = false;
        }
        // A mistyped signerId is already reported by the field checks.
        Some(_) => ok = false,
    }
    Some(Signed {
        signer,
        scheme: scheme.filter(|_| ok)?,
    })
}

fn decode<const N: usize>(
    signature: &Map<String, Value>,
    key: &str,
    findings: &mut Findings,
) -> Option<[u8; N]> {
    let field = format!("signature.{key}");
    let Some(value) = signature.get(key) else {
        findings.refuse(Rule::Required, field, "is required but missing");
        return None;
    };
    let decoded = value
        .as_str()
        .and_then(|s| B64URL.decode(s).ok())
        .and_then(|b| <[u8; N]>::try_from(b).ok());
    if decoded.is_none() {
        findings.refuse(
            Rule::SignatureEncoding,
            field,
            format!("is not {N} bytes of base64url without padding"),
        );
    }
    decoded
}

/// Sets `signerId` and `signature` on `manifest` the way mero-sign does, under `scheme`.
pub fn sign(manifest: &mut Map<String, Value>, key: &SigningKey, scheme: Scheme) {
    let public = key.verifying_key();
    manifest.insert("signerId".into(), Value::String(did_key(&public)));
    manifest.remove("signature");
    let signature = key.sign(&signing_payload(manifest, scheme));
    manifest.insert(
        "signature".into(),
        json!({
            "algorithm": "ed25519",
            "publicKey": B64URL.encode(public.as_bytes()),
            "signature": B64URL.encode(signature.to_bytes()),
        }),
    );
}
