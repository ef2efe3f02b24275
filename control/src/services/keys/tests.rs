use super::*;

#[test]
fn seal_and_open_round_trip_bound_to_the_cluster() {
    let cipher = Cipher::new(&[7u8; 32]).expect("key");
    let sealed = cipher.seal("prod", b"apiVersion: v1").expect("seal");
    assert!(sealed.starts_with(CIPHER_PREFIX));
    assert!(!sealed.contains("apiVersion"));
    assert_eq!(
        cipher.open("prod", &sealed).expect("open"),
        b"apiVersion: v1"
    );
    assert!(cipher.open("staging", &sealed).is_err(), "other cluster");
    let other = Cipher::new(&[8u8; 32]).expect("key");
    assert!(other.open("prod", &sealed).is_err(), "other key");
    assert!(Cipher::new(&[1u8; 16]).is_err());
}

#[test]
fn keys_from_secret_need_the_active_key() {
    let key = SigningKey::generate("k1").expect("key");
    let mut data = BTreeMap::from([
        (
            "k1.pem".to_owned(),
            ByteString(key.to_pkcs8_pem().into_bytes()),
        ),
        (ACTIVE.to_owned(), ByteString(b"k1".to_vec())),
    ]);
    let secret = |data: &BTreeMap<String, ByteString>| Secret {
        data: Some(data.clone()),
        ..Secret::default()
    };
    let keys = Keys::from_secret(&secret(&data)).expect("keys");
    assert_eq!(keys.active.kid(), "k1");
    assert_eq!(keys.jwks().keys.len(), 1);
    data.insert(ACTIVE.to_owned(), ByteString(b"k2".to_vec()));
    assert!(Keys::from_secret(&secret(&data)).is_err());
}

#[test]
fn errors_are_typed_and_say_what_to_fix() {
    let key = SigningKey::generate("k1").expect("key");
    let secret = |data: BTreeMap<String, ByteString>| Secret {
        data: Some(data),
        ..Secret::default()
    };
    let err = Keys::from_secret(&secret(BTreeMap::new())).expect_err("no `active`");
    assert!(
        matches!(&err, KeyError::Missing { entry } if entry == ACTIVE),
        "{err:?}"
    );
    assert!(err.to_string().contains("restore the Secret"), "{err}");

    let pem = ByteString(key.to_pkcs8_pem().into_bytes());
    let err = Keys::from_secret(&secret(BTreeMap::from([
        ("k1.pem".to_owned(), pem.clone()),
        (ACTIVE.to_owned(), ByteString(b"k2".to_vec())),
    ])))
    .expect_err("active key missing");
    assert!(
        matches!(&err, KeyError::NoActive { kid, live } if kid == "k2" && live == "k1"),
        "{err:?}"
    );
    assert!(err.to_string().contains("(live: k1)"), "{err}");

    let err = Keys::from_secret(&secret(BTreeMap::from([
        ("k1.pem".to_owned(), ByteString(b"not a key".to_vec())),
        (ACTIVE.to_owned(), ByteString(b"k1".to_vec())),
    ])))
    .expect_err("broken key");
    assert!(
        matches!(&err, KeyError::BadKey { kid, .. } if kid == "k1"),
        "{err:?}"
    );

    let err = Cipher::new(&[1u8; 16]).expect_err("16 bytes");
    assert!(matches!(err, CipherError::KeyLength(16)), "{err:?}");
    let missing = std::path::Path::new("/nonexistent/kubenova-encryption-key");
    let err = Cipher::from_file(missing).expect_err("no file");
    assert!(matches!(err, CipherError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("--encryption-key-file"), "{err}");
    let err = Cipher::new(&[7u8; 32])
        .expect("key")
        .open("prod", "kn1:AAAA")
        .expect_err("too short");
    assert!(matches!(err, CipherError::TooShort), "{err:?}");
}
