use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use super::*;

/// A fresh directory under the system's temporary one.
fn scratch() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kubenova-tls-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A self-signed pair for `name`: (certificate PEM, key PEM).
fn pair(name: &str) -> (String, String) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec![name.to_owned()]).expect("certificate");
    (cert.pem(), signing_key.serialize_pem())
}

/// Writes `text` to `path` and sets its modification time to `at` seconds after the epoch, so a
/// change is seen whatever the file system's timestamp granularity.
fn write(path: &Path, text: &str, at: u64) {
    std::fs::write(path, text).expect("write");
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open");
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(at))
        .expect("set mtime");
}

fn served(cert: &ReloadingCert) -> Vec<u8> {
    cert.current.read().expect("lock").1.cert[0].to_vec()
}

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("pem")
        .to_vec()
}

#[test]
fn loads_a_pair_and_offers_h2_and_http1() {
    let dir = scratch();
    let (c, k) = pair("one.example");
    write(&dir.join("tls.crt"), &c, 1_000);
    write(&dir.join("tls.key"), &k, 1_000);
    let cert = ReloadingCert::load(&dir.join("tls.crt"), &dir.join("tls.key")).expect("loads");
    assert_eq!(served(&cert), der(&c));
    let config = cert.server_config().expect("config");
    assert_eq!(
        config.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}

#[test]
fn errors_name_the_file_and_what_to_fix() {
    let dir = scratch();
    let (c, k) = pair("one.example");
    let (_, other_key) = pair("two.example");
    let (crt, key) = (dir.join("tls.crt"), dir.join("tls.key"));

    let err = ReloadingCert::load(&crt, &key).expect_err("no files");
    assert!(matches!(err, TlsError::Read { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&crt.display().to_string()),
        "{err}"
    );

    write(&crt, "not a certificate\n", 1_000);
    write(&key, &k, 1_000);
    let err = ReloadingCert::load(&crt, &key).expect_err("no certificate");
    assert!(matches!(err, TlsError::Certificate { .. }), "{err:?}");
    assert!(err.to_string().contains("no certificate"), "{err}");

    write(&crt, &c, 1_000);
    write(&key, "garbage\n", 1_000);
    let err = ReloadingCert::load(&crt, &key).expect_err("no key");
    assert!(matches!(err, TlsError::Key { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&key.display().to_string()),
        "{err}"
    );

    write(&key, &other_key, 1_000);
    let err = ReloadingCert::load(&crt, &key).expect_err("another key");
    assert!(matches!(err, TlsError::Mismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("does not belong"), "{err}");
}

#[test]
fn reloads_a_changed_pair_and_keeps_the_old_one_when_the_new_is_broken() {
    let dir = scratch();
    let (crt, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let (c1, k1) = pair("one.example");
    write(&crt, &c1, 1_000);
    write(&key, &k1, 1_000);
    let cert = ReloadingCert::load(&crt, &key).expect("loads");
    assert!(
        !cert.reload_if_changed().expect("unchanged"),
        "nothing changed"
    );

    // Key first: for a moment the pair does not match; the old one stays in service.
    let (c2, k2) = pair("two.example");
    write(&key, &k2, 2_000);
    let err = cert.reload_if_changed().expect_err("mismatched pair");
    assert!(matches!(err, TlsError::Mismatch { .. }), "{err:?}");
    assert_eq!(served(&cert), der(&c1), "the old pair stays in service");

    write(&crt, &c2, 2_001);
    assert!(cert.reload_if_changed().expect("new pair"), "reloaded");
    assert_eq!(served(&cert), der(&c2));
    assert!(
        !cert.reload_if_changed().expect("unchanged"),
        "nothing changed since"
    );
}
