//! Signature rules (spec §3): presence, algorithm, encoding, validity, signerId, and the keys
//! everyone knows.

use crate::support::assert_refused;
use crate::support::bundle::*;
use base64::Engine;
use ed25519_dalek::{SigningKey, VerifyingKey};
use mpk_registry::keys::{
    dev_signing_key, did_key, parse_did_key, well_known_key, B64URL, DEV_KEY_SIGNER,
};
use mpk_registry::report::Rule;
use mpk_registry::verify::Options;
use serde_json::{json, Map, Value};

/// The base manifest, signed with `key(1)`, then changed by `tamper`, in the usual layout.
/// Also checks that the same bundle without the change verifies, so that a refusal of the
/// result is down to `tamper` alone.
fn tampered(tamper: impl FnOnce(&mut Map<String, Value>)) -> Vec<u8> {
    let manifest = signed(base_manifest(), &key(1));
    assert_ok(&verify(&standard(&manifest)));
    let mut manifest = manifest;
    tamper(&mut manifest);
    standard(&manifest)
}

/// The base manifest with `signerId` set to `signer_id` (or removed), signed as it is by
/// `key(1)`; checks first that declaring the right signer verifies.
fn signed_declaring(signer_id: Option<Value>) -> Vec<u8> {
    let mut control = base_manifest();
    control.insert("signerId".into(), json!(signer(&key(1))));
    assert_ok(&verify(&standard(&signed_as_is(control, &key(1)))));
    let mut manifest = base_manifest();
    if let Some(signer_id) = signer_id {
        manifest.insert("signerId".into(), signer_id);
    }
    standard(&signed_as_is(manifest, &key(1)))
}

fn set_signature_field(field: &'static str, value: Value) -> impl FnOnce(&mut Map<String, Value>) {
    move |m| {
        signature_mut(m).insert(field.into(), value);
    }
}

fn signature_string(manifest: &Map<String, Value>, field: &str) -> String {
    manifest["signature"][field]
        .as_str()
        .expect("a string field")
        .to_owned()
}

#[test]
fn signed_bundle_verifies_and_names_its_signer() {
    let report = verify(&tampered(|_| {}));
    assert_ok(&report);
    let bundle = report.bundle.expect("verified");
    assert_eq!(bundle.signer_id, signer(&key(1)));
    assert_eq!(
        bundle.application_id,
        mpk_registry::identity::application_id("com.example.app", &signer(&key(1)))
    );
}

#[test]
fn signature_missing() {
    assert_ok(&verify(&standard(&signed(base_manifest(), &key(1)))));
    let unsigned = standard(&base_manifest());
    assert_refused(&verify(&unsigned), "signature", Rule::SignatureMissing);
    // Removing the signature from a signed manifest is the same defect.
    let stripped = tampered(|m| {
        m.remove("signature");
    });
    assert_refused(&verify(&stripped), "signature", Rule::SignatureMissing);
}

#[test]
fn signature_not_an_object_is_a_type_error() {
    let report = verify(&tampered(|m| {
        m.insert("signature".into(), json!("ed25519:abc"));
    }));
    assert_refused(&report, "signature", Rule::Type);
}

#[test]
fn signature_algorithm_must_be_exactly_ed25519() {
    for algorithm in ["Ed25519", "ED25519", "ed25519 ", "EdDSA", ""] {
        let report = verify(&tampered(set_signature_field(
            "algorithm",
            json!(algorithm),
        )));
        assert_refused(&report, "signature.algorithm", Rule::SignatureAlgorithm);
    }
    let report = verify(&tampered(set_signature_field("algorithm", json!(1))));
    assert_refused(&report, "signature.algorithm", Rule::SignatureAlgorithm);
}

#[test]
fn signature_algorithm_missing_is_required() {
    let report = verify(&tampered(|m| {
        signature_mut(m).remove("algorithm");
    }));
    assert_refused(&report, "signature.algorithm", Rule::Required);
}

