//! Names KubeNova uses as identifiers and turns into Kubernetes object names.

/// The longest RFC 1123 label, and so the longest tenant, project or namespace name.
pub const MAX_LABEL_LEN: usize = 63;

/// Why a name is not a valid RFC 1123 label. Messages name the field and what is allowed, and
/// are meant for the person who typed the name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("{field} must not be empty; use 1 to 63 lowercase letters, digits or '-'")]
    Empty {
        /// The field that holds the name.
        field: String,
    },
    /// The name is longer than 63 characters.
    #[error("{field} is {len} characters long; at most 63 are allowed")]
    TooLong {
        /// The field that holds the name.
        field: String,
        /// The name's length in characters.
        len: usize,
    },
    /// The name contains a character outside `[a-z0-9-]`.
    #[error(
        "{field} contains {ch:?} at position {position}; only lowercase letters a-z, digits 0-9 and '-' are allowed"
    )]
    InvalidChar {
        /// The field that holds the name.
        field: String,
        /// The offending character.
        ch: char,
        /// Its position, counted in characters from 1.
        position: usize,
    },
    /// The name starts with '-'.
    #[error("{field} must start with a lowercase letter or digit, not '-'")]
    BadStart {
        /// The field that holds the name.
        field: String,
    },
    /// The name ends with '-'.
    #[error("{field} must end with a lowercase letter or digit, not '-'")]
    BadEnd {
        /// The field that holds the name.
        field: String,
    },
}

/// Checks that `value` is an RFC 1123 label: 1 to 63 characters from `[a-z0-9-]`, starting and
/// ending with a letter or digit. `field` names the value in the error ("tenant", "project").
pub fn validate_dns1123_label(field: &str, value: &str) -> Result<(), NameError> {
    let field = field.to_owned();
    if value.is_empty() {
        return Err(NameError::Empty { field });
    }
    if let Some((index, ch)) = value
        .chars()
        .enumerate()
        .find(|(_, ch)| !matches!(ch, 'a'..='z' | '0'..='9' | '-'))
    {
        return Err(NameError::InvalidChar {
            field,
            ch,
            position: index + 1,
        });
    }
    // Only ASCII is left, so bytes are characters from here on.
    if value.len() > MAX_LABEL_LEN {
        return Err(NameError::TooLong {
            field,
            len: value.len(),
        });
    }
    if value.starts_with('-') {
        return Err(NameError::BadStart { field });
    }
    if value.ends_with('-') {
        return Err(NameError::BadEnd { field });
    }
    Ok(())
}

/// The ServiceAccount (and its RoleBinding) in every project namespace that apps are delivered
/// as: the agent makes it, the API names it in the Applications it renders.
pub const DEPLOYER: &str = "kubenova-deployer";

/// The namespace of a project: `<tenant>-<project>`.
pub fn project_namespace(tenant: &str, project: &str) -> String {
    format!("{tenant}-{project}")
}

/// Whether two tenant names could claim the same namespace: one is the other followed by `-`
/// (tenants `a` and `a-x` both own names `a-x-...`, since a tenant's namespaces are
/// `<tenant>-<anything>`). Equal names are the same tenant, not an overlap.
pub fn tenants_overlap(a: &str, b: &str) -> bool {
    let prefix_of = |short: &str, long: &str| {
        long.len() > short.len() + 1
            && long.starts_with(short)
            && long.as_bytes()[short.len()] == b'-'
    };
    prefix_of(a, b) || prefix_of(b, a)
}

/// The first of `existing` whose namespaces could be confused with tenant `name`'s.
pub fn overlapping_tenant<'a>(
    name: &str,
    existing: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    existing
        .into_iter()
        .find(|other| tenants_overlap(name, other))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_overlap_when_one_is_the_other_and_a_dash() {
        assert!(tenants_overlap("a", "a-x"));
        assert!(tenants_overlap("a-x", "a"));
        assert!(tenants_overlap("acme", "acme-shop-eu"));
        assert!(!tenants_overlap("a", "a"));
        assert!(!tenants_overlap("a", "ab"));
        assert!(!tenants_overlap("a", "b-a"));
        assert!(!tenants_overlap("acme", "acme-"));
        assert_eq!(overlapping_tenant("a-x", ["b", "a", "c"]), Some("a"));
        assert_eq!(overlapping_tenant("a", ["ab", "b"]), None);
    }

    fn err(value: &str) -> Option<NameError> {
        validate_dns1123_label("tenant", value).err()
    }

    #[test]
    fn accepts_rfc1123_labels() {
        let longest = "a".repeat(63);
        for value in [
            "a",
            "0",
            "acme",
            "team-42",
            "9lives",
            "a-b-c",
            longest.as_str(),
        ] {
            assert_eq!(err(value), None, "{value}");
        }
    }

    #[test]
    fn rejects_each_rule_with_its_own_error() {
        let field = || "tenant".to_owned();
        let too_long = "a".repeat(64);
        let cases: [(&str, NameError); 9] = [
            ("", NameError::Empty { field: field() }),
            (
                &too_long,
                NameError::TooLong {
                    field: field(),
                    len: 64,
                },
            ),
            (
                "Acme",
                NameError::InvalidChar {
                    field: field(),
                    ch: 'A',
                    position: 1,
                },
            ),
            (
                "ac_me",
                NameError::InvalidChar {
                    field: field(),
                    ch: '_',
                    position: 3,
                },
            ),
            (
                "a.b",
                NameError::InvalidChar {
                    field: field(),
                    ch: '.',
                    position: 2,
                },
            ),
            (
                "a:b",
                NameError::InvalidChar {
                    field: field(),
                    ch: ':',
                    position: 2,
                },
            ),
            (
                "é",
                NameError::InvalidChar {
                    field: field(),
                    ch: 'é',
                    position: 1,
                },
            ),
            ("-acme", NameError::BadStart { field: field() }),
            ("acme-", NameError::BadEnd { field: field() }),
        ];
        for (value, want) in cases {
            assert_eq!(err(value), Some(want), "{value:?}");
        }
    }

    #[test]
    fn messages_name_the_field_and_what_is_allowed() {
        let cases = [
            ("", "tenant must not be empty"),
            (
                "Acme",
                "tenant contains 'A' at position 1; only lowercase letters a-z",
            ),
            ("acme-", "tenant must end with a lowercase letter or digit"),
        ];
        for (value, want) in cases {
            let msg = err(value).expect("invalid").to_string();
            assert!(msg.starts_with(want), "{msg}");
        }
        let msg = err(&"a".repeat(70)).expect("invalid").to_string();
        assert_eq!(msg, "tenant is 70 characters long; at most 63 are allowed");
    }

    #[test]
    fn project_namespace_joins_tenant_and_project_with_a_dash() {
        assert_eq!(project_namespace("acme", "shop"), "acme-shop");
    }
}
