use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};

use super::{ALGORITHM, TokenError};

/// One public key as published in the JWKS (RFC 8037 `OKP` form).
///
/// Every field defaults to empty when absent, so a JWKS that also lists keys of other types
/// (RSA, EC) still parses; [`KeySet::from_jwks`] then skips those keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Jwk {
    /// Key type: `OKP`.
    pub kty: String,
    /// Curve: `Ed25519`.
    pub crv: String,
    /// The 32-byte public key, base64url without padding.
    pub x: String,
    /// Key id, matched against the token header's `kid`.
    pub kid: String,
    /// Algorithm: `EdDSA`.
    pub alg: String,
    /// Public key use: `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

impl Jwk {
    fn is_ed25519_signing_key(&self) -> bool {
        self.kty == "OKP"
            && self.crv == "Ed25519"
            && self.alg == ALGORITHM
            && (self.use_.is_empty() || self.use_ == "sig")
    }
}

/// A JWKS document: `{"keys": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The published keys, current and recently rotated.
    pub keys: Vec<Jwk>,
}

/// The verification keys a proxy accepts, by `kid`. Built from the JWKS control publishes;
/// during rotation it holds both the old and the new key.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, DecodingKey>,
}

impl KeySet {
    /// Takes the Ed25519 EdDSA signing keys from `set` and skips the rest, so a JWKS shared with
    /// other kinds of keys still works. Fails if a `kid` is missing or repeated, or if `x` is not
    /// a base64url-encoded 32-byte key.
    pub fn from_jwks(set: &JwkSet) -> Result<Self, TokenError> {
        let mut keys = HashMap::new();
        for jwk in set.keys.iter().filter(|jwk| jwk.is_ed25519_signing_key()) {
            if jwk.kid.is_empty() {
                return Err(TokenError::Key("an Ed25519 key has no kid".into()));
            }
            let x = URL_SAFE_NO_PAD
                .decode(&jwk.x)
                .map_err(|_| TokenError::Key(format!("key `{}`: x is not base64url", jwk.kid)))?;
            // The verifier slices the first 32 bytes, so any other length must never reach it.
            if x.len() != 32 {
                let msg = format!("key `{}`: x is {} bytes, not 32", jwk.kid, x.len());
                return Err(TokenError::Key(msg));
            }
            if keys
                .insert(jwk.kid.clone(), DecodingKey::from_ed_der(&x))
                .is_some()
            {
                return Err(TokenError::Key(format!("duplicate kid `{}`", jwk.kid)));
            }
        }
        Ok(Self { keys })
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key (every token will then fail with `UnknownKid`).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key ids, sorted.
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.keys.keys().cloned().collect();
        kids.sort_unstable();
        kids
    }

    pub(super) fn get(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys.get(kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::SigningKey;

    fn jwk(kid: &str) -> Jwk {
        SigningKey::generate(kid).expect("generate").public_jwk()
    }

    #[test]
    fn jwk_json_uses_rfc_names_and_round_trips() {
        let set = JwkSet {
            keys: vec![jwk("k1")],
        };
        let json = serde_json::to_value(&set).expect("serialize");
        let key = &json["keys"][0];
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["alg"], "EdDSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["kid"], "k1");
        assert!(key.get("use_").is_none());
        let back: JwkSet = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, set);
    }

    #[test]
    fn from_jwks_skips_rsa_and_other_non_eddsa_keys() {
        let json = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "rsa", "alg": "RS256", "use": "sig", "n": "sXch", "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "OKP", "kid": "x448", "crv": "Ed448", "alg": "EdDSA", "x": "AA"},
            {"kty": "OKP", "kid": "enc", "crv": "Ed25519", "alg": "EdDSA", "use": "enc", "x": "AA"},
        ]});
        let mut set: JwkSet = serde_json::from_value(json).expect("foreign keys parse");
        set.keys.push(jwk("ed"));
        let keys = KeySet::from_jwks(&set).expect("valid set");
        assert_eq!(keys.kids(), ["ed"]);
        assert_eq!((keys.len(), keys.is_empty()), (1, false));
    }

    #[test]
    fn from_jwks_fails_on_duplicate_kid_or_malformed_x() {
        let mut short = jwk("short");
        short.x = URL_SAFE_NO_PAD.encode([1u8; 16]);
        let mut padded = jwk("padded");
        padded.x.push('=');
        let mut no_kid = jwk("k");
        no_kid.kid.clear();
        let cases = [
            (
                "duplicate",
                vec![jwk("k1"), jwk("k1")],
                "duplicate kid `k1`",
            ),
            ("short x", vec![short], "key `short`: x is 16 bytes, not 32"),
            ("padded x", vec![padded], "key `padded`: x is not base64url"),
            ("no kid", vec![no_kid], "an Ed25519 key has no kid"),
        ];
        for (name, keys, want) in cases {
            let err = KeySet::from_jwks(&JwkSet { keys }).expect_err(name);
            assert_eq!(err, TokenError::Key(want.into()), "{name}");
        }
    }

    #[test]
    fn empty_jwks_gives_an_empty_key_set() {
        let keys = KeySet::from_jwks(&JwkSet::default()).expect("empty");
        assert!(keys.is_empty());
        assert!(keys.kids().is_empty());
    }
}
