//! Signing keys in a Secret of the management namespace, and the encryption key that protects
//! registered clusters' admin kubeconfigs.
//!
//! The Secret `kubenova-signing-keys` (or the one `--signing-keys-secret` names) holds one `<kid>.pem` entry (PKCS#8 Ed25519) per live key
//! and `active`, the kid new tokens are signed with. The JWKS publishes every live key.
//! Rotation: [`rotate`] adds a new key and makes it active; once no unexpired token signed by
//! the old key remains, [`retire`] removes it (tokens signed by it stop working everywhere
//! within the proxies' reload interval). Every replica re-reads the Secret every 10 s.
//! [`rotation`] does both on a schedule.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kubenova_api::crd::IssuedToken;
use kubenova_api::{JwkSet, KeySet, SigningKey};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// The Secret holding the signing keys unless [`use_signing_secret`] named another.
pub const SIGNING_SECRET: &str = "kubenova-signing-keys";

static SIGNING_SECRET_NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Names the Secret holding the signing keys for this process (`--signing-keys-secret`); set
/// once, at start, before any key is read. A second call changes nothing.
pub fn use_signing_secret(name: &str) {
    let _ = SIGNING_SECRET_NAME.set(name.to_owned());
}

/// The Secret holding the signing keys: [`SIGNING_SECRET`], or the name [`use_signing_secret`]
/// gave.
pub fn signing_secret() -> &'static str {
    SIGNING_SECRET_NAME
        .get()
        .map_or(SIGNING_SECRET, String::as_str)
}
/// The Secret holding the encryption key (when no `--encryption-key-file` is given).
pub const ENCRYPTION_SECRET: &str = "kubenova-encryption-key";
const ACTIVE: &str = "active";

mod errors;
pub mod rotation;
pub use errors::{CipherError, KeyError};

/// `map_err` for a call to the management cluster.
fn kube_err(action: &'static str) -> impl FnOnce(kube::Error) -> KeyError {
    move |error| KeyError::Kube { action, error }
}

/// The live signing keys and the active one.
#[derive(Debug, Clone)]
pub struct Keys {
    /// The key new tokens are signed with.
    pub active: SigningKey,
    /// Every live key, active included, by kid.
    pub all: BTreeMap<String, SigningKey>,
}

impl Keys {
    /// The JWKS of every live key.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.all.values().map(SigningKey::public_jwk).collect(),
        }
    }

    /// The verification keys.
    pub fn key_set(&self) -> Result<KeySet, KeyError> {
        KeySet::from_jwks(&self.jwks()).map_err(KeyError::KeySet)
    }

    fn from_secret(secret: &Secret) -> Result<Keys, KeyError> {
        let data = secret.data.clone().unwrap_or_default();
        let text = |key: &str| -> Result<String, KeyError> {
            let value = data.get(key).ok_or_else(|| KeyError::Missing {
                entry: key.to_owned(),
            })?;
            String::from_utf8(value.0.clone()).map_err(|_| KeyError::NotUtf8 {
                entry: key.to_owned(),
            })
        };
        let active_kid = text(ACTIVE)?.trim().to_owned();
        let mut all = BTreeMap::new();
        for name in data.keys() {
            if let Some(kid) = name.strip_suffix(".pem") {
                let key = SigningKey::from_pkcs8_pem(kid, &text(name)?).map_err(|error| {
                    KeyError::BadKey {
                        kid: kid.to_owned(),
                        error,
                    }
                })?;
                all.insert(kid.to_owned(), key);
            }
        }
        let active = all
            .get(&active_kid)
            .cloned()
            .ok_or_else(|| KeyError::NoActive {
                live: all.keys().cloned().collect::<Vec<_>>().join(", "),
                kid: active_kid,
            })?;
        Ok(Keys { active, all })
    }
}

/// The signing keys, kept fresh from the Secret.
#[derive(Debug, Clone)]
pub struct KeyStore {
    keys: Arc<RwLock<Arc<Keys>>>,
}

impl KeyStore {
    /// Loads the keys, generating the first one if the Secret does not exist yet.
    pub async fn load_or_create(secrets: &Api<Secret>) -> Result<KeyStore, KeyError> {
        let keys = load_or_create(secrets).await?;
        Ok(KeyStore {
            keys: Arc::new(RwLock::new(Arc::new(keys))),
        })
    }

