use clap::Parser as _;

use super::*;

fn args(extra: &[&str]) -> ServeArgs {
    let mut argv = vec!["kubenova-control", "serve"];
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).expect("parses").command {
        Command::Serve(a) => *a,
        _ => panic!("not serve"),
    }
}

#[test]
fn every_config_error_is_reported_at_once() {
    let err = settings(&args(&[
        "--listen=nope",
        "--kubeconfig-ttl=48h",
        "--max-kubeconfig-ttl=24h",
        "--request-timeout=5x",
        "--tls-cert=/nonexistent",
    ]))
    .expect_err("invalid");
    for want in [
        "--listen",
        "--kubeconfig-ttl is longer",
        "--request-timeout",
        "--issuer is required",
        "--tls-cert and --tls-key",
        "/nonexistent",
    ] {
        assert!(err.contains(want), "{want} missing in {err}");
    }
    assert!(err.starts_with("6 configuration problem(s)"), "{err}");
}

#[test]
fn good_config_gives_settings() {
    let (s, listen) = settings(&args(&[
        "--issuer=https://k.example",
        "--listen=127.0.0.1:9000",
        "--max-kubeconfig-ttl=2h",
        "--kubeconfig-ttl=1h",
    ]))
    .expect("valid");
    assert_eq!(listen.port(), 9000);
    assert_eq!(s.max_kubeconfig_ttl, Duration::from_secs(7200));
    assert_eq!(s.issuer, "https://k.example");
    assert_eq!(s.clock_skew, Duration::from_secs(5), "the default");
    let (s, _) =
        settings(&args(&["--issuer=https://k.example", "--clock-skew=2s"])).expect("valid");
    assert_eq!(s.clock_skew, Duration::from_secs(2));
    let err =
        settings(&args(&["--issuer=https://k.example", "--clock-skew=soon"])).expect_err("invalid");
    assert!(err.contains("--clock-skew"), "{err}");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
    assert!(parse_duration("h").is_err());
    assert!(parse_duration("5y").is_err());
}

#[test]
fn session_and_credential_lifetimes() {
    let (s, _) = settings(&args(&["--issuer=https://k.example"])).expect("valid");
    assert_eq!(s.session_ttl, Duration::from_secs(12 * 3600));
    assert_eq!(s.credential_ttl, Duration::from_secs(300));
    let (s, _) = settings(&args(&[
        "--issuer=https://k.example",
        "--session-ttl=2h",
        "--credential-ttl=20s",
    ]))
    .expect("valid");
    assert_eq!(
        (s.session_ttl, s.credential_ttl),
        (Duration::from_secs(7200), Duration::from_secs(20))
    );
    for (flag, want) in [
        ("--credential-ttl=5s", "at least 10s"),
        ("--credential-ttl=25h", "longer than --max-kubeconfig-ttl"),
        ("--session-ttl=31d", "longer than --max-api-token-ttl"),
    ] {
        let err = settings(&args(&["--issuer=https://k.example", flag])).expect_err(flag);
        assert!(err.contains(want), "{flag}: {err}");
    }
}