#[test]
fn signature_public_key_missing_is_required() {
    let report = verify(&tampered(|m| {
        signature_mut(m).remove("publicKey");
    }));
    assert_refused(&report, "signature.publicKey", Rule::Required);
}

#[test]
fn signature_encoding_refuses_padding() {
    let report = verify(&tampered(|m| {
        let padded = signature_string(m, "publicKey") + "=";
        signature_mut(m).insert("publicKey".into(), json!(padded));
    }));
    assert_refused(&report, "signature.publicKey", Rule::SignatureEncoding);

    // Standard base64 with padding of the same 64 signature bytes.
    let report = verify(&tampered(|m| {
        let bytes = B64URL
            .decode(signature_string(m, "signature"))
            .expect("base64url");
        let standard = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert!(standard.ends_with("=="));
        signature_mut(m).insert("signature".into(), json!(standard));
    }));
    assert_refused(&report, "signature.signature", Rule::SignatureEncoding);
}

#[test]
fn signature_encoding_refuses_the_standard_alphabet() {
    // The signature under test must contain a character that differs between the alphabets.
    let manifest = signed(base_manifest(), &key(1));
    let sig = signature_string(&manifest, "signature");
    assert!(
        sig.contains(['-', '_']),
        "pick a key whose signature uses '-' or '_': {sig}"
    );
    let report = verify(&tampered(|m| {
        let standard = signature_string(m, "signature")
            .replace('-', "+")
            .replace('_', "/");
        signature_mut(m).insert("signature".into(), json!(standard));
    }));
    assert_refused(&report, "signature.signature", Rule::SignatureEncoding);
}

#[test]
fn signature_encoding_refuses_wrong_lengths() {
    let report = verify(&tampered(|m| {
        let short = B64URL.encode([7u8; 31]);
        signature_mut(m).insert("publicKey".into(), json!(short));
    }));
    assert_refused(&report, "signature.publicKey", Rule::SignatureEncoding);

    let report = verify(&tampered(|m| {
        let mut bytes = B64URL
            .decode(signature_string(m, "signature"))
            .expect("base64url");
        bytes.push(0);
        signature_mut(m).insert("signature".into(), json!(B64URL.encode(bytes)));
    }));
    assert_refused(&report, "signature.signature", Rule::SignatureEncoding);

    let report = verify(&tampered(|m| {
        let mut bytes = B64URL
            .decode(signature_string(m, "signature"))
            .expect("base64url");
        bytes.pop();
        signature_mut(m).insert("signature".into(), json!(B64URL.encode(bytes)));
    }));
    assert_refused(&report, "signature.signature", Rule::SignatureEncoding);
}

#[test]
fn signature_encoding_refuses_non_strings() {
    let report = verify(&tampered(set_signature_field("signature", json!(null))));
    assert_refused(&report, "signature.signature", Rule::SignatureEncoding);
    let report = verify(&tampered(set_signature_field("publicKey", json!([1, 2]))));
    assert_refused(&report, "signature.publicKey", Rule::SignatureEncoding);
}

#[test]
fn signature_encoding_refuses_a_public_key_that_is_not_a_curve_point() {
    let not_a_point = (0u8..=255)
        .map(|b| {
            let mut bytes = [0u8; 32];
            bytes[0] = b;
            bytes[31] = 0x11;
            bytes
        })
        .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
        .expect("some 32-byte strings are not Ed25519 points");
    let report = verify(&tampered(set_signature_field(
        "publicKey",
        json!(B64URL.encode(not_a_point)),
    )));
    assert_refused(&report, "signature.publicKey", Rule::SignatureEncoding);
}

#[test]
fn signature_invalid_after_a_field_changes() {
    let report = verify(&tampered(|m| {
        m.insert("appVersion".into(), json!("1.0.1"));
    }));
    assert_refused(&report, "signature.signature", Rule::SignatureInvalid);
}

