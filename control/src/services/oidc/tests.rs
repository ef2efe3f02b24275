use super::*;
use kubenova_api::Role;

fn config(yaml: &str) -> Result<(), String> {
    let c: OidcConfig = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    c.validate()
}

const GOOD: &str = r#"
issuers:
- name: corp
  issuerUrl: https://dex.example.test/dex
  clientId: kubenova
  mapping:
  - {group: platform, role: admin}
  - {group: acme-owners, role: tenantOwner, tenant: acme}
  - {group: acme-web, role: projectDev, tenant: acme, project: web}
"#;

#[test]
fn a_good_configuration_and_its_defaults() {
    config(GOOD).expect("valid");
    let c: OidcConfig = serde_yaml::from_str(GOOD).expect("parses");
    let i = &c.issuers[0];
    assert_eq!(i.algorithms, ["RS256"]);
    assert_eq!(i.clock_skew_seconds, 60);
    assert_eq!(
        (i.username_claim.as_str(), i.groups_claim.as_str()),
        ("email", "groups")
    );
    assert_eq!(i.scopes, ["openid", "email", "groups"]);
}

#[test]
fn mistakes_name_their_field() {
    let cases = [
        ("issuers: []", "issuers: name at least one"),
        (
            &GOOD.replace("https://dex", "http://dex"),
            "issuers[0].issuerUrl: must be an https URL",
        ),
        (
            &GOOD.replace(
                "clientId: kubenova",
                "clientId: kubenova\n  algorithms: [HS256]",
            ),
            "issuers[0].algorithms[0]: `HS256` is not accepted",
        ),
        (
            &GOOD.replace(
                "clientId: kubenova",
                "clientId: kubenova\n  algorithms: [none]",
            ),
            "issuers[0].algorithms[0]: `none` is not accepted",
        ),
        (
            &GOOD.replace("role: tenantOwner, tenant: acme", "role: tenantOwner"),
            "issuers[0].mapping[1]:",
        ),
        (
            &GOOD.replace("role: admin}", "role: admin, tenant: acme}"),
            "issuers[0].mapping[0]:",
        ),
        (
            &GOOD.replace("tenant: acme, project: web", "tenant: Acme, project: web"),
            "issuers[0].mapping[2]: tenant contains 'A'",
        ),
        (
            &GOOD.replace("role: admin", "role: root"),
            "unknown variant `root`",
        ),
        (
            &GOOD.replace("clientId:", "clientID:"),
            "unknown field `clientID`",
        ),
        (
            &GOOD.replace(
                "clientId: kubenova",
                "clientId: kubenova\n  clockSkewSeconds: 3600",
            ),
            "issuers[0].clockSkewSeconds: at most 300",
        ),
        (
            &format!("{GOOD}{}", GOOD.replace("issuers:\n", "")),
            "issuers[1].name: `corp` is also the name of issuers[0]",
        ),
    ];
    for (yaml, want) in cases {
        let err = config(yaml).expect_err(want);
        assert!(err.contains(want), "{want:?} not in {err:?}");
    }
}

#[test]
fn groups_map_to_grants() {
    let c: OidcConfig = serde_yaml::from_str(GOOD).expect("parses");
    let mapping = &c.issuers[0].mapping;
    let g = |names: &[&str]| {
        grants(
            mapping,
            &names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(g(&["everyone"]), vec![]);
    assert_eq!(
        g(&["platform", "platform"]),
        vec![Grant {
            role: Role::Admin,
            tenant: None,
            project: None
        }]
    );
    let both = g(&["acme-web", "acme-owners", "other"]);
    assert_eq!(both.len(), 2);
    assert_eq!(both[0].role, Role::TenantOwner);
    assert_eq!(both[1].project.as_deref(), Some("web"));
}

#[test]
fn the_issuer_is_read_before_the_signature() {
    use base64::Engine as _;
    let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let token = format!(
        "{}.{}.sig",
        enc(r#"{"alg":"RS256"}"#),
        enc(r#"{"iss":"https://x.test"}"#)
    );
    assert_eq!(unverified_issuer(&token), Ok("https://x.test".to_owned()));
    assert!(matches!(
        unverified_issuer("a.b.c"),
        Err(Refused::Malformed(_))
    ));
    assert!(matches!(
        unverified_issuer(&format!("{}.{}.s", enc("{}"), enc("{}"))),
        Err(Refused::Malformed(_))
    ));
}
