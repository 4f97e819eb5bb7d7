//! Ed25519 keys as the Calimero toolchain writes them: base64url without padding, `did:key`
//! signer ids, and mero-sign's key file.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use base64::Engine;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// base64url without padding, refusing padding and non-zero trailing bits.
pub const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Multicodec prefix of an Ed25519 public key in a `did:key`.
const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];

/// Seed of the mero-sign / cargo-mero `--dev` key: SHA-256 of this text.
const DEV_KEY_SEED_TEXT: &[u8] = b"calimero-dev-signing-key-v1";

/// Public keys whose private halves anyone can have (spec §3), with why.
pub const DEV_KEY_SIGNER: &str = "did:key:z6MknF3p5L5FDHJQ7FREUapuX4Wmp4MtF6WrHYaXS2B3eZQd";
const LEAKED_TEST_KEY_SIGNER: &str = "did:key:z6MktDyUgjyGaEMxMyuZMs2v2L46zvVKNqB5K3KTvFxudtKL";

/// Why a signer cannot be trusted, if it is one of the keys everyone knows.
pub fn well_known_key(signer_id: &str) -> Option<&'static str> {
    match signer_id {
        DEV_KEY_SIGNER => Some("the mero-sign/cargo-mero development key (its seed is public)"),
        LEAKED_TEST_KEY_SIGNER => {
            Some("a test key whose private half was committed to a public repository")
        }
        _ => None,
    }
}

/// The development key itself, for local test registries and tests.
pub fn dev_signing_key() -> SigningKey {
    use sha2::Digest;
    SigningKey::from_bytes(&sha2::Sha256::digest(DEV_KEY_SEED_TEXT).into())
}

/// `did:key:z` + base58btc(0xED 0x01 ‖ public key).
pub fn did_key(public: &VerifyingKey) -> String {
    let mut bytes = Vec::with_capacity(34);
    bytes.extend_from_slice(&ED25519_MULTICODEC);
    bytes.extend_from_slice(public.as_bytes());
    format!("did:key:z{}", bs58::encode(bytes).into_string())
}

/// The Ed25519 key inside a `did:key`, if it is one.
pub fn parse_did_key(did: &str) -> Option<VerifyingKey> {
    let encoded = did.strip_prefix("did:key:z")?;
    let bytes = bs58::decode(encoded).into_vec().ok()?;
    let key = bytes.strip_prefix(&ED25519_MULTICODEC)?;
    VerifyingKey::from_bytes(key.try_into().ok()?).ok()
}

/// mero-sign's key file: snake_case fields, base64url without padding.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub private_key: String,
    pub public_key: String,
    pub signer_id: String,
}

impl KeyFile {
    pub fn from_signing_key(key: &SigningKey) -> Self {
        let public = key.verifying_key();
        KeyFile {
            private_key: B64URL.encode(key.to_bytes()),
            public_key: B64URL.encode(public.as_bytes()),
            signer_id: did_key(&public),
        }
    }

    /// Reads a key file and checks that its three fields describe one key.
    pub fn load(path: &Path) -> Result<SigningKey> {
        let text = std::fs::read(path)
            .with_context(|| format!("cannot read key file {}", path.display()))?;
        let file: KeyFile = serde_json::from_slice(&text).with_context(|| {
            format!(
                "{} is not a mero-sign key file ({{private_key, public_key, signer_id}})",
                path.display()
            )
        })?;
        let seed: [u8; 32] = B64URL
            .decode(&file.private_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .with_context(|| {
                format!(
                    "{}: private_key is not 32 bytes of base64url",
                    path.display()
                )
            })?;
        let key = SigningKey::from_bytes(&seed);
        let expected = KeyFile::from_signing_key(&key);
        if expected.public_key != file.public_key || expected.signer_id != file.signer_id {
            bail!(
                "{}: public_key/signer_id do not belong to private_key; the file is damaged",
                path.display()
            );
        }
        Ok(key)
    }

    /// Writes the file with mode 0600, refusing to replace an existing one unless `force`.
    pub fn write(&self, path: &Path, force: bool) -> Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true);
        if force {
            options.create(true).truncate(true);
        } else {
            options.create_new(true);
        }
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!(
                    "{} already exists; pass --force to replace it (the old key is lost)",
                    path.display()
                )
            } else {
                anyhow::Error::new(e).context(format!("cannot create {}", path.display()))
            }
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        let mut text = serde_json::to_vec_pretty(self)?;
        text.push(b'\n');
        file.write_all(&text)?;
        Ok(())
    }
}

/// A fresh key from the operating system's random source.
pub fn generate() -> Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed)
        .map_err(|e| anyhow::anyhow!("the operating system gave no random bytes: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_key_is_the_published_one() {
        let key = dev_signing_key();
        assert_eq!(
            B64URL.encode(key.verifying_key().as_bytes()),
            "c7yxmuCRXfb4Ab4kcl9M3D5lxcpG9BTZm7smM8jMdMI"
        );
        assert_eq!(did_key(&key.verifying_key()), DEV_KEY_SIGNER);
    }

    #[test]
    fn did_key_round_trips() {
        let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
        assert_eq!(parse_did_key(&did_key(&key)), Some(key));
        assert_eq!(parse_did_key("did:key:zNotBase58!"), None);
        assert_eq!(parse_did_key("did:web:example.com"), None);
    }

    #[test]
    fn base64url_refuses_padding() {
        assert!(B64URL.decode("AAAA").is_ok());
        assert!(B64URL.decode("AA==").is_err());
        assert!(B64URL.decode("AA+/").is_err());
    }
}
