use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use super::error::sanitize;
use super::{ALGORITHM, KeySet, TokenError};
use crate::claims::Claims;

/// Tokens longer than this are refused unread; ours are well under 2 KiB.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Clock skew tolerated on `exp`, `nbf` and `iat` by default (control's and the proxy's
/// `--clock-skew`): small, so an expired token stops working within seconds, yet enough for
/// NTP-synchronised hosts. jsonwebtoken's own default (60 s) is never used.
pub const DEFAULT_LEEWAY_SECONDS: u64 = 5;

/// Every claim a KubeNova token must carry; `&'static` so errors can name them.
const REQUIRED_CLAIMS: [&str; 7] = ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"];
const NUMERIC_CLAIMS: [&str; 3] = ["exp", "nbf", "iat"];

/// Checks tokens for one issuer and audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    issuer: String,
    audience: String,
    leeway_seconds: u64,
}

impl Verifier {
    /// A verifier for tokens from `issuer` meant for `audience`, with
    /// [`DEFAULT_LEEWAY_SECONDS`] of clock leeway.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway_seconds: DEFAULT_LEEWAY_SECONDS,
        }
    }

    /// Tolerates `seconds` of clock skew on `exp`, `nbf` and `iat`.
    pub fn with_leeway(self, seconds: u64) -> Self {
        Self {
            leeway_seconds: seconds,
            ..self
        }
    }

    /// Verifies signature and claims; `now` injected as unix seconds for testability.
    ///
    /// Order: size, header (`alg` must be EdDSA, `kid` known), signature, required claims,
    /// issuer and audience, time, then [`Claims::scope`]. Nothing in the payload is read before
    /// the signature is checked.
    pub fn verify(&self, token: &str, keys: &KeySet, now: i64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let kid = check_header(token)?;
        let key = keys
            .get(&kid)
            .ok_or_else(|| TokenError::UnknownKid(sanitize(&kid)))?;
        let payload = jsonwebtoken::decode::<Value>(token, key, &self.validation())
            .map_err(map_jwt_error)?
            .claims;
        let claims = parse_claims(payload)?;
        if claims.iss != self.issuer {
            return Err(TokenError::Issuer);
        }
        if claims.aud != self.audience {
            return Err(TokenError::Audience);
        }
        self.check_times(&claims, now)?;
        claims.scope()?;
        Ok(claims)
    }

    fn validation(&self) -> Validation {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        // Presence and type are enforced here (a string `exp` counts as absent, see
        // CVE-2026-25537); the times themselves are checked against the injected `now`, since
        // jsonwebtoken would read the system clock.
        validation.set_required_spec_claims(&REQUIRED_CLAIMS);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = self.leeway_seconds;
        validation.validate_aud = true;
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[&self.issuer]);
        validation
    }

    fn check_times(&self, claims: &Claims, now: i64) -> Result<(), TokenError> {
        let leeway = i64::try_from(self.leeway_seconds).unwrap_or(i64::MAX);
        // RFC 7519: valid strictly before `exp`, and from `nbf` on.
        if now >= claims.exp.saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        if now.saturating_add(leeway) < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        if claims.iat > now.saturating_add(leeway) {
            return Err(TokenError::IssuedInFuture);
        }
        Ok(())
    }
}

/// Reads `alg` and `kid` ourselves so that refusals say what was wrong (jsonwebtoken fails
/// to parse a header with `alg: none` at all) and so no key is ever chosen for another algorithm.
fn check_header(token: &str) -> Result<String, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed)?;
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == ALGORITHM => {}
        Some(Value::String(alg)) => return Err(TokenError::Algorithm(sanitize(alg))),
        _ => return Err(TokenError::Malformed),
    }
    // We understand no header extension, and RFC 7515 says to refuse what we cannot honour.
    if header.contains_key("crit") {
        return Err(TokenError::Malformed);
    }
    match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => Ok(kid.clone()),
        None | Some(Value::Null | Value::String(_)) => Err(TokenError::MissingKid),
        Some(_) => Err(TokenError::Malformed),
    }
}

fn map_jwt_error(err: jsonwebtoken::errors::Error) -> TokenError {
    match err.into_kind() {
        ErrorKind::InvalidSignature => TokenError::Signature,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            TokenError::Algorithm(ALGORITHM.into())
        }
        ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
            required_claim(&claim).map_or(TokenError::Malformed, TokenError::MissingClaim)
        }
        ErrorKind::InvalidIssuer => TokenError::Issuer,
        ErrorKind::InvalidAudience => TokenError::Audience,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidEddsaKey | ErrorKind::InvalidKeyFormat => {
            TokenError::Key("the verification key is not a valid Ed25519 key".into())
        }
        _ => TokenError::Malformed,
    }
}

fn required_claim(name: &str) -> Option<&'static str> {
    REQUIRED_CLAIMS.into_iter().find(|claim| *claim == name)
}

/// Runs after the signature check, so the payload is ours; still, every required claim gets a
/// precise type check because a deserialisation error alone would not say which one is wrong.
fn parse_claims(payload: Value) -> Result<Claims, TokenError> {
    if !payload.is_object() {
        return Err(TokenError::Malformed);
    }
    for claim in REQUIRED_CLAIMS {
        let valid = match payload.get(claim) {
            Some(Value::Number(n)) if NUMERIC_CLAIMS.contains(&claim) => n.is_i64(),
            Some(Value::String(_)) => !NUMERIC_CLAIMS.contains(&claim),
            _ => false,
        };
        if !valid {
            return Err(TokenError::MissingClaim(claim));
        }
    }
    serde_json::from_value(payload).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests;
