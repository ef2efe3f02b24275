use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};

use super::{ALGORITHM, Jwk, TokenError};
use crate::claims::Claims;

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

/// The control plane's Ed25519 signing key and the `kid` it is published under.
///
/// `Debug` shows only the `kid`; the private key never leaves except via [`Self::to_pkcs8_pem`].
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    pkcs8_der: Vec<u8>,
    public_key: Vec<u8>,
    encoding: EncodingKey,
}

impl SigningKey {
    /// A fresh random key.
    pub fn generate(kid: impl Into<String>) -> Result<Self, TokenError> {
        let rng = ring::rand::SystemRandom::new();
        let der = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| TokenError::Key("cannot generate an Ed25519 key".into()))?;
        Self::from_pkcs8_der(kid, der.as_ref())
    }

    /// A key from PKCS#8 DER (v1 as written by OpenSSL, or v2 as written by ring).
    pub fn from_pkcs8_der(kid: impl Into<String>, der: &[u8]) -> Result<Self, TokenError> {
        let kid = kid.into();
        if kid.is_empty() {
            return Err(TokenError::Key("the key id (kid) must not be empty".into()));
        }
        // v1 documents carry no public key to check against, which is fine for our own key.
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|_| TokenError::Key("not a PKCS#8 Ed25519 private key".into()))?;
        Ok(Self {
            kid,
            pkcs8_der: der.to_vec(),
            public_key: pair.public_key().as_ref().to_vec(),
            encoding: EncodingKey::from_ed_der(der),
        })
    }

    /// A key from a PEM `PRIVATE KEY` block (PKCS#8).
    pub fn from_pkcs8_pem(kid: impl Into<String>, pem: &str) -> Result<Self, TokenError> {
        let not_pem = || TokenError::Key("expected a PEM \"PRIVATE KEY\" block".into());
        let start = pem.find(PEM_BEGIN).ok_or_else(not_pem)? + PEM_BEGIN.len();
        let len = pem[start..].find(PEM_END).ok_or_else(not_pem)?;
        let body: String = pem[start..start + len]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = STANDARD.decode(body).map_err(|_| not_pem())?;
        Self::from_pkcs8_der(kid, &der)
    }

    /// The key as a PEM `PRIVATE KEY` block (PKCS#8), for storing in a Secret.
    pub fn to_pkcs8_pem(&self) -> String {
        let body = STANDARD.encode(&self.pkcs8_der);
        let mut pem = String::with_capacity(body.len() + 80);
        pem.push_str(PEM_BEGIN);
        pem.push('\n');
        // 64 columns, as RFC 7468 asks; base64 output is ASCII, so byte chunks are whole chars.
        for line in body.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str(PEM_END);
        pem.push('\n');
        pem
    }

    /// The key id put in every token's header and in the published JWK.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half, as published in the JWKS.
    pub fn public_jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(&self.public_key),
            kid: self.kid.clone(),
            alg: ALGORITHM.into(),
            use_: "sig".into(),
        }
    }

    /// Signs `claims` as a compact JWS with header `{"alg":"EdDSA","typ":"JWT","kid":...}`.
    ///
    /// The claims are not checked here; control validates them before issuing.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| TokenError::Key(format!("cannot sign: {e}")))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_the_key() {
        let key = SigningKey::generate("k1").expect("generate");
        let pem = key.to_pkcs8_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        assert!(pem.lines().all(|l| l.len() <= 64));
        let back = SigningKey::from_pkcs8_pem("k1", &pem).expect("parse");
        assert_eq!(back.public_jwk(), key.public_jwk());
    }

    #[test]
    fn accepts_openssl_pkcs8_v1_keys() {
        // `openssl genpkey -algorithm ed25519` output (RFC 8410 section 10.3 test key).
        let pem = "-----BEGIN PRIVATE KEY-----\n\
                   MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
                   -----END PRIVATE KEY-----\n";
        let key = SigningKey::from_pkcs8_pem("openssl", pem).expect("v1 key");
        assert_eq!(
            key.public_jwk().x,
            "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE"
        );
    }

    #[test]
    fn rejects_garbage_keys_and_empty_kid() {
        let cases: [(&str, Result<SigningKey, TokenError>); 3] = [
            ("not pem", SigningKey::from_pkcs8_pem("k", "hello")),
            (
                "not a key",
                SigningKey::from_pkcs8_der("k", b"\x30\x03\x02\x01\x00"),
            ),
            ("empty kid", SigningKey::generate("")),
        ];
        for (name, result) in cases {
            assert_eq!(
                result.map(|_| ()).map_err(|e| e.reason()),
                Err("bad_key"),
                "{name}"
            );
        }
    }

    #[test]
    fn public_jwk_describes_an_ed25519_signing_key() {
        let jwk = SigningKey::generate("k1").expect("generate").public_jwk();
        assert_eq!((jwk.kty.as_str(), jwk.crv.as_str()), ("OKP", "Ed25519"));
        assert_eq!(
            (jwk.alg.as_str(), jwk.use_.as_str(), jwk.kid.as_str()),
            ("EdDSA", "sig", "k1")
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(&jwk.x).expect("base64url").len(), 32);
    }

    #[test]
    fn debug_does_not_print_the_private_key() {
        let key = SigningKey::generate("k1").expect("generate");
        let debug = format!("{key:?}");
        assert!(debug.contains("k1") && !debug.contains(&STANDARD.encode(&key.pkcs8_der)));
        assert!(!debug.contains("pkcs8"), "{debug}");
    }
}