#[test]
fn signature_invalid_after_a_nested_field_changes() {
    let report = verify(&tampered(|m| {
        m["metadata"]["tags"] = json!(["test", "added"]);
    }));
    assert_refused(&report, "signature.signature", Rule::SignatureInvalid);
}

#[test]
fn signature_invalid_when_another_key_signed() {
    // B's signature and key over a manifest that names A: the key does not match the
    // signature, and A is still declared.
    let report = verify(&tampered(|m| {
        let theirs = signed_as_is(m.clone(), &key(2));
        let public_key = theirs["signature"]["publicKey"].clone();
        signature_mut(m).insert("publicKey".into(), public_key);
    }));
    let mut got: Vec<Rule> = report.problems.iter().map(|p| p.rule).collect();
    got.sort();
    // The signature is A's, so B's key cannot verify it; and signerId (A) is not B.
    assert_eq!(got, [Rule::SignatureInvalid, Rule::SignerIdMismatch]);

    // The signature bytes themselves swapped for B's (over the same manifest), key left as A.
    let report = verify(&tampered(|m| {
        let theirs = signed_as_is(m.clone(), &key(2));
        let signature = theirs["signature"]["signature"].clone();
        signature_mut(m).insert("signature".into(), signature);
    }));
    assert_refused(&report, "signature.signature", Rule::SignatureInvalid);
}

#[test]
fn signer_id_mismatch_with_a_valid_signature() {
    // The signature is valid over a manifest that declares someone else as signer.
    let report = verify(&signed_declaring(Some(json!(signer(&key(2))))));
    assert_refused(&report, "signerId", Rule::SignerIdMismatch);
}

#[test]
fn signer_id_missing_in_a_signed_manifest() {
    let report = verify(&signed_declaring(None));
    assert_refused(&report, "signerId", Rule::Required);
}

#[test]
fn signer_id_of_the_wrong_type() {
    let report = verify(&signed_declaring(Some(json!(42))));
    assert_refused(&report, "signerId", Rule::Type);
}

#[test]
fn signer_id_not_a_did_key_of_the_key() {
    let did_web = json!(format!("did:web:{}", signer(&key(1))));
    let report = verify(&signed_declaring(Some(did_web)));
    assert_refused(&report, "signerId", Rule::SignerIdMismatch);
}

#[test]
fn well_known_dev_key_is_refused_unless_allowed() {
    let dev_signed = standard(&signed(base_manifest(), &dev_signing_key()));
    let report = verify(&dev_signed);
    assert_refused(&report, "signerId", Rule::WellKnownKey);

    let allowed = verify_with(
        &dev_signed,
        &Options {
            allow_dev_key: true,
            ..Default::default()
        },
    );
    assert_ok(&allowed);
    assert_eq!(allowed.bundle.expect("verified").signer_id, DEV_KEY_SIGNER);

    // Another key is not affected by the switch.
    assert_ok(&verify(&standard(&signed(base_manifest(), &key(1)))));
}

#[test]
fn well_known_keys_are_the_published_ones() {
    // From the format documentation: public keys (base64url) and their did:key ids.
    let published = [
        (
            "c7yxmuCRXfb4Ab4kcl9M3D5lxcpG9BTZm7smM8jMdMI",
            "did:key:z6MknF3p5L5FDHJQ7FREUapuX4Wmp4MtF6WrHYaXS2B3eZQd",
        ),
        (
            "zJxVbfNGrbfwgbtupMfpQX2KzStI6wWA3AVpQmxi5pM",
            "did:key:z6MktDyUgjyGaEMxMyuZMs2v2L46zvVKNqB5K3KTvFxudtKL",
        ),
    ];
    for (public_key, signer) in published {
        let bytes: [u8; 32] = B64URL
            .decode(public_key)
            .expect("base64url")
            .try_into()
            .expect("32 bytes");
        let key = VerifyingKey::from_bytes(&bytes).expect("an Ed25519 key");
        assert_eq!(did_key(&key), signer);
        assert_eq!(parse_did_key(signer), Some(key));
        assert!(well_known_key(signer).is_some(), "{signer} must be refused");
    }
    assert_eq!(published[0].1, DEV_KEY_SIGNER);
    assert_eq!(
        did_key(&dev_signing_key().verifying_key()),
        DEV_KEY_SIGNER,
        "the dev key's seed is SHA-256 of its published text"
    );
    assert!(well_known_key(&signer(&key(1))).is_none());
    assert!(well_known_key(&signer(&key(2))).is_none());
}

