//! Tokens an attacker could craft; each must be refused with a precise reason.

use jsonwebtoken::{EncodingKey, Header};

use super::*;

#[test]
fn a_key_substituted_under_a_known_kid_fails_the_signature() {
    let (real, impostor) = (test_key("k1"), test_key("k1"));
    let token = impostor.key.sign(&valid()).expect("sign");
    assert_eq!(
        refuse(&token, &keys(&[&real]), &verifier(), NOW),
        TokenError::Signature
    );
}

#[test]
fn tampered_payload_fails_the_signature() {
    let k = test_key("k1");
    let token = k.key.sign(&valid()).expect("sign");
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut escalated = valid_json();
    escalated["roles"] = json!(["tenantOwner"]);
    escalated["project"] = Value::Null;
    parts[1] = b64_json(&escalated);
    let err = refuse(&parts.join("."), &keys(&[&k]), &verifier(), NOW);
    assert_eq!(err, TokenError::Signature);
}

#[test]
fn alg_none_is_refused() {
    let k = test_key("k1");
    let header = json!({"alg": "none", "typ": "JWT", "kid": "k1"});
    for signature in ["", "AAAA"] {
        let token = format!(
            "{}.{}.{signature}",
            b64_json(&header),
            b64_json(&valid_json())
        );
        let err = refuse(&token, &keys(&[&k]), &verifier(), NOW);
        assert_eq!(err, TokenError::Algorithm("none".into()));
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let k = test_key("k1");
    let jwk = k.key.public_jwk();
    let raw = URL_SAFE_NO_PAD.decode(&jwk.x).expect("x");
    let jwk_json = serde_json::to_vec(&jwk).expect("json");
    let secrets: [(&str, &[u8]); 3] = [
        ("raw public key", &raw),
        ("x as text", jwk.x.as_bytes()),
        ("JWK JSON", &jwk_json),
    ];
    for (name, secret) in secrets {
        let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("k1".into());
        let token =
            jsonwebtoken::encode(&header, &valid(), &EncodingKey::from_secret(secret)).expect(name);
        let err = refuse(&token, &keys(&[&k]), &verifier(), NOW);
        assert_eq!(err, TokenError::Algorithm("HS256".into()), "{name}");
    }
}

#[test]
fn every_other_algorithm_is_refused_before_the_signature() {
    let k = test_key("k1");
    for alg in [
        "RS256",
        "ES256",
        "PS256",
        "HS512",
        "eddsa",
        "Ed25519",
        "EdDSA\u{0}",
    ] {
        let token = k.sign_raw(&json!({"alg": alg, "kid": "k1"}), &valid_json());
        let err = refuse(&token, &keys(&[&k]), &verifier(), NOW);
        assert_eq!(err.reason(), "bad_algorithm", "{alg}");
    }
}

#[test]
fn kid_must_be_present_and_known() {
    let k = test_key("k1");
    let ks = keys(&[&k]);
    let cases = [
        (json!({"alg": "EdDSA"}), TokenError::MissingKid),
        (json!({"alg": "EdDSA", "kid": ""}), TokenError::MissingKid),
        (json!({"alg": "EdDSA", "kid": 1}), TokenError::Malformed),
        (
            json!({"alg": "EdDSA", "kid": "k2"}),
            TokenError::UnknownKid("k2".into()),
        ),
        (
            json!({"alg": "EdDSA", "kid": "k\r\n<b>"}),
            TokenError::UnknownKid("k???b?".into()),
        ),
    ];
    for (header, want) in cases {
        let token = k.sign_raw(&header, &valid_json());
        assert_eq!(refuse(&token, &ks, &verifier(), NOW), want, "{header}");
    }
}

#[test]
fn every_required_claim_must_be_present_with_the_right_type() {
    let k = test_key("k1");
    let ks = keys(&[&k]);
    for claim in REQUIRED_CLAIMS {
        let mut payload = valid_json();
        payload.as_object_mut().expect("object").remove(claim);
        let err = refuse(&k.sign_payload(&payload), &ks, &verifier(), NOW);
        assert_eq!(err, TokenError::MissingClaim(claim), "missing {claim}");
    }
    #[rustfmt::skip]
    let wrong_types = [
        ("exp", json!("9999999999")), // CVE-2026-25537: a string exp must not skip the check
        ("nbf", json!("0")),
        ("iat", json!("0")),
        ("exp", json!(1.8e12)),
        ("exp", json!(null)),
        ("sub", json!(42)),
        ("jti", json!(["a"])),
    ];
    for (claim, value) in wrong_types {
        let mut payload = valid_json();
        payload[claim] = value.clone();
        let err = refuse(&k.sign_payload(&payload), &ks, &verifier(), NOW);
        assert_eq!(err.reason(), "missing_claim", "{claim} = {value}");
    }
}

#[test]
fn malformed_tokens_are_refused() {
    let k = test_key("k1");
    let ks = keys(&[&k]);
    let good = k.key.sign(&valid()).expect("sign");
    let mut huge = valid_json();
    huge["pad"] = json!("x".repeat(MAX_TOKEN_BYTES));
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    let cases = [
        ("empty", String::new()),
        ("one part", "abc".to_owned()),
        ("two parts", "a.b".to_owned()),
        ("four parts", format!("{good}.x")),
        ("header not base64", format!("!!{good}")),
        ("header not json", format!("{}.e30.AA", b64("nope"))),
        (
            "header without alg",
            format!("{}.e30.AA", b64(r#"{"kid":"k1"}"#)),
        ),
        (
            "crit header",
            k.sign_raw(
                &json!({"alg": "EdDSA", "kid": "k1", "crit": ["exp"]}),
                &valid_json(),
            ),
        ),
        (
            "payload not json",
            k.sign_raw(&json!({"alg": "EdDSA", "kid": "k1"}), &json!("text")),
        ),
        ("over 16 KiB, even if signed", k.sign_payload(&huge)),
    ];
    for (name, token) in cases {
        assert_eq!(
            refuse(&token, &ks, &verifier(), NOW),
            TokenError::Malformed,
            "{name}"
        );
    }
}
