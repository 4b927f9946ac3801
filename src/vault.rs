//! The token vault: connection credentials encrypted at rest.
//!
//! XChaCha20-Poly1305 (the 24-byte nonce makes random nonces safe for any number of
//! records) under a 32-byte key kept in `DATA/secret.key` (0600), never in the database.
//! A record is `version (1) || nonce (24) || ciphertext+tag`.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

const RECORD_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
/// Binds ciphertexts to their purpose, so a record cannot be replayed as something else.
const AAD: &[u8] = b"lifeboat/credentials/v1";

pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl Vault {
    /// Reads the key file (64 hex characters). Creating a key is `create_key`'s job alone,
    /// so a missing or damaged key is never silently replaced over old ciphertexts.
    pub fn open(key_path: &Path) -> Result<Vault> {
        let raw = fs::read(key_path)
            .with_context(|| format!("cannot read key file {}", key_path.display()))?;
        let bytes = std::str::from_utf8(&raw)
            .ok()
            .and_then(|text| hex::decode(text.trim()).ok())
            .filter(|b| b.len() == 32);
        let Some(bytes) = bytes else {
            bail!(
                "key file {} is corrupt (expected 64 hex characters); restore it from a backup",
                key_path.display()
            );
        };
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes).expect("32-byte key");
        Ok(Vault { cipher })
    }

    /// Writes a fresh random key with 0600 permissions. Fails if the file exists.
    pub fn create_key(key_path: &Path) -> Result<()> {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(key_path)
            .with_context(|| format!("cannot create key file {}", key_path.display()))?;
        writeln!(file, "{}", hex::encode(key))?;
        file.sync_all()?;
        Ok(())
    }

    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: AAD,
                },
            )
            .expect("encryption of an in-memory buffer cannot fail");
        let mut record = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        record.push(RECORD_VERSION);
        record.extend_from_slice(&nonce);
        record.extend_from_slice(&ciphertext);
        record
    }

    pub fn decrypt(&self, record: &[u8]) -> Result<Vec<u8>> {
        if record.len() < 1 + NONCE_LEN || record[0] != RECORD_VERSION {
            bail!("stored credentials are not a vault record");
        }
        let nonce = XNonce::from_slice(&record[1..1 + NONCE_LEN]);
        self.cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &record[1 + NONCE_LEN..],
                    aad: AAD,
                },
            )
            .map_err(|_| anyhow::anyhow!("stored credentials do not decrypt with this key file"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_fresh_nonces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        Vault::create_key(&path).unwrap();
        let vault = Vault::open(&path).unwrap();
        let a = vault.encrypt(b"token-123");
        let b = vault.encrypt(b"token-123");
        assert_ne!(a, b, "each record gets its own nonce");
        assert_eq!(vault.decrypt(&a).unwrap(), b"token-123");
        assert!(!a.windows(9).any(|w| w == b"token-123"));
    }

    #[test]
    fn tampering_and_wrong_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (p1, p2) = (dir.path().join("a.key"), dir.path().join("b.key"));
        Vault::create_key(&p1).unwrap();
        Vault::create_key(&p2).unwrap();
        let (v1, v2) = (Vault::open(&p1).unwrap(), Vault::open(&p2).unwrap());
        let mut record = v1.encrypt(b"secret");
        assert!(v2.decrypt(&record).is_err());
        let last = record.len() - 1;
        record[last] ^= 1;
        assert!(v1.decrypt(&record).is_err());
    }

    #[test]
    fn key_file_is_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        Vault::create_key(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(Vault::create_key(&path).is_err());
        fs::write(&path, "not hex").unwrap();
        let err = Vault::open(&path).err().unwrap().to_string();
        assert!(err.contains("corrupt"), "{err}");
    }
}