    /// A store holding `keys` (tests, and the `token` command).
    pub fn fixed(keys: Keys) -> KeyStore {
        KeyStore {
            keys: Arc::new(RwLock::new(Arc::new(keys))),
        }
    }

    /// The current keys.
    pub fn current(&self) -> Arc<Keys> {
        match self.keys.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the Secret every `every` until `shutdown`.
    pub async fn refresh(
        self,
        secrets: Api<Secret>,
        every: Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match secrets.get(signing_secret()).await {
                Ok(secret) => match Keys::from_secret(&secret) {
                    Ok(keys) => {
                        let mut guard = match self.keys.write() {
                            Ok(guard) => guard,
                            Err(poisoned) => poisoned.into_inner(),
                        };
                        *guard = Arc::new(keys);
                    }
                    Err(e) => tracing::error!("signing keys: {e:#}; keeping the previous keys"),
                },
                Err(e) => {
                    tracing::warn!("reading the signing keys: {e}; keeping the previous keys")
                }
            }
        }
    }
}

fn new_kid() -> String {
    let now = time_now();
    let mut random = [0u8; 3];
    let _ = SystemRandom::new().fill(&mut random);
    format!("k{now}-{:02x}{:02x}{:02x}", random[0], random[1], random[2])
}

/// Unix seconds now.
pub fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

async fn load_or_create(secrets: &Api<Secret>) -> Result<Keys, KeyError> {
    const READING: &str = "reading the signing-key Secret";
    if let Some(secret) = secrets
        .get_opt(signing_secret())
        .await
        .map_err(kube_err(READING))?
    {
        return Keys::from_secret(&secret);
    }
    let key = SigningKey::generate(new_kid()).map_err(KeyError::Generate)?;
    let mut data = BTreeMap::new();
    data.insert(
        format!("{}.pem", key.kid()),
        ByteString(key.to_pkcs8_pem().into_bytes()),
    );
    data.insert(ACTIVE.into(), ByteString(key.kid().as_bytes().to_vec()));
    let secret = Secret {
        metadata: meta(signing_secret()),
        data: Some(data),
        ..Secret::default()
    };
    match secrets.create(&PostParams::default(), &secret).await {
        Ok(created) => Keys::from_secret(&created),
        // Another replica was first: use its key.
        Err(kube::Error::Api(status)) if status.code == 409 => Keys::from_secret(
            &secrets
                .get(signing_secret())
                .await
                .map_err(kube_err(READING))?,
        ),
        Err(e) => Err(kube_err("creating the signing-key Secret")(e)),
    }
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        labels: Some(BTreeMap::from([(
            kubenova_api::labels::MANAGED_BY.to_owned(),
            kubenova_api::labels::MANAGED_BY_VALUE.to_owned(),
        )])),
        ..ObjectMeta::default()
    }
}

