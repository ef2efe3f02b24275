//! Labels and annotations users give tenants and projects (ADR 0019): checked as Kubernetes
//! checks them, and kept off the prefixes Kubernetes, Capsule and KubeNova set themselves
//! (`pod-security.kubernetes.io/enforce` or `kubenova.io/tenant` set by a user would undo the
//! isolation those labels carry).

use std::collections::BTreeMap;

/// The largest total size of a map of annotations (keys and values), as Kubernetes allows.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// Prefixes no user label or annotation may use: each, and every subdomain of it.
pub const RESERVED_PREFIXES: &[&str] = &[
    "kubenova.io",
    "kubernetes.io",
    "k8s.io",
    "capsule.clastix.io",
    "projectcapsule.dev",
];

/// What is wrong with one entry: the field (`labels["team"]`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The offending entry, as `<field>["<key>"]`.
    pub field: String,
    /// What to fix.
    pub why: String,
}

/// Checks labels as Kubernetes does (keys and values), and refuses reserved prefixes.
pub fn validate_labels(field: &str, labels: &BTreeMap<String, String>) -> Result<(), Invalid> {
    for (key, value) in labels {
        let at = |why: String| Invalid {
            field: format!("{field}[{key:?}]"),
            why,
        };
        validate_key(key).map_err(at)?;
        validate_label_value(value).map_err(at)?;
    }
    Ok(())
}

/// Checks annotations as Kubernetes does (keys, total size), and refuses reserved prefixes.
pub fn validate_annotations(
    field: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<(), Invalid> {
    for key in annotations.keys() {
        validate_key(key).map_err(|why| Invalid {
            field: format!("{field}[{key:?}]"),
            why,
        })?;
    }
    let size: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_ANNOTATIONS_BYTES {
        return Err(Invalid {
            field: field.to_owned(),
            why: format!(
                "{size} bytes in all; keys and values together may be at most {MAX_ANNOTATIONS_BYTES}"
            ),
        });
    }
    Ok(())
}

/// The labels of `labels` that [`validate_labels`] accepts: what the agent applies, whatever
/// reached the object (the API refuses the others; an object written with kubectl may hold them).
pub fn usable_labels(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|(k, v)| validate_key(k).is_ok() && validate_label_value(v).is_ok())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The annotations of `annotations` whose keys [`validate_annotations`] accepts.
pub fn usable_annotations(annotations: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    annotations
        .iter()
        .filter(|(k, _)| validate_key(k).is_ok())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A qualified name (`[prefix/]name`), not under a reserved prefix.
fn validate_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() || prefix.len() > 253 || !is_dns_subdomain(prefix) {
            return Err(format!(
                "the prefix `{prefix}` must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most 253 characters)"
            ));
        }
        if let Some(reserved) = RESERVED_PREFIXES
            .iter()
            .find(|r| prefix == **r || prefix.ends_with(&format!(".{r}")))
        {
            return Err(format!(
                "the prefix `{prefix}` is reserved ({reserved} and its subdomains are set by Kubernetes, Capsule or KubeNova); use a prefix of your own"
            ));
        }
    }
    if name.is_empty() || name.len() > 63 || !is_qualified_name(name) {
        return Err(format!(
            "the name `{name}` must be 1 to 63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

fn validate_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > 63 || !is_qualified_name(value) {
        return Err(format!(
            "the value `{value}` must be at most 63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit (or empty)"
        ));
    }
    Ok(())
}

fn is_qualified_name(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    s.starts_with(alnum)
        && s.ends_with(alnum)
        && s.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
}

fn is_dns_subdomain(s: &str) -> bool {
    s.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && label.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn labels_kubernetes_accepts_pass() {
        for (k, v) in [
            ("team", "payments"),
            ("example.com/cost-center", "cc-42"),
            ("a.b-c.d/x_y.z", "A.b_c-9"),
            ("env", ""),
            ("x", &"v".repeat(63)),
            (
                &format!("{0}.{0}.{0}.{1}/n", "a".repeat(63), "b".repeat(61)),
                "v",
            ),
        ] {
            assert_eq!(
                validate_labels("labels", &labels(&[(k, v)])),
                Ok(()),
                "{k}={v}"
            );
        }
    }

    #[test]
    fn bad_keys_and_values_name_the_entry_and_what_to_fix() {
        let cases = [
            ("-team", "x", "the name `-team`"),
            ("team-", "x", "the name `team-`"),
            ("", "x", "the name ``"),
            ("Example.com/x", "x", "the prefix `Example.com`"),
            ("/x", "x", "the prefix ``"),
            ("a/b/c", "x", "the name `b/c`"),
            ("team", "has space", "the value `has space`"),
            ("team", "-x", "the value `-x`"),
        ];
        for (k, v, says) in cases {
            let e = validate_labels("labels", &labels(&[(k, v)])).expect_err(k);
            assert_eq!(e.field, format!("labels[{k:?}]"));
            assert!(e.why.starts_with(says), "{k}={v}: {}", e.why);
        }
        let long = "x".repeat(64);
        assert!(validate_labels("labels", &labels(&[(&long, "v")])).is_err());
        assert!(validate_labels("labels", &labels(&[("k", &long)])).is_err());
    }

    #[test]
    fn the_prefixes_that_carry_isolation_are_refused() {
        for key in [
            "pod-security.kubernetes.io/enforce",
            "kubernetes.io/metadata.name",
            "app.kubernetes.io/managed-by",
            "kubenova.io/tenant",
            "capsule.clastix.io/tenant",
            "projectcapsule.dev/tenant",
            "x.k8s.io/y",
        ] {
            let e = validate_labels("labels", &labels(&[(key, "v")])).expect_err(key);
            assert!(e.why.contains("is reserved"), "{key}: {}", e.why);
            let e = validate_annotations("annotations", &labels(&[(key, "v")])).expect_err(key);
            assert!(e.why.contains("is reserved"), "{key}: {}", e.why);
        }
        // A look-alike that is not a subdomain of a reserved prefix is the user's.
        assert_eq!(
            validate_labels("labels", &labels(&[("notkubernetes.io/x", "v")])),
            Ok(())
        );
    }

    #[test]
    fn what_reached_the_object_unchecked_is_filtered() {
        let given = labels(&[
            ("team", "a"),
            ("pod-security.kubernetes.io/enforce", "privileged"),
            ("bad value", "x"),
            ("ok", "has space"),
        ]);
        assert_eq!(usable_labels(&given), labels(&[("team", "a")]));
        assert_eq!(
            usable_annotations(&given),
            labels(&[("ok", "has space"), ("team", "a")])
        );
    }

    #[test]
    fn annotations_take_any_value_up_to_the_total_size() {
        let free = labels(&[(
            "example.com/note",
            "any text: with spaces, {json} and\nlines",
        )]);
        assert_eq!(validate_annotations("annotations", &free), Ok(()));
        let big = labels(&[("a", &"x".repeat(MAX_ANNOTATIONS_BYTES))]);
        let e = validate_annotations("annotations", &big).expect_err("too big");
        assert_eq!(e.field, "annotations");
        assert!(e.why.contains("at most 262144"), "{}", e.why);
    }
}
