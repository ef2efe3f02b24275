use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::Ed25519KeyPair;
use serde_json::{Value, json};

use super::*;
use crate::claims::{API_AUDIENCE, ClaimsError, PROXY_AUDIENCE};
use crate::role::Role;
use crate::testutil::{ISSUER, NOW, claims};
use crate::token::{JwkSet, SigningKey};

/// A signing key plus a ring key pair over the same secret, for hand-crafted tokens.
struct TestKey {
    key: SigningKey,
    pair: Ed25519KeyPair,
}

fn test_key(kid: &str) -> TestKey {
    let der = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).expect("rng");
    let pair = Ed25519KeyPair::from_pkcs8(der.as_ref()).expect("pair");
    TestKey {
        key: SigningKey::from_pkcs8_der(kid, der.as_ref()).expect("key"),
        pair,
    }
}

impl TestKey {
    /// Signs any header and payload, valid or not, exactly as given.
    fn sign_raw(&self, header: &Value, payload: &Value) -> String {
        let message = format!("{}.{}", b64_json(header), b64_json(payload));
        let signature = URL_SAFE_NO_PAD.encode(self.pair.sign(message.as_bytes()));
        format!("{message}.{signature}")
    }

    fn sign_payload(&self, payload: &Value) -> String {
        self.sign_raw(
            &json!({"alg": "EdDSA", "typ": "JWT", "kid": self.key.kid()}),
            payload,
        )
    }
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

fn keys(of: &[&TestKey]) -> KeySet {
    let set = JwkSet {
        keys: of.iter().map(|k| k.key.public_jwk()).collect(),
    };
    KeySet::from_jwks(&set).expect("key set")
}

fn verifier() -> Verifier {
    Verifier::new(ISSUER, PROXY_AUDIENCE)
}

fn valid() -> Claims {
    claims(&[Role::ProjectDev], Some("acme"), Some("shop"))
}

fn valid_json() -> Value {
    serde_json::to_value(valid()).expect("json")
}

/// Verifies and checks the refusal message gives nothing of the token back.
fn refuse(token: &str, keys: &KeySet, verifier: &Verifier, now: i64) -> TokenError {
    let err = verifier
        .verify(token, keys, now)
        .expect_err("token must be refused");
    let msg = err.to_string();
    for part in token.split('.').filter(|p| p.len() > 8) {
        assert!(!msg.contains(part), "{msg} leaks the token");
    }
    err
}

mod refusals;

#[test]
fn signed_claims_verify_unchanged() {
    let k = test_key("k1");
    let token = k.key.sign(&valid()).expect("sign");
    assert_eq!(verifier().verify(&token, &keys(&[&k]), NOW), Ok(valid()));
}

#[test]
fn signed_header_is_eddsa_jwt_with_kid() {
    let k = test_key("k1");
    let token = k.key.sign(&valid()).expect("sign");
    let header = token.split('.').next().expect("header");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("b64")).expect("json");
    assert_eq!(header, json!({"alg": "EdDSA", "typ": "JWT", "kid": "k1"}));
}

#[test]
fn rotation_accepts_both_published_keys_and_refuses_removed_ones() {
    let (old, new) = (test_key("old"), test_key("new"));
    let both = keys(&[&old, &new]);
    for k in [&old, &new] {
        let token = k.key.sign(&valid()).expect("sign");
        assert_eq!(
            verifier().verify(&token, &both, NOW),
            Ok(valid()),
            "{}",
            k.key.kid()
        );
    }
    let token = old.key.sign(&valid()).expect("sign");
    let err = refuse(&token, &keys(&[&new]), &verifier(), NOW);
    assert_eq!(err, TokenError::UnknownKid("old".into()));
}

