use crate::claims::ClaimsError;

/// Why a token was refused, or a key could not be used. Messages are safe to return to the
/// client: they never contain the token, and values copied from it are sanitised.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed JWS compact token (or larger than the size limit).
    #[error("the token is malformed")]
    Malformed,
    /// The header names no key.
    #[error("the token header has no key id (`kid`)")]
    MissingKid,
    /// The header names a key the verifier does not know (e.g. rotated away).
    #[error("the token is signed with an unknown key `{0}`")]
    UnknownKid(String),
    /// The header names an algorithm other than EdDSA.
    #[error("the token uses algorithm `{0}`; only EdDSA is accepted")]
    Algorithm(String),
    /// The signature does not match.
    #[error("the token signature is invalid")]
    Signature,
    /// `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is still in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future.
    #[error("the token claims to be issued in the future")]
    IssuedInFuture,
    /// `aud` is not this verifier's audience.
    #[error("the token is not meant for this service (wrong audience)")]
    Audience,
    /// `iss` is not this verifier's issuer.
    #[error("the token was not issued by this KubeNova (wrong issuer)")]
    Issuer,
    /// A required claim is absent or has the wrong type.
    #[error("the token has no valid `{0}` claim")]
    MissingClaim(&'static str),
    /// The claims are inconsistent (roles and scope, subject, token id).
    #[error(transparent)]
    Claims(#[from] ClaimsError),
    /// A signing or verification key is unusable.
    #[error("invalid key: {0}")]
    Key(String),
}

impl TokenError {
    /// Short stable label for metrics and logs ("expired", "bad_signature", "unknown_kid", ...).
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::MissingKid => "missing_kid",
            TokenError::UnknownKid(_) => "unknown_kid",
            TokenError::Algorithm(_) => "bad_algorithm",
            TokenError::Signature => "bad_signature",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::IssuedInFuture => "issued_in_future",
            TokenError::Audience => "bad_audience",
            TokenError::Issuer => "bad_issuer",
            TokenError::MissingClaim(_) => "missing_claim",
            TokenError::Claims(_) => "bad_claims",
            TokenError::Key(_) => "bad_key",
        }
    }
}

/// Keeps a value copied from a token short and printable, so an error message cannot carry a
/// payload (header injection, log forging, a smuggled token) back to the client or into logs.
pub(crate) fn sanitize(value: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = value
        .chars()
        .take(MAX)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect();
    if value.chars().count() > MAX {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::Role;

    fn every_variant() -> Vec<TokenError> {
        vec![
            TokenError::Malformed,
            TokenError::MissingKid,
            TokenError::UnknownKid("k".into()),
            TokenError::Algorithm("HS256".into()),
            TokenError::Signature,
            TokenError::Expired,
            TokenError::NotYetValid,
            TokenError::IssuedInFuture,
            TokenError::Audience,
            TokenError::Issuer,
            TokenError::MissingClaim("exp"),
            TokenError::Claims(ClaimsError::DuplicateRole(Role::Ops)),
            TokenError::Key("bad".into()),
        ]
    }

    #[test]
    fn every_reason_is_distinct_and_stable() {
        let reasons: Vec<&str> = every_variant().iter().map(TokenError::reason).collect();
        assert_eq!(
            reasons,
            [
                "malformed",
                "missing_kid",
                "unknown_kid",
                "bad_algorithm",
                "bad_signature",
                "expired",
                "not_yet_valid",
                "issued_in_future",
                "bad_audience",
                "bad_issuer",
                "missing_claim",
                "bad_claims",
                "bad_key",
            ]
        );
        let mut unique = reasons.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), reasons.len());
    }

    #[test]
    fn claims_errors_keep_their_user_facing_message() {
        let err = TokenError::from(ClaimsError::NoRoles);
        assert_eq!(err.to_string(), "the token carries no roles");
    }

    #[test]
    fn sanitize_keeps_kids_and_defuses_anything_else() {
        let cases = [
            ("key-2025.01_a", "key-2025.01_a".to_owned()),
            ("a\r\nb c", "a??b?c".to_owned()),
            ("<script>", "?script?".to_owned()),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize(input), want);
        }
        let long = "k".repeat(100);
        assert_eq!(sanitize(&long), format!("{}...", "k".repeat(64)));
    }
}