/// The leaked test key cannot sign here (its private half is not in this repository), so
/// its refusal is shown through a bundle whose signature is valid for a key whose did:key
/// is looked up the same way: the lookup is by signerId, after the signature verified.
#[test]
fn well_known_key_lookup_is_by_exact_signer_id() {
    let leaked = "did:key:z6MktDyUgjyGaEMxMyuZMs2v2L46zvVKNqB5K3KTvFxudtKL";
    assert!(well_known_key(leaked).is_some());
    assert!(well_known_key(&leaked.to_lowercase()).is_none());
    assert!(well_known_key(&format!("{leaked} ")).is_none());
    assert_ne!(well_known_key(leaked), well_known_key(DEV_KEY_SIGNER));
    // A signature claiming the leaked key without its private half is simply invalid.
    let mut manifest = signed(base_manifest(), &key(1));
    assert_ok(&verify(&standard(&manifest)));
    let leaked_public = parse_did_key(leaked).expect("a did:key");
    manifest.insert("signerId".into(), json!(leaked));
    signature_mut(&mut manifest).insert(
        "publicKey".into(),
        json!(B64URL.encode(leaked_public.as_bytes())),
    );
    let report = verify(&standard(&manifest));
    assert_refused(&report, "signature.signature", Rule::SignatureInvalid);
}

#[test]
fn sign_replaces_an_earlier_signature_and_signer_id() {
    // `sign` replaces an existing signature and signerId rather than signing over them.
    let first = signed(base_manifest(), &key(2));
    let resigned = signed(first, &key(1));
    assert_eq!(resigned["signerId"], json!(signer(&key(1))));
    assert_ok(&verify(&standard(&resigned)));
}

#[test]
fn a_seed_signs_deterministically() {
    // Ed25519 is deterministic: one seed and manifest give one signature.
    let a = signed(base_manifest(), &SigningKey::from_bytes(&[9; 32]));
    let b = signed(base_manifest(), &SigningKey::from_bytes(&[9; 32]));
    assert_eq!(a, b);
}

// --- signature schemes ------------------------------------------------------------------------

use mpk_registry::canonical::{signed_bytes, signing_payload, Scheme};
use sha2::{Digest, Sha256};

#[test]
fn scheme_v1_payload_is_the_domain_then_a_zero_byte_then_the_canonical_bytes() {
    let manifest = signed(base_manifest(), &key(1));
    let mut expected = b"calimero.bundle.manifest.v1\0".to_vec();
    expected.extend(signed_bytes(&manifest));
    assert_eq!(
        signing_payload(&manifest, Scheme::V1),
        <[u8; 32]>::from(Sha256::digest(&expected))
    );
    assert_eq!(
        signing_payload(&manifest, Scheme::Legacy),
        <[u8; 32]>::from(Sha256::digest(signed_bytes(&manifest)))
    );
}

#[test]
fn scheme_v1_bundle_verifies_and_says_so() {
    let bytes = packed_as(
        pack_manifest("com.example.app", "1.0.0"),
        &key(1),
        Scheme::V1,
    );
    let report = verify(&bytes);
    assert_ok(&report);
    assert_eq!(
        report.bundle.expect("verified").signature_scheme,
        Scheme::V1
    );
}

#[test]
fn scheme_legacy_bundle_verifies_and_says_so() {
    let bytes = packed_as(
        pack_manifest("com.example.app", "1.0.0"),
        &key(1),
        Scheme::Legacy,
    );
    let report = verify(&bytes);
    assert_ok(&report);
    assert_eq!(
        report.bundle.expect("verified").signature_scheme,
        Scheme::Legacy
    );
}