/// Adds a new key and makes it the active one; returns its kid. The old keys stay live (their
/// tokens keep working) until [`retire`]d.
pub async fn rotate(secrets: &Api<Secret>) -> Result<String, KeyError> {
    load_or_create(secrets).await?;
    let key = SigningKey::generate(new_kid()).map_err(KeyError::Generate)?;
    let patch = serde_json::json!({
        "data": {
            format!("{}.pem", key.kid()): STANDARD.encode(key.to_pkcs8_pem()),
            ACTIVE: STANDARD.encode(key.kid()),
        }
    });
    secrets
        .patch(
            signing_secret(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(kube_err("adding the new key"))?;
    Ok(key.kid().to_owned())
}

/// Removes the key `kid`. Refuses the active key, and (unless `force`) a key that still signs
/// an unexpired, unrevoked token recorded in `records`.
pub async fn retire(
    secrets: &Api<Secret>,
    records: &Api<IssuedToken>,
    kid: &str,
    force: bool,
) -> Result<(), KeyError> {
    let secret = secrets
        .get(signing_secret())
        .await
        .map_err(kube_err("reading the signing-key Secret"))?;
    let keys = Keys::from_secret(&secret)?;
    if !keys.all.contains_key(kid) {
        return Err(KeyError::Unknown {
            kid: kid.to_owned(),
            live: keys.all.keys().cloned().collect::<Vec<_>>().join(", "),
        });
    }
    if keys.active.kid() == kid {
        return Err(KeyError::Active {
            kid: kid.to_owned(),
        });
    }
    if !force {
        let now = time_now();
        let live = records
            .list(&ListParams::default())
            .await
            .map_err(kube_err("listing the issued tokens"))?
            .items
            .into_iter()
            .filter(|t| t.spec.kid == kid && !t.spec.revoked && t.spec.expires_at > now)
            .count();
        if live > 0 {
            return Err(KeyError::InUse {
                kid: kid.to_owned(),
                live,
            });
        }
    }
    let patch = serde_json::json!({ "data": { format!("{kid}.pem"): null } });
    secrets
        .patch(
            signing_secret(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(kube_err("removing the key"))?;
    Ok(())
}

/// AES-256-GCM over the registered clusters' admin kubeconfigs. The cluster name is the
/// associated data, so a ciphertext cannot be moved to another cluster's Secret.
#[derive(Clone)]
pub struct Cipher {
    key: Arc<LessSafeKey>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(AES-256-GCM)")
    }
}

const CIPHER_PREFIX: &str = "kn1:";

impl Cipher {
    /// A cipher with a 32-byte key.
    pub fn new(key: &[u8]) -> Result<Cipher, CipherError> {
        if key.len() != 32 {
            return Err(CipherError::KeyLength(key.len()));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| CipherError::NotAesKey)?;
        Ok(Cipher {
            key: Arc::new(LessSafeKey::new(unbound)),
        })
    }

    /// Reads a key file holding base64 of 32 bytes.
    pub fn from_file(path: &std::path::Path) -> Result<Cipher, CipherError> {
        let text = std::fs::read_to_string(path).map_err(|error| CipherError::Read {
            path: path.to_owned(),
            error,
        })?;
        let key = STANDARD
            .decode(text.trim())
            .map_err(|error| CipherError::NotBase64 {
                path: path.to_owned(),
                error,
            })?;
        Cipher::new(&key)
    }

    /// The key from the Secret `kubenova-encryption-key` (`key`: 32 bytes), created if missing.
    pub async fn from_secret(secrets: &Api<Secret>) -> Result<Cipher, CipherError> {
        const READING: &str = "reading the Secret kubenova-encryption-key";
        let kube_err =
            |action: &'static str| move |error: kube::Error| CipherError::Kube { action, error };
        if let Some(secret) = secrets
            .get_opt(ENCRYPTION_SECRET)
            .await
            .map_err(kube_err(READING))?
        {
            return Self::from_secret_object(&secret);
        }
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| CipherError::NoRandomness)?;
        let secret = Secret {
            metadata: meta(ENCRYPTION_SECRET),
            data: Some(BTreeMap::from([(
                "key".to_owned(),
                ByteString(key.to_vec()),
            )])),
            ..Secret::default()
        };
        match secrets.create(&PostParams::default(), &secret).await {
            Ok(created) => Self::from_secret_object(&created),
            Err(kube::Error::Api(status)) if status.code == 409 => Self::from_secret_object(
                &secrets
                    .get(ENCRYPTION_SECRET)
                    .await
                    .map_err(kube_err(READING))?,
            ),
            Err(e) => Err(kube_err("creating the encryption-key Secret")(e)),
        }
    }

    fn from_secret_object(secret: &Secret) -> Result<Cipher, CipherError> {
        let key = secret
            .data
            .as_ref()
            .and_then(|d| d.get("key"))
            .ok_or(CipherError::NoKeyEntry)?;
        Cipher::new(&key.0)
    }

    /// Encrypts `plain` for `context` (the cluster name).
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<String, CipherError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CipherError::NoRandomness)?;
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| CipherError::Encrypt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{CIPHER_PREFIX}{}", STANDARD.encode(out)))
    }

    /// Decrypts what [`Cipher::seal`] produced for the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, CipherError> {
        let body = sealed
            .trim()
            .strip_prefix(CIPHER_PREFIX)
            .ok_or(CipherError::NotCiphertext)?;
        let bytes = STANDARD
            .decode(body)
            .map_err(|_| CipherError::CiphertextNotBase64)?;
        if bytes.len() <= NONCE_LEN {
            return Err(CipherError::TooShort);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CipherError::BadNonce)?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| CipherError::Decrypt)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests;