#[test]
fn time_claims_are_checked_against_the_injected_clock_with_leeway() {
    type Case = (&'static str, i64, i64, i64, u64, Result<(), TokenError>);
    #[rustfmt::skip]
    let cases: [Case; 11] = [
        // name, exp, nbf, iat, leeway, want  (now = NOW)
        ("fresh token", NOW + 60, NOW, NOW, 0, Ok(())),
        ("expired", NOW - 1, NOW - 60, NOW - 60, 0, Err(TokenError::Expired)),
        ("invalid at exactly exp", NOW, NOW - 60, NOW - 60, 0, Err(TokenError::Expired)),
        ("expired within leeway", NOW - 10, NOW - 60, NOW - 60, 30, Ok(())),
        ("expired beyond leeway", NOW - 30, NOW - 60, NOW - 60, 30, Err(TokenError::Expired)),
        ("not yet valid", NOW + 60, NOW + 10, NOW, 0, Err(TokenError::NotYetValid)),
        ("not yet valid within leeway", NOW + 60, NOW + 10, NOW, 30, Ok(())),
        ("not yet valid beyond leeway", NOW + 60, NOW + 31, NOW, 30, Err(TokenError::NotYetValid)),
        ("issued in future", NOW + 60, NOW, NOW + 10, 0, Err(TokenError::IssuedInFuture)),
        ("issued in future within leeway", NOW + 60, NOW, NOW + 10, 30, Ok(())),
        ("issued in future beyond leeway", NOW + 60, NOW, NOW + 31, 30, Err(TokenError::IssuedInFuture)),
    ];
    let k = test_key("k1");
    for (name, exp, nbf, iat, leeway, want) in cases {
        let token = k
            .key
            .sign(&Claims {
                exp,
                nbf,
                iat,
                ..valid()
            })
            .expect("sign");
        let got = verifier()
            .with_leeway(leeway)
            .verify(&token, &keys(&[&k]), NOW);
        assert_eq!(got.map(|_| ()), want, "{name}");
    }
}

/// Issue 12: the library's 60 s (and our former 30 s) let an expired token in for a minute.
#[test]
fn the_default_leeway_is_five_seconds_on_every_time_claim() {
    assert_eq!(super::DEFAULT_LEEWAY_SECONDS, 5);
    type Case = (&'static str, i64, i64, i64, Result<(), TokenError>);
    #[rustfmt::skip]
    let cases: [Case; 6] = [
        // name, exp, nbf, iat, want  (now = NOW, default verifier)
        ("expired 4 s ago", NOW - 4, NOW - 60, NOW - 60, Ok(())),
        ("expired 8 s ago", NOW - 8, NOW - 60, NOW - 60, Err(TokenError::Expired)),
        ("valid in 4 s", NOW + 60, NOW + 4, NOW, Ok(())),
        ("valid in 8 s", NOW + 60, NOW + 8, NOW, Err(TokenError::NotYetValid)),
        ("issued 4 s ahead", NOW + 60, NOW, NOW + 4, Ok(())),
        ("issued 8 s ahead", NOW + 60, NOW, NOW + 8, Err(TokenError::IssuedInFuture)),
    ];
    let k = test_key("k1");
    for (name, exp, nbf, iat, want) in cases {
        let token = k
            .key
            .sign(&Claims {
                exp,
                nbf,
                iat,
                ..valid()
            })
            .expect("sign");
        let got = verifier().verify(&token, &keys(&[&k]), NOW);
        assert_eq!(got.map(|_| ()), want, "{name}");
    }
}

#[test]
fn the_system_clock_is_never_consulted() {
    let k = test_key("k1");
    let long_ago = 1_000_000_000; // 2001: long expired by the wall clock.
    let old = Claims {
        exp: long_ago + 60,
        nbf: long_ago,
        iat: long_ago,
        ..valid()
    };
    let token = k.key.sign(&old).expect("sign");
    assert_eq!(verifier().verify(&token, &keys(&[&k]), long_ago), Ok(old));
}

#[test]
fn audience_and_issuer_must_match_exactly() {
    let k = test_key("k1");
    let ks = keys(&[&k]);
    let api_token = k
        .key
        .sign(&Claims {
            aud: API_AUDIENCE.into(),
            ..valid()
        })
        .expect("sign");
    let proxy_token = k.key.sign(&valid()).expect("sign");
    let other_iss = k
        .key
        .sign(&Claims {
            iss: format!("{ISSUER}/"),
            ..valid()
        })
        .expect("sign");
    let api = Verifier::new(ISSUER, API_AUDIENCE);
    assert_eq!(
        refuse(&api_token, &ks, &verifier(), NOW),
        TokenError::Audience
    );
    assert_eq!(refuse(&proxy_token, &ks, &api, NOW), TokenError::Audience);
    assert_eq!(
        refuse(&other_iss, &ks, &verifier(), NOW),
        TokenError::Issuer
    );
    let mut array_aud = valid_json();
    array_aud["aud"] = json!([PROXY_AUDIENCE]);
    let err = refuse(&k.sign_payload(&array_aud), &ks, &verifier(), NOW);
    assert_eq!(err, TokenError::MissingClaim("aud"));
}

#[test]
fn claims_must_be_consistent() {
    let k = test_key("k1");
    let ks = keys(&[&k]);
    let cases = [
        (
            Claims {
                jti: String::new(),
                ..valid()
            },
            ClaimsError::EmptyJti,
        ),
        (
            Claims {
                roles: vec![],
                ..valid()
            },
            ClaimsError::NoRoles,
        ),
        (
            Claims {
                roles: vec![Role::TenantOwner],
                ..valid()
            },
            ClaimsError::ProjectNotAllowed(Role::TenantOwner),
        ),
    ];
    for (claims, want) in cases {
        let token = k.key.sign(&claims).expect("sign");
        assert_eq!(
            refuse(&token, &ks, &verifier(), NOW),
            TokenError::Claims(want)
        );
    }
}