#[test]
fn scheme_neither_is_refused() {
    // A signature over the canonical bytes with another domain verifies under no scheme.
    let mut manifest = signed(base_manifest(), &key(1));
    let mut payload = b"calimero.bundle.manifest.v2\0".to_vec();
    payload.extend(signed_bytes(&manifest));
    let digest: [u8; 32] = Sha256::digest(&payload).into();
    use ed25519_dalek::Signer;
    let signature = key(1).sign(&digest);
    signature_mut(&mut manifest).insert(
        "signature".into(),
        json!(B64URL.encode(signature.to_bytes())),
    );
    let report = verify(&standard(&manifest));
    assert_refused(&report, "signature.signature", Rule::SignatureInvalid);
}

#[test]
fn resign_changes_only_the_signature_value() {
    let legacy = app_bundle("com.example.app", "1.0.0", &key(1));
    let v1 = resigned(&legacy, &key(1), Scheme::V1);
    let report = verify(&v1);
    assert_ok(&report);
    let moved = report.bundle.expect("verified");
    let original = verify(&legacy).bundle.expect("verified");
    assert_eq!(moved.signature_scheme, Scheme::V1);
    assert_eq!(moved.signer_id, original.signer_id);
    assert_eq!(moved.artifacts, original.artifacts);
    // The same canonical manifest, so the same bundle hash; the same entries besides it.
    let (old, new) = (bundle_entries(&legacy), bundle_entries(&v1));
    assert_eq!(
        old.keys().collect::<Vec<_>>(),
        new.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &old {
        if name != "manifest.json" {
            assert_eq!(bytes, &new[name], "{name}");
        }
    }
    let parse = |b: &[u8]| serde_json::from_slice::<Map<String, Value>>(b).unwrap();
    let (old_manifest, new_manifest) = (parse(&old["manifest.json"]), parse(&new["manifest.json"]));
    assert_eq!(signed_bytes(&old_manifest), signed_bytes(&new_manifest));
    assert_eq!(old["manifest.json"].len(), new["manifest.json"].len());
    let differing = old["manifest.json"]
        .iter()
        .zip(&new["manifest.json"])
        .filter(|(a, b)| a != b)
        .count();
    assert!(differing <= 86, "{differing} bytes changed");
    assert_ne!(
        old_manifest["signature"]["signature"],
        new_manifest["signature"]["signature"]
    );
    // And back: the legacy re-signature of the v1 bundle is a legacy bundle again.
    let back = verify(&resigned(&v1, &key(1), Scheme::Legacy));
    assert_eq!(
        back.bundle.expect("verified").signature_scheme,
        Scheme::Legacy
    );
}

#[test]
fn resign_needs_the_signing_key() {
    let legacy = app_bundle("com.example.app", "1.0.0", &key(1));
    let error = mpk_registry::pack::resign(legacy.as_slice(), &key(2), Scheme::V1, Vec::new())
        .expect_err("another key cannot re-sign");
    assert!(format!("{error:#}").contains("needs that key"), "{error:#}");
}

#[test]
fn resign_to_the_same_scheme_is_refused() {
    let legacy = app_bundle("com.example.app", "1.0.0", &key(1));
    let error = mpk_registry::pack::resign(legacy.as_slice(), &key(1), Scheme::Legacy, Vec::new())
        .expect_err("already legacy");
    assert!(format!("{error:#}").contains("already signed under the legacy scheme"));
}

#[test]
fn resign_refuses_a_bundle_whose_signature_does_not_verify() {
    let tampered = tampered(|m| {
        m.insert("appVersion".into(), json!("9.9.9"));
    });
    let error = mpk_registry::pack::resign(tampered.as_slice(), &key(1), Scheme::V1, Vec::new())
        .expect_err("a broken signature is not re-signed");
    assert!(
        format!("{error:#}").contains("signature.invalid"),
        "{error:#}"
    );
}
