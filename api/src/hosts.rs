//! Ingress host claims (ADR 0015): the hosts a tenant's Ingresses may use, each an exact host
//! (`shop.example.com`) or a wildcard (`*.shop.example.com`: every name below
//! `shop.example.com`, at any depth, including the Ingress wildcard host `*.shop.example.com`,
//! but not `shop.example.com` itself). No two tenants of a cluster hold overlapping claims.

/// The most claims one tenant may hold.
pub const MAX_CLAIMS: usize = 64;

/// The longest claim (a DNS name).
pub const MAX_LEN: usize = 253;

/// The pattern a claim matches (the CRD's schema checks it; [`validate_claim`] says why not).
pub const PATTERN: &str =
    r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// The domain below which a wildcard claim `*.<domain>` holds every name, if `claim` is one.
pub fn wildcard_domain(claim: &str) -> Option<&str> {
    claim.strip_prefix("*.")
}

/// Checks one claim; `Err` says what to fix.
pub fn validate_claim(claim: &str) -> Result<(), String> {
    if claim.is_empty() {
        return Err("must not be empty".into());
    }
    if claim.len() > MAX_LEN {
        return Err(format!(
            "is {} characters long; a host name has at most {MAX_LEN}",
            claim.len()
        ));
    }
    let (wildcard, name) = match wildcard_domain(claim) {
        Some(domain) => (true, domain),
        None => (false, claim),
    };
    if name.contains('*') {
        return Err(format!(
            "`{claim}`: a wildcard is only allowed as the whole first label (`*.example.com`)"
        ));
    }
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("`{claim}`: write host names in lower case"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "`{claim}` is not a host name: each dot-separated part is 1 to 63 of a-z, 0-9 and `-`, \
                 not starting or ending with `-` (a wildcard is `*.` followed by such a name)"
            ));
        }
    }
    if wildcard && labels.len() < 2 {
        return Err(format!(
            "`{claim}` would claim a whole top-level domain; a wildcard needs at least two labels after `*.` (`*.example.com`)"
        ));
    }
    Ok(())
}

/// Checks a tenant's claims: `Err((index or None, why))`.
pub fn validate_claims(claims: &[String]) -> Result<(), (Option<usize>, String)> {
    if claims.len() > MAX_CLAIMS {
        return Err((None, format!("at most {MAX_CLAIMS} entries")));
    }
    for (i, claim) in claims.iter().enumerate() {
        validate_claim(claim).map_err(|why| (Some(i), why))?;
        if claims[..i].contains(claim) {
            return Err((Some(i), format!("`{claim}` is listed twice")));
        }
    }
    Ok(())
}

/// Whether `claim` lets an Ingress use `host` (itself possibly a wildcard host `*.a.b`).
pub fn covers(claim: &str, host: &str) -> bool {
    match wildcard_domain(claim) {
        None => claim == host,
        Some(domain) => host
            .strip_suffix(domain)
            .and_then(|head| head.strip_suffix('.'))
            .is_some_and(|head| !head.is_empty()),
    }
}

/// Whether some host could be covered by both claims.
pub fn overlap(a: &str, b: &str) -> bool {
    match (wildcard_domain(a), wildcard_domain(b)) {
        (None, None) => a == b,
        (Some(_), None) => covers(a, b),
        (None, Some(_)) => covers(b, a),
        (Some(da), Some(db)) => {
            let below = |inner: &str, outer: &str| {
                inner
                    .strip_suffix(outer)
                    .is_some_and(|head| head.ends_with('.'))
            };
            da == db || below(da, db) || below(db, da)
        }
    }
}

/// The first pair (one of `mine`, the one of `theirs` it overlaps).
pub fn first_overlap<'a>(mine: &'a [String], theirs: &'a [String]) -> Option<(&'a str, &'a str)> {
    mine.iter().find_map(|m| {
        theirs
            .iter()
            .find(|t| overlap(m, t))
            .map(|t| (m.as_str(), t.as_str()))
    })
}

