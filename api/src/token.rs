//! Signing (control) and verifying (proxy) KubeNova JWTs: EdDSA over Ed25519 only.
//!
//! Only one algorithm is ever accepted, so `none`, HMAC (including the "public key as HMAC
//! secret" confusion) and RSA/ECDSA tokens are refused before any key is used.

mod error;
mod jwks;
mod signing;
mod verify;

pub use error::TokenError;
pub use jwks::{Jwk, JwkSet, KeySet};
pub use signing::SigningKey;
pub use verify::{DEFAULT_LEEWAY_SECONDS, MAX_TOKEN_BYTES, Verifier};

/// The only JWS `alg` KubeNova signs with or accepts.
pub const ALGORITHM: &str = "EdDSA";
