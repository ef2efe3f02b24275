//! Why the signing keys or the encryption key could not be used. The messages reach operators
//! at start-up and from `kubenova-control keys`, and say what to fix.

use kubenova_api::TokenError;

use super::{ENCRYPTION_SECRET, signing_secret};

/// Why the signing keys could not be read, made or changed. The messages reach operators at
/// start-up and from `kubenova-control keys`, and say what to fix.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The Secret lacks an entry it needs.
    #[error(
        "Secret {name} has no `{entry}`; restore the Secret from a backup (docs/install.md)",
        name = signing_secret()
    )]
    Missing {
        /// The missing entry.
        entry: String,
    },
    /// An entry is not text.
    #[error(
        "Secret {name}: `{entry}` is not UTF-8; restore the Secret from a backup",
        name = signing_secret()
    )]
    NotUtf8 {
        /// The entry.
        entry: String,
    },
    /// A key entry is not a usable Ed25519 PKCS#8 PEM key.
    #[error("Secret {name}: key `{kid}`: {error}", name = signing_secret())]
    BadKey {
        /// The key's id.
        kid: String,
        /// What is wrong with it.
        error: TokenError,
    },
    /// `active` names a key the Secret does not hold.
    #[error(
        "the active key `{kid}` is not in the Secret {name} (live: {live}); set `active` to a live key",
        name = signing_secret()
    )]
    NoActive {
        /// The kid `active` names.
        kid: String,
        /// The live keys.
        live: String,
    },
    /// A new key could not be generated.
    #[error("generating a signing key: {0}")]
    Generate(TokenError),
    /// The live keys do not make a key set.
    #[error("building the key set: {0}")]
    KeySet(TokenError),
    /// The management cluster refused or could not be reached.
    #[error("{action}: {error}")]
    Kube {
        /// What was being done.
        action: &'static str,
        /// The cluster's answer.
        error: kube::Error,
    },
    /// `keys retire` named a key that is not live.
    #[error("there is no live key `{kid}` (live: {live})")]
    Unknown {
        /// The kid asked for.
        kid: String,
        /// The live keys.
        live: String,
    },
    /// `keys retire` named the active key.
    #[error("`{kid}` is the active key; rotate first (kubenova-control keys rotate)")]
    Active {
        /// The kid asked for.
        kid: String,
    },
    /// `keys retire` named a key unexpired tokens are signed with.
    #[error(
        "{live} unexpired token(s) are signed with `{kid}`; wait until they expire, revoke them, or pass --force"
    )]
    InUse {
        /// The kid asked for.
        kid: String,
        /// How many unexpired, unrevoked tokens it signed.
        live: usize,
    },
}

/// Why the encryption key could not be loaded or made, or a kubeconfig not sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// The key is not 32 bytes long.
    #[error("the encryption key must be 32 bytes (base64 of 32 random bytes), not {0}")]
    KeyLength(usize),
    /// ring refused the key.
    #[error("not an AES-256 key")]
    NotAesKey,
    /// `--encryption-key-file` could not be read.
    #[error("reading {path}: {error}; check --encryption-key-file")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// `--encryption-key-file` is not base64.
    #[error(
        "{path}: not base64: {error}; write base64 of 32 random bytes (head -c 32 /dev/urandom | base64)"
    )]
    NotBase64 {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        error: base64::DecodeError,
    },
    /// The Secret lacks `key`.
    #[error(
        "Secret {ENCRYPTION_SECRET} has no `key`; restore the Secret from a backup (docs/install.md)"
    )]
    NoKeyEntry,
    /// The management cluster refused or could not be reached.
    #[error("{action}: {error}")]
    Kube {
        /// What was being done.
        action: &'static str,
        /// The cluster's answer.
        error: kube::Error,
    },
    /// The system's random number generator failed.
    #[error("no randomness")]
    NoRandomness,
    /// Sealing failed.
    #[error("encryption failed")]
    Encrypt,
    /// The text does not start with the ciphertext prefix.
    #[error("not a KubeNova ciphertext")]
    NotCiphertext,
    /// The ciphertext is not base64.
    #[error("ciphertext is not base64")]
    CiphertextNotBase64,
    /// The ciphertext is shorter than a nonce.
    #[error("ciphertext too short")]
    TooShort,
    /// The nonce is malformed.
    #[error("bad nonce")]
    BadNonce,
    /// Opening failed: another key, another cluster, or altered bytes.
    #[error("cannot decrypt (wrong encryption key, or the Secret was altered)")]
    Decrypt,
}