/// A regular expression (RE2 syntax, anchored) that matches exactly the Ingress hosts the
/// wildcard claims among `claims` cover, or `None` if there are none.
pub fn wildcard_regex<'a>(claims: impl IntoIterator<Item = &'a String>) -> Option<String> {
    let mut domains: Vec<String> = claims
        .into_iter()
        .filter_map(|c| wildcard_domain(c))
        .map(|d| d.replace('.', r"\."))
        .collect();
    if domains.is_empty() {
        return None;
    }
    domains.sort();
    domains.dedup();
    Some(format!(r"^([^.]+\.)+({})$", domains.join("|")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_lower_case_host_names_or_wildcards_below_a_domain() {
        for ok in [
            "shop.example.com",
            "localhost",
            "*.shop.example.com",
            "*.example.com",
            "a-1.b2.example",
        ] {
            assert_eq!(validate_claim(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("", "empty"),
            ("Shop.example.com", "lower case"),
            ("*.com", "top-level"),
            ("*", "wildcard"),
            ("a.*.example.com", "wildcard"),
            ("**.example.com", "wildcard"),
            ("-a.example.com", "not a host name"),
            ("a..example.com", "not a host name"),
            ("a.example.com.", "not a host name"),
            ("a_b.example.com", "not a host name"),
            ("http://a.example.com", "not a host name"),
            ("a.example.com/admin", "not a host name"),
        ] {
            let err = validate_claim(bad).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
        assert!(validate_claim(&format!("{}.com", "a".repeat(64))).is_err());
        assert!(validate_claim("a.".repeat(128).trim_end_matches('.')).is_err());
        assert_eq!(
            validate_claims(&["a.example".into(), "a.example".into()]),
            Err((Some(1), "`a.example` is listed twice".into()))
        );
        assert!(validate_claims(&vec!["a.example".to_owned(); 65]).is_err());
    }

    #[test]
    fn the_pattern_agrees_with_the_checks_on_shape() {
        // The schema's pattern is what the CRD checks; no host it refuses passes the checks.
        for shape in ["Shop.example.com", "a..b", "*.", "a.*.b", "a_b.c", "a.b."] {
            assert!(validate_claim(shape).is_err(), "{shape}");
        }
        assert!(PATTERN.starts_with('^') && PATTERN.ends_with('$'));
    }

    #[test]
    fn a_wildcard_covers_every_name_below_its_domain_but_not_the_domain() {
        assert!(covers("shop.example.com", "shop.example.com"));
        assert!(!covers("shop.example.com", "api.shop.example.com"));
        assert!(covers("*.shop.example.com", "api.shop.example.com"));
        assert!(covers("*.shop.example.com", "a.b.shop.example.com"));
        assert!(covers("*.shop.example.com", "*.shop.example.com"));
        assert!(covers("*.shop.example.com", "*.eu.shop.example.com"));
        assert!(!covers("*.shop.example.com", "shop.example.com"));
        assert!(!covers("*.shop.example.com", "myshop.example.com"));
        assert!(!covers("*.shop.example.com", ".shop.example.com"));
    }

    #[test]
    fn claims_overlap_when_some_host_is_covered_by_both() {
        assert!(overlap("a.example.com", "a.example.com"));
        assert!(!overlap("a.example.com", "b.example.com"));
        assert!(overlap("*.example.com", "a.example.com"));
        assert!(overlap("a.example.com", "*.example.com"));
        assert!(!overlap("example.com", "*.example.com"));
        assert!(overlap("*.example.com", "*.shop.example.com"));
        assert!(overlap("*.shop.example.com", "*.example.com"));
        assert!(overlap("*.example.com", "*.example.com"));
        assert!(!overlap("*.example.com", "*.myexample.com"));
        assert!(!overlap("*.shop.example.com", "*.example.org"));
        let mine = [
            "x.example.org".to_owned(),
            "api.shop.example.com".to_owned(),
        ];
        let theirs = [
            "*.example.org.uk".to_owned(),
            "*.shop.example.com".to_owned(),
        ];
        assert_eq!(
            first_overlap(&mine, &theirs),
            Some(("api.shop.example.com", "*.shop.example.com"))
        );
        assert_eq!(first_overlap(&mine[..1], &theirs), None);
    }

    #[test]
    fn the_regex_names_each_wildcard_domain_once_and_escapes_dots() {
        let claims = [
            "a.example.com".to_owned(),
            "*.shop.example.com".to_owned(),
            "*.b.example".to_owned(),
            "*.b.example".to_owned(),
        ];
        assert_eq!(
            wildcard_regex(&claims).as_deref(),
            Some(r"^([^.]+\.)+(b\.example|shop\.example\.com)$")
        );
        assert_eq!(wildcard_regex(&claims[..1]), None);
    }
}
